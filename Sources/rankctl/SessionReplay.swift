import DemoDomains
import Dispatch
import Ranking

/// A held-out music session as an app would have played it against rankd: its events sent through `EventIngest` into
/// an online store of its own, then the next_track request with the session's id, just after the events. Evaluation
/// and training rows both come through here, so a model is trained on the online state it is evaluated with.
enum SessionReplay {
    /// The session's events as `Track` carries them.
    /// - Throws: `RankingError.unavailable` for an event kind `Track` does not know: the replay would then not be the
    ///   session.
    static func events(of session: MusicSessionSimulator.Case) throws -> [IncomingEvent] {
        try session.events.enumerated().map { k, event in
            guard let kind = EventKind(name: event.kind) else {
                throw RankingError.unavailable("session \(session.sessionID): unknown event kind \(event.kind)")
            }
            return IncomingEvent(
                eventID: "\(session.sessionID)-\(k)",
                userID: session.userID,
                sessionID: session.sessionID,
                kind: kind.rawValue,
                itemID: event.trackID,
                timestampMs: event.timeMs
            )
        }
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
