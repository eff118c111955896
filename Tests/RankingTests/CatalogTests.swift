import Testing

@testable import Ranking

/// The fixture's catalog as the engine holds it after loading the demo snapshot.
@Suite struct CatalogTests {
    @Test func sizesFollowTheScaleAndEveryTableIsFilled() {
        let c = Fixture.catalog
        #expect(c.venueCount == 400)
        #expect(c.userCount == 4_000)
        #expect(c.itemCount > 10 * c.venueCount && c.itemCount < 30 * c.venueCount)
        #expect(c.brandCount > 0 && c.venueBrand.contains { $0 >= 0 })
        #expect(Set(c.venueCity).count == c.markets.count && c.markets.count == 8)
        #expect(c.orderVenue.count > c.userCount)
        #expect(c.venueItemStart.last == Int32(c.itemCount))
        #expect(c.memoryReport.hasPrefix("catalog: "))
        #expect(c.memoryBytes > 0)
    }

    @Test(
        arguments: [
            ("v1", 0), ("v400", 399), ("v401", nil), ("v0", nil), ("v01", nil), ("u1", nil), ("v", nil),
            ("v1x", nil), ("", nil),
        ] as [(String, Int?)]
    )
    func venueIDsParseOnlyWhenWellFormedAndInRange(id: String, index: Int?) {
        #expect(Fixture.catalog.venueIndex(id) == index)
    }

    @Test func idsRoundTrip() {
        let c = Fixture.catalog
        #expect(c.userIndex(Catalog.userID(123)) == 123)
        #expect(c.itemIndex(Catalog.itemID(c.itemCount - 1)) == c.itemCount - 1)
    }
}
