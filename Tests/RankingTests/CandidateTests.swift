import Dispatch
import Foundation
import Testing

@testable import Ranking

/// A source that answers only after its deadline has passed: the engine must drop it, whatever the timing.
struct SlowSource: CandidateSource {
    let name = "slow"
    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        while DispatchTime.now() <= deadline { usleep(500) }
        out.append(contentsOf: (0..<Int32(quota)))
    }
}

/// A source that always fails.
struct BrokenSource: CandidateSource {
    let name = "broken"
    struct Failure: Error {}
    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        throw Failure()
    }
}

@Suite struct CandidateGenerationTests {
    let far = DispatchTime.now() + .seconds(60)

    @Test func nearbyReturnsExactlyTheOrderableVenuesFoundByAFullScan() throws {
        for user in [0, 1, 2, 3, Fixture.berlinUser()] {
            let request = Fixture.request(user: user)
            var found: [Int32] = []
            try NearbySource().generate(request, quota: 10_000, deadline: far, into: &found)
            let scan = (0..<Fixture.catalog.venueCount).filter { request.isOrderable($0) }
            #expect(Set(found.map(Int.init)) == Set(scan))
            #expect(found.count == Set(found).count)
        }
    }

    @Test func nearbyRespectsItsQuotaAndPrefersNearVenues() throws {
        let request = Fixture.request(user: Fixture.berlinUser())
        var all: [Int32] = []
        try NearbySource().generate(request, quota: 10_000, deadline: far, into: &all)
        try #require(all.count > 6)
        var few: [Int32] = []
        try NearbySource().generate(request, quota: 3, deadline: far, into: &few)
        #expect(few.count == 3)
        let farthestTaken = few.map { request.distanceKm(Int($0)) }.max()!
        let medianAll = all.map { request.distanceKm(Int($0)) }.sorted()[all.count / 2]
        #expect(farthestTaken <= medianAll + 1.5)  // ring order is nearest-first to within one cell
    }

    @Test func mergeDeduplicatesAndKeepsEverySource() {
        let request = Fixture.request(user: Fixture.berlinUser())
        let generator = CandidateGenerator(sources: [(NearbySource(), 500), (PopularSource(), 500)], parallel: false)
        var degraded: [String] = []
        var timings: [StageTiming] = []
        let set = generator.run(request, deadline: far, degraded: &degraded, timings: &timings)
        #expect(degraded.isEmpty)
        #expect(set.indexes == set.indexes.sorted() && Set(set.indexes).count == set.indexes.count)
        // Every popular venue that delivers here is also nearby, so both bits are set on it.
        #expect(set.sourceMask.contains(3))
        #expect(timings.map(\.stage) == ["candidates.nearby", "candidates.popular"])
    }

    @Test(arguments: [true, false])
    func aSourceThatOverrunsItsBudgetIsDroppedAndTheAnswerSaysSo(parallel: Bool) throws {
        let engine = try Fixture.engine(sources: [SlowSource()]) { config in
            config.surfaces["discovery"]!.sources.append(SourceConfig(name: "slow", quota: 50))
            config.surfaces["discovery"]!.parallelSources = parallel
        }
        let query = Fixture.discovery(user: Fixture.berlinUser())
        let result = try engine.recommendList(query, deadline: .now() + .milliseconds(400), isCancelled: Fixture.never)
        #expect(result.degraded)
        #expect(result.degradedStages.contains("candidates.slow"))
        if parallel { #expect(!result.items.isEmpty) }
    }

    @Test func aFailingSourceIsDroppedAndTheOthersStillAnswer() throws {
        let engine = try Fixture.engine(sources: [BrokenSource()]) { config in
            config.surfaces["discovery"]!.sources.append(SourceConfig(name: "broken", quota: 50))
        }
        let result = try engine.recommendList(
            Fixture.discovery(user: Fixture.berlinUser()),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        #expect(result.degradedStages == ["candidates.broken"])
        #expect(!result.items.isEmpty)
    }

    @Test func reorderAndCovisitationComeFromTheUsersHistory() throws {
        let user = Fixture.berlinUser(minOrders: 4)
        let request = Fixture.request(user: user)
        var past: [Int32] = []
        try ReorderSource().generate(request, quota: 100, deadline: far, into: &past)
        let c = Fixture.catalog
        let history = Set(c.orderVenue[Int(c.userOrderStart[user])..<Int(c.userOrderStart[user + 1])])
        #expect(Set(past) == history)
        for v in request.covisited { #expect(!history.contains(v)) }
    }
}
