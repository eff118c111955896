import Testing

@testable import Ranking

@Suite struct DemoMarketplaceTests {
    @Test func sameSeedGivesTheSameMarketplace() {
        let a = DemoMarketplace.generate(seed: 3, scale: 0.005, referenceDay: 20_000).catalog
        let b = DemoMarketplace.generate(seed: 3, scale: 0.005, referenceDay: 20_000).catalog
        #expect(a.venueLatitude == b.venueLatitude)
        #expect(a.itemPrice == b.itemPrice)
        #expect(a.orderVenue == b.orderVenue)
        #expect(a.covisitVenue == b.covisitVenue)
        let c = DemoMarketplace.generate(seed: 4, scale: 0.005, referenceDay: 20_000).catalog
        #expect(a.venueLatitude != c.venueLatitude)
    }

    @Test func sizesFollowTheScaleAndEveryTableIsFilled() {
        let c = Fixture.catalog
        #expect(c.venueCount == 400)
        #expect(c.userCount == 4_000)
        #expect(c.itemCount > 10 * c.venueCount && c.itemCount < 30 * c.venueCount)
        #expect(c.brandCount > 0 && c.venueBrand.contains { $0 >= 0 })
        #expect(Set(c.venueCity).count == Marketplace.cities.count)
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

    @Test func ordersAreDrawnFromVenuesThatDeliverToTheUser() {
        let c = Fixture.catalog
        var checked = 0
        for u in 0..<200 {
            let lonScale = Geo.kmPerDegreeLongitude(atLatitude: c.userLatitude[u])
            for o in Int(c.userOrderStart[u])..<Int(c.userOrderStart[u + 1]) {
                let v = Int(c.orderVenue[o])
                let km = Geo.distanceKm(
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
}
