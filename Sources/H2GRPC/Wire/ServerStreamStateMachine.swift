/// The server side of one gRPC call on one HTTP/2 stream, as a value with no I/O.
///
/// The connection code feeds it the stream's events (request headers, DATA payloads, a reset) and the handler's
/// intents (send headers, a message, the status), and acts on what each method returns: header blocks to submit,
/// framed bytes to write, messages to deliver, or a status to fail the call with. The machine validates the request
/// against gRPC's PROTOCOL-HTTP2.md, negotiates compression, frames, deframes, compresses and decompresses.
///
/// Lifecycle: `awaitingHeaders` → `open` (request accepted) → `statusSent` → `closed`; or `awaitingHeaders` →
/// `rejected`; and from any state before the status, `streamClosed()` → `cancelled`.
///
/// When a request is refused or fails (`HeadersAction.reject…`, `.fail`), the caller writes the response and, if the
/// client has not ended its side (`isRequestOpen`), follows it with RST_STREAM(NO_ERROR) as the spec's "Early Server
/// Closure" asks.
public struct ServerStreamStateMachine: Sendable {
    /// Limits and compression policy, usually shared by every stream of a server.
    public struct Configuration: Sendable {
        /// The largest request message accepted, in bytes, both as framed and after decompression. Larger ones fail
        /// the call with RESOURCE_EXHAUSTED. The default is gRPC's customary 4 MiB.
        public var maxReceiveMessageSize: Int
        /// The encodings accepted for requests and advertised in `grpc-accept-encoding`. Identity is always accepted.
        public var supportedCompression: [MessageCompression]
        /// The encoding used for response messages when the client lists it in `grpc-accept-encoding` and it is in
        /// `supportedCompression`; otherwise responses are not compressed. Identity (the default) never compresses:
        /// compressing small ranking responses costs more CPU than it saves on the wire.
        public var responseCompression: MessageCompression

        /// Creates a configuration.
        public init(
            maxReceiveMessageSize: Int = 4 * 1024 * 1024,
            supportedCompression: [MessageCompression] = MessageCompression.allCases,
            responseCompression: MessageCompression = .identity
        ) {
            precondition(maxReceiveMessageSize >= 0, "maxReceiveMessageSize must not be negative")
            self.maxReceiveMessageSize = maxReceiveMessageSize
            self.supportedCompression = supportedCompression
            self.responseCompression = responseCompression
        }
    }

    /// What an accepted request asked for.
    public struct RequestHead: Sendable {
        /// The full `:path`, e.g. `/ranking.v1.RankingService/Rank`; checked to be `/service/method`.
        public let path: String
        /// The service part of the path, e.g. `ranking.v1.RankingService` (split on demand: the router looks the
        /// whole path up, so most calls never need the parts).
        public var service: String { ServerStreamStateMachine.splitPath(path)?.service ?? "" }
        /// The method part of the path, e.g. `Rank`.
        public var method: String { ServerStreamStateMachine.splitPath(path)?.method ?? "" }
        /// The custom metadata: every non-reserved header whose name fits the gRPC grammar. ASCII values outside
        /// the grammar are dropped (the spec allows discarding them), so echoing this metadata back is always safe.
        public var metadata: Metadata
        /// The client's `grpc-timeout` in nanoseconds, relative to when the headers arrived; nil means no deadline.
        public var deadlineNanoseconds: Int64?
        /// The `grpc-encoding` of request messages.
        public var requestEncoding: MessageCompression
        /// The supported encodings the client listed in `grpc-accept-encoding`, in its order.
        public var acceptedEncodings: [MessageCompression]
        /// The encoding this stream will use for response messages (see `Configuration.responseCompression`).
        public var responseEncoding: MessageCompression
        /// `:authority`, or `host` when `:authority` is absent.
        public var authority: String?
        /// `user-agent`.
        public var userAgent: String?
        /// The request's `content-type`, e.g. `application/grpc+proto`.
        public var contentType: String
    }

    /// What to do after request headers arrive.
    public enum HeadersAction: Sendable {
        /// A valid gRPC request: start the handler.
        case accept(RequestHead)
        /// Not a gRPC request (wrong method or content type): answer with this HTTP status and END_STREAM. The
        /// header block is `ResponseHeaders.httpRejection(status:message:)` (or `responseHeaders` on this action).
        case rejectHTTP(status: Int, message: String)
        /// A gRPC request that cannot be served (bad path, bad timeout, unsupported encoding, malformed binary
        /// metadata): answer with a Trailers-Only response carrying this status and these extra headers. The full
        /// block is `ResponseHeaders.trailersOnly(status:extraHeaders:)` (or `responseHeaders` on this action).
        case rejectTrailersOnly(GRPCStatus, extraHeaders: [(String, String)])
        /// A HEADERS block arrived after the request headers: gRPC requests have no trailers, so the call fails.
        /// Pass the status to `sendStatus` to get the block to write, as for `DataAction.fail`.
        case fail(GRPCStatus)

        /// The complete header block to write with END_STREAM for the two rejections; nil for `accept` and `fail`.
        public var responseHeaders: [(String, String)]? {
            switch self {
            case .accept, .fail:
                return nil
            case .rejectHTTP(let status, let message):
                return ResponseHeaders.httpRejection(status: status, message: message)
            case .rejectTrailersOnly(let status, let extraHeaders):
                return ResponseHeaders.trailersOnly(status: status, extraHeaders: extraHeaders)
            }
        }
    }

    /// What to do after a DATA frame arrives.
    public enum DataAction: Sendable {
        /// Complete request messages, already decompressed (possibly none), and whether the client has now ended
        /// its side (END_STREAM).
        case messages([[UInt8]], endOfInput: Bool)
        /// The request stream is broken (message too large: RESOURCE_EXHAUSTED; truncated, corrupt or wrongly
        /// flagged: INTERNAL). Cancel the handler and pass the status to `sendStatus`; later DATA is ignored.
        case fail(GRPCStatus)
    }

    /// What to write to end the call.
    public enum StatusAction: Sendable {
        /// No response headers were sent: write this single block with END_STREAM.
        case trailersOnly(headers: [(String, String)])
        /// Response headers were sent: write these trailers with END_STREAM.
        case trailers([(String, String)])
        /// The status was already sent, or the stream was reset or refused: write nothing.
        case alreadyClosed
    }

    private struct Open: Sendable {
        var deframer: MessageDeframer
        var requestEncoding: MessageCompression
        var responseEncoding: MessageCompression
        var responseContentType: String
        var requestOpen: Bool
        /// Set once a `DataAction.fail` was returned: the inbound stream is abandoned and later DATA ignored.
        var inputFailed = false
        var headersSent = false
    }

    private enum State: Sendable {
        case awaitingHeaders
        case open(Open)
        case rejected(requestOpen: Bool)
        case statusSent(requestOpen: Bool)
        case cancelled
        case closed
        /// Held only inside a mutating method, so the payload being changed is uniquely referenced.
        case modifying
    }

    /// The configuration this stream was created with.
    public let configuration: Configuration
    private var state: State = .awaitingHeaders

    /// Creates the machine for a new stream, before its headers arrive.
    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    // MARK: Inbound

    /// Validates the request headers (pseudo-headers included, as received) and decides whether to serve the call.
    ///
    /// Checks, in order: `:method` must be POST (else HTTP 405); `content-type` must be `application/grpc`, alone or
    /// followed by `+subtype` or `;parameters` (else HTTP 415); `:path` must be `/service/method` (else
    /// UNIMPLEMENTED, as grpc-go answers); `grpc-timeout` must be well-formed (else INTERNAL, as grpc-go answers:
    /// ignoring it would silently drop the client's deadline); `grpc-encoding` must be identity or supported (else
    /// UNIMPLEMENTED with `grpc-accept-encoding`, as the compression spec requires); `-bin` values must be base64
    /// (else INTERNAL). `te: trailers` is not required: some proxies drop it and nothing here depends on it.
    ///
    /// `endStream` is the END_STREAM flag of the HEADERS frame: an accepted request that ends here has no messages.
    public mutating func receivedHeaders(
        _ headers: [(name: String, value: String)],
        endStream: Bool
    )
        -> HeadersAction
    {
        switch state {
        case .awaitingHeaders:
            break
        case .open(var open):
            // A second HEADERS block is request trailers, which gRPC does not have.
            open.requestOpen = open.requestOpen && !endStream
            open.inputFailed = true
            state = .open(open)
            return .fail(GRPCStatus(.internal, "unexpected HEADERS block after the request headers"))
        case .rejected, .statusSent, .cancelled, .closed, .modifying:
            return .fail(GRPCStatus(.internal, "HEADERS block on a finished stream"))
        }

        let action = validate(headers)
        switch action {
        case .accept(let head):
            let contentType = Self.responseContentType(forRequestContentType: head.contentType)
            state = .open(
                Open(
                    deframer: MessageDeframer(maxMessageSize: configuration.maxReceiveMessageSize),
                    requestEncoding: head.requestEncoding,
                    responseEncoding: head.responseEncoding,
                    responseContentType: contentType,
                    requestOpen: !endStream
                )
            )
        case .rejectHTTP, .rejectTrailersOnly, .fail:
            state = .rejected(requestOpen: !endStream)
        }
        return action
    }

    /// Feeds the payload of one DATA frame; returns the messages it completed, or a failure.
    ///
    /// To signal an END_STREAM that came on a HEADERS frame or request trailers, pass an empty buffer with
    /// `endStream: true`; once the request has ended, empty calls keep answering `.messages([], endOfInput: true)`.
    public mutating func receivedData(_ bytes: UnsafeRawBufferPointer, endStream: Bool) -> DataAction {
        guard case .open(var open) = state else {
            switch state {
            case .awaitingHeaders:
                return .fail(GRPCStatus(.internal, "DATA before the request headers"))
            case .rejected(let requestOpen):
                state = .rejected(requestOpen: requestOpen && !endStream)
            case .statusSent(let requestOpen):
                state = .statusSent(requestOpen: requestOpen && !endStream)
            case .open, .cancelled, .closed, .modifying:
                break
            }
            // The call is over; what the client still had in flight is discarded.
            return .messages([], endOfInput: false)
        }
        // Leave no second reference to the deframer's buffer in `state`, or appending would copy it on every frame.
        state = .modifying
        defer { state = .open(open) }

        if open.inputFailed {
            open.requestOpen = open.requestOpen && !endStream
            return .messages([], endOfInput: false)
        }
        guard open.requestOpen else {
            // Repeating the end (an empty END_STREAM signal, e.g. after END_STREAM on the HEADERS frame) is
            // harmless; bytes after the end are a protocol violation.
            if bytes.isEmpty { return .messages([], endOfInput: true) }
            open.inputFailed = true
            return .fail(GRPCStatus(.internal, "DATA after the request's END_STREAM"))
        }
        if endStream { open.requestOpen = false }

        open.deframer.append(bytes)
        var messages: [[UInt8]] = []
        do {
            while let message = try open.deframer.next() {
                messages.append(try decode(message, encoding: open.requestEncoding))
            }
            if endStream && open.deframer.hasPartialMessage {
                throw GRPCStatus(
                    .internal,
                    "request ended inside a message (\(open.deframer.bufferedByteCount) bytes of it received)"
                )
            }
        } catch {
            open.inputFailed = true
            return .fail(Self.status(for: error))
        }
        return .messages(messages, endOfInput: endStream)
    }

    /// Feeds the payload of one DATA frame; returns the messages it completed, or a failure.
    public mutating func receivedData(_ bytes: [UInt8], endStream: Bool) -> DataAction {
        bytes.withUnsafeBytes { receivedData($0, endStream: endStream) }
    }

    /// The stream was reset by the client (RST_STREAM) or its connection is gone. Before the status was sent, this
    /// cancels the call: the handler should stop, and nothing more is written.
    public mutating func streamClosed() {
        switch state {
        case .awaitingHeaders, .open:
            state = .cancelled
        case .rejected, .statusSent:
            state = .closed
        case .cancelled, .closed, .modifying:
            break
        }
    }

    // MARK: Outbound

    /// Marks the response headers as sent. Returns false when they were already sent or the call is over, in which
    /// case nothing must be written. The block to write is `responseHeaders(metadata:)`.
    public mutating func sendHeaders() -> Bool {
        guard case .open(var open) = state, !open.headersSent else { return false }
        open.headersSent = true
        state = .open(open)
        return true
    }

    /// Marks the response headers as sent and returns the block to write, or nil when they were already sent or the
    /// call is over.
    public mutating func sendHeaders(metadata: Metadata) -> [(String, String)]? {
        guard sendHeaders() else { return nil }
        return responseHeaders(metadata: metadata)
    }

    /// The Response-Headers block of this stream: `:status 200`, the content type matching the request, the
    /// response `grpc-encoding` when it is not identity, `grpc-accept-encoding`, and `metadata` (reserved names left
    /// out). Building it changes nothing; pair it with `sendHeaders()`.
    public func responseHeaders(metadata: Metadata = Metadata()) -> [(String, String)] {
        var contentType = ResponseHeaders.grpcContentType
        var encoding = MessageCompression.identity
        if case .open(let open) = state {
            contentType = open.responseContentType
            encoding = open.responseEncoding
        }
        return ResponseHeaders.initial(
            contentType: contentType,
            encoding: encoding,
            acceptEncoding: MessageCompression.acceptEncodingHeader(
                for: configuration.supportedCompression
            ),
            metadata: metadata
        )
    }

    /// Frames one response message, gzip-compressing it when `compress` is true and the stream negotiated gzip (see
    /// `Configuration.responseCompression`). Returns nil when the call is over. The response headers must have been
    /// sent first (`sendHeaders`): the header block announces the encoding, so a message before it is a programming
    /// error.
    public mutating func sendMessage(_ message: [UInt8], compress: Bool) -> [UInt8]? {
        guard case .open(let open) = state else { return nil }
        precondition(open.headersSent, "sendHeaders() must be called before sendMessage(_:compress:)")
        var out: [UInt8] = []
        if compress && open.responseEncoding == .gzip {
            let compressed = Gzip.compress(message)
            compressed.withUnsafeBytes { MessageFraming.append(message: $0, compressed: true, to: &out) }
        } else {
            message.withUnsafeBytes { MessageFraming.append(message: $0, compressed: false, to: &out) }
        }
        return out
    }

    /// Ends the call with a status: Trailers-Only when no response headers were sent, trailers otherwise, and
    /// `.alreadyClosed` when the status was already sent or the stream is gone. If `isRequestOpen` is still true
    /// afterwards, the caller should follow the block with RST_STREAM(NO_ERROR).
    public mutating func sendStatus(_ status: GRPCStatus, trailers: Metadata) -> StatusAction {
        guard case .open(let open) = state else { return .alreadyClosed }
        state = .statusSent(requestOpen: open.requestOpen)
        if open.headersSent {
            return .trailers(ResponseHeaders.trailers(status: status, metadata: trailers))
        }
        return .trailersOnly(
            headers: ResponseHeaders.trailersOnly(
                status: status,
                contentType: open.responseContentType,
                metadata: trailers
            )
        )
    }

    // MARK: State

    /// True when the stream was reset or lost before the status was sent.
    public var isCancelled: Bool {
        if case .cancelled = state { return true }
        return false
    }

    /// True when nothing more may be written: the status was sent, the request was refused, or the stream is gone.
    public var isClosed: Bool {
        switch state {
        case .awaitingHeaders, .open: return false
        case .rejected, .statusSent, .cancelled, .closed, .modifying: return true
        }
    }

    /// True while the client may still send on this stream (no END_STREAM yet and no reset). After a status or a
    /// rejection is written, true means the caller should send RST_STREAM(NO_ERROR).
    public var isRequestOpen: Bool {
        switch state {
        case .awaitingHeaders: return true
        case .open(let open): return open.requestOpen
        case .rejected(let requestOpen), .statusSent(let requestOpen): return requestOpen
        case .cancelled, .closed, .modifying: return false
        }
    }

    /// Bytes of a request message not yet complete, held by the deframer (0 outside an open call).
    public var partialMessageByteCount: Int {
        if case .open(let open) = state { return open.deframer.bufferedByteCount }
        return 0
    }

    /// True once the response headers were sent, while the call is open (false before accept and after the status).
    public var headersSent: Bool {
        if case .open(let open) = state { return open.headersSent }
        return false
    }

    // MARK: Helpers

    private func decode(
        _ message: MessageDeframer.Message,
        encoding: MessageCompression
    ) throws
        -> [UInt8]
    {
        guard message.compressed else { return message.bytes }
        switch encoding {
        case .identity:
            throw GRPCStatus(
                .internal,
                "compressed flag set on a message but the request has no grpc-encoding"
            )
        case .gzip:
            return try Gzip.decompress(message.bytes, limit: configuration.maxReceiveMessageSize)
        }
    }

    private static func status(for error: Error) -> GRPCStatus {
        switch error {
        case let status as GRPCStatus:
            return status
        case let error as MessageDeframer.Error:
            switch error {
            case .messageTooLarge: return GRPCStatus(.resourceExhausted, error.description)
            case .invalidCompressionFlag: return GRPCStatus(.internal, error.description)
            }
        case let error as Gzip.Error:
            switch error {
            case .tooLarge: return GRPCStatus(.resourceExhausted, error.description)
            case .corrupt: return GRPCStatus(.internal, error.description)
            }
        default:
            return GRPCStatus(.internal, "\(error)")
        }
    }

    /// `application/grpc+proto;charset=x` answers as `application/grpc+proto`; a bare or parameterised
    /// `application/grpc` answers as `application/grpc`.
    static func responseContentType(forRequestContentType contentType: String) -> String {
        // Nearly every client sends exactly this; skip the parsing below for it.
        if contentType == ResponseHeaders.grpcContentType { return contentType }
        let base =
            contentType.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let trimmed = base.trimmingASCIISpaces()
        return trimmed.lowercased().hasPrefix("application/grpc")
            ? trimmed : ResponseHeaders.grpcContentType
    }

    /// True for `application/grpc` alone or followed by `+subtype` or `;parameters` (case-insensitive).
    static func isGRPCContentType(_ value: String) -> Bool {
        if value == "application/grpc" || value == "application/grpc+proto" { return true }
        let lowered = value.lowercased()
        guard lowered.hasPrefix("application/grpc") else { return false }
        let rest = lowered.dropFirst("application/grpc".count)
        guard let next = rest.first else { return true }
        return next == "+" || next == ";" || next == " "
    }

    /// Splits `/service/method`; nil unless both parts are non-empty and there is no third segment.
    static func splitPath(_ path: String) -> (service: String, method: String)? {
        guard let separator = pathSeparator(path) else { return nil }
        let bytes = path.utf8
        return (
            String(path[bytes.index(after: bytes.startIndex)..<separator]),
            String(path[bytes.index(after: separator)...])
        )
    }

    /// The index of the `/` between service and method when `path` is `/service/method` with both parts non-empty
    /// and no third segment; nil otherwise.
    static func pathSeparator(_ path: String) -> String.Index? {
        // Byte scanning: this runs for every call, and Character-based splitting showed up in profiles.
        let bytes = path.utf8
        guard bytes.first == UInt8(ascii: "/") else { return nil }
        let afterSlash = bytes.index(after: bytes.startIndex)
        guard let separator = bytes[afterSlash...].firstIndex(of: UInt8(ascii: "/")) else { return nil }
        let methodStart = bytes.index(after: separator)
        guard separator > afterSlash, methodStart < bytes.endIndex,
            !bytes[methodStart...].contains(UInt8(ascii: "/"))
        else { return nil }
        return separator
    }

    private func validate(_ headers: [(name: String, value: String)]) -> HeadersAction {
        var method: String?
        var path: String?
        var authority: String?
        var host: String?
        var contentType: String?
        var timeout: String?
        var encoding: String?
        var acceptEncoding: [String] = []
        var userAgent: String?
        var metadata = Metadata()
        var malformedBinary: String?

        for (name, value) in headers {
            // The length goes first so that most names are told apart without a string comparison (this runs for
            // every header of every call).
            switch (name.utf8.count, name) {
            case (7, ":method"): method = method ?? value
            case (5, ":path"): path = path ?? value
            case (10, ":authority"): authority = authority ?? value
            case (4, "host"): host = host ?? value
            case (12, "content-type"): contentType = contentType ?? value
            case (12, "grpc-timeout"): timeout = timeout ?? value
            case (13, "grpc-encoding"): encoding = encoding ?? value
            case (20, "grpc-accept-encoding"): acceptEncoding.append(value)
            case (10, "user-agent"): userAgent = userAgent ?? value
            default:
                // A valid name is lower-case ASCII, so the reserved check needs no lowering.
                guard Metadata.isValidName(name), !Metadata.isReserved(lowercase: name) else { continue }
                if name.hasSuffix("-bin") {
                    let pieces = value.split(separator: ",", omittingEmptySubsequences: false)
                    if pieces.contains(where: { Base64.decode($0.trimmingASCIISpaces()) == nil }) {
                        malformedBinary = malformedBinary ?? name
                        continue
                    }
                    metadata.append(name, value)
                } else if value.isEmpty || Metadata.isValidASCIIValue(value) {
                    metadata.append(name, value)
                }
            }
        }

        guard method == "POST" else {
            return .rejectHTTP(
                status: 405,
                message: "gRPC requires :method POST, got \(method ?? "none")"
            )
        }
        guard let contentType, Self.isGRPCContentType(contentType) else {
            return .rejectHTTP(
                status: 415,
                message: "invalid gRPC request content-type \(contentType.map { "'\($0)'" } ?? "(none)")"
            )
        }
        guard let path, Self.pathSeparator(path) != nil else {
            return .rejectTrailersOnly(
                GRPCStatus(.unimplemented, "malformed method name: '\(path ?? "")'"),
                extraHeaders: []
            )
        }
        var deadline: Int64?
        if let timeout {
            guard let nanoseconds = GRPCTimeout.parseNanoseconds(timeout) else {
                return .rejectTrailersOnly(
                    GRPCStatus(.internal, "malformed grpc-timeout '\(timeout)'"),
                    extraHeaders: []
                )
            }
            deadline = nanoseconds
        }
        var requestEncoding = MessageCompression.identity
        if let encoding {
            guard let parsed = MessageCompression(headerValue: encoding),
                parsed == .identity || configuration.supportedCompression.contains(parsed)
            else {
                let accepted = MessageCompression.acceptEncodingHeader(
                    for: configuration.supportedCompression
                )
                return .rejectTrailersOnly(
                    GRPCStatus(
                        .unimplemented,
                        "grpc-encoding '\(encoding)' is not supported (supported: \(accepted))"
                    ),
                    extraHeaders: [("grpc-accept-encoding", accepted)]
                )
            }
            requestEncoding = parsed
        }
        if let malformedBinary {
            return .rejectTrailersOnly(
                GRPCStatus(.internal, "malformed base64 in binary metadata '\(malformedBinary)'"),
                extraHeaders: []
            )
        }

        let acceptedEncodings = MessageCompression.parseAcceptEncoding(
            acceptEncoding.count == 1 ? acceptEncoding[0] : acceptEncoding.joined(separator: ",")
        )
        let wanted = configuration.responseCompression
        let responseEncoding: MessageCompression =
            wanted != .identity && acceptedEncodings.contains(wanted)
                && configuration.supportedCompression.contains(wanted) ? wanted : .identity

        return .accept(
            RequestHead(
                path: path,
                metadata: metadata,
                deadlineNanoseconds: deadline,
                requestEncoding: requestEncoding,
                acceptedEncodings: acceptedEncodings,
                responseEncoding: responseEncoding,
                authority: authority ?? host,
                userAgent: userAgent,
                contentType: contentType
            )
        )
    }
}
