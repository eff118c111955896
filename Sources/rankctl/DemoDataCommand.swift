import ArgumentParser
import CatalogLoading
import CatalogSnapshot
import DemoDomains
import Foundation
import Ranking

/// `rankctl demo-data`: generates a demo domain. The marketplace is written as a snapshot and/or its tables,
/// interaction log and training data; the music app as a snapshot, optionally with its baselines evaluated.
public struct DemoDataCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "demo-data",
        abstract: """
            Generate a demo domain: the marketplace as a catalog snapshot (--snapshot), and/or its tables, interaction \
            log and training data as CSV (--out); the music app (--domain music) as a catalog snapshot.
            """
    )

    @Option(help: "Folder to write the CSV tables, interaction log and training data into (created if missing).")
    var out: String?

    @Option(help: "Write the catalog as a snapshot into this new folder (serve it with rankd --snapshot).")
    var snapshot: String?

    @Option(help: "Demo domain: marketplace, or music (tracks, artists, listeners; --snapshot only).")
    var domain = "marketplace"

    @Option(help: "Schema of the snapshot (default: the shipped schema, schemas/marketplace.json or music.json).")
    var schema: String?

    @Option(help: "Snapshot id (default: <domain>-<UTC time>-<content hash>).")
    var snapshotId: String?

    @Option(
        help: """
            Size multiplier: 1 = 20k venues, ~400k items, 200k users (marketplace); 50k tracks, 5k artists, 100k \
            listeners (music).
            """
    )
    var scale = 1.0

    @Option(help: "Generator seed; the embedded demo uses 42.")
    var seed: UInt64 = 42

    @Option(help: "Discovery sessions simulated for training.")
    var trainSessions = 40_000

    @Option(help: "Discovery sessions simulated for validation (early stopping).")
    var validSessions = 5_000

    @Option(help: "Music: evaluate the popularity and artist-and-genre baselines on this many held-out sessions.")
    var evalSessions = 0

    @Flag(help: "Only generate and report the sizes; write nothing.")
    var generateOnly = false

    /// Creates the command with defaults (ArgumentParser fills the options).
    public init() {}

    /// Runs the export.
    public func run() throws {
        guard scale > 0, scale.isFinite else { throw ValidationError("--scale must be positive") }
        switch domain {
        case "marketplace": break
        case "music": return try runMusic()
        default:
            throw ValidationError("--domain: unknown domain \"\(domain)\"; the demo domains are marketplace and music")
        }
        guard out != nil || snapshot != nil || generateOnly else {
            throw ValidationError("say where to write: --snapshot DIR, --out DIR, or both")
        }
        let started = Date()
        let market = MarketplaceDemo.generate(seed: seed, scale: scale)
        let generated = Date().timeIntervalSince(started)
        print(String(format: "generated in %.2f s: ", generated) + market.catalog.summary)
        if generateOnly { return }
        if let snapshot {
            let schema = try self.schema.map { try CatalogSchema.load(path: $0) }
            let manifest = try market.writeSnapshot(to: snapshot, snapshotID: snapshotId, schema: schema)
            let counts = manifest.recordCounts.map { "\($0.records) \($0.kind)" }.joined(separator: ", ")
            print("wrote snapshot \(manifest.snapshotID): \(counts)")
        }
        guard let out else { return }
        let summary = try TrainingExport.write(
            demo: market,
            directory: out,
            trainSessions: trainSessions,
            validSessions: validSessions
        ) { print($0) }
        for (file, rows) in summary.files { print("\(file): \(rows) rows") }
        print(String(format: "done in %.1f s", Date().timeIntervalSince(started)))
    }

    /// The music demo: generate, write the snapshot, evaluate the baselines if asked.
    func runMusic() throws {
        guard out == nil else { throw ValidationError("--out: the music domain is written only as a snapshot") }
        guard snapshot != nil || generateOnly || evalSessions > 0 else {
            throw ValidationError("say where to write: --snapshot DIR")
        }
        guard evalSessions >= 0 else { throw ValidationError("--eval-sessions must not be negative") }
        let started = Date()
        let demo = MusicDemo.generate(seed: seed, scale: scale)
        let catalog = demo.catalog
        let summary = catalog.listenSummary
        print(
            String(format: "generated in %.2f s: ", Date().timeIntervalSince(started))
                + "\(catalog.trackCount) tracks, \(catalog.artistCount) artists, \(catalog.userCount) listeners, "
                + "\(summary.listens) listens written (\(String(format: "%.1f", summary.skipped * 100))% skipped), "
                + "\(demo.heldOutSessions.count) held-out sessions"
        )
        if generateOnly { return }
        if let snapshot {
            let writing = Date()
            let schema = try self.schema.map { try CatalogSchema.load(path: $0) }
            let manifest = try demo.writeSnapshot(to: snapshot, snapshotID: snapshotId, schema: schema)
            let counts = manifest.recordCounts.map { "\($0.records) \($0.kind)" }.joined(separator: ", ")
            let bytes = manifest.files.reduce(0) { $0 + $1.bytes }
            print(
                "wrote snapshot \(manifest.snapshotID): \(counts); "
                    + String(
                        format: "%.1f MB in %.2f s",
                        Double(bytes) / 1_000_000,
                        Date().timeIntervalSince(writing)
                    )
            )
        }
        if evalSessions > 0 {
            let evaluating = Date()
            let simulator = MusicSessionSimulator(demo: demo)
            let cases = simulator.cases(count: evalSessions)
            let rows = [
                simulator.evaluate(name: "popularity in genre", cases: cases, ranker: simulator.popularityRanker()),
                simulator.evaluate(
                    name: "same artist + genre neighbours",
                    cases: cases,
                    ranker: simulator.artistAndGenreRanker()
                ),
            ]
            print(MusicEvaluation.markdown(rows))
            print(String(format: "evaluated in %.2f s", Date().timeIntervalSince(evaluating)))
        }
    }
}
