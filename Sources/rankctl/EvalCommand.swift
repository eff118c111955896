import ArgumentParser
import CatalogLoading
import DemoDomains
import Dispatch
import Foundation
import Ranking

#if canImport(Glibc)
import Glibc
#endif

/// `rankctl eval`: replays held-out users through the live pipeline and compares each surface with popularity;
/// with `--bench`, measures single-thread cost per Recommend and per scored candidate.
public struct EvalCommand: ParsableCommand {
    /// Command name and help.
    public static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "NDCG@10 and recall of the served ranking vs. popularity on held-out users; --bench for cost."
    )

    @Option(help: "Demo marketplace size multiplier.")
    var scale = 1.0

    @Option(help: "Demo marketplace seed (the embedded models were trained on 42).")
    var seed: UInt64 = 42

    @Option(help: "Held-out sessions to replay per surface.")
    var sessions = 5_000

    @Option(
        help: ArgumentHelp(
            "Surfaces to evaluate, comma-separated, or all (discovery, category, venue_items, cart in the embedded "
                + "configuration; next_track on the music demo)."
        )
    )
    var surface = "discovery"

    @Flag(help: "Print one JSON document (per surface, per ranker: NDCG@10, recall and the ratio to popularity).")
    var json = false

    @Flag(help: "Also benchmark single-thread Recommend cost.")
    var bench = false

    @Option(help: "Recommend requests in the benchmark.")
    var benchRequests = 3_000

    @Option(help: "Place benchmark requests within this many km of a city centre (denser: more candidates); 0 = homes.")
    var benchCentreKm = 0.0

    /// Creates the command with defaults.
    public init() {}

    /// Runs the evaluation and, with --bench, the benchmark.
    public func run() throws {
        guard sessions > 0, benchRequests > 0 else { throw ValidationError("counts must be positive") }
        let config = try RankingEngine.embeddedConfig()
        let known = config.surfaces.keys.sorted()
        // Surfaces of other domains (next_track) run on their own demo: the music app.
        let genericKnown = GenericEval.surfaces()
        let named =
            surface == "all"
            ? ["discovery", "category", "venue_items", "cart"].filter(known.contains)
                + known.filter { !["discovery", "category", "venue_items", "cart"].contains($0) } + genericKnown
            : surface.split(separator: ",").map(String.init)
        for name in named where !known.contains(name) && !genericKnown.contains(name) {
            throw ValidationError(
                "unknown surface \(name); known: \((known + genericKnown).joined(separator: ", ")) or all"
            )
        }
        guard !named.isEmpty else { throw ValidationError("--surface names no surface") }
        let surfaces = named.filter(known.contains)
        let genericSurfaces = named.filter(genericKnown.contains)
        // With --json, stdout carries the document alone; progress goes to stderr.
        func progress(_ line: String) {
            if json {
                FileHandle.standardError.write(Data((line + "\n").utf8))
            } else {
                print(line)
            }
        }
        var genericReports: [GenericEval.Report] = []
        if !genericSurfaces.isEmpty {
            genericReports = try GenericEval(seed: seed, scale: scale, sessions: sessions).run(
                surfaces: genericSurfaces,
                progress: progress
            )
            if !json { for report in genericReports { print(report.markdown) } }
        }
        if surfaces.isEmpty {
            if json { print(try EvalCommand.json([], generic: genericReports, seed: seed, scale: scale)) }
            return
        }
        var started = Date()
        let market = MarketplaceDemo.generate(seed: seed, scale: scale)
        progress(String(format: "generated in %.2f s: ", Date().timeIntervalSince(started)) + market.catalog.summary)
        // The engine serves the catalog as rankd does: written as a snapshot and loaded back through the loader.
        let loaded = try DemoSnapshot.loadThroughSnapshot(market)
        progress(loaded.summary)
        let simulator = MarketplaceSessionSimulator(demo: market)
        var reports: [MarketplaceEvaluationReport] = []
        for name in surfaces {
            started = Date()
            let report = try evaluate(surface: name, config: config, catalog: loaded.catalog, simulator: simulator)
            reports.append(report)
            if !json { print(report.markdown) }
            progress(String(format: "%@ evaluated in %.1f s", name, Date().timeIntervalSince(started)))
        }
        if json { print(try EvalCommand.json(reports, generic: genericReports, seed: seed, scale: scale)) }
        if bench { try runBenchmark(catalog: loaded.catalog, simulator: simulator) }
    }

    /// One surface's report: the baseline, then one row per experiment variant (each on an engine that serves only
    /// it), or one row when the surface runs no experiment.
    private func evaluate(
        surface name: String,
        config: PipelineConfig,
        catalog: Catalog,
        simulator: MarketplaceSessionSimulator
    ) throws -> MarketplaceEvaluationReport {
        let variants = config.surfaces[name]?.experiment?.variants.map(\.name) ?? []
        var combined: MarketplaceEvaluationReport?
        var ceiling: MarketplaceEvaluationReport.Row?
        for variant in variants.isEmpty ? [nil] : variants.map(Optional.some) {
            let engine = try RankingEngine.demo(catalog: catalog) { config in
                guard let variant, var experiment = config.surfaces[name]?.experiment else { return }
                experiment.variants = experiment.variants.filter { $0.name == variant }
                experiment.variants[0].buckets = 100
                config.surfaces[name]?.experiment = experiment
            }
            let report = try simulator.evaluate(engine: engine, surface: name, sessions: sessions, seed: 99)
            var served = report.rows[1]
            if let variant { served.name += " variant \(variant)" }
            if combined == nil {
                combined = report
                combined?.rows = [report.rows[0]]
                combined?.events = []
            }
            combined?.rows.append(served)
            for var comparison in report.events {
                comparison.ranker = served.name
                combined?.events.append(comparison)
            }
            ceiling = report.rows[2]
        }
        combined?.rows.append(ceiling!)
        return combined!
    }

    /// The reports as one JSON document: per surface, per ranker, NDCG@10, recall at the surface's cutoff and
    /// NDCG@10 over the popularity baseline's.
    static func json(
        _ reports: [MarketplaceEvaluationReport],
        generic: [GenericEval.Report] = [],
        seed: UInt64,
        scale: Double
    ) throws -> String {
        let surfaces: [[String: Any]] = reports.map { report in
            [
                "surface": report.surface,
                "task": report.task.rawValue,
                "sessions": report.sessions,
                "recall_at": report.recallCutoff,
                "rankers": report.rows.map { row -> [String: Any] in
                    var object: [String: Any] = [
                        "name": row.name,
                        "baseline": row.isBaseline,
                        "ceiling": row.isCeiling,
                        "ndcg_at_10": row.ndcg10,
                        "recall": row.recall,
                    ]
                    if let ratio = report.ratioToBaseline(row) { object["ndcg_at_10_vs_popularity"] = ratio }
                    return object
                },
                "events": report.events.map { comparison -> [String: Any] in
                    func entry(_ row: MarketplaceEvaluationReport.Row) -> [String: Any] {
                        ["ndcg_at_10": row.ndcg10, "recall": row.recall]
                    }
                    var object: [String: Any] = [
                        "ranker": comparison.ranker,
                        "min_prior_events": MarketplaceSessionSimulator.minimumPriorEvents,
                        "sessions": comparison.sessions,
                        "popularity": entry(comparison.popularity),
                        "without_events": entry(comparison.withoutEvents),
                        "with_events": entry(comparison.withEvents),
                        "by_intent": comparison.byIntent.map { row -> [String: Any] in
                            [
                                "intent": row.intent,
                                "sessions": row.sessions,
                                "without_events_ndcg_at_10": row.withoutEvents.ndcg10,
                                "with_events_ndcg_at_10": row.withEvents.ndcg10,
                            ]
                        },
                    ]
                    if let lift = comparison.lift { object["ndcg_at_10_with_vs_without"] = lift }
                    return object
                },
            ]
        }
        let document: [String: Any] = ["seed": seed, "scale": scale, "surfaces": surfaces + generic.map(\.json)]
        let data = try JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    private func runBenchmark(catalog: Catalog, simulator: MarketplaceSessionSimulator) throws {
        // Sources one after another on this thread, so thread CPU time is the whole cost of a request.
        let engine = try RankingEngine.demo(catalog: catalog) { config in
            for name in config.surfaces.keys { config.surfaces[name]?.parallelSources = false }
        }
        var sessions = simulator.sessions(count: benchRequests, heldOut: true, seed: 7)
        if benchCentreKm > 0 {
            // Same users and times, moved near their city's centre, where more venues deliver.
            var rng = SplitMix64(seed: 11)
            for i in sessions.indices {
                guard let market = catalog.marketIndex(sessions[i].market) else { continue }
                let city = catalog.markets[market]
                let dy = Double.random(in: -benchCentreKm...benchCentreKm, using: &rng) / 110.574
                let dx =
                    Double.random(in: -benchCentreKm...benchCentreKm, using: &rng)
                    / (111.320 * cos(city.latitude * .pi / 180))
                sessions[i].latitude = city.latitude + dy
                sessions[i].longitude = city.longitude + dx
            }
        }
        var cpu: [Double] = []
        var candidates = 0
        var sections = 0
        var stages = StageTotals()
        // Warm-up: caches, lazy statics.
        for session in sessions.prefix(200) { _ = try recommend(engine, session, sections: &sections, stages: &stages) }
        sections = 0
        stages = StageTotals()
        let wallStart = DispatchTime.now()
        var cpuTotal = 0.0
        for session in sessions {
            let before = threadCPUNanoseconds()
            let count = try recommend(engine, session, sections: &sections, stages: &stages)
            let spent = Double(threadCPUNanoseconds() - before)
            cpu.append(spent)
            cpuTotal += spent
            candidates += count
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - wallStart.uptimeNanoseconds)
        cpu.sort()
        func micros(_ q: Double) -> Double { cpu[min(cpu.count - 1, Int(Double(cpu.count) * q))] / 1000 }
        print("benchmark: \(sessions.count) discovery Recommend requests, single thread, model \(engine.modelVersion)")
        print(
            String(
                format: "  CPU per request: median %.0f us, p90 %.0f us, p99 %.0f us, mean %.0f us",
                micros(0.5),
                micros(0.9),
                micros(0.99),
                cpuTotal / Double(cpu.count) / 1000
            )
        )
        print(
            String(
                format: "  candidates per request: %.0f; CPU per scored candidate: %.2f us",
                Double(candidates) / Double(cpu.count),
                cpuTotal / Double(max(candidates, 1)) / 1000
            )
        )
        print(
            String(
                format: "  wall: %.0f us per request; %d sections sent",
                wall / Double(cpu.count) / 1000,
                sections
            )
        )
        // The pipeline's own stage timings (wall time on this one thread), so a change shows where it saved.
        print(
            "  stages, mean us per request: "
                + stages.order.map { String(format: "%@ %.1f", $0, Double(stages.micros[$0]!) / Double(cpu.count)) }
                .joined(separator: ", ")
        )
    }

    /// Stage timings summed over the benchmark's requests, in the order the pipeline first reported them.
    private struct StageTotals {
        var order: [String] = []
        var micros: [String: Int64] = [:]

        mutating func add(_ timings: [StageTiming]) {
            for timing in timings {
                if micros[timing.stage] == nil { order.append(timing.stage) }
                micros[timing.stage, default: 0] += timing.micros
            }
        }
    }

    /// Runs one sectioned Recommend and returns the number of candidates it scored.
    private func recommend(
        _ engine: RankingEngine,
        _ session: MarketplaceSessionSimulator.Session,
        sections: inout Int,
        stages: inout StageTotals
    ) throws -> Int {
        let query = RecommendQuery(userID: session.userID, surface: "discovery", context: RequestContext(session))
        var sent = 0
        let count = try engine.recommendCountingCandidates(query, deadline: nil, isCancelled: { false }) { section in
            // Every section of one answer carries the same timings.
            if sent == 0 { stages.add(section.timings) }
            sent += 1
        }
        sections += sent
        return count
    }

    private func threadCPUNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
