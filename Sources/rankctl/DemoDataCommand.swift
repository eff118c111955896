import ArgumentParser
import CatalogLoading
import CatalogSnapshot
import Foundation
import Ranking

/// `rankctl demo-data`: generates the demo marketplace and writes its tables, interaction log and training data.
public struct DemoDataCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "demo-data",
        abstract: """
            Generate the demo marketplace: as a catalog snapshot (--snapshot), and/or its tables, interaction log and \
            training data as CSV (--out).
            """
    )

    @Option(help: "Folder to write the CSV tables, interaction log and training data into (created if missing).")
    var out: String?

    @Option(help: "Write the catalog as a snapshot into this new folder (serve it with rankd --snapshot).")
    var snapshot: String?

    @Option(help: "Demo domain: marketplace.")
    var domain = "marketplace"

    @Option(help: "Schema of the snapshot (default: the shipped marketplace schema, schemas/marketplace.json).")
    var schema: String?

    @Option(help: "Snapshot id (default: marketplace-<UTC time>-<content hash>).")
    var snapshotId: String?

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
        guard domain == "marketplace" else { throw ValidationError("--domain: only marketplace is generated so far") }
        guard out != nil || snapshot != nil || generateOnly else {
            throw ValidationError("say where to write: --snapshot DIR, --out DIR, or both")
        }
        let started = Date()
        let market = DemoMarketplace.generate(seed: seed, scale: scale)
        let generated = Date().timeIntervalSince(started)
        print(String(format: "generated in %.2f s: ", generated) + market.catalog.memoryReport)
        if generateOnly { return }
        if let snapshot {
            let schema = try self.schema.map { try CatalogSchema.load(path: $0) }
            let manifest = try DemoSnapshot.write(market, to: snapshot, schema: schema, snapshotID: snapshotId)
            let counts = manifest.recordCounts.map { "\($0.records) \($0.kind)" }.joined(separator: ", ")
            print("wrote snapshot \(manifest.snapshotID): \(counts)")
        }
        guard let out else { return }
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
