import Foundation
import Testing

@testable import RankingModels

@Suite struct ValidationTests {
    private func tampered(_ golden: GoldenFile, row: Int, by delta: Double) -> GoldenFile {
        var scores = golden.rawScores
        scores[row] += delta
        return GoldenFile(
            featureNames: golden.featureNames,
            rows: (0..<golden.rowCount).map { Array(golden.row($0)) },
            rawScores: scores,
            limitedScores: golden.limitedScores
        )
    }

    @Test(arguments: ["lgb_categorical.txt", "xgb_binary.json"])
    func refusesAGoldenScoreThatDiffersByMoreThanTheTolerance(_ name: String) throws {
        let model = try Fixtures.model(name)
        let golden = try Fixtures.golden(name)
        let expected = golden.rawScores[17] + 1e-6
        #expect(throws: ModelValidationError.scoreMismatch(row: 17, expected: expected, got: golden.rawScores[17])) {
            try model.validate(against: tampered(golden, row: 17, by: 1e-6))
        }
        // Within tolerance is accepted, so the check is a tolerance and not bit equality.
        try model.validate(against: tampered(golden, row: 17, by: 1e-10))
    }

    @Test func refusesATamperedTreeLimitedScore() throws {
        let model = try Fixtures.model("lgb_lambdarank.txt")
        let golden = try Fixtures.golden("lgb_lambdarank.txt")
        var limited = golden.limitedScores
        var scores = limited[1].rawScores
        scores[3] = -scores[3] + 1
        limited[1] = .init(treeLimit: limited[1].treeLimit, rawScores: scores)
        let bad = GoldenFile(
            featureNames: golden.featureNames,
            rows: (0..<golden.rowCount).map { Array(golden.row($0)) },
            rawScores: golden.rawScores,
            limitedScores: limited
        )
        #expect(
            throws: ModelValidationError.limitedScoreMismatch(
                treeLimit: limited[1].treeLimit,
                row: 3,
                expected: scores[3],
                got: golden.limitedScores[1].rawScores[3]
            )
        ) {
            try model.validate(against: bad)
        }
    }

    @Test func refusesAGoldenFileForADifferentFeatureOrder() throws {
        let model = try Fixtures.model("lgb_binary_nan.txt")
        let golden = try Fixtures.golden("lgb_binary_nan.txt")
        var names = golden.featureNames
        names.swapAt(2, 4)
        let rows = (0..<golden.rowCount).map { Array(golden.row($0)) }
        let reordered = GoldenFile(featureNames: names, rows: rows, rawScores: golden.rawScores)
        #expect(throws: ModelValidationError.featureMismatch(index: 2, expected: "price", found: "similarity")) {
            try model.validate(against: reordered)
        }
        let shorter = GoldenFile(
            featureNames: Array(names.prefix(5)),
            rows: rows.map { Array($0.prefix(5)) },
            rawScores: golden.rawScores
        )
        #expect(throws: ModelValidationError.featureMismatch(index: 2, expected: "price", found: "similarity")) {
            try model.validate(against: shorter)
        }
        let longer = GoldenFile(
            featureNames: golden.featureNames + ["extra"],
            rows: rows.map { $0 + [1] },
            rawScores: golden.rawScores
        )
        #expect(throws: ModelValidationError.extraFeature(index: 6, name: "extra")) {
            try model.validate(against: longer)
        }
    }

    @Test func refusesAnEmptyGoldenFile() throws {
        let model = try Fixtures.model("xgb_regression.json")
        let empty = GoldenFile(featureNames: model.featureNames, rows: [], rawScores: [])
        #expect(throws: ModelValidationError.emptyGoldenFile) { try model.validate(against: empty) }
    }

    @Test func refusesAGoldenTreeLimitBeyondTheModel() throws {
        let model = try Fixtures.model("xgb_ndcg.json")
        let golden = try Fixtures.golden("xgb_ndcg.json")
        let bad = GoldenFile(
            featureNames: golden.featureNames,
            rows: (0..<golden.rowCount).map { Array(golden.row($0)) },
            rawScores: golden.rawScores,
            limitedScores: [.init(treeLimit: 41, rawScores: golden.rawScores)]
        )
        #expect(throws: ModelValidationError.treeLimitOutOfRange(treeLimit: 41, treeCount: 40)) {
            try model.validate(against: bad)
        }
    }

    @Test func featureCheckNamesTheFirstModelFeatureTheJoinLacks() throws {
        let model = try Fixtures.model("lgb_categorical.txt")
        let available = ["genre", "price", "user_ctr", "dwell_secs", "item_age_days", "country", "device", "unused"]
        try model.checkFeatures(available: available)
        #expect(try model.featureIndices(in: available) == [2, 4, 1, 3, 6, 5, 0])
        #expect(throws: ModelValidationError.missingFeature(name: "item_age_days", modelIndex: 1)) {
            try model.checkFeatures(available: ["user_ctr", "price", "dwell_secs", "device"])
        }
    }

    @Test func loadVerifiedActivatesAModelThatMatchesItsGoldenFile() throws {
        let model = try GradientBoostedTrees.loadVerified(
            contentsOf: Fixtures.path("xgb_categorical.json"),
            availableFeatures: ["device", "country", "genre", "user_ctr", "item_age_days", "price", "dwell_secs"]
        )
        #expect(model.treeCount == 60)
    }

    @Test func loadVerifiedRefusesATamperedGoldenFileOnDisk() throws {
        let directory = try TemporaryDirectory()
        let modelPath = directory.path + "/ranker.txt"
        try Fixtures.text("lgb_binary_zero.txt").write(toFile: modelPath, atomically: true, encoding: .utf8)
        var golden = try Fixtures.text("lgb_binary_zero.golden.json")
        let scoresStart = try #require(golden.range(of: "\"raw_scores\":["))
        let firstScoreEnd = try #require(golden[scoresStart.upperBound...].firstIndex(of: ","))
        golden.replaceSubrange(scoresStart.upperBound..<firstScoreEnd, with: "0.5")
        try golden.write(toFile: directory.path + "/ranker.golden.json", atomically: true, encoding: .utf8)
        #expect {
            try GradientBoostedTrees.loadVerified(contentsOf: modelPath)
        } throws: { error in
            guard case .scoreMismatch(row: 0, expected: 0.5, got: _) = error as? ModelValidationError else {
                return false
            }
            return true
        }
    }

    @Test func loadVerifiedRefusesAModelWhoseFeaturesTheJoinLacks() throws {
        #expect(throws: ModelValidationError.missingFeature(name: "popularity", modelIndex: 5)) {
            try GradientBoostedTrees.loadVerified(
                contentsOf: Fixtures.path("xgb_binary.json"),
                availableFeatures: ["user_ctr", "item_age_days", "price", "dwell_secs", "similarity"]
            )
        }
    }

    @Test func loadVerifiedRefusesAModelWithoutAGoldenFile() throws {
        let directory = try TemporaryDirectory()
        let modelPath = directory.path + "/lonely.json"
        try Data(Fixtures.bytes("xgb_binary.json")).write(to: URL(fileURLWithPath: modelPath))
        #expect {
            try GradientBoostedTrees.loadVerified(contentsOf: modelPath)
        } throws: { error in
            guard case .unreadableFile(let path, _) = error as? ModelLoadError else { return false }
            return path.hasSuffix("lonely.golden.json")
        }
    }

    @Test func goldenPathReplacesTheModelExtension() {
        #expect(GoldenFile.path(forModelAt: "/srv/models/ranker.v3.txt") == "/srv/models/ranker.v3.golden.json")
        #expect(GoldenFile.path(forModelAt: "/srv/models/ranker.json") == "/srv/models/ranker.golden.json")
    }

    @Test func validationErrorsDescribeWhatDiffers() {
        #expect(
            ModelValidationError.scoreMismatch(row: 4, expected: 0.5, got: 0.25).description
                == "golden row 4: expected raw score 0.5, model gives 0.25"
        )
        #expect(
            ModelValidationError.missingFeature(name: "price", modelIndex: 2).description
                == "feature 'price' (model feature 2) is computed by no surface that uses the model "
                + "(neither joined nor configured under the surface's online features)"
        )
        #expect(
            ModelValidationError.featureMismatch(index: 1, expected: "a", found: nil).description
                == "feature 1: model expects 'a', golden file has no feature there"
        )
    }
}
