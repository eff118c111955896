/// The timers and policies of one server connection, as a value that is told what happened and answers what to do:
/// the preface and idle timeouts, the maximum age and its grace period, the write timeout of a client that stops
/// reading, and the PING policy.
///
/// It owns no socket and reads no clock: the connection passes `now` (uptime nanoseconds) and carries out the
/// actions, so every rule is tested with a fake clock.
struct ConnectionLifecycle {
    /// The limits, in nanoseconds; nil turns one off.
    struct Limits: Sendable {
        var prefaceTimeout: UInt64? = 10_000_000_000
        var idleTimeout: UInt64? = 300_000_000_000
        var maxAge: UInt64?
        var maxAgeGrace: UInt64 = 10_000_000_000
        var writeTimeout: UInt64? = 30_000_000_000
        /// PINGs closer together than this, with no response HEADERS or DATA sent between them, earn a strike.
        var minPingInterval: UInt64 = 300_000_000_000
        /// Strikes allowed; one more and the connection is sent GOAWAY ENHANCE_YOUR_CALM.
        var maxPingStrikes = 2
    }

    /// Why the server sends GOAWAY.
    enum GoAwayReason: Equatable, Sendable {
        /// No streams for the idle timeout: NO_ERROR.
        case idle
        /// The connection reached its maximum age: NO_ERROR.
        case maxAge
        /// Too many PINGs: ENHANCE_YOUR_CALM with debug data "too_many_pings".
        case tooManyPings
    }

    /// Why the server closes the socket.
    enum CloseReason: Equatable, Sendable {
        case prefaceTimeout
        case writeTimeout
        case maxAgeGraceOver
    }

    /// What the connection must do now.
    enum Action: Equatable, Sendable {
        case none
        case goAway(GoAwayReason)
        case close(CloseReason)
    }

    let limits: Limits
    private let acceptedAt: UInt64
    private(set) var prefaceReceived = false
    private var openStreams = 0
    private var idleSince: UInt64
    private(set) var goingAway = false
    private var maxAgeGoAwayAt: UInt64?
    private var writeStalledSince: UInt64?
    private var lastPingAt: UInt64?
    private var pingStrikes = 0
    private var responseSentSincePing = false

    init(limits: Limits, now: UInt64) {
        self.limits = limits
        acceptedAt = now
        idleSince = now
    }

    /// The client's connection preface and first SETTINGS arrived.
    mutating func receivedPreface() {
        prefaceReceived = true
    }

    /// The number of open streams changed. `now` is read only when the last one closes: this runs on every call.
    mutating func streamsChanged(open: Int, now: @autoclosure () -> UInt64) {
        if open == 0 && openStreams > 0 { idleSince = now() }
        openStreams = open
    }

    /// The server sent GOAWAY for a reason of its own (shutdown): no idle or age GOAWAY follows.
    mutating func wentAway() {
        goingAway = true
    }

    /// The server sent response HEADERS or DATA: the client's next PING is not abuse (gRPC clients ping to measure
    /// bandwidth while data flows).
    mutating func sentResponseFrame() {
        responseSentSincePing = true
    }

    /// A PING (not an ACK) arrived.
    mutating func receivedPing(now: UInt64) -> Action {
        defer { lastPingAt = now }
        if responseSentSincePing {
            responseSentSincePing = false
            pingStrikes = 0
            return .none
        }
        if let last = lastPingAt, now &- last < limits.minPingInterval {
            pingStrikes += 1
            if pingStrikes > limits.maxPingStrikes {
                goingAway = true
                return .goAway(.tooManyPings)
            }
        }
        return .none
    }

    /// After a write attempt: whether response bytes are still waiting (in the socket buffer or for the client's
    /// flow-control window), and whether any byte went out.
    /// `now` is read only when it is needed: this runs on every flush.
    mutating func wrote(stillWaiting: Bool, madeProgress: Bool, now: @autoclosure () -> UInt64) {
        if !stillWaiting {
            writeStalledSince = nil
        } else if madeProgress || writeStalledSince == nil {
            writeStalledSince = now()
        }
    }

    /// The periodic check: at most one action per call, the most urgent first.
    mutating func tick(now: UInt64) -> Action {
        if !prefaceReceived, let timeout = limits.prefaceTimeout, now &- acceptedAt >= timeout {
            return .close(.prefaceTimeout)
        }
        if let since = writeStalledSince, let timeout = limits.writeTimeout, now &- since >= timeout {
            return .close(.writeTimeout)
        }
        if let at = maxAgeGoAwayAt, now &- at >= limits.maxAgeGrace {
            return .close(.maxAgeGraceOver)
        }
        guard !goingAway else { return .none }
        if let maxAge = limits.maxAge, now &- acceptedAt >= maxAge {
            goingAway = true
            maxAgeGoAwayAt = now
            return .goAway(.maxAge)
        }
        if openStreams == 0, prefaceReceived, let timeout = limits.idleTimeout, now &- idleSince >= timeout {
            goingAway = true
            return .goAway(.idle)
        }
        return .none
    }
}
