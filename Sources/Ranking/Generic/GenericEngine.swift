import Dispatch
import Foundation

// Recommend on a catalog of another schema: the engine state then holds that domain's generic surfaces only, and
// RankingEngine hands Recommend to them here. Rank is refused for them (they generate their own candidates).

extension GenericState {
    /// The surface `name`, or the error an unknown surface gets on the marketplace (same statuses and wording).
    func surface(named name: String) throws -> GenericSurface {
        let known = surfaces.keys.sorted().joined(separator: ", ")
        guard !name.isEmpty else {
            throw RankingError.invalidArgument("surface is required; known surfaces: \(known)")
        }
        guard let surface = surfaces[name] else {
            throw RankingError.notFound("unknown surface \(SurfaceInputs.quoted(name)); known surfaces: \(known)")
        }
        return surface
    }

    /// Runs `query` on its surface: inputs checked, then candidates through re-rank within the deadline (the
    /// surface's default budget from `arrival` when the caller gave none).
    func recommend(
        _ query: RecommendQuery,
        online: (any OnlineStore)?,
        deadline: DispatchTime?,
        arrival: DispatchTime?,
        isCancelled: () -> Bool
    ) throws -> (run: GenericRun, surface: GenericSurface, limit: Int) {
        let surface = try surface(named: query.surface)
        guard query.limit >= 0 else {
            throw RankingError.invalidArgument("limit must not be negative (got \(query.limit))")
        }
        guard query.limit <= surface.config.maxLimit else {
            throw RankingError.invalidArgument(
                "limit \(query.limit) is above the maximum \(surface.config.maxLimit) for surface \(surface.name)"
            )
        }
        let limit = query.limit == 0 ? surface.config.defaultLimit : query.limit
        var inputs = try surface.resolveInputs(
            userID: query.userID,
            contextItemIDs: query.contextItemIDs,
            venueID: query.venueID,
            category: query.category
        )
        let start = arrival ?? DispatchTime.now()
        let end =
            deadline
            ?? DispatchTime(
                uptimeNanoseconds: start.uptimeNanoseconds + UInt64(surface.config.defaultBudgetMillis * 1e6)
            )
        if DispatchTime.now() >= end { throw RankingError.deadlineExceeded }
        let onlineDegraded = !surface.readOnline(query, from: online, into: &inputs, end: end)
        var run = try surface.run(
            inputs,
            exclude: query.excludeItemIDs,
            explain: query.explain,
            deadline: end,
            isCancelled: isCancelled
        )
        if onlineDegraded { run.degradedStages.insert("features.online", at: 0) }
        return (run, surface, limit)
    }
}

extension GenericSurface {
    /// Sets the request's time and, when the surface reads the online state and there is a store, the user's and the
    /// session's events and the item counters, read within a share of the time left until `end`. Recommend and
    /// ``RankingEngine/candidateRows(_:)`` both come here, so a model is trained on the state it is served with.
    /// - Returns: false when the read failed or was late (the inputs then hold no events).
    func readOnline(
        _ query: RecommendQuery,
        from online: (any OnlineStore)?,
        into inputs: inout GenericInputs,
        end: DispatchTime
    ) -> Bool {
        let nowMs =
            query.context.requestTimeUnixMs != 0
            ? query.context.requestTimeUnixMs : Int64(Date().timeIntervalSince1970 * 1000)
        inputs.online = OnlineRequestState(nowMs: nowMs)
        guard readsOnline, let online else { return true }
        let now = DispatchTime.now()
        let share = Double(end.uptimeNanoseconds &- now.uptimeNanoseconds) * RankingEngine.onlineReadShare
        let until = DispatchTime(uptimeNanoseconds: now.uptimeNanoseconds + UInt64(max(0, min(share, 86_400e9))))
        do {
            let state = try online.read(
                userID: query.userID,
                sessionID: query.context.sessionID,
                nowMs: nowMs,
                deadline: until
            )
            inputs.online = OnlineRequestState(state, nowMs: nowMs, counters: online.itemCounters) {
                self.items.ids.position($0)
            }
            return true
        } catch {
            return false
        }
    }
}

extension RankingEngine {
    /// Recommend on a generic state: one section, the surface's.
    func recommendGeneric(
        _ query: RecommendQuery,
        state: EngineState,
        generic: GenericState,
        deadline: DispatchTime?,
        arrival: DispatchTime?,
        isCancelled: () -> Bool,
        emit: (RecommendSection) throws -> Void
    ) throws -> Int {
        let result = try recommendGenericList(
            query,
            state: state,
            generic: generic,
            deadline: deadline,
            arrival: arrival,
            isCancelled: isCancelled
        )
        if isCancelled() { throw RankingError.cancelled }
        let section = generic.surfaces[query.surface]!.config.section
        try emit(
            RecommendSection(
                key: section.key,
                title: section.title,
                items: result.items,
                modelVersion: result.modelVersion,
                variant: result.variant,
                degraded: result.degraded,
                degradedStages: result.degradedStages,
                timings: result.timings,
                snapshotID: result.snapshotID,
                sourceNames: result.sourceNames,
                assignments: result.assignments
            )
        )
        return result.candidateCount
    }

    /// The generic answer as a list (the top `limit`).
    func recommendGenericList(
        _ query: RecommendQuery,
        state: EngineState,
        generic: GenericState,
        deadline: DispatchTime?,
        arrival: DispatchTime?,
        isCancelled: () -> Bool
    ) throws -> RankResult {
        let started = DispatchTime.now()
        var (run, surface, limit) = try generic.recommend(
            query,
            online: onlineStore,
            deadline: deadline,
            arrival: arrival,
            isCancelled: isCancelled
        )
        run.timings.append(
            StageTiming(
                stage: "total",
                micros: Int64((DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1000)
            )
        )
        let count = min(limit, run.order.count)
        surface.completeModelScores(&run, positions: 0..<count)
        var result = RankResult(
            items: (0..<count).map {
                surface.entry(run, at: $0, explain: query.explain, display: query.includeDisplay)
            },
            modelVersion: run.modelVersion,
            variant: "",
            degraded: !run.degradedStages.isEmpty,
            degradedStages: run.degradedStages,
            timings: run.timings,
            nextPageToken: "",
            candidateCount: run.candidates.count,
            dropped: [],
            snapshotID: state.catalog.snapshotID
        )
        result.sourceNames = surface.config.sources.map(\.name)
        // Generic surfaces are split and logged (an A/A test); their variants change nothing yet (the configuration
        // refuses ones that would).
        let timeMs =
            query.context.requestTimeUnixMs != 0
            ? query.context.requestTimeUnixMs : Int64(Date().timeIntervalSince1970 * 1000)
        result.assignments = state.plan.assign(userID: query.userID, surface: query.surface, timeMs: timeMs).placements
        result.variant = result.assignments.first { !$0.experiment.isEmpty }?.variant ?? ""
        var sourceCounts = [Int](repeating: 0, count: surface.config.sources.count)
        for mask in run.sourceMask {
            for s in sourceCounts.indices where mask & (UInt32(1) << UInt32(s)) != 0 { sourceCounts[s] += 1 }
        }
        surface.metrics.record(
            timings: run.timings,
            assignments: result.assignments,
            degradedStages: run.degradedStages,
            sourceCounts: sourceCounts
        )
        return result
    }
}

/// Every candidate a generic surface generates for one request, with its feature row, before scoring and re-ranking:
/// what a model for the surface is trained on, produced by the code that serves it.
public struct CandidateRows: Sendable {
    /// The surface's features, in its order.
    public var featureNames: [String]
    /// Candidate ids.
    public var itemIDs: [String]
    /// `featureNames.count` values per candidate (NaN = missing).
    public var values: [Double]
    /// The sources that found each candidate.
    public var sources: [[String]]
}

extension RankingEngine {
    /// The candidates and feature rows of a Recommend on a generic surface (the same checks and the same stages as
    /// Recommend up to the feature join, the online state included: the request's time and session are read from
    /// `query.context`, the events from ``onlineStore``).
    /// - Throws: `RankingError.unavailable` when the online state cannot be read: rows without it would teach a
    ///   model that the user did nothing.
    public func candidateRows(_ query: RecommendQuery) throws -> CandidateRows {
        guard let generic = current.generic else {
            throw RankingError.invalidArgument(
                "candidate rows are for generic surfaces; this catalog is the marketplace"
            )
        }
        let surface = try generic.surface(named: query.surface)
        var inputs = try surface.resolveInputs(
            userID: query.userID,
            contextItemIDs: query.contextItemIDs,
            venueID: query.venueID,
            category: query.category
        )
        // Offline: no budget to keep, so the read gets its share of an hour rather than of a request's deadline.
        guard surface.readOnline(query, from: onlineStore, into: &inputs, end: DispatchTime.now() + .seconds(3600))
        else {
            throw RankingError.unavailable("the online state of user \(query.userID) could not be read")
        }
        var run = GenericRun()
        surface.generate(inputs, into: &run)
        var values = [Double](repeating: .nan, count: run.candidates.count * surface.features.count)
        surface.join(inputs, candidates: run.candidates, into: &values)
        return CandidateRows(
            featureNames: surface.featureNames,
            itemIDs: run.candidates.map { surface.items.ids.id(Int($0)) },
            values: values,
            sources: run.sourceMask.map { mask in
                surface.config.sources.enumerated().filter { mask & (UInt32(1) << UInt32($0.offset)) != 0 }
                    .map(\.element.name)
            }
        )
    }
}
