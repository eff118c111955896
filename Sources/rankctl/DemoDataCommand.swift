import ArgumentParser
import Foundation
import Ranking

/// `rankctl demo-data`: generates the demo marketplace and writes its tables, interaction log and training data.
public struct DemoDataCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "demo-data",
        abstract: "Generate the demo marketplace and export it with its interaction log and training tables (CSV)."
    )

    @Option(help: "Folder to write into (created if missing).")
    var out: String

    @Option(help: "Size multiplier: 1 = 20k venues, ~400k items, 200k users; 5 gives over 1M items and users.")
    var scale = 1.0

    @Option(help: "Generator seed; the embedded demo uses 42.")
    var seed: UInt64 = 42

    @Option(help: "Discovery sessions simulated for training.")
    var trainSessions = 40_000

    @Option(help: "Discovery sessions simulated for validation (early stopping).")
    var validSessions = 5_000

    @Flag(help: "Only generate and report size and memory; write nothing.")
    var generateOnly = false

    /// Creates the command with defaults (ArgumentParser fills the options).
    public init() {}

    /// Runs the export.
    public func run() throws {
        guard scale > 0, scale.isFinite else { throw ValidationError("--scale must be positive") }
        let started = Date()
        let market = DemoMarketplace.generate(seed: seed, scale: scale)
        let generated = Date().timeIntervalSince(started)
        print(String(format: "generated in %.2f s: ", generated) + market.catalog.memoryReport)
        if generateOnly { return }
        let summary = try TrainingExport.write(
            market: market,
            directory: out,
            trainSessions: trainSessions,
            validSessions: validSessions
        ) { print($0) }
        for (file, rows) in summary.files { print("\(file): \(rows) rows") }
        print(String(format: "done in %.1f s", Date().timeIntervalSince(started)))
    }
}
