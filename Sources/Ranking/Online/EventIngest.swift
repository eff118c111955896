import CoreMetrics
import Dispatch

/// Checks a batch of events and stores the good ones: each bad event is refused on its own with its reason, and the
/// batch fails as a whole only when the store cannot take writes.
public enum EventIngest {
    /// Checks `events` against `store`'s limits at `nowMs` and writes the accepted ones in one call to the store;
    /// `stored` is called with each event stored (not with duplicates), e.g. for the event log.
    /// - Throws: `RankingError.invalidArgument` for a batch over ``OnlineLimits/maxEventsPerRequest``;
    ///   `RankingError.unavailable` when the store cannot take writes (a retry of the batch is safe).
    public static func track(
        _ events: [IncomingEvent],
        store: any OnlineStore,
        nowMs: Int64,
        deadline: DispatchTime,
        stored onStored: ((OnlineEvent) -> Void)? = nil
    ) throws -> TrackOutcome {
        let limits = store.limits
        guard events.count <= limits.maxEventsPerRequest else {
            throw RankingError.invalidArgument(
                "\(events.count) events in one request; at most \(limits.maxEventsPerRequest) (split the batch)"
            )
        }
        var outcome = TrackOutcome()
        var good: [OnlineEvent] = []
        good.reserveCapacity(events.count)
        for (index, event) in events.enumerated() {
            switch event.checked(nowMs: nowMs, limits: limits) {
            case .success(let checked): good.append(checked)
            case .failure(let error): outcome.reject(index: index, eventID: event.eventID, error)
            }
        }
        guard !good.isEmpty else {
            record(outcome)
            return outcome
        }
        let stored: [Bool]
        do {
            stored = try store.write(good, nowMs: nowMs, deadline: deadline)
        } catch let error as OnlineStoreError {
            record(outcome, failed: good.count)
            throw RankingError.unavailable("\(error); no event of this request is lost: retry it")
        }
        for (event, isNew) in zip(good, stored) {
            if isNew {
                outcome.accepted += 1
                onStored?(event)
            } else {
                outcome.duplicates += 1
            }
        }
        record(outcome)
        return outcome
    }

    /// One session's events as `Track` carries them, for a replay: in order, each named `<session id>-<k>`.
    /// - Throws: `RankingError.unavailable` for an event kind `Track` does not know: the replay would then not be the
    ///   session.
    public static func sessionEvents(
        userID: String,
        sessionID: String,
        _ events: [(kind: String, itemID: String, timeMs: Int64)]
    ) throws -> [IncomingEvent] {
        try events.enumerated().map { k, event in
            guard let kind = EventKind(name: event.kind) else {
                throw RankingError.unavailable("session \(sessionID): unknown event kind \(event.kind)")
            }
            return IncomingEvent(
                eventID: "\(sessionID)-\(k)",
                userID: userID,
                sessionID: sessionID,
                kind: kind.rawValue,
                itemID: event.itemID,
                timestampMs: event.timeMs
            )
        }
    }

    /// An in-process store holding exactly `events`, taken in as `Track` takes them at `nowMs`: an offline replay of
    /// one session (evaluation, training rows), so that a request after them reads the online state it would have
    /// read when served.
    /// - Throws: `RankingError.unavailable` naming the first event refused, as the replay would then not be the
    ///   session's.
    public static func replay(_ events: [IncomingEvent], nowMs: Int64) throws -> InProcessOnlineStore {
        let store = InProcessOnlineStore()
        let outcome = try track(events, store: store, nowMs: nowMs, deadline: .now() + .seconds(60))
        if let refused = outcome.rejections.first {
            throw RankingError.unavailable("event \(refused.eventID) of a replay refused: \(refused.error.message)")
        }
        guard outcome.accepted == events.count else {
            throw RankingError.unavailable(
                "\(events.count - outcome.accepted) of \(events.count) events of a replay not stored (repeated ids)"
            )
        }
        return store
    }

    /// `rankd_events_total{outcome, reason}` (swift-metrics; made on first use, after the process bootstraps).
    static let metrics: (accepted: Counter, duplicate: Counter, rejected: [EventRejection: Counter], failed: Counter) =
        (
            Counter(label: "rankd_events_total", dimensions: [("outcome", "accepted"), ("reason", "")]),
            Counter(label: "rankd_events_total", dimensions: [("outcome", "duplicate"), ("reason", "")]),
            Dictionary(
                uniqueKeysWithValues: EventRejection.allCases.map {
                    (
                        $0,
                        Counter(
                            label: "rankd_events_total",
                            dimensions: [("outcome", "rejected"), ("reason", $0.rawValue)]
                        )
                    )
                }
            ),
            Counter(label: "rankd_events_total", dimensions: [("outcome", "store_unavailable"), ("reason", "")])
        )

    /// Makes the event counters now, so that a scrape shows them at 0 before the first event (alert rules use them).
    /// Call after the process bootstraps its metrics backend.
    public static func registerMetrics() { _ = metrics }

    /// Counts a batch's outcome (or, with `failed`, a batch the store refused as a whole).
    static func record(_ outcome: TrackOutcome, failed: Int = 0) {
        if outcome.accepted > 0 { metrics.accepted.increment(by: Int64(outcome.accepted)) }
        if outcome.duplicates > 0 { metrics.duplicate.increment(by: Int64(outcome.duplicates)) }
        for (reason, count) in outcome.rejectedByReason { metrics.rejected[reason]?.increment(by: Int64(count)) }
        if failed > 0 { metrics.failed.increment(by: Int64(failed)) }
    }
}

extension RankingEngine {
    /// Runs `body` with the engine reading an in-process store that holds exactly `events`, replayed as `Track` takes
    /// them at `nowMs` (``EventIngest/replay(_:nowMs:)``), or no store at all when `events` is nil; the engine has no
    /// store again afterwards. Offline evaluation and training rows ask through this, so that a request reads the
    /// online state it would have read when served. The store is engine-wide: calls must not overlap.
    public func withReplayedEvents<T>(_ events: [IncomingEvent]?, nowMs: Int64, _ body: () throws -> T) throws -> T {
        onlineStore = try events.map { try EventIngest.replay($0, nowMs: nowMs) }
        defer { onlineStore = nil }
        return try body()
    }
}
