import Dispatch
import Testing
@testable import Ranking

@Suite struct SmokeTests {
    @Test func discoveryRecommendProducesSections() throws {
        let engine = Fixture.engine
        var sections: [RecommendSection] = []
        try engine.recommend(Fixture.discovery(user: Fixture.berlinUser()), deadline: nil, isCancelled: Fixture.never) {
            sections.append($0)
        }
        for s in sections { print(s.key, s.items.count, s.items.prefix(3).map { "\($0.itemID) \($0.score)" }, s.timings) }
        print(engine.memoryReport)
        #expect(!sections.isEmpty)
    }
}
