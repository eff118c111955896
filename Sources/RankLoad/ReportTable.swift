import Foundation

extension RunReport {
    /// The human report: a latency table (every call, then per grpc-status), target against achieved rate and
    /// goodput, per-phase and per-window tables, counts per status, and the verdict.
    public var table: String {
        var lines: [String] = []
        lines.append("rank-load \(method) -> \(target)")
        let schedule =
            mode == "open-loop"
            ? "open-loop, target \(trimmed(targetRPS)) req/s"
            : "closed-loop (latency NOT corrected for coordinated omission)"
        lines.append(
            "\(schedule), \(trimmed(durationS)) s measured after \(trimmed(warmupS)) s warm-up, "
                + "\(connections) connections x \(streamsPerConnection) streams, "
                + (timeoutMs > 0 ? "timeout \(trimmed(timeoutMs)) ms" : "no deadline")
        )
        lines.append("workload: \(workload)")
        lines.append("")
        let header = ["", "min", "p50", "p90", "p99", "p99.9", "p99.99", "max", "count"]
        var rows: [[String]] = [header]
        func row(_ name: String, _ summary: LatencySummary) -> [String] {
            [name]
                + [summary.min, summary.p50, summary.p90, summary.p99, summary.p999, summary.p9999, summary.max]
                .map { String(format: "%.3f", $0) } + [String(summary.count)]
        }
        rows.append(row("latency ms", latencyMs))
        for (name, summary) in Self.byStatus(latencyByStatusMs) { rows.append(row("  \(name) ms", summary)) }
        rows.append(row("uncorrected ms", uncorrectedLatencyMs))
        if let firstMessageMs { rows.append(row("first message ms", firstMessageMs)) }
        rows.append(row("sched. lag ms", schedulingLagMs))
        lines += Self.aligned(rows, leftColumns: 1)
        lines.append("")
        if mode == "open-loop" {
            let share = targetRPS > 0 ? achievedRPS / targetRPS * 100 : 0
            lines.append(
                "rate: target \(trimmed(targetRPS)) req/s, achieved \(trimmed(achievedRPS)) req/s "
                    + "(\(String(format: "%.1f", share))%), completed \(trimmed(completedRPS)) req/s, "
                    + "goodput \(trimmed(goodputRPS)) OK/s"
            )
        } else {
            lines.append(
                "rate: achieved \(trimmed(achievedRPS)) req/s, completed \(trimmed(completedRPS)) req/s, "
                    + "goodput \(trimmed(goodputRPS)) OK/s"
            )
        }
        if phases.count - (warmup == nil ? 0 : 1) > 1 {
            lines.append("")
            lines += Self.phaseTable(title: "phase", phases.filter { $0.name != "warm-up" })
        }
        if let windows, let windowS {
            lines.append("")
            lines += Self.phaseTable(title: "\(trimmed(windowS)) s window", windows)
        }
        if phases.count - (warmup == nil ? 0 : 1) > 1 || windows != nil { lines.append("") }
        let statuses = statusCounts.sorted { $0.value > $1.value }.map { "\($0.key) \($0.value)" }
        lines.append("grpc-status: " + (statuses.isEmpty ? "none" : statuses.joined(separator: ", ")))
        let http = httpStatusCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        lines.append("http status: " + (http.isEmpty ? "none" : http.joined(separator: ", ")))
        let order = ["trailers", "http_error", "rst_stream", "goaway", "timeout", "transport_error"]
        lines.append("endings: " + order.map { "\($0) \(endingCounts[$0] ?? 0)" }.joined(separator: ", "))
        for (code, count) in rstStreamCodes.sorted(by: { $0.key < $1.key }) {
            lines.append("  RST_STREAM code \(code): \(count)")
        }
        for (reason, count) in transportErrors.sorted(by: { $0.value > $1.value }) {
            lines.append("  transport error \"\(reason)\": \(count)")
        }
        if waitedForStream > 0 {
            lines.append(
                "\(waitedForStream) requests waited for a free stream (raise --streams or --connections if the "
                    + "server can take more at once; the wait is part of their latency)"
            )
        }
        if let warmup {
            lines.append(
                "warm-up (excluded): \(warmup.latencyMs.count) calls, p50 \(String(format: "%.3f", warmup.latencyMs.p50)) "
                    + "p99 \(String(format: "%.3f", warmup.latencyMs.p99)) ms, "
                    + "\(warmup.statusCounts.filter { $0.key != "OK" }.values.reduce(0, +)) errors"
            )
        }
        if let slo, let sloMet {
            lines.append(
                "SLO \(slo): " + (sloMet ? "met" : "BREACHED (" + (sloBreaches ?? []).joined(separator: "; ") + ")")
            )
        }
        lines.append(
            valid
                ? "run: valid"
                : "run: INVALID (the load generator, not the server, limited this run): "
                    + invalidReasons.joined(separator: "; ")
        )
        return lines.joined(separator: "\n")
    }

    /// Statuses in reading order: OK first, then the failures, most frequent first.
    static func byStatus(_ summaries: [String: LatencySummary]) -> [(String, LatencySummary)] {
        summaries.sorted { lhs, rhs in
            if (lhs.key == "OK") != (rhs.key == "OK") { return lhs.key == "OK" }
            return lhs.value.count != rhs.value.count ? lhs.value.count > rhs.value.count : lhs.key < rhs.key
        }
    }

    /// One row per phase and status: rate, goodput, and the corrected latency of every call ("all", when calls
    /// ended in more than one way) and of each status apart.
    static func phaseTable(title: String, _ phases: [PhaseSummary]) -> [String] {
        var rows = [[title, "target/s", "achieved/s", "goodput/s", "status", "count", "p50", "p99", "p99.9", "max"]]
        func cells(_ summary: LatencySummary) -> [String] {
            [String(summary.count)]
                + [summary.p50, summary.p99, summary.p999, summary.max].map {
                    String(format: "%.3f", $0)
                }
        }
        for phase in phases {
            let statuses = byStatus(phase.latencyByStatusMs)
            var first = [phase.name, trimmed(phase.targetRPS), trimmed(phase.achievedRPS), trimmed(phase.goodputRPS)]
            let blank = Array(repeating: "", count: first.count)
            if statuses.count != 1 {
                rows.append(first + ["all"] + cells(phase.latencyMs))
                first = blank
            }
            for (name, summary) in statuses {
                rows.append(first + [name] + cells(summary))
                first = blank
            }
        }
        return aligned(rows, leftColumns: 1, alsoLeft: [4]).map { "  " + $0 }
    }

    /// Pads a table: the first `leftColumns` columns (and those in `alsoLeft`) to the left, the rest to the right.
    static func aligned(_ rows: [[String]], leftColumns: Int, alsoLeft: Set<Int> = []) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { column in rows.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
        return rows.map { cells in
            cells.enumerated().map { column, cell in
                column < leftColumns || alsoLeft.contains(column)
                    ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }.joined(separator: "  ")
        }
    }
}
