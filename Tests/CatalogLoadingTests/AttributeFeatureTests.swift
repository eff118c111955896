import CatalogSnapshot
import Dispatch
import Foundation
import Testing

@testable import CatalogLoading
@testable import DemoDomains
@testable import Ranking

/// A number attribute the data team adds to the snapshot becomes a model feature by naming it in the surface
/// configuration: no code change.
@Suite struct AttributeFeatureTests {
    static let demo = DemoSnapshotTests.market

    /// A venue's delivery fee: every third venue has none.
    static func fee(_ v: Int) -> Double? { v % 3 == 2 ? nil : Double(v % 7) + 0.5 }

    /// The demo with `delivery_fee` on venues and `calories` on items, loaded.
    static let loaded: Result<Catalog, any Error> = Result {
        var schema = try MarketplaceDemo.schema()
        let venue = schema.kinds.firstIndex { $0.name == "venue" }!
        let item = schema.kinds.firstIndex { $0.name == "item" }!
        schema.kinds[venue].attributes.append(AttributeSpec(name: "delivery_fee", type: .number))
        schema.kinds[item].attributes.append(AttributeSpec(name: "calories", type: .number))
        let folder = try DemoSnapshotTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        let writer = try SnapshotWriter(schema: schema, directory: path)
        for v in 0..<demo.catalog.venueCount {
            var record = demo.venueRecord(v)
            if let fee = fee(v) { record.attributes["delivery_fee"] = .number(fee) }
            try writer.append(record, kind: "venue")
        }
        for i in 0..<demo.catalog.itemCount {
            var record = demo.itemRecord(i)
            record.attributes["calories"] = .number(Double(100 + i))
            try writer.append(record, kind: "item")
        }
        for u in 0..<demo.catalog.userCount { try writer.append(demo.userRecord(u), kind: "user") }
        try writer.finish()
        return try CatalogLoader.load(directory: path, referenceDay: DemoSnapshotTests.referenceDay).catalog
    }

    static func engine(_ adjust: (inout PipelineConfig) -> Void) throws -> RankingEngine {
        try RankingEngine.demo(catalog: try loaded.get(), adjust: adjust)
    }

    static let evening = RequestContext(
        requestTimeUnixMs: Int64(DemoSnapshotTests.referenceDay) * 86_400_000 + 17 * 3_600_000,
        requestID: "attributes"
    )

    @Test func theLoaderKeepsOnlyTheNumbersItDoesNotReadItself() throws {
        let catalog = try Self.loaded.get()
        #expect(Array(catalog.venueNumbers.keys) == ["delivery_fee"])
        #expect(Array(catalog.itemNumbers.keys) == ["calories"])
        let fees = try #require(catalog.venueNumbers["delivery_fee"])
        for v in 0..<catalog.venueCount {
            if let fee = Self.fee(v) { #expect(fees[v] == fee) } else { #expect(fees[v].isNaN) }
        }
    }

    @Test func aNamedAttributeIsAFeatureOfEveryCandidate() throws {
        let catalog = try Self.loaded.get()
        let engine = try Self.engine { config in
            config.surfaces["discovery"]?.attributes = [AttributeFeatureConfig(name: "fee", attribute: "delivery_fee")]
            config.surfaces["venue_items"]?.attributes = [AttributeFeatureConfig(name: "kcal", attribute: "calories")]
        }
        var venues = 0
        var missing = 0
        var orderable: (user: Int, venue: String)?
        for user in 0..<20 {
            let result = try engine.recommendList(
                RecommendQuery(
                    userID: catalog.userID(user),
                    surface: "discovery",
                    context: Self.evening,
                    explain: true
                ),
                deadline: .now() + .seconds(600),
                isCancelled: { false }
            )
            for entry in result.items {
                let v = try #require(catalog.venueIndex(entry.itemID))
                let value = try #require(Dictionary(uniqueKeysWithValues: entry.features)["fee"])
                if let fee = Self.fee(v) { #expect(value == fee) } else { #expect(value.isNaN) }
                if value.isNaN { missing += 1 }
                venues += 1
                orderable = orderable ?? (user, entry.itemID)
            }
        }
        #expect(venues > 0 && missing > 0)
        // On an item surface, the item's own attribute: the menu of a venue discovery answered.
        let (user, venue) = try #require(orderable)
        let menu = try engine.recommendList(
            RecommendQuery(
                userID: catalog.userID(user),
                surface: "venue_items",
                context: Self.evening,
                explain: true,
                venueID: venue
            ),
            deadline: .now() + .seconds(600),
            isCancelled: { false }
        )
        #expect(!menu.items.isEmpty)
        for entry in menu.items {
            let item = try #require(catalog.itemIndex(entry.itemID))
            #expect(Dictionary(uniqueKeysWithValues: entry.features)["kcal"] != nil)
            // Items are kept in venue order, so the value follows the item, not its line in the file.
            #expect(catalog.itemNumbers["calories"]?[item] == Dictionary(uniqueKeysWithValues: entry.features)["kcal"])
        }
        // Rank's caller features override it by name, like any feature.
        let rank = RankQuery(
            userID: catalog.userID(user),
            surface: "discovery",
            context: Self.evening,
            candidates: [CandidateInput(itemID: venue, features: [("fee", 42)])],
            explain: true
        )
        let ranked = try engine.rank(rank, deadline: .now() + .seconds(600), isCancelled: { false })
        #expect(ranked.items.count == 1)
        for entry in ranked.items { #expect(Dictionary(uniqueKeysWithValues: entry.features)["fee"] == 42) }
    }

    @Test func anAttributeTheSnapshotLacksIsRefusedNamingWhatItHas() throws {
        let error = #expect(throws: RankingError.self) {
            try Self.engine { config in
                config.surfaces["discovery"]?.attributes = [AttributeFeatureConfig(name: "fee", attribute: "fees")]
            }
        }
        #expect(
            error
                == .invalidArgument(
                    "surface discovery: feature fee: the snapshot's venues have no number attribute fees beyond those "
                        + "the engine reads itself (they have: delivery_fee)"
                )
        )
        // An attribute the engine reads itself is a native feature already.
        #expect(throws: RankingError.self) {
            try Self.engine { config in
                config.surfaces["discovery"]?.attributes = [AttributeFeatureConfig(name: "r", attribute: "rating")]
            }
        }
    }

    @Test func aSnapshotWithoutTheAttributeIsRefusedAtTheSwapAndTheOldOneServes() throws {
        let engine = try Self.engine { config in
            config.surfaces["discovery"]?.attributes = [AttributeFeatureConfig(name: "fee", attribute: "delivery_fee")]
        }
        let folder = try DemoSnapshotTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("plain").path
        try Self.demo.writeSnapshot(to: path, snapshotID: "without-fees")
        let plain = try CatalogLoader.load(directory: path, referenceDay: DemoSnapshotTests.referenceDay).catalog
        #expect(throws: RankingError.self) { try engine.swapCatalog(plain) }
        #expect(engine.catalog.venueNumbers["delivery_fee"] != nil)
    }

    @Test func aFeatureNameTakenTwiceIsAConfigurationProblem() throws {
        var config = try RankingEngine.embeddedConfig()
        config.surfaces["discovery"]?.attributes = [
            AttributeFeatureConfig(name: "venue_rating", attribute: "delivery_fee"),
            AttributeFeatureConfig(name: "", attribute: "delivery_fee"),
        ]
        let problems = config.problems().map { "\($0.path.joined(separator: ".")): \($0.message)" }
        #expect(
            problems.contains("surfaces.discovery.attributes.0.name: feature \"venue_rating\" is empty or named twice")
        )
        #expect(problems.contains("surfaces.discovery.attributes.1.name: feature \"\" is empty or named twice"))
    }
}
