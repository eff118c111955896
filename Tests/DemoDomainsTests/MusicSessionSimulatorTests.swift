import Foundation
import Testing

@testable import DemoDomains

/// The evaluation helper: a ranker that knows the truth scores 1, the popularity baseline beats chance, and the
/// cases tell a ranker only what a next_track request would.
@Suite struct MusicSessionSimulatorTests {
    static let demo = MusicDemoTests.demo
    static let simulator = MusicSessionSimulator(demo: demo)
    static let cases = simulator.cases(count: 150)

    @Test func casesDescribeTheHeldOutSessionsNewestFirst() throws {
        #expect(Self.cases.count == min(150, Self.demo.heldOutSessions.count))
        #expect(Self.cases.count >= 80)
        for (c, session) in zip(Self.cases, Self.demo.heldOutSessions) {
            let tracks = session.tracks.map { MusicCatalog.trackID(Int($0)) }
            #expect(c.userID == MusicCatalog.userID(session.user))
            #expect(c.playing == tracks.last)
            #expect(c.recent == Array(tracks.dropLast().reversed()))
            #expect(c.relevance.count == MusicSessionSimulator.relevantTracks)
            #expect(c.relevance.allSatisfy { $0.grade == 1 || $0.grade == 2 })
            #expect(Set(c.relevance.map(\.trackID)).isDisjoint(with: tracks), "the truth repeats a session track")
        }
        #expect(Self.cases.contains { $0.relevance.contains { $0.grade == 2 } })
    }

    @Test func aRankerThatKnowsTheTruthScoresOne() {
        let truth = Dictionary(uniqueKeysWithValues: Self.cases.map { ($0.userID, $0.relevance) })
        let perfect = Self.simulator.evaluate(name: "perfect", cases: Self.cases) { user, _, _ in
            truth[user]!.sorted { $0.grade > $1.grade }.map(\.trackID)
        }
        #expect(abs(perfect.ndcg10 - 1) < 1e-9)
        #expect(abs(perfect.recall50 - 1) < 1e-9)
        #expect(perfect.sessions == Self.cases.count)
    }

    @Test func theBaselinesBeatARandomRankerByFar() {
        let trackCount = Self.demo.catalog.trackCount
        var rng = DemoRandom(seed: 3)
        let random = Self.simulator.evaluate(name: "random", cases: Self.cases) { _, _, _ in
            (0..<100).map { _ in MusicCatalog.trackID(rng.below(trackCount)) }
        }
        let popularity = Self.simulator.evaluate(
            name: "popularity",
            cases: Self.cases,
            ranker: Self.simulator.popularityRanker()
        )
        let artistAndGenre = Self.simulator.evaluate(
            name: "artist and genre",
            cases: Self.cases,
            ranker: Self.simulator.artistAndGenreRanker()
        )
        #expect(random.ndcg10 < 0.5 * popularity.ndcg10, "random \(random.ndcg10), popularity \(popularity.ndcg10)")
        #expect(popularity.ndcg10 > 0.05)
        #expect(artistAndGenre.ndcg10 > random.ndcg10)
    }

    @Test func rankersNeverSeeTheSessionsTracks() {
        let ranker = Self.simulator.popularityRanker()
        let catalog = Self.demo.catalog
        for c in Self.cases.prefix(20) {
            let ranked = ranker(c.userID, c.playing, c.recent)
            let session = Set([c.playing] + c.recent)
            // At this scale a session can hold every track of a small genre: then nothing is left to answer.
            let genre = catalog.trackGenre[catalog.trackIndex(c.playing)!]
            let left = (0..<catalog.trackCount).filter {
                catalog.trackGenre[$0] == genre && !session.contains(MusicCatalog.trackID($0))
            }
            #expect(ranked.count == min(100, left.count))
            #expect(Set(ranked).isDisjoint(with: session))
        }
    }

    @Test func ndcgRewardsTheBetterGradeHigher() {
        let relevance = [(trackID: "t1", grade: 2), (trackID: "t2", grade: 1)]
        #expect(MusicSessionSimulator.ndcg(["t1", "t2"], relevance: relevance, k: 10) == 1)
        #expect(MusicSessionSimulator.ndcg(["t2", "t1"], relevance: relevance, k: 10) < 1)
        #expect(MusicSessionSimulator.ndcg(["t1", "t1", "t1"], relevance: relevance, k: 10) < 1)
        #expect(MusicSessionSimulator.ndcg(["t3"], relevance: relevance, k: 10) == 0)
        #expect(MusicSessionSimulator.recall(["t3", "t2"], relevance: relevance, k: 50) == 0.5)
    }
}
