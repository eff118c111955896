import Dispatch

/// Checks a batch of events and stores the good ones: each bad event is refused on its own with its reason, and the
/// batch fails as a whole only when the store cannot take writes.
public enum EventIngest {
    /// Checks `events` against `store`'s limits at `nowMs` and writes the accepted ones in one call to the store.
    /// - Throws: `RankingError.invalidArgument` for a batch over ``OnlineLimits/maxEventsPerRequest``;
    ///   `RankingError.unavailable` when the store cannot take writes (a retry of the batch is safe).
    public static func track(
        _ events: [IncomingEvent],
        store: any OnlineStore,
        nowMs: Int64,
        deadline: DispatchTime
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
        guard !good.isEmpty else { return outcome }
        let stored: [Bool]
        do {
            stored = try store.write(good, nowMs: nowMs, deadline: deadline)
        } catch let error as OnlineStoreError {
            throw RankingError.unavailable("\(error); no event of this request is lost: retry it")
        }
        for isNew in stored {
            if isNew { outcome.accepted += 1 } else { outcome.duplicates += 1 }
        }
        return outcome
    }
}
