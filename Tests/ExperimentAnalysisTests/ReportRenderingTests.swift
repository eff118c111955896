import ExperimentAnalysis
import ExposureLog
import Foundation
import Testing

/// The report's three forms: HTML escapes what the logs say and draws one plot per metric; JSON has its
/// documented keys; the logs are read from real files of both formats.
@Suite struct ReportRenderingTests {
    static func report(variants: [(name: String, share: Double)], users: Int = 600) throws -> ExperimentReport {
        var synthetic = SyntheticExperiment()
        synthetic.users = users
        synthetic.variants = variants
        let (exposures, events) = synthetic.records()
        var settings = AnalysisSettings()
        settings.bootstrapResamples = 50
        return try ExperimentAnalyzer.analyze(exposures: exposures, events: events, settings: settings)
    }

    static func count(_ needle: String, in text: String) -> Int {
        text.components(separatedBy: needle).count - 1
    }

    @Test func htmlEscapesHostileNamesAndDrawsOnePlotPerMetric() throws {
        let hostile = "<script>alert(\"x\")</script>"
        var synthetic = SyntheticExperiment()
        synthetic.users = 600
        synthetic.experiment = "exp<img src=x onerror=alert(1)>&'"
        synthetic.variants = [("control", 0.34), (hostile, 0.33), ("b&b", 0.33)]
        let (exposures, events) = synthetic.records()
        var settings = AnalysisSettings()
        settings.bootstrapResamples = 50
        let report = try ExperimentAnalyzer.analyze(exposures: exposures, events: events, settings: settings)
        let html = ReportRendering.html(report)
        #expect(!html.contains("<script"))
        #expect(!html.contains("<img"))
        #expect(html.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"))
        #expect(html.contains("exp&lt;img src=x onerror=alert(1)&gt;&amp;&#39;"))
        #expect(html.contains("b&amp;b"))
        #expect(Self.count("<svg", in: html) == Metric.allCases.count)
        // One row per treatment in each plot: two intervals and two dots per plot.
        #expect(Self.count("<circle", in: html) == 2 * Metric.allCases.count)
        #expect(Self.count("class=\"zero\"", in: html) == Metric.allCases.count)
        // Self-contained: the SVG namespace is the only URL, and nothing is loaded.
        #expect(!html.replacingOccurrences(of: "http://www.w3.org/2000/svg", with: "").contains("http"))
        #expect(!html.contains("src=\"") && !html.contains("<link"))
        #expect(Self.count("<section class=\"experiment\">", in: html) == 1)
    }

    @Test func escapeCoversEveryHTMLCharacter() {
        #expect(ReportRendering.escapeHTML("a<b>&\"c'") == "a&lt;b&gt;&amp;&quot;c&#39;")
        #expect(ReportRendering.escapeHTML("plain é") == "plain é")
    }

    @Test func jsonHasTheDocumentedKeysAndNamesItsMethods() throws {
        let report = try Self.report(variants: [("control", 0.5), ("treatment", 0.5)])
        let text = try ReportRendering.json(report)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["success_metric", "attribution_window_hours", "join", "experiments"])
        let experiment = try #require((object["experiments"] as? [[String: Any]])?.first)
        #expect(
            Set(experiment.keys)
                == ["name", "layers", "control", "control_rule", "variants", "comparisons", "sample_ratio", "warnings"]
        )
        let comparison = try #require((experiment["comparisons"] as? [[String: Any]])?.first)
        #expect(Set(comparison.keys) == ["variant", "metrics", "guardrails", "verdict"])
        let metrics = try #require(comparison["metrics"] as? [[String: Any]])
        let methods = Dictionary(
            uniqueKeysWithValues: metrics.map { ($0["metric"] as! String, $0["method"] as! String) }
        )
        #expect(methods == ["click_through": "delta", "conversion": "welch", "ndcg": "delta"])
        #expect(
            Set(metrics[0].keys) == [
                "metric", "method", "control", "treatment", "absolute", "relative", "p_value", "outcome",
            ]
        )
        let guardrails = try #require(comparison["guardrails"] as? [[String: Any]])
        #expect(guardrails.map { $0["name"] as! String } == ["latency_p99", "empty_rate", "degraded_rate"])
        let verdict = try #require(comparison["verdict"] as? [String: Any])
        #expect(["ship", "don't ship", "inconclusive"].contains(verdict["decision"] as? String ?? ""))
        let srm = try #require(experiment["sample_ratio"] as? [String: Any])
        #expect(srm["flagged"] as? Bool == false)
    }

    @Test func textNamesTheVerdict() throws {
        let report = try Self.report(variants: [("control", 0.5), ("treatment", 0.5)])
        let text = ReportRendering.text(report)
        #expect(text.contains("Experiment ranking-v2"))
        #expect(text.contains("treatment against control"))
        #expect(text.contains("Verdict: "))
        #expect(text.contains("delta"))
    }

    @Test func anExperimentWithOneArmIsReportedWithoutComparisons() throws {
        let report = try Self.report(variants: [("only", 1.0)], users: 50)
        let experiment = try #require(report.experiments.first)
        #expect(experiment.control == nil)
        #expect(experiment.comparisons.isEmpty)
        #expect(!experiment.sampleRatio.checked)
        #expect(ReportRendering.text(report).contains("nothing to compare"))
        #expect(!ReportRendering.html(report).contains("<svg"))
    }

    @Test(arguments: LogFormat.allCases) func reportsFromFilesRecordLogWrote(format: LogFormat) throws {
        let path = NSTemporaryDirectory() + "experiment-analysis-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var synthetic = SyntheticExperiment()
        synthetic.users = 300
        synthetic.conversionLift = ["treatment": 1.5]
        let (exposures, events) = synthetic.records()
        var settings = LogSettings()
        settings.format = format
        let exposureLog = try RecordLog<ExposureRecord>(
            name: "exposure",
            directory: LogDirectory(path: path, prefix: "exposures"),
            settings: settings
        )
        let eventLog = try RecordLog<EventRecord>(
            name: "event",
            directory: LogDirectory(path: path, prefix: "events"),
            settings: settings
        )
        for exposure in exposures { #expect(exposureLog.offer(exposure)) }
        for event in events { #expect(eventLog.offer(event)) }
        exposureLog.stop()
        eventLog.stop()
        let readExposures: [ExposureRecord] = try LogDirectory(path: path, prefix: "exposures").read()
        let readEvents: [EventRecord] = try LogDirectory(path: path, prefix: "events").read()
        #expect(readExposures.count == exposures.count)
        #expect(readEvents.count == events.count)
        var analysis = AnalysisSettings()
        analysis.bootstrapResamples = 50
        let fromFiles = try ExperimentAnalyzer.analyze(exposures: readExposures, events: readEvents, settings: analysis)
        let inMemory = try ExperimentAnalyzer.analyze(exposures: exposures, events: events, settings: analysis)
        #expect(try ReportRendering.json(fromFiles) == (try ReportRendering.json(inMemory)))
        #expect(fromFiles.join.byRequestID == events.count)
    }
}
