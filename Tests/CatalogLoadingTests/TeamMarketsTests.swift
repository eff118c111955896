import CatalogSnapshot
import Dispatch
import Foundation
import Testing

@testable import CatalogLoading
@testable import DemoDomains
@testable import Ranking

/// A team's own markets and cuisines are served: the engine takes them from the snapshot, not from a list of its own.
/// The demo is written with Helsinki moved to New York (market "nyc", opening hours in America/New_York) and every
/// cuisine renamed, then loaded and ranked.
@Suite struct TeamMarketsTests {
    static let referenceDay = DemoSnapshotTests.referenceDay
    static let demo = DemoSnapshotTests.market
    static let cuisines = [
        "ramen", "pho", "tacos", "bbq", "dumplings", "curry", "kebab", "poke", "pasta", "salad", "bakery", "brunch",
        "gelato", "deli", "bibimbap", "souvlaki",
    ]
    static let helsinki = MarketplaceVocabulary.cities.first { $0.market == "hel" }!
    static let newYork = (lat: 40.7128, lon: -74.0060)

    /// A Helsinki point moved to the same offset in km from New York's centre.
    static func moved(_ point: GeoPoint) -> GeoPoint {
        let scale = cos(helsinki.latitude * .pi / 180) / cos(newYork.lat * .pi / 180)
        return GeoPoint(
            lat: point.lat - helsinki.latitude + newYork.lat,
            lon: (point.lon - helsinki.longitude) * scale + newYork.lon
        )
    }

    static func renamed(_ cuisine: String) -> String {
        cuisines[MarketplaceVocabulary.cuisines.firstIndex(of: cuisine)!]
    }

    /// The schema with the new cuisines declared, and the demo's records moved and renamed.
    static func write(to path: String) throws {
        var schema = try MarketplaceDemo.schema()
        let venue = schema.kinds.firstIndex { $0.name == "venue" }!
        for (a, attribute) in schema.kinds[venue].attributes.enumerated() where attribute.values != nil {
            schema.kinds[venue].attributes[a].values = cuisines
        }
        let writer = try SnapshotWriter(schema: schema, directory: path)
        for v in 0..<demo.catalog.venueCount {
            var record = demo.venueRecord(v)
            if case .category(let cuisine) = record.attributes["cuisine"] {
                record.attributes["cuisine"] = .category(renamed(cuisine))
            }
            if case .tags(let tags) = record.attributes["tags"] { record.attributes["tags"] = .tags(tags.map(renamed)) }
            if record.attributes["market"] == .category("hel") {
                record.attributes["market"] = .category("nyc")
                if case .geo(let point) = record.attributes["location"] {
                    record.attributes["location"] = .geo(moved(point))
                }
                if case .schedule(var schedule) = record.attributes["opening_hours"] {
                    schedule.timeZone = "America/New_York"
                    record.attributes["opening_hours"] = .schedule(schedule)
                }
            }
            try writer.append(record, kind: "venue")
        }
        for i in 0..<demo.catalog.itemCount { try writer.append(demo.itemRecord(i), kind: "item") }
        for u in 0..<demo.catalog.userCount {
            var record = demo.userRecord(u)
            if record.attributes["market"] == .category("hel") {
                record.attributes["market"] = .category("nyc")
                if case .geo(let point) = record.attributes["home"] { record.attributes["home"] = .geo(moved(point)) }
            }
            try writer.append(record, kind: "user")
        }
        try writer.finish()
    }

    static let loaded: Result<LoadedCatalog, any Error> = Result {
        let folder = try DemoSnapshotTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        try write(to: path)
        return try CatalogLoader.load(directory: path, referenceDay: referenceDay)
    }

    /// 19:00 in New York on the reference day (a Saturday in November, UTC-5): 00:00 UTC the next day.
    static let sevenPMInNewYork = Int64(referenceDay + 1) * 86_400_000

    @Test func theMarketsAndCuisinesAreTheSnapshots() throws {
        let catalog = try Self.loaded.get().catalog
        #expect(catalog.cuisines == Self.cuisines)
        #expect(catalog.marketIndex("hel") == nil)
        let nyc = try #require(catalog.marketIndex("nyc").map { catalog.markets[$0] })
        #expect(nyc.timeZone == "America/New_York")
        #expect(abs(nyc.latitude - Self.newYork.lat) < 0.1 && abs(nyc.longitude - Self.newYork.lon) < 0.1)
        #expect(nyc.utcOffsetMinutes(atUnixMs: Self.sevenPMInNewYork) == -300)
        // A request there reads the local hour of New York.
        let frame = RequestFrame(
            catalog: catalog,
            userIndex: nil,
            latitude: nyc.latitude,
            longitude: nyc.longitude,
            timeUnixMs: Self.sevenPMInNewYork,
            venueIndex: nil
        )
        #expect(frame.city == catalog.marketIndex("nyc"))
        #expect(frame.hour == 19)
    }

    @Test func usersInTheNewMarketGetItsVenuesAndItsCuisinesArePages() throws {
        let catalog = try Self.loaded.get().catalog
        let engine = try RankingEngine.demo(catalog: catalog)
        let nyc = try #require(catalog.marketIndex("nyc"))
        let users = (0..<catalog.userCount).filter { Int(catalog.userCity[$0]) == nyc }.prefix(10)
        #expect(!users.isEmpty)
        var answered = 0
        var ramen = 0
        for user in users {
            let context = RequestContext(requestTimeUnixMs: Self.sevenPMInNewYork, requestID: "nyc")
            let discovery = try engine.recommendList(
                RecommendQuery(userID: catalog.userID(user), surface: "discovery", context: context, limit: 20),
                deadline: .now() + .seconds(600),
                isCancelled: { false }
            )
            for entry in discovery.items {
                let v = try #require(catalog.venueIndex(entry.itemID))
                #expect(Int(catalog.venueCity[v]) == nyc, "\(entry.itemID) is not in New York")
                #expect(catalog.isOpen(v, weekday: 5, minuteOfDay: 19 * 60), "\(entry.itemID) is closed at 19:00")
            }
            answered += discovery.items.count
            let page = try engine.recommendList(
                RecommendQuery(
                    userID: catalog.userID(user),
                    surface: "category",
                    context: context,
                    limit: 20,
                    category: "ramen"
                ),
                deadline: .now() + .seconds(600),
                isCancelled: { false }
            )
            for entry in page.items {
                let v = try #require(catalog.venueIndex(entry.itemID))
                #expect(catalog.venueTags[v] & 1 != 0, "\(entry.itemID) is not tagged ramen")
            }
            ramen += page.items.count
        }
        #expect(answered > 0)
        #expect(ramen > 0)
        // The engine's old cuisines are not this catalog's.
        let error = #expect(throws: RankingError.self) {
            try engine.recommendList(
                RecommendQuery(userID: catalog.userID(users.first!), surface: "category", category: "pizza"),
                deadline: .now() + .seconds(600),
                isCancelled: { false }
            )
        }
        #expect(
            error == .invalidArgument("unknown category \"pizza\"; one of: " + Self.cuisines.joined(separator: ", "))
        )
    }

    /// The demo's schema with `edit` applied to one attribute of one kind.
    static func schema(_ kind: String, _ name: String, _ edit: (inout AttributeSpec) -> Void) throws -> CatalogSchema {
        var schema = try MarketplaceDemo.schema()
        let k = schema.kinds.firstIndex { $0.name == kind }!
        let a = schema.kinds[k].attributes.firstIndex { $0.name == name }!
        edit(&schema.kinds[k].attributes[a])
        return schema
    }

    @Test func theSchemaCheckNamesWhatTheEngineCannotMap() throws {
        let cases: [(CatalogSchema, String)] = [
            (
                try Self.schema("user", "embedding") { $0.dimension = 8 },
                "venue.embedding has dimension 16 and user.embedding 8; the engine scores their dot product"
            ),
            (
                try Self.schema("venue", "cuisine") { $0.values = Array(Self.cuisines.prefix(15)) },
                "user.cuisine_affinity has dimension 16, one per cuisine needs 15 (the values venue.cuisine declares)"
            ),
            (
                try Self.schema("venue", "cuisine") { $0.values = (0..<65).map { "c\($0)" } },
                "venue.cuisine declares 65 values; the engine keeps at most 64 cuisines"
            ),
        ]
        #expect(MarketplaceImport.check(schema: try MarketplaceDemo.schema()).isEmpty)
        for (schema, words) in cases {
            let problems = MarketplaceImport.check(schema: schema)
            #expect(problems.contains { $0.hasPrefix(words) }, "\(problems)")
        }
    }

    /// Writes the demo's first `venues` venues (no items, no users) with `schema`, each edited by `edit`, and returns
    /// why the loader refused them.
    static func refusal(
        _ schema: CatalogSchema,
        venues: Int = 10,
        _ edit: (Int, inout EntityRecord) -> Void
    ) throws -> String {
        let folder = try DemoSnapshotTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        let writer = try SnapshotWriter(schema: schema, directory: path)
        for v in 0..<venues {
            var record = demo.venueRecord(v)
            edit(v, &record)
            try writer.append(record, kind: "venue")
        }
        try writer.finish()
        let refused = #expect(throws: SnapshotRefused.self) { try CatalogLoader.load(directory: path) }
        return refused?.description ?? ""
    }

    @Test func moreCuisinesThanTagBitsAreRefused() throws {
        // No declared values and no affinity: the cuisines are whatever the venues name, here 70 of them.
        var schema = try Self.schema("venue", "cuisine") { $0.values = nil }
        let user = schema.kinds.firstIndex { $0.name == "user" }!
        schema.kinds[user].attributes.removeAll { $0.name == "cuisine_affinity" }
        let report = try Self.refusal(schema, venues: 70) { v, record in
            record.attributes["cuisine"] = .category("c\(v)")
            record.attributes["tags"] = nil
        }
        #expect(
            report.contains("venue.pb: cuisine: 70 distinct cuisines; the engine keeps at most 64"),
            "\(report)"
        )
    }

    @Test func aSnapshotFromBeforeDeclaredValuesLoadsInTheOrderItsSchemaImplied() throws {
        // The schema as it was: no `values` anywhere.
        var schema = try MarketplaceDemo.schema()
        for k in schema.kinds.indices {
            for a in schema.kinds[k].attributes.indices { schema.kinds[k].attributes[a].values = nil }
        }
        let folder = try DemoSnapshotTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        let writer = try SnapshotWriter(schema: schema, directory: path)
        let c = Self.demo.catalog
        for v in 0..<c.venueCount { try writer.append(Self.demo.venueRecord(v), kind: "venue") }
        for i in 0..<c.itemCount { try writer.append(Self.demo.itemRecord(i), kind: "item") }
        for u in 0..<c.userCount { try writer.append(Self.demo.userRecord(u), kind: "user") }
        try writer.finish()
        let loaded = try CatalogLoader.load(directory: path, referenceDay: Self.referenceDay).catalog
        #expect(loaded.cuisines == MarketplaceVocabulary.cuisines)
        #expect(loaded.itemCategories == MarketplaceVocabulary.itemCategories)
        #expect(loaded.venueCuisine == c.venueCuisine && loaded.itemCategory == c.itemCategory)
        #expect(loaded.userAffinity == c.userAffinity)
        // Other cuisines without declared values cannot give the affinity an order: refused, saying what to do.
        let report = try Self.refusal(schema) { v, record in
            if v == 0 { record.attributes["cuisine"] = .category("ramen") }
        }
        #expect(
            report.contains(
                "schema.json: user.cuisine_affinity holds one value per cuisine, so venue.cuisine must declare its "
                    + "values"
            ),
            "\(report)"
        )
    }

    @Test func aVenueWithoutAMarketOrACuisineIsRefusedNamingIt() throws {
        let schema = try Self.schema("venue", "market") { $0.required = false }
        let market = try Self.refusal(schema) { v, record in if v == 3 { record.attributes["market"] = nil } }
        #expect(
            market.contains("venue.pb: v4: market: no market (the engine needs one per venue and user)"),
            "\(market)"
        )
        let optional = try Self.schema("venue", "cuisine") { $0.required = false }
        let cuisine = try Self.refusal(optional) { v, record in if v == 5 { record.attributes["cuisine"] = nil } }
        #expect(cuisine.contains("venue.pb: v6: cuisine: no cuisine (the engine needs one per venue)"), "\(cuisine)")
    }

    @Test func aCuisineTheSchemaDoesNotDeclareIsAProblemWithItsRecord() throws {
        let folder = try DemoSnapshotTests.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        let writer = try SnapshotWriter(schema: try MarketplaceDemo.schema(), directory: path)
        var record = Self.demo.venueRecord(0)
        record.attributes["cuisine"] = .category("ramen")
        record.attributes["tags"] = .tags(["pizza", "ramen"])
        try writer.append(record, kind: "venue")
        try writer.finish()
        let refused = #expect(throws: SnapshotRefused.self) { try CatalogLoader.load(directory: path) }
        let report = refused?.description ?? ""
        #expect(
            report.contains(
                "venue.pb: record 1: field cuisine: invalid_value: \"ramen\" is not one of the declared values"
            )
        )
        #expect(report.contains("tag 2 of 2, \"ramen\", is not one of the declared values"))
    }
}
