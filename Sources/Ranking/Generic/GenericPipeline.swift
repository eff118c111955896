import Dispatch
import Foundation
import RankingModels

/// Everything one generic request produced, indexed by candidate position.
struct GenericRun {
    var candidates: [Int32] = []
    var sourceMask: [UInt32] = []
    var modelScores: [Double] = []
    /// Whether each candidate got every tree (empty: all did); the others keep their first-phase score and rank
    /// after every fully scored one.
    var fullyScored: [Bool] = []
    /// The rows the model read (its column order), kept while some candidates have first-phase scores only.
    var modelRows: [Double] = []
    /// Candidate positions, best first, after the re-rank rules.
    var order: [Int] = []
    /// The score reported for `order[k]`, non-increasing.
    var finalScores: [Double] = []
    /// With explain: the feature rows (surface order), `featureWidth` per candidate.
    var featureRows: [Double] = []
    var featureWidth = 0
    var modelVersion = ""
    var degradedStages: [String] = []
    var timings: [StageTiming] = []
}

/// The resolved request inputs of a generic surface.
struct GenericInputs {
    /// The context items in the order sent (the anchor first), repeats removed.
    var context: [Int32] = []
    /// The user's position, or nil for a user the catalog does not have (answered without user features).
    var user: Int?
    var anchor: Int { Int(context[0]) }
    /// What the user and the request's session did since the snapshot.
    var online = OnlineRequestState()
}

extension GenericSurface {
    /// Checks the request's inputs against the surface: context items (count, ids), and no input the surface does
    /// not take. Every problem is the caller's: `invalidArgument` naming what is needed.
    func resolveInputs(
        userID: String,
        contextItemIDs: [String],
        venueID: String,
        category: String
    ) throws -> GenericInputs {
        guard venueID.isEmpty else { throw RankingError.invalidArgument("surface \(name) takes no venue_id") }
        guard category.isEmpty else { throw RankingError.invalidArgument("surface \(name) takes no category") }
        let kind = config.kind
        guard contextItemIDs.count >= config.context.minItems else {
            throw RankingError.invalidArgument(
                "context_item_ids is required for surface \(name): the \(kind) playing first, then the session's "
                    + "recent \(kind)s, newest first (at least \(config.context.minItems))"
            )
        }
        guard contextItemIDs.count <= config.context.maxItems else {
            throw RankingError.invalidArgument(
                "\(contextItemIDs.count) context_item_ids is more than the \(config.context.maxItems) surface "
                    + "\(name) accepts"
            )
        }
        var inputs = GenericInputs()
        inputs.context.reserveCapacity(contextItemIDs.count)
        var unknown: [String] = []
        for id in contextItemIDs {
            if let k = items.ids.position(id) {
                if !inputs.context.contains(Int32(k)) { inputs.context.append(Int32(k)) }
            } else {
                unknown.append(id)
            }
        }
        guard unknown.isEmpty else {
            throw RankingError.invalidArgument(
                "context_item_ids: \(unknown.count) of \(contextItemIDs.count) are not \(kind)s of the catalog: "
                    + SurfaceInputs.listed(unknown)
            )
        }
        inputs.user = users?.ids.position(userID)
        return inputs
    }

    /// Candidates, features, score and re-rank for `inputs`; `exclude` are ids never to answer (unknown ones are
    /// ignored, as nothing could answer them).
    func run(
        _ inputs: GenericInputs,
        exclude: [String],
        explain: Bool,
        deadline: DispatchTime,
        isCancelled: () -> Bool
    ) throws -> GenericRun {
        var run = GenericRun()
        var timer = StageTimer()
        generate(inputs, into: &run)
        timer.lap("candidates", into: &run.timings)
        if isCancelled() { throw RankingError.cancelled }

        let n = run.candidates.count
        let width = features.count
        var rows = [Double](repeating: .nan, count: n * width)
        join(inputs, candidates: run.candidates, into: &rows)
        metrics.recordFeatures(rows, count: n, width: width)
        timer.lap("features", into: &run.timings)
        if isCancelled() { throw RankingError.cancelled }

        var scores = [Double](repeating: 0, count: n)
        if let model, DispatchTime.now() < deadline {
            var modelRows = rows
            if modelLayout != Array(0..<width) {
                modelRows = [Double](repeating: .nan, count: n * modelLayout.count)
                for r in 0..<n {
                    for (j, f) in modelLayout.enumerated() {
                        modelRows[r * modelLayout.count + j] = rows[r * width + f]
                    }
                }
            }
            run.fullyScored = scoreInPhases(model, rows: modelRows, width: modelLayout.count, scores: &scores)
            run.modelVersion = model.version
            if !run.fullyScored.isEmpty { run.modelRows = modelRows }
        }
        if model == nil || run.modelVersion.isEmpty || scores.contains(where: { !$0.isFinite }) {
            if model != nil { run.degradedStages.append("score") }
            run.fullyScored = []
            run.modelRows = []
            for r in 0..<n {
                var sum = 0.0
                for j in 0..<width where !rows[r * width + j].isNaN { sum += linear[j] * rows[r * width + j] }
                scores[r] = sum
            }
            run.modelVersion = "linear-\(name)-v1"
        }
        run.modelScores = scores
        if explain {
            run.featureRows = rows
            run.featureWidth = width
        }
        timer.lap("score", into: &run.timings)
        if isCancelled() { throw RankingError.cancelled }

        var excluded: [Int32] = config.rerank.excludeContextItems ? inputs.context : []
        for id in exclude { if let k = items.ids.position(id) { excluded.append(Int32(k)) } }
        if let rule = excludeRecent { excluded += rule.items(in: inputs.online) }
        excluded.sort()
        var adjusted: [Double]?
        if let (rule, groups, penalty) = demoteRecent {
            // Events per group, then each candidate's score lowered by its group's (the model's score is kept as
            // it is for the answer's model_score).
            var perGroup: [Int32: Int] = [:]
            for item in rule.items(in: inputs.online) {
                let group = groups[Int(item)]
                if group >= 0 { perGroup[group, default: 0] += 1 }
            }
            if !perGroup.isEmpty {
                var scores = run.modelScores
                for (i, c) in run.candidates.enumerated() {
                    if let events = perGroup[groups[Int(c)]] { scores[i] -= penalty * Double(events) }
                }
                adjusted = scores
            }
        }
        rerank(&run, excluded: excluded, scores: adjusted)
        timer.lap("rerank", into: &run.timings)
        return run
    }

    /// Scores `rows` (model order, `width` each) with `model` in the phases `scoring` configures
    /// (``TwoPhaseScorer``). Returns which candidates got every tree, or [] when all did.
    func scoreInPhases(_ model: GradientBoostedTrees, rows: [Double], width: Int, scores: inout [Double]) -> [Bool] {
        var fully: [Bool] = []
        var scratch: [Double] = []
        _ = rows.withUnsafeBufferPointer {
            TwoPhaseScorer.score(
                model: TreeModel(trees: model),
                width: width,
                rows: $0,
                rowCount: scores.count,
                config: config.scoring,
                scores: &scores,
                fullyScored: &fully,
                scratch: &scratch,
                deadlinePassed: { false }
            )
        }
        return fully.contains(false) ? fully : []
    }

    /// Gives the entries at `positions` of the order that have a first-phase score the full model's, so an answer
    /// always reports the score every tree gives.
    func completeModelScores(_ run: inout GenericRun, positions: Range<Int>) {
        guard let model, !run.fullyScored.isEmpty, let phases = config.scoring else { return }
        let pending = positions.map { run.order[$0] }.filter { !run.fullyScored[$0] }
        guard !pending.isEmpty else { return }
        var scratch: [Double] = []
        run.modelRows.withUnsafeBufferPointer { rows in
            TwoPhaseScorer.finish(
                model: TreeModel(trees: model),
                width: modelLayout.count,
                rows: rows,
                pending: pending,
                firstTrees: phases.firstPhaseTrees,
                scores: &run.modelScores,
                fullyScored: &run.fullyScored,
                scratch: &scratch
            )
        }
    }

    // MARK: Candidates

    /// Runs every source within its quota and merges them: each candidate once, with a bit per source.
    func generate(_ inputs: GenericInputs, into run: inout GenericRun) {
        var found: [UInt64] = []
        func add(_ item: Int32, _ source: Int) { found.append(UInt64(UInt32(item)) << 5 | UInt64(source)) }
        let anchor = inputs.anchor
        for (s, source) in sources.enumerated() {
            let quota = config.sources[s].quota
            guard quota > 0 else { continue }
            switch source {
            case .coOccurrence:
                guard let index = coOccurrence else { continue }
                var weighted: [(item: Int32, weight: Float)] = []
                for (i, c) in inputs.context.prefix(5).enumerated() {
                    let w = 1 / Float(1 + i)
                    for j in index.range(Int(c)) { weighted.append((index.neighbours[j], w * index.counts[j])) }
                }
                weighted.sort { $0.item < $1.item }
                var merged: [(item: Int32, weight: Float)] = []
                for entry in weighted {
                    if merged.last?.item == entry.item {
                        merged[merged.count - 1].weight += entry.weight
                    } else {
                        merged.append(entry)
                    }
                }
                merged.sort { ($0.weight, $1.item) > ($1.weight, $0.item) }
                for entry in merged.prefix(quota) { add(entry.item, s) }
            case .sameReference(let references, let groups):
                for item in groups.group(Int(references[anchor])).prefix(quota) { add(item, s) }
            case .embeddingNeighbours(let unit, let users, let userWeight):
                var query = centroid(unit, inputs.context)
                if let users, let u = inputs.user {
                    let d = unit.dimension
                    var norm: Float = 0
                    for j in 0..<d {
                        query[j] += userWeight * users.values[u * d + j]
                        norm += query[j] * query[j]
                    }
                    if norm > 0 { for j in 0..<d { query[j] /= norm.squareRoot() } }
                }
                // Context items without a vector (and no user's) leave nothing to be near.
                guard query.contains(where: { $0 != 0 }) else { continue }
                for item in nearest(unit, query: query, count: quota) { add(item, s) }
            case .userFavourites(let favourites):
                guard let u = inputs.user else { continue }
                for item in favourites.of(u).prefix(quota) { add(item, s) }
            case .popularInTags(let tags, let lists):
                let range = tags.range(anchor)
                guard !range.isEmpty else { continue }
                // The main tag gets two thirds of the quota, the others share the rest.
                let main = range.count == 1 ? quota : (2 * quota + 2) / 3
                let rest = range.count == 1 ? 0 : (quota - main + range.count - 2) / (range.count - 1)
                for (k, j) in range.enumerated() {
                    for item in lists.list(Int(tags.codes[j])).prefix(k == 0 ? main : rest) { add(item, s) }
                }
            }
        }
        found.sort()
        run.candidates.reserveCapacity(found.count)
        run.sourceMask.reserveCapacity(found.count)
        for key in found {
            let item = Int32(truncatingIfNeeded: key >> 5)
            let bit = UInt32(1) << UInt32(key & 31)
            if run.candidates.last == item {
                run.sourceMask[run.sourceMask.count - 1] |= bit
            } else {
                run.candidates.append(item)
                run.sourceMask.append(bit)
            }
        }
    }

    /// The context's embedding centroid: the anchor weighs 1, earlier items less the older they are; unit length.
    func centroid(_ unit: UnitEmbeddings, _ context: [Int32]) -> [Float] {
        let d = unit.dimension
        var query = [Float](repeating: 0, count: d)
        for (i, c) in context.prefix(10).enumerated() {
            let w: Float = i == 0 ? 1 : 0.5 / Float(i)
            for j in 0..<d { query[j] += w * unit.values[Int(c) * d + j] }
        }
        var norm: Float = 0
        for j in 0..<d { norm += query[j] * query[j] }
        if norm > 0 {
            let scale = 1 / norm.squareRoot()
            for j in 0..<d { query[j] *= scale }
        }
        return query
    }

    /// The `count` items nearest `query` by dot product, best first: one pass over the rows with a bounded min-heap.
    func nearest(_ unit: UnitEmbeddings, query: [Float], count: Int) -> [Int32] {
        let d = unit.dimension
        let total = d == 0 ? 0 : unit.values.count / d
        guard count > 0, total > 0 else { return [] }
        var heapScores = [Float](repeating: -.infinity, count: count)
        var heapItems = [Int32](repeating: -1, count: count)
        unit.values.withUnsafeBufferPointer { v in
            query.withUnsafeBufferPointer { q in
                heapScores.withUnsafeMutableBufferPointer { scores in
                    heapItems.withUnsafeMutableBufferPointer { items in
                        var row = v.baseAddress!
                        for k in 0..<total {
                            let s = embeddingDot(row, q.baseAddress!, count: d)
                            row += d
                            guard s > scores[0] else { continue }
                            // Replace the heap's smallest and sift down.
                            scores[0] = s
                            items[0] = Int32(k)
                            var i = 0
                            while true {
                                let l = 2 * i + 1
                                let r = l + 1
                                var m = i
                                if l < count && scores[l] < scores[m] { m = l }
                                if r < count && scores[r] < scores[m] { m = r }
                                if m == i { break }
                                scores.swapAt(i, m)
                                items.swapAt(i, m)
                                i = m
                            }
                        }
                    }
                }
            }
        }
        return heapItems.indices.filter { heapItems[$0] >= 0 }
            .sorted { (heapScores[$0], heapItems[$1]) > (heapScores[$1], heapItems[$0]) }.map { heapItems[$0] }
    }

    // MARK: Features

    /// Fills `rows` (candidate-major, one value per configured feature; NaN = missing), feature by feature so each
    /// feature's columns are bound once.
    func join(_ inputs: GenericInputs, candidates: [Int32], into rows: inout [Double]) {
        let width = features.count
        let anchor = inputs.anchor
        let context = inputs.context
        // Item counters are kept by id; the ids are made once, by the first feature that reads them.
        var ids: [String]?
        func candidateIDs() -> [String] {
            if let ids { return ids }
            let made = candidates.map { items.ids.id(Int($0)) }
            ids = made
            return made
        }
        // The user's history once per request: (target << 8 | event), sorted; counts are binary searches.
        var userKeys: [UInt64] = []
        if let u = inputs.user, let history {
            userKeys.reserveCapacity(history.range(u).count)
            for e in history.range(u) {
                userKeys.append(UInt64(UInt32(history.targets[e])) << 8 | UInt64(history.events[e]))
            }
            userKeys.sort()
        }
        // The candidates' rows by item (item << 32 | row, sorted), made by the first co-occurrence feature: each such
        // feature walks the few neighbours of the items it reads from and finds their rows, rather than searching a
        // neighbour list once per candidate and item.
        var rowsByItem: [UInt64] = []
        func coOccurrenceSums(_ index: CoOccurrenceIndex, from items: some Sequence<Int32>) -> [Float] {
            if rowsByItem.isEmpty && !candidates.isEmpty {
                rowsByItem = candidates.enumerated().map { UInt64(UInt32(bitPattern: $1)) << 32 | UInt64($0) }
                rowsByItem.sort()
            }
            // Added in the order of `items`, each neighbour at most once per item: bit for bit the sums of every
            // candidate's count per item looked up in its neighbour list (0 where it is not a neighbour).
            var sums = [Float](repeating: 0, count: candidates.count)
            for item in items {
                for j in index.range(Int(item)) {
                    let neighbour = UInt64(UInt32(bitPattern: index.neighbours[j]))
                    var k = Self.lowerBound(rowsByItem, neighbour << 32)
                    while k < rowsByItem.count && rowsByItem[k] >> 32 == neighbour {
                        sums[Int(rowsByItem[k] & 0xFFFF_FFFF)] += index.counts[j]
                        k += 1
                    }
                }
            }
            return sums
        }
        for (j, feature) in features.enumerated() {
            func set(_ r: Int, _ value: Double) { rows[r * width + j] = value }
            switch feature {
            case .attribute(let values):
                for (r, c) in candidates.enumerated() { set(r, Double(values[Int(c)])) }
            case .anchorDifference(let values):
                let a = values[anchor]
                for (r, c) in candidates.enumerated() { set(r, Double(abs(values[Int(c)] - a))) }
            case .anchorLogRatio(let values):
                let a = values[anchor]
                for (r, c) in candidates.enumerated() {
                    let v = values[Int(c)]
                    set(r, v > 0 && a > 0 ? Double(abs(log(v / a))) : .nan)
                }
            case .contextDifference(let values):
                var sum: Float = 0
                var count: Float = 0
                for c in context where !values[Int(c)].isNaN {
                    sum += values[Int(c)]
                    count += 1
                }
                let mean = count > 0 ? sum / count : .nan
                for (r, c) in candidates.enumerated() { set(r, Double(abs(values[Int(c)] - mean))) }
            case .coOccurrenceAnchor:
                guard let index = coOccurrence else { continue }
                for (r, sum) in coOccurrenceSums(index, from: [Int32(anchor)]).enumerated() { set(r, Double(sum)) }
            case .coOccurrenceContext:
                guard let index = coOccurrence else { continue }
                for (r, sum) in coOccurrenceSums(index, from: context.prefix(10)).enumerated() { set(r, Double(sum)) }
            case .sameReference(let references):
                let a = references[anchor]
                for (r, c) in candidates.enumerated() {
                    set(r, a < 0 || references[Int(c)] < 0 ? .nan : (references[Int(c)] == a ? 1 : 0))
                }
            case .contextReferenceShare(let references):
                for (r, c) in candidates.enumerated() {
                    let ref = references[Int(c)]
                    var same = 0
                    for item in context where references[Int(item)] == ref && ref >= 0 { same += 1 }
                    set(r, Double(same) / Double(context.count))
                }
            case .cosineAnchor(let unit):
                unit.values.withUnsafeBufferPointer { v in
                    let query = UnsafeBufferPointer(
                        rebasing: v[(anchor * unit.dimension)..<((anchor + 1) * unit.dimension)]
                    )
                    for (r, c) in candidates.enumerated() { set(r, Double(unit.dot(Int(c), query))) }
                }
            case .cosineContext(let unit):
                let query = centroid(unit, context)
                query.withUnsafeBufferPointer { q in
                    for (r, c) in candidates.enumerated() { set(r, Double(unit.dot(Int(c), q))) }
                }
            case .cosineUser(let itemVectors, let userVectors):
                guard let u = inputs.user else { continue }
                userVectors.values.withUnsafeBufferPointer { v in
                    let d = userVectors.dimension
                    let query = UnsafeBufferPointer(rebasing: v[(u * d)..<((u + 1) * d)])
                    for (r, c) in candidates.enumerated() { set(r, Double(itemVectors.dot(Int(c), query))) }
                }
            case .userEvents(let event):
                guard inputs.user != nil else { continue }
                for (r, c) in candidates.enumerated() { set(r, Double(Self.count(userKeys, UInt32(c), event))) }
            case .userReferenceEvents(let references, let event):
                guard inputs.user != nil else { continue }
                var keys: [UInt64] = []
                keys.reserveCapacity(userKeys.count)
                for key in userKeys {
                    let ref = references[Int(key >> 8)]
                    if ref >= 0 { keys.append(UInt64(UInt32(ref)) << 8 | (key & 0xFF)) }
                }
                keys.sort()
                for (r, c) in candidates.enumerated() {
                    let ref = references[Int(c)]
                    set(r, ref < 0 ? .nan : Double(Self.count(keys, UInt32(ref), event)))
                }
            case .userReferenceHistory(let other, let references):
                guard let u = inputs.user else { continue }
                var targets = other.range(u).map { other.targets[$0] }
                targets.sort()
                for (r, c) in candidates.enumerated() {
                    let ref = references[Int(c)]
                    set(r, ref < 0 ? .nan : Double(Self.count(targets, ref)))
                }
            case .online(let feature):
                feature.fill(candidates: candidates, state: inputs.online, ids: candidateIDs, set: set)
            }
        }
    }

    /// Entries of `keys` (sorted `target << 8 | event`) for `target`, of `event` or of any event.
    static func count(_ keys: [UInt64], _ target: UInt32, _ event: UInt8?) -> Int {
        let low = UInt64(target) << 8 | UInt64(event ?? 0)
        let high = event == nil ? (UInt64(target) + 1) << 8 : low + 1
        return lowerBound(keys, high) - lowerBound(keys, low)
    }

    /// Occurrences of `value` in sorted `values`.
    static func count(_ values: [Int32], _ value: Int32) -> Int {
        lowerBound(values, value + 1) - lowerBound(values, value)
    }

    static func lowerBound<T: Comparable>(_ values: [T], _ value: T) -> Int {
        var low = 0
        var high = values.count
        while low < high {
            let mid = (low + high) / 2
            if values[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    // MARK: Re-rank

    /// Orders candidates by score without excluded items, then fills the first positions by the shared rules of
    /// ``GreedyWindow``: the cap groups are references (artists), the diversity groups main tags (genres).
    /// - Parameter scores: the scores to order by when a rule adjusted the model's (default: the model's).
    func rerank(_ run: inout GenericRun, excluded: [Int32], scores adjusted: [Double]? = nil) {
        let n = run.candidates.count
        var remaining: [Int] = []
        remaining.reserveCapacity(n)
        for i in 0..<n where !Self.contains(excluded, run.candidates[i]) { remaining.append(i) }
        let scores = adjusted ?? run.modelScores
        let fully = run.fullyScored
        func full(_ i: Int) -> Int { fully.isEmpty || fully[i] ? 1 : 0 }
        remaining.sort { (full($0), scores[$0], run.candidates[$1]) > (full($1), scores[$1], run.candidates[$0]) }
        let candidates = run.candidates
        let fill = GreedyWindow(
            cap: cap.map { GreedyWindow.Cap(cap: $0.cap, window: $0.window) },
            diversity: diversity.map { GreedyWindow.Diversity(penalty: $0.penalty, window: $0.window) }
        ).fill(
            remaining,
            scores: scores,
            fullyScored: fully,
            capGroup: { cap?.references[Int(candidates[$0])] ?? -1 },
            diversityGroup: { diversity?.tags.first(Int(candidates[$0])) ?? -1 }
        )
        // The window's entries report the score they were chosen by; reported scores never increase.
        var final = fill.scores
        final.reserveCapacity(fill.order.count)
        for i in fill.order.dropFirst(final.count) { final.append(scores[i]) }
        for k in final.indices.dropFirst() where final[k] > final[k - 1] { final[k] = final[k - 1] }
        run.order = fill.order
        run.finalScores = final
    }

    static func contains(_ sorted: [Int32], _ value: Int32) -> Bool {
        let i = lowerBound(sorted, value)
        return i < sorted.count && sorted[i] == value
    }

    // MARK: Entries

    /// The answer's entry at `k` in the order.
    func entry(_ run: GenericRun, at k: Int, explain: Bool, display: Bool) -> RankedEntry {
        let i = run.order[k]
        let item = Int(run.candidates[i])
        var sources: [String] = []
        var features: [(String, Double)] = []
        if explain {
            for (s, source) in config.sources.enumerated() where run.sourceMask[i] & (UInt32(1) << UInt32(s)) != 0 {
                sources.append(source.name)
            }
            for (j, name) in featureNames.enumerated() {
                features.append((name, run.featureRows[i * run.featureWidth + j]))
            }
        }
        var entry = RankedEntry(
            itemID: items.ids.id(item),
            score: run.finalScores[k],
            modelScore: run.modelScores[i],
            venueID: "",
            sources: sources,
            features: features,
            display: display && item < items.display.count ? items.display.values(of: item) : []
        )
        entry.sourceMask = run.sourceMask[i]
        return entry
    }
}
