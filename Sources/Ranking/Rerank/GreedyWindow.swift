/// The re-rank rules every surface configures over groups of its candidates: a cap (at most `cap` candidates of one
/// group within the first positions: a venue's brand, a track's artist) and diversity (a score penalty per candidate
/// of the same group already placed: a venue's cuisine, a track's main genre).
///
/// The first positions are filled greedily: at each one, the best remaining candidate by score less the diversity
/// penalty, skipping groups at their cap. Fully scored candidates come before those scored by the first trees only.
/// The fill looks at the best `4 × window` candidates in model order, so its work is bounded whatever the candidate
/// count; what it does not take keeps its model order. A last pass makes the cap hold over the whole cap window even
/// when the fill ran out of candidates it could place: a group's extra candidates then follow the window instead of
/// being dropped.
struct GreedyWindow {
    struct Cap: Sendable {
        /// Most candidates of one group within `window`.
        var cap: Int
        /// Positions the cap holds for.
        var window: Int
    }

    struct Diversity: Sendable {
        /// Score taken off per candidate of the same group already placed.
        var penalty: Double
        /// Positions the penalty applies to.
        var window: Int
    }

    var cap: Cap?
    var diversity: Diversity?

    /// What `fill` decided.
    struct Fill {
        /// Candidate positions in their new order.
        var order: [Int]
        /// The scores `order`'s first `scores.count` entries were chosen by, the diversity penalty taken off. The
        /// cap's last pass never moves those entries: each was placed within its group's cap.
        var scores: [Double]
    }

    /// Reorders `sorted` (candidate positions in model order, fully scored first).
    /// - Parameters:
    ///   - scores: per candidate position, the score to order by.
    ///   - fullyScored: per candidate position, whether the whole model scored it (empty: all were).
    ///   - capGroup: a candidate position's group for the cap, -1 for none (an independent venue, an unknown id).
    ///   - diversityGroup: a candidate position's group for diversity, -1 for none.
    func fill(
        _ sorted: [Int],
        scores: [Double],
        fullyScored: [Bool],
        capGroup: (Int) -> Int32,
        diversityGroup: (Int) -> Int32
    ) -> Fill {
        // The rules that do anything, and the positions they look at: the longer of their windows.
        let capRule = cap.flatMap { $0.cap > 0 && $0.window > 0 ? $0 : nil }
        let diversityRule = diversity.flatMap { $0.penalty > 0 && $0.window > 0 ? $0 : nil }
        let window = max(capRule?.window ?? 0, diversityRule?.window ?? 0)
        guard window > 0, sorted.count > 1 else { return Fill(order: sorted, scores: []) }
        // 4 x window without overflowing, whatever window a configuration gives.
        let poolSize = window > sorted.count / 4 ? sorted.count : window * 4
        let pool = Array(sorted.prefix(poolSize))
        // Per pool entry, read once: score, tier, and the slots of its groups (-1: none), where slots number the
        // pool's distinct groups so counting is an array read, not a search.
        let poolScore = pool.map { scores[$0] }
        let poolTier = pool.map { fullyScored.isEmpty || fullyScored[$0] }
        var capSlots = Slots()
        var diversitySlots = Slots()
        // The groups are read first and numbered after: a loop that does nothing else with each read lets the
        // cache misses of the pool's scattered entries overlap.
        let poolCap = capRule == nil ? [] : pool.map(capGroup).map { capSlots.slot($0) }
        let poolDiversity = diversityRule == nil ? [] : pool.map(diversityGroup).map { diversitySlots.slot($0) }
        var capCount = [Int](repeating: 0, count: capSlots.count)
        var diversityCount = [Int](repeating: 0, count: diversitySlots.count)
        // Whether the pool is in order (fully scored first, then by score, highest first, no NaN), as the re-rank's
        // sort leaves it; any other pool is scanned whole at each position.
        var inOrder = true
        for k in pool.indices.dropFirst() {
            let (previous, current) = (poolScore[k - 1], poolScore[k])
            if current.isNaN || previous.isNaN || (poolTier[k] && !poolTier[k - 1])
                || (poolTier[k] == poolTier[k - 1] && current > previous)
            {
                inOrder = false
                break
            }
        }
        if poolScore.first?.isNaN == true { inOrder = false }
        var order: [Int] = []
        order.reserveCapacity(sorted.count)
        var chosenScores: [Double] = []
        chosenScores.reserveCapacity(min(window, sorted.count))
        // Taken entries are marked, not removed: the pool keeps its order, and nothing moves.
        var taken = [Bool](repeating: false, count: pool.count)
        var first = 0
        // In order, a diversity group's best entry is its first one neither taken nor capped: one penalty applies to
        // the whole group. So each position then compares the groups' heads instead of scanning the pool's entries.
        // The diversity slots number the groups; candidates without one (or all, without the rule) are the last
        // group, which takes no penalty. `next` links each group's entries in pool order.
        let groupCount = diversitySlots.count + 1
        let loose = groupCount - 1
        var head = [Int](repeating: -1, count: inOrder ? groupCount : 0)
        var next = [Int](repeating: -1, count: inOrder ? pool.count : 0)
        if inOrder {
            var tail = [Int](repeating: -1, count: groupCount)
            for k in pool.indices {
                let group = diversityRule == nil || poolDiversity[k] < 0 ? loose : poolDiversity[k]
                if tail[group] < 0 { head[group] = k } else { next[tail[group]] = k }
                tail[group] = k
            }
        }
        while order.count < window && first < pool.count {
            var bestK = -1
            var bestScore = -Double.infinity
            var bestTier = false
            let capping = capRule.map { order.count < $0.window } ?? false
            let penalty = diversityRule.map { order.count < $0.window ? $0.penalty : 0 } ?? 0
            if inOrder {
                for group in 0..<groupCount {
                    while head[group] >= 0 && taken[head[group]] { head[group] = next[head[group]] }
                    var k = head[group]
                    while k >= 0
                        && (taken[k] || (capping && poolCap[k] >= 0 && capCount[poolCap[k]] >= capRule!.cap))
                    {
                        k = next[k]
                    }
                    guard k >= 0 else { continue }
                    var s = poolScore[k]
                    if penalty > 0 && group != loose { s -= penalty * Double(diversityCount[group]) }
                    let tier = poolTier[k]
                    // What the scan below would choose: the best (tier, score), the first in the pool among equals.
                    if bestK < 0 || (tier && !bestTier)
                        || (tier == bestTier && (s > bestScore || (s == bestScore && k < bestK)))
                    {
                        bestK = k
                        bestScore = s
                        bestTier = tier
                    }
                }
            } else {
                for k in first..<pool.count where !taken[k] {
                    if capping {
                        let slot = poolCap[k]
                        if slot >= 0 && capCount[slot] >= capRule!.cap { continue }
                    }
                    var s = poolScore[k]
                    if penalty > 0 {
                        let slot = poolDiversity[k]
                        if slot >= 0 { s -= penalty * Double(diversityCount[slot]) }
                    }
                    let tier = poolTier[k]
                    if bestK < 0 || (tier && !bestTier) || (tier == bestTier && s > bestScore) {
                        bestK = k
                        bestScore = s
                        bestTier = tier
                    }
                }
            }
            guard bestK >= 0 else { break }  // everything left is over its cap
            taken[bestK] = true
            order.append(pool[bestK])
            chosenScores.append(bestScore)
            if capRule != nil, poolCap[bestK] >= 0 { capCount[poolCap[bestK]] += 1 }
            if diversityRule != nil, poolDiversity[bestK] >= 0 { diversityCount[poolDiversity[bestK]] += 1 }
            while first < pool.count && taken[first] { first += 1 }
        }
        // What the fill did not take keeps its model order.
        for k in first..<pool.count where !taken[k] { order.append(pool[k]) }
        order.append(contentsOf: sorted.dropFirst(poolSize))
        if let capRule { order = Self.holdCap(order, capRule, capGroup: capGroup) }
        return Fill(order: order, scores: chosenScores)
    }

    /// Moves candidates beyond their group's cap out of the cap window, to just after it, keeping the order of the
    /// rest; needed when the fill ran out of candidates it could place and what it did not take follows unchecked.
    static func holdCap(_ order: [Int], _ rule: Cap, capGroup: (Int) -> Int32) -> [Int] {
        var head: [Int] = []
        var moved: [Int] = []
        var counts: [(group: Int32, count: Int)] = []
        for i in order {
            guard head.count < rule.window else { break }
            let group = capGroup(i)
            if group >= 0 {
                if let k = counts.firstIndex(where: { $0.group == group }) {
                    if counts[k].count >= rule.cap {
                        moved.append(i)
                        continue
                    }
                    counts[k].count += 1
                } else {
                    counts.append((group, 1))
                }
            }
            head.append(i)
        }
        guard !moved.isEmpty else { return order }
        let taken = head.count + moved.count
        return head + moved + order.dropFirst(taken)
    }

    /// Numbers distinct groups in the order they are first seen.
    private struct Slots {
        private var groups: [Int32] = []
        var count: Int { groups.count }

        mutating func slot(_ group: Int32) -> Int {
            guard group >= 0 else { return -1 }
            if let slot = groups.firstIndex(of: group) { return slot }
            groups.append(group)
            return groups.count - 1
        }
    }
}
