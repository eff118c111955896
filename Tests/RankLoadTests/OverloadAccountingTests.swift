import Foundation
import H2GRPC
import Testing

@testable import RankLoad

/// Builds a record of calls with given statuses and latencies, without a server.
private func record(_ calls: [(code: GRPCStatus.Code, milliseconds: Double, count: Int)]) -> PhaseRecord {
    var record = PhaseRecord()
    for call in calls {
        for _ in 0..<call.count {
            record.recordCall(
                intended: 1_000_000,
                sent: 1_000_000,
                firstMessage: nil,
                completed: 1_000_000 + UInt64(call.milliseconds * 1e6),
                code: call.code,
                ending: .status,
                httpStatus: 200
            )
            record.scheduled += 1
            record.dispatchedInWindow += 1
        }
    }
    return record
}

/// A result with one measured phase per record, each `seconds` long at `rate`.
private func result(_ records: [PhaseRecord], seconds: Double, rates: [Double]) -> LoadResult {
    let nanoseconds = UInt64(seconds * 1e9)
    return LoadResult(
        mode: .openLoop(.piecewise(rates.map { ($0, nanoseconds) })),
        phaseNames: records.count == 1 ? ["measured"] : records.indices.map { "step \($0 + 1)" },
        phaseTargetRates: rates,
        phaseDurations: records.map { _ in nanoseconds },
        warmupPhases: 0,
        phases: records,
        abandoned: 0,
        connections: 1,
        streamsPerConnection: 1,
        timeoutNanoseconds: 1_000_000_000,
        workloadName: "synthetic",
        path: "/test.Fake/Echo",
        target: "127.0.0.1:1"
    )
}

@Suite("Overload accounting: latency per status and goodput")
struct OverloadAccountingTests {
    @Test("OK calls and each failure status keep their own latency, and together they are every call")
    func latencyIsKeptPerStatus() throws {
        let phase = record([(.ok, 8, 900), (.resourceExhausted, 0.2, 1000), (.deadlineExceeded, 50, 10)])
        let ok = try #require(phase.latencyByStatus[.ok])
        let shed = try #require(phase.latencyByStatus[.resourceExhausted])
        #expect(ok.count == 900)
        #expect(shed.count == 1000)
        #expect(phase.latencyByStatus[.unavailable] == nil)
        #expect(abs(Double(ok.valueAtPercentile(99)) - 8e6) < 8e6 * 0.002)
        #expect(abs(Double(shed.valueAtPercentile(99)) - 0.2e6) < 0.2e6 * 0.002)
        #expect(phase.latencyByStatus.count == phase.corrected.count)
        #expect(Set(phase.latencyByStatus.byName.keys) == ["OK", "RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"])
        // The blend describes neither: its median is a refusal, its p99 is above every admitted call.
        #expect(phase.corrected.valueAtPercentile(50) < 1_000_000)
        #expect(phase.corrected.valueAtPercentile(99.9) > ok.max)
    }

    @Test("merging per-loop records adds latencies status by status, including statuses only one loop saw")
    func mergeAddsPerStatus() throws {
        var first = record([(.ok, 1, 10)])
        let second = record([(.ok, 3, 10), (.resourceExhausted, 0.1, 5)])
        first.add(second)
        let ok = try #require(first.latencyByStatus[.ok])
        #expect(ok.count == 20)
        #expect(ok.max >= 3_000_000)
        #expect(first.latencyByStatus[.resourceExhausted]?.count == 5)
        #expect(first.statuses.countsByName == ["OK": 20, "RESOURCE_EXHAUSTED": 5])
    }

    @Test(
        "goodput is OK calls per second of the measured window, whatever else the server answered",
        arguments: [
            (ok: 1200, shed: 800, seconds: 2.0, goodput: 600.0), (ok: 500, shed: 0, seconds: 0.5, goodput: 1000),
        ]
    )
    func goodput(_ case_: (ok: Int, shed: Int, seconds: Double, goodput: Double)) {
        let phase = record([(.ok, 2, case_.ok), (.resourceExhausted, 0.1, case_.shed)])
        let rate = Double(case_.ok + case_.shed) / case_.seconds
        let report = RunReport(result: result([phase], seconds: case_.seconds, rates: [rate]))
        #expect(report.goodputRPS == case_.goodput)
        #expect(report.completedRPS == rate)
        #expect(report.phases.first?.goodputRPS == case_.goodput)
    }

    @Test("the report gives p50, p99 and p99.9 of OK and of RESOURCE_EXHAUSTED, in JSON and in the table")
    func reportShowsEachStatus() throws {
        let phase = record([(.ok, 6, 990), (.ok, 9, 10), (.resourceExhausted, 0.3, 1000)])
        let report = RunReport(result: result([phase], seconds: 1, rates: [2000]))
        let ok = try #require(report.latencyByStatusMs["OK"])
        let shed = try #require(report.latencyByStatusMs["RESOURCE_EXHAUSTED"])
        #expect(ok.count == 1000 && shed.count == 1000)
        // Within the histogram's three significant digits.
        #expect(abs(ok.p50 - 6) < 0.01 && abs(ok.p999 - 9) < 0.01)
        #expect(shed.p50 == 0.3 && shed.p99 == 0.3 && shed.p999 == 0.3)
        #expect(report.goodputRPS == 1000)

        let json = try JSONSerialization.jsonObject(with: try report.json()) as? [String: Any]
        let byStatus = json?["latency_by_status_ms"] as? [String: [String: Any]]
        for name in ["OK", "RESOURCE_EXHAUSTED"] {
            for key in ["p50", "p99", "p999", "count"] {
                #expect(byStatus?[name]?[key] != nil, "missing latency_by_status_ms.\(name).\(key)")
            }
        }
        #expect(json?["goodput_rps"] as? Double == 1000)
        #expect(json?["windows"] == nil)

        let table = report.table
        #expect(table.contains("  OK ms"))
        #expect(table.contains("  RESOURCE_EXHAUSTED ms"))
        #expect(table.contains("goodput 1000 OK/s"))
    }

    @Test("each step of a schedule has its own goodput and per-status latency, and the table lists them")
    func phasesCarryGoodput() throws {
        let calm = record([(.ok, 1, 600)])
        let surge = record([(.ok, 7, 1100), (.resourceExhausted, 0.2, 1300)])
        let report = RunReport(result: result([calm, surge, calm], seconds: 1, rates: [600, 2400, 600]))
        #expect(report.phases.map(\.goodputRPS) == [600, 1100, 600])
        #expect(report.phases.map(\.startS) == [0, 1, 2])
        #expect(report.phases[1].latencyByStatusMs["RESOURCE_EXHAUSTED"]?.count == 1300)
        #expect(report.phases[0].latencyByStatusMs.keys.sorted() == ["OK"])
        let table = report.table
        #expect(table.contains("step 2"))
        // The surge shows the blend ("all") and each status on its own row.
        let surgeRows = table.split(separator: "\n").drop { !$0.contains("step 2") }.prefix(3)
        #expect(surgeRows.count == 3)
        #expect(surgeRows.first?.contains("all") == true)
        #expect(surgeRows.dropFirst().first?.contains("OK") == true)
        #expect(surgeRows.last?.contains("RESOURCE_EXHAUSTED") == true)
    }

    @Test("statuses are listed OK first, then failures by count")
    func statusOrder() {
        let summaries = record([(.unavailable, 1, 2), (.resourceExhausted, 1, 5), (.ok, 1, 1)])
            .latencyByStatus.byName.mapValues(LatencySummary.init)
        #expect(RunReport.byStatus(summaries).map(\.0) == ["OK", "RESOURCE_EXHAUSTED", "UNAVAILABLE"])
    }
}
