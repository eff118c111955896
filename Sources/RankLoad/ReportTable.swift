import Foundation

extension RunReport {
    /// The human report: a latency table, target against achieved rate, counts per status, and the verdict.
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
        rows.append(row("uncorrected ms", uncorrectedLatencyMs))
        if let firstMessageMs { rows.append(row("first message ms", firstMessageMs)) }
        rows.append(row("sched. lag ms", schedulingLagMs))
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for cells in rows {
            let padded = cells.enumerated().map { column, cell in
                column == 0
                    ? cell.padding(toLength: widths[0], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }
            lines.append(padded.joined(separator: "  "))
        }
        lines.append("")
        if mode == "open-loop" {
            let share = targetRPS > 0 ? achievedRPS / targetRPS * 100 : 0
            lines.append(
                "rate: target \(trimmed(targetRPS)) req/s, achieved \(trimmed(achievedRPS)) req/s "
                    + "(\(String(format: "%.1f", share))%), completed \(trimmed(completedRPS)) req/s"
            )
        } else {
            lines.append("rate: achieved \(trimmed(achievedRPS)) req/s, completed \(trimmed(completedRPS)) req/s")
        }
        if phases.count - (warmup == nil ? 0 : 1) > 1 {
            for phase in phases where phase.name != "warm-up" {
                lines.append(
                    "  \(phase.name): target \(trimmed(phase.targetRPS)) achieved \(trimmed(phase.achievedRPS)) req/s, "
                        + "p50 \(String(format: "%.3f", phase.latencyMs.p50)) p99 "
                        + "\(String(format: "%.3f", phase.latencyMs.p99)) ms, \(phase.latencyMs.count) calls"
                )
            }
        }
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
}
