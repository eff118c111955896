import CSystemShim
import Dispatch
import Foundation
import Logging
import Synchronization

/// Severity of a server log line.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug, info, warning, error

    /// Parses "debug", "info", "warning" or "error".
    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The same level in swift-log.
    public var swiftLogLevel: Logger.Level {
        switch self {
        case .debug: return .debug
        case .info: return .info
        case .warning: return .warning
        case .error: return .error
        }
    }
}

/// What a ``Server`` listens on and the limits it enforces.
public struct ServerConfiguration: Sendable {
    /// Address to bind; 127.0.0.1 by default.
    public var host = "127.0.0.1"
    /// Port to bind; 0 picks a free one (read it back from ``Server/port``).
    public var port = 50051
    /// I/O threads, each owning the connections it was handed; one per usable core (``UsableCores``) by default.
    public var ioThreads = UsableCores.count
    /// Pins I/O thread N to CPU `pinIOThreads[N % count]` when set.
    public var pinIOThreads: [Int]?
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open on one connection.
    public var maxConcurrentStreams: UInt32 = 1000
    /// Connections served at once. At the limit the oldest connection that has not sent its HTTP/2 preface is closed
    /// to make room, so a flood of silent connections cannot lock real clients out; if there is none, the new one is
    /// closed.
    public var maxConnections = 10_000
    /// Largest request message accepted (after decompression); larger ones get RESOURCE_EXHAUSTED.
    public var maxReceiveMessageSize = 4 << 20
    /// SETTINGS_INITIAL_WINDOW_SIZE: bytes a client may send on one stream before a WINDOW_UPDATE.
    public var initialWindowSize: UInt32 = 1 << 20
    /// Receive window of the whole connection.
    public var connectionWindowSize: UInt32 = 16 << 20
    /// SETTINGS_MAX_HEADER_LIST_SIZE, enforced while the headers are decoded: a request whose decoded header list is
    /// larger gets RESOURCE_EXHAUSTED, and nothing past the limit is kept.
    public var maxHeaderListSize: UInt32 = 16 << 10
    /// The largest response header or trailer block sent (less when the client's own SETTINGS_MAX_HEADER_LIST_SIZE
    /// is smaller); a call whose metadata would pass it ends with INTERNAL instead.
    public var maxResponseHeaderListSize = 16 << 10
    /// Request bytes one connection's streams may hold (messages still arriving, or not yet taken by a handler).
    public var maxConnectionRequestBytes = 16 << 20
    /// Request bytes all connections together may hold.
    public var maxServerRequestBytes = 256 << 20
    /// Response bytes one connection may have waiting for a slow reader before its new calls wait to start.
    public var maxConnectionResponseBytes = 4 << 20
    /// Seconds a new connection has to send the HTTP/2 preface.
    public var prefaceTimeout: Double? = 10
    /// Seconds a connection may stay without streams before GOAWAY; nil for never.
    public var idleTimeout: Double? = 300
    /// Seconds after which a connection gets GOAWAY, so that clients rebalance; nil for never.
    public var maxConnectionAge: Double?
    /// Seconds calls in flight get after a maximum-age GOAWAY.
    public var maxConnectionAgeGrace: Double = 10
    /// Seconds a connection may leave response bytes unread before it is closed; nil for never.
    public var writeTimeout: Double? = 30
    /// PINGs closer together than this many seconds, with no response data between them, earn a strike; the third
    /// strike is answered with GOAWAY ENHANCE_YOUR_CALM.
    public var minPingInterval: Double = 300
    /// Threads of the CPU pool that runs unary and server-streaming handlers. 0 gives the pool no threads: the I/O
    /// threads run its calls themselves, one per loop iteration between their reads and writes, after the same
    /// admission. That saves the hand-offs to a worker and back, for a server that has one core; a call's handler
    /// must then never wait for anything but the CPU.
    public var workers = UsableCores.count
    /// Calls waiting for a CPU-pool thread at most.
    public var maxQueuedCalls = 1000
    /// Milliseconds a call of default criticality may wait for a CPU-pool thread; one that would wait longer is
    /// refused at once with RESOURCE_EXHAUSTED.
    public var queueBudgetMilliseconds: Double = 5
    /// A call of a method that allows it (``RPCMethod/runsInlineWhenIdle``) runs to completion on the I/O thread
    /// that read it, skipping the hand-offs to a pool thread and back, when the CPU pool is idle and the pool's
    /// estimate of the method's cost is at most this many milliseconds. Calls read meanwhile on that thread wait
    /// for it, so this bounds what it adds to their latency. 0 never runs a pool call inline.
    public var inlineCallMaxMilliseconds: Double = 1
    /// The nice value of the CPU-pool threads. At 5, an I/O thread sharing a core with them is scheduled as soon as
    /// it wakes, instead of after a handler's time slice: refusals under overload leave at once and replies are not
    /// delayed behind the next handler. 0 schedules them as the I/O threads.
    public var workerNice: Int32 = 5
    /// Threads of the pool for handlers that wait for their client (client- and bidirectional streaming).
    public var blockingThreads = 64
    /// Calls waiting for a blocking-pool thread at most.
    public var maxQueuedBlockingCalls = 256
    /// How long ``Server/shutdown()`` lets in-flight calls finish before cutting them off.
    public var shutdownGracePeriod: Double = 10
    /// Lines below this level are not logged.
    public var logLevel: LogLevel = .info
    /// Where lines go (swift-log); plain text on stderr unless the process bootstraps another handler. The server
    /// filters by ``logLevel`` itself, so this logger's own level should stay low.
    public var logger = Logger(label: "rankd", factory: { StreamLogHandler.standardError(label: $0) })
    /// Log one call in this many at info level with its method, status, duration and sizes (the access log);
    /// 0 for none.
    public var accessLogEvery = 0

    /// The defaults.
    public init() {}

    var lifecycleLimits: ConnectionLifecycle.Limits {
        func nanos(_ seconds: Double) -> UInt64 { UInt64(max(0, min(seconds, 1e9)) * 1e9) }
        return ConnectionLifecycle.Limits(
            prefaceTimeout: prefaceTimeout.map(nanos),
            idleTimeout: idleTimeout.map(nanos),
            maxAge: maxConnectionAge.map(nanos),
            maxAgeGrace: nanos(maxConnectionAgeGrace),
            writeTimeout: writeTimeout.map(nanos),
            minPingInterval: nanos(minPingInterval)
        )
    }
}

/// The server's own counters, for the stats line and tests.
public struct ServerCounters: Sendable {
    public var headerListsRefused = 0
    public var responsesRefused = 0
    public var requestsRefusedBuffer = 0
    public var evictedConnections = 0
    public var refusedConnections = 0
    public var closedPrefaceTimeout = 0
    public var closedIdle = 0
    public var closedMaxAge = 0
    public var closedWriteTimeout = 0
    public var closedTooManyPings = 0
    public var acceptErrors = 0
}

/// A lock around ``ServerCounters``.
final class CounterBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values = ServerCounters()

    func add(_ key: WritableKeyPath<ServerCounters, Int>, _ amount: Int = 1) {
        lock.withLock { values[keyPath: key] += amount }
    }

    var snapshot: ServerCounters { lock.withLock { values } }
}

/// A point-in-time view of a server: its counters, pools, connections and buffers.
public struct ServerStats: Sendable {
    public var counters: ServerCounters
    public var connections: Int
    public var unconfirmedConnections: Int
    public var activeCalls: Int
    public var queuedCalls: Int
    public var runningCalls: Int
    public var handlersStarted: Int
    public var rejectedOverload: Int
    public var rejectedLate: Int
    /// Of `handlersStarted`, those run to completion on the I/O thread that read them.
    public var handlersRunInline: Int
    public var rejectedDeadline: Int
    public var rejectedDraining: Int
    public var pendingTimers: Int
    public var bufferedRequestBytes: Int
    public var bufferedResponseBytes: Int

    /// One line of `key=value` pairs.
    public var line: String {
        let pairs: [(String, Int)] = [
            ("connections", connections), ("unconfirmed_connections", unconfirmedConnections),
            ("active_calls", activeCalls), ("queued_calls", queuedCalls), ("running_calls", runningCalls),
            ("pending_timers", pendingTimers), ("buffered_request_bytes", bufferedRequestBytes),
            ("buffered_response_bytes", bufferedResponseBytes), ("handlers_started", handlersStarted),
            ("handlers_run_inline", handlersRunInline),
            ("rejected_overload", rejectedOverload), ("rejected_late", rejectedLate),
            ("rejected_draining", rejectedDraining),
            ("rejected_deadline", rejectedDeadline), ("evicted_connections", counters.evictedConnections),
            ("refused_connections", counters.refusedConnections),
            ("closed_preface_timeout", counters.closedPrefaceTimeout), ("closed_idle", counters.closedIdle),
            ("closed_max_age", counters.closedMaxAge), ("closed_write_timeout", counters.closedWriteTimeout),
            ("closed_too_many_pings", counters.closedTooManyPings), ("accept_errors", counters.acceptErrors),
            ("header_lists_refused", counters.headerListsRefused), ("responses_refused", counters.responsesRefused),
            ("requests_refused_buffer", counters.requestsRefusedBuffer),
        ]
        return "stats: " + pairs.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
    }
}

/// A gRPC server over HTTP/2 cleartext (h2c with prior knowledge) on nghttp2.
///
/// One listening socket is watched by the first I/O thread, which hands each accepted connection to the next loop in
/// round-robin order; from then on the connection lives on that loop. Handlers run on the CPU pool (or, for those
/// that wait for their client, the blocking pool) and hand their results back to the connection's loop with
/// ``EventLoop/execute(_:)``. Every limit it enforces is in ``ServerConfiguration`` and docs/defences.md.
public final class Server: @unchecked Sendable {
    /// The configuration it was started with.
    public let configuration: ServerConfiguration
    let router: Router
    /// gRFC A66 call metrics, through swift-metrics (no-ops until the process bootstraps a backend).
    let callMetrics: CallMetrics
    let cpuPool: WorkerPool
    let blockingPool: WorkerPool
    let counters = CounterBox()
    private let group: EventLoopGroup
    private var listener: Listener?
    private var boundPort = 0
    private let stateLock = NSCondition()
    private var activeCalls = 0
    private var openConnections = 0
    private var connections: [ObjectIdentifier: ServerConnection] = [:]
    /// Connections that have not sent their preface yet, oldest first (entries of confirmed ones are skipped).
    private var unconfirmedOrder: [ServerConnection?] = []
    private var unconfirmedHead = 0
    private var unconfirmed: Set<ObjectIdentifier> = []
    private var readBuffers: [ObjectIdentifier: UnsafeMutableBufferPointer<UInt8>] = [:]
    private var loopConnections: [ObjectIdentifier: LoopConnections] = [:]
    private let bufferedRequestBytes = Atomic<Int>(0)
    private let bufferedResponseBytes = Atomic<Int>(0)
    private let ticking = Atomic<Bool>(true)
    /// The raw value of the level below which lines are not logged; `configuration.logLevel` until
    /// ``setLogLevel(_:)`` changes it (a configuration reload).
    private let logThreshold: Atomic<Int>
    private let accessLogInterval: Atomic<Int>

    /// The connections one loop owns, for its periodic tick. Touched only on that loop's thread.
    private final class LoopConnections {
        var connections: [ObjectIdentifier: ServerConnection] = [:]
    }

    /// How often each loop checks its connections' timeouts.
    static let tickNanoseconds: Int64 = 100_000_000

    /// Creates a server for `services`; nothing listens until ``start()``.
    public init(configuration: ServerConfiguration, services: [ServiceDefinition]) throws {
        self.configuration = configuration
        logThreshold = Atomic(configuration.logLevel.rawValue)
        accessLogInterval = Atomic(max(0, configuration.accessLogEvery))
        let router = Router(services: services)
        self.router = router
        callMetrics = CallMetrics(methodLabels: router.methodLabels)
        cpuPool = WorkerPool(
            name: "worker",
            limits: .init(
                threads: max(0, configuration.workers),
                ioThreads: max(1, configuration.ioThreads),
                maxQueued: max(1, configuration.maxQueuedCalls),
                queueBudgetNanoseconds: UInt64(max(0, configuration.queueBudgetMilliseconds) * 1e6),
                nice: configuration.workerNice
            ),
            costClasses: router.methodCount
        )
        blockingPool = WorkerPool(
            name: "blocking",
            limits: .init(
                threads: max(1, configuration.blockingThreads),
                maxQueued: max(1, configuration.maxQueuedBlockingCalls),
                queueBudgetNanoseconds: nil
            ),
            costClasses: router.methodCount
        )
        let pool = cpuPool
        self.group = try EventLoopGroup(
            count: max(1, configuration.ioThreads),
            pinToCPUs: configuration.pinIOThreads,
            queuedWork: configuration.workers > 0 ? nil : { pool.runNextOnIOThread() }
        )
        for loop in group.loops {
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256 << 10)
            readBuffers[ObjectIdentifier(loop)] = buffer
            loopConnections[ObjectIdentifier(loop)] = LoopConnections()
        }
    }

    deinit {
        for buffer in readBuffers.values { buffer.deallocate() }
    }

    /// The port the server listens on (useful with port 0).
    public var port: Int { stateLock.withLock { boundPort } }

    /// Binds the listening socket and starts accepting. Throws when the address cannot be bound.
    public func start() throws {
        let fd = csystem_listen(configuration.host, Int32(configuration.port), 1024, 0)
        guard fd >= 0 else { throw RPCError.system("listen on \(configuration.host):\(configuration.port)", -fd) }
        let port = Int(csystem_local_port(fd))
        stateLock.withLock { boundPort = port }
        let loop = group.loops[0]
        let listener = Listener(fd: fd, loop: loop, server: self)
        self.listener = listener
        loop.execute { listener.register() }
        for loop in group.loops { loop.execute { [self] in tick(loop) } }
    }

    /// Checks every connection of `loop` for timeouts, then schedules the next check.
    private func tick(_ loop: EventLoop) {
        guard ticking.load(ordering: .relaxed), let owned = loopConnections[ObjectIdentifier(loop)] else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        for connection in Array(owned.connections.values) { connection.tick(now: now) }
        _ = loop.scheduleTimer(afterNanoseconds: Self.tickNanoseconds) { [self] in tick(loop) }
    }

    /// Stops accepting, sends GOAWAY on every connection, lets in-flight calls finish for up to the grace period, then
    /// closes what is left and stops the I/O threads. Blocks until done; returns the number of calls cut off.
    @discardableResult
    public func shutdown(gracePeriod: Double? = nil) -> Int {
        let grace = gracePeriod ?? configuration.shutdownGracePeriod
        if let listener {
            listener.loop.execute { listener.close() }
        }
        // Queued calls still run; new ones are refused with UNAVAILABLE.
        cpuPool.drain()
        blockingPool.drain()
        forEachConnection { $0.goAway() }
        let until = Date(timeIntervalSinceNow: grace)
        stateLock.lock()
        while activeCalls > 0 && Date() < until {
            _ = stateLock.wait(until: min(until, Date(timeIntervalSinceNow: 0.05)))
        }
        let remaining = activeCalls
        stateLock.unlock()
        if remaining > 0 { log(.warning, "shutdown grace period over: cutting off \(remaining) call(s)") }
        // Let the last trailers reach their sockets before anything is cut.
        forEachConnection { $0.closeWhenFlushed() }
        let flushDeadline = Date(timeIntervalSinceNow: 1)
        while stateLock.withLock({ openConnections > 0 }) && Date() < flushDeadline { usleep(5_000) }
        forEachConnection { $0.close(reason: "server shut down") }
        ticking.store(false, ordering: .relaxed)
        group.shutdown()
        cpuPool.shutdown()
        blockingPool.shutdown()
        return remaining
    }

    /// The server's counters, pools, connections and buffers now. Safe from any thread except an I/O thread.
    public func stats() -> ServerStats {
        var pendingTimers = 0
        let lock = NSLock()
        let done = DispatchGroup()
        for loop in group.loops {
            done.enter()
            loop.execute {
                let count = loop.pendingTimerCount
                lock.withLock { pendingTimers += count }
                done.leave()
            }
        }
        _ = done.wait(timeout: .now() + 5)
        let pool = cpuPool.counterSnapshot
        let blocking = blockingPool.counterSnapshot
        let (open, waiting, active) = stateLock.withLock { (openConnections, unconfirmed.count, activeCalls) }
        return ServerStats(
            counters: counters.snapshot,
            connections: open,
            unconfirmedConnections: waiting,
            activeCalls: active,
            queuedCalls: pool.queued + blocking.queued,
            runningCalls: pool.running + blocking.running,
            handlersStarted: pool.started + blocking.started,
            rejectedOverload: pool.rejectedOverload + blocking.rejectedOverload,
            rejectedLate: pool.rejectedLate + blocking.rejectedLate,
            handlersRunInline: pool.ranInline,
            rejectedDeadline: pool.rejectedDeadline + blocking.rejectedDeadline,
            rejectedDraining: pool.rejectedDraining + blocking.rejectedDraining,
            pendingTimers: lock.withLock { pendingTimers },
            bufferedRequestBytes: bufferedRequestBytes.load(ordering: .relaxed),
            bufferedResponseBytes: bufferedResponseBytes.load(ordering: .relaxed)
        )
    }

    private func forEachConnection(_ body: @escaping (ServerConnection) -> Void) {
        let all = stateLock.withLock { Array(connections.values) }
        let done = DispatchGroup()
        for connection in all {
            done.enter()
            connection.loop.execute {
                body(connection)
                done.leave()
            }
        }
        done.wait()
    }

    // MARK: Book-keeping used by connections and streams

    func accepted(fd: Int32, peer: String) {
        let loop = group.nextLoop()
        let connection = ServerConnection(fd: fd, loop: loop, server: self, peer: peer)
        let id = ObjectIdentifier(connection)
        let (admitted, victim) = stateLock.withLock { () -> (Bool, ServerConnection?) in
            var victim: ServerConnection?
            if openConnections >= configuration.maxConnections {
                victim = oldestUnconfirmedLocked()
                guard victim != nil else { return (false, nil) }
            }
            openConnections += 1
            connections[id] = connection
            unconfirmed.insert(id)
            unconfirmedOrder.append(connection)
            return (true, victim)
        }
        guard admitted else {
            counters.add(\.refusedConnections)
            log(.warning, "connection limit \(configuration.maxConnections) reached: refusing \(peer)")
            close(fd)
            return
        }
        if let victim {
            counters.add(\.evictedConnections)
            victim.loop.execute {
                victim.close(reason: "evicted: the connection limit was reached before it sent its HTTP/2 preface")
            }
        }
        loop.execute { [self] in
            loopConnections[ObjectIdentifier(loop)]?.connections[id] = connection
            connection.start()
        }
    }

    /// The oldest connection still without a preface, taken off the unconfirmed list. Under `stateLock`.
    private func oldestUnconfirmedLocked() -> ServerConnection? {
        while unconfirmedHead < unconfirmedOrder.count {
            let candidate = unconfirmedOrder[unconfirmedHead]
            unconfirmedOrder[unconfirmedHead] = nil
            unconfirmedHead += 1
            if let candidate, unconfirmed.remove(ObjectIdentifier(candidate)) != nil {
                compactUnconfirmedLocked()
                return candidate
            }
        }
        compactUnconfirmedLocked()
        return nil
    }

    private func compactUnconfirmedLocked() {
        if unconfirmedHead == unconfirmedOrder.count {
            unconfirmedOrder.removeAll(keepingCapacity: true)
            unconfirmedHead = 0
        } else if unconfirmedHead >= 1024 && unconfirmedHead * 2 >= unconfirmedOrder.count {
            unconfirmedOrder.removeFirst(unconfirmedHead)
            unconfirmedHead = 0
        }
    }

    /// The client sent its preface: the connection is no longer a candidate for eviction.
    func prefaceReceived(_ connection: ServerConnection) {
        stateLock.withLock {
            unconfirmed.remove(ObjectIdentifier(connection))
            // Entries of confirmed connections stay in the order list until they reach its head; drop them in bulk
            // when they would otherwise pile up behind one long-lived unconfirmed connection.
            if unconfirmedOrder.count - unconfirmedHead > 4 * (unconfirmed.count + 1024) {
                unconfirmedOrder = unconfirmedOrder[unconfirmedHead...].filter {
                    $0.map { unconfirmed.contains(ObjectIdentifier($0)) } ?? false
                }
                unconfirmedHead = 0
            }
        }
    }

    func connectionClosed(_ connection: ServerConnection) {
        let id = ObjectIdentifier(connection)
        stateLock.withLock {
            openConnections -= 1
            connections.removeValue(forKey: id)
            unconfirmed.remove(id)
        }
        loopConnections[ObjectIdentifier(connection.loop)]?.connections.removeValue(forKey: id)
    }

    /// Counts `bytes` against the server's request budget; false, with nothing counted, when it would be passed.
    func reserveRequestBytes(_ bytes: Int) -> Bool {
        let limit = configuration.maxServerRequestBytes
        var current = bufferedRequestBytes.load(ordering: .relaxed)
        while true {
            guard current + bytes <= limit else { return false }
            let (exchanged, original) = bufferedRequestBytes.compareExchange(
                expected: current,
                desired: current + bytes,
                ordering: .relaxed
            )
            if exchanged { return true }
            current = original
        }
    }

    func releaseRequestBytes(_ bytes: Int) {
        guard bytes != 0 else { return }
        bufferedRequestBytes.subtract(bytes, ordering: .relaxed)
    }

    func responseBytesChanged(_ delta: Int) {
        guard delta != 0 else { return }
        bufferedResponseBytes.add(delta, ordering: .relaxed)
    }

    func callStarted() {
        stateLock.withLock { activeCalls += 1 }
    }

    func callEnded() {
        stateLock.withLock {
            activeCalls -= 1
            if activeCalls == 0 { stateLock.broadcast() }
        }
    }

    func readBuffer(for loop: EventLoop) -> UnsafeMutableBufferPointer<UInt8> {
        readBuffers[ObjectIdentifier(loop)]!
    }

    /// Lines below this level are not logged.
    public var logLevel: LogLevel { LogLevel(rawValue: logThreshold.load(ordering: .relaxed)) ?? .info }

    /// Changes the level below which lines are not logged, from any thread.
    public func setLogLevel(_ level: LogLevel) { logThreshold.store(level.rawValue, ordering: .relaxed) }

    /// Logs one line through ``ServerConfiguration/logger`` when `level` is at or above the current level.
    public func log(
        _ level: LogLevel,
        _ message: @autoclosure () -> String,
        metadata: @autoclosure () -> [(String, String)] = []
    ) {
        guard level >= logLevel else { return }
        var fields = Logger.Metadata()
        for (key, value) in metadata() { fields[key] = .string(value) }
        configuration.logger.log(level: level.swiftLogLevel, "\(message())", metadata: fields.isEmpty ? nil : fields)
    }

    /// One call in how many the access log records (0: none); a configuration reload may change it.
    public var accessLogEvery: Int { accessLogInterval.load(ordering: .relaxed) }

    /// Changes how many calls the access log samples, from any thread.
    public func setAccessLogEvery(_ every: Int) { accessLogInterval.store(max(0, every), ordering: .relaxed) }
}

/// The listening socket; lives on the first I/O thread.
///
/// When accept() fails for want of file descriptors or memory, the listener stops watching the socket for a while
/// (100 ms, doubling to 1 s) instead of spinning on a readiness that cannot be served, and logs at most one line per
/// 10 s with the number of failures in between.
final class Listener: EventLoopHandler {
    let fd: Int32
    let loop: EventLoop
    unowned let server: Server
    private var closed = false
    private var registered = false
    private var backoffNanoseconds: Int64 = 0
    private var failuresSinceLog = 0
    private var lastLog: UInt64 = 0

    static let initialBackoff: Int64 = 100_000_000
    static let maxBackoff: Int64 = 1_000_000_000
    static let logInterval: UInt64 = 10_000_000_000

    init(fd: Int32, loop: EventLoop, server: Server) {
        self.fd = fd
        self.loop = loop
        self.server = server
    }

    func register() {
        guard !closed, !registered else { return }
        registered = true
        loop.register(fd: fd, handler: self)
    }

    func handleEvents(_ events: UInt32) {
        // Bounded so a connection storm cannot starve the connections this thread already serves.
        for _ in 0..<64 {
            let client = csystem_accept(fd)
            if client >= 0 {
                backoffNanoseconds = 0
                server.accepted(fd: client, peer: "fd\(client)")
                continue
            }
            let error = -client
            if error == EAGAIN || error == EWOULDBLOCK || error == ECONNABORTED || error == EINTR { return }
            server.counters.add(\.acceptErrors)
            failuresSinceLog += 1
            let now = DispatchTime.now().uptimeNanoseconds
            if lastLog == 0 || now &- lastLog >= Self.logInterval {
                server.log(
                    .warning,
                    "accept failed \(failuresSinceLog) time(s): \(String(cString: strerror(error))); pausing accept"
                )
                failuresSinceLog = 0
                lastLog = now
            }
            if error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM {
                pause()
            }
            return
        }
    }

    /// Stops watching the socket for the current backoff, then watches it again.
    private func pause() {
        guard registered else { return }
        registered = false
        loop.deregister(fd: fd)
        backoffNanoseconds = min(Self.maxBackoff, max(Self.initialBackoff, backoffNanoseconds * 2))
        _ = loop.scheduleTimer(afterNanoseconds: backoffNanoseconds) { [self] in register() }
    }

    func flush() {}

    func close() {
        guard !closed else { return }
        closed = true
        if registered { loop.deregister(fd: fd) }
        registered = false
        Foundation.close(fd)
    }
}
