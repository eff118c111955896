import Testing

@testable import Ranking

/// The re-rank rules both domains configure: a cap per group (brand, artist) and diversity per group (cuisine,
/// genre). Candidates here are positions 0..<n, already in model order; `groups` gives each one's group.
@Suite struct GreedyWindowTests {
    static func fill(
        _ rules: GreedyWindow,
        scores: [Double],
        fully: [Bool] = [],
        cap: [Int32] = [],
        diversity: [Int32] = []
    ) -> GreedyWindow.Fill {
        rules.fill(
            Array(scores.indices),
            scores: scores,
            fullyScored: fully,
            capGroup: { cap.isEmpty ? -1 : cap[$0] },
            diversityGroup: { diversity.isEmpty ? -1 : diversity[$0] }
        )
    }

    @Test func withoutRulesTheModelOrderStands() {
        let scores = [5.0, 4, 3, 2, 1]
        #expect(Self.fill(GreedyWindow(), scores: scores).order == [0, 1, 2, 3, 4])
        let zero = GreedyWindow(
            cap: GreedyWindow.Cap(cap: 0, window: 3),
            diversity: GreedyWindow.Diversity(penalty: 0, window: 3)
        )
        #expect(
            Self.fill(zero, scores: scores, cap: [1, 1, 1, 1, 1], diversity: [2, 2, 2, 2, 2]).order == [0, 1, 2, 3, 4]
        )
    }

    @Test func theCapHoldsWithinItsWindowAndAGroupsExtrasFollow() {
        // Six of group 1 score highest, then four of group 2.
        let scores = (0..<10).map { 10.0 - Double($0) }
        let groups: [Int32] = [1, 1, 1, 1, 1, 1, 2, 2, 2, 2]
        let rules = GreedyWindow(cap: GreedyWindow.Cap(cap: 2, window: 4))
        let fill = Self.fill(rules, scores: scores, cap: groups)
        #expect(fill.order == [0, 1, 6, 7, 2, 3, 4, 5, 8, 9])
        #expect(fill.scores == [10, 9, 4, 3])
    }

    @Test func whenTheFillRunsOutTheCapStillHoldsOverItsWindow() {
        // The pool (4 x window = 8) holds only group 1; the one candidate of group 2 is ninth in model order.
        let scores = (0..<10).map { 10.0 - Double($0) }
        let groups: [Int32] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 2]
        let fill = Self.fill(GreedyWindow(cap: GreedyWindow.Cap(cap: 1, window: 2)), scores: scores, cap: groups)
        #expect(fill.order == [0, 9, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(fill.scores == [10], "only the first position was chosen by the fill")
    }

    @Test func candidatesWithoutAGroupAreNeitherCappedNorPenalised() {
        let scores = [5.0, 4, 3, 2]
        let rules = GreedyWindow(
            cap: GreedyWindow.Cap(cap: 1, window: 4),
            diversity: GreedyWindow.Diversity(penalty: 10, window: 4)
        )
        let fill = Self.fill(rules, scores: scores, cap: [-1, -1, -1, -1], diversity: [-1, -1, -1, -1])
        #expect(fill.order == [0, 1, 2, 3])
        #expect(fill.scores == [5, 4, 3, 2])
    }

    @Test func diversityTakesAPenaltyPerCandidateOfTheSameGroupAlreadyPlaced() {
        let scores = [10.0, 9.9, 9.8, 9.7]
        let groups: [Int32] = [7, 7, 8, 7]
        let rules = GreedyWindow(diversity: GreedyWindow.Diversity(penalty: 0.5, window: 4))
        let fill = Self.fill(rules, scores: scores, diversity: groups)
        // 10 (7); then 9.8 (8) beats 9.9 - 0.5; then 9.9 - 0.5 beats 9.7 - 0.5; then 9.7 - 1.0.
        #expect(fill.order == [0, 2, 1, 3])
        #expect(fill.scores == [10, 9.8, 9.4, 8.7])
    }

    @Test func eachRuleHoldsOnlyWithinItsOwnWindow() {
        let scores = [10.0, 9.9, 9.8, 9.7, 9.6]
        let groups: [Int32] = [7, 7, 7, 8, 8]
        // Diversity over the first position only: nothing to penalise yet, so the model order stands.
        let short = GreedyWindow(diversity: GreedyWindow.Diversity(penalty: 5, window: 1))
        #expect(Self.fill(short, scores: scores, diversity: groups).order == [0, 1, 2, 3, 4])
        // A cap over two positions with diversity over four: from position 2 on, group 7 is free of the cap but not
        // of the penalty.
        let both = GreedyWindow(
            cap: GreedyWindow.Cap(cap: 1, window: 2),
            diversity: GreedyWindow.Diversity(penalty: 0.05, window: 4)
        )
        let fill = Self.fill(both, scores: scores, cap: groups, diversity: groups)
        #expect(fill.order == [0, 3, 1, 2, 4])
    }

    @Test func fullyScoredCandidatesComeFirstUnlessTheirGroupIsCapped() {
        // Two fully scored of group 1, then a first-phase-only candidate of group 2 with a higher score.
        let scores = [5.0, 4, 9]
        let fully = [true, true, false]
        let free = Self.fill(
            GreedyWindow(diversity: GreedyWindow.Diversity(penalty: 3, window: 3)),
            scores: scores,
            fully: fully,
            diversity: [1, 1, 2]
        )
        #expect(free.order == [0, 1, 2], "a penalty never lifts a first-phase candidate over a fully scored one")
        let capped = Self.fill(
            GreedyWindow(cap: GreedyWindow.Cap(cap: 1, window: 3)),
            scores: scores,
            fully: fully,
            cap: [1, 1, 2]
        )
        #expect(capped.order == [0, 2, 1])
    }

    @Test func theFillLooksOnlyAtFourTimesItsWindow() {
        // Window 2, pool 8: the ninth candidate, of another group, stays where the model put it however large the
        // penalty on the eighth's group.
        let scores = (0..<9).map { 10.0 - Double($0) }
        let groups: [Int32] = [1, 1, 1, 1, 1, 1, 1, 1, 2]
        let rules = GreedyWindow(diversity: GreedyWindow.Diversity(penalty: 100, window: 2))
        #expect(Self.fill(rules, scores: scores, diversity: groups).order == Array(0..<9))
    }

    @Test func aWindowOfAnySizeIsBoundedByTheCandidates() {
        // A configuration may give any window; the fill's pool is then every candidate, without overflowing.
        let scores = [3.0, 2, 1]
        let rules = GreedyWindow(
            cap: GreedyWindow.Cap(cap: 1, window: Int.max),
            diversity: GreedyWindow.Diversity(penalty: 0.5, window: Int.max)
        )
        let fill = Self.fill(rules, scores: scores, cap: [1, 1, 2], diversity: [1, 1, 2])
        #expect(fill.order == [0, 2, 1])
        let negative = GreedyWindow(
            cap: GreedyWindow.Cap(cap: 1, window: -5),
            diversity: GreedyWindow.Diversity(penalty: 0.5, window: -5)
        )
        #expect(Self.fill(negative, scores: scores, cap: [1, 1, 2], diversity: [1, 1, 2]).order == [0, 1, 2])
    }

    /// The fill as a plain scan of the whole pool at every position: what the scan that stops early must equal.
    static func referenceFill(
        _ rules: GreedyWindow,
        scores: [Double],
        fully: [Bool],
        cap: [Int32],
        diversity: [Int32]
    ) -> [Int] {
        let capRule = rules.cap.flatMap { $0.cap > 0 && $0.window > 0 ? $0 : nil }
        let diversityRule = rules.diversity.flatMap { $0.penalty > 0 && $0.window > 0 ? $0 : nil }
        let window = max(capRule?.window ?? 0, diversityRule?.window ?? 0)
        let sorted = Array(scores.indices)
        guard window > 0, sorted.count > 1 else { return sorted }
        let poolSize = window > sorted.count / 4 ? sorted.count : window * 4
        var pool = Array(sorted.prefix(poolSize))
        var order: [Int] = []
        var capCounts: [Int32: Int] = [:]
        var diversityCounts: [Int32: Int] = [:]
        while order.count < window && !pool.isEmpty {
            var best: (k: Int, score: Double, tier: Bool)?
            for (k, i) in pool.enumerated() {
                if let capRule, order.count < capRule.window, cap[i] >= 0, capCounts[cap[i], default: 0] >= capRule.cap
                {
                    continue
                }
                var s = scores[i]
                if let diversityRule, order.count < diversityRule.window, diversity[i] >= 0 {
                    s -= diversityRule.penalty * Double(diversityCounts[diversity[i], default: 0])
                }
                let tier = fully.isEmpty || fully[i]
                if best == nil || (tier && !best!.tier) || (tier == best!.tier && s > best!.score) {
                    best = (k, s, tier)
                }
            }
            guard let best else { break }
            let i = pool.remove(at: best.k)
            order.append(i)
            if cap[i] >= 0 { capCounts[cap[i], default: 0] += 1 }
            if diversity[i] >= 0 { diversityCounts[diversity[i], default: 0] += 1 }
        }
        order += pool
        order += sorted.dropFirst(poolSize)
        if let capRule { order = GreedyWindow.holdCap(order, capRule, capGroup: { cap[$0] }) }
        return order
    }

    @Test(arguments: [2, 9, 40, 130])
    func theFillEqualsAFullScanOnOrderedAndUnorderedPools(count: Int) {
        var rng = SplitMix64(seed: UInt64(count) * 7 + 3)
        // Few distinct scores (ties are common), a few groups, both tiers; pools in the re-rank's order (the scan
        // then stops early) and in no order (it must not).
        let values: [Double] = [3, 2.5, 2.5, 2, 1.9, 1, 0, -0.0, -1, -.infinity]
        for round in 0..<40 {
            var scores = (0..<count).map { _ in values[rng.below(values.count)] }
            var fully = (0..<count).map { _ in rng.below(3) != 0 }
            if round % 2 == 0 {
                let order = scores.indices.sorted { fully[$0] != fully[$1] ? fully[$0] : scores[$0] > scores[$1] }
                (scores, fully) = (order.map { scores[$0] }, order.map { fully[$0] })
            }
            if round % 5 == 4 { fully = [] }
            let cap = (0..<count).map { _ in Int32(rng.below(5)) - 1 }
            let diversity = (0..<count).map { _ in Int32(rng.below(4)) - 1 }
            let rules = GreedyWindow(
                cap: GreedyWindow.Cap(cap: 1 + rng.below(2), window: 1 + rng.below(8)),
                diversity: GreedyWindow.Diversity(penalty: [0, 0.1, 0.5, 2][rng.below(4)], window: 1 + rng.below(8))
            )
            let fill = Self.fill(rules, scores: scores, fully: fully, cap: cap, diversity: diversity)
            let reference = Self.referenceFill(rules, scores: scores, fully: fully, cap: cap, diversity: diversity)
            #expect(fill.order == reference, "round \(round)")
        }
    }

    @Test func theFillEqualsAFullScanWithTheDiscoveryRulesAndManyGroups() {
        // Discovery's shape: a brand cap of 2 over 20 positions, a diversity penalty over 30, a pool of 120 from a
        // few hundred candidates, fifteen cuisines and many brands (most venues without one). Ordered pools take
        // the groups' heads; these must choose exactly what the full scan chooses, ties and the cap included.
        var rng = SplitMix64(seed: 41)
        for round in 0..<60 {
            let count = 40 + rng.below(400)
            var scores = (0..<count).map { _ in Double(rng.below(40)) / 8 - 2 }
            var fully = (0..<count).map { k in k < 80 || rng.below(10) == 0 }
            let order = scores.indices.sorted { fully[$0] != fully[$1] ? fully[$0] : scores[$0] > scores[$1] }
            (scores, fully) = (order.map { scores[$0] }, order.map { fully[$0] })
            let cap = (0..<count).map { _ in rng.below(3) == 0 ? Int32(rng.below(30)) : -1 }
            let diversity = (0..<count).map { _ in rng.below(20) == 0 ? -1 : Int32(rng.below(15)) }
            let rules = GreedyWindow(
                cap: GreedyWindow.Cap(cap: 1 + rng.below(2), window: 20),
                diversity: GreedyWindow.Diversity(penalty: [0.15, 0.3, 1][rng.below(3)], window: 30)
            )
            if round % 4 == 3 { fully = [] }
            let fill = Self.fill(rules, scores: scores, fully: fully, cap: cap, diversity: diversity)
            let reference = Self.referenceFill(rules, scores: scores, fully: fully, cap: cap, diversity: diversity)
            #expect(fill.order == reference, "round \(round)")
        }
    }
}
