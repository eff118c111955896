/// When the pool may open a connection, after connects have failed.
///
/// While connects succeed, any caller may connect. After a failure, callers that need a new connection are refused
/// at once until the back-off has passed; then exactly one caller probes (connects) while the others are still
/// refused, so a dead server costs one connect attempt per back-off period rather than a connect timeout per call.
/// A failed probe doubles the back-off, from `initial` up to `maximum`; a successful connect resets it.
///
/// A value type with no clock and no sockets: the pool passes the time (monotonic nanoseconds) and acts on the
/// answer.
struct ReconnectBackoff {
    enum State: Equatable {
        /// Connects succeed (or none has failed yet).
        case ready
        /// A connect failed; refuse until `until`.
        case waiting(until: UInt64)
        /// The back-off passed and one caller is connecting.
        case probing
    }

    /// What a caller that needs a new connection may do.
    enum Admission: Equatable {
        /// Connect now. After a failure this caller is the probe and must report how it went.
        case connect
        /// Fail fast; the next probe may start at `retryAt` (nil while a probe is in flight).
        case refuse(retryAt: UInt64?)
    }

    let initial: UInt64
    let maximum: UInt64
    private(set) var state: State = .ready
    /// The back-off that applies now: 0 while ready, else the wait after the last failure.
    private(set) var delay: UInt64 = 0
    /// Why the last connect failed, for the message of a refused call.
    private(set) var lastFailure: String?

    init(initial: UInt64, maximum: UInt64) {
        precondition(initial > 0 && maximum >= initial, "back-off needs 0 < initial <= maximum")
        self.initial = initial
        self.maximum = maximum
    }

    var isBackingOff: Bool { state != .ready }

    mutating func admit(now: UInt64) -> Admission {
        switch state {
        case .ready:
            return .connect
        case .waiting(let until):
            if now >= until {
                state = .probing
                return .connect
            }
            return .refuse(retryAt: until)
        case .probing:
            return .refuse(retryAt: nil)
        }
    }

    mutating func connectSucceeded() {
        state = .ready
        delay = 0
        lastFailure = nil
    }

    mutating func connectFailed(now: UInt64, reason: String) {
        lastFailure = reason
        switch state {
        case .waiting(let until) where now < until:
            // Another connect that started before the back-off failed too; that round is already counted.
            return
        case .ready:
            delay = initial
        case .waiting, .probing:
            delay = delay == 0 ? initial : (delay > maximum / 2 ? maximum : delay * 2)
        }
        state = .waiting(until: now &+ delay)
    }

    /// The caller's own deadline cut the connect short: that says nothing about the server. A probe hands its
    /// turn to the next caller at once; otherwise nothing changes.
    mutating func connectAbandoned(now: UInt64) {
        if state == .probing {
            state = .waiting(until: now)
        }
    }
}
