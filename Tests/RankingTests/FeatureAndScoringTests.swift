import Dispatch
import Foundation
import RankingModels
import Testing

@testable import Ranking

@Suite struct FeatureJoinTests {
    func explained(_ user: String, candidates: [CandidateInput], lat: Double = 0, lon: Double = 0) throws -> RankResult
    {
        try Fixture.engine.rank(
            RankQuery(
                userID: user,
                surface: "discovery",
                context: RequestContext(latitude: lat, longitude: lon, requestTimeUnixMs: Fixture.time(hour: 19)),
                candidates: candidates,
                limit: 200,
                explain: true
            ),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
    }

    /// The request frame of fixture user `user` at their location, at 19:00.
    static func frame(user: Int) -> RequestFrame {
        let request = Fixture.request(user: user)
        var frame = RequestFrame(
            catalog: Fixture.catalog,
            userIndex: user,
            latitude: request.latitude,
            longitude: request.longitude,
            timeUnixMs: Fixture.time(hour: 19),
            venueIndex: nil
        )
        frame.city = request.city
        return frame
    }

    @Test func userVenueFeaturesReflectTheUsersHistory() throws {
        let c = Fixture.catalog
        let user = Fixture.berlinUser(minOrders: 3)
        let request = Fixture.request(user: user)
        let past = Int(c.orderVenue[Int(c.userOrderStart[user])])
        let count = c.orderVenue[Int(c.userOrderStart[user])..<Int(c.userOrderStart[user + 1])]
            .filter { $0 == Int32(past) }.count
        let frame = Self.frame(user: user)
        let width = FeatureJoiner.venueFeatures.count
        var row = [Double](repeating: 0, count: width)
        row.withUnsafeMutableBufferPointer {
            FeatureJoiner.join(kind: .venues, catalog: c, frame: frame, candidates: [Int32(past)], into: $0)
        }
        func value(_ name: String) -> Double { row[FeatureJoiner.venueFeatures.firstIndex(of: name)!] }
        #expect(value("user_venue_orders") == Double(count))
        #expect(value("user_venue_days_since_last_order") >= 1)
        #expect(abs(value("distance_km") - request.distanceKm(past)) < 1e-9)
        #expect(value("hour") == 19)
        #expect(value("user_order_count") == Double(c.userOrderStart[user + 1] - c.userOrderStart[user]))
    }

    /// The history and co-visit features read the frame's sorted lists from where the last candidate's search
    /// ended (``AscendingLowerBound``): in venue order, in any other order and with repeats, each row is the row its
    /// venue gets alone, and holds the lists' values.
    @Test func theHistoryAndCovisitFeaturesDoNotDependOnTheCandidatesOrder() throws {
        let c = Fixture.catalog
        let width = FeatureJoiner.venueFeatures.count
        func column(_ name: String) -> Int { FeatureJoiner.venueFeatures.firstIndex(of: name)! }
        var rng = SystemRandomNumberGenerator()
        var checked = 0
        for minOrders in [1, 3, 8] {
            let user = Fixture.berlinUser(minOrders: minOrders)
            let frame = Self.frame(user: user)
            #expect(!frame.venueHistory.isEmpty && !frame.covisit.isEmpty)
            let listed = frame.venueHistory.map(\.venue) + frame.covisit.map(\.venue)
            let others = (0..<40).map { _ in Int32.random(in: 0..<Int32(c.venueCount), using: &rng) }
            let ascending = Array(Set(listed + others)).sorted()
            func rows(_ candidates: [Int32]) -> [[Double]] {
                var out = [Double](repeating: 0, count: candidates.count * width)
                out.withUnsafeMutableBufferPointer {
                    FeatureJoiner.join(kind: .venues, catalog: c, frame: frame, candidates: candidates, into: $0)
                }
                return (0..<candidates.count).map { Array(out[($0 * width)..<(($0 + 1) * width)]) }
            }
            let alone = Dictionary(uniqueKeysWithValues: ascending.map { ($0, rows([$0])[0]) })
            for order in [ascending, ascending.reversed(), ascending.shuffled(using: &rng), ascending + ascending] {
                for (v, row) in zip(order, rows(order)) {
                    let expected = try #require(alone[v])
                    #expect(row.indices.allSatisfy { row[$0] == expected[$0] || (row[$0].isNaN && expected[$0].isNaN) })
                    let h = frame.venueHistoryIndex(v)
                    #expect(row[column("user_venue_orders")] == h.map { Double(frame.venueHistory[$0].count) } ?? 0)
                    let weight = frame.covisit.first { $0.venue == v }?.weight ?? 0
                    #expect(row[column("covisit_score")] == Double(weight))
                    checked += 1
                }
            }
        }
        #expect(checked > 0)
    }

    @Test func anAscendingLowerBoundAnswersAsABinarySearch() {
        var rng = SystemRandomNumberGenerator()
        for size in [0, 1, 2, 7, 50] {
            let keys = (0..<size).map { _ in Int32.random(in: -5..<40, using: &rng) }.sorted()
            func lowerBound(_ key: Int32) -> Int { keys.firstIndex { $0 >= key } ?? keys.count }
            let asked = (0..<60).map { _ in Int32.random(in: -10..<50, using: &rng) }
            for sequence in [asked.sorted(), asked.sorted(by: >), asked, [Int32.min, Int32.max, Int32.min]] {
                var search = AscendingLowerBound()
                for key in sequence {
                    #expect(search(key, count: keys.count) { keys[$0] } == lowerBound(key))
                }
            }
        }
    }

    @Test func anUnknownUserHasMissingUserFeaturesNotAnError() throws {
        let result = try explained("u999999999", candidates: Fixture.allVenues, lat: 52.52, lon: 13.405)
        let first = try #require(result.items.first)
        let features = Dictionary(uniqueKeysWithValues: first.features)
        #expect(features["user_order_count"]!.isNaN)
        #expect(features["cuisine_affinity"]!.isNaN)
        #expect(!features["distance_km"]!.isNaN)
    }

    @Test func callerFeaturesOverrideJoinedOnes() throws {
        let user = Fixture.berlinUser()
        let result = try explained(
            Catalog.userID(user),
            candidates: Fixture.allVenues.map {
                CandidateInput(itemID: $0.itemID, features: [("venue_rating", 1.25)])
            }
        )
        let first = try #require(result.items.first)
        #expect(Dictionary(uniqueKeysWithValues: first.features)["venue_rating"] == 1.25)
    }

    @Test func explainReturnsTheModelsFeatureVectorSourcesAndTimings() throws {
        let user = Fixture.berlinUser()
        let list = try Fixture.engine.recommendList(
            Fixture.discovery(user: user, explain: true),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        let entry = try #require(list.items.first)
        let model = try GradientBoostedTrees.load(
            contentsOf: EmbeddedResources.directory() + "/"
                + (list.variant == "control" ? "discovery-lgbm.txt" : "discovery-xgb.json")
        )
        // The model's vector first, then what else the surface computes (its online features).
        let names = entry.features.map(\.0)
        #expect(Array(names.prefix(model.featureNames.count)) == model.featureNames)
        #expect(names.dropFirst(model.featureNames.count).allSatisfy { $0.hasPrefix("online_") })
        #expect(!entry.sources.isEmpty)
        // The raw model score is exactly the model applied to the explained vector.
        let row = entry.features.prefix(model.featureNames.count).map(\.1)
        let score = row.withUnsafeBufferPointer { model.rawScore($0) }
        #expect(score == entry.modelScore)
        let stages = Set(list.timings.map(\.stage))
        #expect(stages.isSuperset(of: ["candidates", "features", "score", "rerank", "total"]))
    }
}

@Suite struct ModelActivationTests {
    static let directory = try! EmbeddedResources.directory()

    @Test(arguments: ["discovery-lgbm.txt", "discovery-xgb.json", "items-lgbm.txt", "cart-lgbm.txt"])
    func embeddedModelsReproduceTheirGoldenFiles(file: String) throws {
        let path = Self.directory + "/" + file
        let model = try GradientBoostedTrees.load(contentsOf: path)
        try model.validate(against: GoldenFile.load(contentsOf: GoldenFile.path(forModelAt: path)))
        let config = try RankingEngine.embeddedConfig()
        let key = try #require(config.models.first { $0.value.file == file }?.key)
        try model.checkFeatures(available: config.featureNames(ofModel: key))
    }

    @Test func aModelWhoseScoresDifferFromItsGoldenFileIsRefusedAndTheOldOneKeepsServing() throws {
        let engine = try Fixture.engine { _ in }
        let before = engine.modelVersion
        let folder = NSTemporaryDirectory() + "rankd-swap-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: Self.directory + "/discovery-lgbm.txt", toPath: folder + "/m.txt")
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.directory + "/discovery-lgbm.golden.json"))
        var golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var scores = try #require(golden["raw_scores"] as? [Double])
        scores[0] += 0.5
        golden["raw_scores"] = scores
        try JSONSerialization.data(withJSONObject: golden).write(to: URL(fileURLWithPath: folder + "/m.golden.json"))
        #expect(throws: RankingError.self) { try engine.swapModel(contentsOf: folder + "/m.txt") }
        #expect(engine.modelVersion == before)
    }

    @Test func aModelWhoseFeaturesTheJoinDoesNotProduceIsRefused() throws {
        let engine = try Fixture.engine { _ in }
        // The item model asks for item features the venue join does not produce.
        #expect(throws: RankingError.self) {
            try engine.swapModel(contentsOf: Self.directory + "/items-lgbm.txt", key: "discovery_lgbm")
        }
    }

    @Test func aValidatedModelIsSwappedInWhileServing() throws {
        let engine = try Fixture.engine { _ in }
        let before = engine.modelVersion
        try engine.swapModel(contentsOf: Self.directory + "/discovery-xgb.json")
        #expect(engine.modelVersion != before)
        #expect(engine.modelVersion.hasPrefix("discovery-xgb"))
    }

    @Test func inFlightRequestsKeepTheStateTheyStartedWith() throws {
        let engine = try Fixture.engine { config in config.surfaces["discovery"]!.experiment = nil }
        let user = Fixture.berlinUser()
        var sections: [RecommendSection] = []
        var swapped = false
        try engine.recommend(Fixture.discovery(user: user), deadline: Fixture.unhurried, isCancelled: Fixture.never) {
            section in
            if !swapped {
                // Swap between the first and second section: the rest of this answer must not change model.
                try engine.swapModel(contentsOf: Self.directory + "/discovery-xgb.json")
                swapped = true
            }
            sections.append(section)
        }
        #expect(Set(sections.map(\.modelVersion)).count == 1)
        #expect(sections.first?.modelVersion.hasPrefix("discovery-lgbm") == true)
    }
}

/// A model that produces NaN: scoring must fall back to the heuristic.
struct NaNModel: ScoringModel {
    var featureNames: [String] { FeatureJoiner.venueFeatures }
    var version: String { "nan-model" }
    var treeCount: Int { 10 }
    func score(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        into out: UnsafeMutableBufferPointer<Double>,
        treeLimit: Int?
    ) {
        for i in 0..<rowCount { out[i] = .nan }
    }
}

@Suite struct ScoringTests {
    @Test func whenTheModelFailsTheAnswerFallsBackToTheHeuristicAndIsMarkedDegraded() throws {
        let loader: ModelLoader = { path, golden, kind in
            path.contains("discovery") ? NaNModel() : try RankingEngine.defaultLoader!(path, golden, kind)
        }
        let engine = try Fixture.engine(loader: loader) { config in config.surfaces["discovery"]!.experiment = nil }
        let result = try engine.recommendList(
            Fixture.discovery(user: Fixture.berlinUser()),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        #expect(result.degraded && result.degradedStages.contains("score"))
        #expect(result.modelVersion.hasPrefix("heuristic"))
        #expect(!result.items.isEmpty && result.items.allSatisfy { $0.modelScore.isFinite })
    }

    @Test func theFullModelReordersTheFirstPhaseLeaders() throws {
        let engine = try Fixture.engine { config in
            config.surfaces["discovery"]!.experiment = nil
            config.surfaces["discovery"]!.scoring = ScoringConfig(firstPhaseTrees: 30, fullModelTopN: 5)
            config.surfaces["discovery"]!.rerank.explorationPolicy = "none"
            config.surfaces["discovery"]!.rerank.diversityPenalty = 0
            config.surfaces["discovery"]!.rerank.brandCap = 0
        }
        let result = try engine.recommendList(
            Fixture.discovery(user: Fixture.berlinUser(), limit: 50),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        try #require(result.items.count > 5)
        // The five leaders carry full-model scores and come first, in order of those scores.
        let leaders = result.items.prefix(5).map(\.modelScore)
        #expect(leaders == leaders.sorted(by: >))
    }
}
