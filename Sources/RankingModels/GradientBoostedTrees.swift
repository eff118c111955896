import Foundation

/// The library a model was trained with, which decides how its scores are summed.
public enum ModelFormat: String, Sendable {
    /// LightGBM text model (`Booster.save_model("x.txt")`): leaves summed in double precision.
    case lightGBM
    /// XGBoost JSON model (`Booster.save_model("x.json")`): inputs, thresholds and sums in float32, as XGBoost does.
    case xgboost
}

/// A gradient-boosted tree ensemble that reproduces the training library's raw score (the margin before any
/// sigmoid) bit for bit, loaded from a LightGBM text model or an XGBoost JSON model.
///
/// Trees are flattened into one node array, one leaf array and one category-bitset array. Trees whose splits are all
/// plain numeric are also held in a 16-byte node form with one comparison per split (`CompactForest`), which scoring
/// walks instead; either way the leaves are added in tree order. Widened rows for that form go in one temporary
/// buffer per call (`withUnsafeTemporaryAllocation`, on the stack when the standard library finds room there).
/// Rows are `featureNames.count` doubles in `featureNames` order, NaN meaning missing.
/// Instances are immutable and safe to share between threads.
public final class GradientBoostedTrees: Sendable {
    /// The model's feature order: rows passed to the scoring functions must follow it.
    public let featureNames: [String]
    /// Identifies the loaded artefact, e.g. `model.txt#fnv1a64:0123456789abcdef` for a model read from a file.
    public let version: String
    /// The training objective's name as the library spells it (`binary`, `lambdarank`, `binary:logistic`, ...).
    public let objective: String
    /// Which library wrote the model.
    public let format: ModelFormat

    let nodes: [SplitNode]
    let roots: [Int32]
    let firstLeaves: [Int32]
    let categorySets: [CategorySet]
    let categoryWords: [UInt32]
    /// The trees again in the 16-byte form that plain numeric splits allow; the ones it cannot hold use `nodes`.
    let compact: CompactForest
    /// The margin every row starts from: 0 for LightGBM (its bias lives in the first tree), XGBoost's base margin.
    let baseScore: Double
    /// QuickScorer's tables (``QuickScorerTables``) by tree range.
    let quickScorer: QuickScorerCache
    /// Whether every tree fits QuickScorer's tables.
    var quickScorable: Bool { quickScorer.allTreesFit }

    /// Number of trees; `treeLimit` arguments count these, one per boosting round for the supported objectives.
    public var treeCount: Int { roots.count }

    init(
        featureNames: [String],
        version: String,
        objective: String,
        format: ModelFormat,
        baseScore: Double,
        trees: TreeEnsembleBuilder
    ) {
        self.featureNames = featureNames
        self.version = version
        self.objective = objective
        self.format = format
        self.baseScore = baseScore
        self.nodes = trees.nodes
        self.roots = trees.roots
        self.firstLeaves = trees.firstLeaves
        self.categorySets = trees.categorySets
        self.categoryWords = trees.categoryWords
        self.compact = CompactForest(trees)
        self.quickScorer = QuickScorerCache(
            nodes: trees.nodes,
            roots: trees.roots,
            firstLeaves: trees.firstLeaves,
            featureCount: featureNames.count
        )
    }

    // MARK: Loading

    /// Parses a LightGBM text model, as written by `Booster.save_model("x.txt")`.
    public static func loadLightGBM(text: String, version: String) throws -> GradientBoostedTrees {
        try LightGBMTextLoader.load(text: text, version: version)
    }

    /// Parses an XGBoost JSON model, as written by `Booster.save_model("x.json")`.
    public static func loadXGBoostJSON(data: [UInt8], version: String) throws -> GradientBoostedTrees {
        try XGBoostJSONLoader.load(bytes: data, version: version)
    }

    /// Parses an XGBoost JSON model held in a `Data`.
    public static func loadXGBoostJSON(data: Data, version: String) throws -> GradientBoostedTrees {
        try loadXGBoostJSON(data: [UInt8](data), version: version)
    }

    /// Loads a model file, choosing the format by extension: `.txt` is LightGBM, `.json` is XGBoost.
    ///
    /// The version is the file name and a hash of its bytes, so two different files never share a version.
    public static func load(contentsOf path: String) throws -> GradientBoostedTrees {
        let lowercased = path.lowercased()
        let isLightGBM = lowercased.hasSuffix(".txt")
        guard isLightGBM || lowercased.hasSuffix(".json") else {
            throw ModelLoadError.unknownModelExtension(path: path)
        }
        let bytes = try readFile(path)
        let hash = String(fnv1a64(bytes), radix: 16)
        let version =
            "\((path as NSString).lastPathComponent)#fnv1a64:\(String(repeating: "0", count: 16 - hash.count))\(hash)"
        if isLightGBM {
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ModelLoadError.malformed(format: "LightGBM", location: path, reason: "not valid UTF-8")
            }
            return try loadLightGBM(text: text, version: version)
        }
        return try loadXGBoostJSON(data: bytes, version: version)
    }

    static func readFile(_ path: String) throws -> [UInt8] {
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ModelLoadError.unreadableFile(path: path, reason: String(describing: error))
        }
    }

    // MARK: Scoring

    /// Raw score of one row in `featureNames` order (NaN = missing), using the first `treeLimit` trees (all trees
    /// when nil; a limit above `treeCount` means all trees, as in LightGBM and XGBoost).
    public func rawScore(_ row: UnsafeBufferPointer<Double>, treeLimit: Int? = nil) -> Double {
        precondition(row.count == featureNames.count, "row has \(row.count) values, model has \(featureNames.count)")
        let limit = resolvedTreeLimit(treeLimit)
        // Loaders refuse models without features, so a row of the right length is never empty.
        let rowBase = row.baseAddress.unsafelyUnwrapped
        return withWalker { walker, compactWalker in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: compact.widenedCapacity(rows: 1)) { widened in
                let widenedBase = widened.baseAddress.unsafelyUnwrapped
                if compact.hasCompactTrees {
                    compact.widen(rowBase, count: 1, into: widenedBase, negatedFeatures: compactWalker.negatedFeatures)
                }
                return sumTrees(
                    walker,
                    compactWalker,
                    row: rowBase,
                    widened: widenedBase,
                    trees: 0..<limit,
                    from: baseScore
                )
            }
        }
    }

    /// Raw score of one row through the general walk alone, whatever form each tree also has: the reference that
    /// tests hold the compact walk to, bit for bit.
    func generalWalkRawScore(_ row: [Double], treeLimit: Int? = nil) -> Double {
        precondition(row.count == featureNames.count, "row has \(row.count) values, model has \(featureNames.count)")
        let limit = resolvedTreeLimit(treeLimit)
        return row.withUnsafeBufferPointer { row in
            withTreeWalker { walker in
                var sum = baseScore
                for tree in 0..<limit {
                    let leaf = walker.leafValue(tree: tree, row: row.baseAddress.unsafelyUnwrapped)
                    switch format {
                    case .lightGBM: sum = DoubleSum.add(sum, leaf)
                    case .xgboost: sum = Float32Sum.add(sum, leaf)
                    }
                }
                return sum
            }
        }
    }

    /// Raw score of one row held in an array; see `rawScore(_:treeLimit:)`.
    public func rawScore(_ row: [Double], treeLimit: Int? = nil) -> Double {
        row.withUnsafeBufferPointer { rawScore($0, treeLimit: treeLimit) }
    }

    /// Raw scores of `rowCount` rows stored row-major (`rowCount * featureNames.count` doubles, each row in
    /// `featureNames` order, NaN = missing) written to `out[0..<rowCount]`, using the first `treeLimit` trees.
    ///
    /// Rows are scored in blocks with the trees in the outer loop, so each tree's nodes stay in cache while a block
    /// of rows walks it. Each row's sum still adds the trees in model order, so results equal `rawScore` exactly.
    public func rawScores(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        into out: UnsafeMutableBufferPointer<Double>,
        treeLimit: Int? = nil
    ) {
        scoreRows(rows, rowCount: rowCount, scores: out, trees: 0..<resolvedTreeLimit(treeLimit), startFromBase: true)
    }

    /// Asks for the memory that scoring `rowCount` rows over `trees` will read, where that is QuickScorer's tables:
    /// called a stage ahead (before a first phase, for the second), it overlaps their cache misses with other work.
    public func prefetch(rowCount: Int, trees: Range<Int>) {
        guard trees.lowerBound >= 0, trees.upperBound <= treeCount else { return }
        quickScorerTables(rowCount: rowCount, trees: trees)?.prefetch()
    }

    /// Second phase of two-phase scoring: `scores[0..<rowCount]` holds each row's raw score over the first
    /// `trees.lowerBound` trees (as `rawScores(treeLimit: trees.lowerBound)` returned it) and gets the trees in
    /// `trees` added. The result equals `rawScores(treeLimit: trees.upperBound)` exactly, because the leaves are
    /// added in the same order either way; so a cheap first pass over all candidates can be finished for the
    /// survivors only, without re-walking the first trees.
    public func continueRawScores(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        scores: UnsafeMutableBufferPointer<Double>,
        trees: Range<Int>
    ) {
        precondition(trees.lowerBound >= 0 && trees.upperBound <= treeCount, "trees \(trees) outside 0..<\(treeCount)")
        scoreRows(rows, rowCount: rowCount, scores: scores, trees: trees, startFromBase: false)
    }

    /// Whether `rowCount` rows over `trees` are scored with QuickScorer's tables on this machine, and the tables.
    /// A single row keeps the walk, which is cheaper than the kernel's eight lanes.
    func quickScorerTables(rowCount: Int, trees: Range<Int>) -> QuickScorerTables? {
        guard QuickScorerTables.cpuSupported, rowCount >= 2, !trees.isEmpty else { return nil }
        return quickScorer.tables(for: trees)
    }

    /// `walksOnly` leaves QuickScorer out, for tests that hold the walks and the kernel to each other.
    func scoreRows(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        scores: UnsafeMutableBufferPointer<Double>,
        trees: Range<Int>,
        startFromBase: Bool,
        walksOnly: Bool = false
    ) {
        precondition(rowCount >= 0, "negative row count")
        let (needed, overflow) = rowCount.multipliedReportingOverflow(by: featureNames.count)
        precondition(!overflow && rows.count >= needed, "rows hold \(rows.count) values, \(rowCount) rows need more")
        precondition(scores.count >= rowCount, "output holds \(scores.count) scores, \(rowCount) rows need more")
        guard rowCount > 0, let outBase = scores.baseAddress else { return }
        let rowBase = rows.baseAddress.unsafelyUnwrapped
        if !walksOnly, let tables = quickScorerTables(rowCount: rowCount, trees: trees) {
            tables.score(
                rows: rowBase,
                stride: featureNames.count,
                rowCount: rowCount,
                out: outBase,
                base: startFromBase ? baseScore : nil,
                float32Sum: format == .xgboost
            )
            return
        }
        let blockRows = min(rowCount, Self.blockRows)
        withWalker { walker, compactWalker in
            // One block of widened rows per call, not per row; none when no tree reads them.
            withUnsafeTemporaryAllocation(
                of: Double.self,
                capacity: compact.hasCompactTrees ? compact.widenedCapacity(rows: blockRows) : 1
            ) { widened in
                let widenedBase = widened.baseAddress.unsafelyUnwrapped
                switch format {
                case .lightGBM:
                    scoreBlocks(
                        walker,
                        compactWalker,
                        DoubleSum.self,
                        rows: rowBase,
                        widened: widenedBase,
                        rowCount: rowCount,
                        out: outBase,
                        trees: trees,
                        startFromBase: startFromBase
                    )
                case .xgboost:
                    scoreBlocks(
                        walker,
                        compactWalker,
                        Float32Sum.self,
                        rows: rowBase,
                        widened: widenedBase,
                        rowCount: rowCount,
                        out: outBase,
                        trees: trees,
                        startFromBase: startFromBase
                    )
                }
            }
        }
    }

    /// Raw scores of rows held in an array; see `rawScores(_:rowCount:into:treeLimit:)`.
    public func rawScores(_ rows: [Double], rowCount: Int, treeLimit: Int? = nil) -> [Double] {
        [Double](unsafeUninitializedCapacity: rowCount) { buffer, initialized in
            rows.withUnsafeBufferPointer { rawScores($0, rowCount: rowCount, into: buffer, treeLimit: treeLimit) }
            initialized = rowCount
        }
    }

    private func resolvedTreeLimit(_ treeLimit: Int?) -> Int {
        guard let treeLimit else { return roots.count }
        precondition(treeLimit >= 0, "negative tree limit")
        return min(treeLimit, roots.count)
    }

    private func withWalker<R>(_ body: (TreeWalker, CompactWalker) -> R) -> R {
        compact.nodes.withUnsafeBufferPointer { compactNodes in
            compact.roots.withUnsafeBufferPointer { compactRoots in
                compact.firstLeaves.withUnsafeBufferPointer { compactFirstLeaves in
                    compact.shallowestLeafDepths.withUnsafeBufferPointer { shallowestLeafDepths in
                        compact.negatedFeatures.withUnsafeBufferPointer { negatedFeatures in
                            withTreeWalker { walker in
                                body(
                                    walker,
                                    CompactWalker(
                                        nodes: compactNodes.baseAddress,
                                        roots: compactRoots.baseAddress,
                                        firstLeaves: compactFirstLeaves.baseAddress,
                                        shallowestLeafDepths: shallowestLeafDepths.baseAddress,
                                        negatedFeatures: negatedFeatures.baseAddress
                                    )
                                )
                            }
                        }
                    }
                }
            }
        }
    }

    private func withTreeWalker<R>(_ body: (TreeWalker) -> R) -> R {
        nodes.withUnsafeBufferPointer { nodes in
            roots.withUnsafeBufferPointer { roots in
                firstLeaves.withUnsafeBufferPointer { firstLeaves in
                    categorySets.withUnsafeBufferPointer { sets in
                        categoryWords.withUnsafeBufferPointer { words in
                            body(
                                TreeWalker(
                                    nodes: nodes.baseAddress,
                                    roots: roots.baseAddress,
                                    firstLeaves: firstLeaves.baseAddress,
                                    categorySets: sets.baseAddress,
                                    categoryWords: words.baseAddress
                                )
                            )
                        }
                    }
                }
            }
        }
    }

    private func sumTrees(
        _ walker: TreeWalker,
        _ compactWalker: CompactWalker,
        row: UnsafePointer<Double>,
        widened: UnsafePointer<Double>,
        trees: Range<Int>,
        from start: Double
    ) -> Double {
        switch format {
        case .lightGBM:
            return sumTrees(
                walker,
                compactWalker,
                DoubleSum.self,
                row: row,
                widened: widened,
                trees: trees,
                from: start
            )
        case .xgboost:
            return sumTrees(
                walker,
                compactWalker,
                Float32Sum.self,
                row: row,
                widened: widened,
                trees: trees,
                from: start
            )
        }
    }

    /// `start` plus one row's leaves of `trees`, four trees walked in lockstep (independent load chains overlap),
    /// leaves still added in tree order. `widened` is the row's widened form at lane 0: a row in lane `l` of a group
    /// passes the group's address plus `l`.
    private func sumTrees<Sum: LeafSum>(
        _ walker: TreeWalker,
        _ compactWalker: CompactWalker,
        _: Sum.Type,
        row: UnsafePointer<Double>,
        widened: UnsafePointer<Double>,
        trees: Range<Int>,
        from start: Double
    ) -> Double {
        let limit = trees.upperBound
        let roots = walker.roots.unsafelyUnwrapped
        let firstLeaves = walker.firstLeaves.unsafelyUnwrapped
        let compactRoots = compactWalker.roots.unsafelyUnwrapped
        let compactFirstLeaves = compactWalker.firstLeaves.unsafelyUnwrapped
        var sum = start
        var tree = trees.lowerBound
        while tree + 4 <= limit {
            let c0 = Int(compactRoots[tree])
            let c1 = Int(compactRoots[tree + 1])
            let c2 = Int(compactRoots[tree + 2])
            let c3 = Int(compactRoots[tree + 3])
            if min(min(c0, c1), min(c2, c3)) >= 0 {
                var n0 = compactWalker.node(Int32(c0))
                var n1 = compactWalker.node(Int32(c1))
                var n2 = compactWalker.node(Int32(c2))
                var n3 = compactWalker.node(Int32(c3))
                let f0 = compactWalker.node(compactFirstLeaves[tree])
                let f1 = compactWalker.node(compactFirstLeaves[tree + 1])
                let f2 = compactWalker.node(compactFirstLeaves[tree + 2])
                let f3 = compactWalker.node(compactFirstLeaves[tree + 3])
                while n0 < f0 || n1 < f1 || n2 < f2 || n3 < f3 {
                    n0 = CompactWalker.step(n0, widened, lane: 0)
                    n1 = CompactWalker.step(n1, widened, lane: 0)
                    n2 = CompactWalker.step(n2, widened, lane: 0)
                    n3 = CompactWalker.step(n3, widened, lane: 0)
                }
                sum = Sum.add(sum, CompactWalker.value(n0))
                sum = Sum.add(sum, CompactWalker.value(n1))
                sum = Sum.add(sum, CompactWalker.value(n2))
                sum = Sum.add(sum, CompactWalker.value(n3))
                tree += 4
                continue
            }
            var n0 = roots[tree]
            var n1 = roots[tree + 1]
            var n2 = roots[tree + 2]
            var n3 = roots[tree + 3]
            let f0 = firstLeaves[tree]
            let f1 = firstLeaves[tree + 1]
            let f2 = firstLeaves[tree + 2]
            let f3 = firstLeaves[tree + 3]
            while min(min(n0 - f0, n1 - f1), min(n2 - f2, n3 - f3)) < 0 {
                n0 = walker.step(n0, row)
                n1 = walker.step(n1, row)
                n2 = walker.step(n2, row)
                n3 = walker.step(n3, row)
            }
            sum = Sum.add(sum, walker.value(n0))
            sum = Sum.add(sum, walker.value(n1))
            sum = Sum.add(sum, walker.value(n2))
            sum = Sum.add(sum, walker.value(n3))
            tree += 4
        }
        while tree < limit {
            let compactRoot = Int(compactRoots[tree])
            if compactRoot >= 0 {
                var node = compactWalker.node(Int32(compactRoot))
                let firstLeaf = compactWalker.node(compactFirstLeaves[tree])
                while node < firstLeaf { node = CompactWalker.step(node, widened, lane: 0) }
                sum = Sum.add(sum, CompactWalker.value(node))
            } else {
                sum = Sum.add(sum, walker.leafValue(tree: tree, row: row))
            }
            tree += 1
        }
        return sum
    }

    /// Rows per block: 64 rows of a typical ranking feature vector stay in L1/L2 while every tree walks them.
    static let blockRows = 64

    private func scoreBlocks<Sum: LeafSum>(
        _ walker: TreeWalker,
        _ compactWalker: CompactWalker,
        _: Sum.Type,
        rows: UnsafePointer<Double>,
        widened: UnsafeMutablePointer<Double>,
        rowCount: Int,
        out: UnsafeMutablePointer<Double>,
        trees: Range<Int>,
        startFromBase: Bool
    ) {
        let stride = featureNames.count
        var blockStart = 0
        while blockStart < rowCount {
            let blockEnd = min(blockStart + Self.blockRows, rowCount)
            // Rows in whole groups walk each tree together. The few left over (a small batch, such as the entries
            // an answer finishes scoring) would each walk one tree at a time, one chain of dependent loads after
            // another: they walk several trees at once instead, after the groups.
            let lanes = CompactForest.lanes
            let lockstepEnd = blockStart &+ (blockEnd &- blockStart) / lanes &* lanes
            if startFromBase {
                for row in blockStart..<blockEnd { out[row] = baseScore }
            }
            if compact.hasCompactTrees {
                compact.widen(
                    rows + blockStart * stride,
                    count: blockEnd - blockStart,
                    into: widened,
                    negatedFeatures: compactWalker.negatedFeatures
                )
            }
            for tree in trees {
                if tree &+ 1 < trees.upperBound { compactWalker.prefetch(tree: tree &+ 1) }
                let compactRoot = Int(compactWalker.roots.unsafelyUnwrapped[tree])
                if compactRoot >= 0 {
                    scoreCompactTree(
                        Sum.self,
                        root: compactWalker.node(Int32(compactRoot)),
                        firstLeaf: compactWalker.node(compactWalker.firstLeaves.unsafelyUnwrapped[tree]),
                        uncheckedSteps: Int(compactWalker.shallowestLeafDepths.unsafelyUnwrapped[tree]),
                        widened: widened,
                        rows: blockStart..<lockstepEnd,
                        out: out
                    )
                    continue
                }
                let root = walker.roots.unsafelyUnwrapped[tree]
                let firstLeaf = walker.firstLeaves.unsafelyUnwrapped[tree]
                var row = blockStart
                // Several rows walk the tree in lockstep: each step is a chain of dependent loads, and independent
                // chains let the CPU overlap them. Rows that reach a leaf early sit there (leaves loop to
                // themselves) until the slowest row of the group arrives.
                while row + 8 <= lockstepEnd {
                    let base = rows + row * stride
                    var n = (root, root, root, root, root, root, root, root)
                    while min(min(min(n.0, n.1), min(n.2, n.3)), min(min(n.4, n.5), min(n.6, n.7))) < firstLeaf {
                        n.0 = walker.step(n.0, base)
                        n.1 = walker.step(n.1, base + stride)
                        n.2 = walker.step(n.2, base + 2 * stride)
                        n.3 = walker.step(n.3, base + 3 * stride)
                        n.4 = walker.step(n.4, base + 4 * stride)
                        n.5 = walker.step(n.5, base + 5 * stride)
                        n.6 = walker.step(n.6, base + 6 * stride)
                        n.7 = walker.step(n.7, base + 7 * stride)
                    }
                    out[row] = Sum.add(out[row], walker.value(n.0))
                    out[row + 1] = Sum.add(out[row + 1], walker.value(n.1))
                    out[row + 2] = Sum.add(out[row + 2], walker.value(n.2))
                    out[row + 3] = Sum.add(out[row + 3], walker.value(n.3))
                    out[row + 4] = Sum.add(out[row + 4], walker.value(n.4))
                    out[row + 5] = Sum.add(out[row + 5], walker.value(n.5))
                    out[row + 6] = Sum.add(out[row + 6], walker.value(n.6))
                    out[row + 7] = Sum.add(out[row + 7], walker.value(n.7))
                    row += 8
                }
            }
            let groupSize = compact.width &* lanes
            for row in lockstepEnd..<blockEnd {
                let offset = row &- blockStart
                out[row] = sumTrees(
                    walker,
                    compactWalker,
                    Sum.self,
                    row: rows + row &* stride,
                    widened: widened + (offset / lanes &* groupSize &+ offset % lanes),
                    trees: trees,
                    from: out[row]
                )
            }
            blockStart = blockEnd
        }
    }

    /// Adds one compact tree's leaf to the scores of `rows` (whole groups of `CompactForest.lanes`), whose widened
    /// forms start at `widened`.
    @inline(__always)
    private func scoreCompactTree<Sum: LeafSum>(
        _: Sum.Type,
        root: UnsafeRawPointer,
        firstLeaf: UnsafeRawPointer,
        uncheckedSteps: Int,
        widened: UnsafePointer<Double>,
        rows: Range<Int>,
        out: UnsafeMutablePointer<Double>
    ) {
        let lanes = CompactForest.lanes
        let groupSize = compact.width &* lanes
        var row = rows.lowerBound
        var group = widened
        // As in the general walk: eight independent chains of loads in flight, finished rows parked on their leaf.
        while row &+ lanes <= rows.upperBound {
            var n = (root, root, root, root, root, root, root, root)
            // No row can be on a leaf before the tree's shallowest one: those steps skip the exit check.
            for _ in 0..<uncheckedSteps {
                n.0 = CompactWalker.step(n.0, group, lane: 0)
                n.1 = CompactWalker.step(n.1, group, lane: 1)
                n.2 = CompactWalker.step(n.2, group, lane: 2)
                n.3 = CompactWalker.step(n.3, group, lane: 3)
                n.4 = CompactWalker.step(n.4, group, lane: 4)
                n.5 = CompactWalker.step(n.5, group, lane: 5)
                n.6 = CompactWalker.step(n.6, group, lane: 6)
                n.7 = CompactWalker.step(n.7, group, lane: 7)
            }
            while min(min(min(n.0, n.1), min(n.2, n.3)), min(min(n.4, n.5), min(n.6, n.7))) < firstLeaf {
                n.0 = CompactWalker.step(n.0, group, lane: 0)
                n.1 = CompactWalker.step(n.1, group, lane: 1)
                n.2 = CompactWalker.step(n.2, group, lane: 2)
                n.3 = CompactWalker.step(n.3, group, lane: 3)
                n.4 = CompactWalker.step(n.4, group, lane: 4)
                n.5 = CompactWalker.step(n.5, group, lane: 5)
                n.6 = CompactWalker.step(n.6, group, lane: 6)
                n.7 = CompactWalker.step(n.7, group, lane: 7)
            }
            out[row] = Sum.add(out[row], CompactWalker.value(n.0))
            out[row &+ 1] = Sum.add(out[row &+ 1], CompactWalker.value(n.1))
            out[row &+ 2] = Sum.add(out[row &+ 2], CompactWalker.value(n.2))
            out[row &+ 3] = Sum.add(out[row &+ 3], CompactWalker.value(n.3))
            out[row &+ 4] = Sum.add(out[row &+ 4], CompactWalker.value(n.4))
            out[row &+ 5] = Sum.add(out[row &+ 5], CompactWalker.value(n.5))
            out[row &+ 6] = Sum.add(out[row &+ 6], CompactWalker.value(n.6))
            out[row &+ 7] = Sum.add(out[row &+ 7], CompactWalker.value(n.7))
            row &+= lanes
            group += groupSize
        }
    }
}

/// How a library adds a leaf to a running sum; the running sum is kept in a Double either way.
protocol LeafSum {
    static func add(_ sum: Double, _ leaf: Double) -> Double
}

/// LightGBM: double-precision sum.
enum DoubleSum: LeafSum {
    @inline(__always) static func add(_ sum: Double, _ leaf: Double) -> Double { sum + leaf }
}

/// XGBoost: float32 sum (the running sum and the leaves are always exact float32 values).
enum Float32Sum: LeafSum {
    @inline(__always) static func add(_ sum: Double, _ leaf: Double) -> Double { Double(Float(sum) + Float(leaf)) }
}

/// Unsafe views of a model's arrays, valid only inside `GradientBoostedTrees.withWalker`. Indices are trusted:
/// `TreeEnsembleBuilder` checked every child, feature and category-set index when the model was loaded.
struct TreeWalker {
    // Optional only because an empty array has no base address; a pointer is used only when its array has elements.
    let nodes: UnsafePointer<SplitNode>?
    let roots: UnsafePointer<Int32>?
    let firstLeaves: UnsafePointer<Int32>?
    let categorySets: UnsafePointer<CategorySet>?
    let categoryWords: UnsafePointer<UInt32>?

    @inline(__always)
    func leafValue(tree: Int, row: UnsafePointer<Double>) -> Double {
        let firstLeaf = firstLeaves.unsafelyUnwrapped[tree]
        var node = roots.unsafelyUnwrapped[tree]
        while node < firstLeaf { node = step(node, row) }
        return value(node)
    }

    /// A leaf's value.
    @inline(__always)
    func value(_ leaf: Int32) -> Double {
        nodes.unsafelyUnwrapped[Int(leaf)].threshold
    }

    /// The child of `node` that `row` goes to (the node itself for a leaf).
    @inline(__always)
    func step(_ node: Int32, _ row: UnsafePointer<Double>) -> Int32 {
        let split = nodes.unsafelyUnwrapped + Int(node)
        let kind = split.pointee.kind.rawValue
        let x = row[Int(split.pointee.feature)]
        let goRight: Int
        if kind <= SplitKind.numericMissingLeft.rawValue {
            // `x <= t` is false for NaN, so NaN goes right unless the node sends it left. Built from bits and
            // used as an offset, not branched on: split outcomes look random to a branch predictor. kind is 1
            // exactly for numericMissingLeft, so it doubles as the "NaN goes left" bit.
            let lessOrEqual = unsafeBitCast(x <= split.pointee.threshold, to: UInt8.self)
            let isNaN = unsafeBitCast(x != x, to: UInt8.self)
            goRight = Int((lessOrEqual | (isNaN & kind)) ^ 1)
        } else {
            goRight = decideSlowPath(split.pointee, x) ? 0 : 1
        }
        return UnsafeRawPointer(split).load(fromByteOffset: SplitNode.leftOffset + goRight * 4, as: Int32.self)
    }

    /// Zero-as-missing and categorical decisions, kept out of line so the numeric fast path stays small.
    @inline(never)
    func decideSlowPath(_ split: SplitNode, _ x: Double) -> Bool {
        switch split.kind {
        case .numericMissingRight:
            return x <= split.threshold
        case .numericMissingLeft:
            return !(x > split.threshold)
        case .zeroMissingRight, .zeroMissingLeft:
            // LightGBM scores NaN as 0, and 0 (within kZeroThreshold) is the missing value here.
            if x.isNaN || (x >= -lightGBMZeroThreshold && x <= lightGBMZeroThreshold) {
                return split.kind == .zeroMissingLeft
            }
            return x <= split.threshold
        case .lightGBMCategorical:
            // LightGBM truncates to int: (-1, 0) is category 0, anything from -1 down goes right, and values past
            // Int32.max become INT_MIN on x86 and so go right too.
            guard !x.isNaN, x > -1, x < 2_147_483_648 else { return false }
            return categoryContains(split, Int(x))
        case .xgboostCategoricalMissingRight, .xgboostCategoricalMissingLeft:
            if x.isNaN { return split.kind == .xgboostCategoricalMissingLeft }
            // XGBoost compares the float32 value; negatives and values from 2^24 up are invalid and go left.
            let category = Float(x)
            guard category >= 0, category < 16_777_216 else { return true }
            return !categoryContains(split, Int(category))
        }
    }

    @inline(__always)
    private func categoryContains(_ split: SplitNode, _ category: Int) -> Bool {
        let set = categorySets.unsafelyUnwrapped[Int(split.threshold)]
        let word = category >> 5
        guard word < Int(set.wordCount) else { return false }
        return categoryWords.unsafelyUnwrapped[Int(set.wordOffset) + word] >> UInt32(category & 31) & 1 == 1
    }
}
