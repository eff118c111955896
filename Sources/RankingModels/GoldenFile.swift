import Foundation

/// Feature rows and the raw scores the training library produced for them, shipped next to a model as
/// `<model stem>.golden.json` so the model can be refused if this scorer would not reproduce them.
///
/// The JSON layout, written by `Scripts/train-parity-models.py`:
/// `{"feature_names": [..], "rows": [[..], ..], "raw_scores": [..],
///   "tree_limited": [{"tree_limit": N, "raw_scores": [..]}, ..]}` with missing feature values as `null`.
/// `tree_limited` (optional) holds scores of the first N trees (LightGBM `num_iteration`, XGBoost
/// `iteration_range`); other members (`format`, `producer`, `model_file`) are informational.
public struct GoldenFile: Sendable {
    /// Scores computed by the library with only the first `treeLimit` trees.
    public struct LimitedScores: Sendable {
        /// How many trees, from the first, produced `rawScores`.
        public let treeLimit: Int
        /// One raw score per golden row.
        public let rawScores: [Double]

        /// Pairs a tree limit with its scores.
        public init(treeLimit: Int, rawScores: [Double]) {
            self.treeLimit = treeLimit
            self.rawScores = rawScores
        }
    }

    /// The feature order of `values`; must equal the model's.
    public let featureNames: [String]
    /// Rows, row-major, `featureNames.count` values each; NaN = missing.
    public let values: [Double]
    /// The library's raw score for each row, with all trees.
    public let rawScores: [Double]
    /// The library's raw scores for the first N trees, for some N.
    public let limitedScores: [LimitedScores]
    /// Which library and version wrote the scores, when the file says.
    public let producer: String?

    /// Number of rows.
    public var rowCount: Int { rawScores.count }

    /// The values of row `index`.
    public func row(_ index: Int) -> ArraySlice<Double> {
        let width = featureNames.count
        return values[index * width..<(index + 1) * width]
    }

    /// Builds a golden file in memory; `rows` must all have `featureNames.count` values and match `rawScores` and
    /// every `limitedScores` entry in count.
    public init(
        featureNames: [String],
        rows: [[Double]],
        rawScores: [Double],
        limitedScores: [LimitedScores] = [],
        producer: String? = nil
    ) {
        precondition(rows.count == rawScores.count, "\(rows.count) rows but \(rawScores.count) scores")
        precondition(rows.allSatisfy { $0.count == featureNames.count }, "rows must have one value per feature")
        precondition(limitedScores.allSatisfy { $0.rawScores.count == rows.count }, "one limited score per row")
        self.featureNames = featureNames
        self.values = rows.flatMap { $0 }
        self.rawScores = rawScores
        self.limitedScores = limitedScores
        self.producer = producer
    }

    /// Parses a golden file's JSON bytes.
    public init(jsonBytes: [UInt8]) throws {
        let format = "golden"
        let root = JSONCursor(try JSONParser.parse(jsonBytes, format: format), format: format)
        let names = try root["feature_names"].array().map { try $0.string() }
        let rowCursors = try root["rows"].array()
        var values: [Double] = []
        values.reserveCapacity(rowCursors.count * names.count)
        for row in rowCursors {
            let cells = try row.array()
            guard cells.count == names.count else {
                throw row.error("row has \(cells.count) values for \(names.count) features")
            }
            for cell in cells { values.append(cell.isNull ? .nan : try cell.double()) }
        }
        func scores(_ cursor: JSONCursor) throws -> [Double] {
            let scores = try cursor.array().map { try $0.double() }
            guard scores.count == rowCursors.count else {
                throw cursor.error("\(scores.count) scores for \(rowCursors.count) rows")
            }
            if let bad = scores.firstIndex(where: { !$0.isFinite }) { throw cursor.error("score \(bad) is not finite") }
            return scores
        }
        let limited = try root.optional("tree_limited")?.array().map { entry in
            let limit = try entry["tree_limit"].int()
            guard limit >= 0 else { throw entry.error("negative tree_limit") }
            return LimitedScores(treeLimit: limit, rawScores: try scores(entry["raw_scores"]))
        }
        self.featureNames = names
        self.values = values
        self.rawScores = try scores(root["raw_scores"])
        self.limitedScores = limited ?? []
        self.producer = try root.optional("producer")?.string()
    }

    /// Reads and parses a golden file.
    public static func load(contentsOf path: String) throws -> GoldenFile {
        try GoldenFile(jsonBytes: GradientBoostedTrees.readFile(path))
    }

    /// Where the golden file of the model at `modelPath` lives: the model's path with its extension replaced by
    /// `.golden.json` (`ranker.txt` -> `ranker.golden.json`).
    public static func path(forModelAt modelPath: String) -> String {
        let url = URL(fileURLWithPath: modelPath)
        return url.deletingPathExtension().path + ".golden.json"
    }
}

extension GradientBoostedTrees {
    /// Throws unless the model reproduces every score in `golden` within `tolerance`, through both the single-row
    /// and the batch API, for all trees and for each of the golden file's tree limits; the error names the first
    /// row that differs. A golden file for a different feature order or with no rows is refused too.
    public func validate(against golden: GoldenFile, tolerance: Double = 1e-9) throws {
        for (index, name) in golden.featureNames.enumerated() where index >= featureNames.count {
            throw ModelValidationError.extraFeature(index: index, name: name)
        }
        for (index, name) in featureNames.enumerated() {
            let found = index < golden.featureNames.count ? golden.featureNames[index] : nil
            guard found == name else {
                throw ModelValidationError.featureMismatch(index: index, expected: name, found: found)
            }
        }
        guard golden.rowCount > 0 else { throw ModelValidationError.emptyGoldenFile }

        func check(_ expected: [Double], treeLimit: Int?) throws {
            let batch = rawScores(golden.values, rowCount: golden.rowCount, treeLimit: treeLimit)
            try golden.values.withUnsafeBufferPointer { values in
                for row in 0..<golden.rowCount {
                    let single = rawScore(
                        UnsafeBufferPointer(
                            rebasing: values[row * featureNames.count..<(row + 1) * featureNames.count]
                        ),
                        treeLimit: treeLimit
                    )
                    for got in [batch[row], single] where !(abs(got - expected[row]) <= tolerance) {
                        if let treeLimit {
                            throw ModelValidationError.limitedScoreMismatch(
                                treeLimit: treeLimit,
                                row: row,
                                expected: expected[row],
                                got: got
                            )
                        }
                        throw ModelValidationError.scoreMismatch(row: row, expected: expected[row], got: got)
                    }
                }
            }
        }
        try check(golden.rawScores, treeLimit: nil)
        for limited in golden.limitedScores {
            guard limited.treeLimit <= treeCount else {
                throw ModelValidationError.treeLimitOutOfRange(treeLimit: limited.treeLimit, treeCount: treeCount)
            }
            try check(limited.rawScores, treeLimit: limited.treeLimit)
        }
    }

    /// Throws unless every feature the model uses is among `available` (the features the caller's feature join
    /// provides); the error names the first model feature that is missing.
    public func checkFeatures(available: [String]) throws {
        _ = try featureIndices(in: available)
    }

    /// For each model feature, in model order, its position in `available`: the gather map a feature join needs to
    /// lay out rows in `featureNames` order. Throws `missingFeature` for the first model feature not in `available`.
    public func featureIndices(in available: [String]) throws -> [Int] {
        var positions: [String: Int] = [:]
        for (index, name) in available.enumerated() where positions[name] == nil { positions[name] = index }
        return try featureNames.enumerated().map { index, name in
            guard let position = positions[name] else {
                throw ModelValidationError.missingFeature(name: name, modelIndex: index)
            }
            return position
        }
    }

    /// Loads the model at `path` and activates it only if it reproduces its golden file (by default
    /// `GoldenFile.path(forModelAt: path)`) within `tolerance` and, when `availableFeatures` is given, the feature
    /// join provides every feature it uses. Any refusal is thrown as `ModelLoadError` or `ModelValidationError`.
    public static func loadVerified(
        contentsOf path: String,
        goldenPath: String? = nil,
        availableFeatures: [String]? = nil,
        tolerance: Double = 1e-9
    ) throws -> GradientBoostedTrees {
        let model = try load(contentsOf: path)
        if let availableFeatures { try model.checkFeatures(available: availableFeatures) }
        let golden = try GoldenFile.load(contentsOf: goldenPath ?? GoldenFile.path(forModelAt: path))
        try model.validate(against: golden, tolerance: tolerance)
        return model
    }
}
