import CatalogLoading
import DemoDomains
import Dispatch
import Foundation
import Ranking

/// `rankctl eval` for the surfaces of the music domain: the music demo's held-out sessions replayed through the
/// served pipeline (the demo written as a snapshot, loaded through `CatalogLoader`, an engine built as rankd builds
/// it), against the demo's baselines.
struct GenericEval {
    let seed: UInt64
    let scale: Double
    let sessions: Int

    /// One surface's rows, in the shape the marketplace reports print.
    struct Report {
        var surface: String
        var rows: [MusicEvaluation]
        var ratios: [Double]

        var markdown: String {
            var lines = [
                "### \(surface) (\(rows.first?.sessions ?? 0) held-out sessions, recall@50)", "",
                "| ranker | NDCG@10 | recall@50 | NDCG@10 / popularity |", "|---|---:|---:|---:|",
            ]
            for (row, ratio) in zip(rows, ratios) {
                lines.append(
                    "| \(row.name) | " + String(format: "%.4f | %.4f | %.2fx |", row.ndcg10, row.recall50, ratio)
                )
            }
            return lines.joined(separator: "\n")
        }

        var json: [String: Any] {
            [
                "surface": surface,
                "task": "next_track",
                "sessions": rows.first?.sessions ?? 0,
                "recall_at": 50,
                "rankers": zip(rows, ratios).enumerated().map { k, pair -> [String: Any] in
                    [
                        "name": pair.0.name,
                        "baseline": k == 0,
                        "ceiling": false,
                        "ndcg_at_10": pair.0.ndcg10,
                        "recall": pair.0.recall50,
                        "ndcg_at_10_vs_popularity": pair.1,
                    ]
                },
            ]
        }
    }

    /// The schema of the music demo, whose surfaces this evaluates.
    static let schema = "music"

    /// Surfaces the music domain configures.
    static func surfaces() -> [String] {
        ((try? DomainConfig.embedded(schema: schema))?.surfaces.keys.sorted()) ?? []
    }

    func run(surfaces: [String], progress: (String) -> Void) throws -> [Report] {
        var started = Date()
        let demo = MusicDemo.generate(seed: seed, scale: scale)
        progress(String(format: "music demo generated in %.2f s", Date().timeIntervalSince(started)))
        started = Date()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rankctl-music-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let snapshot = folder.appendingPathComponent("snapshot").path
        try demo.writeSnapshot(to: snapshot, snapshotID: "generated-demo-music-seed\(seed)-scale\(scale)")
        let loaded = try CatalogLoader.load(directory: snapshot)
        progress(loaded.summary)
        let engine = try RankingEngine(
            catalog: loaded.catalog,
            config: try RankingEngine.embeddedConfig(),
            resourceDirectory: try RankingEngine.embeddedResourceDirectory()
        )
        progress(
            String(format: "engine built in %.2f s (model %@)", Date().timeIntervalSince(started), engine.modelVersion)
        )
        let simulator = MusicSessionSimulator(demo: demo)
        let cases = simulator.cases(count: sessions)
        let popularity = simulator.evaluate(
            name: "popularity in genre",
            cases: cases,
            ranker: simulator.popularityRanker()
        )
        let artistGenre = simulator.evaluate(
            name: "same artist + genre neighbours",
            cases: cases,
            ranker: simulator.artistAndGenreRanker()
        )
        var reports: [Report] = []
        for surface in surfaces {
            started = Date()
            var failures = 0
            var version = ""
            let served = simulator.evaluate(name: "rankd \(surface)", cases: cases) { user, playing, recent in
                let query = RecommendQuery(
                    userID: user,
                    surface: surface,
                    limit: 100,
                    contextItemIDs: [playing] + recent
                )
                // A deadline no busy machine reaches: the figures must not depend on wall time.
                let deadline = DispatchTime.now() + .seconds(3600)
                guard let result = try? engine.recommendList(query, deadline: deadline, isCancelled: { false }) else {
                    failures += 1
                    return []
                }
                version = result.modelVersion
                return result.items.map(\.itemID)
            }
            guard failures == 0 else { throw RankingError.unavailable("\(failures) \(surface) requests failed") }
            var named = served
            named.name += " (\(version))"
            let rows = [popularity, artistGenre, named]
            reports.append(
                Report(surface: surface, rows: rows, ratios: rows.map { $0.ndcg10 / max(popularity.ndcg10, 1e-12) })
            )
            progress(String(format: "%@ evaluated in %.1f s", surface, Date().timeIntervalSince(started)))
        }
        return reports
    }
}
