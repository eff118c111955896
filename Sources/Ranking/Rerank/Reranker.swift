/// Turns scored candidates into the final order: drops what cannot be ordered, applies boosts, the brand cap,
/// cuisine diversity, an exploration slot, pins and buries.
struct Reranker {
    let config: RerankConfig
    let kind: SurfaceKind

    struct Output {
        /// Candidate positions in final order.
        var order: [Int] = []
        /// Final scores, non-increasing along `order`.
        var finalScores: [Double] = []
        /// Candidate position placed by exploration, if any.
        var explored: Int?
        /// Candidate positions placed by pins.
        var pinned: Set<Int> = []
        /// Candidates dropped by the filters, counted per ``DropReason`` (indexed by its position in `allCases`).
        var dropped = [Int](repeating: 0, count: DropReason.allCases.count)

        mutating func drop(_ reason: DropReason) {
            dropped[reason.position] += 1
        }

        /// The reasons with a count, in ``DropReason`` order.
        var droppedByReason: [(reason: DropReason, count: Int)] {
            zip(DropReason.allCases, dropped).filter { $0.1 > 0 }.map { (reason: $0.0, count: $0.1) }
        }
    }

    /// Why candidate `index` cannot be ordered for this request, or nil when it can (unknown ids, -1, are kept: the
    /// catalog knows nothing that would rule them out).
    static func unorderableReason(kind: SurfaceKind, index: Int32, request: CandidateRequest) -> DropReason? {
        guard index >= 0 else { return nil }
        switch kind {
        case .venues:
            if !request.isInScope(Int(index)) { return .outsideCategory }
            return request.unorderableReason(Int(index))
        case .venueItems:
            let item = Int(index)
            guard request.catalog.itemAvailable[item] else { return .itemUnavailable }
            return request.unorderableReason(Int(request.catalog.itemVenue[item]))
        }
    }

    /// Orders `kept` (candidate positions): fully scored first, then by score (highest first), then by index;
    /// position breaks the remaining ties (unknown ids are all -1), exactly as a stable sort of `kept` would.
    static func sortKept(_ kept: inout [Int], scores: [Double], candidates: [Int32], fullyScored: [Bool]) {
        // Each group is sorted on two integers per entry, side by side: the score as a key whose ascending order
        // is the score's descending one, then the index and position. A NaN score has no place in that order, so a
        // pool with one takes the comparison sort, which ranks it as the integer keys cannot.
        guard !kept.contains(where: { scores[$0].isNaN }) else {
            kept.sort { a, b in
                if fullyScored[a] != fullyScored[b] { return fullyScored[a] }
                if scores[a] != scores[b] { return scores[a] > scores[b] }
                if candidates[a] != candidates[b] { return candidates[a] < candidates[b] }
                return a < b
            }
            return
        }
        // When the tie keys already ascend along `kept` (the generator's candidates are in index order), a stable
        // sort on the score alone gives the same order: mostly a radix sort, without comparisons.
        var tiesAscend = true
        var previousTie: UInt64 = 0
        for (k, i) in kept.enumerated() {
            let tie = tieKey(candidates[i], position: i)
            if k > 0 && tie <= previousTie {
                tiesAscend = false
                break
            }
            previousTie = tie
        }
        if tiesAscend {
            // One sort of both tiers: a key's high word is the tier (fully scored first) above the score key's top
            // 31 bits, its low word the position. A stable radix sort on the high words takes at most four passes.
            // A run of equal high words is then checked against the whole score key and the tie key, which ascends
            // along `kept`; the rare run whose scores differ in their last bits is sorted on them.
            var keys: [UInt64] = []
            keys.reserveCapacity(kept.count)
            for i in kept {
                let tier: UInt64 = fullyScored[i] ? 0 : 1 << 63
                keys.append(tier | (descendingKey(scores[i]) >> 33) << 32 | UInt64(UInt32(i)))
            }
            var scratch: [UInt64] = []
            sortByHighWord(&keys, scratch: &scratch)
            func keyPrecedes(_ a: UInt64, _ b: UInt64) -> Bool {
                let (i, j) = (Int(a & 0xFFFF_FFFF), Int(b & 0xFFFF_FFFF))
                let (x, y) = (descendingKey(scores[i]), descendingKey(scores[j]))
                return x != y ? x < y : tieKey(candidates[i], position: i) < tieKey(candidates[j], position: j)
            }
            var start = 0
            while start < keys.count {
                var end = start + 1
                while end < keys.count && keys[end] >> 32 == keys[start] >> 32 { end += 1 }
                // Most such runs are of equal scores, already in order.
                if ((start + 1)..<end).contains(where: { keyPrecedes(keys[$0], keys[$0 - 1]) }) {
                    keys[start..<end].sort(by: keyPrecedes)
                }
                start = end
            }
            for k in kept.indices { kept[k] = Int(keys[k] & 0xFFFF_FFFF) }
            return
        }
        var keys: [(score: UInt64, tie: UInt64)] = []
        keys.reserveCapacity(kept.count)
        for full in [true, false] {
            let start = keys.count
            for i in kept where fullyScored[i] == full {
                keys.append((descendingKey(scores[i]), tieKey(candidates[i], position: i)))
            }
            keys[start...].sort { $0.score != $1.score ? $0.score < $1.score : $0.tie < $1.tie }
        }
        for k in keys.indices { kept[k] = Int(keys[k].tie & 0xFFFF_FFFF) }
    }

    /// The order among equal scores: candidate index (unknown ids, -1, first), then position.
    @inline(__always)
    static func tieKey(_ candidate: Int32, position: Int) -> UInt64 {
        UInt64(UInt32(bitPattern: candidate) ^ 0x8000_0000) << 32 | UInt64(UInt32(position))
    }

    /// A key whose ascending order is the descending order of `score` (not NaN); -0 and +0 share one, as they
    /// compare equal.
    @inline(__always)
    static func descendingKey(_ score: Double) -> UInt64 {
        let bits = (score + 0).bitPattern
        let ascending = bits >> 63 == 1 ? ~bits : bits | (1 << 63)
        return ~ascending
    }

    func rerank(
        candidates: [Int32],
        scores: [Double],
        fullyScored: [Bool],
        request: CandidateRequest,
        excluded: [Int32],
        recent: [Int32] = [],
        explorationSeed: UInt64,
        pinned: [(Int32, Int)],
        buried: [Int32],
        sourceMask: [UInt32] = [],
        eligibleSourceBits: UInt32 = 0
    ) -> Output {
        let catalog = request.catalog
        var output = Output()
        var kept: [Int] = []
        kept.reserveCapacity(candidates.count)
        var adjusted = scores
        for (i, index) in candidates.enumerated() {
            if index >= 0 && excluded.binarySearchContains(index) {
                output.drop(.excluded)
                continue
            }
            if index >= 0 && !recent.isEmpty && recent.binarySearchContains(index) {
                output.drop(.recentlyInteracted)
                continue
            }
            // A venue that a source answering only eligible venues gave has passed this check for this request.
            let checked = kind == .venues && i < sourceMask.count && sourceMask[i] & eligibleSourceBits != 0
            if !checked, let reason = Reranker.unorderableReason(kind: kind, index: index, request: request) {
                output.drop(reason)
                continue
            }
            if kind == .venues && index >= 0 && !config.cuisineBoosts.isEmpty {
                let name = catalog.cuisines[Int(catalog.venueCuisine[Int(index)])]
                adjusted[i] += config.cuisineBoosts[name] ?? 0
            }
            kept.append(i)
        }
        Reranker.sortKept(&kept, scores: adjusted, candidates: candidates, fullyScored: fullyScored)
        var order =
            kind == .venues
            ? diversify(
                kept,
                candidates: candidates,
                adjusted: adjusted,
                fullyScored: fullyScored,
                catalog: catalog
            ) : kept
        if kind == .venues {
            output.explored = explore(&order, candidates: candidates, request: request, seed: explorationSeed)
        }
        applyPinsAndBuries(&order, candidates: candidates, pinned: pinned, buried: buried)
        output.order = order
        // Reported scores follow the final order, so callers can trust "sorted by score". An entry placed out of
        // model order (explored, pinned) takes a score just below its predecessor rather than its own, so the
        // entries after it keep scores close to their own.
        var placed = pinned.compactMap { pin in order.first { candidates[$0] == pin.0 } }
        output.pinned = Set(placed)
        if let explored = output.explored { placed.append(explored) }
        var previous = Double.infinity
        output.finalScores.reserveCapacity(order.count)
        for i in order {
            var s = adjusted[i]
            if !s.isFinite { s = -1e9 }
            if placed.contains(i) && previous.isFinite { s = previous }
            if s >= previous { s = previous.nextDown }
            output.finalScores.append(s)
            previous = s
        }
        return output
    }

    /// The brand cap and cuisine diversity, as the shared rules of ``GreedyWindow``.
    private var greedyWindow: GreedyWindow {
        GreedyWindow(
            cap: config.brandCap > 0 ? GreedyWindow.Cap(cap: config.brandCap, window: config.brandCapWindow) : nil,
            diversity: GreedyWindow.Diversity(penalty: config.diversityPenalty, window: config.diversityWindow)
        )
    }

    /// Fills the first positions greedily (``GreedyWindow``): the cap groups are brands, the diversity groups
    /// cuisines; unknown ids (-1) belong to neither.
    private func diversify(
        _ sorted: [Int],
        candidates: [Int32],
        adjusted: [Double],
        fullyScored: [Bool],
        catalog: Catalog
    ) -> [Int] {
        greedyWindow.fill(
            sorted,
            scores: adjusted,
            fullyScored: fullyScored,
            capGroup: { candidates[$0] >= 0 ? catalog.venueBrand[Int(candidates[$0])] : -1 },
            diversityGroup: { candidates[$0] >= 0 ? Int32(catalog.venueCuisine[Int(candidates[$0])]) : -1 }
        ).order
    }

    /// Puts one new venue in the exploration slot, chosen by Thompson sampling on its click history (or
    /// epsilon-greedy); the generator is seeded from the request, so the same request explores the same way.
    private func explore(_ order: inout [Int], candidates: [Int32], request: CandidateRequest, seed: UInt64) -> Int? {
        let policy = config.explorationPolicy
        guard policy == "thompson" || policy == "epsilon", config.explorationSlot < order.count else { return nil }
        let catalog = request.catalog
        var rng = SplitMix64(seed: seed)
        // Brands already at their cap in the capped window: exploring one of their venues would break the cap.
        var fullBrands: [Int32] = []
        if config.brandCap > 0 {
            var counts: [(brand: Int32, count: Int)] = []
            for i in order.prefix(config.brandCapWindow) where candidates[i] >= 0 {
                let brand = catalog.venueBrand[Int(candidates[i])]
                guard brand >= 0 else { continue }
                if let k = counts.firstIndex(where: { $0.brand == brand }) {
                    counts[k].count += 1
                } else {
                    counts.append((brand, 1))
                }
            }
            fullBrands = counts.filter { $0.count >= config.brandCap }.map(\.brand)
        }
        // Which candidates are new, read in candidate order (the generator's are in venue order) by a loop without
        // branches, so the column's cache misses overlap; walking `order` instead waits for each one in turn.
        var isNew = [Bool](repeating: false, count: candidates.count)
        let newSince = request.day - Catalog.newVenueDays
        let created = catalog.venueCreatedDay
        for (i, v) in candidates.enumerated() where v >= 0 { isNew[i] = Int(created[Int(v)]) > newSince }
        var newPositions: [Int] = []
        for (p, i) in order.enumerated() where p > config.explorationSlot && isNew[i] {
            if !fullBrands.contains(catalog.venueBrand[Int(candidates[i])]) { newPositions.append(p) }
        }
        guard !newPositions.isEmpty else { return nil }
        var chosen: Int
        if policy == "epsilon" {
            guard rng.unit() < config.epsilon else { return nil }
            chosen = newPositions[rng.below(newPositions.count)]
        } else {
            chosen = newPositions[0]
            var best = -1.0
            for (k, p) in newPositions.enumerated() {
                // The click history is read for these venues only, so it is never cached: the next venues' are
                // asked for while this one's sample is drawn.
                if k + 4 < newPositions.count {
                    let ahead = Int(candidates[order[newPositions[k + 4]]])
                    catalog.venueClicks.prefetch(ahead)
                    catalog.venueImpressions.prefetch(ahead)
                }
                let v = Int(candidates[order[p]])
                let clicks = Double(catalog.venueClicks[v])
                let misses = max(0, Double(catalog.venueImpressions[v]) - clicks)
                let sample = rng.beta(1 + clicks, 1 + misses)
                if sample > best {
                    best = sample
                    chosen = p
                }
            }
            // Explore only when the sampled click rate is competitive with what holds the slot's neighbourhood.
        }
        let i = order.remove(at: chosen)
        order.insert(i, at: config.explorationSlot)
        return i
    }

    private func applyPinsAndBuries(
        _ order: inout [Int],
        candidates: [Int32],
        pinned: [(Int32, Int)],
        buried: [Int32]
    ) {
        if !buried.isEmpty {
            var head: [Int] = []
            var tail: [Int] = []
            for i in order {
                if candidates[i] >= 0 && buried.contains(candidates[i]) { tail.append(i) } else { head.append(i) }
            }
            order = head + tail
        }
        for (index, position) in pinned.sorted(by: { $0.1 < $1.1 }) {
            guard let p = order.firstIndex(where: { candidates[$0] == index }) else { continue }
            let i = order.remove(at: p)
            order.insert(i, at: min(max(position, 0), order.count))
        }
    }
}

extension Array where Element == Int32 {
    /// Membership in a sorted array.
    @inline(__always)
    func binarySearchContains(_ value: Int32) -> Bool {
        var lo = 0
        var hi = count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if self[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return lo < count && self[lo] == value
    }
}
