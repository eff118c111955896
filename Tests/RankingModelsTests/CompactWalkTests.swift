import Foundation
import Testing

@testable import RankingModels

/// Random ensembles built straight into `TreeEnsembleBuilder`, mixing every split kind, so that trees taking the
/// compact walk and trees kept on the general walk sit side by side in one model.
struct RandomEnsemble {
    static let featureCount = 5

    /// Thresholds where a rewritten comparison could go wrong: signed zeros, LightGBM's zero band, the ends of the
    /// double range and the infinities (`x <= +infinity` with NaN going right has no compact form).
    static let thresholds: [Double] = [
        0, -0.0, 1, -1, 0.5, 2.5, 3.0000000000000004, lightGBMZeroThreshold, (-lightGBMZeroThreshold).nextDown,
        .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
        .infinity, -.infinity, 7, 31.5,
    ]

    /// Row values: the thresholds, their neighbours, NaN, and small integers that name categories.
    static let values: [Double] = {
        var values = thresholds.flatMap { [$0, $0.nextUp, $0.nextDown] }
        values += [.nan, -0.5, -1.5, 1e-36, 2_147_483_648, 16_777_216]
        values += (0..<40).map(Double.init)
        return values
    }()

    /// A model of `treeCount` trees over `featureCount` features. `slowShare` of the trees get at least one
    /// zero-as-missing or categorical split; the others use the numeric kinds only, with some `+infinity` thresholds.
    static func model(
        format: ModelFormat,
        treeCount: Int,
        slowShare: Double,
        seed: UInt64,
        extraTrees: [(nodes: [SplitNode], leaves: [Double])] = []
    ) throws -> GradientBoostedTrees {
        var generator = SplitMix64(seed: seed)
        var builder = TreeEnsembleBuilder(featureCount: featureCount, format: "test")
        // A few category sets: small ones and one spanning two words.
        let sets = [[0b1011], [0, 1 << 3], [0xFFFF_FFFF, 0b1], [1 << 7]] as [[UInt32]]
        for words in sets { _ = try builder.addCategorySet(words: words, location: "test") }
        for tree in 0..<treeCount {
            let splits = Int(generator.next() % 40)
            let slow = Double(generator.next() % 1000) < slowShare * 1000
            let (nodes, leaves) = randomTree(
                splits: splits,
                format: format,
                slow: slow,
                categorySets: sets.count,
                generator: &generator
            )
            try builder.addTree(nodes: nodes, leafValues: leaves, location: "tree \(tree)")
        }
        for extra in extraTrees {
            try builder.addTree(nodes: extra.nodes, leafValues: extra.leaves, location: "extra")
        }
        return GradientBoostedTrees(
            featureNames: (0..<featureCount).map { "f\($0)" },
            version: "random-\(seed)",
            objective: "test",
            format: format,
            baseScore: format == .xgboost ? 0.5 : 0,
            trees: builder
        )
    }

    /// Splits attach one by one to a random free child slot; the slots left over become leaves.
    static func randomTree(
        splits: Int,
        format: ModelFormat,
        slow: Bool,
        categorySets: Int,
        generator: inout SplitMix64
    ) -> (nodes: [SplitNode], leaves: [Double]) {
        var nodes: [SplitNode] = []
        // Free child slots as (split, isRight).
        var open: [(Int, Bool)] = []
        for index in 0..<splits {
            let kind = randomKind(format: format, slow: slow, generator: &generator)
            let threshold: Double
            switch kind {
            case .lightGBMCategorical, .xgboostCategoricalMissingLeft, .xgboostCategoricalMissingRight:
                threshold = Double(generator.next() % UInt64(categorySets))
            default:
                threshold = thresholds[Int(generator.next() % UInt64(thresholds.count))]
            }
            nodes.append(
                SplitNode(
                    threshold: threshold,
                    feature: Int32(generator.next() % UInt64(featureCount)),
                    left: 0,
                    right: 0,
                    kind: kind
                )
            )
            if index > 0 {
                let slot = open.remove(at: Int(generator.next() % UInt64(open.count)))
                if slot.1 { nodes[slot.0].right = Int32(index) } else { nodes[slot.0].left = Int32(index) }
            }
            open += [(index, false), (index, true)]
        }
        var leaves: [Double] = []
        for (leaf, slot) in open.enumerated() {
            if slot.1 { nodes[slot.0].right = ~Int32(leaf) } else { nodes[slot.0].left = ~Int32(leaf) }
            leaves.append(randomLeaf(format: format, generator: &generator))
        }
        if splits == 0 { leaves = [randomLeaf(format: format, generator: &generator)] }
        return (nodes, leaves)
    }

    static func randomKind(format: ModelFormat, slow: Bool, generator: inout SplitMix64) -> SplitKind {
        let numeric: [SplitKind] = [.numericMissingLeft, .numericMissingRight]
        let slowKinds: [SplitKind] =
            format == .lightGBM
            ? [.zeroMissingLeft, .zeroMissingRight, .lightGBMCategorical]
            : [.xgboostCategoricalMissingLeft, .xgboostCategoricalMissingRight]
        if slow, generator.next() % 3 == 0 { return slowKinds[Int(generator.next() % UInt64(slowKinds.count))] }
        return numeric[Int(generator.next() % 2)]
    }

    /// XGBoost leaves are float32 values; LightGBM's are any double.
    static func randomLeaf(format: ModelFormat, generator: inout SplitMix64) -> Double {
        let value = (Double(generator.next() % 2_000_001) - 1_000_000) / 999_983
        return format == .xgboost ? Double(Float(value)) : value
    }

    static func rows(_ count: Int, seed: UInt64) -> [Double] {
        var generator = SplitMix64(seed: seed)
        return (0..<count * featureCount).map { _ in values[Int(generator.next() % UInt64(values.count))] }
    }
}

@Suite struct CompactWalkTests {
    static let formats: [ModelFormat] = [.lightGBM, .xgboost]

    @Test func compactNodeLayoutMatchesTheOffsetsTheWalkReads() {
        #expect(MemoryLayout<CompactNode>.offset(of: \CompactNode.threshold) == 0)
        #expect(MemoryLayout<CompactNode>.offset(of: \CompactNode.column) == 8)
        #expect(MemoryLayout<CompactNode>.offset(of: \CompactNode.firstDelta) == CompactNode.firstDeltaOffset)
        #expect(MemoryLayout<CompactNode>.offset(of: \CompactNode.secondDelta) == CompactNode.firstDeltaOffset + 2)
        #expect(MemoryLayout<CompactNode>.stride == 16)
    }

    @Test(arguments: formats)
    func mixedModelsScoreExactlyAsTheGeneralWalkForAnyRowCount(_ format: ModelFormat) throws {
        let model = try RandomEnsemble.model(format: format, treeCount: 120, slowShare: 0.3, seed: 11)
        #expect(model.compact.roots.contains(-1), "some trees keep the general walk")
        #expect(model.compact.roots.contains { $0 >= 0 }, "some trees take the compact walk")
        let width = RandomEnsemble.featureCount
        let all = RandomEnsemble.rows(501, seed: 5)
        // Around the 8-row lanes and the 64-row blocks, and a request-sized batch.
        for rowCount in [0, 1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 72, 130, 500, 501] {
            let rows = Array(all[0..<rowCount * width])
            for limit in [nil, 0, 1, 5, model.treeCount] as [Int?] {
                let batch = model.rawScores(rows, rowCount: rowCount, treeLimit: limit)
                #expect(batch.count == rowCount)
                for row in 0..<rowCount {
                    let values = Array(rows[row * width..<(row + 1) * width])
                    let reference = model.generalWalkRawScore(values, treeLimit: limit)
                    #expect(batch[row].bitPattern == reference.bitPattern, "row \(row) of \(rowCount), \(values)")
                    #expect(model.rawScore(values, treeLimit: limit).bitPattern == reference.bitPattern)
                }
            }
        }
    }

    @Test(arguments: formats)
    func modelsWithoutSlowKindsAndModelsOfSlowTreesOnlyMatchTheReference(_ format: ModelFormat) throws {
        for slowShare in [0.0, 1.0] {
            let model = try RandomEnsemble.model(format: format, treeCount: 40, slowShare: slowShare, seed: 23)
            #expect(slowShare == 0 ? model.compact.roots.contains { $0 >= 0 } : model.compact.roots.contains(-1))
            let rows = RandomEnsemble.rows(77, seed: 9)
            let batch = model.rawScores(rows, rowCount: 77)
            for row in 0..<77 {
                let values = Array(rows[row * RandomEnsemble.featureCount..<(row + 1) * RandomEnsemble.featureCount])
                #expect(batch[row].bitPattern == model.generalWalkRawScore(values).bitPattern, "row \(row)")
            }
        }
    }

    @Test(arguments: formats)
    func twoPhaseScoringOfAMixedModelEqualsOnePass(_ format: ModelFormat) throws {
        let model = try RandomEnsemble.model(format: format, treeCount: 90, slowShare: 0.4, seed: 31)
        let width = RandomEnsemble.featureCount
        let rowCount = 203
        let rows = RandomEnsemble.rows(rowCount, seed: 17)
        let full = model.rawScores(rows, rowCount: rowCount)
        for firstPhase in [0, 1, 3, 8, 45, model.treeCount] {
            let survivors = Array(stride(from: 0, to: rowCount, by: 3))
            let survivorRows = survivors.flatMap { rows[$0 * width..<($0 + 1) * width] }
            var scores = model.rawScores(survivorRows, rowCount: survivors.count, treeLimit: firstPhase)
            survivorRows.withUnsafeBufferPointer { input in
                scores.withUnsafeMutableBufferPointer { output in
                    model.continueRawScores(
                        input,
                        rowCount: survivors.count,
                        scores: output,
                        trees: firstPhase..<model.treeCount
                    )
                }
            }
            for (index, row) in survivors.enumerated() {
                #expect(scores[index].bitPattern == full[row].bitPattern, "row \(row), first phase \(firstPhase)")
            }
        }
    }

    /// Rows beyond the last whole group of a block walk several trees at once each; a continuation over any tree
    /// range (runs of compact trees broken by general ones, ranges shorter than a run) still adds every leaf in
    /// tree order.
    @Test(arguments: formats)
    func continuingAFewRowsOverAnyTreeRangeEqualsOnePass(_ format: ModelFormat) throws {
        let model = try RandomEnsemble.model(format: format, treeCount: 61, slowShare: 0.25, seed: 47)
        let width = RandomEnsemble.featureCount
        let all = RandomEnsemble.rows(75, seed: 29)
        for rowCount in [1, 3, 7, 9, 15, 71, 75] {
            let rows = Array(all[0..<rowCount * width])
            let full = model.rawScores(rows, rowCount: rowCount)
            for firstPhase in [0, 1, 2, 5, 13, 57, 60, 61] {
                var scores = model.rawScores(rows, rowCount: rowCount, treeLimit: firstPhase)
                rows.withUnsafeBufferPointer { input in
                    scores.withUnsafeMutableBufferPointer { output in
                        model.continueRawScores(
                            input,
                            rowCount: rowCount,
                            scores: output,
                            trees: firstPhase..<model.treeCount
                        )
                    }
                }
                for row in 0..<rowCount {
                    #expect(
                        scores[row].bitPattern == full[row].bitPattern,
                        "row \(row) of \(rowCount), first phase \(firstPhase)"
                    )
                }
            }
        }
    }

    @Test func continuingZeroRowsWritesNothing() throws {
        let model = try RandomEnsemble.model(format: .lightGBM, treeCount: 10, slowShare: 0.5, seed: 3)
        var scores = [42.0]
        [Double]().withUnsafeBufferPointer { input in
            scores.withUnsafeMutableBufferPointer { output in
                model.continueRawScores(input, rowCount: 0, scores: output, trees: 0..<model.treeCount)
            }
        }
        #expect(scores == [42.0])
        #expect(model.rawScores([], rowCount: 0).isEmpty)
    }

    @Test func aNaNGoesRightSplitAtPlusInfinityKeepsTheGeneralWalk() throws {
        // left iff x <= +infinity: every number goes left and only NaN goes right, which one strict comparison
        // cannot express.
        let split = SplitNode(threshold: .infinity, feature: 0, left: ~0, right: ~1, kind: .numericMissingRight)
        let model = try RandomEnsemble.model(
            format: .lightGBM,
            treeCount: 3,
            slowShare: 0,
            seed: 5,
            extraTrees: [(nodes: [split], leaves: [10, 20])]
        )
        #expect(model.compact.roots.last == -1)
        for (x, leaf) in [(Double.infinity, 10.0), (-.infinity, 10), (1, 10), (.nan, 20)] {
            #expect(model.rawScore([x, 0, 0, 0, 0]) == model.rawScore([x, 0, 0, 0, 0], treeLimit: 3) + leaf)
            let batch = model.rawScores([x, 0, 0, 0, 0], rowCount: 1)
            #expect(batch[0].bitPattern == model.generalWalkRawScore([x, 0, 0, 0, 0]).bitPattern)
        }
    }

    @Test func theUncheckedStepsStopAtTheShallowestLeaf() throws {
        // A chain leaning left: split 0 has a leaf on the right at depth 1, split 1 both leaves at depth 2.
        let chain = [
            SplitNode(threshold: 1, feature: 0, left: 1, right: ~0, kind: .numericMissingLeft),
            SplitNode(threshold: 2, feature: 1, left: ~1, right: ~2, kind: .numericMissingRight),
        ]
        let balanced = [
            SplitNode(threshold: 1, feature: 0, left: 1, right: 2, kind: .numericMissingLeft),
            SplitNode(threshold: 2, feature: 1, left: ~0, right: ~1, kind: .numericMissingRight),
            SplitNode(threshold: 3, feature: 2, left: ~2, right: ~3, kind: .numericMissingLeft),
        ]
        let model = try RandomEnsemble.model(
            format: .lightGBM,
            treeCount: 0,
            slowShare: 0,
            seed: 1,
            extraTrees: [([], [5]), (chain, [1, 2, 3]), (balanced, [1, 2, 3, 4])]
        )
        #expect(model.compact.shallowestLeafDepths == [0, 1, 2])
        let rows = RandomEnsemble.rows(19, seed: 8)
        let batch = model.rawScores(rows, rowCount: 19)
        for row in 0..<19 {
            let values = Array(rows[row * 5..<(row + 1) * 5])
            #expect(batch[row].bitPattern == model.generalWalkRawScore(values).bitPattern)
        }
    }

    @Test func treesTooLargeForInt16OffsetsKeepTheGeneralWalk() throws {
        var generator = SplitMix64(seed: 99)
        let large = RandomEnsemble.randomTree(
            splits: CompactNode.maxNodesPerTree / 2 + 10,
            format: .lightGBM,
            slow: false,
            categorySets: 1,
            generator: &generator
        )
        let model = try RandomEnsemble.model(
            format: .lightGBM,
            treeCount: 2,
            slowShare: 0,
            seed: 7,
            extraTrees: [large]
        )
        #expect(model.compact.roots.last == -1)
        let rows = RandomEnsemble.rows(40, seed: 4)
        let batch = model.rawScores(rows, rowCount: 40)
        for row in 0..<40 {
            let values = Array(rows[row * 5..<(row + 1) * 5])
            #expect(batch[row].bitPattern == model.generalWalkRawScore(values).bitPattern)
        }
    }

    @Test(arguments: Fixtures.models)
    func fixtureScoresEqualTheGeneralWalkOnAdversarialRows(_ name: String) throws {
        let model = try Fixtures.model(name)
        let width = model.featureNames.count
        // Every threshold the model compares with, its neighbours, signed zeros, infinities and NaN, in every
        // column; the golden rows check the same against the library itself.
        var probes: Set<UInt64> = [
            Double.nan.bitPattern, 0.0.bitPattern, (-0.0).bitPattern, Double.infinity.bitPattern,
            (-Double.infinity).bitPattern,
        ]
        for node in model.nodes where node.left != node.right {
            for value in [node.threshold, node.threshold.nextUp, node.threshold.nextDown, -node.threshold] {
                probes.insert(value.bitPattern)
            }
        }
        let values = probes.sorted().map(Double.init(bitPattern:))
        var generator = SplitMix64(seed: 1)
        let rowCount = 700
        let rows = (0..<rowCount * width).map { _ in values[Int(generator.next() % UInt64(values.count))] }
        let batch = model.rawScores(rows, rowCount: rowCount)
        var differing = 0
        for row in 0..<rowCount {
            let reference = model.generalWalkRawScore(Array(rows[row * width..<(row + 1) * width]))
            if batch[row].bitPattern != reference.bitPattern { differing += 1 }
        }
        #expect(differing == 0, "\(differing) of \(rowCount) rows differ from the general walk")
    }
}
