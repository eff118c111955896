import DemoDomains
import Dispatch
import Ranking

/// The marketplace demo's held-out sessions replayed through the engine: the simulator asks by ids, the engine
/// answers as it serves.
extension MarketplaceSessionSimulator {
    /// Replays held-out sessions through `engine`'s surface `surface` (its Recommend list, as served, top 50) and
    /// through the popularity baseline, and reports NDCG@10 and recall of each. The task follows the surface's
    /// configuration (``MarketplaceSessionSimulator/EvaluationTask/init(surface:)``).
    public func evaluate(
        engine: RankingEngine,
        surface: String,
        sessions count: Int,
        seed: UInt64
    ) throws -> MarketplaceEvaluationReport {
        guard let config = engine.pipelineConfig.surfaces[surface] else {
            throw RankingError.notFound(
                "unknown surface \"\(surface)\"; known surfaces: " + engine.surfaceNames.joined(separator: ", ")
            )
        }
        var version = ""
        var report = try evaluate(
            surface: surface,
            task: EvaluationTask(surface: config),
            sessions: count,
            seed: seed,
            name: "rankd \(surface)"
        ) { query, withEvents in
            // Quality, not latency, is measured: a generous deadline keeps a busy machine from skipping stages.
            let result = try query.session.withOnlineState(engine: engine, withEvents: withEvents) {
                try engine.recommendList(
                    RecommendQuery(query, surface: surface),
                    deadline: .now() + .seconds(10),
                    isCancelled: { false }
                )
            }
            version = result.modelVersion
            return result.items.map(\.itemID)
        }
        report.rows[1].name += " (\(version))"
        return report
    }
}

extension MarketplaceSessionSimulator.Session {
    /// The session's earlier events as `Track` carries them (``EventIngest/sessionEvents(userID:sessionID:_:)``).
    public func incomingEvents() throws -> [IncomingEvent] {
        try EventIngest.sessionEvents(
            userID: userID,
            sessionID: sessionID,
            priorEvents.map { ($0.kind, $0.venueID, $0.timeMs) }
        )
    }

    /// Runs `body` with `engine` reading an online store that holds this session's earlier events (`withEvents`) or
    /// none, as a request on the session's first page would read it (``RankingEngine/withReplayedEvents(_:nowMs:_:)``).
    public func withOnlineState<T>(
        engine: RankingEngine,
        withEvents: Bool,
        _ body: () throws -> T
    ) throws -> T {
        try engine.withReplayedEvents(withEvents ? incomingEvents() : [], nowMs: requestTimeUnixMs, body)
    }
}

extension MarketplaceSessionSimulator.EvaluationTask {
    /// The task for a surface, by its kind and inputs: venue surfaces that require a category are category pages,
    /// other venue surfaces discovery; item surfaces that require context items are carts, other item surfaces menus.
    public init(surface: SurfaceConfig) {
        switch surface.kind {
        case .venues: self = surface.inputs.contains(.category) ? .category : .discovery
        case .venueItems: self = surface.inputs.contains(.contextItems) ? .cart : .menu
        }
    }
}

extension RequestContext {
    /// The place, time, market and request id of a simulated session.
    public init(_ session: MarketplaceSessionSimulator.Session) {
        self.init(
            latitude: session.latitude,
            longitude: session.longitude,
            requestTimeUnixMs: session.requestTimeUnixMs,
            market: session.market,
            requestID: session.requestID,
            sessionID: session.sessionID
        )
    }
}

extension RecommendQuery {
    /// The Recommend request of an evaluation query on `surface`.
    init(_ query: MarketplaceSessionSimulator.EvaluationQuery, surface: String) {
        self.init(
            userID: query.session.userID,
            surface: surface,
            context: RequestContext(query.session),
            limit: query.limit,
            venueID: query.venueID,
            contextItemIDs: query.contextItemIDs,
            category: query.category
        )
    }
}
