import Dispatch
import Foundation

/// One gRPC call as its handler sees it: request metadata, deadline, cancellation, and the message streams.
///
/// A handler runs on a pool thread. On the blocking pool it may wait in ``receive()``, ``send(_:compress:)`` and
/// ``sleep(milliseconds:)``; each of those wakes and throws as soon as the call is cancelled (client RST_STREAM,
/// connection loss, server shutdown) or its deadline passes. On the CPU pool ``send(_:compress:)`` never waits: a
/// client that lets more than ``sendHighWater`` bytes pile up gets RESOURCE_EXHAUSTED. The I/O thread owns the HTTP/2
/// stream; this object is the only thing the two sides share, and every field below is guarded by `condition`.
public final class ServerCall: @unchecked Sendable {
    /// The request path, "/package.Service/Method".
    public let path: String
    /// Custom metadata the client sent (reserved headers removed).
    public let requestMetadata: Metadata
    /// When the client gives up, from grpc-timeout; nil when it sent none.
    public let deadline: DispatchTime?
    /// The client's address, for logs.
    public let peer: String
    /// When the call's request headers arrived. Latency budgets count from here, not from when a thread picked the
    /// call up.
    public let arrival: DispatchTime
    /// How much the caller minds being shed, from `x-request-criticality`.
    public let criticality: Criticality
    /// The caller's W3C trace context, when it sent a valid `traceparent`.
    public let traceParent: TraceParent?
    /// The server's span in the caller's trace (answered in the response's `traceparent`), when it sent one.
    public let serverSpanID: String?

    /// How the call ended early, if it did.
    public enum Interruption: Sendable, Equatable {
        /// The client reset the stream or went away, or the server is shutting down.
        case cancelled
        /// The deadline passed.
        case deadlineExceeded
    }

    private let condition = NSCondition()
    private var inbound: [(message: [UInt8], wireBytes: Int)] = []
    private var inboundHead = 0
    private var inputFinished = false
    private var interruption: Interruption?
    private var headersSent = false
    private var unsentBytes = 0
    private var _responseMetadata = Metadata()
    private var _trailingMetadata = Metadata()
    private var _responseEncoding: MessageCompression
    private let clientAcceptsGzip: Bool
    /// False for handlers that must never wait for the client (the CPU pool, subscriptions).
    private let sendMayWait: Bool
    private var terminationHandlers: [@Sendable () -> Void] = []
    private var terminated = false
    /// True while a server-streaming handler runs on a pool thread: the only handlers whose return is followed by the
    /// finish that releases held messages.
    private var mayHoldMessages = false
    private var holdsMessages = false
    /// Messages ``send(_:compress:)`` framed and kept back (``holdMessagesUntilReturn()``), with the headers the first
    /// one carries. Bounded like sent ones: they count in `unsentBytes`, so a CPU-pool handler that holds more than
    /// ``sendHighWater`` bytes is refused.
    private var heldMessages: [HeldMessage] = []

    struct HeldMessage {
        var framed: [UInt8]
        var headers: Metadata?
        var encoding: MessageCompression
    }

    /// Bytes a streaming handler may have queued for a slow client before ``send(_:compress:)`` waits for them to drain.
    static let sendHighWater = 4 << 20

    // The loop side: set once before the handler starts; used from worker threads to hand work back. A strong
    // reference (weak ones cost a side-table allocation per call): the stream does not hold the call once it has
    // closed, so there is no cycle, and a closed stream ignores whatever a late handler hands it.
    let loop: EventLoop
    var stream: ServerStream!

    init(
        path: String,
        requestMetadata: Metadata,
        deadline: DispatchTime?,
        peer: String,
        loop: EventLoop,
        requestEncoding: MessageCompression,
        clientAcceptsGzip: Bool,
        arrival: DispatchTime = .now(),
        sendMayWait: Bool = true
    ) {
        self.path = path
        self.requestMetadata = requestMetadata
        self.deadline = deadline
        self.peer = peer
        self.loop = loop
        self.clientAcceptsGzip = clientAcceptsGzip
        self.arrival = arrival
        self.sendMayWait = sendMayWait
        self.criticality = Criticality(metadataValue: requestMetadata.first(lowercasedName: Criticality.metadataKey))
        if let value = requestMetadata.first(lowercasedName: TraceParent.header), let parent = TraceParent.parse(value)
        {
            traceParent = parent
            let span = TraceParent.newSpanID()
            serverSpanID = span
            _responseMetadata.append(TraceParent.header, parent.child(spanID: span))
        } else {
            traceParent = nil
            serverSpanID = nil
        }
        // Answer in the encoding the client used, as long as it also accepts it for responses.
        self._responseEncoding = requestEncoding == .gzip && clientAcceptsGzip ? .gzip : .identity
    }

    /// What logs name the call by: the caller's `x-request-id`, else its trace id, else the peer and stream.
    public var requestID: String {
        if let given = requestMetadata.first(Self.requestIDKey), !given.isEmpty { return String(given.prefix(128)) }
        if let traceParent { return traceParent.traceID }
        return "\(peer)#\(stream?.id ?? 0)"
    }

    /// The request header a caller may name its request by.
    public static let requestIDKey = "x-request-id"

    /// Log metadata for lines about this call.
    var logMetadata: [(String, String)] {
        var pairs = [("request_id", requestID), ("method", path)]
        if let traceParent { pairs.append(("trace_id", traceParent.traceID)) }
        return pairs
    }

    // MARK: Handler API

    /// Metadata sent with the response headers; set it before the first ``send(_:compress:)``. Once the headers
    /// have gone (the first message, or a deadline reply the server sent on its own) a new value is ignored: the
    /// caller can no longer see it.
    public var responseMetadata: Metadata {
        get { locked { _responseMetadata } }
        set {
            locked {
                guard !headersSent else { return }
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
                let (message, wireBytes) = inbound[inboundHead]
                inbound[inboundHead] = ([], 0)
                inboundHead += 1
                if inboundHead == inbound.count {
                    inbound.removeAll(keepingCapacity: true)
                    inboundHead = 0
                }
                // Taking the message is what reopens the client's flow-control window.
                let stream = self.stream!
                loop.execute { stream.requestMessageTaken(wireBytes: wireBytes) }
                return message
            }
            if let interruption = interruptionLocked() { throw Self.status(for: interruption) }
            if inputFinished { return nil }
            waitLocked(until: deadline)
        }
    }

    /// Sends one response message (the response headers go first, with ``responseMetadata``). On the blocking pool it
    /// waits while more than ``sendHighWater`` bytes are waiting for a slow client, so a streaming handler cannot
    /// outrun flow control; elsewhere it throws RESOURCE_EXHAUSTED instead of holding the thread.
    /// - Parameter compress: false sends this message uncompressed even when the response encoding is gzip.
    public func send(_ message: [UInt8], compress: Bool = true) throws {
        condition.lock()
        // Past the mark, a CPU-pool handler is refused rather than wait for its client, and so is a handler that
        // holds its messages: they never drain while it runs, so waiting would only wait for the deadline.
        if (holdsMessages || !sendMayWait) && unsentBytes > Self.sendHighWater && interruptionLocked() == nil {
            let (unsent, held) = (unsentBytes, holdsMessages)
            condition.unlock()
            throw GRPCStatus(
                .resourceExhausted,
                held
                    ? "the answer outgrew what the server holds back to send at once (\(unsent) bytes)"
                    : "the client is not reading its responses (\(unsent) bytes are waiting for it)"
            )
        }
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
        let held = locked { () -> Bool in
            unsentBytes += framed.count
            guard holdsMessages else { return false }
            heldMessages.append(HeldMessage(framed: framed, headers: headers, encoding: encoding))
            return true
        }
        if held { return }
        let stream = self.stream!
        loop.execute { stream.sendMessage(framed, headers: headers, encoding: encoding) }
    }

    /// Keeps this call's messages back until the handler returns, then hands them to the I/O thread in the same task
    /// as the status: one hand-off, and one wake-up of that thread, for the whole answer instead of one per message.
    /// For a server-streaming handler that computes its whole answer before sending any of it (Recommend's
    /// sections); a handler that streams over time must not call it, since nothing goes out until it returns.
    /// Other kinds of handler ignore it.
    public func holdMessagesUntilReturn() {
        locked { if mayHoldMessages { holdsMessages = true } }
    }

    /// Ends a subscription call (``RPCHandler/serverStreamingSubscription``) with `status` after the messages already
    /// sent, with ``trailingMetadata``. Safe from any thread; does nothing once the call has ended.
    public func finish(_ status: GRPCStatus = .ok) {
        let (headers, encoding, trailers) = takeHeadersForFinish()
        let stream = self.stream!
        loop.execute {
            stream.finish(status: status, trailers: trailers, headers: headers, encoding: encoding)
        }
    }

    /// Runs `body` once when the call ends for any reason: finished, cancelled by the client, deadline, connection
    /// loss or shutdown. A subscription unsubscribes here. Runs at once when the call has already ended; otherwise on
    /// the I/O thread, so it must be quick and must not block.
    public func onTermination(_ body: @escaping @Sendable () -> Void) {
        let runNow = locked { () -> Bool in
            if terminated { return true }
            terminationHandlers.append(body)
            return false
        }
        if runNow { body() }
    }

    // MARK: Loop side

    /// The stream is gone: runs the termination handlers, once.
    func terminate() {
        let handlers = locked { () -> [@Sendable () -> Void] in
            guard !terminated else { return [] }
            terminated = true
            defer { terminationHandlers = [] }
            return terminationHandlers
        }
        for handler in handlers { handler() }
    }

    /// Frames a message, compressing it when asked and when that makes it smaller.
    static func frame(_ message: [UInt8], gzip: Bool) -> [UInt8] {
        if gzip {
            let compressed = Gzip.compress(message)
            return MessageFraming.frame(compressed, compressed: true)
        }
        return MessageFraming.frame(message, compressed: false)
    }

    /// Queues a request message for ``receive()``; `wireBytes` is what it took on the wire, returned to the client's
    /// flow-control window when the handler takes it.
    func deliver(_ message: [UInt8], wireBytes: Int) {
        locked {
            inbound.append((message, wireBytes))
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

    /// Lets the handler about to run hold its messages (``holdMessagesUntilReturn()``).
    func allowHoldingMessages() {
        locked { mayHoldMessages = true }
    }

    /// The messages held back so far, in order; later sends go out at once.
    func takeHeldMessages() -> [HeldMessage] {
        locked {
            holdsMessages = false
            mayHoldMessages = false
            defer { heldMessages = [] }
            return heldMessages
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

    /// Why the call ended early (cancellation or deadline), nil while it is alive.
    public var interruptionReason: Interruption? { interruptionNow() }

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
