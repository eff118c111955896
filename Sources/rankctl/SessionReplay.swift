import DemoDomains
import Dispatch
import Ranking

/// A held-out music session as an app would have played it against rankd: its events sent through `EventIngest` into
/// an online store of its own, then the next_track request with the session's id, just after the events. Evaluation
/// and training rows both come through here, so a model is trained on the online state it is evaluated with.
enum SessionReplay {
    /// The session's events as `Track` carries them (``EventIngest/sessionEvents(userID:sessionID:_:)``).
    static func events(of session: MusicSessionSimulator.Case) throws -> [IncomingEvent] {
        try EventIngest.sessionEvents(
            userID: session.userID,
            sessionID: session.sessionID,
            session.events.map { ($0.kind, $0.trackID, $0.timeMs) }
        )
    }

    /// The next_track request of `session`: the playing track and the earlier ones as context, the session's id and
    /// the request time (after its events).
    static func query(_ session: MusicSessionSimulator.Case, surface: String, limit: Int = 0) -> RecommendQuery {
        RecommendQuery(
            userID: session.userID,
            surface: surface,
            context: RequestContext(requestTimeUnixMs: session.requestTimeMs, sessionID: session.sessionID),
            limit: limit,
            contextItemIDs: [session.playing] + session.recent
        )
    }

    /// Runs `body` with `engine` reading `session`'s replayed events (`withEvents`) or no online state at all, and
    /// leaves the engine without a store.
    static func withOnlineState<T>(
        of session: MusicSessionSimulator.Case,
        engine: RankingEngine,
        withEvents: Bool,
        _ body: () throws -> T
    ) throws -> T {
        // Each session on its own store: no other session's events, no item counters from other listeners.
        try engine.withReplayedEvents(withEvents ? events(of: session) : nil, nowMs: session.requestTimeMs, body)
    }
}
