import ArgumentParser
import ExperimentAnalysis
import ExposureLog
import Foundation

/// `rankctl experiment`: reads experiments out of rankd's exposure and event logs (docs/experiments.md).
struct ExperimentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "experiment",
        abstract: "Analyse experiments from rankd's exposure and event logs.",
        subcommands: [ExperimentReportCommand.self]
    )
}

struct ExperimentReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Per experiment: metrics per variant, differences against the control, guardrails and a verdict.",
        discussion: """
            Joins the events in --events to the exposures in --exposures (by request id; an event without one goes \
            to the user's latest earlier exposure of the item within the attribution window), then compares each \
            treatment variant with the control. Exit status: 0 report printed, 1 the logs cannot be read or hold \
            nothing to report. See docs/experiments.md ("The analysis").
            """
    )

    @Option(help: "Folder of exposure log files (rankd --exposure-log).")
    var exposures: String

    @Option(help: "Folder of event log files (rankd --event-log); may be the same folder.")
    var events: String

    @Option(help: "Only this experiment (default: every experiment in the log).")
    var experiment: String?

    @Option(help: "The metric a treatment must improve to ship: conversion, click_through or ndcg.")
    var successMetric = "conversion"

    @Option(help: "How long after an exposure an event without a request id is attributed to it, in hours.")
    var attributionWindowHours = 24.0

    @Option(help: "Most records read from each log; more is an error (the analysis holds every record in memory).")
    var maxRecords = 20_000_000

    @Flag(help: "Print the report as one JSON document (keys in docs/experiments.md).")
    var json = false

    @Option(help: "Also write the report as one self-contained HTML page to this file.")
    var html: String?

    func validate() throws {
        guard Metric(rawValue: successMetric) != nil else {
            let names = Metric.allCases.map(\.rawValue).joined(separator: ", ")
            throw ValidationError("--success-metric must be one of \(names) (got \(successMetric))")
        }
        guard maxRecords > 0 else { throw ValidationError("--max-records must be positive (got \(maxRecords))") }
        guard attributionWindowHours.isFinite, attributionWindowHours >= 0 else {
            throw ValidationError("--attribution-window-hours must be 0 or more (got \(attributionWindowHours))")
        }
    }

    func run() throws {
        var settings = AnalysisSettings()
        settings.successMetric = Metric(rawValue: successMetric)!
        settings.attributionWindowHours = attributionWindowHours
        settings.experiment = experiment
        let exposureRecords: [ExposureRecord] = try read(exposures, prefix: "exposures", what: "exposure")
        let eventRecords: [EventRecord] = try read(events, prefix: "events", what: "event")
        let report: ExperimentReport
        do {
            report = try ExperimentAnalyzer.analyze(
                exposures: exposureRecords,
                events: eventRecords,
                settings: settings
            )
        } catch let error as AnalysisError {
            if error == .noExposures {
                throw failure("no exposure records in \(exposures) (files named exposures-*.pb or exposures-*.jsonl)")
            }
            throw failure(error.description)
        }
        if let html {
            do {
                try ReportRendering.html(report).write(toFile: html, atomically: true, encoding: .utf8)
            } catch {
                throw failure("cannot write \(html): \(error.localizedDescription)")
            }
        }
        print(json ? try ReportRendering.json(report) : ReportRendering.text(report), terminator: "")
    }

    private func read<Record: LogRecord>(_ path: String, prefix: String, what: String) throws -> [Record] {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw failure("no such folder: \(path) (the \(what) log)")
        }
        guard isFolder.boolValue else {
            throw failure("\(path) is a file, not a folder (the \(what) log)")
        }
        do {
            return try LogDirectory(path: path, prefix: prefix).read(Record.self, limit: maxRecords)
        } catch {
            throw failure("cannot read the \(what) log: \(error)")
        }
    }

    /// Prints one line to standard error and ends with exit status 1.
    private func failure(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data(("rankctl experiment report: " + message + "\n").utf8))
        return ExitCode(1)
    }
}
