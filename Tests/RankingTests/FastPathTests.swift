import Dispatch
import Foundation
import Testing

@testable import Ranking

/// A host-supplied source (not built in) that answers like the popular source, so parallel mode offloads it.
struct HostPopularSource: CandidateSource {
    let name = "host_popular"
    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        try PopularSource().generate(request, quota: quota, deadline: deadline, into: &out)
    }
}

/// The cheaper request paths must give exactly what the straightforward computations they replace give.
@Suite struct FastPathTests {
    let far = DispatchTime.now() + .seconds(60)

    /// Where and when a test request is made; the user's history comes from `user`.
    struct Spot {
        var user: Int?
        var latitude: Double
        var longitude: Double
        var hour: Int
    }

    /// Homes of a few users and points around each city centre, at several hours.
    var spots: [Spot] {
        let c = Fixture.catalog
        var out: [Spot] = []
        for hour in [19, 12, 23, 3] {
            for user in [0, 1, 2, 3, Fixture.berlinUser()] {
                out.append(
                    Spot(user: user, latitude: c.userLatitude[user], longitude: c.userLongitude[user], hour: hour)
                )
            }
            for (k, city) in c.markets.enumerated() {
                let user = k % 2 == 0 ? Fixture.berlinUser() : nil
                for (dy, dx) in [(0.0, 0.0), (0.02, -0.03), (-0.04, 0.05)] {
                    out.append(
                        Spot(user: user, latitude: city.latitude + dy, longitude: city.longitude + dx, hour: hour)
                    )
                }
            }
        }
        return out
    }

    func frame(_ spot: Spot) -> RequestFrame {
        RequestFrame(
            catalog: Fixture.catalog,
            userIndex: spot.user,
            latitude: spot.latitude,
            longitude: spot.longitude,
            timeUnixMs: Fixture.time(hour: spot.hour),
            venueIndex: nil
        )
    }

    /// A request at the spot, as the engine builds it.
    /// The request at `spot`, on `catalog` (one with the fixture's venues and users).
    func request(_ spot: Spot, catalog: Catalog = Fixture.catalog) -> CandidateRequest {
        let frame = frame(spot)
        return CandidateRequest(
            catalog: catalog,
            userIndex: spot.user,
            latitude: spot.latitude,
            longitude: spot.longitude,
            city: frame.city,
            weekday: frame.weekday,
            minuteOfDay: frame.minuteOfDay,
            day: frame.day,
            venueIndex: nil,
            lonScale: frame.lonScale,
            pastVenues: frame.pastVenuesByFrequency,
            covisited: frame.covisitedByWeight
        )
    }

    @Test(arguments: [false, true])
    func theMergeHoldsEachVenueOnceWithABitForEverySourceThatFoundIt(parallel: Bool) throws {
        let sources: [(source: any CandidateSource, quota: Int)] = [
            (NearbySource(), 200), (HostPopularSource(), 50), (ReorderSource(), 40), (NewVenuesSource(), 30),
        ]
        let generator = CandidateGenerator(sources: sources, parallel: parallel)
        var merged = 0
        for spot in spots.prefix(20) {
            var expected: [Int32: UInt32] = [:]
            for (i, (source, quota)) in sources.enumerated() {
                var found: [Int32] = []
                try source.generate(request(spot), quota: quota, deadline: far, into: &found)
                for v in found { expected[v, default: 0] |= UInt32(1) << UInt32(i) }
            }
            var degraded: [String] = []
            var timings: [StageTiming] = []
            let set = generator.run(request(spot), deadline: far, degraded: &degraded, timings: &timings)
            #expect(degraded.isEmpty)
            #expect(set.indexes == expected.keys.sorted())
            #expect(set.sourceMask == expected.keys.sorted().map { expected[$0]! })
            merged += expected.values.filter { $0.nonzeroBitCount > 1 }.count
        }
        #expect(merged > 0)
    }

    /// The re-rank skips its orderability check for a venue that a source declaring
    /// ``BuiltinCandidateSource/answersOnlyEligibleVenues`` gave, so every such venue must pass that check; the
    /// reorder source (the user's past venues, closed or far away included) does not declare it.
    @Test func venuesFromSourcesThatDeclareThemEligiblePassTheRerankCheck() throws {
        let sources: [(source: any CandidateSource, quota: Int)] = [
            (NearbySource(), 400), (ReorderSource(), 40), (CovisitSource(), 60), (EmbeddingSource(), 150),
            (PopularSource(), 80), (NewVenuesSource(), 30),
        ]
        let generator = CandidateGenerator(sources: sources, parallel: false)
        #expect(generator.eligibleSourceBits == 0b111101)
        var (checked, droppedFromReorder) = (0, 0)
        for spot in spots {
            for categoryTags: UInt64 in [0, 1 << 2] {
                var request = request(spot)
                request.categoryTags = categoryTags
                var degraded: [String] = []
                var timings: [StageTiming] = []
                let set = generator.run(request, deadline: far, degraded: &degraded, timings: &timings)
                for (k, v) in set.indexes.enumerated() {
                    let reason = Reranker.unorderableReason(kind: .venues, index: v, request: request)
                    if set.sourceMask[k] & generator.eligibleSourceBits != 0 {
                        #expect(reason == nil, "venue \(v), sources \(set.sourceMask[k])")
                        checked += 1
                    } else if reason != nil {
                        droppedFromReorder += 1
                    }
                }
            }
        }
        #expect(checked > 0)
        #expect(droppedFromReorder > 0, "the spots include past venues the re-rank must still drop")
    }

    /// The eligible venues of the ring scan, nearest cells first, as the sources found them before the grid kept
    /// the venues' locations, radii and vectors in cell order: every venue of the ring through `isEligible`.
    func eligibleByRing(_ request: CandidateRequest) -> [Int] {
        guard let city = request.city else { return [] }
        var out: [Int] = []
        request.catalog.spatial.forEachVenueByRing(
            city: city,
            latitude: request.latitude,
            longitude: request.longitude,
            maxKm: NearbySource.maxDeliveryKm
        ) { v in
            if request.isEligible(v) { out.append(v) }
            return true
        }
        return out
    }

    @Test func theNearbySourceTakesTheFirstEligibleVenuesOfTheRingScan() throws {
        var found = 0
        for spot in spots {
            for quota in [1, 25, 200, 5000] {
                var out: [Int32] = []
                try NearbySource().generate(request(spot), quota: quota, deadline: far, into: &out)
                #expect(out.map(Int.init) == Array(eligibleByRing(request(spot)).prefix(quota)))
                found += out.count
            }
        }
        #expect(found > 0)
    }

    /// The popular and new sources walk their market's lists with the eligibility columns copied in list order
    /// (``ListedEligibility``); without the copies (weekly hours) they read the venue columns. Either way they answer
    /// what walking the list through ``CandidateRequest/isEligible(_:)`` answers, in a category's scope too.
    @Test(arguments: [false, true])
    func thePopularAndNewSourcesAnswerAsTheirListsThroughTheColumns(weeklyHours: Bool) throws {
        let catalog = weeklyHours ? OpeningHoursTests.catalog : Fixture.catalog
        #expect(catalog.cityPopularEligibility.isEmpty == weeklyHours)
        #expect(catalog.cityNewEligibility.isEmpty == weeklyHours)
        var found = (popular: 0, new: 0)
        for spot in spots {
            for categoryTags: UInt64 in [0, 0b1010] {
                var request = request(spot, catalog: catalog)
                request.categoryTags = categoryTags
                let city = try #require(request.city)
                for quota in [0, 1, 12, 80, 5000] {
                    var popular: [Int32] = []
                    try PopularSource().generate(request, quota: quota, deadline: far, into: &popular)
                    let byPopularity = catalog.cityVenuesByPopularity[city].prefix(40 * max(quota, 1))
                    let expected = byPopularity.filter { request.isEligible(Int($0)) }.prefix(quota)
                    #expect(popular == Array(expected))
                    var new: [Int32] = []
                    try NewVenuesSource().generate(request, quota: quota, deadline: far, into: &new)
                    let expectedNew = catalog.cityNewVenues[city].filter {
                        Int(catalog.venueCreatedDay[Int($0)]) > request.day - Catalog.newVenueDays
                            && request.isEligible(Int($0))
                    }.prefix(quota)
                    #expect(new == Array(expectedNew))
                    found.popular += popular.count
                    found.new += new.count
                }
            }
        }
        #expect(found.popular > 0 && found.new > 0)
    }

    @Test func theEmbeddingSourceTakesTheBestDotProductsOfTheEligibleVenues() throws {
        let catalog = Fixture.catalog
        let d = catalog.embeddingDimension
        var found = 0
        for spot in spots where spot.user != nil {
            let user = try #require(spot.user)
            // Every eligible venue's dot product with the user's vector, from the catalog's own columns.
            let scored = eligibleByRing(request(spot)).prefix(4096).map { v -> (Float, Int) in
                var dot = SIMD16<Float>()
                for k in 0..<d {
                    dot[k] = catalog.userEmbedding[user * d + k] * catalog.venueEmbedding[v * d + k]
                }
                return (dot.sum(), v)
            }
            for quota in [1, 40, 100_000] {
                var out: [Int32] = []
                try EmbeddingSource().generate(request(spot), quota: quota, deadline: far, into: &out)
                let expected = scored.sorted { ($0.0, -$0.1) > ($1.0, -$1.1) }.prefix(quota).map(\.1)
                // The source hands the top in no particular order: compare as sets, and the count.
                #expect(out.count == expected.count)
                #expect(Set(out.map(Int.init)) == Set(expected))
                found += out.count
            }
        }
        #expect(found > 0)
    }

    /// Through one shared list of the venues in reach (as ``CandidateGenerator`` gives its built-in sources), the
    /// nearby and embedding sources answer what each answers alone; the list is scanned once, up to the most either
    /// reads, and a list shorter than a source reads is not used by it.
    @Test func sourcesSharingTheVenuesInReachAnswerAsTheyDoAlone() throws {
        let generator = CandidateGenerator(sources: [(NearbySource(), 400), (EmbeddingSource(), 150)], parallel: false)
        #expect(generator.venuesInReachRead == EmbeddingSource.scoredVenues)
        let nearbyOnly = CandidateGenerator(sources: [(NearbySource(), 400), (PopularSource(), 80)], parallel: false)
        #expect(nearbyOnly.venuesInReachRead == 400)
        var checked = 0
        for spot in spots {
            var alone: [[Int32]] = [[], []]
            try NearbySource().generate(request(spot), quota: 400, deadline: far, into: &alone[0])
            try EmbeddingSource().generate(request(spot), quota: 150, deadline: far, into: &alone[1])
            var shared = request(spot)
            shared.sharedVenuesInReach = VenuesInReach(limit: generator.venuesInReachRead)
            var together: [[Int32]] = [[], []]
            try NearbySource().generate(shared, quota: 400, deadline: far, into: &together[0])
            let eligible = eligibleByRing(request(spot))
            // The nearby source's scan went on past its own 400 for the embedding source.
            #expect(shared.sharedVenuesInReach?.venues.map(Int.init) == Array(eligible.prefix(4096)))
            try EmbeddingSource().generate(shared, quota: 150, deadline: far, into: &together[1])
            #expect(together == alone)
            // A list of 10 is too short for the nearby source's 400: it scans for itself.
            var short = request(spot)
            short.sharedVenuesInReach = VenuesInReach(limit: 10)
            var own: [Int32] = []
            try NearbySource().generate(short, quota: 400, deadline: far, into: &own)
            #expect(own == alone[0])
            #expect(short.sharedVenuesInReach?.venues.isEmpty == true)
            checked += alone[0].count
        }
        #expect(checked > 0)
    }

    @Test(arguments: [0, 1, 3, 4, 7, 22])
    func missingFeaturesAreCountedPerFeature(width: Int) {
        var rng = SplitMix64(seed: UInt64(width) + 3)
        let count = 37
        // Rows with a spare one after them, which the count must not read; NaN with a payload among the NaNs.
        let rows = (0..<((count + 1) * width)).map { _ -> Double in
            switch rng.below(4) {
            case 0: return .nan
            case 1: return Double(nan: 7, signaling: false)
            case 2: return .infinity
            default: return rng.unit()
            }
        }
        var expected = [Int](repeating: 0, count: width)
        for r in 0..<count {
            for j in 0..<width where rows[r * width + j].isNaN { expected[j] += 1 }
        }
        #expect(SurfaceMetrics.missingCounts(rows, count: count, width: width) == expected)
    }

    @Test func selectTopMovesExactlyTheLeadersToTheFront() {
        var rng = SplitMix64(seed: 21)
        for count in [1, 2, 9, 150, 1_000] {
            for k in Set([0, 1, count / 3, count - 1, count, count + 5]) {
                // Few distinct scores, so the index decides many places, as it does in the scorer's selection.
                let scores = (0..<count).map { _ in Double(rng.below(7)) }
                var items = Array(0..<count).shuffled(using: &rng)
                selectTop(&items, k) { (scores[$0], -$0) > (scores[$1], -$1) }
                let leaders = Array(0..<count).sorted { (scores[$0], -$0) > (scores[$1], -$1) }.prefix(k)
                #expect(Set(items.prefix(k)) == Set(leaders), "count \(count), k \(k)")
                #expect(items.sorted() == Array(0..<count))
            }
        }
    }

    @Test func radixSortByIndexIsAStableSort() {
        var rng = SplitMix64(seed: 5)
        for (count, maxIndex) in [
            (0, 1), (1, 1), (50, 3), (2_000, 300), (3_000, 70_000), (500, 1 << 30), (500, 1 << 32),
        ] {
            var keys = (0..<count).map { k in UInt64(rng.below(maxIndex)) << 32 | UInt64(k) }
            let expected = keys.sorted { $0 >> 32 < $1 >> 32 }
            var scratch: [UInt64] = []
            sortByHighWord(&keys, scratch: &scratch)
            #expect(keys == expected)
        }
    }

    @Test(arguments: ["discovery-lgbm.txt", "discovery-xgb.json"])
    func finishingTheLeadersGivesTheFullModelsScores(file: String) throws {
        let loader = try #require(RankingEngine.defaultLoader)
        // The discovery surface's features: the joined ones, then the online ones (missing here: no events).
        let names = try #require(try RankingEngine.embeddedConfig().surfaces["discovery"]?.featureNames)
        let model = try ActiveModel(
            model: loader(ModelActivationTests.directory + "/" + file, nil, names),
            kind: .venues,
            featureNames: names
        )
        #expect(model.isNativeOrder)
        let config = ScoringConfig(firstPhaseTrees: 20, fullModelTopN: 10)
        var twoPhase = 0
        for spot in spots.prefix(12) {
            let request = request(spot)
            var candidates: [Int32] = []
            try NearbySource().generate(request, quota: 400, deadline: far, into: &candidates)
            var frame = frame(spot)
            frame.city = request.city
            let width = names.count
            var rows = [Double](repeating: .nan, count: candidates.count * width)
            rows.withUnsafeMutableBufferPointer {
                FeatureJoiner.join(
                    kind: .venues,
                    catalog: request.catalog,
                    frame: frame,
                    candidates: candidates,
                    stride: width,
                    into: $0
                )
            }
            var scores: [Double] = []
            var fully: [Bool] = []
            var scratch: [Double] = []
            _ = rows.withUnsafeBufferPointer {
                TwoPhaseScorer.score(
                    model: model.model,
                    width: model.width,
                    rows: $0,
                    rowCount: candidates.count,
                    config: config,
                    scores: &scores,
                    fullyScored: &fully,
                    scratch: &scratch,
                    deadlinePassed: { false }
                )
            }
            var all = [Double](repeating: 0, count: candidates.count)
            var first = [Double](repeating: 0, count: candidates.count)
            rows.withUnsafeBufferPointer { r in
                all.withUnsafeMutableBufferPointer {
                    model.model.score(r, rowCount: candidates.count, into: $0, treeLimit: nil)
                }
                first.withUnsafeMutableBufferPointer {
                    model.model.score(r, rowCount: candidates.count, into: $0, treeLimit: 20)
                }
            }
            for i in candidates.indices { #expect(scores[i] == (fully[i] ? all[i] : first[i])) }
            if candidates.count > config.fullModelTopN {
                #expect(fully.filter { $0 }.count == config.fullModelTopN)
                twoPhase += 1
            }
        }
        #expect(twoPhase > 3)
    }
}
