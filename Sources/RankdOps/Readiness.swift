import Foundation

/// Whether rankd should be sent traffic: not until its data and models are loaded and validated, and no longer once
/// it drains. `/readyz` answers from it; the `rankd_ready` gauge mirrors it.
public final class Readiness: @unchecked Sendable {
    /// Where the process is in its life.
    public enum State: Sendable, Equatable {
        /// Loading data and models.
        case starting
        /// Serving.
        case ready
        /// Draining after SIGTERM or SIGINT: finishing calls, taking no new ones.
        case draining
    }

    private let lock = NSLock()
    private var state = State.starting
    private var reason = "loading the catalog and models"

    /// A process that is starting.
    public init() {}

    /// The state and the sentence that explains it.
    public var current: (state: State, reason: String) {
        lock.withLock { (state, reason) }
    }

    /// Ready, once loading succeeded. Draining is final: a late load does not make a draining process ready.
    public func markReady(_ why: String) {
        lock.withLock {
            guard state != .draining else { return }
            state = .ready
            reason = why
        }
    }

    /// Still not ready (a failed first load), with the reason.
    public func markNotReady(_ why: String) {
        lock.withLock {
            guard state != .draining else { return }
            state = .starting
            reason = why
        }
    }

    /// Draining: readiness goes false before connections are told to go away.
    public func markDraining() {
        lock.withLock {
            state = .draining
            reason = "draining: shutting down"
        }
    }
}
