@testable import RankLoad

/// Builds results without a server, for judging logic: one measured phase of one second.
enum Synthetic {
    static func result(
        targetRate: Double,
        dispatched: UInt64,
        latencyNanoseconds: UInt64,
        lagNanoseconds: UInt64 = 50_000,
        failures: UInt64 = 0
    ) -> LoadResult {
        var record = PhaseRecord()
        let calls = max(dispatched, 1)
        for index in 0..<calls {
            record.recordCall(
                intended: 0,
                sent: 0,
                firstMessage: nil,
                completed: latencyNanoseconds,
                code: index < failures ? .unavailable : .ok,
                ending: .status,
                httpStatus: 200
            )
            record.schedulingLag.record(nanoseconds: lagNanoseconds)
        }
        record.scheduled = calls
        record.dispatchedInWindow = dispatched
        return LoadResult(
            mode: .openLoop(.constant(rate: targetRate, durationNanoseconds: 1_000_000_000)),
            phaseNames: ["measured"],
            phaseTargetRates: [targetRate],
            phaseDurations: [1_000_000_000],
            warmupPhases: 0,
            phases: [record],
            abandoned: 0,
            connections: 1,
            streamsPerConnection: 1,
            timeoutNanoseconds: 1_000_000_000,
            workloadName: "synthetic",
            path: "/test.Fake/Echo",
            target: "127.0.0.1:1"
        )
    }
}
