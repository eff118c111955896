/// The metrics compared between variants; all three are better when higher.
public enum Metric: String, Sendable, CaseIterable, Codable {
    /// Share of exposures with at least one click (or play): a ratio metric clustered by user.
    case clickThrough = "click_through"
    /// Orders (or completed plays) per user: a per-user mean.
    case conversion
    /// Mean NDCG@10 of realised outcomes per exposure: a ratio metric clustered by user.
    case ndcg

    /// How its interval is computed: "delta" (ratio clustered by user) or "welch" (per-user mean).
    public var method: String { self == .conversion ? "welch" : "delta" }

    /// Its name for people.
    public var title: String {
        switch self {
        case .clickThrough: "Click-through"
        case .conversion: "Conversions per user"
        case .ndcg: "NDCG@10"
        }
    }
}

/// The guardrails: what a treatment must not make worse by more than a margin.
public enum Guardrail: String, Sendable, CaseIterable, Codable {
    /// The 99th percentile of answer latency; margin relative.
    case latencyP99 = "latency_p99"
    /// Share of exposures with no items; margin absolute.
    case emptyRate = "empty_rate"
    /// Share of exposures with a degraded stage; margin absolute.
    case degradedRate = "degraded_rate"

    /// Its name for people.
    public var title: String {
        switch self {
        case .latencyP99: "Latency p99"
        case .emptyRate: "Empty answers"
        case .degradedRate: "Degraded answers"
        }
    }
}

/// What the analysis found in the logs: one result per experiment.
public struct ExperimentReport: Sendable, Encodable {
    /// What a treatment must improve to ship.
    public var successMetric: Metric
    /// The join's window for events without a request id.
    public var attributionWindowHours: Double
    /// What the join attributed and left out.
    public var join: JoinSummary
    /// By name.
    public var experiments: [ExperimentResult]

    enum CodingKeys: String, CodingKey {
        case successMetric = "success_metric"
        case attributionWindowHours = "attribution_window_hours"
        case join, experiments
    }
}

/// One experiment: its variants, each treatment against the control, the sample-ratio check.
public struct ExperimentResult: Sendable, Encodable {
    public var name: String
    /// The layers its assignments came from.
    public var layers: [String]
    /// The variant treatments are compared against; nil when there is only one arm.
    public var control: String?
    /// Why that variant is the control, as a sentence.
    public var controlRule: String
    /// Every variant served, by name.
    public var variants: [VariantSummary]
    /// One per treatment variant, by name.
    public var comparisons: [Comparison]
    /// Users per variant against the planned split.
    public var sampleRatio: SampleRatioCheck
    /// Things in the data a reader should know (users in two variants, disagreeing planned shares).
    public var warnings: [String]

    enum CodingKeys: String, CodingKey {
        case name, layers, control
        case controlRule = "control_rule"
        case variants, comparisons
        case sampleRatio = "sample_ratio"
        case warnings
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(layers, forKey: .layers)
        try container.encode(control, forKey: .control)
        try container.encode(controlRule, forKey: .controlRule)
        try container.encode(variants, forKey: .variants)
        try container.encode(comparisons, forKey: .comparisons)
        try container.encode(sampleRatio, forKey: .sampleRatio)
        try container.encode(warnings, forKey: .warnings)
    }
}

/// One variant's numbers.
public struct VariantSummary: Sendable, Encodable {
    public var name: String
    /// "control", "treatment" or "holdout" (a holdout is the control only when it is the one other arm).
    public var role: String
    /// From the records; nil when they carry none.
    public var plannedShare: Double?
    public var users: Int
    public var exposures: Int
    public var clickThrough: Double?
    public var conversion: Double?
    public var ndcg: Double?
    public var latencyP99Micros: Double?
    public var emptyRate: Double?
    public var degradedRate: Double?

    /// The value of `metric`.
    public func value(_ metric: Metric) -> Double? {
        switch metric {
        case .clickThrough: clickThrough
        case .conversion: conversion
        case .ndcg: ndcg
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, role
        case plannedShare = "planned_share"
        case users, exposures
        case clickThrough = "click_through"
        case conversion, ndcg
        case latencyP99Micros = "latency_p99_micros"
        case emptyRate = "empty_rate"
        case degradedRate = "degraded_rate"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encode(plannedShare, forKey: .plannedShare)
        try container.encode(users, forKey: .users)
        try container.encode(exposures, forKey: .exposures)
        try container.encode(clickThrough, forKey: .clickThrough)
        try container.encode(conversion, forKey: .conversion)
        try container.encode(ndcg, forKey: .ndcg)
        try container.encode(latencyP99Micros, forKey: .latencyP99Micros)
        try container.encode(emptyRate, forKey: .emptyRate)
        try container.encode(degradedRate, forKey: .degradedRate)
    }
}

/// One treatment variant against the control.
public struct Comparison: Sendable, Encodable {
    public var variant: String
    /// Every metric, the success metric among them.
    public var metrics: [MetricComparison]
    /// Latency p99, empty and degraded answers.
    public var guardrails: [GuardrailResult]
    public var verdict: Verdict

    /// The comparison of `metric`.
    public func metric(_ metric: Metric) -> MetricComparison? {
        metrics.first { $0.metric == metric }
    }

    /// The result of `guardrail`.
    public func guardrail(_ guardrail: Guardrail) -> GuardrailResult? {
        guardrails.first { $0.guardrail == guardrail }
    }
}

/// A metric's difference, treatment − control.
public struct MetricComparison: Sendable, Encodable {
    public var metric: Metric
    /// "delta" or "welch".
    public var method: String
    public var control: Double?
    public var treatment: Double?
    /// treatment − control.
    public var absolute: Interval
    /// treatment / control − 1.
    public var relative: Interval
    /// Two-sided, for no difference.
    public var pValue: Double?
    /// "better" (interval above 0), "worse" (below 0) or "no significant difference".
    public var outcome: String

    enum CodingKeys: String, CodingKey {
        case metric, method, control, treatment, absolute, relative
        case pValue = "p_value"
        case outcome
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(metric, forKey: .metric)
        try container.encode(method, forKey: .method)
        try container.encode(control, forKey: .control)
        try container.encode(treatment, forKey: .treatment)
        try container.encode(absolute, forKey: .absolute)
        try container.encode(relative, forKey: .relative)
        try container.encode(pValue, forKey: .pValue)
        try container.encode(outcome, forKey: .outcome)
    }
}

/// A guardrail's non-inferiority test.
public struct GuardrailResult: Sendable, Encodable {
    public var guardrail: Guardrail
    /// "bootstrap" (latency, percentile interval over users) or "delta".
    public var method: String
    /// "relative" (treatment / control − 1) or "absolute" (treatment − control).
    public var differenceKind: String
    /// The most the treatment may be worse by.
    public var margin: Double
    public var control: Double?
    public var treatment: Double?
    /// treatment against control, in `differenceKind`.
    public var difference: Interval
    /// "pass": the interval's upper bound is below the margin; "fail": its lower bound is above it;
    /// "inconclusive" otherwise.
    public var status: String

    enum CodingKeys: String, CodingKey {
        case guardrail = "name"
        case method
        case differenceKind = "difference_kind"
        case margin, control, treatment, difference, status
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(guardrail, forKey: .guardrail)
        try container.encode(method, forKey: .method)
        try container.encode(differenceKind, forKey: .differenceKind)
        try container.encode(margin, forKey: .margin)
        try container.encode(control, forKey: .control)
        try container.encode(treatment, forKey: .treatment)
        try container.encode(difference, forKey: .difference)
        try container.encode(status, forKey: .status)
    }
}

/// What to do with a treatment, and why.
public struct Verdict: Sendable, Encodable, Equatable {
    /// "ship", "don't ship" or "inconclusive".
    public var decision: String
    /// Sentences.
    public var reasons: [String]
}

/// Chi-square goodness of fit of users per variant against the planned shares.
public struct SampleRatioCheck: Sendable, Encodable {
    /// One variant's observed and expected users.
    public struct Cell: Sendable, Encodable {
        public var variant: String
        public var plannedShare: Double
        public var users: Int
        /// Users the planned share expects of all the check's users.
        public var expectedUsers: Double

        enum CodingKeys: String, CodingKey {
            case variant
            case plannedShare = "planned_share"
            case users
            case expectedUsers = "expected_users"
        }
    }

    /// False when fewer than two variants have a planned share.
    public var checked: Bool
    /// Σ (observed − expected)² / expected.
    public var chiSquare: Double?
    public var degreesOfFreedom: Int?
    /// P(χ² ≥ the statistic) for the plan being followed.
    public var pValue: Double?
    /// p < threshold.
    public var flagged: Bool
    /// The p-value below which the split is flagged.
    public var threshold: Double
    public var cells: [Cell]
    /// A sentence for people.
    public var note: String

    enum CodingKeys: String, CodingKey {
        case checked
        case chiSquare = "chi_square"
        case degreesOfFreedom = "degrees_of_freedom"
        case pValue = "p_value"
        case flagged, threshold, cells, note
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(checked, forKey: .checked)
        try container.encode(chiSquare, forKey: .chiSquare)
        try container.encode(degreesOfFreedom, forKey: .degreesOfFreedom)
        try container.encode(pValue, forKey: .pValue)
        try container.encode(flagged, forKey: .flagged)
        try container.encode(threshold, forKey: .threshold)
        try container.encode(cells, forKey: .cells)
        try container.encode(note, forKey: .note)
    }
}

extension Interval {
    enum CodingKeys: String, CodingKey {
        case estimate, low, high
    }

    /// Always writes all three keys; an undefined bound is null.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(estimate, forKey: .estimate)
        try container.encode(low, forKey: .low)
        try container.encode(high, forKey: .high)
    }
}
