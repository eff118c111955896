import RankingModels

/// A trained gradient-boosted tree model as the pipeline's scorer.
struct TreeModel: ScoringModel {
    let trees: GradientBoostedTrees

    var featureNames: [String] { trees.featureNames }
    var version: String { trees.version }
    var treeCount: Int { trees.treeCount }

    func score(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        into out: UnsafeMutableBufferPointer<Double>,
        treeLimit: Int?
    ) {
        trees.rawScores(rows, rowCount: rowCount, into: out, treeLimit: treeLimit)
    }

    func finishScores(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        scores: UnsafeMutableBufferPointer<Double>,
        firstTrees: Int
    ) {
        trees.continueRawScores(rows, rowCount: rowCount, scores: scores, trees: firstTrees..<trees.treeCount)
    }

    func prefetchFinish(rowCount: Int, firstTrees: Int) {
        trees.prefetch(rowCount: rowCount, trees: firstTrees..<trees.treeCount)
    }
}

extension RankingEngine {
    /// Loads LightGBM text or XGBoost JSON, then refuses the model unless it reproduces its golden file and every
    /// feature it uses is one the surfaces it serves compute (`available`).
    static let defaultLoader: ModelLoader? = { path, goldenPath, available in
        let trees: GradientBoostedTrees
        do {
            trees = try GradientBoostedTrees.load(contentsOf: path)
        } catch {
            throw RankingError.unavailable("model \(path) cannot be loaded: \(error)")
        }
        do {
            try trees.checkFeatures(available: available)
        } catch {
            throw RankingError.unavailable("model \(path) does not match the features of its surfaces: \(error)")
        }
        let golden: GoldenFile
        do {
            golden = try GoldenFile.load(contentsOf: goldenPath ?? GoldenFile.path(forModelAt: path))
        } catch {
            throw RankingError.unavailable("model \(path) has no usable golden file: \(error)")
        }
        do {
            try trees.validate(against: golden)
        } catch {
            throw RankingError.unavailable("model \(path) does not reproduce its golden file: \(error)")
        }
        return TreeModel(trees: trees)
    }
}
