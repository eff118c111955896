import Foundation
import Testing

@testable import RankingModels

/// The committed models and golden files written by `Scripts/train-parity-models.py`.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    static let lightGBMModels = [
        "lgb_binary_nan.txt", "lgb_binary_zero.txt", "lgb_categorical.txt", "lgb_lambdarank.txt",
    ]
    static let xgboostModels = [
        "xgb_binary.json", "xgb_regression.json", "xgb_pairwise.json", "xgb_ndcg.json", "xgb_categorical.json",
    ]
    static let models = lightGBMModels + xgboostModels

    static func path(_ name: String) -> String { directory + "/" + name }

    static func model(_ name: String) throws -> GradientBoostedTrees {
        try GradientBoostedTrees.load(contentsOf: path(name))
    }

    static func golden(_ name: String) throws -> GoldenFile {
        try GoldenFile.load(contentsOf: GoldenFile.path(forModelAt: path(name)))
    }

    static func text(_ name: String) throws -> String {
        try String(contentsOfFile: path(name), encoding: .utf8)
    }

    static func bytes(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: path(name))))
    }
}

@Suite struct ParityTests {
    @Test(arguments: Fixtures.models)
    func reproducesTheLibrarysRawScoresForEveryGoldenRowAndTreeLimit(_ name: String) throws {
        let model = try Fixtures.model(name)
        let golden = try Fixtures.golden(name)
        #expect(model.featureNames == golden.featureNames)
        #expect(golden.rowCount > 300)
        #expect(golden.limitedScores.count == 3)
        try model.validate(against: golden)
    }

    @Test(arguments: Fixtures.models)
    func matchesGoldenScoresExactlyNotJustWithinTolerance(_ name: String) throws {
        let model = try Fixtures.model(name)
        let golden = try Fixtures.golden(name)
        let scores = model.rawScores(golden.values, rowCount: golden.rowCount)
        let differing = zip(scores, golden.rawScores).filter { $0 != $1 }.count
        #expect(differing == 0, "\(differing) of \(golden.rowCount) rows differ in the last bit")
    }

    @Test(arguments: Fixtures.models)
    func batchScoresEqualSingleRowScoresForAnyRowCount(_ name: String) throws {
        let model = try Fixtures.model(name)
        let golden = try Fixtures.golden(name)
        let width = model.featureNames.count
        // Counts around the 4-row interleave and the 64-row block boundaries.
        for rowCount in [1, 2, 3, 4, 5, 7, 63, 64, 65, 127, 129, golden.rowCount] {
            let rows = Array(golden.values[0..<rowCount * width])
            for limit in [nil, 0, 1, 7, model.treeCount] as [Int?] {
                let batch = model.rawScores(rows, rowCount: rowCount, treeLimit: limit)
                for row in 0..<rowCount {
                    let single = model.rawScore(Array(rows[row * width..<(row + 1) * width]), treeLimit: limit)
                    #expect(
                        batch[row].bitPattern == single.bitPattern,
                        "row \(row) of \(rowCount), limit \(limit as Any)"
                    )
                }
            }
        }
    }

    @Test(arguments: Fixtures.models)
    func continuingFirstPhaseScoresEqualsScoringAllTreesAtOnce(_ name: String) throws {
        let model = try Fixtures.model(name)
        let golden = try Fixtures.golden(name)
        let width = model.featureNames.count
        let full = model.rawScores(golden.values, rowCount: golden.rowCount)
        for firstPhase in [0, 1, 7, model.treeCount / 2, model.treeCount] {
            // Second phase on every third row only, as a pipeline would for the first phase's survivors.
            let survivors = Array(stride(from: 0, to: golden.rowCount, by: 3))
            let rows = survivors.flatMap { golden.row($0) }
            var scores = model.rawScores(rows, rowCount: survivors.count, treeLimit: firstPhase)
            rows.withUnsafeBufferPointer { rowBuffer in
                scores.withUnsafeMutableBufferPointer { scoreBuffer in
                    model.continueRawScores(
                        rowBuffer,
                        rowCount: survivors.count,
                        scores: scoreBuffer,
                        trees: firstPhase..<model.treeCount
                    )
                }
            }
            for (index, row) in survivors.enumerated() {
                #expect(scores[index].bitPattern == full[row].bitPattern, "row \(row), first phase \(firstPhase)")
            }
            #expect(rows.count == survivors.count * width)
        }
    }

    @Test(arguments: Fixtures.models)
    func treeLimitAboveTheTreeCountMeansAllTrees(_ name: String) throws {
        let model = try Fixtures.model(name)
        let golden = try Fixtures.golden(name)
        let all = model.rawScores(golden.values, rowCount: golden.rowCount)
        let beyond = model.rawScores(golden.values, rowCount: golden.rowCount, treeLimit: model.treeCount + 10)
        #expect(all == beyond)
    }

    @Test func zeroTreesScoresTheBaseMargin() throws {
        let lightGBM = try Fixtures.model("lgb_binary_nan.txt")
        #expect(lightGBM.rawScore([Double](repeating: 1, count: 6), treeLimit: 0) == 0)
        // base_score 0.32425 for binary:logistic is stored as a probability; the margin is its logit, in float.
        let xgboost = try Fixtures.model("xgb_categorical.json")
        let margin = xgboost.rawScore([Double](repeating: 1, count: 7), treeLimit: 0)
        #expect(abs(margin - log(0.32425 / (1 - 0.32425))) < 1e-6)
    }

    @Test func reportsFormatObjectiveTreeCountAndFeatures() throws {
        let lambdarank = try Fixtures.model("lgb_lambdarank.txt")
        #expect(lambdarank.format == .lightGBM)
        #expect(lambdarank.objective == "lambdarank")
        #expect(lambdarank.treeCount == 60)
        #expect(
            lambdarank.featureNames == ["user_ctr", "item_age_days", "price", "dwell_secs", "similarity", "popularity"]
        )
        let pairwise = try Fixtures.model("xgb_pairwise.json")
        #expect(pairwise.format == .xgboost)
        #expect(pairwise.objective == "rank:pairwise")
        #expect(pairwise.treeCount == 60)
        #expect(pairwise.version.hasPrefix("xgb_pairwise.json#fnv1a64:"))
    }

    @Test func fixturesExerciseEverySplitKind() throws {
        var kinds = Set<SplitKind>()
        var multiWordSets = 0
        for name in Fixtures.models {
            let model = try Fixtures.model(name)
            kinds.formUnion(model.nodes.filter { $0.left != $0.right }.map(\.kind))
            multiWordSets += model.categorySets.filter { $0.wordCount > 1 }.count
        }
        #expect(
            kinds
                == Set([
                    .numericMissingLeft, .numericMissingRight, .zeroMissingLeft, .zeroMissingRight,
                    .lightGBMCategorical,
                    .xgboostCategoricalMissingLeft, .xgboostCategoricalMissingRight,
                ])
        )
        #expect(multiWordSets > 0)
    }

    @Test func nodeLayoutMatchesTheChildOffsetTheWalkerReads() {
        #expect(MemoryLayout<SplitNode>.offset(of: \SplitNode.left) == SplitNode.leftOffset)
        #expect(MemoryLayout<SplitNode>.offset(of: \SplitNode.right) == SplitNode.leftOffset + 4)
        #expect(MemoryLayout<SplitNode>.stride == 24)
    }

    @Test func versionChangesWithTheFileContent() throws {
        let directory = try TemporaryDirectory()
        let text = try Fixtures.text("lgb_binary_nan.txt")
        let path = directory.path + "/model.txt"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        let first = try GradientBoostedTrees.load(contentsOf: path).version
        try text.replacingOccurrences(of: "shrinkage=1\n", with: "shrinkage=1.0\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let second = try GradientBoostedTrees.load(contentsOf: path).version
        #expect(first.hasPrefix("model.txt#fnv1a64:"))
        #expect(first.count == "model.txt#fnv1a64:".count + 16)
        #expect(first != second)
    }
}

/// A fresh directory under the system temporary directory, removed when the value is deinitialised.
final class TemporaryDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "/rankingmodels-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}
