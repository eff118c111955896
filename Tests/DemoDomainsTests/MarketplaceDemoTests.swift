import CatalogSnapshot
import Foundation
import Testing

@testable import DemoDomains

/// The marketplace demo shared by these tests: generated once per process, fast even in a debug build.
enum MarketplaceFixture {
    /// 2025-11-08 as a UTC day number; fixed so ages and recencies never depend on when tests run.
    static let referenceDay = 20_400
    static let demo = MarketplaceDemo.generate(seed: 7, scale: 0.02, referenceDay: referenceDay)
    static let simulator = MarketplaceSessionSimulator(demo: demo)

    /// A fresh folder under the temporary directory, removed by the caller.
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("marketplace-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// The marketplace demo: generated deterministically, sized by the scale, written as a valid snapshot of
/// schemas/marketplace.json, with orders drawn from venues that could take them.
@Suite struct MarketplaceDemoTests {
    @Test func sameSeedGivesTheSameMarketplace() {
        let a = MarketplaceDemo.generate(seed: 3, scale: 0.005, referenceDay: 20_000).catalog
        let b = MarketplaceDemo.generate(seed: 3, scale: 0.005, referenceDay: 20_000).catalog
        #expect(a.venueLatitude == b.venueLatitude)
        #expect(a.itemPrice == b.itemPrice)
        #expect(a.orderVenue == b.orderVenue)
        #expect(a.orderItem2 == b.orderItem2)
        let c = MarketplaceDemo.generate(seed: 4, scale: 0.005, referenceDay: 20_000).catalog
        #expect(a.venueLatitude != c.venueLatitude)
    }

    @Test func sizesFollowTheScaleAndEveryTableIsFilled() {
        let c = MarketplaceFixture.demo.catalog
        let counts = MarketplaceDemo.counts(scale: 0.02)
        #expect((c.venueCount, c.userCount) == (counts.venues, counts.users))
        #expect((c.venueCount, c.userCount) == (400, 4_000))
        #expect(c.itemCount > 10 * c.venueCount && c.itemCount < 30 * c.venueCount)
        #expect(c.brandCount > 0 && c.venueBrand.contains { $0 >= 0 })
        #expect(Set(c.venueCity).count == MarketplaceVocabulary.cities.count)
        #expect(c.orderVenue.count > c.userCount)
        #expect(c.venueItemStart.last == Int32(c.itemCount))
        #expect(c.venuePopularity.count == c.venueCount && c.itemPopularity.count == c.itemCount)
        let floors = MarketplaceDemo.counts(scale: 0.0001)
        #expect(floors.venues == 50 && floors.users == 100)
    }

    @Test func ordersAreDrawnFromVenuesThatDeliverToTheUser() {
        let c = MarketplaceFixture.demo.catalog
        var checked = 0
        for u in 0..<200 {
            let lonScale = MarketplaceGeo.kmPerDegreeLongitude(atLatitude: c.userLatitude[u])
            for o in c.orders(of: u) {
                let v = Int(c.orderVenue[o])
                let km = MarketplaceGeo.distanceKm(
                    c.userLatitude[u],
                    c.userLongitude[u],
                    c.venueLatitude[v],
                    c.venueLongitude[v],
                    lonScale: lonScale
                )
                #expect(km <= Double(c.venueRadiusKm[v]) + 1e-9)
                #expect(c.orderItem[o] < 0 || Int(c.itemVenue[Int(c.orderItem[o])]) == v)
                checked += 1
            }
        }
        #expect(checked > 0)
    }

    @Test func theWrittenSnapshotIsValidUnderTheMarketplaceSchemaAndReadsOnTheQuickPath() throws {
        let folder = try MarketplaceFixture.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        let demo = MarketplaceFixture.demo
        let manifest = try demo.writeSnapshot(to: path, snapshotID: "marketplace-test")
        #expect(manifest.schemaName == "marketplace")
        #expect(manifest.records(of: "venue") == demo.catalog.venueCount)
        #expect(manifest.records(of: "item") == demo.catalog.itemCount)
        #expect(manifest.records(of: "user") == demo.catalog.userCount)
        let validation = try SnapshotValidator().validate(directory: path)
        #expect(validation.isValid, "\(validation.text())")
        #expect(validation.generalPathRecords == 0)
        let first = try #require(try SnapshotReader(directory: path).records(of: "venue").first)
        #expect(first.id == "v1")
        #expect(first.attributes["name"]?.displayText?.hasSuffix(" v1") == true)
    }

    @Test func theCatalogTablesHaveARowPerEntityAndOrder() throws {
        let folder = try MarketplaceFixture.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let c = MarketplaceFixture.demo.catalog
        let written = try MarketplaceFixture.demo.writeTables(to: folder.path)
        #expect(written.map(\.file) == ["venues.csv", "users.csv", "orders.csv"])
        #expect(written.map(\.rows) == [c.venueCount, c.userCount, c.orderVenue.count])
        for (file, rows) in written {
            let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            #expect(text.split(separator: "\n").count == rows + 1, "\(file)")
        }
    }

    @Test func theEmbeddedSchemaIsTheShippedMarketplaceSchema() throws {
        let shipped = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("schemas/marketplace.json")
        #expect(try Data(contentsOf: shipped) == Data(contentsOf: try #require(MarketplaceDemo.schemaURL)))
    }
}

/// The demo's item complements: what the hidden item utility wants given a cart, and how it shows in generated
/// orders.
@Suite struct MarketplaceComplementTests {
    /// Orders with two items whose first is a main, as (first, second) pairs.
    static var mainsWithASecondItem: [(first: Int, second: Int)] {
        let c = MarketplaceFixture.demo.catalog
        return c.orderItem.indices.compactMap { o in
            let first = Int(c.orderItem[o])
            let second = Int(c.orderItem2[o])
            guard first >= 0, second >= 0, c.itemCategory[first] == 0 else { return nil }
            return (first, second)
        }
    }

    /// The venue's available items other than `item`.
    static func others(of item: Int) -> [Int] {
        let c = MarketplaceFixture.demo.catalog
        return c.menu(of: Int(c.itemVenue[item])).filter { $0 != item && c.itemAvailable[$0] }
    }

    @Test func aMainsSecondItemIsRarelyAnotherMain() throws {
        let c = MarketplaceFixture.demo.catalog
        let pairs = Self.mainsWithASecondItem
        try #require(pairs.count > 300)
        // Chance: the share of mains among the other items the user could have added.
        var chance = 0.0
        var mains = 0
        for pair in pairs {
            let others = Self.others(of: pair.first)
            chance += Double(others.filter { c.itemCategory[$0] == 0 }.count) / Double(others.count)
            if c.itemCategory[pair.second] == 0 { mains += 1 }
        }
        chance /= Double(pairs.count)
        let observed = Double(mains) / Double(pairs.count)
        #expect(chance > 0.3)
        #expect(observed < chance / 2, "second item is a main in \(observed) of orders, chance \(chance)")
    }

    @Test(arguments: [2, 3])  // side, drink
    func aMainsSecondItemIsMoreOftenASideOrADrinkThanChance(category: Int) throws {
        let c = MarketplaceFixture.demo.catalog
        let pairs = Self.mainsWithASecondItem
        var chance = 0.0
        var hits = 0
        for pair in pairs {
            let others = Self.others(of: pair.first)
            chance += Double(others.filter { Int(c.itemCategory[$0]) == category }.count) / Double(others.count)
            if Int(c.itemCategory[pair.second]) == category { hits += 1 }
        }
        chance /= Double(pairs.count)
        let observed = Double(hits) / Double(pairs.count)
        #expect(
            observed > 1.5 * chance,
            "\(MarketplaceVocabulary.itemCategories[category]): \(observed), chance \(chance)"
        )
    }

    @Test func aMainsSecondItemIsMoreOftenOfItsPairingGroupThanChance() throws {
        let c = MarketplaceFixture.demo.catalog
        let truth = MarketplaceFixture.demo.truth
        var chance = 0.0
        var hits = 0
        var counted = 0
        for pair in Self.mainsWithASecondItem where c.itemCategory[pair.second] != 0 {
            let others = Self.others(of: pair.first).filter {
                c.itemCategory[$0] == c.itemCategory[pair.second]
            }
            let group = truth.itemPairing[pair.first]
            chance += Double(others.filter { truth.itemPairing[$0] == group }.count) / Double(others.count)
            if truth.itemPairing[pair.second] == group { hits += 1 }
            counted += 1
        }
        try #require(counted > 200)
        chance /= Double(counted)
        let observed = Double(hits) / Double(counted)
        #expect(observed > chance + 0.15, "paired in \(observed) of orders, chance (same category) \(chance)")
    }

    @Test func theCartChangesWhatAnItemIsWorth() throws {
        let c = MarketplaceFixture.demo.catalog
        let truth = MarketplaceFixture.demo.truth
        var checked = 0
        for venue in 0..<c.venueCount {
            let items = Array(c.menu(of: venue))
            guard let main = items.first(where: { c.itemCategory[$0] == 0 }),
                let otherMain = items.first(where: { $0 != main && c.itemCategory[$0] == 0 }),
                let paired = items.first(where: {
                    c.itemCategory[$0] == 3 && truth.itemPairing[$0] == truth.itemPairing[main]
                }),
                let unpaired = items.first(where: {
                    c.itemCategory[$0] == 3 && truth.itemPairing[$0] != truth.itemPairing[main]
                })
            else { continue }
            #expect(truth.complement(catalog: c, item: paired, cart: []) == 0)
            let pairedDrink = truth.complement(catalog: c, item: paired, cart: [main])
            let otherDrink = truth.complement(catalog: c, item: unpaired, cart: [main])
            let secondMain = truth.complement(catalog: c, item: otherMain, cart: [main])
            #expect(pairedDrink > otherDrink && otherDrink > 0 && secondMain < 0)
            // A cart that already has a drink wants no second one, paired or not.
            #expect(truth.complement(catalog: c, item: paired, cart: [main, unpaired]) < pairedDrink)
            checked += 1
        }
        #expect(checked > 5)
    }
}
