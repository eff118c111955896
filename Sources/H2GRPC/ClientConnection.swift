import CNGHTTP2Shim
import CSystemShim
import Dispatch
import Foundation

/// A request a client sends: one message to one method.
public struct ClientRequest: Sendable {
    /// "/package.Service/Method".
    public var path: String
    /// The serialized request message.
    public var message: [UInt8]
    /// Custom metadata to send.
    public var metadata: Metadata
    /// Sent as grpc-timeout; the call also ends locally with DEADLINE_EXCEEDED when it passes.
    public var timeoutNanoseconds: Int64?
    /// Compress the request message with gzip.
    public var compress: Bool

    /// Creates a request.
    public init(
        path: String, message: [UInt8], metadata: Metadata = Metadata(), timeoutNanoseconds: Int64? = nil,
        compress: Bool = false
    ) {
        self.path = path
        self.message = message
        self.metadata = metadata
        self.timeoutNanoseconds = timeoutNanoseconds
        self.compress = compress
    }
}

/// How a call ended, with enough detail for a load generator to count every kind of failure apart.
public struct ClientCallResult: Sendable {
    /// What ended the call.
    public enum Ending: Sendable, Equatable {
        /// The server sent a grpc-status (in trailers, or Trailers-Only).
        case status
        /// The HTTP status was not 200, or the response was not gRPC.
        case httpError(Int)
        /// The server reset the stream with this HTTP/2 error code.
        case reset(UInt32)
        /// The server sent GOAWAY before it processed the stream.
        case refusedByGoAway
        /// The local deadline passed before the server answered.
        case timeout
        /// The connection failed or closed.
        case transportError(String)
    }

    /// The gRPC status, read from the trailers or derived from the ending as gRPC clients do.
    public var status: GRPCStatus
    /// What ended the call.
    public var ending: Ending
    /// The HTTP :status of the response, when one arrived.
    public var httpStatus: Int?
    /// Response headers' custom metadata.
    public var headers: Metadata
    /// Trailers' custom metadata.
    public var trailers: Metadata
}

/// Callbacks for one call; they run on the connection's event loop thread and must not block.
public struct ClientCallHandler: Sendable {
    /// Response headers arrived (HTTP status and custom metadata).
    public var onHeaders: (@Sendable (Int, Metadata) -> Void)?
    /// A response message arrived (already decompressed).
    public var onMessage: (@Sendable ([UInt8]) -> Void)?
    /// The call ended; called exactly once.
    public var onFinish: @Sendable (ClientCallResult) -> Void

    /// Creates a handler.
    public init(
        onHeaders: (@Sendable (Int, Metadata) -> Void)? = nil, onMessage: (@Sendable ([UInt8]) -> Void)? = nil,
        onFinish: @escaping @Sendable (ClientCallResult) -> Void
    ) {
        self.onHeaders = onHeaders
        self.onMessage = onMessage
        self.onFinish = onFinish
    }
}

/// A gRPC client connection over HTTP/2 cleartext (prior knowledge) on nghttp2, multiplexing many calls.
///
/// Lives on one ``EventLoop``; ``startCall(_:handler:)`` is safe from any thread. The nghttp2 client session is
/// freed by ``close()``, which is idempotent and also runs when the server closes the connection.
public final class ClientConnection: EventLoopHandler, @unchecked Sendable {
    /// The loop that owns the connection.
    public let loop: EventLoop
    /// "host:port", sent as :authority.
    public let authority: String
    private let fd: Int32
    private let ownedGroup: EventLoopGroup?
    private let maxReceiveMessageSize: Int
    private var session: OpaquePointer?
    private var streams: [Int32: ClientStream] = [:]
    private var io: SessionIO
    private var closed = false
    private var closeReason = "connection closed"
    private let readBuffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256 << 10)
    private let lifecycleLock = NSLock()
    private var closeRequested = false

    /// Connects to `host:port`. Without a `loop`, the connection gets an I/O thread of its own.
    public init(
        host: String, port: Int, loop: EventLoop? = nil, connectTimeoutMilliseconds: Int = 5000,
        maxReceiveMessageSize: Int = 64 << 20
    ) throws {
        let fd = csystem_connect(host, Int32(port), Int32(connectTimeoutMilliseconds))
        guard fd >= 0 else {
            readBuffer.deallocate()
            throw RPCError.system("connect to \(host):\(port)", -fd)
        }
        self.fd = fd
        self.authority = "\(host):\(port)"
        self.maxReceiveMessageSize = maxReceiveMessageSize
        if let loop {
            self.loop = loop
            ownedGroup = nil
        } else {
            let group = try EventLoopGroup(count: 1, prefix: "client")
            ownedGroup = group
            self.loop = group.loops[0]
        }
        io = SessionIO(fd: fd, loop: self.loop)
        let ready = DispatchSemaphore(value: 0)
        // setUp()'s outcome travels back through the semaphore. `closed` and `closeReason` belong to the loop thread,
        // which may already be closing the connection again (the server hung up at once) while this thread reads.
        var setUpFailure: String?
        self.loop.execute { [self] in
            setUp()
            if closed { setUpFailure = closeReason }
            ready.signal()
        }
        ready.wait()
        if let setUpFailure { throw RPCError.connectionClosed(setUpFailure) }
    }

    deinit {
        assert(session == nil, "ClientConnection released without close()")
        readBuffer.deallocate()
    }

    private func setUp() {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            closed = true
            Foundation.close(fd)
            return
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_header_callback(callbacks, clientOnHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, clientOnFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, clientOnDataChunkRecv)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, clientOnStreamClose)
        let userData = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_client_new(&session, callbacks, userData) == 0 else {
            session = nil
            closed = true
            Foundation.close(fd)
            return
        }
        var settings = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: UInt32(4 << 20)),
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        nghttp2_session_set_local_window_size(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(64 << 20))
        loop.register(fd: fd, handler: self)
        loop.markDirty(self)
    }

    /// Starts a call; `handler` hears of it on the loop thread. Safe from any thread.
    public func startCall(_ request: ClientRequest, handler: ClientCallHandler) {
        loop.execute { [self] in submit(request, handler: handler) }
    }

    /// Closes the connection, failing calls still open. Idempotent; safe from any thread.
    public func close() {
        let first = lifecycleLock.withLock { () -> Bool in
            defer { closeRequested = true }
            return !closeRequested
        }
        guard first else { return }
        if loop.inEventLoop {
            close(reason: "closed by the client")
        } else {
            let done = DispatchSemaphore(value: 0)
            loop.execute { [self] in
                close(reason: "closed by the client")
                done.signal()
            }
            done.wait()
        }
        ownedGroup?.shutdown()
    }

    /// Whether the connection is gone (closed locally, by the server, or by an error).
    public var isClosed: Bool {
        if loop.inEventLoop { return closed }
        if lifecycleLock.withLock({ closeRequested }) { return true }
        let done = DispatchSemaphore(value: 0)
        var result = false
        loop.execute { [self] in
            result = closed
            done.signal()
        }
        done.wait()
        return result
    }

    // MARK: Loop thread

    private func submit(_ request: ClientRequest, handler: ClientCallHandler) {
        guard !closed, let session else {
            handler.onFinish(Self.failure(.transportError(closeReason), closeReason))
            return
        }
        var pairs: [(String, String)] = [
            (":method", "POST"), (":scheme", "http"), (":path", request.path), (":authority", authority),
            ("content-type", "application/grpc"), ("te", "trailers"), ("user-agent", "rankd-h2grpc/1.0"),
            ("grpc-accept-encoding", MessageCompression.acceptEncodingHeader),
        ]
        if let timeout = request.timeoutNanoseconds {
            pairs.append(("grpc-timeout", GRPCTimeout.encode(nanoseconds: max(1, timeout))))
        }
        var body: [UInt8]
        if request.compress {
            pairs.append(("grpc-encoding", "gzip"))
            body = MessageFraming.frame(Gzip.compress(request.message), compressed: true)
        } else {
            body = MessageFraming.frame(request.message, compressed: false)
        }
        for entry in request.metadata where !Metadata.isReserved(entry.name) { pairs.append((entry.name, entry.value)) }
        let stream = ClientStream(connection: self, handler: handler, body: body, maxMessageSize: maxReceiveMessageSize)
        var provider = nghttp2_data_provider()
        provider.source.ptr = Unmanaged.passUnretained(stream).toOpaque()
        provider.read_callback = clientReadRequestBody
        let id = HeaderBlock.withNameValues(pairs) { nva, count in
            nghttp2_submit_request(session, nil, nva, count, &provider, nil)
        }
        guard id > 0 else {
            let why = String(cString: nghttp2_strerror(id))
            handler.onFinish(Self.failure(.transportError(why), why))
            return
        }
        stream.id = id
        streams[id] = stream
        if let timeout = request.timeoutNanoseconds {
            stream.timer = loop.scheduleTimer(afterNanoseconds: timeout) { [stream] in stream.timedOut() }
        }
        loop.markDirty(self)
    }

    static func failure(_ ending: ClientCallResult.Ending, _ message: String) -> ClientCallResult {
        let code: GRPCStatus.Code
        switch ending {
        case .timeout: code = .deadlineExceeded
        case .reset(let errorCode): code = GRPCStatus.fromHTTP2ErrorCode(errorCode).code
        default: code = .unavailable
        }
        return ClientCallResult(
            status: GRPCStatus(code, message), ending: ending, httpStatus: nil, headers: Metadata(),
            trailers: Metadata())
    }

    func handleEvents(_ events: UInt32) {
        guard !closed, let session else { return }
        if events & UInt32(CSYSTEM_EV_READ | CSYSTEM_EV_HANGUP) != 0 {
            switch io.read(into: session, buffer: readBuffer) {
            case .done, .blocked:
                loop.markDirty(self)
            case .peerClosed:
                close(reason: "server closed the connection")
                return
            case .failed(let why):
                close(reason: why)
                return
            }
        } else if events & UInt32(CSYSTEM_EV_ERROR) != 0 {
            close(reason: "socket error")
            return
        }
        if events & UInt32(CSYSTEM_EV_WRITE) != 0 { flush() }
    }

    func flush() {
        guard !closed, let session else { return }
        switch io.flush(session) {
        case .done, .blocked: break
        case .peerClosed: close(reason: "server closed the connection")
        case .failed(let why): close(reason: why)
        }
    }

    private func close(reason: String) {
        guard !closed else { return }
        closed = true
        closeReason = reason
        loop.deregister(fd: fd)
        Foundation.close(fd)
        let open = streams
        streams.removeAll()
        for stream in open.values { stream.fail(.transportError(reason), reason) }
        nghttp2_session_del(session)
        session = nil
    }

    var sessionPointer: OpaquePointer? { session }
    fileprivate func stream(_ id: Int32) -> ClientStream? { streams[id] }
    fileprivate func removeStream(_ id: Int32) { streams.removeValue(forKey: id) }
    fileprivate var goAwayLastStreamID: Int32?
}

/// One call's state on the client; loop thread only.
final class ClientStream {
    var id: Int32 = 0
    unowned let connection: ClientConnection
    let handler: ClientCallHandler
    private let body: [UInt8]
    private var bodyOffset = 0
    private var deframer: MessageDeframer
    private var collecting: [(String, String)] = []
    private var httpStatus: Int?
    private var headers = Metadata()
    private var trailers = Metadata()
    private var grpcStatus: GRPCStatus?
    private var encoding: MessageCompression = .identity
    private var failure: (ClientCallResult.Ending, String)?
    private var done = false
    /// The local deadline; cancelled when the call ends so the stream is not kept alive until then.
    var timer: LoopTimer?

    init(connection: ClientConnection, handler: ClientCallHandler, body: [UInt8], maxMessageSize: Int) {
        self.connection = connection
        self.handler = handler
        self.body = body
        self.deframer = MessageDeframer(maxMessageSize: maxMessageSize)
    }

    fileprivate func readBody(into buffer: UnsafeMutablePointer<UInt8>, length: Int, flags: UnsafeMutablePointer<UInt32>)
        -> Int
    {
        let count = min(length, body.count - bodyOffset)
        if count > 0 {
            body.withUnsafeBytes {
                UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress! + bodyOffset, byteCount: count)
            }
            bodyOffset += count
        }
        if bodyOffset == body.count { flags.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue) }
        return count
    }

    fileprivate func header(_ name: String, _ value: String) {
        collecting.append((name, value))
    }

    /// A HEADERS block ended: the response headers (or a Trailers-Only response), or the trailers.
    fileprivate func headersComplete(isTrailers: Bool) {
        let block = collecting
        collecting = []
        var metadata = Metadata()
        var status: String?
        var message = ""
        for (name, value) in block {
            switch name {
            case ":status": httpStatus = Int(value)
            case "grpc-status": status = value
            case "grpc-message": message = PercentEncoding.decode(value)
            case "grpc-encoding": encoding = MessageCompression(headerValue: value) ?? .identity
            case "content-type", "grpc-accept-encoding": break
            default: metadata.append(name, value)
            }
        }
        if let status { grpcStatus = GRPCStatus(GRPCStatus.code(fromHeaderValue: status), message) }
        if isTrailers || status != nil {
            trailers = metadata
        } else {
            headers = metadata
        }
        if !isTrailers { handler.onHeaders?(httpStatus ?? 0, headers) }
    }

    fileprivate func data(_ bytes: UnsafeRawBufferPointer) {
        guard failure == nil else { return }
        deframer.append(bytes)
        do {
            while let message = try deframer.next() {
                if message.compressed {
                    guard encoding == .gzip else {
                        failure = (.status, "compressed message without grpc-encoding")
                        return
                    }
                    handler.onMessage?(try Gzip.decompress(message.bytes, limit: 64 << 20))
                } else {
                    handler.onMessage?(message.bytes)
                }
            }
        } catch {
            failure = (.status, "bad response message: \(error)")
        }
    }

    fileprivate func closed(errorCode: UInt32) {
        guard !done else { return }
        if let (_, message) = failure {
            finish(status: GRPCStatus(.internal, message), ending: .status)
        } else if let grpcStatus {
            finish(status: grpcStatus, ending: .status)
        } else if let httpStatus, httpStatus != 200 {
            finish(status: GRPCStatus.fromHTTPStatus(httpStatus), ending: .httpError(httpStatus))
        } else if errorCode == UInt32(NGHTTP2_REFUSED_STREAM.rawValue), connection.goAwayLastStreamID != nil {
            fail(.refusedByGoAway, "the server is going away and did not process the call")
        } else if errorCode != 0 {
            fail(.reset(errorCode), "stream reset by the server (HTTP/2 error \(errorCode))")
        } else {
            finish(status: GRPCStatus(.internal, "the response ended without a grpc-status"), ending: .status)
        }
    }

    func timedOut() {
        guard !done else { return }
        if let session = connection.sessionPointer {
            nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), id, UInt32(NGHTTP2_CANCEL.rawValue))
            connection.loop.markDirty(connection)
        }
        fail(.timeout, "the deadline passed before the server answered")
    }

    func fail(_ ending: ClientCallResult.Ending, _ message: String) {
        var result = ClientConnection.failure(ending, message)
        result.httpStatus = httpStatus
        result.headers = headers
        deliver(result)
    }

    private func finish(status: GRPCStatus, ending: ClientCallResult.Ending) {
        deliver(
            ClientCallResult(
                status: status, ending: ending, httpStatus: httpStatus, headers: headers, trailers: trailers))
    }

    private func deliver(_ result: ClientCallResult) {
        guard !done else { return }
        done = true
        timer?.cancel()
        timer = nil
        connection.removeStream(id)
        handler.onFinish(result)
    }
}

// MARK: - nghttp2 client callbacks

private func clientConnection(_ userData: UnsafeMutableRawPointer?) -> ClientConnection? {
    guard let userData else { return nil }
    return Unmanaged<ClientConnection>.fromOpaque(userData).takeUnretainedValue()
}

private let clientReadRequestBody: nghttp2_data_source_read_callback = { _, _, buffer, length, flags, source, _ in
    guard let source, let pointer = source.pointee.ptr, let buffer, let flags else {
        return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
    }
    return Unmanaged<ClientStream>.fromOpaque(pointer).takeUnretainedValue().readBody(
        into: buffer, length: length, flags: flags)
}

private let clientOnHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let connection = clientConnection(userData), let frame, let name, let value,
        let stream = connection.stream(frame.pointee.hd.stream_id)
    else { return 0 }
    stream.header(
        String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
        String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
    return 0
}

private let clientOnFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let connection = clientConnection(userData), let frame else { return 0 }
    let header = frame.pointee.hd
    if UInt32(header.type) == NGHTTP2_GOAWAY.rawValue {
        connection.goAwayLastStreamID = frame.pointee.goaway.last_stream_id
        return 0
    }
    guard UInt32(header.type) == NGHTTP2_HEADERS.rawValue, let stream = connection.stream(header.stream_id) else {
        return 0
    }
    stream.headersComplete(isTrailers: frame.pointee.headers.cat == NGHTTP2_HCAT_HEADERS)
    return 0
}

private let clientOnDataChunkRecv: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    guard let connection = clientConnection(userData), let data, let stream = connection.stream(streamID) else {
        return 0
    }
    stream.data(UnsafeRawBufferPointer(start: data, count: length))
    return 0
}

private let clientOnStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    guard let connection = clientConnection(userData), let stream = connection.stream(streamID) else { return 0 }
    stream.closed(errorCode: errorCode)
    return 0
}
