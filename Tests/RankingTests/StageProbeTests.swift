import Testing

@testable @_spi(Benchmarks) import Ranking

/// The probe the micro benchmarks time the pipeline's stages with: it must run each stage on what the request
/// itself gives it, and refuse what it cannot take apart.
@Suite struct StageProbeTests {
    @Test func eachStageRunsOnTheRequestsOwnInputs() throws {
        let query = Fixture.discovery(user: Fixture.berlinUser())
        let probe = try Fixture.engine.stageProbe(query)
        let list = try Fixture.engine.recommendList(query, deadline: Fixture.unhurried, isCancelled: Fixture.never)
        // The same candidates as the pipeline's own run of the request.
        #expect(probe.candidates.count == list.candidateCount)
        #expect(probe.sourceNames == list.sourceNames)
        // Every source runs alone; together they give every merged candidate (several find the same venue).
        let counts = try probe.sourceNames.indices.map { try probe.runSource($0) }
        #expect(counts.reduce(0, +) >= probe.candidates.count)
        #expect(counts.contains { $0 > 0 })
        // The join fills its first column (distance) for a real candidate; the scores are finite and repeatable.
        #expect(probe.joinFeatures().isFinite)
        let best = probe.score()
        #expect(best.isFinite)
        #expect(probe.score() == best)
    }

    @Test func aRequestThePipelineRefusesIsRefusedToo() {
        #expect(throws: RankingError.self) {
            try Fixture.engine.stageProbe(RecommendQuery(userID: "", surface: "discovery"))
        }
        #expect(throws: RankingError.self) {
            try Fixture.engine.stageProbe(RecommendQuery(userID: "u1", surface: "nope"))
        }
    }

    @Test func genericSurfacesAreNotTakenApart() {
        #expect(throws: RankingError.self) {
            try GenericFixture.engine.stageProbe(GenericFixture.query(["t1"]))
        }
    }
}
