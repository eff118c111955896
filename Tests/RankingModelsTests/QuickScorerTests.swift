import Foundation
import Testing

@testable import RankingModels

/// QuickScorer's kernel (``QuickScorerTables``) against the tree walks: the same scores bit for bit, for row counts
/// around its eight lanes and for any range of trees, and the walks kept wherever the tables cannot hold a tree.
@Suite(.enabled(if: QuickScorerTables.cpuSupported, "the kernel needs AVX2"))
struct QuickScorerTests {
    /// Scores of `rowCount` rows over `trees`, each row starting from its own value when the range does not start
    /// at the first tree (as a second phase continues a first).
    static func scores(
        _ model: GradientBoostedTrees,
        _ rows: [Double],
        rowCount: Int,
        trees: Range<Int>,
        walksOnly: Bool
    ) -> [Double] {
        // Float32 values, so an XGBoost continuation starts where a float32 sum could be.
        var out = (0..<rowCount).map { Double(Float(Double($0) * 0.37 - 3)) }
        rows.withUnsafeBufferPointer { rows in
            out.withUnsafeMutableBufferPointer { out in
                model.scoreRows(
                    rows,
                    rowCount: rowCount,
                    scores: out,
                    trees: trees,
                    startFromBase: trees.lowerBound == 0,
                    walksOnly: walksOnly
                )
            }
        }
        return out
    }

    static func expectSameScores(
        _ model: GradientBoostedTrees,
        _ rows: [Double],
        rowCount: Int,
        trees: Range<Int>,
        _ label: String
    ) {
        let quick = scores(model, rows, rowCount: rowCount, trees: trees, walksOnly: false)
        let walks = scores(model, rows, rowCount: rowCount, trees: trees, walksOnly: true)
        for row in 0..<rowCount where quick[row].bitPattern != walks[row].bitPattern {
            Issue.record("\(label): row \(row) of \(rowCount), trees \(trees): \(quick[row]) != \(walks[row])")
            return
        }
    }

    @Test(arguments: CompactWalkTests.formats)
    func randomModelsScoreAsTheWalksDo(_ format: ModelFormat) throws {
        let model = try RandomEnsemble.model(format: format, treeCount: 70, slowShare: 0, seed: 61)
        #expect(model.quickScorable)
        let all = RandomEnsemble.rows(130, seed: 43)
        for rowCount in [2, 3, 7, 8, 9, 15, 16, 17, 25, 33, 63, 64, 65, 130] {
            let rows = Array(all[0..<rowCount * RandomEnsemble.featureCount])
            for trees in [0..<70, 0..<1, 0..<9, 9..<70, 33..<34, 69..<70] {
                #expect(model.quickScorerTables(rowCount: rowCount, trees: trees) != nil)
                Self.expectSameScores(model, rows, rowCount: rowCount, trees: trees, "\(format)")
            }
        }
        // One row stays on the walk, which is cheaper there.
        #expect(model.quickScorerTables(rowCount: 1, trees: 0..<70) == nil)
    }

    @Test(arguments: Fixtures.models)
    func libraryModelsScoreAsTheWalksDo(_ name: String) throws {
        let model = try Fixtures.model(name)
        let golden = try Fixtures.golden(name)
        // Categorical and zero-as-missing splits have no place in the tables.
        let expressible = !name.contains("categorical") && !name.contains("zero")
        #expect(model.quickScorable == expressible, "\(name)")
        let count = model.treeCount
        for rowCount in [2, 9, golden.rowCount] {
            let rows = Array(golden.values[0..<rowCount * model.featureNames.count])
            for trees in [0..<count, 0..<1, 0..<(count / 2), (count / 2)..<count] where !trees.isEmpty {
                Self.expectSameScores(model, rows, rowCount: rowCount, trees: trees, name)
            }
        }
        // And the golden scores themselves, through whichever path rawScores takes.
        let batch = model.rawScores(golden.values, rowCount: golden.rowCount)
        let differing = zip(batch, golden.rawScores).filter { abs($0 - $1) > 1e-9 }.count
        #expect(differing == 0, "\(name): \(differing) rows off the library's scores")
    }

    /// A tree of `leaves` leaves as a chain of splits: split `i` sends `x <= i` (feature `i % 5`) left to leaf `i`
    /// and the rest on, the last one right to the last leaf.
    static func chain(leaves: Int) -> (nodes: [SplitNode], leaves: [Double]) {
        let nodes = (0..<(leaves - 1)).map { index in
            SplitNode(
                threshold: Double(index),
                feature: Int32(index % RandomEnsemble.featureCount),
                left: ~Int32(index),
                right: index == leaves - 2 ? ~Int32(leaves - 1) : Int32(index + 1),
                kind: .numericMissingLeft
            )
        }
        return (nodes, (0..<leaves).map { Double($0) / 64 - 0.25 })
    }

    @Test func treesTheTablesCannotHoldKeepTheWalks() throws {
        let cases: [(String, GradientBoostedTrees)] = [
            ("slow kinds", try RandomEnsemble.model(format: .lightGBM, treeCount: 20, slowShare: 1, seed: 5)),
            (
                "65 leaves",
                try RandomEnsemble.model(
                    format: .lightGBM,
                    treeCount: 10,
                    slowShare: 0,
                    seed: 7,
                    extraTrees: [Self.chain(leaves: 65)]
                )
            ),
        ]
        let rows = RandomEnsemble.rows(40, seed: 3)
        for (label, model) in cases {
            #expect(!model.quickScorable, "\(label)")
            #expect(model.quickScorerTables(rowCount: 40, trees: 0..<model.treeCount) == nil, "\(label)")
            let batch = model.rawScores(rows, rowCount: 40)
            for row in 0..<40 {
                let values = Array(rows[row * RandomEnsemble.featureCount..<(row + 1) * RandomEnsemble.featureCount])
                #expect(batch[row].bitPattern == model.generalWalkRawScore(values).bitPattern, "\(label), row \(row)")
            }
        }
        // The same chain one leaf shorter fits: 64 leaves are one bit each.
        let fits = try RandomEnsemble.model(
            format: .lightGBM,
            treeCount: 10,
            slowShare: 0,
            seed: 7,
            extraTrees: [Self.chain(leaves: 64)]
        )
        #expect(fits.quickScorable)
        Self.expectSameScores(fits, rows, rowCount: 40, trees: 0..<fits.treeCount, "64 leaves")
    }

    /// Trees of at most 32 leaves take the narrow kernel (32-bit masks); a tree of 33 takes the wide one. Rows are
    /// chosen so that every leaf of the chain is some row's exit, the 32nd (bit 31, a word's sign bit) included.
    /// And trees of one leaf each leave the kernel no column to sweep.
    @Test(arguments: CompactWalkTests.formats)
    func chainsOf32And33LeavesScoreAsTheWalksDo(_ format: ModelFormat) throws {
        let width = RandomEnsemble.featureCount
        var rows: [Double] = []
        for exit in 0...33 { rows += Array(repeating: Double(exit) - 0.5, count: width) }
        rows += Array(repeating: .nan, count: width) + RandomEnsemble.rows(20, seed: 12)
        let rowCount = rows.count / width
        for (leaves, slots) in [(32, 32), (33, 64)] {
            let model = try RandomEnsemble.model(
                format: format,
                treeCount: 6,
                slowShare: 0,
                seed: 11,
                extraTrees: [Self.chain(leaves: leaves), Self.chain(leaves: leaves)]
            )
            let chains = 6..<8
            #expect(model.quickScorerTables(rowCount: rowCount, trees: chains)?.leafSlots == slots, "\(leaves) leaves")
            Self.expectSameScores(model, rows, rowCount: rowCount, trees: chains, "\(format), \(leaves) leaves")
            Self.expectSameScores(model, rows, rowCount: rowCount, trees: 0..<8, "\(format), \(leaves) leaves and more")
        }
        // A range of single leaves has no column to sweep.
        let leaf = try RandomEnsemble.model(
            format: format,
            treeCount: 3,
            slowShare: 0,
            seed: 11,
            extraTrees: [Self.chain(leaves: 1), Self.chain(leaves: 1)]
        )
        #expect(leaf.quickScorerTables(rowCount: rowCount, trees: 3..<5)?.usedColumns == [])
        Self.expectSameScores(leaf, rows, rowCount: rowCount, trees: 3..<5, "\(format), single leaves")
    }

    /// `x <= +infinity` with NaN going right sends right exactly the NaNs, +infinity itself included on the left.
    @Test(arguments: CompactWalkTests.formats)
    func aSplitThatSetsNaNApartScoresAsTheWalksDo(_ format: ModelFormat) throws {
        let nanApart = [
            SplitNode(threshold: .infinity, feature: 2, left: 1, right: ~2, kind: .numericMissingRight),
            SplitNode(threshold: .infinity, feature: 2, left: ~0, right: ~1, kind: .numericMissingLeft),
        ]
        let leaves = [0.25, -0.5, 0.125]
        let model = try RandomEnsemble.model(
            format: format,
            treeCount: 6,
            slowShare: 0,
            seed: 9,
            extraTrees: [(nanApart, leaves)]
        )
        #expect(model.quickScorable)
        var rows = RandomEnsemble.rows(24, seed: 4)
        let width = RandomEnsemble.featureCount
        for (row, x) in [Double.nan, .infinity, -.infinity, .greatestFiniteMagnitude, 0, -0.0].enumerated() {
            rows[row * width + 2] = x
        }
        Self.expectSameScores(model, rows, rowCount: 24, trees: 0..<model.treeCount, "\(format)")
        Self.expectSameScores(model, rows, rowCount: 24, trees: 6..<7, "\(format), the split alone")
    }

    /// Asking for a range's tables ahead builds them if needed and changes no score; a range outside the model, or
    /// one row (which keeps the walk), asks for nothing.
    @Test func prefetchingTheTablesChangesNoScore() throws {
        let model = try RandomEnsemble.model(format: .lightGBM, treeCount: 30, slowShare: 0, seed: 21)
        let rows = RandomEnsemble.rows(40, seed: 6)
        for trees in [10..<30, 0..<0, 25..<31, -1..<5, 0..<30] {
            model.prefetch(rowCount: 40, trees: trees)
        }
        model.prefetch(rowCount: 1, trees: 3..<30)
        #expect(model.quickScorerTables(rowCount: 40, trees: 10..<30) != nil)
        Self.expectSameScores(model, rows, rowCount: 40, trees: 10..<30, "after a prefetch")
    }

    @Test func pastItsCapacityTheCacheLeavesNewRangesOnTheWalks() throws {
        let model = try RandomEnsemble.model(format: .lightGBM, treeCount: 30, slowShare: 0, seed: 13)
        let rows = RandomEnsemble.rows(20, seed: 8)
        // The whole range is built with the model; then one range per first-phase length.
        var built = 1
        for limit in 1..<(QuickScorerCache.capacity + 4) {
            if model.quickScorerTables(rowCount: 20, trees: 0..<limit) != nil { built += 1 }
            Self.expectSameScores(model, rows, rowCount: 20, trees: 0..<limit, "first \(limit) trees")
        }
        #expect(built == QuickScorerCache.capacity)
        // Ranges already built stay served.
        #expect(model.quickScorerTables(rowCount: 20, trees: 0..<1) != nil)
        #expect(model.quickScorerTables(rowCount: 20, trees: 0..<30) != nil)
    }
}
