/// A latency and error objective a run is judged against, e.g. "p99 <= 10 ms and at most 0.1% errors".
public struct ServiceLevelObjective: Sendable, Equatable, CustomStringConvertible {
    /// One latency bound: the percentile (e.g. 99.9) must be at or below `maxNanoseconds`.
    public struct LatencyBound: Sendable, Equatable {
        /// Percentile in 0...100.
        public var percentile: Double
        /// Highest acceptable latency at that percentile.
        public var maxNanoseconds: UInt64

        /// Creates a bound.
        public init(percentile: Double, maxNanoseconds: UInt64) {
            self.percentile = percentile
            self.maxNanoseconds = maxNanoseconds
        }
    }

    /// Latency bounds, all of which must hold.
    public var latency: [LatencyBound]
    /// Highest acceptable share of calls that did not end with OK.
    public var maxErrorFraction: Double

    /// Creates an objective.
    public init(latency: [LatencyBound], maxErrorFraction: Double = 0.001) {
        self.latency = latency
        self.maxErrorFraction = maxErrorFraction
    }

    /// Parses "p99=10ms", "p50=2ms,p99.9=25ms" or "p99=10ms,errors=0.5%". Without `errors=` at most 0.1% of calls
    /// may fail, so that a server that answers fast by failing cannot meet an objective.
    public static func parse(_ text: String) throws -> ServiceLevelObjective {
        var bounds: [LatencyBound] = []
        var errors = 0.001
        for part in text.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else {
                throw LoadParsing.InvalidValue(
                    description: "\"\(part)\" is not KEY=VALUE; use e.g. p99=10ms,errors=0.1%"
                )
            }
            let key = pair[0].lowercased()
            if key == "errors" || key == "error_rate" {
                errors = try LoadParsing.fraction(pair[1])
                continue
            }
            guard key.hasPrefix("p"), let percentile = percentileValue(String(key.dropFirst())) else {
                throw LoadParsing.InvalidValue(
                    description: "\"\(pair[0])\" is not a percentile such as p50, p99, p99.9 or p999, nor errors"
                )
            }
            bounds.append(LatencyBound(percentile: percentile, maxNanoseconds: try LoadParsing.nanoseconds(pair[1])))
        }
        guard !bounds.isEmpty else {
            throw LoadParsing.InvalidValue(description: "an SLO needs at least one latency bound, e.g. p99=10ms")
        }
        return ServiceLevelObjective(latency: bounds, maxErrorFraction: errors)
    }

    /// "99" -> 99, "99.9" -> 99.9, and the "999"/"9999" shorthand -> 99.9/99.99.
    static func percentileValue(_ text: String) -> Double? {
        if text.contains(".") {
            guard let value = Double(text), value > 0, value < 100 else { return nil }
            return value
        }
        guard !text.isEmpty, text.allSatisfy(\.isNumber), let whole = Double(text) else { return nil }
        if whole < 100 { return whole > 0 ? whole : nil }
        // "999" means 99.9: the digits after the leading "99" are decimals.
        guard text.hasPrefix("99") else { return nil }
        return Double("99." + text.dropFirst(2))
    }

    /// The bound on p99, when there is one; used for headlines such as "max RPS under p99 <= 10 ms".
    public var p99Bound: UInt64? { latency.first { $0.percentile == 99 }?.maxNanoseconds }

    /// "p99<=10ms, errors<=0.1%".
    public var description: String {
        let parts = latency.map { "p\(formatPercentile($0.percentile))<=\(formatDuration($0.maxNanoseconds))" }
        // An objective that tolerates every error (--max-p99 alone) says nothing about errors.
        let errors = maxErrorFraction >= 1 ? [] : ["errors<=\(formatPercent(maxErrorFraction))"]
        return (parts + errors).joined(separator: ", ")
    }
}

/// Verdict of one objective on one run.
public struct ObjectiveVerdict: Sendable, Codable, Equatable {
    /// Whether every bound held.
    public var met: Bool
    /// One line per breached bound, e.g. "p99 12.3 ms > 10 ms".
    public var breaches: [String]
}

extension ServiceLevelObjective {
    /// Judges a latency histogram and the share of failed calls.
    public func evaluate(latency histogram: LatencyHistogram, errorFraction: Double) -> ObjectiveVerdict {
        var breaches: [String] = []
        for bound in latency {
            let value = histogram.valueAtPercentile(bound.percentile)
            if histogram.count == 0 || value > bound.maxNanoseconds {
                let measured = histogram.count == 0 ? "no calls" : formatDuration(value)
                breaches.append(
                    "p\(formatPercentile(bound.percentile)) \(measured) > \(formatDuration(bound.maxNanoseconds))"
                )
            }
        }
        if errorFraction > maxErrorFraction {
            breaches.append("errors \(formatPercent(errorFraction)) > \(formatPercent(maxErrorFraction))")
        }
        return ObjectiveVerdict(met: breaches.isEmpty, breaches: breaches)
    }
}
