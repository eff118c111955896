/// The outcome of a gRPC call: one of the 17 status codes and a human-readable message.
///
/// A `GRPCStatus` is also an `Error`, so handlers can `throw GRPCStatus(.notFound, "no such user")` and the server
/// turns it into `grpc-status` / `grpc-message` trailers.
public struct GRPCStatus: Error, Sendable, Equatable, CustomStringConvertible {
    /// The status codes of gRPC's doc/statuscodes.md, with their wire values 0...16.
    public enum Code: Int, Sendable, CaseIterable {
        case ok = 0
        case cancelled
        case unknown
        case invalidArgument
        case deadlineExceeded
        case notFound
        case alreadyExists
        case permissionDenied
        case resourceExhausted
        case failedPrecondition
        case aborted
        case outOfRange
        case unimplemented
        case `internal`
        case unavailable
        case dataLoss
        case unauthenticated

        /// The canonical upper-case name used in logs and by every gRPC implementation, e.g. `INVALID_ARGUMENT`.
        public var name: String {
            switch self {
            case .ok: return "OK"
            case .cancelled: return "CANCELLED"
            case .unknown: return "UNKNOWN"
            case .invalidArgument: return "INVALID_ARGUMENT"
            case .deadlineExceeded: return "DEADLINE_EXCEEDED"
            case .notFound: return "NOT_FOUND"
            case .alreadyExists: return "ALREADY_EXISTS"
            case .permissionDenied: return "PERMISSION_DENIED"
            case .resourceExhausted: return "RESOURCE_EXHAUSTED"
            case .failedPrecondition: return "FAILED_PRECONDITION"
            case .aborted: return "ABORTED"
            case .outOfRange: return "OUT_OF_RANGE"
            case .unimplemented: return "UNIMPLEMENTED"
            case .internal: return "INTERNAL"
            case .unavailable: return "UNAVAILABLE"
            case .dataLoss: return "DATA_LOSS"
            case .unauthenticated: return "UNAUTHENTICATED"
            }
        }
    }

    /// The status code sent as `grpc-status`.
    public var code: Code
    /// The human-readable description sent (percent-encoded) as `grpc-message`; empty means none is sent.
    public var message: String

    /// Creates a status with a code and an optional message.
    public init(_ code: Code, _ message: String = "") {
        self.code = code
        self.message = message
    }

    /// The status of a call that succeeded.
    public static let ok = GRPCStatus(.ok)

    /// `CODE_NAME` alone, or `CODE_NAME: message`.
    public var description: String {
        message.isEmpty ? code.name : "\(code.name): \(message)"
    }

    /// Maps the HTTP status of a response that is not a gRPC response (a proxy's error page, a load balancer's 503)
    /// to a gRPC status, following the table in gRPC's doc/http-grpc-status-mapping.md.
    public static func fromHTTPStatus(_ status: Int) -> GRPCStatus {
        let code: Code
        switch status {
        case 400: code = .internal
        case 401: code = .unauthenticated
        case 403: code = .permissionDenied
        case 404: code = .unimplemented
        case 429, 502, 503, 504: code = .unavailable
        default: code = .unknown
        }
        return GRPCStatus(code, "HTTP status \(status) in a response that is not a gRPC response")
    }

    /// Maps the error code of an RST_STREAM the server sent to the status the client reports, following the table in
    /// PROTOCOL-HTTP2.md: REFUSED_STREAM (7) is UNAVAILABLE (nothing was processed, so the call may be retried),
    /// CANCEL (8) is CANCELLED, ENHANCE_YOUR_CALM (11) is RESOURCE_EXHAUSTED, INADEQUATE_SECURITY (12) is
    /// PERMISSION_DENIED, and every other code, NO_ERROR included (a status should have been sent), is INTERNAL.
    public static func fromHTTP2ErrorCode(_ errorCode: UInt32) -> GRPCStatus {
        let code: Code
        let name: String
        switch errorCode {
        case 0x0: (code, name) = (.internal, "NO_ERROR")
        case 0x1: (code, name) = (.internal, "PROTOCOL_ERROR")
        case 0x2: (code, name) = (.internal, "INTERNAL_ERROR")
        case 0x3: (code, name) = (.internal, "FLOW_CONTROL_ERROR")
        case 0x4: (code, name) = (.internal, "SETTINGS_TIMEOUT")
        case 0x5: (code, name) = (.internal, "STREAM_CLOSED")
        case 0x6: (code, name) = (.internal, "FRAME_SIZE_ERROR")
        case 0x7: (code, name) = (.unavailable, "REFUSED_STREAM")
        case 0x8: (code, name) = (.cancelled, "CANCEL")
        case 0x9: (code, name) = (.internal, "COMPRESSION_ERROR")
        case 0xA: (code, name) = (.internal, "CONNECT_ERROR")
        case 0xB: (code, name) = (.resourceExhausted, "ENHANCE_YOUR_CALM")
        case 0xC: (code, name) = (.permissionDenied, "INADEQUATE_SECURITY")
        case 0xD: (code, name) = (.internal, "HTTP_1_1_REQUIRED")
        default: (code, name) = (.internal, "unknown error code")
        }
        return GRPCStatus(code, "stream reset by the peer with HTTP/2 error \(errorCode) (\(name))")
    }

    /// Parses the value of a `grpc-status` header. Anything that is not a decimal number in 0...16 becomes `.unknown`,
    /// because a peer speaking a newer protocol or a broken proxy must not make the call fail in a stranger way.
    public static func code(fromHeaderValue value: String) -> Code {
        let utf8 = value.utf8
        // At most two significant digits are meaningful; the length guard keeps Int parsing from overflowing.
        guard !utf8.isEmpty, utf8.count <= 4,
            utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return .unknown }
        guard let number = Int(value), let code = Code(rawValue: number) else { return .unknown }
        return code
    }
}
