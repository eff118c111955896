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
