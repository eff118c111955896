import CPrefetch

/// A second copy of the trees whose splits are all plain numeric (`numericMissingRight`, `numericMissingLeft`), in
/// a 16-byte node that decides a split with one ordered comparison and no branch on the split's kind.
///
/// Rows are widened before they meet these nodes: a widened row holds the row's values, then the negations of the
/// features that some split sends NaN left on, then `+infinity`. That turns both numeric kinds into "take the
/// second child iff `widened[column] < threshold`", which is false for NaN:
///
/// - NaN goes right, left iff `x <= t`: for a finite `t` no double lies between `t` and `t.nextUp`, so
///   `x <= t` is `x < t.nextUp` for every non-NaN `x`. The second child is the left one.
/// - NaN goes left, left iff `!(x > t)`: `x > t` is `-x < -t` for every `x` (negation is exact), and both are
///   false for NaN. The second child is the right one.
///
/// A leaf compares the `+infinity` column with its own value, which is never true, and both its deltas are 0, so it
/// keeps any row that reaches it and several rows can walk a tree in lockstep. Its value is its `threshold`.
///
/// Widened rows are stored in groups of `CompactForest.lanes` rows, column by column (the values of one column for
/// the group's rows side by side), so that the rows of a group walking a tree together share one base address and
/// differ only by a constant displacement.
///
/// Trees that this cannot express exactly stay on the general walk (`TreeWalker`): any zero-as-missing or
/// categorical split, a `x <= +infinity` split whose NaN goes right, or more than `maxNodesPerTree` nodes.
struct CompactNode {
    /// The split's rewritten threshold, or the leaf's value.
    var threshold: Double
    /// Where the compared value sits in a group of widened rows: widened column times `CompactForest.lanes`.
    var column: Int32
    /// Byte offset from this node to the child taken when the comparison is false; 0 for a leaf.
    var firstDelta: Int16
    /// Byte offset from this node to the child taken when `widened[column] < threshold`; 0 for a leaf.
    var secondDelta: Int16

    /// Byte offset of `firstDelta`, with `secondDelta` 2 bytes after it. A test pins this to the actual layout.
    static let firstDeltaOffset = 12

    /// Largest tree held compactly: every byte offset between two of its nodes fits in an `Int16`.
    static let maxNodesPerTree = Int(Int16.max) / MemoryLayout<CompactNode>.stride
}

/// The compact copy of an ensemble: per tree either its compact root or nothing (general walk), plus how to widen
/// a row.
struct CompactForest {
    /// Nodes of every compact tree; each tree's splits first, then its leaves, as in `TreeEnsembleBuilder`.
    let nodes: [CompactNode]
    /// Per tree: index of its root in `nodes`, or -1 when the tree uses the general walk.
    let roots: [Int32]
    /// Per tree: index of its first leaf in `nodes` (meaningless when `roots[t]` is -1).
    let firstLeaves: [Int32]
    /// Per tree: steps from its root to its nearest leaf, which every row takes before any can be on a leaf.
    let shallowestLeafDepths: [Int32]
    /// Features whose negation the widened row carries, in column order after the `featureCount` plain columns.
    let negatedFeatures: [Int32]
    /// Values in the original row.
    let featureCount: Int
    /// Whether any tree is compact; when none is, rows are not widened at all.
    let hasCompactTrees: Bool

    /// Rows per group of widened rows, and rows walking one tree in lockstep.
    static let lanes = 8

    /// Doubles in a widened row: the features, their negations where needed, and the `+infinity` column.
    var width: Int { featureCount + negatedFeatures.count + 1 }

    init(_ trees: TreeEnsembleBuilder) {
        featureCount = trees.featureCount
        let treeCount = trees.roots.count
        var compactTree = [Bool](repeating: false, count: treeCount)
        var negatedColumn = [Int32](repeating: -1, count: featureCount)
        var negated: [Int32] = []
        for tree in 0..<treeCount {
            let root = Int(trees.roots[tree])
            let firstLeaf = Int(trees.firstLeaves[tree])
            let end = tree + 1 < treeCount ? Int(trees.roots[tree + 1]) : trees.nodes.count
            // A column offset must fit too; a model this wide keeps the general walk throughout.
            guard end - root <= CompactNode.maxNodesPerTree, 2 * featureCount < Int(Int32.max) / Self.lanes - 1 else {
                continue
            }
            let splits = trees.nodes[root..<firstLeaf]
            let expressible = splits.allSatisfy { node in
                switch node.kind {
                case .numericMissingRight: return node.threshold != .infinity
                case .numericMissingLeft: return true
                default: return false
                }
            }
            guard expressible else { continue }
            compactTree[tree] = true
            for node in splits where node.kind == .numericMissingLeft && negatedColumn[Int(node.feature)] < 0 {
                negatedColumn[Int(node.feature)] = Int32(featureCount + negated.count)
                negated.append(node.feature)
            }
        }
        negatedFeatures = negated
        hasCompactTrees = compactTree.contains(true)
        // Only meaningful (and only known to fit) when some tree passed the width check above.
        let infinityColumn = hasCompactTrees ? Int32((featureCount + negated.count) * Self.lanes) : 0
        let stride = MemoryLayout<CompactNode>.stride

        var nodes: [CompactNode] = []
        var roots = [Int32](repeating: -1, count: treeCount)
        var firstLeaves = [Int32](repeating: -1, count: treeCount)
        var shallowestLeafDepths = [Int32](repeating: 0, count: treeCount)
        for tree in 0..<treeCount where compactTree[tree] {
            let root = Int(trees.roots[tree])
            let firstLeaf = Int(trees.firstLeaves[tree])
            let end = tree + 1 < treeCount ? Int(trees.roots[tree + 1]) : trees.nodes.count
            // The general walk's nodes are copied in the same order, so a node's children keep their distance.
            let base = nodes.count
            roots[tree] = Int32(base)
            firstLeaves[tree] = Int32(base + firstLeaf - root)
            shallowestLeafDepths[tree] = Self.shallowestLeafDepth(trees.nodes, root: root, firstLeaf: firstLeaf)
            for index in root..<end {
                let node = trees.nodes[index]
                let left = Int16((Int(node.left) - index) * stride)
                let right = Int16((Int(node.right) - index) * stride)
                if index >= firstLeaf {
                    nodes.append(
                        CompactNode(threshold: node.threshold, column: infinityColumn, firstDelta: 0, secondDelta: 0)
                    )
                } else if node.kind == .numericMissingLeft {
                    nodes.append(
                        CompactNode(
                            threshold: -node.threshold,
                            column: negatedColumn[Int(node.feature)] * Int32(Self.lanes),
                            firstDelta: left,
                            secondDelta: right
                        )
                    )
                } else {
                    nodes.append(
                        CompactNode(
                            threshold: node.threshold.nextUp,
                            column: node.feature * Int32(Self.lanes),
                            firstDelta: right,
                            secondDelta: left
                        )
                    )
                }
            }
        }
        self.nodes = nodes
        self.roots = roots
        self.firstLeaves = firstLeaves
        self.shallowestLeafDepths = shallowestLeafDepths
    }

    /// Breadth first from `root` in the builder's layout (leaves from `firstLeaf` on) to the first leaf met.
    private static func shallowestLeafDepth(_ nodes: [SplitNode], root: Int, firstLeaf: Int) -> Int32 {
        var level = [root]
        var depth: Int32 = 0
        while !level.contains(where: { $0 >= firstLeaf }) {
            level = level.flatMap { [Int(nodes[$0].left), Int(nodes[$0].right)] }
            depth += 1
        }
        return depth
    }

    /// Doubles that `count` widened rows take: whole groups of `lanes` rows.
    func widenedCapacity(rows count: Int) -> Int {
        (count + Self.lanes - 1) / Self.lanes * Self.lanes * width
    }

    /// Writes the widened form of `count` rows (`featureCount` apart) to `out`, which holds
    /// `widenedCapacity(rows: count)` doubles: row `r` is lane `r % lanes` of group `r / lanes`.
    func widen(
        _ rows: UnsafePointer<Double>,
        count: Int,
        into out: UnsafeMutablePointer<Double>,
        negatedFeatures: UnsafePointer<Int32>?
    ) {
        let negatedCount = self.negatedFeatures.count
        let lanes = Self.lanes
        for row in 0..<count {
            let source = rows + row * featureCount
            let target = out + (row / lanes) * (width * lanes) + row % lanes
            for feature in 0..<featureCount { target[feature * lanes] = source[feature] }
            for index in 0..<negatedCount {
                target[(featureCount + index) * lanes] = -source[Int(negatedFeatures.unsafelyUnwrapped[index])]
            }
            target[(featureCount + negatedCount) * lanes] = .infinity
        }
    }
}

/// Unsafe views of a `CompactForest`'s arrays, valid only inside `GradientBoostedTrees.withWalker`.
struct CompactWalker {
    let nodes: UnsafePointer<CompactNode>?
    let roots: UnsafePointer<Int32>?
    let firstLeaves: UnsafePointer<Int32>?
    let shallowestLeafDepths: UnsafePointer<Int32>?
    let negatedFeatures: UnsafePointer<Int32>?

    /// Address of node `index`.
    @inline(__always)
    func node(_ index: Int32) -> UnsafeRawPointer {
        UnsafeRawPointer(nodes.unsafelyUnwrapped + Int(index))
    }

    /// The child of `node` that the widened row in lane `lane` of `group` goes to (the node itself for a leaf).
    /// Lanes are constants at the call sites, so a group's rows share one base register.
    @inline(__always)
    static func step(_ node: UnsafeRawPointer, _ group: UnsafePointer<Double>, lane: Int) -> UnsafeRawPointer {
        let column = Int(node.load(fromByteOffset: 8, as: Int32.self))
        let threshold = node.load(as: Double.self)
        // Both offsets are read before the comparison is known and one is picked with a conditional move: that
        // keeps a load off the chain from one node to the next. Never a branch: split outcomes look random to a
        // branch predictor.
        // One 32-bit load for both, or the compiler turns the pick back into a load from a computed address.
        let deltas = node.load(fromByteOffset: CompactNode.firstDeltaOffset, as: UInt32.self)
        let first = Int(Int16(truncatingIfNeeded: deltas))
        let second = Int(Int16(truncatingIfNeeded: deltas &>> 16))
        return node + (group[column &+ lane] < threshold ? second : first)
    }

    /// Asks for the cache lines of compact tree `tree` (nothing for a tree on the general walk). Between two
    /// requests the rest of the process evicts the model's nodes, and a walk meets each line as a miss on its chain
    /// of dependent loads; asked for while the tree before it is walked, they arrive in parallel instead. A tree's
    /// splits come first and its leaves after them, one more leaf than splits.
    @inline(__always)
    func prefetch(tree: Int) {
        let root = Int(roots.unsafelyUnwrapped[tree])
        guard root >= 0 else { return }
        let splits = Int(firstLeaves.unsafelyUnwrapped[tree]) &- root
        let start = UnsafeRawPointer(nodes.unsafelyUnwrapped + root)
        let bytes = (2 &* splits &+ 1) &* MemoryLayout<CompactNode>.stride
        var offset = 0
        while offset < bytes {
            prefetch_read(start + offset)
            offset &+= 64
        }
    }

    /// A leaf's value.
    @inline(__always)
    static func value(_ leaf: UnsafeRawPointer) -> Double {
        leaf.load(as: Double.self)
    }
}
