import Foundation

// Numbers as the text table, the HTML page and the verdicts' sentences print them.

func formatNumber(_ value: Double, digits: Int) -> String {
    String(format: "%.\(digits)f", value)
}

func formatSigned(_ value: Double, digits: Int) -> String {
    let text = String(format: "%.\(digits)f", value)
    // A tiny negative number rounds to "-0.0"; it is printed as "+0.0".
    if text.hasPrefix("-") && text.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { return "+" + text.dropFirst() }
    return (value >= 0 ? "+" : "") + text
}

/// A p-value: four decimals, or scientific notation below 0.0001 (so 1e-12 does not print as 0).
func formatP(_ p: Double) -> String {
    p < 0.000_1 ? String(format: "%.1e", p) : String(format: "%.4f", p)
}

/// A fraction as a signed percentage: 0.123 → "+12.3%".
func formatSignedPercent(_ fraction: Double) -> String {
    formatSigned(fraction * 100, digits: 1) + "%"
}

/// A planned share: 0.5 → "50%".
func formatShare(_ share: Double) -> String {
    String(format: "%.4g%%", share * 100)
}

/// A metric's value as its table prints it.
func formatValue(_ value: Double?, metric: Metric) -> String {
    guard let value else { return "n/a" }
    switch metric {
    case .clickThrough: return formatNumber(value * 100, digits: 2) + "%"
    case .conversion: return formatNumber(value, digits: 4)
    case .ndcg: return formatNumber(value, digits: 4)
    }
}

/// A metric's absolute difference: percentage points for click-through, plain numbers otherwise.
func formatDelta(_ value: Double?, metric: Metric) -> String {
    guard let value else { return "n/a" }
    switch metric {
    case .clickThrough: return formatSigned(value * 100, digits: 2) + " pp"
    case .conversion, .ndcg: return formatSigned(value, digits: 4)
    }
}

/// "+1.20 pp (95% interval +0.40 pp to +2.00 pp)".
func formatDifference(_ interval: Interval, metric: Metric) -> String {
    let estimate = formatDelta(interval.estimate, metric: metric)
    guard interval.low != nil || interval.high != nil else { return estimate + " (no interval)" }
    return "\(estimate) (95% interval \(formatDelta(interval.low, metric: metric)) to "
        + "\(formatDelta(interval.high, metric: metric)))"
}

/// A guardrail's difference in its own unit: percent for relative ones, percentage points for rates.
func formatGuardrailDelta(_ value: Double?, _ guardrail: GuardrailResult) -> String {
    guard let value else { return "n/a" }
    if guardrail.differenceKind == "relative" { return formatSignedPercent(value) }
    return formatSigned(value * 100, digits: 2) + " pp"
}

func formatGuardrailDifference(_ guardrail: GuardrailResult) -> String {
    let interval = guardrail.difference
    let estimate = formatGuardrailDelta(interval.estimate, guardrail)
    guard interval.low != nil || interval.high != nil else { return estimate + " (no interval)" }
    return "\(estimate) (95% interval \(formatGuardrailDelta(interval.low, guardrail)) to "
        + "\(formatGuardrailDelta(interval.high, guardrail)))"
}

func formatGuardrailMargin(_ guardrail: GuardrailResult) -> String {
    formatGuardrailDelta(guardrail.margin, guardrail)
}

/// A guardrail's value in one arm: milliseconds for latency, percent for rates.
func formatGuardrailValue(_ value: Double?, _ guardrail: Guardrail) -> String {
    guard let value else { return "n/a" }
    switch guardrail {
    case .latencyP99: return formatNumber(value / 1000, digits: 2) + " ms"
    case .emptyRate, .degradedRate: return formatNumber(value * 100, digits: 2) + "%"
    }
}
