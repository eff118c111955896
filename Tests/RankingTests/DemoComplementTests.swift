import Testing

@testable import Ranking

/// The demo's item complements: what the hidden item utility wants given a cart, how it shows in generated orders,
/// and that everything venue-level (what discovery and category pages see) is the same as before complements.
@Suite struct DemoComplementTests {
    /// FNV-1a over the raw bytes of every column discovery and the category pages read (venues, users, the venue
    /// and day of each order, its first item, venue popularity, co-visitation, city lists) and the hidden venue
    /// truth. Item pairs (the second item of an order) are deliberately left out: they may change.
    static func venueLevelHash(_ market: DemoMarketplace) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        func add<T>(_ column: [T]) {
            column.withUnsafeBytes { bytes in
                for byte in bytes { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
            }
            h = (h ^ 0xFF) &* 0x100_0000_01B3
        }
        let c = market.catalog
        add(c.venueLatitude)
        add(c.venueLongitude)
        add(c.venueCity)
        add(c.venueRadiusKm)
        add(c.venueOpenMinute)
        add(c.venueCloseMinute)
        add(c.venueClosedDays)
        add(c.venueCuisine)
        add(c.venueTags)
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
        add(c.userCity)
        add(c.userAffinity)
        add(c.userEmbedding)
        add(c.userOrderStart)
        add(c.orderVenue)
        add(c.orderDay)
        add(c.orderItem)
        add(c.orderItem2.map { $0 >= 0 })
        for list in c.cityVenuesByPopularity { add(list) }
        for list in c.cityNewVenues { add(list) }
        let t = market.truth
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
        // Computed from the generator before items had complements (seed 7, scale 0.02, the fixture's day).
        #expect(Self.venueLevelHash(Fixture.market) == 8_815_782_083_463_239_646)
    }

    /// Orders with two items whose first is a main, as (first, second) pairs.
    static var mainsWithASecondItem: [(first: Int, second: Int)] {
        let c = Fixture.catalog
        return c.orderItem.indices.compactMap { o in
            let first = Int(c.orderItem[o])
            let second = Int(c.orderItem2[o])
            guard first >= 0, second >= 0, c.itemCategory[first] == 0 else { return nil }
            return (first, second)
        }
    }

    /// The venue's available items other than `item`.
    static func others(of item: Int) -> [Int] {
        let c = Fixture.catalog
        let venue = Int(c.itemVenue[item])
        return (Int(c.venueItemStart[venue])..<Int(c.venueItemStart[venue + 1])).filter {
            $0 != item && c.itemAvailable[$0]
        }
    }

    @Test func aMainsSecondItemIsRarelyAnotherMain() throws {
        let c = Fixture.catalog
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
        let c = Fixture.catalog
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
        #expect(observed > 1.5 * chance, "\(Marketplace.itemCategories[category]): \(observed), chance \(chance)")
    }

    @Test func aMainsSecondItemIsMoreOftenOfItsPairingGroupThanChance() throws {
        let c = Fixture.catalog
        let truth = Fixture.market.truth
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
        let c = Fixture.catalog
        let truth = Fixture.market.truth
        var checked = 0
        for venue in 0..<c.venueCount {
            let items = Array(Int(c.venueItemStart[venue])..<Int(c.venueItemStart[venue + 1]))
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

/// The cart evaluation: its truth is the hidden utility given the cart, and its figures are measured against it.
@Suite struct CartEvaluationTruthTests {
    @Test func cartTruthIsWhatTheHiddenUtilityWantsMostGivenTheCart() throws {
        let simulator = SessionSimulator(market: Fixture.market)
        let c = Fixture.catalog
        var checked = 0
        var completing = 0
        for session in simulator.sessions(count: 60, heldOut: true, seed: 5) {
            guard let venue = simulator.relevance(session).first?.venue,
                let (cart, truth) = simulator.cartTruth(session, venue: venue)
            else { continue }
            // The same noise the truth was drawn with: the session's mood for each item.
            var rng = SplitMix64(seed: StableHash.hash("cart", String(session.id), String(session.user)))
            let noisy = simulator.noisyItems(session, venue: venue, rng: &rng)
            let utility = Dictionary(
                uniqueKeysWithValues: noisy.map {
                    ($0.item, $0.utility + Fixture.market.truth.complement(catalog: c, item: $0.item, cart: cart))
                }
            )
            let graded = Set(truth.map(\.venue))
            let worstGraded = truth.map { utility[$0.venue]! }.min()!
            for (item, u) in utility where !graded.contains(item) && !cart.contains(item) {
                #expect(u <= worstGraded)
            }
            #expect(truth.map(\.grade) == [2, 1, 1])
            let added = truth[0].venue
            if !cart.contains(where: { c.itemCategory[$0] == c.itemCategory[added] }) { completing += 1 }
            checked += 1
        }
        try #require(checked > 10)
        // What is added is mostly a course the cart does not have yet.
        #expect(Double(completing) > 0.7 * Double(checked), "\(completing) of \(checked)")
    }

    @Test func theCartReportsFiguresAreMeasuredAgainstTheTruth() throws {
        let simulator = SessionSimulator(market: Fixture.market)
        let report = try simulator.evaluate(engine: Fixture.engine, surface: "cart", sessions: 40, seed: 3)
        var baseline = 0.0
        var ceiling = 0.0
        var cases = 0
        for session in simulator.sessions(count: 40, heldOut: true, seed: 3) {
            guard let evaluation = simulator.evaluationCase(session, task: .cart, surface: "cart") else { continue }
            baseline += Metrics.ndcg(evaluation.baseline, relevance: evaluation.truth, k: 10)
            ceiling += Metrics.ndcg(evaluation.ceiling, relevance: evaluation.truth, k: 10)
            cases += 1
        }
        try #require(cases > 0)
        #expect(report.sessions == cases)
        #expect(abs(report.rows[0].ndcg10 - baseline / Double(cases)) < 1e-12)
        #expect(abs(report.rows[2].ndcg10 - ceiling / Double(cases)) < 1e-12)
        // A ranker that answers the truth in its order scores 1.
        let perfect = try #require(
            simulator.sessions(count: 40, heldOut: true, seed: 3).lazy.compactMap {
                simulator.evaluationCase($0, task: .cart, surface: "cart")
            }.first
        )
        #expect(Metrics.ndcg(perfect.truth.map(\.venue), relevance: perfect.truth, k: 10) == 1)
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
