import CatalogSnapshot
import Dispatch
import Foundation
import Testing

@testable import CatalogLoading
@testable import DemoDomains
@testable import Ranking

/// The demo marketplace written as a snapshot, validated and loaded back: the catalog the engine gets is the
/// generator's own.
@Suite struct DemoSnapshotTests {
    static let referenceDay = 20_400
    static let market = MarketplaceDemo.generate(seed: 7, scale: 0.02, referenceDay: referenceDay)

    /// A fresh folder under the temporary directory, removed by the caller.
    static func scratch() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-loading-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    @Test func theDemoSnapshotIsValidAndLoadsToTheGeneratedCatalogColumnForColumn() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        let manifest = try Self.market.writeSnapshot(to: path, snapshotID: "demo-test")
        #expect(manifest.records(of: "venue") == Self.market.catalog.venueCount)
        let validation = try SnapshotValidator().validate(directory: path)
        #expect(validation.isValid, "\(validation.text())")
        // Every record of the demo reads on the quick path.
        #expect(validation.generalPathRecords == 0)

        let loaded = try CatalogLoader.load(directory: path, referenceDay: Self.referenceDay)
        #expect(loaded.manifest.snapshotID == "demo-test")
        #expect(loaded.notes.isEmpty)
        // The generated columns, and the display values of the records the export wrote, as
        // `AttributeValue.displayText` gives them.
        let a = Self.market.catalog
        let b = loaded.catalog
        let schema = try MarketplaceDemo.schema()
        func display(_ kind: String, _ count: Int, _ record: (Int) -> EntityRecord) -> DisplayColumns {
            let fields = schema.kind(named: kind)!.displayAttributes.map(\.name)
            return DisplayColumns(
                fields: fields,
                values: (0..<count).map { k in
                    let r = record(k)
                    return fields.map { r.attributes[$0]?.displayText ?? "" }
                }
            )
        }
        #expect(b.venueDisplay == display("venue", a.venueCount) { Self.market.venueRecord($0) })
        #expect(b.itemDisplay == display("item", a.itemCount) { Self.market.itemRecord($0) })
        #expect(a.referenceDay == b.referenceDay)
        #expect(b.venueDisplay.fields == ["name", "cuisine", "price_level", "rating"])
        #expect(b.itemDisplay.fields == ["name", "venue", "category", "price"])
        #expect(b.venueDisplay.count == b.venueCount && b.itemDisplay.count == b.itemCount)
        let firstVenue = Dictionary(uniqueKeysWithValues: b.venueDisplay.values(of: 0).map { ($0.name, $0.value) })
        #expect(firstVenue["name"]?.hasSuffix(" v1") == true)
        #expect(firstVenue["cuisine"] == b.cuisines[Int(b.venueCuisine[0])])
        #expect((a.venueCount, a.itemCount, a.userCount) == (b.venueCount, b.itemCount, b.userCount))
        #expect(a.venueLatitude == b.venueLatitude && a.venueLongitude == b.venueLongitude)
        // Markets are numbered by the loader (most venues first): compared by code.
        let demoCode = { (city: UInt8) in MarketplaceVocabulary.cities[Int(city)].market }
        #expect(a.venueCity.map(demoCode) == b.venueCity.map { b.markets[Int($0)].code })
        #expect(a.userCity.map(demoCode) == b.userCity.map { b.markets[Int($0)].code })
        #expect(a.venueRadiusKm == b.venueRadiusKm)
        #expect(a.venueOpenMinute == b.venueOpenMinute && a.venueCloseMinute == b.venueCloseMinute)
        #expect(a.venueClosedDays == b.venueClosedDays)
        #expect(a.venueCuisine == b.venueCuisine && a.venueTags.map(UInt64.init) == b.venueTags)
        #expect(a.venueBrand == b.venueBrand)
        #expect(a.venuePriceLevel == b.venuePriceLevel && a.venueRating == b.venueRating)
        #expect(a.venuePrepMinutes == b.venuePrepMinutes && a.venueAvailable == b.venueAvailable)
        #expect(a.venueCreatedDay == b.venueCreatedDay && a.venuePopularity == b.venuePopularity)
        #expect(a.venueImpressions == b.venueImpressions && a.venueClicks == b.venueClicks)
        #expect(a.venueEmbedding == b.venueEmbedding && a.venueItemStart == b.venueItemStart)
        #expect(a.itemVenue == b.itemVenue && a.itemCategory == b.itemCategory && a.itemPrice == b.itemPrice)
        #expect(a.itemPopularity == b.itemPopularity)
        #expect(a.itemAvailable == b.itemAvailable)
        #expect(a.userLatitude == b.userLatitude && a.userLongitude == b.userLongitude)
        #expect(a.userAffinity == b.userAffinity && a.userEmbedding == b.userEmbedding)
        #expect(a.userOrderStart == b.userOrderStart && a.orderVenue == b.orderVenue && a.orderDay == b.orderDay)
        #expect(a.orderItem == b.orderItem && a.orderItem2 == b.orderItem2)
        #expect(b.brandCount == a.brandCount)
        // What the loader derives from the orders (co-visitation, city lists) is pinned with the demo's hidden truth
        // by RankingTests' `venueLevelDataIsTheSameAsBeforeComplements`.
    }

    @Test func theLoadedVocabulariesAndMarketsAreTheDemosOwn() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        _ = try Self.market.writeSnapshot(to: path, snapshotID: "demo-vocabulary")
        let c = try CatalogLoader.load(directory: path, referenceDay: Self.referenceDay).catalog
        // Cuisines and categories in the order the schema declares them, which is the demo's.
        #expect(c.cuisines == MarketplaceVocabulary.cuisines)
        #expect(c.itemCategories == MarketplaceVocabulary.itemCategories)
        #expect(c.embeddingDimension == MarketplaceVocabulary.embeddingDimension)
        #expect(Catalog.newVenueDays == MarketplaceVocabulary.newVenueDays)
        // Every city of the demo is a market, in its time zone, centred within a few km of the city's centre.
        #expect(Set(c.markets.map(\.code)) == Set(MarketplaceVocabulary.cities.map(\.market)))
        for city in MarketplaceVocabulary.cities {
            let market = try #require(c.marketIndex(city.market).map { c.markets[$0] })
            #expect(market.timeZone == city.timeZone)
            let km = Geo.distanceKm(
                market.latitude,
                market.longitude,
                city.latitude,
                city.longitude,
                lonScale: Geo.kmPerDegreeLongitude(atLatitude: city.latitude)
            )
            #expect(km < 5, "\(city.market)'s centre is \(km) km from the demo's")
        }
        // Most venues first.
        let venues = c.markets.indices.map { m in c.venueCity.filter { Int($0) == m }.count }
        #expect(venues == venues.sorted(by: >))
    }

    @Test func theEmbeddedDemoRanksExactlyLikeAnEngineOnTheWrittenSnapshot() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        try Self.market.writeSnapshot(to: path)
        let loaded = try CatalogLoader.load(directory: path, referenceDay: Self.referenceDay)
        let generated = try RankingEngine.demoThroughSnapshot(seed: 7, scale: 0.02, referenceDay: Self.referenceDay)
        #expect(generated.catalog.snapshotID == "generated-demo-marketplace-seed7-scale0.02")
        let fromSnapshot = try RankingEngine.demo(catalog: loaded.catalog)
        let time = Int64(Self.referenceDay) * 86_400_000 + 18 * 3_600_000
        for user in ["u1", "u2", "u3", "u17", "u40"] {
            for surface in ["discovery"] {
                let query = RecommendQuery(
                    userID: user,
                    surface: surface,
                    context: RequestContext(requestTimeUnixMs: time, requestID: "r-\(user)"),
                    limit: 20
                )
                let deadline = DispatchTime.now() + .seconds(60)
                let a = try generated.recommendList(query, deadline: deadline, isCancelled: { false })
                let b = try fromSnapshot.recommendList(query, deadline: deadline, isCancelled: { false })
                #expect(!a.items.isEmpty)
                #expect(a.items.map(\.itemID) == b.items.map(\.itemID), "user \(user)")
                #expect(a.items.map(\.score) == b.items.map(\.score), "user \(user)")
            }
        }
    }

    @Test func aBrokenSnapshotIsRefusedWithTheValidatorsReport() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        try Self.market.writeSnapshot(to: path, snapshotID: "broken-one")
        // Flip one byte of the items: the checksum no longer matches, and maybe a record no longer decodes.
        let items = URL(fileURLWithPath: path).appendingPathComponent("item.pb")
        var bytes = try Data(contentsOf: items)
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: items)
        let refused = #expect(throws: SnapshotRefused.self) {
            try CatalogLoader.load(directory: path, referenceDay: Self.referenceDay)
        }
        #expect(refused?.snapshotID == "broken-one")
        #expect(refused?.validation?.isValid == false)
        #expect(refused?.description.contains("item.pb: checksum_mismatch") == true)
        #expect(refused?.description.contains("snapshot broken-one (schema marketplace v1)") == true)
    }

    @Test func aFolderThatIsNotASnapshotCannotBeLoaded() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(throws: UnreadableInput.self) { try CatalogLoader.load(directory: folder.path) }
    }

    @Test func exactWeeklyHoursAreServed() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap").path
        let writer = try SnapshotWriter(schema: try MarketplaceDemo.schema(), directory: path)
        let c = Self.market.catalog
        let lunchAndDinner = [
            OpenInterval(weekday: 1, openMinute: 660, closeMinute: 840),
            OpenInterval(weekday: 1, openMinute: 1020, closeMinute: 1320),
            OpenInterval(weekday: 6, openMinute: 1080, closeMinute: 1560),
        ]
        for v in 0..<c.venueCount {
            var venue = Self.market.venueRecord(v)
            if v == 0 {
                venue.attributes["opening_hours"] = .schedule(
                    WeeklySchedule(
                        timeZone: MarketplaceVocabulary.cities[Int(c.venueCity[0])].timeZone,
                        intervals: lunchAndDinner
                    )
                )
            }
            try writer.append(venue, kind: "venue")
        }
        for i in 0..<c.itemCount { try writer.append(Self.market.itemRecord(i), kind: "item") }
        for u in 0..<c.userCount { try writer.append(Self.market.userRecord(u), kind: "user") }
        try writer.finish()
        let loaded = try CatalogLoader.load(directory: path, referenceDay: Self.referenceDay)
        let catalog = loaded.catalog
        #expect(loaded.notes.contains("1 venues have different hours on different days or several intervals a day"))
        // Monday: open for lunch and dinner, not between; Saturday night until 02:00 on Sunday.
        #expect(catalog.isOpen(0, weekday: 0, minuteOfDay: 12 * 60))
        #expect(!catalog.isOpen(0, weekday: 0, minuteOfDay: 15 * 60))
        #expect(catalog.isOpen(0, weekday: 0, minuteOfDay: 18 * 60))
        #expect(catalog.isOpen(0, weekday: 6, minuteOfDay: 60))
        #expect(!catalog.isOpen(0, weekday: 2, minuteOfDay: 12 * 60))
        // Every other venue answers exactly as the generator's daily hours do.
        for v in 1..<min(c.venueCount, 50) {
            for minute in stride(from: 0, to: 1440, by: 45) {
                #expect(
                    catalog.isOpen(v, weekday: 3, minuteOfDay: minute)
                        == Self.market.catalog.isOpen(v, weekday: 3, minuteOfDay: minute)
                )
            }
        }
    }

    @Test func theLoaderFollowsASymlinkToTheSnapshotItNames() throws {
        let folder = try Self.scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("snap-1").path
        try Self.market.writeSnapshot(to: path, snapshotID: "linked")
        let link = folder.appendingPathComponent("current").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "snap-1")
        let loaded = try CatalogLoader.load(directory: link, referenceDay: Self.referenceDay)
        #expect(loaded.manifest.snapshotID == "linked")
        #expect(loaded.directory == CatalogLoader.resolve(path))
    }

    @Test(
        arguments: [
            ("one interval every day", [(1, 600, 1320), (2, 600, 1320)], (600, 1320, 0b111_1100, true)),
            ("different hours narrowed", [(1, 600, 1320), (6, 720, 1560)], (720, 1320, 0b101_1110, false)),
            ("no intervals: closed", [], (0, 0, 0x7F, true)),
        ] as [(String, [(Int, Int, Int)], (Int, Int, Int, Bool))]
    )
    func aWeeklyScheduleBecomesOneDailyInterval(
        name: String,
        intervals: [(Int, Int, Int)],
        expected: (Int, Int, Int, Bool)
    ) {
        let schedule = WeeklySchedule(
            timeZone: "Europe/Berlin",
            intervals: intervals.map { OpenInterval(weekday: $0.0, openMinute: $0.1, closeMinute: $0.2) }
        )
        let daily = MarketplaceImport.daily(schedule.intervals[...])
        #expect(Int(daily.open) == expected.0, "\(name)")
        #expect(Int(daily.close) == expected.1, "\(name)")
        #expect(Int(daily.closedDays) == expected.2, "\(name)")
        #expect(daily.exact == expected.3, "\(name)")
    }
}
