import Dispatch
import Testing

@testable import CatalogLoading
@testable import DemoDomains
@testable import Ranking

/// The demo's held-out sessions replayed through the engine: the task follows each surface's configuration, and the
/// figures are the simulator's own measure of what the engine served.
/// Serialized: evaluation points the shared engine at each session's replayed events in turn.
@Suite(.serialized) struct DemoEvaluationTests {
    static let simulator = MarketplaceSessionSimulator(demo: DemoSnapshotTests.market)
    static let engine: RankingEngine = {
        do {
            return try RankingEngine.demo(catalog: DemoSnapshot.loadThroughSnapshot(DemoSnapshotTests.market).catalog)
        } catch {
            fatalError("evaluation engine: \(error)")
        }
    }()

    @Test(arguments: [("discovery", "discovery"), ("category", "category"), ("venue_items", "menu"), ("cart", "cart")])
    func theTaskFollowsTheSurfacesInputs(surface: String, task: String) throws {
        let config = try RankingEngine.embeddedConfig()
        let found = MarketplaceSessionSimulator.EvaluationTask(surface: try #require(config.surfaces[surface]))
        #expect(found.rawValue == task)
    }

    @Test(arguments: ["discovery", "category", "venue_items", "cart"])
    func aReportHasTheBaselineTheServedRankerAndTheCeiling(surface: String) throws {
        let report = try Self.simulator.evaluate(engine: Self.engine, surface: surface, sessions: 40, seed: 3)
        #expect(report.rows.map(\.isBaseline) == [true, false, false])
        #expect(report.rows.map(\.isCeiling) == [false, false, true])
        #expect(report.rows[1].name.hasPrefix("rankd \(surface) (") && report.rows[1].name.hasSuffix(")"))
        for row in report.rows {
            #expect((0...1).contains(row.ndcg10) && (0...1).contains(row.recall), "\(row.name)")
        }
        if surface != "category" { #expect(report.sessions > 0) }
        if let ratio = report.ratioToBaseline(report.rows[1]) {
            #expect(abs(ratio - report.rows[1].ndcg10 / report.rows[0].ndcg10) < 1e-12)
        }
        #expect(report.markdown.contains("recall@\(report.recallCutoff)"))
    }

    @Test func theServedRowIsTheEnginesAnswersMeasuredByTheSimulator() throws {
        let report = try Self.simulator.evaluate(engine: Self.engine, surface: "cart", sessions: 40, seed: 3)
        let again = try Self.simulator.evaluate(
            surface: "cart",
            task: .cart,
            sessions: 40,
            seed: 3,
            name: "the engine, asked directly"
        ) { query, withEvents in
            try query.session.withOnlineState(engine: Self.engine, withEvents: withEvents) {
                try Self.engine.recommendList(
                    RecommendQuery(query, surface: "cart"),
                    deadline: .now() + .seconds(10),
                    isCancelled: { false }
                ).items.map(\.itemID)
            }
        }
        #expect(report.sessions == again.sessions && report.sessions > 0)
        #expect(zip(report.rows, again.rows).allSatisfy { $0.ndcg10 == $1.ndcg10 && $0.recall == $1.recall })
    }

    @Test func anUnknownSurfaceIsNotFound() {
        #expect(throws: RankingError.self) {
            try Self.simulator.evaluate(engine: Self.engine, surface: "nowhere", sessions: 1, seed: 3)
        }
    }

    @Test func sessionsWithEnoughEarlierEventsAreAskedWithAndWithoutThem() throws {
        var asked: [Bool] = []
        let report = try Self.simulator.evaluate(
            surface: "discovery",
            task: .discovery,
            sessions: 40,
            seed: 3,
            name: "recorder"
        ) { query, withEvents in
            asked.append(withEvents)
            return withEvents ? query.session.priorEvents.map(\.venueID) : []
        }
        let sessions = Self.simulator.sessions(count: 40, heldOut: true, seed: 3)
        let compared = sessions.filter {
            $0.priorEvents.count >= MarketplaceSessionSimulator.minimumPriorEvents
                && Self.simulator.evaluationCase($0, task: .discovery) != nil
        }
        #expect(!compared.isEmpty && compared.count < report.sessions)
        let comparison = try #require(report.events.first)
        #expect(comparison.sessions == compared.count)
        #expect(asked.filter { $0 }.count == report.sessions && asked.filter { !$0 }.count == compared.count)
        #expect(comparison.byIntent.map(\.sessions).reduce(0, +) == compared.count)
        // A ranker that answers the venues looked at in the session, and nothing without them.
        #expect(comparison.withoutEvents.ndcg10 == 0 && comparison.withEvents.ndcg10 > 0)
        #expect(report.markdown.contains("with and without the session's events"))
    }

    @Test func aReplayedSessionIsWhatTheEnginesOnlineFeaturesRead() throws {
        let session = try #require(
            Self.simulator.sessions(count: 40, heldOut: true, seed: 3).first { !$0.priorEvents.isEmpty }
        )
        let viewed = Set(session.priorEvents.map(\.venueID))
        func answer(withEvents: Bool) throws -> [RankedEntry] {
            try session.withOnlineState(engine: Self.engine, withEvents: withEvents) {
                try Self.engine.recommendList(
                    RecommendQuery(
                        userID: session.userID,
                        surface: "discovery",
                        context: RequestContext(session),
                        limit: 200,
                        explain: true
                    ),
                    deadline: .now() + .seconds(10),
                    isCancelled: { false }
                ).items
            }
        }
        func viewedFeature(_ items: [RankedEntry]) -> [String: Double] {
            var byID: [String: Double] = [:]
            for item in items {
                byID[item.itemID] = item.features.first { $0.0 == "online_viewed_in_session" }?.1
            }
            return byID
        }
        let with = viewedFeature(try answer(withEvents: true))
        let without = viewedFeature(try answer(withEvents: false))
        for (id, value) in with where viewed.contains(id) { #expect(value == 1, "\(id)") }
        #expect(with.contains { viewed.contains($0.key) }, "a viewed venue should be a candidate")
        #expect(without.values.allSatisfy { $0 == 0 })
        #expect(Self.engine.onlineStore == nil)
    }

    @Test func aReplayRefusesEventsTheStoreWouldRefuse() throws {
        let now: Int64 = 1_714_586_400_000
        let good = IncomingEvent(
            eventID: "e1",
            userID: "u1",
            kind: EventKind.view.rawValue,
            itemID: "v1",
            timestampMs: now
        )
        let store = try EventIngest.replay([good], nowMs: now)
        #expect(try store.read(userID: "u1", sessionID: "", nowMs: now, deadline: .now() + .seconds(1)).user.count == 1)
        var bad = good
        bad.kind = 0
        #expect(throws: RankingError.self) { try EventIngest.replay([bad], nowMs: now) }
        #expect(throws: RankingError.self) { try EventIngest.replay([good, good], nowMs: now) }
        // A session's events are named after the session in order; a kind Track does not know is refused.
        let events = try EventIngest.sessionEvents(
            userID: "u1",
            sessionID: "s",
            [("view", "v1", now), ("click", "v2", now)]
        )
        #expect(events.map(\.eventID) == ["s-0", "s-1"] && events.map(\.kind) == [2, 3])
        #expect(events.allSatisfy { $0.sessionID == "s" && $0.userID == "u1" })
        #expect(throws: RankingError.self) {
            try EventIngest.sessionEvents(userID: "u1", sessionID: "s", [("nap", "v1", now)])
        }
    }
}
