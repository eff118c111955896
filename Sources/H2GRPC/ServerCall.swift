import Dispatch
import Foundation

/// One gRPC call as its handler sees it: request metadata, deadline, cancellation, and the message streams.
///
/// A handler runs on a worker thread and may block in ``receive()``, ``send(_:compress:)`` and ``sleep(milliseconds:)``;
/// each of those wakes and throws as soon as the call is cancelled (client RST_STREAM, connection loss, server
/// shutdown) or its deadline passes. The I/O thread owns the HTTP/2 stream; this object is the only thing the two
/// sides share, and every field below is guarded by `condition`.
public final class ServerCall: @unchecked Sendable {
    /// The request path, "/package.Service/Method".
    public let path: String
    /// Custom metadata the client sent (reserved headers removed).
    public let requestMetadata: Metadata
    /// When the client gives up, from grpc-timeout; nil when it sent none.
    public let deadline: DispatchTime?
    /// The client's address, for logs.
    public let peer: String

    /// How the call ended early, if it did.
    public enum Interruption: Sendable, Equatable {
        /// The client reset the stream or went away, or the server is shutting down.
        case cancelled
        /// The deadline passed.
        case deadlineExceeded
    }

    private let condition = NSCondition()
    private var inbound: [[UInt8]] = []
    private var inboundHead = 0
    private var inputFinished = false
    private var interruption: Interruption?
    private var headersSent = false
    private var unsentBytes = 0
    private var _responseMetadata = Metadata()
    private var _trailingMetadata = Metadata()
    private var _responseEncoding: MessageCompression
    private let clientAcceptsGzip: Bool

    /// Bytes a streaming handler may have queued for a slow client before ``send(_:compress:)`` waits for them to drain.
    static let sendHighWater = 4 << 20

    // The loop side: set once before the handler starts; used from worker threads to hand work back. A strong
    // reference (weak ones cost a side-table allocation per call): the stream does not hold the call once it has
    // closed, so there is no cycle, and a closed stream ignores whatever a late handler hands it.
    let loop: EventLoop
    var stream: ServerStream!

    init(
        path: String, requestMetadata: Metadata, deadline: DispatchTime?, peer: String, loop: EventLoop,
        requestEncoding: MessageCompression, clientAcceptsGzip: Bool
    ) {
        self.path = path
        self.requestMetadata = requestMetadata
        self.deadline = deadline
        self.peer = peer
        self.loop = loop
        self.clientAcceptsGzip = clientAcceptsGzip
        // Answer in the encoding the client used, as long as it also accepts it for responses.
        self._responseEncoding = requestEncoding == .gzip && clientAcceptsGzip ? .gzip : .identity
    }

    // MARK: Handler API

    /// Metadata sent with the response headers; set it before the first ``send(_:compress:)``.
    public var responseMetadata: Metadata {
        get { locked { _responseMetadata } }
        set {
            locked {
                precondition(!headersSent, "response metadata set after the response headers were sent")
                _responseMetadata = newValue
            }
        }
    }

    /// Metadata sent in the trailers with the status.
    public var trailingMetadata: Metadata {
        get { locked { _trailingMetadata } }
        set { locked { _trailingMetadata = newValue } }
    }

    /// The encoding of response messages. Setting `.gzip` takes effect only when the client accepts gzip, and only
    /// before the response headers are sent; afterwards each message can still opt out with `compress: false`.
    public var responseEncoding: MessageCompression {
        get { locked { _responseEncoding } }
        set {
            locked {
                guard !headersSent else { return }
                _responseEncoding = newValue == .gzip && clientAcceptsGzip ? .gzip : .identity
            }
        }
    }

    /// Whether the call was cancelled or its deadline has passed. Long computations check it between steps.
    public var isCancelled: Bool { interruptionNow() != nil }

    /// Throws CANCELLED or DEADLINE_EXCEEDED when the call can no longer succeed.
    public func checkAlive() throws {
        if let interruption = interruptionNow() { throw Self.status(for: interruption) }
    }

    /// Waits `milliseconds`, waking early (and throwing) on cancellation or deadline.
    public func sleep(milliseconds: Int) throws {
        let until = DispatchTime.now() + .milliseconds(milliseconds)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let interruption = interruptionLocked() { throw Self.status(for: interruption) }
            if DispatchTime.now() >= until { return }
            waitLocked(until: until)
        }
    }

    /// The next request message, or nil at the end of the request stream. For streaming-request methods only.
    public func receive() throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if inboundHead < inbound.count {
                let message = inbound[inboundHead]
                inbound[inboundHead] = []
                inboundHead += 1
                if inboundHead == inbound.count {
                    inbound.removeAll(keepingCapacity: true)
                    inboundHead = 0
                }
                return message
            }
            if let interruption = interruptionLocked() { throw Self.status(for: interruption) }
            if inputFinished { return nil }
            waitLocked(until: deadline)
        }
    }

    /// Sends one response message (the response headers go first, with ``responseMetadata``). Blocks while more than
    /// a few MiB are waiting for a slow client, so a streaming handler cannot outrun flow control.
    /// - Parameter compress: false sends this message uncompressed even when the response encoding is gzip.
    public func send(_ message: [UInt8], compress: Bool = true) throws {
        condition.lock()
        while unsentBytes > Self.sendHighWater, interruptionLocked() == nil {
            waitLocked(until: deadline)
        }
        if let interruption = interruptionLocked() {
            condition.unlock()
            throw Self.status(for: interruption)
        }
        let headers: Metadata? = headersSent ? nil : _responseMetadata
        headersSent = true
        let encoding = _responseEncoding
        condition.unlock()

        let framed = Self.frame(message, gzip: encoding == .gzip && compress)
        locked { unsentBytes += framed.count }
        let stream = self.stream!
        loop.execute { stream.sendMessage(framed, headers: headers, encoding: encoding) }
    }

    // MARK: Loop side

    /// Frames a message, compressing it when asked and when that makes it smaller.
    static func frame(_ message: [UInt8], gzip: Bool) -> [UInt8] {
        if gzip {
            let compressed = Gzip.compress(message)
            return MessageFraming.frame(compressed, compressed: true)
        }
        return MessageFraming.frame(message, compressed: false)
    }

    /// Queues a request message for ``receive()``.
    func deliver(_ message: [UInt8]) {
        locked {
            inbound.append(message)
            condition.broadcast()
        }
    }

    /// Marks the end of the request stream.
    func finishInput() {
        locked {
            inputFinished = true
            condition.broadcast()
        }
    }

    /// Wakes the handler with an interruption. Idempotent; the first reason wins.
    func interrupt(_ reason: Interruption) {
        locked {
            if interruption == nil { interruption = reason }
            condition.broadcast()
        }
    }

    /// Called when the I/O thread has handed `count` queued bytes to nghttp2.
    func drained(_ count: Int) {
        locked {
            let before = unsentBytes
            unsentBytes -= count
            if before > Self.sendHighWater && unsentBytes <= Self.sendHighWater { condition.broadcast() }
        }
    }

    /// Marks the response headers as sent and returns what they carry.
    func takeHeadersForFinish() -> (metadata: Metadata?, encoding: MessageCompression, trailers: Metadata) {
        locked {
            let headers: Metadata? = headersSent ? nil : _responseMetadata
            headersSent = true
            return (headers, _responseEncoding, _trailingMetadata)
        }
    }

    var interruptionReason: Interruption? { interruptionNow() }

    // MARK: Helpers

    static func status(for interruption: Interruption) -> GRPCStatus {
        switch interruption {
        case .cancelled: return GRPCStatus(.cancelled, "the call was cancelled")
        case .deadlineExceeded: return GRPCStatus(.deadlineExceeded, "the deadline passed before the call finished")
        }
    }

    private func interruptionNow() -> Interruption? {
        locked { interruptionLocked() }
    }

    private func interruptionLocked() -> Interruption? {
        if let interruption { return interruption }
        if let deadline, DispatchTime.now() >= deadline {
            interruption = .deadlineExceeded
            return interruption
        }
        return nil
    }

    private func waitLocked(until: DispatchTime?) {
        guard let until else {
            condition.wait()
            return
        }
        let now = DispatchTime.now()
        guard until > now else { return }
        let seconds = Double(until.uptimeNanoseconds - now.uptimeNanoseconds) / 1e9
        _ = condition.wait(until: Date(timeIntervalSinceNow: seconds))
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        condition.lock()
        defer { condition.unlock() }
        return try body()
    }
}
