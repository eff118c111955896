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
/// Trees are flattened into one node array, one leaf array and one category-bitset array; scoring walks them with
/// indices and allocates nothing. Rows are `featureNames.count` doubles in `featureNames` order, NaN meaning missing.
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
    let leafValues: [Double]
    let roots: [Int32]
    let categorySets: [CategorySet]
    let categoryWords: [UInt32]
    /// The margin every row starts from: 0 for LightGBM (its bias lives in the first tree), XGBoost's base margin.
    let baseScore: Double

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
        self.leafValues = trees.leafValues
        self.roots = trees.roots
        self.categorySets = trees.categorySets
        self.categoryWords = trees.categoryWords
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
        guard isLightGBM || lowercased.hasSuffix(".json") else { throw ModelLoadError.unknownModelExtension(path: path) }
        let bytes = try readFile(path)
        let hash = String(fnv1a64(bytes), radix: 16)
        let version = "\((path as NSString).lastPathComponent)#fnv1a64:\(String(repeating: "0", count: 16 - hash.count))\(hash)"
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
        return withWalker { walker in sumTrees(walker, row: rowBase, limit: limit) }
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
        precondition(rowCount >= 0, "negative row count")
        let (needed, overflow) = rowCount.multipliedReportingOverflow(by: featureNames.count)
        precondition(!overflow && rows.count >= needed, "rows hold \(rows.count) values, \(rowCount) rows need more")
        precondition(out.count >= rowCount, "output holds \(out.count) scores, \(rowCount) rows need more")
        guard rowCount > 0, let outBase = out.baseAddress else { return }
        let limit = resolvedTreeLimit(treeLimit)
        let rowBase = rows.baseAddress.unsafelyUnwrapped
        withWalker { walker in
            switch format {
            case .lightGBM:
                scoreBlocks(walker, DoubleSum.self, rows: rowBase, rowCount: rowCount, out: outBase, limit: limit)
            case .xgboost:
                scoreBlocks(walker, Float32Sum.self, rows: rowBase, rowCount: rowCount, out: outBase, limit: limit)
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

    private func withWalker<R>(_ body: (TreeWalker) -> R) -> R {
        nodes.withUnsafeBufferPointer { nodes in
            leafValues.withUnsafeBufferPointer { leaves in
                roots.withUnsafeBufferPointer { roots in
                    categorySets.withUnsafeBufferPointer { sets in
                        categoryWords.withUnsafeBufferPointer { words in
                            body(
                                TreeWalker(
                                    nodes: nodes.baseAddress, leaves: leaves.baseAddress, roots: roots.baseAddress,
                                    categorySets: sets.baseAddress, categoryWords: words.baseAddress
                                )
                            )
                        }
                    }
                }
            }
        }
    }

    private func sumTrees(_ walker: TreeWalker, row: UnsafePointer<Double>, limit: Int) -> Double {
        switch format {
        case .lightGBM:
            var sum = baseScore
            for tree in 0..<limit { sum += walker.leafValue(tree: tree, row: row) }
            return sum
        case .xgboost:
            var sum = Float(baseScore)
            for tree in 0..<limit { sum += Float(walker.leafValue(tree: tree, row: row)) }
            return Double(sum)
        }
    }

    /// Rows per block: 64 rows of a typical ranking feature vector stay in L1/L2 while every tree walks them.
    static let blockRows = 64

    private func scoreBlocks<Sum: LeafSum>(
        _ walker: TreeWalker,
        _: Sum.Type,
        rows: UnsafePointer<Double>,
        rowCount: Int,
        out: UnsafeMutablePointer<Double>,
        limit: Int
    ) {
        let stride = featureNames.count
        var blockStart = 0
        while blockStart < rowCount {
            let blockEnd = min(blockStart + Self.blockRows, rowCount)
            for row in blockStart..<blockEnd { out[row] = baseScore }
            for tree in 0..<limit {
                let root = walker.roots.unsafelyUnwrapped[tree]
                if root < 0 {
                    let value = walker.leaves.unsafelyUnwrapped[Int(~root)]
                    for row in blockStart..<blockEnd { out[row] = Sum.add(out[row], value) }
                    continue
                }
                var row = blockStart
                // Four independent walks interleaved: each step is a dependent load chain, and interleaving lets
                // the CPU overlap the four chains instead of waiting on one.
                while row + 4 <= blockEnd {
                    let base = rows + row * stride
                    let (l0, l1, l2, l3) = walker.leafIndices4(
                        root: root, base, base + stride, base + 2 * stride, base + 3 * stride)
                    out[row] = Sum.add(out[row], walker.leaves.unsafelyUnwrapped[l0])
                    out[row + 1] = Sum.add(out[row + 1], walker.leaves.unsafelyUnwrapped[l1])
                    out[row + 2] = Sum.add(out[row + 2], walker.leaves.unsafelyUnwrapped[l2])
                    out[row + 3] = Sum.add(out[row + 3], walker.leaves.unsafelyUnwrapped[l3])
                    row += 4
                }
                while row < blockEnd {
                    let leaf = walker.leafIndex(root: root, row: rows + row * stride)
                    out[row] = Sum.add(out[row], walker.leaves.unsafelyUnwrapped[leaf])
                    row += 1
                }
            }
            blockStart = blockEnd
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
    let leaves: UnsafePointer<Double>?
    let roots: UnsafePointer<Int32>?
    let categorySets: UnsafePointer<CategorySet>?
    let categoryWords: UnsafePointer<UInt32>?

    @inline(__always)
    func leafValue(tree: Int, row: UnsafePointer<Double>) -> Double {
        let root = roots.unsafelyUnwrapped[tree]
        return leaves.unsafelyUnwrapped[root < 0 ? Int(~root) : leafIndex(root: root, row: row)]
    }

    @inline(__always)
    func step(_ node: Int32, _ row: UnsafePointer<Double>) -> Int32 {
        let split = nodes.unsafelyUnwrapped[Int(node)]
        let x = row[Int(split.feature)]
        let goLeft: Bool
        if split.kind.rawValue <= SplitKind.numericMissingLeft.rawValue {
            // `x <= t` is false for NaN, so NaN goes right unless the node sends it left.
            goLeft = x <= split.threshold || (split.kind == .numericMissingLeft && x.isNaN)
        } else {
            goLeft = decideSlowPath(split, x)
        }
        return goLeft ? split.left : split.right
    }

    @inline(__always)
    func leafIndex(root: Int32, row: UnsafePointer<Double>) -> Int {
        var node = root
        while node >= 0 { node = step(node, row) }
        return Int(~node)
    }

    /// Walks four rows down one tree together while all four are on split nodes, then finishes each alone.
    @inline(__always)
    func leafIndices4(
        root: Int32,
        _ r0: UnsafePointer<Double>,
        _ r1: UnsafePointer<Double>,
        _ r2: UnsafePointer<Double>,
        _ r3: UnsafePointer<Double>
    ) -> (Int, Int, Int, Int) {
        var n0 = root
        var n1 = root
        var n2 = root
        var n3 = root
        while (n0 | n1 | n2 | n3) >= 0 {
            n0 = step(n0, r0)
            n1 = step(n1, r1)
            n2 = step(n2, r2)
            n3 = step(n3, r3)
        }
        while n0 >= 0 { n0 = step(n0, r0) }
        while n1 >= 0 { n1 = step(n1, r1) }
        while n2 >= 0 { n2 = step(n2, r2) }
        while n3 >= 0 { n3 = step(n3, r3) }
        return (Int(~n0), Int(~n1), Int(~n2), Int(~n3))
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
