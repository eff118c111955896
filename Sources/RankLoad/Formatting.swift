import Foundation

/// "10ms", "1.5s", "800us": the shortest readable form of a duration in nanoseconds.
func formatDuration(_ nanoseconds: UInt64) -> String {
    let value = Double(nanoseconds)
    if value >= 1e9 { return trimmed(value / 1e9) + "s" }
    if value >= 1e6 { return trimmed(value / 1e6) + "ms" }
    if value >= 1e3 { return trimmed(value / 1e3) + "us" }
    return "\(nanoseconds)ns"
}

/// "99", "99.9", "99.99".
func formatPercentile(_ percentile: Double) -> String { trimmed(percentile) }

/// "0.1%".
func formatPercent(_ fraction: Double) -> String { trimmed(fraction * 100) + "%" }

/// Milliseconds with three decimals, the resolution of the histograms at sub-millisecond latencies.
func formatMilliseconds(_ nanoseconds: UInt64) -> String { String(format: "%.3f", Double(nanoseconds) / 1e6) }

/// A number without trailing zeros, at most four decimals.
func trimmed(_ value: Double) -> String {
    var text = String(format: "%.4f", value)
    while text.hasSuffix("0") { text.removeLast() }
    if text.hasSuffix(".") { text.removeLast() }
    return text
}
