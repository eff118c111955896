import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport

/// grpc.testing.TestService, the service the gRPC project's interop clients exercise, on the H2GRPC library.
///
/// Behaviour follows the interop spec: payloads of the requested sizes filled with zeros, the requested status
/// echoed back, `x-grpc-test-echo-initial` echoed in the response headers and `x-grpc-test-echo-trailing-bin` in
/// the trailers. UnimplementedCall is deliberately not registered, so it answers UNIMPLEMENTED like any unknown method.
enum TestService {
    static var definition: ServiceDefinition {
        ServiceDefinition(
            name: "grpc.testing.TestService",
            methods: [
                RPCMethod(name: "EmptyCall", handler: .unary { call, request in
                    echoMetadata(call)
                    _ = try ProtoC.decode(request, as: grpc__testing__empty__init)
                    var empty = Grpc__Testing__Empty()
                    grpc__testing__empty__init(&empty)
                    return ProtoC.encode(&empty)
                }),
                RPCMethod(name: "UnaryCall", handler: .unary(unaryCall)),
                RPCMethod(name: "CacheableUnaryCall", handler: .unary(unaryCall)),
                // Paced by interval_us and by a client that may read slowly: it waits, so it runs on the blocking pool.
                RPCMethod(
                    name: "StreamingOutputCall",
                    handler: .serverStreaming { call, request in
                        echoMetadata(call)
                        let decoded = try ProtoC.decode(request, as: grpc__testing__streaming_output_call_request__init)
                        try respond(to: decoded.pointer, on: call)
                    }, executor: .blocking),
                RPCMethod(name: "StreamingInputCall", handler: .clientStreaming { call in
                    echoMetadata(call)
                    var total = 0
                    while let message = try call.receive() {
                        let decoded = try ProtoC.decode(message, as: grpc__testing__streaming_input_call_request__init)
                        total += decoded.message.payload.map { $0.pointee.body.len } ?? 0
                    }
                    var response = Grpc__Testing__StreamingInputCallResponse()
                    grpc__testing__streaming_input_call_response__init(&response)
                    response.aggregated_payload_size = Int32(clamping: total)
                    return ProtoC.encode(&response)
                }),
                RPCMethod(name: "FullDuplexCall", handler: .bidirectionalStreaming { call in
                    echoMetadata(call)
                    while let message = try call.receive() {
                        let decoded = try ProtoC.decode(message, as: grpc__testing__streaming_output_call_request__init)
                        try respond(to: decoded.pointer, on: call)
                    }
                }),
                RPCMethod(name: "HalfDuplexCall", handler: .bidirectionalStreaming { call in
                    echoMetadata(call)
                    var requests: [DecodedMessage<Grpc__Testing__StreamingOutputCallRequest>] = []
                    while let message = try call.receive() {
                        requests.append(try ProtoC.decode(message, as: grpc__testing__streaming_output_call_request__init))
                    }
                    for request in requests { try respond(to: request.pointer, on: call) }
                }),
            ])
    }

    private static func unaryCall(_ call: ServerCall, _ request: [UInt8]) throws -> [UInt8] {
        echoMetadata(call)
        let decoded = try ProtoC.decode(request, as: grpc__testing__simple_request__init)
        let message = decoded.message
        if let status = message.response_status, status.pointee.code != 0 {
            throw echoStatus(status)
        }
        if message.response_compressed?.pointee.value != 0 && message.response_compressed != nil {
            call.responseEncoding = .gzip
        }
        let arena = ProtoArena()
        var response = Grpc__Testing__SimpleResponse()
        grpc__testing__simple_response__init(&response)
        if message.response_size > 0 {
            response.payload = payload(size: Int(message.response_size), arena: arena)
        }
        return ProtoC.encode(&response)
    }

    /// Sends one response per ResponseParameters entry, waiting interval_us before each.
    private static func respond(
        to request: UnsafeMutablePointer<Grpc__Testing__StreamingOutputCallRequest>, on call: ServerCall
    ) throws {
        let message = request.pointee
        if let status = message.response_status, status.pointee.code != 0 {
            throw echoStatus(status)
        }
        for parameters in ProtoC.messages(message.response_parameters, count: message.n_response_parameters) {
            let interval = Int(parameters.pointee.interval_us)
            if interval > 0 { try call.sleep(milliseconds: max(1, interval / 1000)) }
            let compress = parameters.pointee.compressed?.pointee.value ?? 0 != 0
            if compress { call.responseEncoding = .gzip }
            let arena = ProtoArena()
            var response = Grpc__Testing__StreamingOutputCallResponse()
            grpc__testing__streaming_output_call_response__init(&response)
            response.payload = payload(size: Int(parameters.pointee.size), arena: arena)
            try call.send(ProtoC.encode(&response), compress: compress)
        }
    }

    private static func payload(size: Int, arena: ProtoArena) -> UnsafeMutablePointer<Grpc__Testing__Payload> {
        var payload = Grpc__Testing__Payload()
        grpc__testing__payload__init(&payload)
        payload.body = arena.bytes([UInt8](repeating: 0, count: size))
        return arena.make(payload)
    }

    private static func echoStatus(_ status: UnsafeMutablePointer<Grpc__Testing__EchoStatus>) -> GRPCStatus {
        let code = GRPCStatus.Code(rawValue: Int(status.pointee.code)) ?? .unknown
        return GRPCStatus(code, ProtoC.string(status.pointee.message))
    }

    private static func echoMetadata(_ call: ServerCall) {
        if let initial = call.requestMetadata.first("x-grpc-test-echo-initial") {
            var metadata = Metadata()
            metadata.append("x-grpc-test-echo-initial", initial)
            call.responseMetadata = metadata
        }
        let trailing = call.requestMetadata.values("x-grpc-test-echo-trailing-bin")
        if !trailing.isEmpty {
            var metadata = Metadata()
            for value in trailing { metadata.append("x-grpc-test-echo-trailing-bin", value) }
            call.trailingMetadata = metadata
        }
    }
}
