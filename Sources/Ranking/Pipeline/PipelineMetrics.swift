import CoreMetrics

/// One surface's pipeline metrics, through swift-metrics (no-ops until the process bootstraps a backend). The
/// handles are made once when the surface is resolved, so recording an answer takes no lock and builds no label.
final class SurfaceMetrics: Sendable {
    /// Metric names, in Prometheus form.
    enum Name {
        static let stageDuration = "rankd_stage_duration_seconds"
        static let answers = "rankd_answers_total"
        static let degraded = "rankd_degraded_answers_total"
        static let candidates = "rankd_candidates_total"
        static let featureRows = "rankd_feature_rows_total"
        static let featureMissing = "rankd_feature_missing_total"
    }

    /// The four stages every answer passes through, as ``StageTiming`` names them.
    static let stages = ["candidates", "features", "score", "rerank"]

    private let stageTimers: [CoreMetrics.Timer]
    private let answers: [String: CoreMetrics.Counter]
    private let otherAnswers: CoreMetrics.Counter
    private let degraded: [String: CoreMetrics.Counter]
    private let sourceCandidates: [CoreMetrics.Counter]
    private let featureRows: CoreMetrics.Counter
    private let featureMissing: [CoreMetrics.Counter]

    /// - Parameter experiments: the experiments on the surface, with their variants' names.
    init(surface: String, sourceNames: [String], featureNames: [String], experiments: [(String, [String])]) {
        stageTimers = Self.stages.map {
            CoreMetrics.Timer(label: Name.stageDuration, dimensions: [("surface", surface), ("stage", $0)])
        }
        func answerCounter(_ experiment: String, _ variant: String) -> CoreMetrics.Counter {
            CoreMetrics.Counter(
                label: Name.answers,
                dimensions: [("surface", surface), ("experiment", experiment), ("variant", variant)]
            )
        }
        var answers: [String: CoreMetrics.Counter] = ["|control": answerCounter("", "control")]
        for (experiment, variants) in experiments {
            for variant in variants { answers["\(experiment)|\(variant)"] = answerCounter(experiment, variant) }
        }
        self.answers = answers
        otherAnswers = answerCounter("", "other")
        var degraded: [String: CoreMetrics.Counter] = [:]
        for stage in sourceNames.map({ "candidates.\($0)" }) + [
            "features", "features.online", "score", "score.full", "rerank",
        ] {
            degraded[stage] = CoreMetrics.Counter(
                label: Name.degraded,
                dimensions: [("surface", surface), ("stage", stage)]
            )
        }
        self.degraded = degraded
        sourceCandidates = sourceNames.map {
            CoreMetrics.Counter(label: Name.candidates, dimensions: [("surface", surface), ("source", $0)])
        }
        featureRows = CoreMetrics.Counter(label: Name.featureRows, dimensions: [("surface", surface)])
        featureMissing = featureNames.map {
            CoreMetrics.Counter(label: Name.featureMissing, dimensions: [("surface", surface), ("feature", $0)])
        }
    }

    /// Records one feature join of `n` candidates: `rows` holds one row of `width` values per candidate (NaN =
    /// missing), and each feature's missing values are counted here, for both domains' surfaces.
    func recordFeatures(_ rows: [Double], count n: Int, width: Int) {
        let n = width > 0 ? min(n, rows.count / width) : 0
        featureRows.increment(by: Int64(n))
        let missing = Self.missingCounts(rows, count: n, width: width)
        for (counter, count) in zip(featureMissing, missing) where count > 0 { counter.increment(by: Int64(count)) }
    }

    /// Per feature, how many of the first `n` rows of `rows` (`width` values each, `n * width` at most
    /// `rows.count`) hold NaN there.
    static func missingCounts(_ rows: [Double], count n: Int, width: Int) -> [Int] {
        var missing = [Int](repeating: 0, count: width)
        // Counted without a branch per value: a request joins hundreds of rows of dozens of features.
        rows.withUnsafeBufferPointer { values in
            missing.withUnsafeMutableBufferPointer { counts in
                for r in 0..<n {
                    let row = values.baseAddress! + r * width
                    // `x != x` is a NaN test the compiler turns into one vector compare; `isNaN` is not.
                    for j in 0..<width { counts[j] &+= row[j] != row[j] ? 1 : 0 }
                }
            }
        }
        return missing
    }

    /// Records one answer: its stage durations, variant, degraded stages and candidates per source.
    func record(_ run: PipelineRun, sourceCounts: [Int]) {
        record(
            timings: run.timings,
            assignments: run.assignments,
            degradedStages: run.degradedStages,
            sourceCounts: sourceCounts
        )
    }

    /// Records one answer of either domain: its stage durations, the experiment placements it was answered under,
    /// the stages it went without and the candidates each source gave (in the order of the surface's sources).
    func record(
        timings: [StageTiming],
        assignments: [ExperimentAssignment.Placement],
        degradedStages: [String],
        sourceCounts: [Int]
    ) {
        for timing in timings {
            // Sub-stages ("candidates.nearby") and "total" are not stages of their own here.
            guard let stage = Self.stages.firstIndex(of: timing.stage) else { continue }
            stageTimers[stage].recordNanoseconds(timing.micros * 1000)
        }
        // Once per answer, under the first experiment it is in (layer order, as the answer's `variant` field); a
        // holdout counts as no experiment, "control" outside them all. The exposure log has every layer's place.
        if let placement = assignments.first(where: { !$0.experiment.isEmpty }) {
            (answers["\(placement.experiment)|\(placement.variant)"] ?? otherAnswers).increment()
        } else {
            answers["|control"]?.increment()
        }
        for stage in degradedStages { degraded[stage]?.increment() }
        for (source, count) in zip(sourceCandidates, sourceCounts) where count > 0 {
            source.increment(by: Int64(count))
        }
    }
}

extension RankingEngine {
    /// Every model the pipeline serves, by configuration key, with its version (for info metrics and logs).
    public var servingModels: [(key: String, version: String)] {
        let state = current
        if let generic = state.generic { return generic.models.keys.sorted().map { ($0, generic.models[$0]!.version) } }
        return state.models.keys.sorted().map { ($0, state.models[$0]!.version) }
    }
}
