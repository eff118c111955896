import CNGHTTP2Shim
import CSystemShim
import Dispatch
import Foundation

/// One accepted HTTP/2 connection: its socket, its nghttp2 server session, and the limits that keep one client from
/// hurting the others.
///
/// Owned by one ``EventLoop`` and touched only on its thread. The session is freed in ``close(reason:)``, which is
/// idempotent; `deinit` asserts it ran. nghttp2 gets `self` as an unretained opaque pointer: the loop's handler table
/// keeps the connection alive for exactly as long as the session exists.
///
/// Timeouts, the maximum age and the PING policy are decided by a ``ConnectionLifecycle`` value that the loop's
/// periodic tick and the frame callbacks feed; this class only carries out its actions.
final class ServerConnection: EventLoopHandler {
    let fd: Int32
    let loop: EventLoop
    unowned let server: Server
    let peer: String
    private var session: OpaquePointer?
    private var streams: [Int32: ServerStream] = [:]
    /// The stream the last lookup found: a request's HEADERS, header fields and DATA come one after another for one
    /// stream, so most lookups stop here instead of hashing.
    private var lastStream: ServerStream?
    private var io: SessionIO
    private(set) var closed = false
    private var started = false
    private var goingAway = false
    /// Close once everything queued has reached the socket (set when a GOAWAY'd connection runs out of streams).
    private var closeAfterFlush = false
    private var lifecycle: ConnectionLifecycle
    /// Request bytes held by this connection's streams (partial and untaken messages).
    private var requestBytes = 0
    /// Response bytes queued by this connection's streams and not yet taken by nghttp2.
    private var responseBytes = 0
    /// Streams whose handler waits for the response backlog to drain, in arrival order.
    private var parked: [ServerStream] = []
    private var subscriptions: [Int32: ServerStream] = [:]
    /// This connection's call metrics since the last tick (loop thread only).
    /// Loop-confined, so its (two per call) accesses skip the run-time exclusivity check.
    @exclusivity(unchecked) var callTally: CallTally
    @exclusivity(unchecked) private var callsEnded = 0

    init(fd: Int32, loop: EventLoop, server: Server, peer: String) {
        self.fd = fd
        self.loop = loop
        self.server = server
        self.peer = peer
        self.io = SessionIO(fd: fd, loop: loop)
        self.callTally = CallTally(metrics: server.callMetrics)
        self.lifecycle = ConnectionLifecycle(
            limits: server.configuration.lifecycleLimits,
            now: DispatchTime.now().uptimeNanoseconds
        )
    }

    deinit {
        assert(session == nil, "ServerConnection released without close()")
    }

    /// Creates the session, sends the server SETTINGS and starts reading. Loop thread only.
    func start() {
        guard !closed else { return }
        started = true
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            close(reason: "out of memory")
            return
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkRecv)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)
        nghttp2_session_callbacks_set_on_frame_not_send_callback(callbacks, onFrameNotSend)

        // Windows reopen only as handlers take their messages (nghttp2_session_consume), not as bytes arrive.
        let options = cnghttp2_make_options(0, 0, 1)
        defer { nghttp2_option_del(options) }
        let userData = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_server_new2(&session, callbacks, userData, options) == 0 else {
            session = nil
            close(reason: "nghttp2 session could not be created")
            return
        }
        let config = server.configuration
        var settings = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                value: config.maxConcurrentStreams
            ),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue),
                value: config.initialWindowSize
            ),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue),
                value: config.maxHeaderListSize
            ),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        // The connection window bounds how much all streams together may have in flight; the default 64 KiB would
        // make large uploads crawl.
        nghttp2_session_set_local_window_size(
            session,
            UInt8(NGHTTP2_FLAG_NONE.rawValue),
            0,
            Int32(config.connectionWindowSize)
        )
        loop.register(fd: fd, handler: self)
        loop.markDirty(self)
    }

    /// Counts a call's end for the access log's sampling (loop thread only).
    func countForAccessLog() -> Int {
        callsEnded &+= 1
        return callsEnded
    }

    // MARK: EventLoopHandler

    func handleEvents(_ events: UInt32) {
        guard !closed else { return }
        if events & UInt32(CSYSTEM_EV_READ) != 0 || events & UInt32(CSYSTEM_EV_HANGUP) != 0 {
            readAvailable()
        } else if events & UInt32(CSYSTEM_EV_ERROR) != 0 {
            close(reason: "socket error")
            return
        }
        if !closed && events & UInt32(CSYSTEM_EV_WRITE) != 0 {
            flush()
        }
    }

    private func readAvailable() {
        guard let session else { return }
        switch io.read(into: session, buffer: server.readBuffer(for: loop)) {
        case .done, .blocked:
            loop.markDirty(self)
        case .peerClosed:
            close(reason: "peer closed the connection")
        case .failed(let why):
            server.log(.debug, "\(peer): \(why)")
            // nghttp2 has queued a GOAWAY for protocol errors; send what it can, then drop the connection.
            _ = io.flush(session)
            close(reason: why)
        }
    }

    /// Moves what nghttp2 has to send into the socket; closes once a finished or shut-down session is written out.
    func flush() {
        guard !closed, let session else { return }
        let writtenBefore = io.bytesWritten
        let outcome = io.flush(session)
        lifecycle.wrote(
            stillWaiting: io.hasPending || responseBytes > 0,
            madeProgress: io.bytesWritten != writtenBefore,
            now: DispatchTime.now().uptimeNanoseconds
        )
        switch outcome {
        case .blocked:
            return
        case .failed(let why):
            close(reason: why)
            return
        case .peerClosed:
            close(reason: "peer closed the connection")
            return
        case .done:
            break
        }
        if !parked.isEmpty && !isOverResponseBudget { unparkWaiting() }
        if closeAfterFlush {
            close(reason: "shut down")
        } else if nghttp2_session_want_read(session) == 0 && nghttp2_session_want_write(session) == 0 {
            close(reason: "session finished")
        }
    }

    /// Closes the socket, frees the session and cancels every call still running. Idempotent.
    func close(reason: String) {
        guard !closed else { return }
        closed = true
        server.log(.debug, "\(peer): connection closed (\(reason))")
        if started { loop.deregister(fd: fd) }
        Foundation.close(fd)
        let open = streams
        streams.removeAll()
        lastStream = nil
        parked.removeAll()
        subscriptions.removeAll()
        for stream in open.values { stream.connectionLost() }
        callTally.flush(server.callMetrics)
        server.releaseRequestBytes(requestBytes)
        requestBytes = 0
        server.responseBytesChanged(-responseBytes)
        responseBytes = 0
        nghttp2_session_del(session)
        session = nil
        server.connectionClosed(self)
    }

    /// Starts a graceful shutdown: GOAWAY with the last stream id processed; streams already open run to the end,
    /// except subscriptions (health Watch), which end at once with UNAVAILABLE so that shutdown does not wait for them.
    func goAway() {
        guard !closed, !goingAway, session != nil else { return }
        lifecycle.wentAway()
        sendGoAway(errorCode: UInt32(NGHTTP2_NO_ERROR.rawValue), debugData: "")
        for stream in Array(subscriptions.values) {
            stream.finish(
                status: GRPCStatus(.unavailable, "the server is shutting down; reconnect to another instance"),
                trailers: Metadata()
            )
        }
    }

    private func sendGoAway(errorCode: UInt32, debugData: String) {
        guard let session, !goingAway else { return }
        goingAway = true
        var debug = Array(debugData.utf8)
        nghttp2_submit_goaway(
            session,
            UInt8(NGHTTP2_FLAG_NONE.rawValue),
            nghttp2_session_get_last_proc_stream_id(session),
            errorCode,
            &debug,
            debug.count
        )
        if streams.isEmpty { closeWhenFlushed() }
        loop.markDirty(self)
    }

    /// Closes after the next flush has written everything out. Never closes directly: this runs inside nghttp2
    /// callbacks, before the bytes of the frame being sent (often the last trailers) have left nghttp2.
    func closeWhenFlushed() {
        closeAfterFlush = true
        loop.markDirty(self)
    }

    /// The loop's periodic check of timeouts and age.
    func tick(now: UInt64) {
        guard !closed else { return }
        callTally.flush(server.callMetrics)
        switch lifecycle.tick(now: now) {
        case .none:
            break
        case .close(let reason):
            switch reason {
            case .prefaceTimeout:
                server.counters.add(\.closedPrefaceTimeout)
                close(reason: "no HTTP/2 preface within the preface timeout")
            case .writeTimeout:
                server.counters.add(\.closedWriteTimeout)
                close(reason: "the client stopped reading: no response byte written within the write timeout")
            case .maxAgeGraceOver:
                close(reason: "maximum connection age: grace period over")
            }
        case .goAway(let reason):
            switch reason {
            case .idle:
                server.counters.add(\.closedIdle)
                sendGoAway(errorCode: UInt32(NGHTTP2_NO_ERROR.rawValue), debugData: "idle")
            case .maxAge:
                server.counters.add(\.closedMaxAge)
                sendGoAway(errorCode: UInt32(NGHTTP2_NO_ERROR.rawValue), debugData: "max_age")
            case .tooManyPings:
                break
            }
        }
    }

    /// Whether the client has sent its preface (the server evicts the oldest connection that has not, at the limit).
    var prefaceReceived: Bool { lifecycle.prefaceReceived }

    // MARK: Budgets used by ServerStream

    var sessionPointer: OpaquePointer? { session }

    /// Returns `bytes` of a stream's request to the client's flow-control windows.
    func consume(streamID: Int32, bytes: Int) {
        guard bytes > 0, !closed, let session else { return }
        nghttp2_session_consume(session, streamID, bytes)
        loop.markDirty(self)
    }

    /// Counts `bytes` of request against this connection's and the server's budgets; false (and nothing counted)
    /// when either would be passed.
    func reserveRequestBytes(_ bytes: Int) -> Bool {
        guard requestBytes + bytes <= server.configuration.maxConnectionRequestBytes,
            server.reserveRequestBytes(bytes)
        else { return false }
        requestBytes += bytes
        return true
    }

    func releaseRequestBytes(_ bytes: Int) {
        guard bytes > 0, !closed else { return }
        requestBytes -= bytes
        server.releaseRequestBytes(bytes)
    }

    /// A stream queued (positive) or handed nghttp2 (negative) response bytes.
    func responseBytesQueued(_ delta: Int) {
        guard !closed else { return }
        responseBytes += delta
        server.responseBytesChanged(delta)
    }

    /// Whether responses pile up unread past the connection's budget: new handlers wait to start.
    var isOverResponseBudget: Bool {
        responseBytes + io.pendingCount > server.configuration.maxConnectionResponseBytes
    }

    func park(_ stream: ServerStream) {
        parked.append(stream)
    }

    func unpark(_ stream: ServerStream) {
        parked.removeAll { $0 === stream }
    }

    /// Starts parked handlers once the backlog is below half the budget, oldest first, while it stays below.
    private func unparkWaiting() {
        guard responseBytes + io.pendingCount <= server.configuration.maxConnectionResponseBytes / 2 else { return }
        let waiting = parked
        parked.removeAll()
        for stream in waiting { stream.startHandler() }
    }

    /// The response header block built last, with its size: calls that send the same metadata again (a health check
    /// naming the data it serves) reuse it instead of building it per call. Metadata handed over unchanged shares
    /// its storage, so the comparison is one pointer check.
    private var lastInitialHeaders:
        (metadata: Metadata, encoding: MessageCompression, pairs: [(String, String)], size: Int)?

    /// Response-Headers for `metadata` and `encoding` (``ResponseHeaders/initial``) and their header-list size.
    func initialHeaders(metadata: Metadata, encoding: MessageCompression) -> (pairs: [(String, String)], size: Int) {
        if let last = lastInitialHeaders, last.encoding == encoding, last.metadata == metadata {
            return (last.pairs, last.size)
        }
        let pairs = ResponseHeaders.initial(encoding: encoding, metadata: metadata)
        let size = ResponseHeaders.listSize(pairs)
        lastInitialHeaders = (metadata, encoding, pairs, size)
        return (pairs, size)
    }

    /// The largest response header block this client accepts: the server's own cap, or less when the client's
    /// SETTINGS_MAX_HEADER_LIST_SIZE says so.
    var maxResponseHeaderListSize: Int {
        var limit = server.configuration.maxResponseHeaderListSize
        if let session {
            let remote = nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE)
            limit = min(limit, Int(remote))
        }
        return limit
    }

    func subscriptionStarted(_ stream: ServerStream) {
        subscriptions[stream.id] = stream
    }

    func subscriptionEnded(_ stream: ServerStream) {
        subscriptions.removeValue(forKey: stream.id)
    }

    // MARK: Stream plumbing

    func streamFinished(_ id: Int32) {
        streams.removeValue(forKey: id)
        if lastStream?.id == id { lastStream = nil }
        lifecycle.streamsChanged(open: streams.count, now: DispatchTime.now().uptimeNanoseconds)
        if goingAway && streams.isEmpty { closeWhenFlushed() }
    }

    fileprivate func beginStream(_ id: Int32) {
        guard streams[id] == nil else { return }
        streams[id] = ServerStream(id: id, connection: self)
        lifecycle.streamsChanged(open: streams.count, now: DispatchTime.now().uptimeNanoseconds)
    }

    fileprivate func stream(_ id: Int32) -> ServerStream? {
        if let lastStream, lastStream.id == id { return lastStream }
        let found = streams[id]
        if found != nil { lastStream = found }
        return found
    }

    fileprivate func receivedSettings() {
        guard !lifecycle.prefaceReceived else { return }
        lifecycle.receivedPreface()
        server.prefaceReceived(self)
    }

    fileprivate func receivedPing() {
        if lifecycle.receivedPing(now: DispatchTime.now().uptimeNanoseconds) == .goAway(.tooManyPings) {
            server.counters.add(\.closedTooManyPings)
            server.log(.debug, "\(peer): too many PINGs; GOAWAY ENHANCE_YOUR_CALM")
            sendGoAway(errorCode: UInt32(NGHTTP2_ENHANCE_YOUR_CALM.rawValue), debugData: "too_many_pings")
            closeWhenFlushed()
        }
    }

    fileprivate func sentResponseFrame() {
        lifecycle.sentResponseFrame()
    }
}

// MARK: - nghttp2 callbacks
// Each recovers the connection from user_data; they capture nothing, as C function pointers must.

private func connection(_ userData: UnsafeMutableRawPointer?) -> ServerConnection? {
    guard let userData else { return nil }
    return Unmanaged<ServerConnection>.fromOpaque(userData).takeUnretainedValue()
}

private let onBeginHeaders: nghttp2_on_begin_headers_callback = { _, frame, userData in
    guard let connection = connection(userData), let frame else { return 0 }
    if frame.pointee.hd.type == UInt8(NGHTTP2_HEADERS.rawValue)
        && frame.pointee.headers.cat == NGHTTP2_HCAT_REQUEST
    {
        connection.beginStream(frame.pointee.hd.stream_id)
    }
    return 0
}

private let onHeader: nghttp2_on_header_callback = { _, frame, name, nameLength, value, valueLength, _, userData in
    guard let connection = connection(userData), let frame, let name, let value,
        let stream = connection.stream(frame.pointee.hd.stream_id)
    else { return 0 }
    stream.receivedHeader(
        name: UnsafeBufferPointer(start: name, count: nameLength),
        value: UnsafeBufferPointer(start: value, count: valueLength)
    )
    return 0
}

private let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let connection = connection(userData), let frame else { return 0 }
    let header = frame.pointee.hd
    let isAck = header.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) != 0
    switch UInt32(header.type) {
    case NGHTTP2_SETTINGS.rawValue where !isAck:
        connection.receivedSettings()
        return 0
    case NGHTTP2_PING.rawValue where !isAck:
        connection.receivedPing()
        return 0
    default:
        break
    }
    guard header.stream_id != 0, let stream = connection.stream(header.stream_id) else { return 0 }
    let endStream = header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
    switch UInt32(header.type) {
    case NGHTTP2_HEADERS.rawValue:
        stream.receivedHeaders(endStream: endStream)
    case NGHTTP2_DATA.rawValue where endStream:
        stream.receivedEndOfStream()
    default:
        break
    }
    return 0
}

private let onDataChunkRecv: nghttp2_on_data_chunk_recv_callback = { _, _, streamID, data, length, userData in
    guard let connection = connection(userData) else { return 0 }
    guard let data, let stream = connection.stream(streamID) else {
        // Data for a stream already gone: nobody holds it, so the window goes back at once.
        connection.consume(streamID: streamID, bytes: length)
        return 0
    }
    stream.receivedData(UnsafeRawBufferPointer(start: data, count: length))
    return 0
}

private let onStreamClose: nghttp2_on_stream_close_callback = { _, streamID, errorCode, userData in
    guard let connection = connection(userData), let stream = connection.stream(streamID) else { return 0 }
    stream.closed(errorCode: errorCode)
    connection.streamFinished(streamID)
    return 0
}

private let onFrameSend: nghttp2_on_frame_send_callback = { session, frame, userData in
    guard let connection = connection(userData), let frame else { return 0 }
    let header = frame.pointee.hd
    if header.stream_id != 0
        && (UInt32(header.type) == NGHTTP2_HEADERS.rawValue || UInt32(header.type) == NGHTTP2_DATA.rawValue)
    {
        connection.sentResponseFrame()
    }
    // After our END_STREAM, a client still uploading (e.g. a message over the limit) is told to stop, as gRPC
    // servers do, instead of the server reading and discarding the rest.
    if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0, header.stream_id != 0,
        nghttp2_session_get_stream_remote_close(session, header.stream_id) == 0
    {
        nghttp2_submit_rst_stream(
            session,
            UInt8(NGHTTP2_FLAG_NONE.rawValue),
            header.stream_id,
            UInt32(NGHTTP2_NO_ERROR.rawValue)
        )
        connection.loop.markDirty(connection)
    }
    return 0
}

/// nghttp2 refused to send a frame (a header block too large for the client, a stream already closed): the call
/// must end now rather than wait for frames that will never go.
private let onFrameNotSend: nghttp2_on_frame_not_send_callback = { _, frame, errorCode, userData in
    guard let connection = connection(userData), let frame else { return 0 }
    let header = frame.pointee.hd
    guard header.stream_id != 0, UInt32(header.type) == NGHTTP2_HEADERS.rawValue,
        let stream = connection.stream(header.stream_id)
    else { return 0 }
    connection.server.counters.add(\.responsesRefused)
    connection.server.log(
        .warning,
        "\(connection.peer): response headers on stream \(header.stream_id) could not be sent "
            + "(\(String(cString: nghttp2_strerror(errorCode)))); resetting the stream"
    )
    stream.resetStream()
    return 0
}
