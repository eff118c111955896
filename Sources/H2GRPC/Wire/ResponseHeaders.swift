/// Builders for the header blocks a gRPC server writes. `ServerStreamStateMachine` uses them; they are public so
/// the connection code can build the same blocks for streams it refuses before a state machine exists.
public enum ResponseHeaders {
    /// The content type of gRPC responses when the request did not name a subtype.
    public static let grpcContentType = "application/grpc"

    /// The most bytes of a status message sent in `grpc-message`, before percent-encoding. A message that echoes a
    /// client's field (an unknown surface name of 100 KB) is cut here, so the block stays far below every client's
    /// header-list limit.
    public static let maxStatusMessageBytes = 1024

    /// The size of a header list as HTTP/2's SETTINGS_MAX_HEADER_LIST_SIZE counts it: name, value and 32 per field.
    public static func listSize(_ headers: [(String, String)]) -> Int {
        headers.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 32 }
    }

    /// `message` cut to at most ``maxStatusMessageBytes`` UTF-8 bytes on a character boundary, marked when cut.
    public static func truncatedStatusMessage(_ message: String) -> String {
        guard message.utf8.count > maxStatusMessageBytes else { return message }
        let marker = " ... (truncated)"
        let budget = maxStatusMessageBytes - marker.utf8.count
        var end = message.startIndex
        var bytes = 0
        while end < message.endIndex {
            let next = message.index(after: end)
            let size = message.utf8.distance(from: end, to: next)
            if bytes + size > budget { break }
            bytes += size
            end = next
        }
        return String(message[..<end]) + marker
    }

    /// Response-Headers: `:status 200`, `content-type`, `grpc-encoding` (when not identity),
    /// `grpc-accept-encoding`, then the custom metadata. Reserved names in `metadata` are left out, because the
    /// runtime owns them and a duplicate `content-type` or `grpc-status` would corrupt the response.
    public static func initial(
        contentType: String = grpcContentType,
        encoding: MessageCompression = .identity,
        acceptEncoding: String = MessageCompression.acceptEncodingHeader,
        metadata: Metadata = Metadata()
    ) -> [(String, String)] {
        if encoding == .identity && metadata.isEmpty && contentType == grpcContentType
            && acceptEncoding == MessageCompression.acceptEncodingHeader
        {
            return plainInitial
        }
        var headers: [(String, String)] = [(":status", "200"), ("content-type", contentType)]
        if encoding != .identity { headers.append(("grpc-encoding", encoding.rawValue)) }
        headers.append(("grpc-accept-encoding", acceptEncoding))
        appendCustom(metadata, to: &headers)
        return headers
    }

    /// Trailers: `grpc-status`, `grpc-message` (percent-encoded, only when the message is not empty), then the custom
    /// metadata (reserved names left out; `grpc-status-details-bin` passes).
    public static func trailers(
        status: GRPCStatus,
        metadata: Metadata = Metadata()
    ) -> [(
        String, String
    )] {
        if status.code == .ok && status.message.isEmpty && metadata.isEmpty { return okTrailers }
        var headers: [(String, String)] = []
        appendStatus(status, to: &headers)
        appendCustom(metadata, to: &headers)
        return headers
    }

    /// The blocks of most calls, built once: a call with no metadata and no compression that ends OK.
    private static let plainInitial: [(String, String)] = [
        (":status", "200"), ("content-type", grpcContentType),
        ("grpc-accept-encoding", MessageCompression.acceptEncodingHeader),
    ]
    private static let okTrailers: [(String, String)] = [("grpc-status", "0")]

    /// Trailers-Only, the single HEADERS block (sent with END_STREAM) of a call that fails before any response
    /// headers: `:status 200`, `content-type`, `grpc-status`, `grpc-message`, the extra runtime headers (such as
    /// `grpc-accept-encoding` when refusing an encoding), then custom metadata.
    public static func trailersOnly(
        status: GRPCStatus,
        contentType: String = grpcContentType,
        metadata: Metadata = Metadata(),
        extraHeaders: [(String, String)] = []
    ) -> [(String, String)] {
        var headers: [(String, String)] = [(":status", "200"), ("content-type", contentType)]
        appendStatus(status, to: &headers)
        headers.append(contentsOf: extraHeaders)
        appendCustom(metadata, to: &headers)
        return headers
    }

    /// The HEADERS block (sent with END_STREAM) that refuses a request at the HTTP level, such as 415 for a
    /// non-gRPC content type. It also carries `grpc-status: 13` (INTERNAL) and `grpc-message`, as grpc-go does, so a
    /// gRPC client that reads them reports the reason rather than only the HTTP status.
    public static func httpRejection(status: Int, message: String) -> [(String, String)] {
        var headers: [(String, String)] = [
            (":status", String(status)), ("content-type", "text/plain; charset=utf-8"),
        ]
        appendStatus(GRPCStatus(.internal, message), to: &headers)
        return headers
    }

    private static func appendStatus(_ status: GRPCStatus, to headers: inout [(String, String)]) {
        headers.append(("grpc-status", String(status.code.rawValue)))
        if !status.message.isEmpty {
            headers.append(("grpc-message", PercentEncoding.encode(truncatedStatusMessage(status.message))))
        }
    }

    private static func appendCustom(_ metadata: Metadata, to headers: inout [(String, String)]) {
        // Names in Metadata are stored in lower case.
        for (name, value) in metadata where !Metadata.isReserved(lowercase: name) {
            headers.append((name, value))
        }
    }
}
