/// How one split node routes a row. The two plain numeric kinds cover almost every node and are tested first on
/// the hot path; everything else goes through `GradientBoostedTrees.decideSlowPath`.
enum SplitKind: UInt8 {
    /// Left iff `x <= threshold`; NaN goes right.
    case numericMissingRight = 0
    /// Left iff `!(x > threshold)`; NaN goes left.
    case numericMissingLeft = 1
    /// LightGBM `missing_type=Zero`: NaN and |x| <= 1e-35 take the default (right) branch, else `x <= threshold`.
    case zeroMissingRight = 2
    /// As `zeroMissingRight` with the default branch on the left.
    case zeroMissingLeft = 3
    /// LightGBM categorical: categories in the bitset go left; NaN, negative and unlisted categories go right.
    case lightGBMCategorical = 4
    /// XGBoost categorical: categories in the set go right, everything else left; NaN takes the default (right).
    case xgboostCategoricalMissingRight = 5
    /// As `xgboostCategoricalMissingRight` with NaN going left.
    case xgboostCategoricalMissingLeft = 6
}

/// One node, 24 bytes, so that a step down a tree touches a single cache line.
///
/// Leaves are nodes too: a leaf keeps its value in `threshold` and points both children at itself, so a walk that
/// reaches it stays put whatever the comparison says. That lets several rows walk one tree in lockstep without a
/// per-row "am I done" branch. For categorical kinds `threshold` holds the index of the node's category set.
struct SplitNode {
    var threshold: Double
    var feature: Int32
    var left: Int32
    var right: Int32
    var kind: SplitKind

    /// Byte offset of `left`, with `right` 4 bytes after it, so a child can be read at `leftOffset + 4 * goRight`.
    /// A test pins this to the actual layout.
    static let leftOffset = 12
}

/// Where one node's category bitset lives in the shared word array.
struct CategorySet {
    var wordOffset: Int32
    var wordCount: Int32
}

/// LightGBM's `kZeroThreshold`: a float literal `1e-35f` widened to double, so not exactly 1e-35.
let lightGBMZeroThreshold = Double(Float(1e-35))

/// Collects trees in the flat layout `GradientBoostedTrees` walks, and checks each tree's shape on the way in so
/// that scoring can index without bounds checks and can never loop.
///
/// Each tree occupies a contiguous run of `nodes`: its splits from `roots[t]`, then its leaves from
/// `firstLeaves[t]`, so "is this a leaf" is one comparison with the tree's first leaf index.
struct TreeEnsembleBuilder {
    let featureCount: Int
    let format: String
    private(set) var nodes: [SplitNode] = []
    private(set) var roots: [Int32] = []
    private(set) var firstLeaves: [Int32] = []
    private(set) var categorySets: [CategorySet] = []
    private(set) var categoryWords: [UInt32] = []

    var treeCount: Int { roots.count }

    init(featureCount: Int, format: String) {
        self.featureCount = featureCount
        self.format = format
    }

    /// Stores a category bitset (bit `c % 32` of word `c / 32` set for each category `c`) and returns its index.
    mutating func addCategorySet(words: [UInt32], location: String) throws -> Int {
        guard categoryWords.count + words.count < Int(Int32.max), categorySets.count < Int(Int32.max) else {
            throw ModelLoadError.malformed(format: format, location: location, reason: "too many categories")
        }
        categorySets.append(CategorySet(wordOffset: Int32(categoryWords.count), wordCount: Int32(words.count)))
        categoryWords.append(contentsOf: words)
        return categorySets.count - 1
    }

    /// Adds one tree given as splits whose children are split indices (>= 0) or `~leafIndex` (< 0), local to this
    /// tree, as in LightGBM's text format.
    ///
    /// A tree with no splits has exactly one leaf. Otherwise the splits must form a binary tree rooted at split 0
    /// in which every split and every leaf is reached exactly once: that rules out cycles, shared subtrees and
    /// dangling indices, whatever the file says.
    mutating func addTree(nodes treeNodes: [SplitNode], leafValues treeLeaves: [Double], location: String) throws {
        func fail(_ reason: String) -> ModelLoadError {
            .malformed(format: format, location: location, reason: reason)
        }
        for (index, value) in treeLeaves.enumerated() where !value.isFinite {
            throw fail("leaf \(index) has non-finite value \(value)")
        }
        guard nodes.count + treeNodes.count + treeLeaves.count < Int(Int32.max) else { throw fail("model too large") }
        if treeNodes.isEmpty {
            guard treeLeaves.count == 1 else {
                throw fail("a tree without splits must have exactly one leaf, found \(treeLeaves.count)")
            }
        } else {
            try checkShape(treeNodes, leafCount: treeLeaves.count, fail: fail)
        }

        let base = Int32(nodes.count)
        let firstLeaf = base + Int32(treeNodes.count)
        roots.append(base)
        firstLeaves.append(firstLeaf)
        for var node in treeNodes {
            node.left = node.left >= 0 ? base + node.left : firstLeaf + ~node.left
            node.right = node.right >= 0 ? base + node.right : firstLeaf + ~node.right
            nodes.append(node)
        }
        for (index, value) in treeLeaves.enumerated() {
            let me = firstLeaf + Int32(index)
            // Feature 0 exists in every accepted model; what it compares to does not matter with both children
            // pointing home.
            nodes.append(SplitNode(threshold: value, feature: 0, left: me, right: me, kind: .numericMissingRight))
        }
    }

    private func checkShape(
        _ treeNodes: [SplitNode],
        leafCount: Int,
        fail: (String) -> ModelLoadError
    ) throws {
        guard leafCount == treeNodes.count + 1 else {
            throw fail("\(treeNodes.count) splits need \(treeNodes.count + 1) leaves, found \(leafCount)")
        }
        for (index, node) in treeNodes.enumerated() {
            guard node.feature >= 0, Int(node.feature) < featureCount else {
                throw fail("split \(index) uses feature \(node.feature), but the model has \(featureCount) features")
            }
            switch node.kind {
            case .lightGBMCategorical, .xgboostCategoricalMissingLeft, .xgboostCategoricalMissingRight:
                let set = node.threshold
                guard set >= 0, set < Double(categorySets.count), set.rounded(.towardZero) == set else {
                    throw fail("split \(index) refers to category set \(set), which does not exist")
                }
            default:
                guard !node.threshold.isNaN else { throw fail("split \(index) has a NaN threshold") }
            }
        }
        var nodeSeen = [Bool](repeating: false, count: treeNodes.count)
        var leafSeen = [Bool](repeating: false, count: leafCount)
        var stack: [Int32] = [0]
        nodeSeen[0] = true
        while let current = stack.popLast() {
            let node = treeNodes[Int(current)]
            for child in [node.left, node.right] {
                if child >= 0 {
                    guard Int(child) < treeNodes.count else { throw fail("split \(current) has child \(child)") }
                    guard !nodeSeen[Int(child)] else { throw fail("split \(child) is reached twice") }
                    nodeSeen[Int(child)] = true
                    stack.append(child)
                } else {
                    let leaf = Int(~child)
                    guard leaf < leafCount else { throw fail("split \(current) has leaf child \(leaf)") }
                    guard !leafSeen[leaf] else { throw fail("leaf \(leaf) is reached twice") }
                    leafSeen[leaf] = true
                }
            }
        }
        if let unreached = nodeSeen.firstIndex(of: false) { throw fail("split \(unreached) is not reachable") }
        if let unreached = leafSeen.firstIndex(of: false) { throw fail("leaf \(unreached) is not reachable") }
    }
}

/// For a float32 threshold `t`, the largest double `d` such that `Float(x) < t` exactly when `x <= d`.
///
/// XGBoost converts every input to float32 before comparing it with its float32 split value. Folding that
/// rounding into the threshold once, at load time, lets XGBoost and LightGBM nodes share one double comparison on
/// the hot path. Returns nil for a non-finite `t`, which XGBoost does not write for numeric splits.
func doubleThreshold(forFloat32LessThan t: Float) -> Double? {
    guard t.isFinite else { return nil }
    let below = t.nextDown
    // Doubles round to `below` up to the midpoint between `below` and `t`; at the midpoint itself round-to-nearest-even
    // picks whichever of the two has an even significand.
    let midpoint: Double
    let tieRoundsBelow: Bool
    if below.isInfinite {
        // t is -greatestFiniteMagnitude: below it only -infinity, reached from the midpoint down (an odd significand
        // on the finite side sends the tie to infinity).
        midpoint = -(Double(Float.greatestFiniteMagnitude) + Double(Float.greatestFiniteMagnitude.ulp) / 2)
        tieRoundsBelow = true
    } else {
        midpoint = (Double(below) + Double(t)) / 2
        tieRoundsBelow = below.bitPattern & 1 == 0
    }
    return tieRoundsBelow ? midpoint : midpoint.nextDown
}

/// 64-bit FNV-1a of `bytes`, for model version strings: cheap, dependency-free, and stable across runs.
func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
}
