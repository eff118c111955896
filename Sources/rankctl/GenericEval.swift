import CatalogLoading
import DemoDomains
import Dispatch
import Foundation
import Ranking

/// `rankctl eval` for the surfaces of the music domain: the music demo's held-out sessions replayed through the
/// served pipeline (the demo written as a snapshot, loaded through `CatalogLoader`, an engine built as rankd builds
/// it), against the demo's baselines.
///
/// Each session is asked twice: without events (no online store), and with events (the session's plays, skips and
/// completes so far sent through `EventIngest` into a store of its own, and the request naming the session). The
/// comparison is reported over the sessions with at least ``minPriorEvents`` events, where there is something to read.
struct GenericEval {
    let seed: UInt64
    let scale: Double
    let sessions: Int

    /// Sessions compared with and without events have at least this many events before the request.
    static let minPriorEvents = 3

    /// The same requests with and without the session's events, over the sessions that have enough of them.
    struct EventsComparison {
        var popularity: MusicEvaluation
        var withoutEvents: MusicEvaluation
        var withEvents: MusicEvaluation
        /// The same per kind of hidden intent (where events can help, and where they cannot).
        var byIntent: [(intent: String, withoutEvents: MusicEvaluation, withEvents: MusicEvaluation)]

        /// NDCG@10 with events over NDCG@10 without.
        var lift: Double { withEvents.ndcg10 / max(withoutEvents.ndcg10, 1e-12) }

        func vsPopularity(_ row: MusicEvaluation) -> Double { row.ndcg10 / max(popularity.ndcg10, 1e-12) }
    }

    /// One surface's rows, in the shape the marketplace reports print.
    struct Report {
        var surface: String
        var rows: [MusicEvaluation]
        var ratios: [Double]
        var events: EventsComparison

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
            lines += [
                "",
                "#### \(surface) with and without the session's events (\(events.withEvents.sessions) held-out sessions "
                    + "with at least \(GenericEval.minPriorEvents) events before the request)",
                "",
                "| ranker | NDCG@10 | recall@50 | NDCG@10 / popularity |", "|---|---:|---:|---:|",
            ]
            for row in [events.popularity, events.withoutEvents, events.withEvents] {
                lines.append(
                    "| \(row.name) | "
                        + String(format: "%.4f | %.4f | %.2fx |", row.ndcg10, row.recall50, events.vsPopularity(row))
                )
            }
            lines += [
                "",
                String(
                    format: "NDCG@10 with events / without events: %.3f (%+.1f%%)",
                    events.lift,
                    100 * (events.lift - 1)
                ),
                "",
                "| session's hidden intent | sessions | NDCG@10 without events | with events | with / without |",
                "|---|---:|---:|---:|---:|",
            ]
            for row in events.byIntent {
                lines.append(
                    "| \(row.intent) | \(row.withEvents.sessions) | "
                        + String(
                            format: "%.4f | %.4f | %.3f |",
                            row.withoutEvents.ndcg10,
                            row.withEvents.ndcg10,
                            row.withEvents.ndcg10 / max(row.withoutEvents.ndcg10, 1e-12)
                        )
                )
            }
            return lines.joined(separator: "\n")
        }

        var json: [String: Any] {
            func entry(_ row: MusicEvaluation) -> [String: Any] {
                [
                    "name": row.name,
                    "ndcg_at_10": row.ndcg10,
                    "recall": row.recall50,
                    "ndcg_at_10_vs_popularity": events.vsPopularity(row),
                ]
            }
            return [
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
                "events": [
                    "min_prior_events": GenericEval.minPriorEvents,
                    "sessions": events.withEvents.sessions,
                    "popularity": entry(events.popularity),
                    "without_events": entry(events.withoutEvents),
                    "with_events": entry(events.withEvents),
                    "ndcg_at_10_with_vs_without": events.lift,
                    "by_intent": events.byIntent.map { row -> [String: Any] in
                        [
                            "intent": row.intent,
                            "sessions": row.withEvents.sessions,
                            "without_events_ndcg_at_10": row.withoutEvents.ndcg10,
                            "with_events_ndcg_at_10": row.withEvents.ndcg10,
                        ]
                    },
                ] as [String: Any],
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
            var version = ""
            // Each session's answers, without and with its events, by session id: asked once, read per table.
            var answers: [Bool: [String: [String]]] = [false: [:], true: [:]]
            for c in cases {
                for withEvents in [false, true] {
                    let result = try SessionReplay.withOnlineState(of: c, engine: engine, withEvents: withEvents) {
                        // A deadline no busy machine reaches: the figures must not depend on wall time.
                        try engine.recommendList(
                            SessionReplay.query(c, surface: surface, limit: 100),
                            deadline: DispatchTime.now() + .seconds(3600),
                            isCancelled: { false }
                        )
                    }
                    guard !result.degraded else {
                        throw RankingError.unavailable(
                            "\(surface) answered session \(c.sessionID) degraded: \(result.degradedStages)"
                        )
                    }
                    version = result.modelVersion
                    answers[withEvents]![c.sessionID] = result.items.map(\.itemID)
                }
            }
            func served(_ withEvents: Bool, _ on: [MusicSessionSimulator.Case]) -> MusicEvaluation {
                simulator.evaluate(
                    name: "rankd \(surface) (\(version)) " + (withEvents ? "with events" : "without events"),
                    cases: on
                ) { answers[withEvents]![$0.sessionID]! }
            }
            let rows = [popularity, artistGenre, served(false, cases), served(true, cases)]
            let withPrior = cases.filter { $0.events.count >= Self.minPriorEvents }
            let events = EventsComparison(
                popularity: simulator.evaluate(
                    name: "popularity in genre",
                    cases: withPrior,
                    ranker: simulator.popularityRanker()
                ),
                withoutEvents: served(false, withPrior),
                withEvents: served(true, withPrior),
                byIntent: Set(withPrior.map(\.intent)).sorted().map { intent in
                    let some = withPrior.filter { $0.intent == intent }
                    return (intent, served(false, some), served(true, some))
                }
            )
            reports.append(
                Report(
                    surface: surface,
                    rows: rows,
                    ratios: rows.map { $0.ndcg10 / max(popularity.ndcg10, 1e-12) },
                    events: events
                )
            )
            progress(String(format: "%@ evaluated in %.1f s", surface, Date().timeIntervalSince(started)))
        }
        return reports
    }
}
