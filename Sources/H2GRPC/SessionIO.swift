import CNGHTTP2Shim
import CSystemShim
import Foundation

/// Moving bytes between a non-blocking socket and an nghttp2 session, for server and client connections alike.
///
/// Loop thread only; the connection that owns the socket and session owns this too.
struct SessionIO {
    /// How a read or a flush ended.
    enum Outcome: Equatable {
        /// Everything available was handled.
        case done
        /// The socket cannot take more now; EPOLLOUT has been asked for.
        case blocked
        /// The peer closed its side.
        case peerClosed
        /// The socket or nghttp2 failed; the connection must close.
        case failed(String)
    }

    let fd: Int32
    unowned let loop: EventLoop
    private var pending: [UInt8] = []
    private var pendingOffset = 0
    private var wantsWritable = false
    /// Bytes written to the socket so far; the write timeout watches it move.
    private(set) var bytesWritten = 0

    init(fd: Int32, loop: EventLoop) {
        self.fd = fd
        self.loop = loop
        pending.reserveCapacity(64 << 10)
    }

    /// Whether bytes are waiting for the socket.
    var hasPending: Bool { pendingOffset < pending.count }

    /// Bytes framed by nghttp2 and waiting for the socket.
    var pendingCount: Int { pending.count - pendingOffset }

    /// Reads what the socket has (a bounded number of times, so one busy peer cannot starve the others on the loop)
    /// and feeds it to nghttp2.
    func read(into session: OpaquePointer, buffer: UnsafeMutableBufferPointer<UInt8>) -> Outcome {
        for _ in 0..<4 {
            let count = csystem_read(fd, buffer.baseAddress, buffer.count)
            if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) { return .done }
            if count == 0 { return .peerClosed }
            if count < 0 { return .failed("read failed: \(String(cString: strerror(Int32(-count))))") }
            let consumed = nghttp2_session_mem_recv(session, buffer.baseAddress, count)
            if consumed < 0 { return .failed("HTTP/2 error: \(String(cString: nghttp2_strerror(Int32(consumed))))") }
            if count < buffer.count { return .done }
        }
        return .done
    }

    /// Moves what nghttp2 has to send into the socket, batching frames into few writes.
    mutating func flush(_ session: OpaquePointer) -> Outcome {
        if hasPending {
            let outcome = writePending()
            guard outcome == .done else { return outcome }
        }
        while true {
            var chunk: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &chunk)
            if count < 0 { return .failed("nghttp2 send failed: \(String(cString: nghttp2_strerror(Int32(count))))") }
            if count == 0 { break }
            pending.append(contentsOf: UnsafeBufferPointer(start: chunk, count: count))
            if pending.count >= 256 << 10 {
                let outcome = writePending()
                guard outcome == .done else { return outcome }
            }
        }
        return writePending()
    }

    /// Writes the buffered bytes, asking for EPOLLOUT when the socket is full and dropping it once drained.
    private mutating func writePending() -> Outcome {
        while pendingOffset < pending.count {
            let count = pending.withUnsafeBytes {
                csystem_write(fd, $0.baseAddress! + pendingOffset, $0.count - pendingOffset)
            }
            if count == -Int(EAGAIN) || count == -Int(EWOULDBLOCK) {
                if !wantsWritable {
                    wantsWritable = true
                    loop.modify(fd: fd, read: true, write: true)
                }
                return .blocked
            }
            if count < 0 { return .failed("write failed: \(String(cString: strerror(Int32(-count))))") }
            pendingOffset += count
            bytesWritten += count
        }
        pending.removeAll(keepingCapacity: true)
        pendingOffset = 0
        if wantsWritable {
            wantsWritable = false
            loop.modify(fd: fd, read: true, write: false)
        }
        return .done
    }
}
