import CatalogLoading
import DemoDomains
import Dispatch
import Foundation

@testable import Ranking

/// A small marketplace shared by the tests: the demo generated once per process and loaded through a snapshot, as
/// rankd serves it; fast even in a debug build.
enum Fixture {
    /// 2025-11-08 as a UTC day number; fixed so ages and recencies never depend on when tests run.
    static let referenceDay = 20_400
    static let market = MarketplaceDemo.generate(seed: 7, scale: 0.02, referenceDay: referenceDay)
    static let catalog = demoCatalog(market)

    /// The catalog the engine serves for a generated demo: its snapshot, loaded.
    static func demoCatalog(_ demo: MarketplaceDemo) -> Catalog {
        do { return try DemoSnapshot.loadThroughSnapshot(demo).catalog } catch {
            fatalError("fixture catalog: \(error)")
        }
    }

    /// The embedded configuration (with the embedded models when present).
    static let engine: RankingEngine = {
        do { return try RankingEngine.demo(catalog: catalog) } catch { fatalError("fixture engine: \(error)") }
    }()

    /// Unix ms of local `hour`:00 in Berlin (UTC+1) on the reference day plus `days`.
    static func time(hour: Int, days: Int = 0) -> Int64 {
        Int64(referenceDay + days) * 86_400_000 + Int64(hour - 1) * 3_600_000
    }

    /// A Berlin user with at least `orders` past orders.
    static func berlinUser(minOrders orders: Int = 3) -> Int {
        let c = catalog
        for u in 0..<c.userCount where c.userCity[u] == 0 {
            if Int(c.userOrderStart[u + 1] - c.userOrderStart[u]) >= orders { return u }
        }
        fatalError("no Berlin user with \(orders) orders")
    }

    static func discovery(
        user: Int,
        hour: Int = 19,
        explain: Bool = false,
        requestID: String = "r1",
        limit: Int = 20
    ) -> RecommendQuery {
        RecommendQuery(
            userID: Catalog.userID(user),
            surface: "discovery",
            context: RequestContext(requestTimeUnixMs: time(hour: hour), requestID: requestID),
            limit: limit,
            explain: explain
        )
    }

    static let never: () -> Bool = { false }

    /// A deadline no test call reaches. With none, a call gets the surface's default budget (80 ms for discovery),
    /// which a debug build on a loaded machine can overrun; then scoring stops early and the answer's order changes.
    /// The tests pass this instead, so their answers do not depend on how busy the machine is.
    static var unhurried: DispatchTime { .now() + .seconds(600) }
}

extension Fixture {
    /// An engine over the fixture catalog with the embedded configuration changed by `adjust`.
    static func engine(
        sources: [any CandidateSource] = [],
        loader: ModelLoader? = RankingEngine.defaultLoader,
        adjust: (inout PipelineConfig) -> Void
    ) throws -> RankingEngine {
        var config = try RankingEngine.embeddedConfig()
        adjust(&config)
        return try RankingEngine(
            catalog: catalog,
            config: config,
            resourceDirectory: EmbeddedResources.directory(),
            additionalSources: sources,
            loader: loader
        )
    }

    /// A request for `user` at 19:00 local time on the reference day.
    static func request(user: Int?, hour: Int = 19) -> CandidateRequest {
        let c = catalog
        let lat = user.map { c.userLatitude[$0] } ?? c.markets[0].latitude
        let lon = user.map { c.userLongitude[$0] } ?? c.markets[0].longitude
        let frame = RequestFrame(
            catalog: c,
            userIndex: user,
            latitude: lat,
            longitude: lon,
            timeUnixMs: time(hour: hour),
            venueIndex: nil
        )
        return CandidateRequest(
            catalog: c,
            userIndex: user,
            latitude: lat,
            longitude: lon,
            city: frame.city,
            weekday: frame.weekday,
            minuteOfDay: frame.minuteOfDay,
            day: frame.day,
            venueIndex: nil,
            lonScale: frame.lonScale,
            pastVenues: frame.pastVenuesByFrequency,
            covisited: frame.covisitedByWeight
        )
    }

    /// Every venue of the fixture catalog, as Rank candidates.
    static var allVenues: [CandidateInput] {
        (0..<catalog.venueCount).map { CandidateInput(itemID: Catalog.venueID($0)) }
    }

    static func sections(_ engine: RankingEngine, _ query: RecommendQuery) throws -> [RecommendSection] {
        var sections: [RecommendSection] = []
        try engine.recommend(query, deadline: Fixture.unhurried, isCancelled: never) { sections.append($0) }
        return sections
    }
}
