import Dispatch

/// One interaction the online state remembers of a user or a session.
public struct OnlineInteraction: Sendable, Equatable {
    public var kind: EventKind
    public var itemID: String
    public var timeMs: Int64
    public var value: Double

    public init(kind: EventKind, itemID: String, timeMs: Int64, value: Double = 0) {
        self.kind = kind
        self.itemID = itemID
        self.timeMs = timeMs
        self.value = value
    }
}

/// What the online state knows of one user at the start of a request: recent interactions of the user and of the
/// request's session, each newest first, at most ``OnlineLimits/recentPerKind`` per kind and none older than
/// ``OnlineLimits/recentMaxAgeMillis``.
public struct UserOnlineState: Sendable, Equatable {
    public var user: [OnlineInteraction]
    public var session: [OnlineInteraction]

    public init(user: [OnlineInteraction] = [], session: [OnlineInteraction] = []) {
        self.user = user
        self.session = session
    }

    public static let empty = UserOnlineState()
}

/// Why the online store could not serve a read or a write.
public enum OnlineStoreError: Error, CustomStringConvertible, Equatable {
    /// The store cannot be reached or did not answer in time; nothing was read, or the write may be partial (each
    /// event whole or not at all).
    case unavailable(String)

    public var description: String {
        switch self {
        case .unavailable(let message): return "online store unavailable: \(message)"
        }
    }
}

/// How big the online state is, for operators and metrics.
public struct OnlineStoreReport: Sendable, Equatable {
    /// "memory" or "redis".
    public var backend: String
    /// Users, sessions and items with state held in this process (for Redis: the item counters it mirrors).
    public var users = 0
    public var sessions = 0
    public var items = 0
    /// Event ids remembered for deduplication in this process.
    public var eventIDs = 0
    /// Approximate bytes of the state held in this process.
    public var bytes = 0
    /// Entries dropped to stay within the bounds before their age would have dropped them.
    public var evictions = 0
    /// Round trips to a shared store, and those that failed (0 in-process).
    public var roundTrips = 0
    public var failures = 0
    /// Round trips by purpose: reads for requests, writes for Track, and mirroring the item counters (each counted
    /// when attempted).
    public var readRoundTrips = 0
    public var writeRoundTrips = 0
    public var refreshRoundTrips = 0

    public init(backend: String) { self.backend = backend }
}

/// Where online state lives: in this process (``InProcessOnlineStore``) or in a store replicas share.
///
/// Implementations are safe to call from any thread. Reads and writes of one user take one round trip to the
/// store; item counters are read from ``itemCounters``, which a shared store mirrors in the background.
public protocol OnlineStore: AnyObject, Sendable {
    /// The bounds every reader and writer of this state keeps.
    var limits: OnlineLimits { get }
    /// Stores checked events; for each, true when stored and false when its id was seen within the deduplication
    /// window. Each event is stored whole or not at all; on `OnlineStoreError` some may have been stored, and a
    /// retry of the same events recognises them.
    func write(_ events: [OnlineEvent], nowMs: Int64, deadline: DispatchTime) throws -> [Bool]
    /// The user's and the session's recent interactions (session empty: none), in one round trip.
    func read(userID: String, sessionID: String, nowMs: Int64, deadline: DispatchTime) throws -> UserOnlineState
    /// Per-item counters over sliding windows.
    var itemCounters: ItemWindowCounters { get }
    /// Current size.
    func report() -> OnlineStoreReport
}
