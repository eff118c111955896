import CNGHTTP2Shim
import Dispatch
import Foundation

/// The I/O side of one gRPC call on one HTTP/2 stream: feeds request bytes to the stream state machine, starts the
/// handler on the worker pool, and turns what the handler hands back into HEADERS, DATA and trailers.
///
/// The state machine judges the request side (headers, framing, limits, decompression). The response side is
/// tracked here with two flags, because response messages are framed and compressed on the worker thread that
/// produced them, not on this one; the header and trailer blocks still come from `ResponseHeaders`.
///
/// Loop thread only. The connection's stream table owns it from the first HEADERS frame until nghttp2 closes the
/// stream; the deadline timer and the handler's ``ServerCall`` keep it alive only until the call ends.
final class ServerStream {
    let id: Int32
    unowned let connection: ServerConnection
    private var headers: [(name: String, value: String)] = []
    private var machine: ServerStreamStateMachine
    private var method: RPCMethod?
    private var call: ServerCall?
    private var request: [UInt8]?
    private var requestCount = 0
    private var responseStarted = false
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var pendingTrailers: [(String, String)]?
    private var dataDeferred = false
    private var finished = false
    private var isClosed = false
    private var countedAsActive = false
    private var deadlineTimer: LoopTimer?

    init(id: Int32, connection: ServerConnection) {
        self.id = id
        self.connection = connection
        headers.reserveCapacity(12)
        let config = connection.server.configuration
        machine = ServerStreamStateMachine(
            configuration: .init(
                maxReceiveMessageSize: config.maxReceiveMessageSize, supportedCompression: [.identity, .gzip]))
    }

    private var server: Server { connection.server }

    // MARK: Request side

    func receivedHeader(name: String, value: String) {
        headers.append((name, value))
    }

    func receivedHeaders(endStream: Bool) {
        if call != nil || finished {
            // Trailers from the client: gRPC gives them no meaning beyond ending the request stream.
            if endStream { receivedEndOfStream() }
            return
        }
        let requestHeaders = headers
        headers = []
        switch machine.receivedHeaders(requestHeaders, endStream: endStream) {
        case .rejectHTTP(let status, let message):
            rejectHTTP(status: status, message: message)
        case .rejectTrailersOnly(let status, let extraHeaders):
            finish(status: status, trailers: Metadata(), extraHeaders: extraHeaders)
        case .fail(let status):
            finish(status: status, trailers: Metadata())
        case .accept(let head):
            accept(head, endStream: endStream)
        }
    }

    private func accept(_ head: ServerStreamStateMachine.RequestHead, endStream: Bool) {
        let method: RPCMethod
        switch server.router.lookup(path: head.path) {
        case .found(let found):
            method = found
        case .unknownService(let service):
            finish(status: GRPCStatus(.unimplemented, "unknown service \(service)"), trailers: Metadata())
            return
        case .unknownMethod(let service, let name):
            finish(
                status: GRPCStatus(.unimplemented, "unknown method \(name) for service \(service)"),
                trailers: Metadata())
            return
        case .malformedPath(let path):
            finish(status: GRPCStatus(.unimplemented, "malformed method path \"\(path)\""), trailers: Metadata())
            return
        }
        self.method = method
        let deadline = head.deadlineNanoseconds.map { DispatchTime.now() + .nanoseconds(Int(clamping: $0)) }
        let call = ServerCall(
            path: head.path, requestMetadata: head.metadata, deadline: deadline, peer: connection.peer,
            loop: connection.loop, requestEncoding: head.requestEncoding,
            clientAcceptsGzip: head.acceptedEncodings.contains(.gzip))
        call.stream = self
        self.call = call
        countedAsActive = true
        server.callStarted()
        if let nanoseconds = head.deadlineNanoseconds { scheduleDeadline(afterNanoseconds: nanoseconds) }
        if !method.handler.waitsForSingleRequest { startHandler() }
        if endStream { receivedEndOfStream() }
    }

    func receivedData(_ bytes: UnsafeRawBufferPointer) {
        guard call != nil, !finished else { return }
        handle(machine.receivedData(bytes, endStream: false))
    }

    func receivedEndOfStream() {
        guard call != nil, !finished else { return }
        handle(machine.receivedData(UnsafeRawBufferPointer(start: nil, count: 0), endStream: true))
    }

    private func handle(_ action: ServerStreamStateMachine.DataAction) {
        guard let call, let method else { return }
        switch action {
        case .fail(let status):
            call.interrupt(.cancelled)
            finish(status: status, trailers: Metadata())
        case .messages(let messages, let endOfInput):
            if method.handler.waitsForSingleRequest {
                for message in messages {
                    requestCount += 1
                    request = message
                }
                guard endOfInput else { return }
                if requestCount != 1 {
                    let problem = requestCount == 0 ? "no request message" : "\(requestCount) request messages"
                    finish(
                        status: GRPCStatus(.internal, "\(problem) for a method that takes exactly one"),
                        trailers: Metadata())
                    return
                }
                startHandler()
            } else {
                for message in messages { call.deliver(message) }
                if endOfInput { call.finishInput() }
            }
        }
    }

    // MARK: Running the handler

    private func startHandler() {
        guard let call, let method else { return }
        let request = self.request ?? []
        self.request = nil
        if method.runsOnIOThread, case .unary(let body) = method.handler {
            let outcome = Self.runUnary(body, call: call, request: request)
            let (headers, encoding, trailers) = call.takeHeadersForFinish()
            let message = outcome.response.map { ServerCall.frame($0, gzip: encoding == .gzip) }
            finish(
                status: outcome.status, trailers: trailers, headers: headers, encoding: encoding, finalMessage: message)
            return
        }
        let handler = method.handler
        server.workerQueue.async {
            Self.run(handler, call: call, request: request)
        }
    }

    /// Runs a handler on a worker thread and hands the outcome back to the loop in one task.
    private static func run(_ handler: RPCHandler, call: ServerCall, request: [UInt8]) {
        var response: [UInt8]?
        var status = GRPCStatus.ok
        switch handler {
        case .unary(let body):
            (response, status) = runUnary(body, call: call, request: request)
        case .clientStreaming(let body):
            (response, status) = capture { try body(call) }
        case .serverStreaming(let body):
            status = capture { try body(call, request) }.status
        case .bidirectionalStreaming(let body):
            status = capture { try body(call) }.status
        }
        if status.code == .ok, let interruption = call.interruptionReason {
            status = ServerCall.status(for: interruption)
            response = nil
        }
        let (headers, encoding, trailers) = call.takeHeadersForFinish()
        let message = response.map { ServerCall.frame($0, gzip: encoding == .gzip) }
        let stream = call.stream!
        call.loop.execute {
            stream.finish(
                status: status, trailers: trailers, headers: headers, encoding: encoding, finalMessage: message)
        }
    }

    private static func runUnary(
        _ body: (ServerCall, [UInt8]) throws -> [UInt8], call: ServerCall, request: [UInt8]
    ) -> (response: [UInt8]?, status: GRPCStatus) {
        capture { try body(call, request) }
    }

    private static func capture<T>(_ body: () throws -> T) -> (response: T?, status: GRPCStatus) {
        do {
            return (try body(), .ok)
        } catch let status as GRPCStatus {
            return (nil, status)
        } catch {
            return (nil, GRPCStatus(.unknown, "handler failed: \(error)"))
        }
    }

    // MARK: Response side (loop thread)

    /// Queues a framed response message from ``ServerCall/send(_:compress:)``.
    func sendMessage(_ framed: [UInt8], headers: Metadata?, encoding: MessageCompression) {
        guard !finished, !isClosed else {
            call?.drained(framed.count)
            return
        }
        outbound.append(contentsOf: framed)
        if !responseStarted {
            submitResponse(metadata: headers ?? Metadata(), encoding: encoding)
        } else {
            resumeIfDeferred()
        }
    }

    /// Ends the call with a status, after any queued messages. Later calls do nothing.
    func finish(
        status: GRPCStatus, trailers: Metadata, headers: Metadata? = nil, encoding: MessageCompression = .identity,
        finalMessage: [UInt8]? = nil, extraHeaders: [(String, String)] = []
    ) {
        guard !finished, !isClosed else { return }
        finished = true
        deadlineTimer?.cancel()
        deadlineTimer = nil
        if status.code != .ok {
            server.log(.debug, "\(connection.peer) \(call?.path ?? "stream \(id)"): \(status)")
        }
        guard let session = connection.sessionPointer else { return }
        if !responseStarted && finalMessage == nil && outbound.count == outboundOffset {
            // Trailers-Only: one HEADERS frame with END_STREAM carries the status.
            let pairs = ResponseHeaders.trailersOnly(status: status, metadata: trailers, extraHeaders: extraHeaders)
            HeaderBlock.withNameValues(pairs) { nva, count in
                _ = nghttp2_submit_response(session, id, nva, count, nil)
            }
            responseStarted = true
        } else {
            if let finalMessage { outbound.append(contentsOf: finalMessage) }
            pendingTrailers = ResponseHeaders.trailers(status: status, metadata: trailers)
            if !responseStarted {
                submitResponse(metadata: headers ?? Metadata(), encoding: encoding)
            } else {
                resumeIfDeferred()
            }
        }
        connection.loop.markDirty(connection)
    }

    private func rejectHTTP(status: Int, message: String) {
        guard !finished, let session = connection.sessionPointer else { return }
        finished = true
        server.log(.debug, "\(connection.peer): HTTP \(status): \(message)")
        let pairs = ResponseHeaders.httpRejection(status: status, message: message)
        HeaderBlock.withNameValues(pairs) { nva, count in
            _ = nghttp2_submit_response(session, id, nva, count, nil)
        }
        responseStarted = true
        connection.loop.markDirty(connection)
    }

    private func submitResponse(metadata: Metadata, encoding: MessageCompression) {
        guard let session = connection.sessionPointer else { return }
        let pairs = ResponseHeaders.initial(encoding: encoding, metadata: metadata)
        var provider = nghttp2_data_provider()
        provider.source.ptr = Unmanaged.passUnretained(self).toOpaque()
        provider.read_callback = readResponseBody
        HeaderBlock.withNameValues(pairs) { nva, count in
            _ = nghttp2_submit_response(session, id, nva, count, &provider)
        }
        responseStarted = true
        connection.loop.markDirty(connection)
    }

    private func resumeIfDeferred() {
        guard dataDeferred, let session = connection.sessionPointer else { return }
        dataDeferred = false
        nghttp2_session_resume_data(session, id)
        connection.loop.markDirty(connection)
    }

    /// nghttp2 asks for up to `length` bytes of the response body.
    fileprivate func readBody(into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>)
        -> Int
    {
        let available = outbound.count - outboundOffset
        let count = min(available, length)
        if count > 0 {
            outbound.withUnsafeBytes { bytes in
                UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + outboundOffset, byteCount: count)
            }
            outboundOffset += count
            call?.drained(count)
            if outboundOffset == outbound.count {
                outbound.removeAll(keepingCapacity: outbound.capacity <= 1 << 20)
                outboundOffset = 0
            }
        }
        if outboundOffset == outbound.count, let trailers = pendingTrailers, let session = connection.sessionPointer {
            pendingTrailers = nil
            flags.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue) | UInt32(NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue)
            HeaderBlock.withNameValues(trailers) { nva, count in
                _ = nghttp2_submit_trailer(session, id, nva, count)
            }
            return count
        }
        if count == 0 {
            dataDeferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return count
    }

    // MARK: Lifetime

    private func scheduleDeadline(afterNanoseconds nanoseconds: Int64) {
        // The timer holds the stream until it fires or is cancelled when the call ends (finish or close).
        deadlineTimer = connection.loop.scheduleTimer(afterNanoseconds: nanoseconds) { [self] in deadlinePassed() }
    }

    private func deadlinePassed() {
        guard !finished, !isClosed, let call else { return }
        call.interrupt(.deadlineExceeded)
        server.log(.debug, "\(connection.peer) \(call.path): deadline exceeded, handler told to stop")
        let trailers = call.takeHeadersForFinish().trailers
        finish(status: ServerCall.status(for: .deadlineExceeded), trailers: trailers)
    }

    /// nghttp2 closed the stream: normally after our END_STREAM, or early on the client's RST_STREAM.
    func closed(errorCode: UInt32) {
        guard !isClosed else { return }
        isClosed = true
        machine.streamClosed()
        deadlineTimer?.cancel()
        deadlineTimer = nil
        outbound = []
        if let call, !finished {
            call.interrupt(.cancelled)
            server.log(.debug, "\(connection.peer) \(call.path): cancelled by the client (error code \(errorCode))")
        } else if let call {
            // A handler still running after a deadline reply or an early error must stop too.
            call.interrupt(.cancelled)
        }
        if countedAsActive {
            countedAsActive = false
            server.callEnded()
        }
        call = nil
    }

    /// The connection went away with this stream open.
    func connectionLost() {
        closed(errorCode: UInt32(NGHTTP2_CANCEL.rawValue))
    }
}

private let readResponseBody: nghttp2_data_source_read_callback = { _, _, buffer, length, flags, source, _ in
    guard let source, let pointer = source.pointee.ptr, let buffer, let flags else {
        return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
    }
    let stream = Unmanaged<ServerStream>.fromOpaque(pointer).takeUnretainedValue()
    return stream.readBody(into: buffer, length: length, flags: flags)
}
