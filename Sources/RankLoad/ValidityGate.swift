/// Decides whether a run measured the server or the load generator.
///
/// A generator that cannot keep up sends less than asked and late; its numbers then describe itself, so such a run
/// is marked invalid instead of being read as a slow server: when the achieved rate of any measured phase falls
/// below `minAchievedFraction` of its target, or the generator's own scheduling lag p99 is above
/// `maxSchedulingLagP99Nanoseconds`.
public struct ValidityGate: Sendable, Equatable {
    /// Lowest acceptable achieved/target rate ratio per measured phase.
    public var minAchievedFraction: Double = 0.99
    /// Highest acceptable p99 of the scheduling lag (dispatch by the generator's loop minus intended time).
    public var maxSchedulingLagP99Nanoseconds: UInt64 = 5_000_000

    /// The default gate: 99% of the target rate, lag p99 at most 5 ms.
    public init() {}

    /// Creates a gate with explicit thresholds.
    public init(minAchievedFraction: Double, maxSchedulingLagP99Nanoseconds: UInt64) {
        self.minAchievedFraction = minAchievedFraction
        self.maxSchedulingLagP99Nanoseconds = maxSchedulingLagP99Nanoseconds
    }

    /// The reasons a run is invalid; empty when it is valid.
    public func problems(_ result: LoadResult) -> [String] {
        guard result.isOpenLoop else { return [] }
        var problems: [String] = []
        for phase in result.warmupPhases..<result.phases.count {
            let seconds = Double(result.phaseDurations[phase]) / 1e9
            let expected = result.phaseTargetRates[phase] * seconds
            guard expected > 0 else { continue }
            let dispatched = Double(result.phases[phase].dispatchedInWindow)
            // One request of slack: a window holds floor or ceil of rate x duration sends.
            if dispatched + 1 < minAchievedFraction * expected {
                let label = result.phases.count - result.warmupPhases == 1 ? "" : " in \(result.phaseNames[phase])"
                problems.append(
                    "achieved rate \(trimmed(dispatched / seconds)) req/s\(label) is below "
                        + "\(formatPercent(minAchievedFraction)) of the target \(trimmed(expected / seconds)) req/s"
                )
            }
        }
        let lag = result.measured.schedulingLag
        let lagP99 = lag.valueAtPercentile(99)
        if lag.count > 0 && lagP99 > maxSchedulingLagP99Nanoseconds {
            problems.append(
                "the generator's scheduling lag p99 \(formatDuration(lagP99)) is above "
                    + "\(formatDuration(maxSchedulingLagP99Nanoseconds)): the load generator is saturated"
            )
        }
        if result.abandoned > 0 {
            problems.append("\(result.abandoned) calls were still open when the run was cut off")
        }
        return problems
    }
}
