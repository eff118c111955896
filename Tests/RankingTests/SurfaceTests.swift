import Dispatch
import Testing

@testable import Ranking

/// The category and cart surfaces: their inputs, what they answer, the bought-together index and source, and the
/// configuration checks behind them.
@Suite struct SurfaceInputTests {
    static let engine = Fixture.engine

    /// A deadline no busy test machine reaches, so no stage is skipped for lack of time (these tests count answers).
    static func list(_ query: RecommendQuery) throws -> RankResult {
        try engine.recommendList(query, deadline: .now() + .seconds(600), isCancelled: Fixture.never)
    }

    static func category(_ name: String, user: Int = Fixture.berlinUser(), limit: Int = 50) -> RecommendQuery {
        RecommendQuery(
            userID: Catalog.userID(user),
            surface: "category",
            context: RequestContext(requestTimeUnixMs: Fixture.time(hour: 19), requestID: "c1"),
            limit: limit,
            category: name
        )
    }

    static func cart(_ items: [String], user: Int = Fixture.berlinUser(), venueID: String = "") -> RecommendQuery {
        RecommendQuery(
            userID: Catalog.userID(user),
            surface: "cart",
            context: RequestContext(requestTimeUnixMs: Fixture.time(hour: 19), requestID: "k1"),
            limit: 50,
            venueID: venueID,
            contextItemIDs: items
        )
    }

    /// A venue the Berlin user can order from at 19:00, and the ids of its available items.
    static func orderableVenue() throws -> (venue: Int, items: [String]) {
        let discovery = try list(Fixture.discovery(user: Fixture.berlinUser(), limit: 50))
        let c = Fixture.catalog
        for entry in discovery.items {
            let v = try #require(c.venueIndex(entry.itemID))
            let items = (Int(c.venueItemStart[v])..<Int(c.venueItemStart[v + 1])).filter { c.itemAvailable[$0] }
            if items.count >= 8 { return (v, items.map { c.itemID($0) }) }
        }
        throw RankingError.notFound("no orderable venue with eight available items in the fixture")
    }

    // MARK: category

    @Test func theCategorySurfaceAnswersOnlyVenuesTaggedWithTheCategory() throws {
        let c = Fixture.catalog
        var answered = 0
        for (cuisine, name) in c.cuisines.enumerated() {
            for user in [Fixture.berlinUser(), Fixture.berlinUser(minOrders: 8)] {
                let result = try Self.list(Self.category(name, user: user))
                for entry in result.items {
                    let v = try #require(c.venueIndex(entry.itemID))
                    #expect(c.venueTags[v] & (UInt64(1) << UInt64(cuisine)) != 0, "\(entry.itemID) is not \(name)")
                }
                answered += result.items.count
            }
        }
        #expect(answered > 0, "some category page should have venues in the fixture")
    }

    @Test func theCategorySurfaceSendsItsSectionsWithoutRepeats() throws {
        let result = try Self.list(Self.category("pizza"))
        var sections: [RecommendSection] = []
        try Self.engine.recommend(Self.category("pizza"), deadline: .now() + .seconds(600), isCancelled: Fixture.never)
        {
            sections.append($0)
        }
        let ids = sections.flatMap { $0.items.map(\.itemID) }
        #expect(Set(ids).count == ids.count)
        #expect(Set(ids).isSubset(of: Set(result.items.map(\.itemID))))
    }

    @Test func aMissingCategoryIsInvalidAndNamesTheValidOnes() {
        #expect(
            throws: RankingError.invalidArgument(
                "category is required for surface category; one of: "
                    + Fixture.catalog.cuisines.joined(separator: ", ")
            )
        ) {
            try Self.list(Self.category(""))
        }
    }

    @Test(arguments: ["sushis", "Sushi", String(repeating: "x", count: 10_000)])
    func anUnknownCategoryIsInvalidAndNamesTheValidOnes(name: String) throws {
        let error = try #require(throws: RankingError.self) { try Self.list(Self.category(name)) }
        guard case .invalidArgument(let message) = error else {
            Issue.record("expected invalidArgument, got \(error)")
            return
        }
        #expect(message.hasPrefix("unknown category"))
        #expect(message.contains("sushi, indian"))
        #expect(message.utf8.count < 400, "a long category is cut short in the message")
    }

    @Test func aCategoryOnASurfaceWithoutOneIsInvalidAndPointsToTheSurfacesThatTakeIt() {
        var query = Fixture.discovery(user: 1)
        query.category = "sushi"
        #expect(
            throws: RankingError.invalidArgument("surface discovery takes no category (surfaces that do: category)")
        ) {
            try Self.list(query)
        }
    }

    // MARK: cart

    @Test func theCartSurfaceAnswersAvailableItemsOfTheCartsVenueAndNothingInTheCart() throws {
        let (venue, items) = try Self.orderableVenue()
        let c = Fixture.catalog
        for cart in [[items[0]], [items[1], items[2]], [items[3], items[3]]] {
            let result = try Self.list(Self.cart(cart))
            #expect(!result.items.isEmpty)
            for entry in result.items {
                let item = try #require(c.itemIndex(entry.itemID))
                #expect(!cart.contains(entry.itemID), "\(entry.itemID) is already in the cart")
                #expect(c.itemAvailable[item])
                #expect(Int(c.itemVenue[item]) == venue)
                #expect(entry.venueID == c.venueID(venue))
            }
            #expect(result.items.count == items.count - Set(cart).count)
        }
    }

    @Test func theCartsFirstSectionHoldsItemsBoughtTogetherWithTheCart() throws {
        let c = Fixture.catalog
        let pairs = ItemPairs(catalog: c)
        // An item ordered together with another, at a venue the user can order from now.
        let (venue, _) = try Self.orderableVenue()
        let range = Int(c.venueItemStart[venue])..<Int(c.venueItemStart[venue + 1])
        let withPartners = range.filter { item in
            pairs.partners(of: item).contains { c.itemAvailable[Int(pairs.partner[$0])] }
        }
        let item = try #require(withPartners.first, "the venue's orders should pair some items")
        var sections: [RecommendSection] = []
        try Self.engine.recommend(
            Self.cart([c.itemID(item)]),
            deadline: .now() + .seconds(600),
            isCancelled: Fixture.never
        ) {
            sections.append($0)
        }
        let first = try #require(sections.first)
        #expect(first.key == "goes_with")
        let partners = Set(pairs.partners(of: item).map { c.itemID(Int(pairs.partner[$0])) })
        #expect(!first.items.isEmpty)
        #expect(first.items.allSatisfy { partners.contains($0.itemID) })
    }

    @Test func anEmptyCartIsInvalid() {
        #expect(
            throws: RankingError.invalidArgument(
                "context_item_ids is required for surface cart: the items already chosen (at least one)"
            )
        ) {
            try Self.list(Self.cart([]))
        }
    }

    @Test func cartItemsTheCatalogDoesNotHaveAreInvalidAndNamed() {
        #expect(
            throws: RankingError.invalidArgument(
                "context_item_ids: 2 of 3 are not items of the catalog: \"i99999999\", \"v1\""
            )
        ) {
            try Self.list(Self.cart(["i1", "i99999999", "v1"]))
        }
    }

    @Test func moreContextItemsThanTheBoundAreInvalid() {
        let many = (0...RecommendQuery.maxContextItems).map { _ in "i1" }
        #expect(
            throws: RankingError.invalidArgument(
                "101 context_item_ids is more than the 100 a request may send"
            )
        ) {
            try Self.list(Self.cart(many))
        }
        // At the bound, repeats of one item are one cart item.
        #expect(throws: Never.self) { try Self.list(Self.cart(Array(many.dropLast()))) }
    }

    @Test func aCartOfSeveralVenuesIsInvalidAndNamesThem() {
        let c = Fixture.catalog
        let first = c.itemID(Int(c.venueItemStart[0]))
        let second = c.itemID(Int(c.venueItemStart[1]))
        #expect(
            throws: RankingError.invalidArgument(
                "context_item_ids come from 2 venues (\"v1\", \"v2\"); surface cart ranks within one venue, so they "
                    + "must all be one venue's items"
            )
        ) {
            try Self.list(Self.cart([first, second]))
        }
    }

    @Test func aVenueIDThatIsNotTheCartsVenueIsInvalid() throws {
        let c = Fixture.catalog
        let item = c.itemID(Int(c.venueItemStart[0]))
        #expect(throws: RankingError.invalidArgument("venue_id \"v2\" is not the venue of context_item_ids (v1)")) {
            try Self.list(Self.cart([item], venueID: "v2"))
        }
        #expect(throws: Never.self) { try Self.list(Self.cart([item], venueID: "v1")) }
    }

    @Test func contextItemsOnASurfaceWithoutThemAreInvalid() {
        var query = Fixture.discovery(user: 1)
        query.contextItemIDs = ["i1"]
        #expect(
            throws: RankingError.invalidArgument("surface discovery takes no context_item_ids (surfaces that do: cart)")
        ) {
            try Self.list(query)
        }
    }

    @Test func rankIgnoresTheRecommendInputsOfItsSurface() throws {
        // Rank ranks the caller's candidates: the cart surface needs no cart there.
        let c = Fixture.catalog
        let items = (0..<5).map { CandidateInput(itemID: c.itemID($0)) }
        let result = try Self.engine.rank(
            RankQuery(userID: "u1", surface: "cart", candidates: items),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        #expect(result.candidateCount == 5)
    }
}

@Suite struct ItemPairsTests {
    @Test func everyPairOfAnOrderIsCountedBothWaysMostFrequentFirst() throws {
        let c = Fixture.catalog
        let pairs = ItemPairs(catalog: c)
        var checked = 0
        for o in c.orderItem.indices where c.orderItem[o] >= 0 && c.orderItem2[o] >= 0 && checked < 200 {
            let a = Int(c.orderItem[o])
            let b = Int(c.orderItem2[o])
            guard a != b else { continue }
            let ofA = pairs.partners(of: a).map { pairs.partner[$0] }
            let ofB = pairs.partners(of: b).map { pairs.partner[$0] }
            // Only the ten most frequent partners are kept; in the small fixture that is every one.
            #expect(ofA.contains(Int32(b)) || ofA.count == ItemPairs.partnersPerItem)
            #expect(ofB.contains(Int32(a)) || ofB.count == ItemPairs.partnersPerItem)
            let counts = pairs.partners(of: a).map { pairs.count[$0] }
            #expect(counts == counts.sorted(by: >))
            #expect(ofA.allSatisfy { c.itemVenue[Int($0)] == c.itemVenue[a] }, "an order holds one venue's items")
            checked += 1
        }
        #expect(checked > 20)
        #expect(pairs.start.count == c.itemCount + 1)
    }

    @Test func theSourceSumsPartnersOverTheCartAndSkipsTheCartAndUnavailableItems() throws {
        let c = Fixture.catalog
        let pairs = ItemPairs(catalog: c)
        let item = try #require((0..<c.itemCount).first { pairs.partners(of: $0).count >= 2 })
        var request = Fixture.request(user: nil)
        request.itemPairs = pairs
        let partner = Int32(pairs.partner[pairs.partners(of: item).lowerBound])
        request.contextItems = [Int32(item), partner].sorted()
        var out: [Int32] = []
        try BoughtTogetherSource().generate(request, quota: 50, deadline: .distantFuture, into: &out)
        #expect(!out.contains(Int32(item)) && !out.contains(partner))
        #expect(out.allSatisfy { c.itemAvailable[Int($0)] })
        #expect(Set(out).count == out.count)
        let expected = Set(
            (pairs.partners(of: item).map { pairs.partner[$0] }
                + pairs.partners(of: Int(partner)).map { pairs.partner[$0] })
                .filter { $0 != Int32(item) && $0 != partner && c.itemAvailable[Int($0)] }
        )
        #expect(Set(out) == expected)
        var limited: [Int32] = []
        try BoughtTogetherSource().generate(request, quota: 1, deadline: .distantFuture, into: &limited)
        #expect(limited.count == min(1, expected.count))
        request.contextItems = []
        var none: [Int32] = []
        try BoughtTogetherSource().generate(request, quota: 50, deadline: .distantFuture, into: &none)
        #expect(none.isEmpty)
    }

    @Test func theIndexIsBuiltOnlyWhenASurfaceReadsIt() throws {
        let with = try Fixture.engine(adjust: { _ in })
        #expect(with.current.itemPairs != nil)
        let without = try Fixture.engine { config in
            config.surfaces["cart"]?.sources.removeAll { $0.name == "bought_together" }
            config.surfaces["cart"]?.sections.removeAll { $0.source == "bought_together" }
        }
        #expect(without.current.itemPairs == nil)
    }
}

@Suite struct SurfaceScopeTests {
    @Test func venueSourcesFindOnlyVenuesOfTheRequestsCategory() throws {
        let c = Fixture.catalog
        var request = Fixture.request(user: Fixture.berlinUser())
        let tag = UInt64(1) << 0  // pizza, the most common cuisine
        request.categoryTags = tag
        for name in BuiltinSources.names(kind: .venues) {
            let source = try #require(BuiltinSources.named(name, kind: .venues))
            var out: [Int32] = []
            try source.generate(request, quota: 500, deadline: .distantFuture, into: &out)
            #expect(out.allSatisfy { c.venueTags[Int($0)] & tag != 0 }, "source \(name) answered another cuisine")
        }
    }

    @Test func theFilterDropsVenuesOutsideTheCategoryWithItsReason() throws {
        let c = Fixture.catalog
        var request = Fixture.request(user: Fixture.berlinUser())
        request.categoryTags = UInt64(1) << 0
        let outside = try #require((0..<c.venueCount).first { c.venueTags[$0] & 1 == 0 })
        #expect(Reranker.unorderableReason(kind: .venues, index: Int32(outside), request: request) == .outsideCategory)
        request.categoryTags = 0
        #expect(Reranker.unorderableReason(kind: .venues, index: Int32(outside), request: request) != .outsideCategory)
    }
}

@Suite struct SurfaceConfigurationTests {
    @Test func inputsThatDoNotFitTheSurfaceKindAreProblems() throws {
        var config = try RankingEngine.embeddedConfig()
        config.surfaces["venue_items"]?.requires = [.category]
        config.surfaces["discovery"]?.requires = [.contextItems]
        let problems = config.problems().map(\.description)
        #expect(
            problems.contains("surfaces.venue_items.requires.0: input category is for venues surfaces, not venue_items")
        )
        #expect(
            problems.contains(
                "surfaces.venue_items.requires: an item surface needs venue or context_items to know which venue it "
                    + "ranks in"
            )
        )
        #expect(
            problems.contains(
                "surfaces.discovery.requires.0: input context_items is for venue_items surfaces, not venues"
            )
        )
    }

    @Test func theEmbeddedSurfacesDeclareTheirInputs() throws {
        let config = try RankingEngine.embeddedConfig()
        #expect(config.problems().isEmpty)
        #expect(config.surfaces["discovery"]?.inputs == [])
        #expect(config.surfaces["venue_items"]?.inputs == [.venue])
        #expect(config.surfaces["category"]?.inputs == [.category])
        #expect(config.surfaces["cart"]?.inputs == [.contextItems])
        #expect(config.surfaces["cart"]?.rerank.excludeContextItems == true)
    }

    @Test func aNewSurfaceIsConfigurationOnly() throws {
        // A "cuisine near you" page for Rank-free use: any venue surface that requires a category scopes to it.
        let engine = try Fixture.engine { config in
            var page = config.surfaces["discovery"]!
            page.experiment = nil
            page.requires = [.category]
            config.surfaces["thai_tonight"] = page
        }
        var query = SurfaceInputTests.category("thai")
        query.surface = "thai_tonight"
        let result = try engine.recommendList(query, deadline: .now() + .seconds(600), isCancelled: Fixture.never)
        let c = Fixture.catalog
        #expect(result.items.allSatisfy { c.venueTags[c.venueIndex($0.itemID)!] & (1 << 5) != 0 })
    }
}
