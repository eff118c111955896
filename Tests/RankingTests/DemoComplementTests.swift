import Testing

@testable import DemoDomains
@testable import Ranking

/// The demo's item complements left everything venue-level (what discovery and the category pages see, in the
/// catalog the engine loads from the demo's snapshot) as it was before complements.
@Suite struct DemoComplementTests {
    /// FNV-1a over the raw bytes of every column discovery and the category pages read (venues, users, the venue
    /// and day of each order, its first item, venue popularity, co-visitation, city lists) and the hidden venue
    /// truth. Item pairs (the second item of an order) are deliberately left out: they may change.
    static func venueLevelHash(_ c: Catalog, truth t: MarketplaceTruth) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func add<T>(_ column: [T]) {
            column.withUnsafeBytes { bytes in
                for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
            }
            h = (h ^ 0xFF) &* 0x100_0000_01B3
        }
        // Markets and tags as the generator numbered them when the hash was taken: the demo's city order, one byte
        // per city code and 32 tag bits. The loader numbers markets by venue count since then.
        let demoCity = c.markets.map { market in
            UInt8(MarketplaceVocabulary.cities.firstIndex { $0.market == market.code }!)
        }
        let byDemoCity = (0..<MarketplaceVocabulary.cities.count).map { city in
            c.markets.indices.first { demoCity[$0] == UInt8(city) }!
        }
        add(c.venueLatitude)
        add(c.venueLongitude)
        add(c.venueCity.map { demoCity[Int($0)] })
        add(c.venueRadiusKm)
        add(c.venueOpenMinute)
        add(c.venueCloseMinute)
        add(c.venueClosedDays)
        add(c.venueCuisine)
        add(c.venueTags.map { UInt32($0) })
        add(c.venueBrand)
        add(c.venuePriceLevel)
        add(c.venueRating)
        add(c.venuePrepMinutes)
        add(c.venueAvailable)
        add(c.venueCreatedDay)
        add(c.venuePopularity)
        add(c.venueImpressions)
        add(c.venueClicks)
        add(c.venueEmbedding)
        add(c.venueItemStart)
        add(c.covisitStart)
        add(c.covisitVenue)
        add(c.covisitWeight)
        add(c.itemVenue)
        add(c.itemCategory)
        add(c.itemPrice)
        add(c.itemAvailable)
        add(c.userLatitude)
        add(c.userLongitude)
        add(c.userCity.map { demoCity[Int($0)] })
        add(c.userAffinity)
        add(c.userEmbedding)
        add(c.userOrderStart)
        add(c.orderVenue)
        add(c.orderDay)
        add(c.orderItem)
        add(c.orderItem2.map { $0 >= 0 })
        for m in byDemoCity { add(c.cityVenuesByPopularity[m]) }
        for m in byDemoCity { add(c.cityNewVenues[m]) }
        add(t.venueQuality)
        add(t.venueLatent)
        add(t.itemQuality)
        add(t.userTaste)
        add(t.userTrueAffinity)
        add(t.userPricePreference)
        add(t.cuisineCentroids)
        return h
    }

    @Test func venueLevelDataIsTheSameAsBeforeComplements() {
        // Computed from the generator before items had complements (seed 7, scale 0.02, the fixture's day), when the
        // generator still built the engine's catalog itself: the loaded snapshot gives the same bytes.
        #expect(Self.venueLevelHash(Fixture.catalog, truth: Fixture.market.truth) == 8_815_782_083_463_239_646)
    }
}

/// The cart features the cart model reads: computed from the request's cart and the bought-together index.
@Suite struct CartFeatureTests {
    @Test func cartFeaturesCountTheCartsCategoriesAndItsPairs() throws {
        let c = Fixture.catalog
        let pairs = ItemPairs(catalog: c)
        let (venue, items) = try SurfaceInputTests.orderableVenue()
        let range = Int(c.venueItemStart[venue])..<Int(c.venueItemStart[venue + 1])
        let paired = try #require(range.first { !pairs.partners(of: $0).isEmpty })
        let cart = [paired] + [try #require(items.compactMap { c.itemIndex($0) }.first { $0 != paired })]
        var query = SurfaceInputTests.cart(cart.map { c.itemID($0) })
        query.explain = true
        let result = try SurfaceInputTests.list(query)
        try #require(!result.items.isEmpty)
        var sawPair = false
        for entry in result.items {
            let item = try #require(c.itemIndex(entry.itemID))
            let features = Dictionary(uniqueKeysWithValues: entry.features)
            var together: Float = 0
            for member in cart {
                for k in pairs.partners(of: member) where Int(pairs.partner[k]) == item { together += pairs.count[k] }
            }
            #expect(features["cart_size"] == 2)
            #expect(
                features["cart_same_category"]
                    == Double(cart.filter { c.itemCategory[$0] == c.itemCategory[item] }.count)
            )
            #expect(features["cart_has_main"] == (cart.contains { c.itemCategory[$0] == 0 } ? 1 : 0))
            #expect(features["cart_pair_count"] == Double(together))
            if together > 0 { sawPair = true }
        }
        #expect(sawPair, "some answer should have been ordered with the cart")
        // Without a cart (the menu), the join writes zero for every cart feature.
        let frame = RequestFrame(
            catalog: c,
            userIndex: Fixture.berlinUser(),
            latitude: c.venueLatitude[venue],
            longitude: c.venueLongitude[venue],
            timeUnixMs: Fixture.time(hour: 19),
            venueIndex: venue
        )
        let names = FeatureJoiner.itemFeatures
        let candidates = range.map { Int32($0) }
        var rows = [Double](repeating: .nan, count: candidates.count * names.count)
        rows.withUnsafeMutableBufferPointer {
            FeatureJoiner.join(kind: .venueItems, catalog: c, frame: frame, candidates: candidates, into: $0)
        }
        for (j, name) in names.enumerated() where name.hasPrefix("cart_") {
            #expect(candidates.indices.allSatisfy { rows[$0 * names.count + j] == 0 }, "\(name)")
        }
    }
}
