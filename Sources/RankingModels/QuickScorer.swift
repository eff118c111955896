import CPrefetch
import CQuickScorer
import Foundation

/// QuickScorer's tables for one range of an ensemble's trees (the method and the kernel are described in
/// `CQuickScorer.h`). Scores equal the tree walks' bit for bit: the kernel finds each tree's exit leaf exactly and
/// adds the leaves in tree order as the walks do.
///
/// Only plain numeric splits (`numericMissingRight`, `numericMissingLeft`) and trees of at most 64 leaves fit; any
/// other tree keeps the whole range on the walks. A split sends a row right iff its threshold is below the row's
/// value, NaN read as +infinity when NaN goes right and as -infinity when it goes left. That holds for every
/// threshold but `+infinity` with NaN going right, a split LightGBM writes to set NaN apart: it sends right exactly
/// the NaNs, so it goes to a third column per feature, which reads NaN as +infinity and any number as -infinity,
/// with threshold 0.
///
/// A range whose trees have at most 32 leaves each (LightGBM's default is 31, XGBoost's depth 5 is 32) takes the
/// narrow kernel: a tree's eight masks are 32-bit words, one AVX register, half the memory traffic of the wide
/// kernel's 64-bit masks.
final class QuickScorerTables: Sendable {
    /// Most leaves a tree may have: one bit of a 64-bit mask each.
    static let maxLeaves = 64

    /// Most leaves a tree may have for the narrow kernel (`rk_quickscore_narrow`), whose masks are 32-bit words.
    static let narrowLeaves = 32

    /// Most groups of eight rows the kernels take at once, each entry read once for all of them.
    static let maxGroups = 8

    /// Whether this CPU has the instructions the kernels need (AVX2); checked once.
    static let cpuSupported = rk_quickscore_available() != 0

    /// The entries in the layout of the kernel that reads them.
    enum Entries {
        /// Every tree has at most 32 leaves: `rk_quickscore_narrow`'s entries.
        case narrow([rk_quickscore_entry])
        /// Some tree has more: `rk_quickscore_wide`'s entries.
        case wide([rk_quickscore_wide_entry])
    }

    let treeCount: Int
    let columnStarts: [Int]
    /// The columns with entries, the ones the kernel sweeps.
    let usedColumns: [Int32]
    let entries: Entries
    /// Leaf slots per tree in `leafValues`: 32 for the narrow kernel, 64 for the wide one.
    let leafSlots: Int
    let leafValues: [Double]

    /// The tables of trees `range` of a model's flat layout, or nil when one of those trees does not fit.
    init?(
        nodes: [SplitNode],
        roots: [Int32],
        firstLeaves: [Int32],
        featureCount: Int,
        range: Range<Int>
    ) {
        var columns = [[(threshold: Double, tree: Int32, ruledOut: UInt64)]](repeating: [], count: 3 * featureCount)
        var mostLeaves = 0
        for tree in range {
            let end = tree + 1 < roots.count ? Int(roots[tree + 1]) : nodes.count
            mostLeaves = max(mostLeaves, end - Int(firstLeaves[tree]))
        }
        // At most 64 leaves, so at most 63 splits: the recursion below is at most that deep.
        guard mostLeaves <= Self.maxLeaves else { return nil }
        let slots = mostLeaves <= Self.narrowLeaves ? Self.narrowLeaves : Self.maxLeaves
        var leafValues = [Double](repeating: 0, count: slots * range.count)
        for (local, tree) in range.enumerated() {
            let root = Int(roots[tree])
            let firstLeaf = Int(firstLeaves[tree])
            var position = 0
            // The leaves under node `n`, numbered left to right; nil when a split does not fit.
            func visit(_ n: Int) -> Range<Int>? {
                if n >= firstLeaf {
                    guard position < slots else { return nil }
                    leafValues[slots * local + position] = nodes[n].threshold
                    position += 1
                    return (position - 1)..<position
                }
                let split = nodes[n]
                let variant: Int
                var threshold = split.threshold
                switch split.kind {
                case .numericMissingRight where threshold == .infinity:
                    variant = 2
                    threshold = 0
                case .numericMissingRight: variant = 0
                case .numericMissingLeft: variant = 1
                default: return nil
                }
                guard !split.threshold.isNaN, let left = visit(Int(split.left)), let right = visit(Int(split.right))
                else { return nil }
                var ruledOut: UInt64 = 0
                for leaf in left { ruledOut |= 1 << UInt64(leaf) }
                columns[3 * Int(split.feature) + variant].append((threshold, Int32(local), ruledOut))
                return left.lowerBound..<right.upperBound
            }
            guard visit(root) != nil else { return nil }
        }
        var starts = [0]
        var sorted: [(threshold: Double, tree: Int32, ruledOut: UInt64)] = []
        for column in columns {
            sorted += column.sorted(by: { $0.threshold < $1.threshold })
            starts.append(sorted.count)
        }
        if slots == Self.narrowLeaves {
            entries = .narrow(
                sorted.map {
                    rk_quickscore_entry(threshold: $0.threshold, tree: $0.tree, ruled_out: UInt32($0.ruledOut))
                }
            )
        } else {
            entries = .wide(
                sorted.map {
                    rk_quickscore_wide_entry(threshold: $0.threshold, ruled_out: $0.ruledOut, tree: $0.tree, unused: 0)
                }
            )
        }
        treeCount = range.count
        columnStarts = starts
        usedColumns = columns.indices.filter { !columns[$0].isEmpty }.map { Int32($0) }
        leafSlots = slots
        self.leafValues = leafValues
    }

    /// Adds the range's leaves to the scores of `rowCount` rows, eight at a time (the last group repeats its last
    /// row in the lanes it lacks), up to eight groups of eight at once. Each score starts from `base`, or from `out`
    /// when `base` is nil.
    func score(
        rows: UnsafePointer<Double>,
        stride: Int,
        rowCount: Int,
        out: UnsafeMutablePointer<Double>,
        base: Double?,
        float32Sum: Bool
    ) {
        let float32 = Int32(float32Sum ? 1 : 0)
        inGroupsOfEight(rows: rows, stride: stride, rowCount: rowCount, out: out, base: base) {
            lanes,
            groups,
            used,
            starts,
            leaves,
            masks,
            scores in
            switch entries {
            case .narrow(let entries):
                entries.withUnsafeBufferPointer { entries in
                    rk_quickscore_narrow(
                        lanes,
                        groups,
                        usedColumns.count,
                        used,
                        starts,
                        entries.baseAddress,
                        treeCount,
                        leaves,
                        float32,
                        UnsafeMutableRawPointer(masks).assumingMemoryBound(to: UInt32.self),
                        scores
                    )
                }
            case .wide(let entries):
                entries.withUnsafeBufferPointer { entries in
                    rk_quickscore_wide(
                        lanes,
                        groups,
                        usedColumns.count,
                        used,
                        starts,
                        entries.baseAddress,
                        treeCount,
                        leaves,
                        float32,
                        masks,
                        scores
                    )
                }
            }
        }
    }

    /// Asks for the tables' memory ahead of a sweep (entries, leaves and column starts, a cache line at a time):
    /// between two calls the pipeline's other work evicts them, and the sweep's reads then wait on each line.
    func prefetch() {
        @inline(__always) func lines<T>(_ array: [T]) {
            array.withUnsafeBytes { bytes in
                guard let base = bytes.baseAddress else { return }
                var offset = 0
                while offset < bytes.count {
                    prefetch_read(base + offset)
                    offset += 64
                }
            }
        }
        switch entries {
        case .narrow(let entries): lines(entries)
        case .wide(let entries): lines(entries)
        }
        lines(leafValues)
        lines(columnStarts)
    }

    /// Calls `kernel` with up to `maxGroups` groups of eight rows at a time: their pointers (the last group repeats its
    /// last row in the lanes it lacks), how many groups, the used columns (nil when a range's trees are all single
    /// leaves), the column starts, the leaf values, scratch for the masks (aligned to a cache line, `leafSlots / 8`
    /// words a tree and group) and the groups' scores, each starting from `base`, or from `out` when `base` is nil.
    private func inGroupsOfEight(
        rows: UnsafePointer<Double>,
        stride: Int,
        rowCount: Int,
        out: UnsafeMutablePointer<Double>,
        base: Double?,
        kernel: (
            UnsafePointer<UnsafePointer<Double>?>, Int, UnsafePointer<Int32>?, UnsafePointer<Int>,
            UnsafePointer<Double>, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<Double>
        ) -> Void
    ) {
        // As many groups as the rows fill: a second phase's 80 rows over 180 trees need 46 KB of masks, 8 rows 6 KB.
        // A tree's eight masks fill one cache line (wide) or half of one (narrow) when aligned; straddling two, each
        // store is split.
        let groups = min(Self.maxGroups, (rowCount + 7) / 8)
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: leafSlots / 8 * treeCount * groups + 8) {
            scratch in
            let lineOffset = (64 - Int(bitPattern: scratch.baseAddress) & 63) & 63
            let masks = scratch.baseAddress.unsafelyUnwrapped + lineOffset / 8
            withUnsafeTemporaryAllocation(of: UnsafePointer<Double>?.self, capacity: 8 * groups) { lanes in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: 8 * groups) { scores in
                    usedColumns.withUnsafeBufferPointer { used in
                        columnStarts.withUnsafeBufferPointer { starts in
                            leafValues.withUnsafeBufferPointer { leaves in
                                var row = 0
                                while row < rowCount {
                                    let filled = min(8 * groups, rowCount - row)
                                    let filledGroups = (filled + 7) / 8
                                    for lane in 0..<(8 * filledGroups) {
                                        let source = row + min(lane, filled - 1)
                                        lanes[lane] = rows + source * stride
                                        scores[lane] = base ?? out[source]
                                    }
                                    kernel(
                                        UnsafePointer(lanes.baseAddress.unsafelyUnwrapped),
                                        filledGroups,
                                        used.baseAddress,
                                        starts.baseAddress.unsafelyUnwrapped,
                                        leaves.baseAddress.unsafelyUnwrapped,
                                        masks,
                                        scores.baseAddress.unsafelyUnwrapped
                                    )
                                    for lane in 0..<filled { out[row + lane] = scores[lane] }
                                    row += filled
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A model's QuickScorer tables by tree range, built the first time a range is scored: a pipeline scores two or
/// three (the first phase, the rest, all trees). The tables of all trees are built with the model, which tells
/// whether its trees fit at all. Bounded: past `capacity` ranges, a new one stays on the walks.
final class QuickScorerCache: @unchecked Sendable {
    static let capacity = 8
    private let nodes: [SplitNode]
    private let roots: [Int32]
    private let firstLeaves: [Int32]
    private let featureCount: Int
    /// Whether every tree fits the tables; when one does not, no range is ever built.
    let allTreesFit: Bool
    private let lock = NSLock()
    private var tables: [Range<Int>: QuickScorerTables] = [:]

    /// A model's trees in its flat layout (the arrays are shared with the model, not copied).
    init(nodes: [SplitNode], roots: [Int32], firstLeaves: [Int32], featureCount: Int) {
        self.nodes = nodes
        self.roots = roots
        self.firstLeaves = firstLeaves
        self.featureCount = featureCount
        let all = QuickScorerTables(
            nodes: nodes,
            roots: roots,
            firstLeaves: firstLeaves,
            featureCount: featureCount,
            range: 0..<roots.count
        )
        allTreesFit = all != nil
        if let all { tables[0..<roots.count] = all }
    }

    /// The tables of `range` (within the model's trees), built if there is room; nil when the trees do not fit or
    /// the cache is full.
    func tables(for range: Range<Int>) -> QuickScorerTables? {
        guard allTreesFit else { return nil }
        lock.lock()
        defer { lock.unlock() }
        if let found = tables[range] { return found }
        guard tables.count < Self.capacity,
            let built = QuickScorerTables(
                nodes: nodes,
                roots: roots,
                firstLeaves: firstLeaves,
                featureCount: featureCount,
                range: range
            )
        else { return nil }
        tables[range] = built
        return built
    }
}
