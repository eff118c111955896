import Foundation

/// A report as a plain text table, a JSON document or one self-contained HTML page.
public enum ReportRendering {
    // MARK: Text

    /// The report as aligned text tables, one block per experiment.
    public static func text(_ report: ExperimentReport) -> String {
        var out: [String] = []
        for experiment in report.experiments {
            out.append("Experiment \(experiment.name) (layer \(experiment.layers.joined(separator: ", ")))")
            out.append("  " + experiment.controlRule)
            var rows = [
                [
                    "variant", "role", "planned", "users", "exposures", "click-through", "conv/user", "NDCG@10",
                    "p99", "empty", "degraded",
                ]
            ]
            for variant in experiment.variants {
                rows.append([
                    variant.name, variant.role, variant.plannedShare.map(formatShare) ?? "-", "\(variant.users)",
                    "\(variant.exposures)", formatValue(variant.clickThrough, metric: .clickThrough),
                    formatValue(variant.conversion, metric: .conversion), formatValue(variant.ndcg, metric: .ndcg),
                    formatGuardrailValue(variant.latencyP99Micros, .latencyP99),
                    formatGuardrailValue(variant.emptyRate, .emptyRate),
                    formatGuardrailValue(variant.degradedRate, .degradedRate),
                ])
            }
            out += table(rows, indent: 2)
            out.append("  " + (experiment.sampleRatio.flagged ? "SRM! " : "") + experiment.sampleRatio.note)
            for warning in experiment.warnings { out.append("  Warning: " + warning) }
            for comparison in experiment.comparisons {
                out.append("")
                out.append("  \(comparison.variant) against \(experiment.control ?? "")")
                var metricRows = [
                    ["metric", "control", "treatment", "difference", "95% interval", "relative", "p", "method"]
                ]
                for metric in comparison.metrics {
                    metricRows.append([
                        metric.metric.title + (metric.metric == report.successMetric ? " *" : ""),
                        formatValue(metric.control, metric: metric.metric),
                        formatValue(metric.treatment, metric: metric.metric),
                        formatDelta(metric.absolute.estimate, metric: metric.metric),
                        "\(formatDelta(metric.absolute.low, metric: metric.metric)) to "
                            + formatDelta(metric.absolute.high, metric: metric.metric),
                        metric.relative.estimate.map(formatSignedPercent) ?? "n/a",
                        metric.pValue.map(formatP) ?? "n/a",
                        metric.method,
                    ])
                }
                out += table(metricRows, indent: 4)
                var guardrailRows = [
                    ["guardrail", "control", "treatment", "difference", "95% interval", "margin", "status"]
                ]
                for guardrail in comparison.guardrails {
                    guardrailRows.append([
                        guardrail.guardrail.title,
                        formatGuardrailValue(guardrail.control, guardrail.guardrail),
                        formatGuardrailValue(guardrail.treatment, guardrail.guardrail),
                        formatGuardrailDelta(guardrail.difference.estimate, guardrail),
                        "\(formatGuardrailDelta(guardrail.difference.low, guardrail)) to "
                            + formatGuardrailDelta(guardrail.difference.high, guardrail),
                        formatGuardrailMargin(guardrail),
                        guardrail.status,
                    ])
                }
                out += table(guardrailRows, indent: 4)
                out.append("    Verdict: \(comparison.verdict.decision)")
                for reason in comparison.verdict.reasons { out.append("      - " + reason) }
            }
            out.append("")
        }
        out.append("* success metric. \(joinLine(report))")
        return out.joined(separator: "\n") + "\n"
    }

    private static func joinLine(_ report: ExperimentReport) -> String {
        let join = report.join
        return "Join: \(join.exposures) exposures, \(join.events) events; attributed \(join.byRequestID) by request id "
            + "and \(join.byItem) by item within \(formatNumber(report.attributionWindowHours, digits: 0)) h; left out "
            + "\(join.unknownRequest) with an unknown request id, \(join.itemNotShown) of items not shown, "
            + "\(join.noExposureInWindow) with no exposure in the window, \(join.duplicates) repeats; "
            + "\(join.otherKinds) events of other kinds."
    }

    private static func table(_ rows: [[String]], indent: Int) -> [String] {
        let columns = rows.map(\.count).max() ?? 0
        var widths = [Int](repeating: 0, count: columns)
        for row in rows {
            for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) }
        }
        return rows.map { row in
            let cells = row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }
            return String(repeating: " ", count: indent) + cells.joined(separator: "  ")
        }
    }

    // MARK: JSON

    /// The report as JSON with sorted keys; every documented key is present (an undefined number is null).
    public static func json(_ report: ExperimentReport) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(report), as: UTF8.self) + "\n"
    }

    // MARK: HTML

    /// `text` with the characters HTML gives meaning to replaced by references, safe in elements and in quoted
    /// attributes.
    public static func escapeHTML(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(character)
            }
        }
        return out
    }

    /// One self-contained page: inline CSS, inline SVG, no scripts and nothing fetched. Per experiment: the
    /// variants' table, the sample-ratio check, per metric an interval plot of each treatment's difference, the
    /// guardrails and the verdicts. Every string from the logs is escaped.
    public static func html(_ report: ExperimentReport, title: String = "Experiment report") -> String {
        var page = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <title>\(escapeHTML(title))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #1b1f24; max-width: 72em; }
            table { border-collapse: collapse; margin: 0.5em 0 1em; }
            th, td { border-bottom: 1px solid #d0d7de; padding: 0.25em 0.6em; text-align: right; }
            th:first-child, td:first-child { text-align: left; }
            .status-pass, .decision-ship, .srm-ok { color: #1a7f37; font-weight: 600; }
            .status-fail, .decision-dont-ship, .srm-flagged { color: #cf222e; font-weight: 600; }
            .status-inconclusive, .decision-inconclusive { color: #9a6700; font-weight: 600; }
            .plots { display: flex; flex-wrap: wrap; gap: 1em; }
            figure { margin: 0; }
            figcaption { font-weight: 600; }
            svg text { font: 12px system-ui, sans-serif; fill: #1b1f24; }
            .note { color: #57606a; }
            </style>
            </head>
            <body>
            <h1>\(escapeHTML(title))</h1>
            <p class="note">Success metric: \(escapeHTML(report.successMetric.title)). \(escapeHTML(joinLine(report)))</p>

            """
        for experiment in report.experiments {
            page += experimentSection(experiment, report: report)
        }
        page += "</body>\n</html>\n"
        return page
    }

    private static func experimentSection(_ experiment: ExperimentResult, report: ExperimentReport) -> String {
        let e = escapeHTML
        var html = "<section class=\"experiment\">\n"
        html += "<h2>Experiment \(e(experiment.name))</h2>\n"
        html +=
            "<p class=\"note\">Layer \(e(experiment.layers.joined(separator: ", "))). \(e(experiment.controlRule))</p>\n"
        html += "<table class=\"variants\">\n<tr><th>Variant</th><th>Role</th><th>Planned share</th><th>Users</th>"
        html += "<th>Exposures</th><th>Click-through</th><th>Conversions per user</th><th>NDCG@10</th>"
        html += "<th>Latency p99</th><th>Empty</th><th>Degraded</th></tr>\n"
        for variant in experiment.variants {
            let cells = [
                variant.name, variant.role, variant.plannedShare.map(formatShare) ?? "-", "\(variant.users)",
                "\(variant.exposures)", formatValue(variant.clickThrough, metric: .clickThrough),
                formatValue(variant.conversion, metric: .conversion), formatValue(variant.ndcg, metric: .ndcg),
                formatGuardrailValue(variant.latencyP99Micros, .latencyP99),
                formatGuardrailValue(variant.emptyRate, .emptyRate),
                formatGuardrailValue(variant.degradedRate, .degradedRate),
            ]
            html += "<tr>" + cells.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n"
        }
        html += "</table>\n"
        let srm = experiment.sampleRatio
        let srmClass = srm.flagged ? "srm-flagged" : "srm-ok"
        let srmLabel = !srm.checked ? "not checked" : srm.flagged ? "mismatch" : "ok"
        html += "<p>Sample ratio: <span class=\"\(srmClass)\">\(srmLabel)</span>. \(e(srm.note))</p>\n"
        for warning in experiment.warnings {
            html += "<p class=\"note\">Warning: \(e(warning))</p>\n"
        }
        guard !experiment.comparisons.isEmpty else {
            return html + "</section>\n"
        }
        let control = experiment.control ?? ""
        html += "<h3>Differences against \(e(control))</h3>\n<div class=\"plots\">\n"
        for metric in Metric.allCases {
            html += intervalPlot(
                metric,
                experiment.comparisons,
                control: control,
                success: metric == report.successMetric
            )
        }
        html += "</div>\n"
        for comparison in experiment.comparisons {
            html += comparisonBlock(comparison, control: control, success: report.successMetric)
        }
        return html + "</section>\n"
    }

    private static func comparisonBlock(_ comparison: Comparison, control: String, success: Metric) -> String {
        let e = escapeHTML
        var html = "<h3>\(e(comparison.variant)) against \(e(control))</h3>\n"
        html += "<table class=\"metrics\">\n<tr><th>Metric</th><th>\(e(control))</th><th>\(e(comparison.variant))</th>"
        html += "<th>Difference</th><th>95% interval</th><th>Relative</th><th>p</th><th>Method</th></tr>\n"
        for metric in comparison.metrics {
            let cells = [
                metric.metric.title + (metric.metric == success ? " (success metric)" : ""),
                formatValue(metric.control, metric: metric.metric),
                formatValue(metric.treatment, metric: metric.metric),
                formatDelta(metric.absolute.estimate, metric: metric.metric),
                "\(formatDelta(metric.absolute.low, metric: metric.metric)) to "
                    + formatDelta(metric.absolute.high, metric: metric.metric),
                metric.relative.estimate.map(formatSignedPercent) ?? "n/a",
                metric.pValue.map(formatP) ?? "n/a",
                metric.method,
            ]
            html += "<tr>" + cells.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n"
        }
        html += "</table>\n"
        html += "<table class=\"guardrails\">\n<tr><th>Guardrail</th><th>\(e(control))</th>"
        html += "<th>\(e(comparison.variant))</th><th>Difference</th><th>95% interval</th><th>Margin</th>"
        html += "<th>Status</th></tr>\n"
        for guardrail in comparison.guardrails {
            let cells = [
                guardrail.guardrail.title,
                formatGuardrailValue(guardrail.control, guardrail.guardrail),
                formatGuardrailValue(guardrail.treatment, guardrail.guardrail),
                formatGuardrailDelta(guardrail.difference.estimate, guardrail),
                "\(formatGuardrailDelta(guardrail.difference.low, guardrail)) to "
                    + formatGuardrailDelta(guardrail.difference.high, guardrail),
                formatGuardrailMargin(guardrail),
            ]
            html += "<tr>" + cells.map { "<td>\(e($0))</td>" }.joined()
            html += "<td class=\"status-\(guardrail.status)\">\(e(guardrail.status))</td></tr>\n"
        }
        html += "</table>\n"
        let decisionClass =
            "decision-"
            + comparison.verdict.decision.replacingOccurrences(of: "'", with: "")
            .replacingOccurrences(of: " ", with: "-")
        html += "<p class=\"verdict\">Verdict for \(e(comparison.variant)): "
        html += "<span class=\"\(decisionClass)\">\(e(comparison.verdict.decision))</span></p>\n<ul>\n"
        for reason in comparison.verdict.reasons { html += "<li>\(e(reason))</li>\n" }
        return html + "</ul>\n"
    }

    /// One row per treatment: its difference as a dot, its 95% interval as a bar, against a zero line.
    private static func intervalPlot(
        _ metric: Metric,
        _ comparisons: [Comparison],
        control: String,
        success: Bool
    )
        -> String
    {
        let e = escapeHTML
        let width = 680.0
        let labelWidth = 150.0
        let valueWidth = 230.0
        let rowHeight = 30.0
        let top = 10.0
        let height = top * 2 + rowHeight * Double(comparisons.count) + 14
        let intervals = comparisons.map { $0.metric(metric)?.absolute ?? Interval(estimate: nil, low: nil, high: nil) }
        let extent =
            max(
                1e-12,
                intervals.flatMap { [$0.low, $0.high, $0.estimate].compactMap { $0 }.map(abs) }.max() ?? 0
            ) * 1.15
        let plotLeft = labelWidth
        let plotRight = width - valueWidth
        let x = { (value: Double) -> Double in plotLeft + (value + extent) / (2 * extent) * (plotRight - plotLeft) }
        let f = { (value: Double) in formatNumber(value, digits: 1) }
        let caption = "\(metric.title)\(success ? " (success metric)" : ""): difference from \(control)"
        var svg = "<figure>\n<figcaption>\(e(caption))</figcaption>\n"
        svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"interval-plot\" data-metric=\"\(metric.rawValue)\" "
        svg += "width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\" role=\"img\">\n"
        svg += "<title>\(e(caption))</title>\n"
        let zero = x(0)
        let bottom = height - 14
        svg += "<line class=\"zero\" x1=\"\(f(zero))\" y1=\"\(f(top - 4))\" x2=\"\(f(zero))\" y2=\"\(f(bottom))\" "
        svg += "stroke=\"#57606a\" stroke-dasharray=\"4 3\"/>\n"
        svg += "<text x=\"\(f(zero))\" y=\"\(f(height - 2))\" text-anchor=\"middle\">0</text>\n"
        for (row, comparison) in comparisons.enumerated() {
            let y = top + rowHeight * (Double(row) + 0.5)
            let interval = intervals[row]
            let outcome = comparison.metric(metric)?.outcome ?? ""
            let colour = outcome == "better" ? "#1a7f37" : outcome == "worse" ? "#cf222e" : "#0969da"
            svg += "<text x=\"4\" y=\"\(f(y + 4))\">\(e(clip(comparison.variant, 20)))</text>\n"
            if let low = interval.low, let high = interval.high {
                svg += "<line class=\"interval\" x1=\"\(f(x(low)))\" y1=\"\(f(y))\" x2=\"\(f(x(high)))\" "
                svg += "y2=\"\(f(y))\" stroke=\"\(colour)\" stroke-width=\"3\"/>\n"
            }
            if let estimate = interval.estimate {
                svg +=
                    "<circle class=\"estimate\" cx=\"\(f(x(estimate)))\" cy=\"\(f(y))\" r=\"5\" fill=\"\(colour)\"/>\n"
            }
            let bounds =
                interval.low != nil && interval.high != nil
                ? " [\(formatDelta(interval.low, metric: metric)), \(formatDelta(interval.high, metric: metric))]" : ""
            svg += "<text x=\"\(f(plotRight + 6))\" y=\"\(f(y + 4))\">"
            svg += "\(e(formatDelta(interval.estimate, metric: metric) + bounds))</text>\n"
        }
        svg += "</svg>\n</figure>\n"
        return svg
    }

    private static func clip(_ text: String, _ count: Int) -> String {
        text.count <= count ? text : String(text.prefix(count - 1)) + "…"
    }
}
