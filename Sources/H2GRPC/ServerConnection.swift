import CNGHTTP2Shim
import CSystemShim
import Dispatch
import Foundation

/// One accepted HTTP/2 connection: its socket and its nghttp2 server session.
///
/// Owned by one ``EventLoop`` and touched only on its thread. The session is freed in ``close(reason:)``, which is
/// idempotent; `deinit` asserts it ran. nghttp2 gets `self` as an unretained opaque pointer: the loop's handler table
/// keeps the connection alive for exactly as long as the session exists.
final class ServerConnection: EventLoopHandler {
    let fd: Int32
    let loop: EventLoop
    unowned let server: Server
    let peer: String
    private var session: OpaquePointer?
    private var streams: [Int32: ServerStream] = [:]
    private var io: SessionIO
    private var closed = false
    private var goingAway = false
    /// Close once everything queued has reached the socket (set when a GOAWAY'd connection runs out of streams).
    private var closeAfterFlush = false

    init(fd: Int32, loop: EventLoop, server: Server, peer: String) {
        self.fd = fd
        self.loop = loop
        self.server = server
        self.peer = peer
        self.io = SessionIO(fd: fd, loop: loop)
    }

    deinit {
        assert(session == nil, "ServerConnection released without close()")
    }

    /// Creates the session, sends the server SETTINGS and starts reading. Loop thread only.
    func start() {
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            Foundation.close(fd)
            server.connectionClosed(self)
            return
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, onBeginHeaders)
        nghttp2_session_callbacks_set_on_header_callback(callbacks, onHeader)
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, onFrameRecv)
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, onDataChunkRecv)
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, onStreamClose)
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, onFrameSend)

        let options = cnghttp2_make_options(0, 0)
        defer { nghttp2_option_del(options) }
        let userData = Unmanaged.passUnretained(self).toOpaque()
        guard nghttp2_session_server_new2(&session, callbacks, userData, options) == 0 else {
            session = nil
            Foundation.close(fd)
            server.connectionClosed(self)
            return
        }
        let config = server.configuration
        var settings = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue),
                value: config.maxConcurrentStreams),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: config.initialWindowSize),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: config.maxHeaderListSize),
        ]
        nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &settings, settings.count)
        // The connection window bounds how much all streams together may have in flight; the default 64 KiB would
        // make large uploads crawl.
        nghttp2_session_set_local_window_size(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(config.connectionWindowSize))
        loop.register(fd: fd, handler: self)
        loop.markDirty(self)
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
        switch io.flush(session) {
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
        loop.deregister(fd: fd)
        Foundation.close(fd)
        let open = streams
        streams.removeAll()
        for stream in open.values { stream.connectionLost() }
        nghttp2_session_del(session)
        session = nil
        server.connectionClosed(self)
    }

    /// Starts a graceful shutdown: GOAWAY with the last stream id processed; streams already open run to the end.
    func goAway() {
        guard !closed, !goingAway, let session else { return }
        goingAway = true
        nghttp2_submit_goaway(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nghttp2_session_get_last_proc_stream_id(session),
            UInt32(NGHTTP2_NO_ERROR.rawValue), nil, 0)
        if streams.isEmpty { closeWhenFlushed() }
        loop.markDirty(self)
    }

    /// Closes after the next flush has written everything out. Never closes directly: this runs inside nghttp2
    /// callbacks, before the bytes of the frame being sent (often the last trailers) have left nghttp2.
    func closeWhenFlushed() {
        closeAfterFlush = true
        loop.markDirty(self)
    }

    // MARK: Stream plumbing used by ServerStream

    var sessionPointer: OpaquePointer? { session }

    func streamFinished(_ id: Int32) {
        streams.removeValue(forKey: id)
        if goingAway && streams.isEmpty { closeWhenFlushed() }
    }

    fileprivate func beginStream(_ id: Int32) {
        guard streams[id] == nil else { return }
        streams[id] = ServerStream(id: id, connection: self)
    }

    fileprivate func stream(_ id: Int32) -> ServerStream? { streams[id] }
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
        name: String(decoding: UnsafeBufferPointer(start: name, count: nameLength), as: UTF8.self),
        value: String(decoding: UnsafeBufferPointer(start: value, count: valueLength), as: UTF8.self))
    return 0
}

private let onFrameRecv: nghttp2_on_frame_recv_callback = { _, frame, userData in
    guard let connection = connection(userData), let frame else { return 0 }
    let header = frame.pointee.hd
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
    guard let connection = connection(userData), let data, let stream = connection.stream(streamID) else { return 0 }
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
    // After our END_STREAM, a client still uploading (e.g. a message over the limit) is told to stop, as gRPC
    // servers do, instead of the server reading and discarding the rest.
    if header.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0, header.stream_id != 0,
        nghttp2_session_get_stream_remote_close(session, header.stream_id) == 0
    {
        nghttp2_submit_rst_stream(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), header.stream_id, UInt32(NGHTTP2_NO_ERROR.rawValue))
        connection.loop.markDirty(connection)
    }
    return 0
}
