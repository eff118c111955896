import DemoDomains
import Dispatch
import Testing

@testable import CatalogLoading
@testable import Ranking

/// The demo's held-out sessions replayed through the engine: the task follows each surface's configuration, and the
/// figures are the simulator's own measure of what the engine served.
@Suite struct DemoEvaluationTests {
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
        ) { query in
            try Self.engine.recommendList(
                RecommendQuery(query, surface: "cart"),
                deadline: .now() + .seconds(10),
                isCancelled: { false }
            ).items.map(\.itemID)
        }
        #expect(report.sessions == again.sessions && report.sessions > 0)
        #expect(zip(report.rows, again.rows).allSatisfy { $0.ndcg10 == $1.ndcg10 && $0.recall == $1.recall })
    }

    @Test func anUnknownSurfaceIsNotFound() {
        #expect(throws: RankingError.self) {
            try Self.simulator.evaluate(engine: Self.engine, surface: "nowhere", sessions: 1, seed: 3)
        }
    }
}
