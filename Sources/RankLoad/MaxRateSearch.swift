import Foundation

/// Searches for the highest constant rate at which a server holds an SLO.
///
/// The rate doubles from a starting guess until a trial breaches the SLO, then the interval between the last
/// passing and the first failing rate is bisected (geometrically) until it is narrower than `precision`. A trial in
/// which the generator could not keep up (an invalid run) proves nothing about the server, so the search stops there
/// and reports its best rate as a lower bound limited by the generator, never as the server's limit. A breach is
/// confirmed by a second trial at the same rate before the rate counts as failing (``confirmBreaches``).
public struct MaxRateSearch {
    /// One trial.
    public struct Trial: Codable, Sendable {
        /// Offered rate.
        public var rate: Double
        /// Whether the run was valid.
        public var valid: Bool
        /// Whether the SLO held (false for invalid runs).
        public var sloMet: Bool
        /// Corrected latency percentiles.
        public var latencyMs: LatencySummary
        /// Achieved rate.
        public var achievedRPS: Double
        /// Share of failed calls.
        public var errorRate: Double
        /// Breaches and invalidity reasons.
        public var notes: [String]

        enum CodingKeys: String, CodingKey {
            case rate, valid
            case sloMet = "slo_met"
            case latencyMs = "latency_ms"
            case achievedRPS = "achieved_rps"
            case
                errorRate = "error_rate"
            case notes
        }
    }

    /// The search's answer.
    public struct Outcome: Codable, Sendable {
        /// The SLO searched under.
        public var slo: String
        /// Highest rate that held the SLO in a valid run; nil when even the lowest tried rate failed.
        public var maxRPS: Double?
        /// Lowest rate that breached it, if one was found.
        public var firstFailingRPS: Double?
        /// True when the search ended because the generator could not keep up: `maxRPS` is then only a lower bound.
        public var limitedByGenerator: Bool
        /// Every trial in the order run.
        public var trials: [Trial]

        enum CodingKeys: String, CodingKey {
            case slo
            case maxRPS = "max_rps"
            case firstFailingRPS = "first_failing_rps"
            case
                limitedByGenerator = "limited_by_generator"
            case trials
        }
    }

    /// The objective.
    public var slo: ServiceLevelObjective
    /// First rate tried.
    public var startRate: Double
    /// Stop when failing/passing rate is at most 1 + precision.
    public var precision: Double = 0.05
    /// Most trials run.
    public var maxTrials: Int = 20
    /// Highest rate tried.
    public var maxRate: Double = 1_000_000
    /// Lowest rate tried when going down.
    public var minRate: Double = 1
    /// Re-run a breaching trial once at the same rate and count the rate as failing only when both breach. On a
    /// shared machine a neighbour's burst can breach a tight SLO once; two breaches in a row are the server.
    public var confirmBreaches = true

    /// Creates a search.
    public init(slo: ServiceLevelObjective, startRate: Double) {
        self.slo = slo
        self.startRate = startRate
    }

    /// Runs trials with `trial` (which runs one load test at a rate and returns its report) and `log` for progress.
    public func run(trial: (Double) throws -> RunReport, log: (String) -> Void = { _ in }) rethrows -> Outcome {
        var trials: [Trial] = []
        var passing: Double?
        var failing: Double?
        var limited = false
        var rate = Swift.min(Swift.max(startRate, minRate), maxRate)
        var confirming = false
        while trials.count < maxTrials {
            let report = try trial(rate)
            let met = report.valid && (report.sloMet ?? false)
            let notes = report.invalidReasons + (report.sloBreaches ?? [])
            trials.append(
                Trial(
                    rate: rate,
                    valid: report.valid,
                    sloMet: met,
                    latencyMs: report.latencyMs,
                    achievedRPS: report.achievedRPS,
                    errorRate: report.errorRate,
                    notes: notes
                )
            )
            let verdict = !report.valid ? "INVALID (generator)" : met ? "SLO met" : "SLO breached"
            log(
                "trial \(trials.count): \(trimmed(rate)) req/s -> p99 \(String(format: "%.3f", report.latencyMs.p99)) ms, "
                    + "errors \(formatPercent(report.errorRate)): \(verdict)"
                    + (notes.isEmpty ? "" : " (" + notes.joined(separator: "; ") + ")")
                    + (confirming ? " [confirmation]" : "")
            )
            if !report.valid {
                limited = true
                break
            }
            if !met && confirmBreaches && !confirming {
                confirming = true
                continue
            }
            confirming = false
            if met {
                passing = Swift.max(passing ?? 0, rate)
            } else {
                failing = Swift.min(failing ?? .infinity, rate)
            }
            guard let next = nextRate(passing: passing, failing: failing) else { break }
            rate = next
        }
        return Outcome(
            slo: slo.description,
            maxRPS: passing,
            firstFailingRPS: failing,
            limitedByGenerator: limited,
            trials: trials
        )
    }

    /// The next rate to try, or nil when the interval is narrow enough or the limits are reached.
    func nextRate(passing: Double?, failing: Double?) -> Double? {
        switch (passing, failing) {
        case (let pass?, nil):
            return pass >= maxRate ? nil : Swift.min(pass * 2, maxRate)
        case (nil, let fail?):
            return fail <= minRate ? nil : Swift.max(fail / 2, minRate)
        case (let pass?, let fail?):
            if fail / pass <= 1 + precision { return nil }
            // Whole requests per second where that still splits the interval; finer below ~20 req/s.
            let middle = (pass * fail).squareRoot()
            let rounded = middle.rounded()
            let next = rounded > pass && rounded < fail ? rounded : (middle * 100).rounded() / 100
            return next > pass && next < fail ? next : nil
        case (nil, nil):
            return nil
        }
    }
}
