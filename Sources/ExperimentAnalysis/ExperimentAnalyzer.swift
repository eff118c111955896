import ExposureLog
import Foundation
import Ranking

/// What the analysis compares and how strict it is.
public struct AnalysisSettings: Sendable {
    /// The metric a treatment must improve to ship.
    public var successMetric = Metric.conversion
    /// How long after an exposure an event without a request id may still be attributed to it.
    public var attributionWindowHours = 24.0
    /// Only this experiment; nil for all.
    public var experiment: String?
    /// Resamples of users for the latency percentile's interval (bounded: each costs a pass over the exposures).
    public var bootstrapResamples = 500
    /// Latency p99 may grow by at most this fraction (0.10 = +10%).
    public var latencyMargin = 0.10
    /// The empty-answer rate may grow by at most this much, absolute (0.005 = +0.5 percentage points).
    public var emptyRateMargin = 0.005
    /// The degraded-answer rate may grow by at most this much, absolute.
    public var degradedRateMargin = 0.005
    /// A sample-ratio mismatch is flagged below this p-value.
    public var sampleRatioThreshold = 0.001

    public init() {}

    /// The variant name that is never a comparison arm unless it is the only other one.
    public static let holdout = "holdout"
    /// The variant name that is the control when present.
    public static let control = "control"
}

/// Why there is nothing to report.
public enum AnalysisError: Error, Equatable, CustomStringConvertible {
    case noExposures
    case noExperiments
    case unknownExperiment(String, known: [String])

    public var description: String {
        switch self {
        case .noExposures:
            return "no exposures in the exposure log"
        case .noExperiments:
            return "no exposure was assigned to an experiment (every assignment's experiment is empty)"
        case .unknownExperiment(let name, let known):
            return "no experiment named \(name) in the exposure log; known: \(known.joined(separator: ", "))"
        }
    }
}

/// A user's totals within one variant: the unit the statistics resample and cluster by.
public struct UserTally: Sendable {
    /// Exposures served to the user in this variant.
    public var exposures = 0.0
    /// Of those, exposures with at least one click (or play).
    public var clickedExposures = 0.0
    /// Orders (or completed plays) attributed to those exposures.
    public var conversions = 0.0
    /// The exposures' NDCG@10, summed.
    public var ndcgSum = 0.0
    /// Exposures with no items.
    public var emptyExposures = 0.0
    /// Exposures with a degraded stage.
    public var degradedExposures = 0.0
    /// Each exposure's latency.
    public var latenciesMicros: [Int64] = []

    public init() {}

    mutating func add(_ exposure: ExposureRecord, _ outcome: ExposureOutcome) {
        exposures += 1
        clickedExposures += outcome.clicked ? 1 : 0
        conversions += Double(outcome.conversions)
        ndcgSum += outcome.ndcg
        emptyExposures += exposure.items.isEmpty ? 1 : 0
        degradedExposures += exposure.degradedStages.isEmpty ? 0 : 1
        latenciesMicros.append(exposure.latencyMicros)
    }
}

/// Reads experiments out of joined exposures: per variant, the metrics; per treatment, the differences against the
/// control, the guardrails and a verdict; per experiment, the sample-ratio check. docs/experiments.md ("The
/// analysis") states every rule.
public enum ExperimentAnalyzer {
    /// Joins and analyses the logs.
    /// - Throws: ``AnalysisError`` when there is nothing to analyse.
    public static func analyze(
        exposures: [ExposureRecord],
        events: [EventRecord],
        settings: AnalysisSettings = AnalysisSettings()
    ) throws -> ExperimentReport {
        guard !exposures.isEmpty else { throw AnalysisError.noExposures }
        let known = Set(exposures.flatMap { $0.assignments.map(\.experiment) }.filter { !$0.isEmpty }).sorted()
        guard !known.isEmpty else { throw AnalysisError.noExperiments }
        if let wanted = settings.experiment, !known.contains(wanted) {
            throw AnalysisError.unknownExperiment(wanted, known: known)
        }
        let windowMs = Int64((settings.attributionWindowHours * 3_600_000).rounded())
        let (outcomes, summary) = OutcomeJoin.join(exposures: exposures, events: events, attributionWindowMs: windowMs)
        let names = settings.experiment.map { [$0] } ?? known
        return ExperimentReport(
            successMetric: settings.successMetric,
            attributionWindowHours: settings.attributionWindowHours,
            join: summary,
            experiments: names.map { analyze(experiment: $0, exposures: exposures, outcomes: outcomes, settings) }
        )
    }

    private struct Arm {
        var users: [String: UserTally] = [:]
        var exposures = 0
        var plannedShares: [Double: Int] = [:]

        var tallies: [UserTally] { users.keys.sorted().map { users[$0]! } }

        mutating func add(_ exposure: ExposureRecord, _ outcome: ExposureOutcome, plannedShare: Double) {
            exposures += 1
            plannedShares[plannedShare, default: 0] += 1
            users[exposure.userID, default: UserTally()].add(exposure, outcome)
        }
    }

    private static func analyze(
        experiment: String,
        exposures: [ExposureRecord],
        outcomes: [ExposureOutcome],
        _ settings: AnalysisSettings
    ) -> ExperimentResult {
        var arms: [String: Arm] = [:]
        var layers = Set<String>()
        var variantsOfUser: [String: Set<String>] = [:]
        for (index, exposure) in exposures.enumerated() {
            guard let assignment = exposure.assignments.first(where: { $0.experiment == experiment }) else { continue }
            layers.insert(assignment.layer)
            variantsOfUser[exposure.userID, default: []].insert(assignment.variant)
            // Mutated in place through the dictionary: a copy of an arm would copy all its users per exposure.
            arms[assignment.variant, default: Arm()].add(
                exposure,
                outcomes[index],
                plannedShare: assignment.plannedShare
            )
        }

        var warnings: [String] = []
        let crossed = variantsOfUser.values.filter { $0.count > 1 }.count
        if crossed > 0 {
            warnings.append(
                "\(crossed) users were served more than one variant; each variant counts them with the exposures "
                    + "it served them, so the arms are not fully independent."
            )
        }
        let names = arms.keys.sorted()
        var plannedShare: [String: Double] = [:]
        for name in names {
            let shares = arms[name]!.plannedShares
            // The share most of the variant's exposures carry; a change mid-experiment is reported.
            let share = shares.max { ($0.value, -$0.key) < ($1.value, -$1.key) }!.key
            if share > 0 { plannedShare[name] = share }
            if shares.count > 1 {
                warnings.append(
                    "Variant \(name)'s exposures carry \(shares.count) different planned shares; the sample-ratio "
                        + "check uses the most common, \(formatShare(share))."
                )
            }
        }

        let (control, controlRule) = chooseControl(names)
        let treatments = names.filter { $0 != control && $0 != AnalysisSettings.holdout }
        let summaries = names.map { name in
            summarize(
                name,
                arms[name]!,
                role: name == control ? "control" : name == AnalysisSettings.holdout ? "holdout" : "treatment",
                plannedShare: plannedShare[name]
            )
        }
        let sampleRatio = checkSampleRatio(
            names.compactMap { name in plannedShare[name].map { (name, $0, arms[name]!.users.count) } },
            threshold: settings.sampleRatioThreshold
        )
        let comparisons = control.map { control in
            let controlTallies = arms[control]!.tallies
            return treatments.map { treatment in
                compare(
                    treatment,
                    arms[treatment]!.tallies,
                    against: controlTallies,
                    experiment: experiment,
                    control: control,
                    sampleRatio: sampleRatio,
                    settings
                )
            }
        }
        return ExperimentResult(
            name: experiment,
            layers: layers.sorted(),
            control: control,
            controlRule: controlRule,
            variants: summaries,
            comparisons: comparisons ?? [],
            sampleRatio: sampleRatio,
            warnings: warnings
        )
    }

    /// "control" when there is one; else the first variant by name that is not the holdout; the holdout only when
    /// it is the one other arm.
    static func chooseControl(_ names: [String]) -> (String?, String) {
        let arms = names.filter { $0 != AnalysisSettings.holdout }
        let hasHoldout = names.contains(AnalysisSettings.holdout)
        if arms.contains(AnalysisSettings.control) {
            return (AnalysisSettings.control, "The variant named control is the control.")
        }
        if arms.count >= 2 {
            return (
                arms[0],
                "No variant is named control, so the first variant by name, \(arms[0]), is the control."
            )
        }
        if arms.count == 1 && hasHoldout {
            return (
                AnalysisSettings.holdout,
                "The holdout is the only other arm, so \(arms[0]) is compared against it."
            )
        }
        return (nil, "Only one arm was served, so there is nothing to compare.")
    }

    private static func summarize(_ name: String, _ arm: Arm, role: String, plannedShare: Double?) -> VariantSummary {
        let tallies = arm.tallies
        let exposures = tallies.reduce(0) { $0 + $1.exposures }
        let rate = { (part: (UserTally) -> Double) -> Double? in
            finite(tallies.reduce(0) { $0 + part($1) } / exposures)
        }
        return VariantSummary(
            name: name,
            role: role,
            plannedShare: plannedShare,
            users: tallies.count,
            exposures: arm.exposures,
            clickThrough: rate(\.clickedExposures),
            conversion: finite(tallies.reduce(0) { $0 + $1.conversions } / Double(tallies.count)),
            ndcg: rate(\.ndcgSum),
            latencyP99Micros: nearestRankPercentile(tallies.flatMap { $0.latenciesMicros.map(Double.init) }, 0.99),
            emptyRate: rate(\.emptyExposures),
            degradedRate: rate(\.degradedExposures)
        )
    }

    /// The estimate of `metric` for one arm's users.
    public static func estimate(_ metric: Metric, _ tallies: [UserTally]) -> Estimate {
        switch metric {
        case .clickThrough:
            Estimate.ratio(numerators: tallies.map(\.clickedExposures), denominators: tallies.map(\.exposures))
        case .conversion:
            Estimate.mean(tallies.map(\.conversions))
        case .ndcg:
            Estimate.ratio(numerators: tallies.map(\.ndcgSum), denominators: tallies.map(\.exposures))
        }
    }

    /// Compares `metric` between two arms' users.
    public static func compare(_ metric: Metric, treatment: [UserTally], control: [UserTally]) -> MetricComparison {
        let t = estimate(metric, treatment)
        let c = estimate(metric, control)
        let difference = Difference(treatment: t, control: c)
        let outcome =
            difference.absolute.isAbove(0)
            ? "better" : difference.absolute.isBelow(0) ? "worse" : "no significant difference"
        return MetricComparison(
            metric: metric,
            method: metric.method,
            control: finite(c.value),
            treatment: finite(t.value),
            absolute: difference.absolute,
            relative: difference.relative,
            pValue: difference.pValue,
            outcome: outcome
        )
    }

    private static func compare(
        _ treatment: String,
        _ treated: [UserTally],
        against controlTallies: [UserTally],
        experiment: String,
        control: String,
        sampleRatio: SampleRatioCheck,
        _ settings: AnalysisSettings
    ) -> Comparison {
        let metrics = Metric.allCases.map { compare($0, treatment: treated, control: controlTallies) }
        var generator = SplitMix64(seed: StableHash.hash(experiment, treatment))
        let guardrails = [
            latencyGuardrail(treated, controlTallies, settings, &generator),
            rateGuardrail(.emptyRate, \.emptyExposures, treated, controlTallies, margin: settings.emptyRateMargin),
            rateGuardrail(
                .degradedRate,
                \.degradedExposures,
                treated,
                controlTallies,
                margin: settings.degradedRateMargin
            ),
        ]
        let success = metrics.first { $0.metric == settings.successMetric }!
        return Comparison(
            variant: treatment,
            metrics: metrics,
            guardrails: guardrails,
            verdict: verdict(success: success, guardrails: guardrails, sampleRatio: sampleRatio, control: control)
        )
    }

    /// The relative change of p99 latency, with a percentile-bootstrap interval over users (a fixed seed per
    /// experiment and variant, so the report is the same on every run). The difference and its interval are both
    /// computed on the latencies' 0.5%-wide buckets, so the estimate lies within its interval; the arms' p99 values
    /// shown beside them are exact.
    static func latencyGuardrail(
        _ treated: [UserTally],
        _ controlTallies: [UserTally],
        _ settings: AnalysisSettings,
        _ generator: inout SplitMix64
    ) -> GuardrailResult {
        let t = nearestRankPercentile(treated.flatMap { $0.latenciesMicros.map(Double.init) }, 0.99)
        let c = nearestRankPercentile(controlTallies.flatMap { $0.latenciesMicros.map(Double.init) }, 0.99)
        var treatedLatencies = UserLatencies()
        var controlLatencies = UserLatencies()
        for tally in treated { treatedLatencies.append(user: tally.latenciesMicros) }
        for tally in controlTallies { controlLatencies.append(user: tally.latenciesMicros) }
        var counts = [Int](repeating: 0, count: LatencyBuckets.count)
        var noResampling: SplitMix64? = nil
        var resampling: SplitMix64? = generator
        defer { generator = resampling! }
        let ratio = { (random: inout SplitMix64?) -> Double? in
            guard let p99T = treatedLatencies.percentile(0.99, counts: &counts, resamplingWith: &random),
                let p99C = controlLatencies.percentile(0.99, counts: &counts, resamplingWith: &random), p99C > 0
            else { return nil }
            return p99T / p99C - 1
        }
        let estimate = ratio(&noResampling)
        var low: Double?
        var high: Double?
        if estimate != nil {
            var ratios: [Double] = []
            ratios.reserveCapacity(settings.bootstrapResamples)
            for _ in 0..<max(0, settings.bootstrapResamples) {
                if let resampled = ratio(&resampling) { ratios.append(resampled) }
            }
            if ratios.count >= 20 {
                ratios.sort()
                low = ratios[Int((0.025 * Double(ratios.count - 1)).rounded())]
                high = ratios[Int((0.975 * Double(ratios.count - 1)).rounded())]
            }
        }
        let difference = Interval(estimate: estimate, low: low, high: high)
        return GuardrailResult(
            guardrail: .latencyP99,
            method: "bootstrap",
            differenceKind: "relative",
            margin: settings.latencyMargin,
            control: c,
            treatment: t,
            difference: difference,
            status: status(difference, margin: settings.latencyMargin)
        )
    }

    private static func rateGuardrail(
        _ guardrail: Guardrail,
        _ part: KeyPath<UserTally, Double>,
        _ treated: [UserTally],
        _ controlTallies: [UserTally],
        margin: Double
    ) -> GuardrailResult {
        let t = Estimate.ratio(numerators: treated.map { $0[keyPath: part] }, denominators: treated.map(\.exposures))
        let c = Estimate.ratio(
            numerators: controlTallies.map { $0[keyPath: part] },
            denominators: controlTallies.map(\.exposures)
        )
        let difference = Difference(treatment: t, control: c).absolute
        return GuardrailResult(
            guardrail: guardrail,
            method: "delta",
            differenceKind: "absolute",
            margin: margin,
            control: finite(c.value),
            treatment: finite(t.value),
            difference: difference,
            status: status(difference, margin: margin)
        )
    }

    static func status(_ difference: Interval, margin: Double) -> String {
        if difference.isBelow(margin) { return "pass" }
        if difference.isAbove(margin) { return "fail" }
        return "inconclusive"
    }

    /// Chi-square goodness of fit of the users per variant against the planned shares, normalised over the
    /// variants that have one (so a holdout with its own share takes part, and shares that do not sum to 1 still
    /// give the planned proportions).
    public static func checkSampleRatio(
        _ variants: [(name: String, plannedShare: Double, users: Int)],
        threshold: Double
    ) -> SampleRatioCheck {
        // A share that is not a positive number (a hand-made or damaged log) cannot be an expectation.
        let variants = variants.filter { $0.plannedShare.isFinite && $0.plannedShare > 0 }
        let totalShare = variants.reduce(0) { $0 + $1.plannedShare }
        let totalUsers = variants.reduce(0) { $0 + $1.users }
        let cells = variants.map { variant in
            SampleRatioCheck.Cell(
                variant: variant.name,
                plannedShare: variant.plannedShare,
                users: variant.users,
                expectedUsers: Double(totalUsers) * variant.plannedShare / totalShare
            )
        }
        guard variants.count >= 2, totalUsers > 0 else {
            return SampleRatioCheck(
                checked: false,
                chiSquare: nil,
                degreesOfFreedom: nil,
                pValue: nil,
                flagged: false,
                threshold: threshold,
                cells: cells,
                note: "Not checked: fewer than two variants with a planned share and users."
            )
        }
        let chiSquare = cells.reduce(0) {
            $0 + (Double($1.users) - $1.expectedUsers) * (Double($1.users) - $1.expectedUsers) / $1.expectedUsers
        }
        let degreesOfFreedom = cells.count - 1
        let p = Distributions.chiSquareSurvival(chiSquare, degreesOfFreedom: degreesOfFreedom)
        let flagged = p < threshold
        let split = cells.map { "\($0.variant) \($0.users) (planned \(formatShare($0.plannedShare)))" }.joined(
            separator: ", "
        )
        let note =
            flagged
            ? "Sample ratio mismatch: \(split); chi-square \(formatNumber(chiSquare, digits: 2)), p = "
                + "\(formatP(p)) < \(formatP(threshold))."
            : "The split matches the plan: \(split); p = \(formatP(p))."
        return SampleRatioCheck(
            checked: true,
            chiSquare: chiSquare,
            degreesOfFreedom: degreesOfFreedom,
            pValue: p,
            flagged: flagged,
            threshold: threshold,
            cells: cells,
            note: note
        )
    }

    /// The reason an SRM gives.
    public static let sampleRatioReason =
        "Sample ratio mismatch: the split is broken, fix assignment before reading results."

    /// Ship when the success metric is significantly better, every guardrail passes and the split is sound; don't
    /// ship when it is significantly worse or a guardrail fails; otherwise inconclusive. A sample-ratio mismatch
    /// makes every verdict inconclusive: no difference read from a broken split can be trusted.
    static func verdict(
        success: MetricComparison,
        guardrails: [GuardrailResult],
        sampleRatio: SampleRatioCheck,
        control: String
    ) -> Verdict {
        let successSentence = describe(success, control: control)
        let guardrailSentences = guardrails.map(describe)
        if sampleRatio.flagged {
            return Verdict(
                decision: "inconclusive",
                reasons: [sampleRatioReason, sampleRatio.note, successSentence] + guardrailSentences
            )
        }
        let failed = guardrails.filter { $0.status == "fail" }
        if success.outcome == "worse" || !failed.isEmpty {
            var reasons: [String] = []
            if success.outcome == "worse" { reasons.append(successSentence) }
            reasons += failed.map(describe)
            if success.outcome != "worse" { reasons.append(successSentence) }
            return Verdict(decision: "don't ship", reasons: reasons)
        }
        if success.outcome == "better" && guardrails.allSatisfy({ $0.status == "pass" }) {
            return Verdict(decision: "ship", reasons: [successSentence] + guardrailSentences)
        }
        let open = guardrails.filter { $0.status != "pass" }.map(describe)
        return Verdict(decision: "inconclusive", reasons: [successSentence] + open)
    }

    static func describe(_ comparison: MetricComparison, control: String) -> String {
        let name = comparison.metric.title
        let change = formatDifference(comparison.absolute, metric: comparison.metric)
        let relative = comparison.relative.estimate.map { " (\(formatSignedPercent($0)))" } ?? ""
        let p = comparison.pValue.map { ", p = \(formatP($0))" } ?? ""
        switch comparison.outcome {
        case "better":
            return "\(name) is significantly higher than \(control): \(change)\(relative)\(p)."
        case "worse":
            return "\(name) is significantly lower than \(control): \(change)\(relative)\(p)."
        default:
            return "\(name) shows no significant difference from \(control): \(change)\(relative)\(p)."
        }
    }

    static func describe(_ guardrail: GuardrailResult) -> String {
        let change = formatGuardrailDifference(guardrail)
        let margin = formatGuardrailMargin(guardrail)
        switch guardrail.status {
        case "pass":
            return "\(guardrail.guardrail.title) guardrail passes: \(change), whose upper bound is below the margin "
                + "\(margin)."
        case "fail":
            return "\(guardrail.guardrail.title) guardrail fails: \(change), whose lower bound is above the margin "
                + "\(margin)."
        default:
            return "\(guardrail.guardrail.title) guardrail is inconclusive: \(change) includes the margin \(margin)."
        }
    }
}

func finite(_ value: Double) -> Double? { value.isFinite ? value : nil }
