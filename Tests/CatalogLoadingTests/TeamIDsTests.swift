import CatalogSnapshot
import Dispatch
import Foundation
import Testing

@testable import CatalogLoading
@testable import DemoDomains
@testable import Ranking

/// A team's export names venues, items and users with its own ids and writes them in its own order; the loader
/// takes it as it is.
@Suite struct TeamIDsTests {
    @Test func idsWithTwentyDigitsAreKeptAsTheyAreRatherThanOverflowing() throws {
        var table = StringTable()
        for id in ["v1", "v99999999999999999999", "v9999999999999999999"] { table.insert(id) }
        let ids = try #require(try MarketplaceImport.ids(table, prefix: "v", file: "venue.pb"))
        #expect(ids.position("v9999999999999999999") == 2)
        var numbered = StringTable()
        for id in ["v1", "v2"] { numbered.insert(id) }
        #expect(try MarketplaceImport.ids(numbered, prefix: "v", file: "venue.pb") == nil)
    }

    static let referenceDay = DemoSnapshotTests.referenceDay
    static let market = DemoSnapshotTests.market

    static func venueID(_ v: Int) -> String { "venue-\(String(v * 7919 + 13, radix: 16))" }
    static func itemID(_ i: Int) -> String { "sku_\(i * 31 + 5)" }
    static func userID(_ u: Int) -> String { "user:\(u)" }

    /// The demo written with team ids: venues in reverse order, items interleaved across venues (not grouped), users
    /// in reverse order; every reference rewritten.
    static func writeTeamSnapshot(to path: String) throws {
        let c = market.catalog
        let writer = try SnapshotWriter(schema: try MarketplaceDemo.schema(), directory: path)
        for v in (0..<c.venueCount).reversed() {
            var record = market.venueRecord(v)
            record.id = venueID(v)
            try writer.append(record, kind: "venue")
        }
        let items = (0..<c.itemCount).sorted { ($0 % 3, $0) < ($1 % 3, $1) }
        for i in items {
            var record = market.itemRecord(i)
            record.id = itemID(i)
            record.attributes["venue"] = .reference(venueID(Int(c.itemVenue[i])))
            try writer.append(record, kind: "item")
        }
        for u in (0..<c.userCount).reversed() {
            var record = market.userRecord(u)
            record.id = userID(u)
            for name in ["orders", "ordered_items"] {
                guard case .history(let entries)? = record.attributes[name] else { continue }
                record.attributes[name] = .history(
                    entries.map {
                        var entry = $0
                        if name == "orders" {
                            entry.entityID = venueID(
                                Catalog.parse($0.entityID, prefix: UInt8(ascii: "v"), count: .max / 2)!
                            )
                        } else {
                            entry.entityID = itemID(
                                Catalog.parse($0.entityID, prefix: UInt8(ascii: "i"), count: .max / 2)!
                            )
                        }
                        return entry
                    }
                )
            }
            try writer.append(record, kind: "user")
        }
        try writer.finish(snapshotID: "team-ids")
    }

    @Test func aSnapshotWithItsOwnIdsInItsOwnOrderLoadsAndServes() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("team-ids-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        try Self.writeTeamSnapshot(to: path)
        let loaded = try CatalogLoader.load(directory: path, referenceDay: Self.referenceDay)
        let generated = Self.market.catalog
        let catalog = loaded.catalog
        #expect(!catalog.venueIDs.isPositional && !catalog.itemIDs.isPositional && !catalog.userIDs.isPositional)
        #expect(loaded.notes.contains { $0.contains("regrouped by venue") })

        // Every entity keeps its facts under its own id.
        for v in [0, 1, generated.venueCount / 2, generated.venueCount - 1] {
            let position = try #require(catalog.venueIndex(Self.venueID(v)))
            #expect(catalog.venueID(position) == Self.venueID(v))
            #expect(catalog.venueLatitude[position] == generated.venueLatitude[v])
            #expect(catalog.venueCuisine[position] == generated.venueCuisine[v])
        }
        // Each menu is a range again, and holds exactly the venue's items.
        for v in [0, 3, generated.venueCount - 1] {
            let position = try #require(catalog.venueIndex(Self.venueID(v)))
            let menu = Int(catalog.venueItemStart[position])..<Int(catalog.venueItemStart[position + 1])
            let expected = Int(generated.venueItemStart[v])..<Int(generated.venueItemStart[v + 1])
            #expect(Set(menu.map { catalog.itemID($0) }) == Set(expected.map { Self.itemID($0) }))
            #expect(menu.allSatisfy { Int(catalog.itemVenue[$0]) == position })
        }
        // Histories follow the ids: a user's orders name the same venues.
        for u in [0, 1, generated.userCount - 1] {
            let position = try #require(catalog.userIndex(Self.userID(u)))
            let mine = Int(catalog.userOrderStart[position])..<Int(catalog.userOrderStart[position + 1])
            let theirs = Int(generated.userOrderStart[u])..<Int(generated.userOrderStart[u + 1])
            #expect(
                mine.map { catalog.venueID(Int(catalog.orderVenue[$0])) }.sorted()
                    == theirs.map { Self.venueID(Int(generated.orderVenue[$0])) }.sorted()
            )
        }
        // And the items of those orders are the same items, matched to their orders through the regrouping.
        var itemsCompared = 0
        for u in 0..<min(generated.userCount, 300) {
            let position = try #require(catalog.userIndex(Self.userID(u)))
            let mine = Int(catalog.userOrderStart[position])..<Int(catalog.userOrderStart[position + 1])
            let theirs = Int(generated.userOrderStart[u])..<Int(generated.userOrderStart[u + 1])
            let mineItems = mine.map { [catalog.orderItem[$0], catalog.orderItem2[$0]].filter { $0 >= 0 } }
            let theirItems = theirs.map { [generated.orderItem[$0], generated.orderItem2[$0]].filter { $0 >= 0 } }
            #expect(
                mineItems.map { $0.map { catalog.itemID(Int($0)) }.sorted() }
                    == theirItems.map { $0.map { Self.itemID(Int($0)) }.sorted() },
                "user \(u)"
            )
            itemsCompared += theirItems.joined().count
        }
        #expect(itemsCompared > 100)

        // The engine answers in the team's ids, and takes them in requests.
        let engine = try RankingEngine.demo(catalog: catalog)
        let time = Int64(Self.referenceDay) * 86_400_000 + 18 * 3_600_000
        let user = try #require(
            (0..<generated.userCount).first { generated.userOrderStart[$0 + 1] > generated.userOrderStart[$0] }
        )
        let list = try engine.recommendList(
            RecommendQuery(
                userID: Self.userID(user),
                surface: "discovery",
                context: RequestContext(requestTimeUnixMs: time, requestID: "team"),
                limit: 10
            ),
            deadline: DispatchTime.now() + .seconds(60),
            isCancelled: { false }
        )
        #expect(!list.items.isEmpty)
        #expect(list.items.allSatisfy { $0.itemID.hasPrefix("venue-") && catalog.venueIndex($0.itemID) != nil })
        let candidates = list.items.map { CandidateInput(itemID: $0.itemID) } + [CandidateInput(itemID: "venue-new")]
        let ranked = try engine.rank(
            RankQuery(
                userID: Self.userID(user),
                surface: "discovery",
                context: RequestContext(requestTimeUnixMs: time, requestID: "team"),
                candidates: candidates,
                limit: 50
            ),
            deadline: nil,
            isCancelled: { false }
        )
        // Known venues come back under their ids; an id the catalog does not have yet is ranked on its own.
        #expect(Set(ranked.items.map(\.itemID)) == Set(candidates.map(\.itemID)))
    }
}
