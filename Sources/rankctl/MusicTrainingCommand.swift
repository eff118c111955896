import ArgumentParser
import CatalogLoading
import DemoDomains
import Dispatch
import Foundation
import Ranking

/// `rankctl music-training`: training rows for the `next_track` model, from the served pipeline on a music demo of
/// another seed than the evaluation's (42), so the model never sees the world it is evaluated on. Each held-out
/// session's events so far are replayed into an online store first, so the online features are what serving
/// computes from them.
struct MusicTrainingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "music-training",
        abstract: "Feature rows and labels for the next_track model, from a music demo's held-out sessions."
    )

    @Option(help: "Music demo seed (not 42: that world is the evaluation's).")
    var seed: UInt64 = 7

    @Option(help: "Music demo size multiplier.")
    var scale = 1.0

    @Option(help: "Held-out sessions to export (a fifth go to the validation file); at scale 1 there are 9,891.")
    var sessions = 10_000

    @Option(help: "Surface whose candidates and features are exported.")
    var surface = "next_track"

    @Option(help: "Folder for next_track_train.csv and next_track_valid.csv.")
    var out: String

    func run() throws {
        let demo = MusicDemo.generate(seed: seed, scale: scale)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rankctl-music-training-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let snapshot = folder.appendingPathComponent("snapshot").path
        try demo.writeSnapshot(to: snapshot, snapshotID: "generated-demo-music-seed\(seed)-scale\(scale)")
        let loaded = try CatalogLoader.load(directory: snapshot)
        let engine = try RankingEngine(
            catalog: loaded.catalog,
            config: try RankingEngine.embeddedConfig(),
            resourceDirectory: try RankingEngine.embeddedResourceDirectory()
        )
        let cases = MusicSessionSimulator(demo: demo).cases(count: sessions)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        var train = ""
        var valid = ""
        var header = ""
        var relevant = 0
        var found = 0
        var bySource: [String: Int] = [:]
        var rows = 0
        for (n, c) in cases.enumerated() {
            // The session's events so far in the online store, as when it is served and evaluated.
            let candidates = try SessionReplay.withOnlineState(of: c, engine: engine, withEvents: true) {
                try engine.candidateRows(SessionReplay.query(c, surface: surface))
            }
            let width = candidates.featureNames.count
            if header.isEmpty {
                header =
                    (["session_id", "user_id", "track_id", "label"] + candidates.featureNames).joined(separator: ",")
                    + "\n"
            }
            let grades = Dictionary(c.relevance.map { ($0.trackID, $0.grade) }, uniquingKeysWith: max)
            relevant += grades.count
            var lines = ""
            var positives = 0
            let context = Set([c.playing] + c.recent)
            for (i, id) in candidates.itemIDs.enumerated() where !context.contains(id) {
                let label = grades[id] ?? 0
                if label > 0 {
                    positives += 1
                    for s in candidates.sources[i] { bySource[s, default: 0] += 1 }
                }
                var line = "\(n),\(c.userID),\(id),\(label)"
                for j in 0..<width {
                    let v = candidates.values[i * width + j]
                    line += v.isNaN ? "," : ",\(Float(v))"
                }
                lines += line + "\n"
                rows += 1
            }
            found += positives
            // Sessions without a relevant candidate teach a ranker nothing.
            guard positives > 0 else { continue }
            if n % 5 == 4 { valid += lines } else { train += lines }
        }
        try (header + train).write(toFile: out + "/next_track_train.csv", atomically: true, encoding: .utf8)
        try (header + valid).write(toFile: out + "/next_track_valid.csv", atomically: true, encoding: .utf8)
        print(
            "\(cases.count) sessions, \(rows) candidate rows; \(found) of \(relevant) relevant tracks are candidates "
                + "(" + bySource.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                + ")"
        )
    }
}
