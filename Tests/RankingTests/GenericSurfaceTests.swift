import Dispatch
import Foundation
import Testing

@testable import Ranking

extension CoOccurrenceIndex {
    /// How often `b` was played next to `a` (0 when `b` is not among `a`'s kept neighbours): one lookup, the
    /// reference the join's co-occurrence features are checked against.
    func count(_ a: Int, _ b: Int32) -> Float {
        for j in range(a) where neighbours[j] == b { return counts[j] }
        return 0
    }
}

/// The generic pipeline on ``GenericFixture``: the indexes derived at load, each candidate source, each feature, the
/// re-rank rules, the engine's dispatch and every refusal.
@Suite struct GenericIndexTests {
    static let c = GenericFixture.catalog
    static var listens: HistoryColumn { c.kind("user")!.histories["listens"]! }

    @Test func coOccurrenceCountsConsecutivePlaysWithinASessionInBothDirections() {
        let index = CoOccurrenceIndex(history: Self.listens, itemCount: 12, playEvent: 0, sessionGapMs: 300_000)
        #expect(index.count(0, 1) == 2)
        #expect(index.count(1, 0) == 2)
        #expect(index.count(1, 2) == 1)
        #expect(index.count(2, 1) == 1)
        // t3 and t9 are an hour apart: two sessions.
        #expect(index.count(2, 8) == 0)
        #expect(index.count(0, 2) == 0)
        // Most frequent first.
        #expect(Array(index.neighbours[index.range(1)]) == [0, 2])
    }

    @Test func aLongerSessionGapJoinsSessions() {
        let index = CoOccurrenceIndex(history: Self.listens, itemCount: 12, playEvent: 0, sessionGapMs: 7_200_000)
        #expect(index.count(2, 8) == 1)
    }

    @Test func referenceGroupsHoldEachArtistsTracksMostPopularFirst() {
        let tracks = Self.c.kind("track")!
        let groups = ReferenceGroups(
            references: tracks.references["artist"]!.positions,
            targetCount: 4,
            orderBy: tracks.numbers["popularity"]
        )
        #expect(Array(groups.group(0)) == [3, 2, 1, 0])
        #expect(Array(groups.group(3)) == [11, 10])
        #expect(groups.group(-1).isEmpty)
    }

    @Test func tagListsHoldEveryTrackCarryingTheTagMostPopularFirst() {
        let tracks = Self.c.kind("track")!
        let lists = TagTopLists(tags: tracks.tags["genres"]!, orderBy: tracks.numbers["popularity"], kept: 60)
        #expect(Array(lists.list(0)) == [4, 3, 2, 1, 0])
        #expect(Array(lists.list(2)) == [11, 10, 9, 8])
        let short = TagTopLists(tags: tracks.tags["genres"]!, orderBy: tracks.numbers["popularity"], kept: 2)
        #expect(Array(short.list(0)) == [4, 3])
    }

    @Test func favouritesAreTheMostCompletedTracksMostRecentFirstOnTies() {
        let favourites = UserFavourites(history: Self.listens, event: 2, kept: 10)
        #expect(Array(favourites.of(0)) == [8, 1, 0])
        #expect(Array(favourites.of(1)) == [1, 0])
        #expect(favourites.of(2).isEmpty)
        let plays = UserFavourites(history: Self.listens, event: nil, kept: 1)
        #expect(plays.of(0).count == 1)
    }

    @Test func unitEmbeddingsMakeDotProductsCosines() {
        let unit = UnitEmbeddings(Self.c.kind("track")!.embeddings["embedding"]!)
        [Float(-1), 0].withUnsafeBufferPointer { q in
            #expect(abs(unit.dot(8, q) - 1) < 1e-6)
            #expect(abs(unit.dot(4, q)) < 1e-6)
        }
    }
}

@Suite struct GenericSourceTests {
    static func candidates(_ source: GenericSourceConfig, context: [String], user: String = "u1") throws -> [String] {
        let state = try GenericFixture.state(try GenericFixture.only(source))
        let run = try GenericFixture.list(state, GenericFixture.query(context, user: user))
        return run.candidates.map { state.surfaces["next_track"]!.items.ids.id(Int($0)) }
    }

    static func source(
        _ name: String,
        quota: Int,
        attribute: String? = nil,
        orderBy: String? = nil,
        event: String? = nil
    )
        -> GenericSourceConfig
    {
        GenericSourceConfig(name: name, quota: quota, attribute: attribute, orderBy: orderBy, event: event)
    }

    @Test func coOccurrenceFindsWhatWasPlayedNextToTheContext() throws {
        #expect(try Self.candidates(Self.source("co_occurrence", quota: 10), context: ["t2"]) == ["t1", "t3"])
        #expect(try Self.candidates(Self.source("co_occurrence", quota: 1), context: ["t2"]) == ["t1"])
        #expect(try Self.candidates(Self.source("co_occurrence", quota: 10), context: ["t12"]).isEmpty)
    }

    @Test func sameReferenceFindsTheAnchorsArtistsMostPopularTracks() throws {
        let source = Self.source("same_reference", quota: 2, attribute: "artist", orderBy: "popularity")
        #expect(try Self.candidates(source, context: ["t1", "t9"]) == ["t3", "t4"])
    }

    @Test func embeddingNeighboursFindTheNearestTracksToTheContext() throws {
        let source = Self.source("embedding_neighbours", quota: 4, attribute: "embedding")
        #expect(try Self.candidates(source, context: ["t9"]) == ["t9", "t10", "t11", "t12"])
    }

    @Test func embeddingNeighboursFindNothingWithoutAVectorToBeNear() throws {
        let tracks = GenericFixture.catalog.kind("track")!
        var values = tracks.embeddings["embedding"]!.values
        values[0] = 0
        values[1] = 0
        let blank = EntityKindColumns(
            name: "track",
            ids: tracks.ids,
            numbers: tracks.numbers,
            tags: tracks.tags,
            references: tracks.references,
            embeddings: [
                "embedding": EmbeddingColumn(
                    dimension: 2,
                    values: values,
                    present: [false] + [Bool](repeating: true, count: 11)
                )
            ]
        )
        let catalog = EntityCatalog(
            schema: "music",
            kinds: [blank, GenericFixture.catalog.kind("artist")!, GenericFixture.catalog.kind("user")!]
        )
        let surface = try GenericFixture.only(Self.source("embedding_neighbours", quota: 4, attribute: "embedding"))
        let state = try GenericState(
            catalog: catalog,
            config: DomainConfig(schema: "music", models: [:], surfaces: ["next_track": surface]),
            resourceDirectory: nil
        )
        #expect(try GenericFixture.list(state, GenericFixture.query(["t1"])).candidates.isEmpty)
        #expect(try GenericFixture.list(state, GenericFixture.query(["t1", "t9"])).candidates.count == 4)
    }

    @Test func userFavouritesFindTheUsersMostCompletedTracks() throws {
        let source = Self.source("user_favourites", quota: 2, event: "complete")
        #expect(try Self.candidates(source, context: ["t5"]) == ["t2", "t9"])
        #expect(try Self.candidates(source, context: ["t5"], user: "u3").isEmpty)
        #expect(try Self.candidates(source, context: ["t5"], user: "nobody").isEmpty)
    }

    @Test func popularInTagsSplitsItsQuotaBetweenTheAnchorsGenres() throws {
        let source = Self.source("popular_in_tags", quota: 6, attribute: "genres", orderBy: "popularity")
        // Jazz (the main genre) gets four, rock the other two.
        #expect(try Self.candidates(source, context: ["t5"]) == ["t4", "t5", "t6", "t7", "t8"])
    }

    @Test func candidatesKeepABitPerSourceThatFoundThem() throws {
        let state = try GenericFixture.state(
            try GenericFixture.surface {
                $0.sources = [
                    Self.source("co_occurrence", quota: 10),
                    Self.source("same_reference", quota: 10, attribute: "artist", orderBy: "popularity"),
                ]
            }
        )
        let run = try GenericFixture.list(state, GenericFixture.query(["t2"]))
        #expect(run.candidates == [0, 1, 2, 3])
        #expect(run.sourceMask == [3, 2, 3, 2])
    }
}

@Suite struct GenericFeatureTests {
    /// Every feature of the embedded configuration for candidate t3, with t2 playing after t1, for u1.
    @Test func featuresAreComputedFromTheCandidateTheAnchorTheSessionAndTheUser() throws {
        let state = try GenericFixture.state(try GenericFixture.surface())
        let surface = state.surfaces["next_track"]!
        let run = try GenericFixture.list(state, GenericFixture.query(["t2", "t1"], explain: true))
        let row = try #require(run.candidates.firstIndex(of: 2))
        var values: [String: Double] = [:]
        for (j, name) in surface.featureNames.enumerated() {
            values[name] = run.featureRows[row * run.featureWidth + j]
        }
        func expectValue(_ name: String, _ expected: Double) {
            let value = values[name] ?? .nan
            #expect(abs(value - expected) < 1e-5, "\(name): \(value), expected \(expected)")
        }
        expectValue("track.popularity", 3)
        expectValue("track.energy", 0.3)
        expectValue("track.tempo", 103)
        expectValue("energy_gap_playing", 0.1)
        expectValue("energy_gap_session", 0.15)
        expectValue("tempo_log_ratio_playing", log(103.0 / 102.0))
        expectValue("co_occurrence_playing", 1)
        expectValue("co_occurrence_session", 1)
        expectValue("same_artist", 1)
        expectValue("session_artist_share", 1)
        expectValue("cosine_playing", (1 + 0.2 * 0.3) / ((1 + 0.04).squareRoot() * (1 + 0.09).squareRoot()))
        expectValue("cosine_user", 1 / (1 + 0.09).squareRoot())
        expectValue("user_plays", 1)
        expectValue("user_completes", 0)
        expectValue("user_skips", 1)
        expectValue("user_artist_completes", 2)
        expectValue("user_artist_skips", 1)
        expectValue("user_follows_artist", 0)
        let t9 = try #require(run.candidates.firstIndex(of: 8))
        let follows = try #require(surface.featureNames.firstIndex(of: "user_follows_artist"))
        #expect(run.featureRows[t9 * run.featureWidth + follows] == 1)
        let same = try #require(surface.featureNames.firstIndex(of: "same_artist"))
        #expect(run.featureRows[t9 * run.featureWidth + same] == 0)
    }

    /// The co-occurrence features walk the neighbours of the anchor and the session once; they must equal, bit for
    /// bit, each candidate's count looked up per item in session order (sessions with repeats and with more than the
    /// ten items read included).
    @Test func coOccurrenceFeaturesAreTheIndexCountsOfEveryCandidate() throws {
        let state = try GenericFixture.state(try GenericFixture.surface())
        let surface = state.surfaces["next_track"]!
        let index = try #require(surface.coOccurrence)
        let playing = try #require(surface.featureNames.firstIndex(of: "co_occurrence_playing"))
        let session = try #require(surface.featureNames.firstIndex(of: "co_occurrence_session"))
        let contexts = [["t2"], ["t2", "t1"], ["t3", "t2", "t3", "t1"], (1...12).map { "t\($0)" }, ["t12", "t4"]]
        for context in contexts {
            let run = try GenericFixture.list(state, GenericFixture.query(context, explain: true))
            #expect(!run.candidates.isEmpty, "\(context)")
            // The session as the pipeline reads it: repeats removed, the first one kept.
            var seen = Set<Int32>()
            let items = try context.map { try #require(surface.items.ids.position($0)) }
                .filter { seen.insert(Int32($0)).inserted }
            for (r, c) in run.candidates.enumerated() {
                var sum: Float = 0
                for item in items.prefix(10) { sum += index.count(item, c) }
                let row = r * run.featureWidth
                #expect(run.featureRows[row + playing] == Double(index.count(items[0], c)), "\(context) \(c)")
                #expect(run.featureRows[row + session] == Double(sum), "\(context) \(c)")
            }
        }
    }

    @Test func userFeaturesAreMissingForAUserTheCatalogDoesNotHave() throws {
        let state = try GenericFixture.state(try GenericFixture.surface())
        let surface = state.surfaces["next_track"]!
        let run = try GenericFixture.list(state, GenericFixture.query(["t2"], user: "stranger", explain: true))
        for name in ["user_plays", "user_completes", "user_artist_completes", "cosine_user", "user_follows_artist"] {
            let j = try #require(surface.featureNames.firstIndex(of: name))
            #expect(run.featureRows[j].isNaN, "\(name)")
        }
        #expect(!run.order.isEmpty)
    }

    @Test func theLinearScorerWeighsFeaturesByName() throws {
        let state = try GenericFixture.state(try GenericFixture.surface { $0.weights = ["track.tempo": -1] })
        let run = try GenericFixture.list(state, GenericFixture.query(["t6"], limit: 3))
        #expect(run.modelVersion == "linear-next_track-v1")
        for i in run.candidates.indices { #expect(run.modelScores[i] == -Double(101 + run.candidates[i])) }
    }
}

@Suite struct GenericRerankTests {
    static func answer(
        _ change: (inout GenericSurfaceConfig) -> Void,
        context: [String],
        user: String = "u3"
    )
        throws -> [String]
    {
        let state = try GenericFixture.state(
            try GenericFixture.surface {
                $0.weights = ["track.popularity": 1]
                change(&$0)
            }
        )
        let run = try GenericFixture.list(state, GenericFixture.query(context, user: user, limit: 100))
        return GenericFixture.ids(run, state.surfaces["next_track"]!)
    }

    @Test func noContextItemIsAnswered() throws {
        let ids = try Self.answer({ _ in }, context: ["t12", "t11", "t1"])
        #expect(!ids.contains("t12") && !ids.contains("t11") && !ids.contains("t1"))
        let kept = try Self.answer({ $0.rerank.excludeContextItems = false }, context: ["t12", "t11", "t1"])
        #expect(kept.contains("t12"))
    }

    @Test func theArtistCapHoldsWhileOtherArtistsCanFillTheWindow() throws {
        let ids = try Self.answer({ $0.rerank.tagDiversity = nil }, context: ["t1"])
        #expect(ids == ["t12", "t11", "t10", "t9", "t8", "t7", "t4", "t3", "t6", "t5", "t2"])
        let uncapped = try Self.answer(
            {
                $0.rerank.tagDiversity = nil
                $0.rerank.capPerReference = nil
            },
            context: ["t1"]
        )
        #expect(uncapped == ["t12", "t11", "t10", "t9", "t8", "t7", "t6", "t5", "t4", "t3", "t2"])
    }

    @Test func tagDiversityPenalisesGenresAlreadyPlaced() throws {
        let ids = try Self.answer(
            {
                $0.rerank.capPerReference = nil
                $0.rerank.tagDiversity = TagDiversityConfig(attribute: "genres", penalty: 10, window: 3)
            },
            context: ["t1"]
        )
        #expect(ids == ["t12", "t8", "t4", "t11", "t10", "t9", "t7", "t6", "t5", "t3", "t2"])
    }

    @Test func reportedScoresNeverIncreaseAlongTheAnswer() throws {
        let state = try GenericFixture.state(try GenericFixture.surface())
        let run = try GenericFixture.list(state, GenericFixture.query(["t1", "t5"], limit: 100))
        for k in run.finalScores.indices.dropFirst() { #expect(run.finalScores[k] <= run.finalScores[k - 1]) }
    }

    @Test func excludedIdsAreNeverAnswered() throws {
        let state = try GenericFixture.state(try GenericFixture.surface())
        var query = GenericFixture.query(["t1"], limit: 100)
        query.excludeItemIDs = ["t12", "nope"]
        let run = try GenericFixture.list(state, query)
        #expect(!GenericFixture.ids(run, state.surfaces["next_track"]!).contains("t12"))
    }
}

@Suite struct GenericEngineTests {
    static let engine = GenericFixture.engine

    static func recommend(_ query: RecommendQuery) throws -> [RecommendSection] {
        var sections: [RecommendSection] = []
        try engine.recommend(query, deadline: GenericFixture.deadline, isCancelled: { false }) { sections.append($0) }
        return sections
    }

    static func refusal(_ query: RecommendQuery) -> RankingError? {
        do {
            _ = try recommend(query)
            return nil
        } catch {
            return error as? RankingError
        }
    }

    static func message(_ error: RankingError?) -> String { error.map(\.description) ?? "no error" }

    @Test func aMusicCatalogServesNextTrackInOneSection() throws {
        #expect(Self.engine.surfaceNames == ["next_track"])
        let sections = try Self.recommend(GenericFixture.query(["t1", "t2"], limit: 5))
        #expect(sections.count == 1)
        let section = try #require(sections.first)
        #expect(section.key == "up_next")
        #expect(section.snapshotID == "fixture-music")
        #expect(section.items.count == 5)
        #expect(!section.items.contains { ["t1", "t2"].contains($0.itemID) })
        #expect(section.modelVersion == Self.engine.modelVersion)
    }

    @Test func explainNamesSourcesAndFeatures() throws {
        let sections = try Self.recommend(GenericFixture.query(["t2"], limit: 3, explain: true))
        let entry = try #require(sections.first?.items.first)
        #expect(!entry.sources.isEmpty)
        #expect(entry.features.contains { $0.0 == "cosine_session" })
    }

    @Test func missingContextItemsAreRefusedNamingWhatIsNeeded() {
        let error = Self.refusal(GenericFixture.query([]))
        guard case .invalidArgument(let message)? = error else {
            Issue.record("\(Self.message(error))")
            return
        }
        #expect(message.contains("context_item_ids is required for surface next_track"))
        #expect(message.contains("track playing first"))
    }

    @Test func unknownTrackIdsAreRefusedNamingUpToFive() {
        let error = Self.refusal(GenericFixture.query(["t1", "x1", "x2", "x3", "x4", "x5", "x6"]))
        guard case .invalidArgument(let message)? = error else {
            Issue.record("\(Self.message(error))")
            return
        }
        #expect(message.contains("6 of 7 are not tracks of the catalog"))
        #expect(message.contains("\"x5\"") && !message.contains("\"x6\""))
        #expect(message.contains("and 1 more"))
    }

    @Test func tooManyContextItemsAreRefused() {
        let error = Self.refusal(GenericFixture.query([String](repeating: "t1", count: 51)))
        #expect(Self.message(error).contains("51 context_item_ids is more than the 50"))
    }

    @Test func inputsTheSurfaceDoesNotTakeAreRefused() {
        var query = GenericFixture.query(["t1"])
        query.venueID = "v1"
        #expect(Self.refusal(query) == .invalidArgument("surface next_track takes no venue_id"))
        query.venueID = ""
        query.category = "rock"
        #expect(Self.refusal(query) == .invalidArgument("surface next_track takes no category"))
    }

    @Test func aMarketplaceSurfaceOnAMusicCatalogIsUnknown() {
        var query = GenericFixture.query(["t1"])
        query.surface = "discovery"
        #expect(Self.refusal(query) == .notFound("unknown surface \"discovery\"; known surfaces: next_track"))
        query.surface = ""
        #expect(Self.refusal(query) == .invalidArgument("surface is required; known surfaces: next_track"))
    }

    @Test func nextTrackOnAMarketplaceCatalogIsUnknown() throws {
        let query = GenericFixture.query(["i1"])
        do {
            _ = try Fixture.engine.recommendList(query, deadline: GenericFixture.deadline, isCancelled: { false })
            Issue.record("answered")
        } catch let error as RankingError {
            guard case .notFound(let message) = error else {
                Issue.record("\(error)")
                return
            }
            #expect(message.hasPrefix("unknown surface \"next_track\"; known surfaces: "))
        }
    }

    @Test func rankIsRefusedForAGenericSurface() {
        #expect(throws: RankingError.self) {
            _ = try Self.engine.rank(
                RankQuery(userID: "u1", surface: "next_track", candidates: [CandidateInput(itemID: "t1")]),
                deadline: GenericFixture.deadline,
                isCancelled: { false }
            )
        }
    }

    @Test func limitsAreChecked() {
        var query = GenericFixture.query(["t1"], limit: 101)
        #expect(Self.message(Self.refusal(query)).contains("above the maximum 100"))
        query.limit = -1
        #expect(Self.message(Self.refusal(query)).contains("must not be negative"))
    }

    @Test func aPassedDeadlineIsRefused() {
        do {
            try Self.engine.recommend(GenericFixture.query(["t1"]), deadline: .now(), isCancelled: { false }) { _ in }
            Issue.record("answered")
        } catch {
            #expect(error as? RankingError == .deadlineExceeded)
        }
    }
}

@Suite struct GenericConfigTests {
    @Test func theEmbeddedMusicConfigurationDecodesWithoutProblems() throws {
        let config = try #require(try DomainConfig.embedded(schema: "music"))
        #expect(config.problems().isEmpty)
        #expect(DomainConfig.embeddedSchemas().contains("music"))
        #expect(try DomainConfig.embedded(schema: "marketplace") == nil)
    }

    @Test func configurationProblemsNameTheirPath() throws {
        var surface = try GenericFixture.surface()
        surface.sources.append(GenericSourceConfig(name: "telepathy", quota: 3))
        surface.weights = ["no_such_feature": 1]
        surface.rerank.capPerReference = ReferenceCapConfig(attribute: "artist", cap: 0, window: -1)
        surface.rerank.tagDiversity = TagDiversityConfig(attribute: "genres", penalty: 0.1, window: -2)
        let problems = DomainConfig(schema: "music", models: [:], surfaces: ["s": surface]).problems()
        #expect(problems.contains { $0.path == ["surfaces", "s", "sources", "5", "name"] })
        #expect(problems.contains { $0.path == ["surfaces", "s", "weights", "no_such_feature"] })
        #expect(problems.contains { $0.path == ["surfaces", "s", "rerank", "capPerReference", "cap"] })
        #expect(problems.contains { $0.path == ["surfaces", "s", "rerank", "capPerReference", "window"] })
        #expect(problems.contains { $0.path == ["surfaces", "s", "rerank", "tagDiversity", "window"] })
    }

    @Test func namesTheCatalogDoesNotHaveAreRefusedWhenTheSurfaceIsBuilt() throws {
        let cases: [(GenericSurfaceConfig, String)] = [
            (try GenericFixture.surface { $0.kind = "album" }, "ranks kind album"),
            (
                try GenericFixture.surface {
                    $0.features.append(GenericFeatureConfig(name: "x", kind: "attribute", attribute: "loudness"))
                }, "feature x needs a number attribute"
            ),
            (
                try GenericFixture.surface {
                    $0.features.append(GenericFeatureConfig(name: "x", kind: "vibes"))
                }, "unknown kind vibes"
            ),
            (
                try GenericFixture.surface {
                    $0.features.append(GenericFeatureConfig(name: "x", kind: "user_events", event: "dance"))
                }, "history has no event dance"
            ),
            (try GenericFixture.surface { $0.history.attribute = "purchases" }, "user has no history purchases"),
            (
                try GenericFixture.surface {
                    $0.rerank.tagDiversity = TagDiversityConfig(attribute: "moods", penalty: 1, window: 3)
                }, "tagDiversity needs a tags attribute"
            ),
        ]
        for (surface, expected) in cases {
            do {
                _ = try GenericFixture.state(surface)
                Issue.record("built despite: \(expected)")
            } catch {
                #expect("\(error)".contains(expected), "\(error)")
            }
        }
    }

    @Test func aSurfaceWhoseModelIsNotLoadedIsRefused() throws {
        let surface = try GenericFixture.surface { $0.model = "m" }
        #expect(throws: RankingError.self) {
            _ = try GenericSurface(name: "s", config: surface, catalog: GenericFixture.catalog, models: [:])
        }
    }
}

@Suite struct GenericModelTests {
    @Test func theNextTrackModelReproducesItsGoldenFileAndReadsOnlyFeaturesTheSurfaceComputes() throws {
        let directory = try EmbeddedResources.directory()
        let config = try #require(try DomainConfig.embedded(schema: "music"))
        let key = try #require(config.surfaces["next_track"]?.model)
        let model = try #require(config.models[key])
        let trees = try GenericState.loadModel(
            file: RankingEngine.resolve(model.file, in: directory),
            golden: RankingEngine.resolve(model.golden, in: directory)
        )
        let surface = try #require(config.surfaces["next_track"])
        try trees.checkFeatures(available: surface.features.map(\.name))
    }

    @Test func aModelWantingAFeatureTheSurfaceDoesNotComputeIsRefusedNamingIt() throws {
        let directory = try EmbeddedResources.directory()
        let config = try #require(try DomainConfig.embedded(schema: "music"))
        let model = try #require(config.models["next_track_lgbm"])
        let trees = try GenericState.loadModel(
            file: RankingEngine.resolve(model.file, in: directory),
            golden: RankingEngine.resolve(model.golden, in: directory)
        )
        let dropped = try #require(trees.featureNames.first)
        let surface = try GenericFixture.surface {
            $0.model = "m"
            $0.features.removeAll { $0.name == dropped }
        }
        do {
            _ = try GenericSurface(name: "s", config: surface, catalog: GenericFixture.catalog, models: ["m": trees])
            Issue.record("a surface without \(dropped) was built with a model that reads it")
        } catch {
            #expect("\(error)".contains("needs features the s surface does not compute: \(dropped)"), "\(error)")
        }
    }

    @Test func aModelThatDiffersFromItsGoldenFileIsRefused() throws {
        let directory = try EmbeddedResources.directory()
        let folder = NSTemporaryDirectory() + "rankd-generic-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.copyItem(atPath: directory + "/next-track-lgbm.txt", toPath: folder + "/m.txt")
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/next-track-lgbm.golden.json"))
        var golden = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var scores = try #require(golden["raw_scores"] as? [Double])
        scores[0] += 0.5
        golden["raw_scores"] = scores
        try JSONSerialization.data(withJSONObject: golden).write(to: URL(fileURLWithPath: folder + "/m.golden.json"))
        #expect(throws: RankingError.self) {
            _ = try GenericState.loadModel(file: folder + "/m.txt", golden: folder + "/m.golden.json")
        }
    }

    @Test func theServedScoreIsTheModelAppliedToTheExplainedFeatures() throws {
        let result = try GenericFixture.engine.recommendList(
            GenericFixture.query(["t2", "t1"], limit: 5, explain: true),
            deadline: GenericFixture.deadline,
            isCancelled: { false }
        )
        let config = try #require(try DomainConfig.embedded(schema: "music"))
        let directory = try EmbeddedResources.directory()
        let model = try #require(config.models["next_track_lgbm"])
        let trees = try GenericState.loadModel(
            file: RankingEngine.resolve(model.file, in: directory),
            golden: RankingEngine.resolve(model.golden, in: directory)
        )
        #expect(result.modelVersion == trees.version)
        for entry in result.items {
            let byName = Dictionary(uniqueKeysWithValues: entry.features.map { ($0.0, $0.1) })
            let row = trees.featureNames.map { byName[$0] ?? .nan }
            #expect(row.withUnsafeBufferPointer { trees.rawScore($0) } == entry.modelScore)
        }
    }

    @Test func anEmbeddingQueryMayLeanTowardsTheUser() throws {
        // u1's vector is (1, 0): with a heavy user weight, t1-t4 (1, 0.1 k) come before t9 (-1, 0), the anchor.
        let source = GenericSourceConfig(
            name: "embedding_neighbours",
            quota: 2,
            attribute: "embedding",
            userAttribute: "embedding",
            userWeight: 10
        )
        let state = try GenericFixture.state(try GenericFixture.only(source))
        let run = try GenericFixture.list(state, GenericFixture.query(["t9"]))
        #expect(run.candidates == [0, 1])
        let alone = try GenericFixture.list(state, GenericFixture.query(["t9"], user: "u3"))
        #expect(alone.candidates == [8, 9])
    }
}

@Suite struct GenericOperationsTests {
    @Test func operatorsSeeTheGenericModelAndCatalog() {
        let engine = GenericFixture.engine
        #expect(engine.servingModels.map(\.key) == ["next_track_lgbm"])
        #expect(engine.memoryReport.hasPrefix("catalog (music): "))
        #expect(engine.catalog.snapshotID == "fixture-music")
    }
}

@Suite struct GenericTwoPhaseTests {
    @Test func leadersGetEveryTreeAndRankBeforeCandidatesScoredByTheFirstTreesOnly() throws {
        var config = try #require(try DomainConfig.embedded(schema: "music"))
        config.surfaces["next_track"]?.scoring = ScoringConfig(firstPhaseTrees: 30, fullModelTopN: 3)
        config.surfaces["next_track"]?.rerank.capPerReference = nil
        let directory = try EmbeddedResources.directory()
        let state = try GenericState(catalog: GenericFixture.catalog, config: config, resourceDirectory: directory)
        let surface = try #require(state.surfaces["next_track"])
        let trees = try #require(surface.model)
        let run = try GenericFixture.list(state, GenericFixture.query(["t1"], limit: 100, explain: true))
        let n = run.candidates.count
        #expect(run.fullyScored.count == n && run.fullyScored.filter { $0 }.count == 3)
        for i in 0..<n {
            let row = surface.modelLayout.map { run.featureRows[i * run.featureWidth + $0] }
            let limit = run.fullyScored[i] ? nil : 30
            #expect(row.withUnsafeBufferPointer { trees.rawScore($0, treeLimit: limit) } == run.modelScores[i])
        }
        // The context item is excluded; every other leader comes before every first-phase-only candidate.
        let kept = run.order.filter { run.candidates[$0] != 0 }
        let leaders = kept.filter { run.fullyScored[$0] }.count
        #expect(kept.prefix(leaders).allSatisfy { run.fullyScored[$0] })

        // The answer reports every tree's score for each entry it returns, first-phase ones included.
        var answered = run
        let shown = min(6, run.order.count - 1)
        try #require(run.order.prefix(shown).contains { !run.fullyScored[$0] })
        surface.completeModelScores(&answered, positions: 0..<shown)
        for k in 0..<shown {
            let i = answered.order[k]
            let row = surface.modelLayout.map { answered.featureRows[i * answered.featureWidth + $0] }
            #expect(row.withUnsafeBufferPointer { trees.rawScore($0, treeLimit: nil) } == answered.modelScores[i])
            #expect(answered.fullyScored[i])
        }
        // Only the entries answered: the others keep their first-phase scores.
        #expect(answered.order.dropFirst(shown).contains { !answered.fullyScored[$0] })
    }
}
