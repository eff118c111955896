import Dispatch
import Foundation
import Testing

@testable import Ranking

/// The online feature kinds and re-rank rules of generic surfaces, on the hand-made music fixture.
@Suite struct GenericOnlineTests {
    static let now: Int64 = 1_780_000_000_000

    /// A store holding `events` of u1, as (kind, track, seconds before now, session).
    static func store(_ events: [(EventKind, String, Int64, String)]) throws -> InProcessOnlineStore {
        let store = InProcessOnlineStore()
        let online = events.enumerated().map { i, e in
            OnlineEvent(
                eventID: "e\(i)",
                userID: "u1",
                sessionID: e.3,
                kind: e.0,
                itemID: e.1,
                timeMs: now - e.2 * 1000
            )
        }
        _ = try store.write(online, nowMs: now, deadline: .now() + .seconds(10))
        return store
    }

    static func query(_ context: [String], session: String = "s1") -> RecommendQuery {
        var query = GenericFixture.query(context, user: "u1", limit: 100, explain: true)
        query.context = RequestContext(requestTimeUnixMs: now, sessionID: session)
        return query
    }

    static func feature(
        _ name: String,
        _ kind: String,
        _ change: (inout GenericFeatureConfig) -> Void = { _ in }
    )
        -> GenericFeatureConfig
    {
        var feature = GenericFeatureConfig(name: name, kind: kind)
        change(&feature)
        return feature
    }

    /// The value of feature `name` for track `track` in `run`.
    static func value(_ run: GenericRun, _ surface: GenericSurface, _ name: String, _ track: Int32) -> Double? {
        guard let row = run.candidates.firstIndex(of: track), let j = surface.featureNames.firstIndex(of: name)
        else { return nil }
        return run.featureRows[row * run.featureWidth + j]
    }

    @Test func onlineFeaturesFollowTheEventsOfTheUserTheSessionAndEveryone() throws {
        let state = try GenericFixture.state(
            try GenericFixture.surface {
                $0.features = [
                    Self.feature("plays_1h", "online_window_count") {
                        $0.event = "play"
                        $0.windowSeconds = 3600
                    },
                    Self.feature("skip_rate", "online_rate") {
                        $0.event = "skip"
                        $0.over = "play"
                        $0.windowSeconds = 86_400
                        $0.prior = 0.5
                        $0.priorWeight = 2
                    },
                    Self.feature("since_artist_skip", "online_time_since") {
                        $0.event = "skip"
                        $0.via = "artist"
                        $0.scope = "session"
                    },
                    Self.feature("since_any", "online_time_since"),
                    Self.feature("genre_affinity", "online_session_affinity") { $0.via = "genres" },
                    Self.feature("played_in_session", "online_interacted") {
                        $0.event = "play"
                        $0.scope = "session"
                    },
                ]
                $0.weights = ["plays_1h": 1]
            }
        )
        let surface = state.surfaces["next_track"]!
        // t5 (a2, jazz) played twice and skipped once in session s1; t6 (a2) played two hours ago in another session.
        let store = try Self.store([
            (.play, "t5", 60, "s1"), (.skip, "t5", 50, "s1"), (.play, "t5", 30, "s1"), (.play, "t6", 7200, "s0"),
        ])
        let run = try GenericFixture.list(state, Self.query(["t1"]), online: store)
        #expect(Self.value(run, surface, "plays_1h", 4) == 2)
        #expect(Self.value(run, surface, "plays_1h", 5) == 0)  // two hours ago
        #expect(Self.value(run, surface, "skip_rate", 4) == (1 + 1) / (2 + 2.0))
        #expect(Self.value(run, surface, "skip_rate", 6) == 0.5)  // the prior alone
        #expect(Self.value(run, surface, "since_artist_skip", 6) == 50)  // t7 shares t5's artist
        #expect(Self.value(run, surface, "since_artist_skip", 8)?.isNaN == true)
        #expect(Self.value(run, surface, "since_any", 5) == 7200)
        #expect(Self.value(run, surface, "genre_affinity", 6) == 1)  // every session event was on jazz
        #expect(Self.value(run, surface, "genre_affinity", 8) == 0)
        #expect(Self.value(run, surface, "played_in_session", 4) == 1)
        #expect(Self.value(run, surface, "played_in_session", 5) == 0)  // another session
        // Without a store the same features read as no events.
        let cold = try GenericFixture.list(state, Self.query(["t1"]))
        #expect(Self.value(cold, surface, "played_in_session", 4) == 0)
        #expect(Self.value(cold, surface, "since_any", 5)?.isNaN == true)
        #expect(cold.degradedStages.isEmpty)
    }

    @Test func sessionDifferenceAndCosineCompareWithWhatTheSessionCompletedOrSkipped() throws {
        let state = try GenericFixture.state(
            try GenericFixture.surface {
                // (name, kind, event, attribute)
                let kinds = [
                    ("energy_gap_completes", "online_session_difference", "complete", "energy"),
                    ("energy_gap_skips", "online_session_difference", "skip", "energy"),
                    ("energy_vs_completes", "online_session_difference", "complete", "energy"),
                    ("cosine_completes", "online_session_cosine", "complete", "embedding"),
                    ("cosine_skips", "online_session_cosine", "skip", "embedding"),
                ]
                $0.features = kinds.map { name, kind, event, attribute in
                    Self.feature(name, kind) {
                        $0.event = event
                        $0.attribute = attribute
                        $0.signed = name == "energy_vs_completes" ? true : nil
                    }
                }
                $0.weights = ["energy_gap_completes": -1]
            }
        )
        let surface = state.surfaces["next_track"]!
        // Session s1 completed t5 (energy 0.5) and t7 (0.7) and skipped t9 (0.9); a skip of t2 (0.2) is another
        // session's.
        let store = try Self.store([
            (.complete, "t5", 300, "s1"), (.complete, "t7", 200, "s1"), (.skip, "t9", 100, "s1"),
            (.skip, "t2", 50, "s0"),
        ])
        let run = try GenericFixture.list(state, Self.query(["t1"]), online: store)
        func value(_ name: String, _ track: Int32) throws -> Double {
            try #require(Self.value(run, surface, name, track))
        }
        #expect(abs(try value("energy_gap_completes", 5) - 0) < 1e-6)  // t6: 0.6, the completes' mean
        #expect(abs(try value("energy_gap_completes", 10) - 0.5) < 1e-6)  // t11: 0.1
        #expect(abs(try value("energy_gap_skips", 5) - 0.3) < 1e-6)
        #expect(abs(try value("energy_gap_skips", 10) - 0.8) < 1e-6)
        #expect(abs(try value("energy_vs_completes", 10) + 0.5) < 1e-6)  // signed: t11 is below the completes
        #expect(abs(try value("energy_vs_completes", 8) - 0.3) < 1e-6)  // t9: 0.9
        // Embeddings: t5 and t7 are (0, 1), t9 (-1, 0), t11 (-1, 0.1), t2 (1, 0.2).
        #expect(abs(try value("cosine_completes", 5) - 1) < 1e-6)
        #expect(abs(try value("cosine_completes", 1) - 0.2 / (1.04 as Double).squareRoot()) < 1e-6)
        #expect(abs(try value("cosine_skips", 10) - 1 / (1.01 as Double).squareRoot()) < 1e-6)
        #expect(abs(try value("cosine_skips", 5) - 0) < 1e-6)
        // The closest to what the session completed leads (t6; t5 and t7 are not context, so they may come back).
        #expect(GenericFixture.ids(run, surface).first == "t6")
        // Without the session's events the gap is missing, not zero.
        let cold = try GenericFixture.list(state, Self.query(["t1"], session: "s9"), online: store)
        #expect(Self.value(cold, surface, "energy_gap_completes", 5)?.isNaN == true)
        #expect(Self.value(cold, surface, "energy_gap_skips", 5)?.isNaN == true)
        #expect(Self.value(cold, surface, "cosine_completes", 5)?.isNaN == true)
    }

    @Test func sessionRateIsHowTheCandidatesArtistOrBestGenreFaredInTheSession() throws {
        let state = try GenericFixture.state(
            try GenericFixture.surface {
                $0.features = ["artist", "genres"].map { via in
                    Self.feature("\(via)_complete_rate", "online_session_rate") {
                        $0.event = "complete"
                        $0.over = "play"
                        $0.via = via
                        $0.prior = 0.7
                        $0.priorWeight = 1
                    }
                }
                $0.weights = ["artist_complete_rate": 1]
            }
        )
        let surface = state.surfaces["next_track"]!
        // Session s1 completed t5 (a2; jazz and rock) and t9 (a3; pop) and skipped t6 (a2; jazz); another session
        // played t1 (a1; rock).
        let store = try Self.store([
            (.play, "t5", 300, "s1"), (.complete, "t5", 100, "s1"), (.play, "t6", 90, "s1"), (.skip, "t6", 80, "s1"),
            (.play, "t9", 70, "s1"), (.complete, "t9", 10, "s1"), (.play, "t1", 50, "s0"),
        ])
        let run = try GenericFixture.list(state, Self.query(["t1"]), online: store)
        func value(_ name: String, _ track: Int32) throws -> Double {
            try #require(Self.value(run, surface, name, track))
        }
        // (completes + 0.7) / (plays + 1) over the group's tracks in the session.
        #expect(abs(try value("artist_complete_rate", 6) - 1.7 / 3) < 1e-9)  // t7: a2, 1 of 2
        #expect(abs(try value("artist_complete_rate", 9) - 1.7 / 2) < 1e-9)  // t10: a3, 1 of 1
        #expect(abs(try value("artist_complete_rate", 1) - 0.7) < 1e-9)  // t2: a1, only another session's play
        #expect(abs(try value("genres_complete_rate", 7) - 1.7 / 3) < 1e-9)  // t8: jazz, 1 of 2
        #expect(abs(try value("genres_complete_rate", 1) - 1.7 / 2) < 1e-9)  // t2: rock, t5's complete
        #expect(abs(try value("genres_complete_rate", 11) - 1.7 / 2) < 1e-9)  // t12: pop
        // A session without events reads the prior.
        let cold = try GenericFixture.list(state, Self.query(["t1"], session: "s9"), online: store)
        #expect(Self.value(cold, surface, "artist_complete_rate", 9) == 0.7)
        #expect(Self.value(cold, surface, "genres_complete_rate", 7) == 0.7)
    }

    @Test func candidateRowsReadTheSessionsEventsAsRecommendDoes() throws {
        // An engine of its own: the rows read the engine's store, which other tests must not see.
        let engine = try RankingEngine(
            catalog: Catalog.generic(GenericFixture.catalog, snapshotID: "fixture-music-rows"),
            config: RankingEngine.embeddedConfig(),
            resourceDirectory: RankingEngine.embeddedResourceDirectory()
        )
        var query = Self.query(["t1"])
        query.explain = false
        let cold = try engine.candidateRows(query)
        // t6's artist (a2) was skipped 50 s ago in the request's session.
        engine.onlineStore = try Self.store([(.play, "t5", 60, "s1"), (.skip, "t5", 50, "s1")])
        let rows = try engine.candidateRows(query)
        let served = try engine.recommendList(
            {
                var explained = query
                explained.explain = true
                explained.limit = 100
                return explained
            }(),
            deadline: GenericFixture.deadline,
            isCancelled: { false }
        )
        let j = try #require(rows.featureNames.firstIndex(of: "online_secs_since_artist_skip"))
        let row = try #require(rows.itemIDs.firstIndex(of: "t6"))
        #expect(rows.values[row * rows.featureNames.count + j] == 50)
        #expect(cold.values[row * cold.featureNames.count + j].isNaN)
        // The same value as the served answer's explanation.
        let entry = try #require(served.items.first { $0.itemID == "t6" })
        #expect(entry.features.first { $0.0 == "online_secs_since_artist_skip" }?.1 == 50)
    }

    @Test func aJustSkippedTrackIsNotAnsweredAndItsArtistSinks() throws {
        let state = try GenericFixture.state(
            try GenericFixture.surface {
                $0.weights = ["track.popularity": 1]
                $0.rerank.tagDiversity = nil
                $0.rerank.capPerReference = nil
                $0.rerank.excludeRecent = RecentEventRule(events: ["skip"], withinSeconds: 600)
                $0.rerank.demoteRecent = RecentEventRule(
                    events: ["skip"],
                    withinSeconds: 600,
                    attribute: "artist",
                    penalty: 10
                )
            }
        )
        let surface = state.surfaces["next_track"]!
        let before = GenericFixture.ids(try GenericFixture.list(state, Self.query(["t1"])), surface)
        #expect(before.prefix(2) == ["t12", "t11"])
        // t12 (a4) skipped a minute ago: t12 goes, and t11 (a4) falls below every other artist's tracks.
        let store = try Self.store([(.skip, "t12", 60, "")])
        let after = GenericFixture.ids(try GenericFixture.list(state, Self.query(["t1"]), online: store), surface)
        #expect(!after.contains("t12"))
        #expect(after.last == "t11")
        // Skipped 20 minutes ago: outside both rules' ten minutes.
        let old = try Self.store([(.skip, "t12", 1200, "")])
        let later = GenericFixture.ids(try GenericFixture.list(state, Self.query(["t1"]), online: old), surface)
        #expect(later == before)
    }

    @Test func aStoreThatIsDownLeavesTheAnswerDegradedNotFailed() throws {
        let state = try GenericFixture.state(try GenericFixture.surface())
        let run = try GenericFixture.list(state, Self.query(["t1"]), online: OnlineRankingTests.DownStore())
        #expect(!run.order.isEmpty)
        #expect(run.degradedStages.contains("features.online"))
    }

    @Test func badOnlineSettingsAreRefusedNamingTheFeature() throws {
        let cases: [(GenericFeatureConfig, String)] = [
            (Self.feature("f", "online_window_count"), "needs an event kind"),
            (Self.feature("f", "online_window_count") { $0.event = "listen" }, "unknown event kind listen"),
            (
                Self.feature("f", "online_window_count") {
                    $0.event = "play"
                    $0.windowSeconds = 5400
                }, "windowSeconds 5400"
            ),
            (
                Self.feature("f", "online_rate") {
                    $0.event = "click"
                    $0.windowSeconds = 3600
                }, "(over) needs an event kind"
            ),
            (
                Self.feature("f", "online_rate") {
                    $0.event = "click"
                    $0.over = "impression"
                    $0.windowSeconds = 3600
                    $0.priorWeight = 0
                }, "priorWeight"
            ),
            (Self.feature("f", "online_time_since") { $0.scope = "device" }, "scope must be user or session"),
            (Self.feature("f", "online_session_affinity") { $0.via = "tempo" }, "reference or tags attribute"),
            (Self.feature("f", "online_interacted") { $0.windowSeconds = -1 }, "windowSeconds must be positive"),
            (Self.feature("f", "online_session_difference") { $0.attribute = "genres" }, "needs a number attribute"),
            (Self.feature("f", "online_session_cosine") { $0.attribute = "energy" }, "needs an embedding attribute"),
            (
                Self.feature("f", "online_session_rate") {
                    $0.event = "complete"
                    $0.over = "play"
                    $0.via = "tempo"
                }, "needs a reference attribute"
            ),
            (Self.feature("f", "online_session_rate") { $0.event = "complete" }, "(over) needs an event kind"),
            (
                Self.feature("f", "online_session_difference") {
                    $0.attribute = "energy"
                    $0.event = "finish"
                }, "unknown event kind finish"
            ),
        ]
        for (feature, message) in cases {
            let surface = try GenericFixture.surface { $0.features = [feature] }
            #expect {
                try GenericFixture.state(surface)
            } throws: { error in
                "\(error)".contains("feature f") && "\(error)".contains(message)
            }
        }
        let rule = try GenericFixture.surface {
            $0.rerank.demoteRecent = RecentEventRule(events: [], withinSeconds: 60, attribute: "artist", penalty: 1)
        }
        #expect(throws: RankingError.self) { try GenericFixture.state(rule) }
        let penalty = try GenericFixture.surface {
            $0.rerank.demoteRecent = RecentEventRule(
                events: ["skip"],
                withinSeconds: 60,
                attribute: "artist",
                penalty: -1
            )
        }
        #expect(throws: RankingError.self) { try GenericFixture.state(penalty) }
    }
}
