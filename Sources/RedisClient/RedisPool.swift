import Dispatch
import Foundation

/// A bounded pool of blocking connections to one Redis server, for callers on worker threads.
///
/// At most ``Configuration/maxConnections`` connections exist; they are opened when needed and kept while healthy.
/// A caller that finds them all in use waits for one, never past its deadline. A connection that fails is dropped,
/// never reused; an idle one the server closed is noticed before use (no command is sent on it).
///
/// When connecting fails the pool backs off (``Configuration/initialBackoff`` doubling to
/// ``Configuration/maximumBackoff``): calls that need a new connection throw ``RedisError/unavailable(_:)`` at once
/// instead of each paying a connect timeout, and after the back-off one call tries again. When the server is back,
/// that call connects and the pool is whole again by itself.
///
/// Thread-safe. ``statistics()`` has counters to export as metrics.
public final class RedisPool: @unchecked Sendable {
    /// How the pool connects and how far it goes.
    public struct Configuration: Hashable, Sendable {
        /// The most connections open at once (in use and idle together).
        public var maxConnections: Int
        /// The longest a TCP connect may take, whatever the caller's deadline.
        public var connectTimeout: Duration
        /// The wait after the first failed connect before the next attempt.
        public var initialBackoff: Duration
        /// The longest wait between attempts; each failed attempt doubles the wait up to this.
        public var maximumBackoff: Duration
        /// Bounds on each reply.
        public var limits: RedisReplyLimits

        /// The values are programmer's choices: at least one connection, positive times, and
        /// `initialBackoff <= maximumBackoff`.
        public init(
            maxConnections: Int = 8,
            connectTimeout: Duration = .milliseconds(500),
            initialBackoff: Duration = .milliseconds(50),
            maximumBackoff: Duration = .seconds(1),
            limits: RedisReplyLimits = RedisReplyLimits()
        ) {
            precondition(maxConnections >= 1, "a Redis pool needs at least one connection")
            precondition(connectTimeout > .zero, "the connect timeout must be positive")
            precondition(initialBackoff > .zero && maximumBackoff >= initialBackoff, "need 0 < initial <= maximum")
            self.maxConnections = maxConnections
            self.connectTimeout = connectTimeout
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.limits = limits
        }
    }

    /// The server.
    public let endpoint: RedisEndpoint
    /// How the pool connects.
    public let configuration: Configuration

    private let counters = RedisCounters()
    /// Guards everything below; callers wait on it for a free connection.
    private let condition = NSCondition()
    private var idle: [RedisConnection] = []
    /// Connections open or being opened, in use or idle.
    private var open = 0
    private var inUse = 0
    private var backoff: ReconnectBackoff
    /// Connections dropped after a failure and not yet replaced by a new one: the next connects are reconnects.
    private var replacementsDue = 0
    private var closed = false

    /// A pool that connects on first use; creating it does no I/O.
    public init(endpoint: RedisEndpoint, configuration: Configuration = Configuration()) {
        self.endpoint = endpoint
        self.configuration = configuration
        backoff = ReconnectBackoff(
            initial: UInt64(configuration.initialBackoff.nanoseconds),
            maximum: UInt64(configuration.maximumBackoff.nanoseconds)
        )
    }

    deinit {
        for connection in idle { connection.close() }
    }

    /// Runs `body` with a connection of its own, waiting for one (never past `deadline`) when all are in use.
    ///
    /// Throws ``RedisError/unavailable(_:)`` at once while the pool is backing off after failed connects or is
    /// closed, ``RedisError/timeout(_:)`` when the deadline passes before a connection is free or while connecting,
    /// and whatever `body` throws. The connection must not be used after `body` returns; if `body` broke it (a
    /// timeout, a socket or protocol error) the pool drops it.
    public func withConnection<Result>(
        deadline: DispatchTime,
        _ body: (RedisConnection) throws -> Result
    ) throws -> Result {
        let connection = try checkOut(deadline: deadline)
        defer { checkIn(connection) }
        return try body(connection)
    }

    /// Sends `commands` in one round trip on a pooled connection; see ``RedisConnection/pipeline(_:deadline:)``.
    public func pipeline(_ commands: [RedisCommand], deadline: DispatchTime) throws -> [RedisReply] {
        try withConnection(deadline: deadline) { try $0.pipeline(commands, deadline: deadline) }
    }

    /// Sends one command on a pooled connection and returns its reply.
    public func send(_ command: RedisCommand, deadline: DispatchTime) throws -> RedisReply {
        try withConnection(deadline: deadline) { try $0.send(command, deadline: deadline) }
    }

    /// The counters so far and the pool's size now.
    public func statistics() -> RedisPoolStatistics {
        var statistics = counters.snapshot()
        condition.lock()
        statistics.inUse = inUse
        statistics.open = open
        statistics.capacity = configuration.maxConnections
        statistics.isBackingOff = backoff.isBackingOff
        condition.unlock()
        return statistics
    }

    /// Closes the idle connections, and the ones in use as they come back; later calls throw
    /// ``RedisError/unavailable(_:)``. Idempotent.
    public func close() {
        condition.lock()
        closed = true
        let closing = idle
        idle.removeAll()
        open -= closing.count
        condition.broadcast()
        condition.unlock()
        for connection in closing { connection.close() }
    }

    private enum Lease {
        case reuse(RedisConnection)
        case connect
    }

    private func checkOut(deadline: DispatchTime) throws -> RedisConnection {
        while true {
            switch try lease(deadline: deadline) {
            case .reuse(let connection):
                if connection.checkReusable() {
                    return connection
                }
                // The server closed it while it sat idle (a restart, its idle timeout); nothing was sent on it.
                checkIn(connection)
            case .connect:
                return try connect(deadline: deadline)
            }
        }
    }

    private func lease(deadline: DispatchTime) throws -> Lease {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if closed {
                throw RedisError.unavailable("\(endpoint): the pool is closed")
            }
            if let connection = idle.popLast() {
                inUse += 1
                return .reuse(connection)
            }
            let now = DispatchTime.now().uptimeNanoseconds
            if open < configuration.maxConnections {
                switch backoff.admit(now: now) {
                case .connect:
                    open += 1
                    inUse += 1
                    return .connect
                case .refuse(let retryAt):
                    counters.record(.unavailable)
                    throw RedisError.unavailable(refusalMessage(now: now, retryAt: retryAt))
                }
            }
            let remaining = RedisConnection.nanoseconds(until: deadline)
            if remaining <= 0 {
                counters.record(.poolWait)
                throw RedisError.timeout(
                    "\(endpoint): all \(configuration.maxConnections) connections were in use until the deadline"
                )
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: Double(remaining) / 1e9))
        }
    }

    private func refusalMessage(now: UInt64, retryAt: UInt64?) -> String {
        let cause = backoff.lastFailure.map { " after: \($0)" } ?? ""
        guard let retryAt else {
            return "\(endpoint): not connected; another call is reconnecting\(cause)"
        }
        let milliseconds = (retryAt &- now) / 1_000_000 + 1
        return "\(endpoint): not connected, next attempt in \(milliseconds) ms\(cause)"
    }

    private func connect(deadline: DispatchTime) throws -> RedisConnection {
        let given = min(configuration.connectTimeout.nanoseconds, RedisConnection.nanoseconds(until: deadline))
        do {
            let connection = try RedisConnection(
                endpoint: endpoint,
                limits: configuration.limits,
                connectTimeout: configuration.connectTimeout,
                deadline: deadline,
                counters: counters
            )
            condition.lock()
            backoff.connectSucceeded()
            let replacing = replacementsDue > 0
            if replacing { replacementsDue -= 1 }
            condition.unlock()
            counters.recordConnect(replacing: replacing)
            return connection
        } catch {
            condition.lock()
            open -= 1
            inUse -= 1
            let now = DispatchTime.now().uptimeNanoseconds
            // A connect cut short by the caller's deadline says something about the server only if a healthy server
            // would have answered within the time it had: loopback and LAN connects take well under a millisecond,
            // so anything from the initial back-off up counts as a failure.
            if case RedisError.timeout = error, given < configuration.initialBackoff.nanoseconds {
                backoff.connectAbandoned(now: now)
            } else {
                backoff.connectFailed(now: now, reason: (error as? RedisError)?.message ?? "\(error)")
            }
            // Every waiter may now be refused at once rather than wait for its deadline.
            condition.broadcast()
            condition.unlock()
            throw error
        }
    }

    private func checkIn(_ connection: RedisConnection) {
        condition.lock()
        inUse -= 1
        let keep = !connection.isBroken && !closed
        if keep {
            idle.append(connection)
        } else {
            open -= 1
            if connection.isBroken {
                replacementsDue = min(replacementsDue + 1, configuration.maxConnections)
            }
        }
        condition.signal()
        condition.unlock()
        if !keep {
            if connection.isBroken { counters.recordDropped() }
            connection.close()
        }
    }
}

/// What a ``RedisPool`` has done so far, and its size now: counters only grow, the sizes are current.
public struct RedisPoolStatistics: Hashable, Sendable {
    /// Pipelines sent (each is one round trip, however many commands), whatever their outcome.
    public var roundTrips: UInt64 = 0
    /// Error replies (`-ERR`, `-WRONGTYPE`) among the replies; the connection stayed usable.
    public var errorReplies: UInt64 = 0
    /// Deadlines that passed while connecting, sending or waiting for replies.
    public var timeouts: UInt64 = 0
    /// Connects refused or failed, and connections reset or closed by the server with commands in flight.
    public var connectionErrors: UInt64 = 0
    /// Replies that were not RESP or went over the reply limits.
    public var protocolErrors: UInt64 = 0
    /// Calls refused at once while the pool backed off after failed connects (or was closed).
    public var unavailable: UInt64 = 0
    /// Calls whose deadline passed while every connection was in use.
    public var poolWaitTimeouts: UInt64 = 0
    /// Connections opened.
    public var connects: UInt64 = 0
    /// Connections opened to replace one dropped after a failure.
    public var reconnects: UInt64 = 0
    /// Connections dropped: broken by a failure, or found closed by the server while idle.
    public var dropped: UInt64 = 0
    /// Connections handed to callers now.
    public var inUse = 0
    /// Connections open now (or being opened), in use or idle.
    public var open = 0
    /// The most connections the pool opens.
    public var capacity = 0
    /// Whether connects failed and the pool refuses calls that need a new connection until its next attempt.
    public var isBackingOff = false

    /// Counters with every field zero.
    public init() {}
}

/// The pool's counters, shared with its connections, which count their own round trips and failures.
final class RedisCounters: @unchecked Sendable {
    enum Failure {
        case timeout
        case connection
        case `protocol`
        case unavailable
        case poolWait
    }

    private let lock = NSLock()
    private var values = RedisPoolStatistics()

    func record(_ failure: Failure) {
        lock.lock()
        switch failure {
        case .timeout: values.timeouts += 1
        case .connection: values.connectionErrors += 1
        case .protocol: values.protocolErrors += 1
        case .unavailable: values.unavailable += 1
        case .poolWait: values.poolWaitTimeouts += 1
        }
        lock.unlock()
    }

    func recordRoundTrip() {
        lock.lock()
        values.roundTrips += 1
        lock.unlock()
    }

    func recordErrorReplies(_ count: Int) {
        lock.lock()
        values.errorReplies += UInt64(count)
        lock.unlock()
    }

    func recordConnect(replacing: Bool) {
        lock.lock()
        values.connects += 1
        if replacing { values.reconnects += 1 }
        lock.unlock()
    }

    func recordDropped() {
        lock.lock()
        values.dropped += 1
        lock.unlock()
    }

    func snapshot() -> RedisPoolStatistics {
        lock.lock()
        defer { lock.unlock() }
        return values
    }
}
