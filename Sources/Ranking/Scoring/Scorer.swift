/// Anything that turns feature rows (in its own feature order) into raw scores.
protocol ScoringModel: Sendable {
    var featureNames: [String] { get }
    var version: String { get }
    var treeCount: Int { get }
    /// Scores `rowCount` rows laid out row-major, `featureNames.count` values each; `treeLimit` uses only the
    /// first trees, for the cheap first phase.
    func score(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        into out: UnsafeMutableBufferPointer<Double>,
        treeLimit: Int?
    )
    /// Finishes first-phase scores: `scores[0..<rowCount]` hold the sums of the first `firstTrees` trees and get
    /// the remaining trees added, giving exactly what scoring with every tree gives.
    func finishScores(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        scores: UnsafeMutableBufferPointer<Double>,
        firstTrees: Int
    )
    /// Asks for the memory `finishScores` of `rowCount` rows after `firstTrees` trees will read, before the first
    /// phase runs.
    func prefetchFinish(rowCount: Int, firstTrees: Int)
}

extension ScoringModel {
    /// Nothing to ask for by default.
    func prefetchFinish(rowCount: Int, firstTrees: Int) {}

    /// Models that cannot resume a sum score the rows again with every tree.
    func finishScores(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        scores: UnsafeMutableBufferPointer<Double>,
        firstTrees: Int
    ) {
        score(rows, rowCount: rowCount, into: scores, treeLimit: nil)
    }
}

/// A model bound to a surface kind: its column order mapped onto the feature join's native order.
final class ActiveModel: Sendable {
    let model: any ScoringModel
    let kind: SurfaceKind
    /// `layout[j]` is the native feature index of the model's column `j`.
    let layout: [Int]
    /// True when the model's order equals the native order, so rows need no permutation.
    let isNativeOrder: Bool

    var version: String { model.version }
    var width: Int { layout.count }

    /// Binds `model` to a surface of `kind` computing `featureNames` (default: the kind's joined features), refusing
    /// a model that wants a feature the surface does not compute.
    init(model: any ScoringModel, kind: SurfaceKind, featureNames: [String]? = nil) throws {
        let native = featureNames ?? FeatureJoiner.featureNames(for: kind)
        let layout = try Self.layout(model.featureNames, of: model.version, in: native, surface: kind.rawValue)
        self.model = model
        self.kind = kind
        self.layout = layout
        isNativeOrder = layout == Array(0..<native.count)
    }

    /// Where each feature of model `version` (`features`, in the model's order) sits among the features a surface
    /// computes (`computed`), for the marketplace's surfaces and the generic ones alike; refuses a model that wants
    /// one the surface does not compute, naming the surface and every missing feature.
    static func layout(_ features: [String], of version: String, in computed: [String], surface: String) throws -> [Int]
    {
        var layout: [Int] = []
        var missing: [String] = []
        for name in features {
            if let i = computed.firstIndex(of: name) { layout.append(i) } else { missing.append(name) }
        }
        guard missing.isEmpty else {
            throw RankingError.unavailable(
                "model \(version) needs features the \(surface) surface does not compute: "
                    + missing.joined(separator: ", ")
            )
        }
        return layout
    }
}

/// A hand-written order for when no trained model is configured or scoring failed: popularity, quality,
/// distance and the user's own history, the same signals a person would use.
struct HeuristicScorer: ScoringModel {
    let kind: SurfaceKind
    var featureNames: [String] { FeatureJoiner.featureNames(for: kind) }
    var version: String { "heuristic-\(kind.rawValue)-v1" }
    var treeCount: Int { 0 }

    func score(
        _ rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        into out: UnsafeMutableBufferPointer<Double>,
        treeLimit: Int?
    ) {
        let width = featureNames.count
        @inline(__always) func v(_ x: Double) -> Double { x.isNaN ? 0 : x }
        for r in 0..<rowCount {
            let f = rows.baseAddress! + r * width
            switch kind {
            case .venues:
                out[r] =
                    0.6 * v(f[5]) + 0.8 * (v(f[3]) - 4) - 0.25 * v(f[0]) + 0.5 * min(v(f[13]), 3)
                    + 2 * v(f[16]) + 0.5 * v(f[18]) - 0.3 * abs(v(f[17]))
            case .venueItems:
                out[r] = v(f[2]) - 0.05 * v(f[3]) + 1.5 * min(v(f[8]), 2) + (f[1] == 0 ? 0.5 : 0)
            }
        }
    }
}

/// Scores candidates in two phases: the first trees on everyone, the full model on the leaders. The marketplace's
/// surfaces and the generic ones both score through it.
enum TwoPhaseScorer {
    /// Fills `scores` and `fullyScored` for `rowCount` rows of `rows` (model order, `width` values each). Without
    /// `config`, with `fullModelTopN` negative or at least the row count, or with a first phase of no trees or of
    /// them all, every row gets every tree.
    /// - Returns: false if the deadline passed between phases, in which case first-phase scores stand.
    static func score(
        model: any ScoringModel,
        width: Int,
        rows: UnsafeBufferPointer<Double>,
        rowCount: Int,
        config: ScoringConfig?,
        scores: inout [Double],
        fullyScored: inout [Bool],
        scratch: inout [Double],
        deadlinePassed: () -> Bool
    ) -> Bool {
        scores = [Double](repeating: 0, count: rowCount)
        fullyScored = [Bool](repeating: false, count: rowCount)
        guard rowCount > 0 else { return true }
        let trees = model.treeCount
        guard let config, config.fullModelTopN >= 0, rowCount > config.fullModelTopN, trees > 0,
            config.firstPhaseTrees > 0, config.firstPhaseTrees < trees
        else {
            scores.withUnsafeMutableBufferPointer {
                model.score(rows, rowCount: rowCount, into: $0, treeLimit: nil)
            }
            for i in 0..<rowCount { fullyScored[i] = true }
            return true
        }
        let (topN, firstTrees) = (config.fullModelTopN, config.firstPhaseTrees)
        model.prefetchFinish(rowCount: topN, firstTrees: firstTrees)
        scores.withUnsafeMutableBufferPointer {
            model.score(rows, rowCount: rowCount, into: $0, treeLimit: firstTrees)
        }
        if deadlinePassed() { return false }
        var order = Array(0..<rowCount)
        scores.withUnsafeBufferPointer { s in
            selectTop(&order, topN) { (s[$0], -$0) > (s[$1], -$1) }
        }
        // The leaders keep their first-phase sums and only walk the remaining trees.
        finish(
            model: model,
            width: width,
            rows: rows,
            pending: order.prefix(topN),
            firstTrees: firstTrees,
            scores: &scores,
            fullyScored: &fullyScored,
            scratch: &scratch
        )
        return true
    }

    /// Gives the rows `pending` (positions in `rows`, model order, `width` values each), which hold the sums of the
    /// first `firstTrees` trees in `scores`, the remaining trees' too: after the leaders, the entries an answer
    /// shows that were ranked on the first trees alone.
    static func finish(
        model: any ScoringModel,
        width: Int,
        rows: UnsafeBufferPointer<Double>,
        pending: some Collection<Int>,
        firstTrees: Int,
        scores: inout [Double],
        fullyScored: inout [Bool],
        scratch: inout [Double]
    ) {
        guard !pending.isEmpty else { return }
        scratch.removeAll(keepingCapacity: true)
        scratch.reserveCapacity(pending.count * width)
        for i in pending { scratch.append(contentsOf: rows[(i * width)..<((i + 1) * width)]) }
        var full = pending.map { scores[$0] }
        scratch.withUnsafeBufferPointer { buffer in
            full.withUnsafeMutableBufferPointer {
                model.finishScores(buffer, rowCount: pending.count, scores: $0, firstTrees: firstTrees)
            }
        }
        for (k, i) in pending.enumerated() {
            scores[i] = full[k]
            fullyScored[i] = true
        }
    }
}
