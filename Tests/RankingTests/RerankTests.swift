import DemoDomains
import Dispatch
import Testing

@testable import Ranking

@Suite struct RerankTests {
    /// Users across cities and hours, including late night when many venues are closed.
    static let cases: [(Int, Int)] = [(0, 19), (1, 12), (2, 23), (3, 9), (5, 1), (8, 21), (13, 18), (21, 0)]

    @Test(arguments: cases)
    func nothingClosedOutOfRangeUnavailableOrExcludedIsEverReturned(user: Int, hour: Int) throws {
        let c = Fixture.catalog
        let excluded = [Catalog.venueID(0), Catalog.venueID(1), Catalog.venueID(2)]
        let context = RequestContext(requestTimeUnixMs: Fixture.time(hour: hour), requestID: "leak")
        let request = Fixture.request(user: user, hour: hour)
        var returned: [String] = []
        // Rank of every venue: the caller's list includes closed and far away venues.
        let ranked = try Fixture.engine.rank(
            RankQuery(
                userID: Catalog.userID(user),
                surface: "discovery",
                context: context,
                candidates: Fixture.allVenues,
                limit: 200,
                excludeItemIDs: excluded
            ),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        returned += ranked.items.map(\.itemID)
        for section in try Fixture.sections(
            Fixture.engine,
            RecommendQuery(
                userID: Catalog.userID(user),
                surface: "discovery",
                context: context,
                limit: 50,
                excludeItemIDs: excluded
            )
        ) {
            returned += section.items.map(\.itemID)
        }
        for id in returned {
            let v = try #require(c.venueIndex(id))
            #expect(request.isOrderable(v), "\(id) cannot be ordered at \(hour):00")
            #expect(!excluded.contains(id))
        }
        let orderable = (0..<c.venueCount).filter { request.isOrderable($0) && !excluded.contains(Catalog.venueID($0)) }
        #expect(ranked.items.count == min(orderable.count, 200))
        // Every candidate the filters removed is counted under the reason that removed it.
        var expected: [DropReason: Int] = [:]
        for v in 0..<c.venueCount {
            #expect((request.unorderableReason(v) == nil) == request.isOrderable(v))
            if excluded.contains(Catalog.venueID(v)) {
                expected[.excluded, default: 0] += 1
            } else if let reason = request.unorderableReason(v) {
                expected[reason, default: 0] += 1
            }
        }
        #expect(Dictionary(uniqueKeysWithValues: ranked.dropped.map { ($0.reason, $0.count) }) == expected)
        #expect(ranked.dropped.map(\.reason) == DropReason.allCases.filter { expected[$0] != nil })
        // The served order keeps the configured brand cap too: within the capped window a chain's venue beyond
        // the cap may only appear when nothing else is left to show, i.e. after every venue within its cap.
        let rerank = try RankingEngine.embeddedConfig().surfaces["discovery"]!.rerank
        var perBrand: [Int32: Int] = [:]
        var overCapSeen = false
        for entry in ranked.items.prefix(rerank.brandCapWindow) {
            let brand = c.venueBrand[c.venueIndex(entry.itemID)!]
            if brand >= 0 { perBrand[brand, default: 0] += 1 }
            let overCap = brand >= 0 && perBrand[brand]! > rerank.brandCap
            #expect(!overCapSeen || overCap, "\(entry.itemID) follows a venue placed over its brand cap")
            overCapSeen = overCapSeen || overCap
        }
    }

    @Test func atMostKVenuesOfOneBrandInTheCappedWindow() throws {
        let c = Fixture.catalog
        // A user with at least four orderable venues of one chain, and that chain made the model's favourite.
        var pick: (user: Int, brand: Int32)?
        for user in 0..<c.userCount where pick == nil {
            let request = Fixture.request(user: user)
            var counts: [Int32: Int] = [:]
            for v in 0..<c.venueCount where c.venueBrand[v] >= 0 && request.isOrderable(v) {
                counts[c.venueBrand[v], default: 0] += 1
            }
            if let best = counts.max(by: { $0.value < $1.value }), best.value >= 4 { pick = (user, best.key) }
        }
        let (user, brand) = try #require(pick, "the fixture needs a chain with four venues delivering somewhere")
        let request = Fixture.request(user: user)
        let candidates = (0..<c.venueCount).map(Int32.init)
        // The chain's venues score highest, so only the cap can keep them out of the top.
        let scores = candidates.map { c.venueBrand[Int($0)] == brand ? 10 + Double($0 % 5) : Double($0 % 7) }
        func window(brandCap: Int) -> [String] {
            let config = RerankConfig(
                brandCap: brandCap,
                brandCapWindow: 10,
                diversityPenalty: 0.15,
                diversityWindow: 20,
                explorationPolicy: "none",
                explorationSlot: 0,
                epsilon: 0,
                cuisineBoosts: [:],
                pins: [:],
                buries: []
            )
            let output = Reranker(config: config, kind: .venues).rerank(
                candidates: candidates,
                scores: scores,
                fullyScored: [Bool](repeating: true, count: candidates.count),
                request: request,
                excluded: [],
                explorationSeed: 1,
                pinned: [],
                buried: []
            )
            return output.order.prefix(10).map { Catalog.venueID(Int(candidates[$0])) }
        }
        func chainCount(_ ids: [String]) -> Int { ids.filter { c.venueBrand[c.venueIndex($0)!] == brand }.count }
        // Without a cap the chain crowds the top ten; with a cap of 2 it keeps exactly two places there.
        #expect(chainCount(window(brandCap: 0)) >= 4)
        let capped = window(brandCap: 2)
        #expect(chainCount(capped) == 2)
        var perBrand: [Int32: Int] = [:]
        for id in capped where c.venueBrand[c.venueIndex(id)!] >= 0 {
            perBrand[c.venueBrand[c.venueIndex(id)!], default: 0] += 1
        }
        #expect(perBrand.values.allSatisfy { $0 <= 2 })
    }

    @Test func reportedScoresFollowTheFinalOrder() throws {
        let list = try Fixture.engine.recommendList(
            Fixture.discovery(user: Fixture.berlinUser(), limit: 100),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        let scores = list.items.map(\.score)
        #expect(scores == scores.sorted(by: >))
    }

    @Test func explorationIsReproducibleForTheSameRequestID() throws {
        let user = Fixture.berlinUser()
        func order(_ id: String) throws -> [String] {
            try Fixture.engine.recommendList(
                Fixture.discovery(user: user, requestID: id, limit: 30),
                deadline: Fixture.unhurried,
                isCancelled: Fixture.never
            ).items.map(\.itemID)
        }
        #expect(try order("req-7") == order("req-7"))
        #expect(try order("req-8") == order("req-8"))
    }

    @Test func theExplorationSlotHoldsANewVenueChosenBySeededSampling() throws {
        let c = Fixture.catalog
        func newVenues(_ request: CandidateRequest) -> [Int] {
            (0..<c.venueCount).filter {
                request.isOrderable($0) && Int(c.venueCreatedDay[$0]) > request.day - Catalog.newVenueDays
            }
        }
        // A user with at least two new venues delivering home.
        let user = try #require((0..<c.userCount).first { newVenues(Fixture.request(user: $0)).count >= 2 })
        let request = Fixture.request(user: user)
        let newVenues = newVenues(request)
        let config = RerankConfig(
            brandCap: 0,
            brandCapWindow: 0,
            diversityPenalty: 0,
            diversityWindow: 0,
            explorationPolicy: "thompson",
            explorationSlot: 2,
            epsilon: 0,
            cuisineBoosts: [:],
            pins: [:],
            buries: []
        )
        let candidates = (0..<c.venueCount).map(Int32.init)
        // New venues score lowest, so only exploration can lift one into the slot.
        let scores = candidates.map { Int(c.venueCreatedDay[Int($0)]) > request.day - 30 ? -10.0 : Double($0 % 17) }
        let full = [Bool](repeating: true, count: candidates.count)
        let reranker = Reranker(config: config, kind: .venues)
        var chosen = Set<Int32>()
        // Until two seeds explore different venues: the likelier of the fixture's new venues wins most draws (about
        // 92% today), so a fixed handful of seeds could all pick it.
        for seed in 0..<400 as Range<UInt64> where chosen.count < 2 {
            let a = reranker.rerank(
                candidates: candidates,
                scores: scores,
                fullyScored: full,
                request: request,
                excluded: [],
                explorationSeed: seed,
                pinned: [],
                buried: []
            )
            let b = reranker.rerank(
                candidates: candidates,
                scores: scores,
                fullyScored: full,
                request: request,
                excluded: [],
                explorationSeed: seed,
                pinned: [],
                buried: []
            )
            #expect(a.order == b.order)
            let slot = candidates[a.order[2]]
            #expect(newVenues.contains(Int(slot)))
            chosen.insert(slot)
        }
        // Sampling, not a fixed pick: different seeds explore different venues.
        #expect(chosen.count > 1)
    }

    @Test func pinsAndBuriesFromConfigurationAreApplied() throws {
        let user = Fixture.berlinUser()
        let base = try Fixture.engine.recommendList(
            Fixture.discovery(user: user, limit: 30),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        ).items.map(\.itemID)
        try #require(base.count >= 10)
        let pinned = base[9]
        let buried = base[0]
        let engine = try Fixture.engine { config in
            config.surfaces["discovery"]!.experiment = nil
            config.surfaces["discovery"]!.rerank.pins = [pinned: 0]
            config.surfaces["discovery"]!.rerank.buries = [buried]
        }
        let items = try engine.recommendList(
            Fixture.discovery(user: user, limit: 30),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        ).items.map(\.itemID)
        #expect(items.first == pinned)
        #expect(items.firstIndex(of: buried).map { $0 > 5 } ?? true)
    }
}

@Suite struct RerankConfigurationTests {
    @Test func aCuisineBoostLiftsThatCuisine() throws {
        let c = Fixture.catalog
        let user = Fixture.berlinUser()
        func top(_ boosts: [String: Double], _ limit: Int) throws -> [String] {
            let engine = try Fixture.engine { config in
                config.surfaces["discovery"]!.experiment = nil
                config.surfaces["discovery"]!.rerank.cuisineBoosts = boosts
            }
            return try engine.recommendList(
                Fixture.discovery(user: user, limit: limit),
                deadline: Fixture.unhurried,
                isCancelled: Fixture.never
            ).items.map(\.itemID)
        }
        func cuisine(_ id: String) -> String { c.cuisines[Int(c.venueCuisine[c.venueIndex(id)!])] }
        let plain = try top([:], 50)
        try #require(plain.count > 12)
        // A cuisine that only shows up low in the plain ranking.
        let target = cuisine(plain.last!)
        let before = plain.prefix(5).filter { cuisine($0) == target }.count
        let after = try top([target: 5], 5).filter { cuisine($0) == target }.count
        #expect(after > before)
    }

    @Test func epsilonGreedyIsReproducibleForTheSameRequest() throws {
        let engine = try Fixture.engine { config in
            config.surfaces["discovery"]!.experiment = nil
            config.surfaces["discovery"]!.rerank.explorationPolicy = "epsilon"
            config.surfaces["discovery"]!.rerank.epsilon = 0.5
        }
        for id in ["a", "b", "c", "d"] {
            let query = Fixture.discovery(user: Fixture.berlinUser(), requestID: id)
            let first = try engine.recommendList(query, deadline: Fixture.unhurried, isCancelled: Fixture.never).items
                .map(\.itemID)
            let second = try engine.recommendList(query, deadline: Fixture.unhurried, isCancelled: Fixture.never).items
                .map(\.itemID)
            #expect(first == second)
        }
    }

    @Test func unavailableMenuItemsAreNeverReturned() throws {
        let c = Fixture.catalog
        let request = Fixture.request(user: Fixture.berlinUser())
        let venue = try #require(
            (0..<c.venueCount).first { v in
                request.isOrderable(v)
                    && (Int(c.venueItemStart[v])..<Int(c.venueItemStart[v + 1])).contains { !c.itemAvailable[$0] }
            }
        )
        let menu = (Int(c.venueItemStart[venue])..<Int(c.venueItemStart[venue + 1])).map {
            CandidateInput(itemID: Catalog.itemID($0))
        }
        let result = try Fixture.engine.rank(
            RankQuery(
                userID: Catalog.userID(Fixture.berlinUser()),
                surface: "venue_items",
                context: RequestContext(requestTimeUnixMs: Fixture.time(hour: 19)),
                candidates: menu,
                limit: 100
            ),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        #expect(!result.items.isEmpty)
        #expect(result.items.allSatisfy { c.itemAvailable[c.itemIndex($0.itemID)!] })
        #expect(result.items.count == menu.filter { c.itemAvailable[c.itemIndex($0.itemID)!] }.count)
    }
}

@Suite struct SnapshotSwapTests {
    @Test func aNewCatalogSnapshotIsServedAfterASwap() throws {
        let engine = try Fixture.engine { _ in }
        let other = Fixture.demoCatalog(
            MarketplaceDemo.generate(seed: 8, scale: 0.01, referenceDay: Fixture.referenceDay)
        )
        try engine.swapCatalog(other)
        #expect(engine.catalog === other)
        // Ids beyond the new, smaller snapshot are now unknown but well formed: kept, not an error.
        let result = try engine.rank(
            RankQuery(
                userID: "u1",
                surface: "discovery",
                context: RequestContext(
                    latitude: 52.52,
                    longitude: 13.405,
                    requestTimeUnixMs: Fixture.time(hour: 19)
                ),
                candidates: [CandidateInput(itemID: "v399")]
            ),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        #expect(result.items.map(\.itemID) == ["v399"])
    }

    /// The order the re-rank starts from, as the comparison it replaced defines it.
    static func referenceOrder(_ kept: [Int], scores: [Double], candidates: [Int32], fullyScored: [Bool]) -> [Int] {
        kept.sorted { a, b in
            if fullyScored[a] != fullyScored[b] { return fullyScored[a] }
            if scores[a] != scores[b] { return scores[a] > scores[b] }
            if candidates[a] != candidates[b] { return candidates[a] < candidates[b] }
            return a < b
        }
    }

    /// Requires `sortKept` to order `kept` exactly as ``referenceOrder(_:scores:candidates:fullyScored:)`` does.
    static func expectSortedAsTheComparisonSorts(
        _ kept: [Int],
        scores: [Double],
        candidates: [Int32],
        fullyScored: [Bool]
    ) {
        var sorted = kept
        Reranker.sortKept(&sorted, scores: scores, candidates: candidates, fullyScored: fullyScored)
        #expect(sorted == referenceOrder(kept, scores: scores, candidates: candidates, fullyScored: fullyScored))
    }

    @Test(arguments: [0, 1, 2, 7, 64, 700])
    func theKeptPoolIsOrderedExactlyAsTheComparisonOrdersIt(count: Int) {
        var rng = SplitMix64(seed: UInt64(count) + 11)
        // Few distinct values, so ties in score and in index are common; both signs of zero, infinities and
        // unknown ids (-1) among them.
        let values: [Double] = [0, -0.0, 1.5, -1.5, 0.25, .infinity, -.infinity, 1e-300, -1e-300, 3]
        for round in 0..<20 {
            let scores = (0..<count).map { _ in values[rng.below(values.count)] }
            let candidates = (0..<count).map { _ in Int32(rng.below(9)) - 1 }
            let fullyScored = (0..<count).map { _ in rng.below(3) == 0 }
            let kept = (0..<count).filter { _ in round == 0 || rng.below(4) != 0 }
            Self.expectSortedAsTheComparisonSorts(
                kept,
                scores: scores,
                candidates: candidates,
                fullyScored: fullyScored
            )
        }
    }

    @Test(arguments: [2, 64, 700])
    func candidatesInIndexOrderAreSortedByScoreAsTheComparisonSortsThem(count: Int) {
        // The generator's candidates ascend by index: the sort then orders on the score alone (a radix sort).
        var rng = SplitMix64(seed: UInt64(count) + 5)
        let values: [Double] = [0, -0.0, 1.5, -1.5, 0.25, .infinity, -.infinity, 1e-300, -1e-300, 3, 0.1, 0.7]
        for round in 0..<20 {
            let scores = (0..<count).map { _ in values[rng.below(values.count)] + (round % 2 == 0 ? 0 : rng.unit()) }
            var next: Int32 = -1
            let candidates = (0..<count).map { k -> Int32 in
                if k > 0 || rng.below(2) == 0 { next += Int32(1 + rng.below(3)) }
                return next
            }
            let fullyScored = (0..<count).map { _ in rng.below(3) == 0 }
            let kept = (0..<count).filter { _ in rng.below(4) != 0 }
            Self.expectSortedAsTheComparisonSorts(
                kept,
                scores: scores,
                candidates: candidates,
                fullyScored: fullyScored
            )
        }
    }

    @Test func scoresThatDifferOnlyInTheirLastBitsAreOrderedExactly() {
        // The sort orders first on a score's top bits, then puts the scores that share them in order: here most do.
        var rng = SplitMix64(seed: 17)
        let bases: [Double] = [0.7, -0.7, 1, 0]
        for count in [2, 40, 700] {
            for _ in 0..<10 {
                let scores = (0..<count).map { _ -> Double in
                    var s = bases[rng.below(bases.count)]
                    for _ in 0..<rng.below(40) { s = rng.below(2) == 0 ? s.nextUp : s.nextDown }
                    return s
                }
                let candidates = (0..<count).map { Int32($0) }
                let fullyScored = (0..<count).map { _ in rng.below(4) != 0 }
                let kept = (0..<count).filter { _ in rng.below(5) != 0 }
                Self.expectSortedAsTheComparisonSorts(
                    kept,
                    scores: scores,
                    candidates: candidates,
                    fullyScored: fullyScored
                )
            }
        }
    }

    @Test func aPoolWithANaNScoreIsOrderedAsTheComparisonOrdersIt() {
        let scores: [Double] = [0.5, .nan, 2, 0.5, .nan, -1, 2]
        let candidates: [Int32] = [4, 3, 2, 1, 0, -1, 9]
        let fullyScored = [true, true, false, true, false, true, true]
        let kept = Array(0..<scores.count)
        var sorted = kept
        Reranker.sortKept(&sorted, scores: scores, candidates: candidates, fullyScored: fullyScored)
        #expect(sorted == Self.referenceOrder(kept, scores: scores, candidates: candidates, fullyScored: fullyScored))
        #expect(Set(sorted) == Set(kept))
    }
}
