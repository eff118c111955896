import ArgumentParser
import CatalogLoading
import DemoDomains
import Foundation
import Ranking
import RankingModels

#if canImport(Glibc)
import Glibc
#endif

/// score-bench: the Swift side of `Scripts/bench-scoring.sh`. It exports realistic feature rows once, then times
/// `GradientBoostedTrees` on them so the Python side can time LightGBM and XGBoost on the very same rows.
@main
struct ScoreBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score-bench",
        abstract: "Per-row tree scoring cost on realistic feature rows (driven by Scripts/bench-scoring.sh).",
        subcommands: [ExportRows.self, Score.self]
    )
}

// MARK: export-rows

/// Writes feature vectors exactly as the live pipeline joins them for discovery requests (explain output).
struct ExportRows: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export-rows",
        abstract: "Write discovery feature rows, as the feature join produces them, to PREFIX.f64 + PREFIX.json."
    )

    @Option(help: "Output prefix: writes PREFIX.f64 (row-major little-endian float64) and PREFIX.json.")
    var out: String

    @Option(help: "Rows to write.")
    var rows = 20_000

    @Option(help: "Demo marketplace seed (the embedded models were trained on 42).")
    var seed: UInt64 = 42

    @Option(help: "Demo marketplace size multiplier.")
    var scale = 1.0

    @Option(help: "Rows taken from each Recommend (its ranked pool, at most the surface's maxLimit of 200).")
    var perRequest = 200

    func run() throws {
        guard rows > 0, perRequest > 0, perRequest <= 200 else {
            throw ValidationError("--rows must be positive and --per-request within 1...200")
        }
        let market = MarketplaceDemo.generate(seed: seed, scale: scale)
        let catalog = try DemoSnapshot.loadThroughSnapshot(market).catalog
        let engine = try RankingEngine.demo(catalog: catalog) { config in
            for name in config.surfaces.keys { config.surfaces[name]?.parallelSources = false }
        }
        // Held-out users at their homes, the same population `rankctl eval --bench` replays.
        let sessions = MarketplaceSessionSimulator(demo: market).sessions(
            count: rows / 20 + 200,
            heldOut: true,
            seed: 7
        )
        var names: [String] = []
        var values: [Double] = []
        values.reserveCapacity(rows * 32)
        var taken = 0
        var requests = 0
        for session in sessions where taken < rows {
            let query = RecommendQuery(
                userID: session.userID,
                surface: "discovery",
                context: RequestContext(session),
                limit: perRequest,
                explain: true
            )
            let list = try engine.recommendList(query, deadline: nil, isCancelled: { false })
            guard !list.items.isEmpty else { continue }
            requests += 1
            for entry in list.items where taken < rows {
                let entryNames = entry.features.map(\.0)
                if names.isEmpty { names = entryNames }
                // Both discovery models use the join's native order; a variant with another order would make
                // the columns of different rows mean different things.
                guard entryNames == names else {
                    throw BenchError("explained feature order differs between rows: \(names) vs \(entryNames)")
                }
                values.append(contentsOf: entry.features.map(\.1))
                taken += 1
            }
        }
        guard taken == rows else {
            throw BenchError("only \(taken) rows from \(sessions.count) sessions; ask for fewer --rows")
        }
        let header = FeatureRowFile.Header(
            format: FeatureRowFile.formatName,
            featureNames: names,
            rows: rows,
            requests: requests,
            description:
                "discovery explain vectors (ranked pool, up to \(perRequest) per request) of held-out users at home, "
                + "demo marketplace seed \(seed) scale \(scale)"
        )
        try FeatureRowFile(header: header, values: values).write(prefix: out)
        let missing = values.reduce(0) { $0 + ($1.isNaN ? 1 : 0) }
        let rowsWithMissing = (0..<rows).filter { row in
            values[(row * names.count)..<((row + 1) * names.count)].contains { $0.isNaN }
        }.count
        print(
            "wrote \(rows) rows x \(names.count) features from \(requests) Recommend requests to \(out).f64; "
                + String(
                    format: "NaN: %.1f%% of values, %.1f%% of rows have one",
                    100 * Double(missing) / Double(values.count),
                    100 * Double(rowsWithMissing) / Double(rows)
                )
        )
    }
}

// MARK: score

/// Times `GradientBoostedTrees` on the exported rows: whole-matrix batch, request-sized batches, and one row at a
/// time, each pass measured in thread CPU time and wall time.
struct Score: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Time rawScores (batch, request-sized batches) and rawScore (single row) on exported rows."
    )

    @Option(help: "Model file: LightGBM .txt or XGBoost .json.")
    var model: String

    @Option(help: "Rows prefix written by export-rows.")
    var rows: String

    @Option(help: "Timed passes per mode (after one untimed warm-up pass).")
    var passes = 3

    @Option(help: "Rows scored one at a time per single-row pass; 0 = all rows.")
    var singleRows = 0

    @Option(help: "Rows per call in the request-sized batch mode (a discovery Recommend scores about 340-540).")
    var requestRows = 500

    @Option(help: "Write the batch scores here as little-endian float64, for the agreement check.")
    var scoresOut: String?

    @Option(help: "Write the timings here as JSON.")
    var jsonOut: String?

    @Option(help: "Label for this process in the JSON (e.g. the round number).")
    var label = ""

    func run() throws {
        guard passes > 0, singleRows >= 0, requestRows > 0 else {
            throw ValidationError("--passes and --request-rows must be positive, --single-rows not negative")
        }
        let trees: GradientBoostedTrees
        do {
            trees = try GradientBoostedTrees.load(contentsOf: model)
        } catch {
            throw BenchError("cannot load \(model): \(error)")
        }
        let file = try FeatureRowFile.read(prefix: rows)
        let matrix = try file.columns(trees.featureNames)
        let rowCount = file.header.rows
        let width = trees.featureNames.count
        let singleCount = singleRows == 0 ? rowCount : min(singleRows, rowCount)

        var batchScores = [Double](repeating: .nan, count: rowCount)
        var requestScores = [Double](repeating: .nan, count: rowCount)
        var singleScores = [Double](repeating: .nan, count: singleCount)

        let modes: [(name: String, rows: Int, body: () -> Void)] = [
            (
                "batch", rowCount,
                {
                    matrix.withUnsafeBufferPointer { input in
                        batchScores.withUnsafeMutableBufferPointer { out in
                            trees.rawScores(input, rowCount: rowCount, into: out)
                        }
                    }
                }
            ),
            (
                "batch_per_request", rowCount,
                {
                    matrix.withUnsafeBufferPointer { input in
                        requestScores.withUnsafeMutableBufferPointer { out in
                            var start = 0
                            while start < rowCount {
                                let count = min(requestRows, rowCount - start)
                                trees.rawScores(
                                    UnsafeBufferPointer(rebasing: input[(start * width)..<((start + count) * width)]),
                                    rowCount: count,
                                    into: UnsafeMutableBufferPointer(rebasing: out[start..<(start + count)])
                                )
                                start += count
                            }
                        }
                    }
                }
            ),
            (
                "single", singleCount,
                {
                    matrix.withUnsafeBufferPointer { input in
                        for row in 0..<singleCount {
                            singleScores[row] = trees.rawScore(
                                UnsafeBufferPointer(rebasing: input[(row * width)..<((row + 1) * width)])
                            )
                        }
                    }
                }
            ),
        ]

        var samples: [String: ModeSamples] = [:]
        for mode in modes { mode.body() }  // warm-up: page in the model and the rows, settle the clock
        for _ in 0..<passes {
            // Modes interleave within a pass so a burst of load on the shared machine hits all of them alike.
            for mode in modes {
                let cpuBefore = Clock.threadCPUNanoseconds()
                let wallBefore = Clock.monotonicNanoseconds()
                mode.body()
                let cpu = Double(Clock.threadCPUNanoseconds() - cpuBefore)
                let wall = Double(Clock.monotonicNanoseconds() - wallBefore)
                samples[mode.name, default: ModeSamples(rows: mode.rows)].add(cpu: cpu, wall: wall)
            }
        }

        var requestDiff = 0.0
        var singleDiff = 0.0
        for row in 0..<rowCount { requestDiff = max(requestDiff, abs(requestScores[row] - batchScores[row])) }
        for row in 0..<singleCount { singleDiff = max(singleDiff, abs(singleScores[row] - batchScores[row])) }
        guard batchScores.allSatisfy(\.isFinite) else { throw BenchError("\(model) gave non-finite scores") }

        if let scoresOut {
            try batchScores.withUnsafeBufferPointer { Data(buffer: $0) }.write(to: URL(fileURLWithPath: scoresOut))
        }
        let report = Report(
            side: "rankd",
            label: label,
            model: (model as NSString).lastPathComponent,
            modelVersion: trees.version,
            trees: trees.treeCount,
            rows: rowCount,
            requestRows: requestRows,
            modes: samples,
            maxAbsDiffPerRequestVsBatch: requestDiff,
            maxAbsDiffSingleVsBatch: singleDiff
        )
        if let jsonOut {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(report).write(to: URL(fileURLWithPath: jsonOut))
        }
        print("rankd \(report.model) (\(trees.treeCount) trees), \(rowCount) rows, \(passes) passes:")
        for mode in modes {
            let s = samples[mode.name]!
            print(
                "  " + mode.name.padding(toLength: 18, withPad: " ", startingAt: 0)
                    + String(
                        format: " %8.3f us/row CPU (median), %8.3f us/row wall, %d rows per pass",
                        median(s.cpuNanosecondsPerRow) / 1000,
                        median(s.wallNanosecondsPerRow) / 1000,
                        s.rows
                    )
            )
        }
        print(
            String(format: "  max |single - batch| = %.3g, max |per-request - batch| = %.3g", singleDiff, requestDiff)
        )
        guard singleDiff == 0, requestDiff == 0 else {
            throw BenchError("single-row or per-request scores differ from the batch scores")
        }
    }
}

/// Per-row costs of one mode over the timed passes.
struct ModeSamples: Codable {
    var rows: Int
    var cpuNanosecondsPerRow: [Double] = []
    var wallNanosecondsPerRow: [Double] = []

    init(rows: Int) { self.rows = rows }

    mutating func add(cpu: Double, wall: Double) {
        cpuNanosecondsPerRow.append(cpu / Double(rows))
        wallNanosecondsPerRow.append(wall / Double(rows))
    }

    enum CodingKeys: String, CodingKey {
        case rows
        case cpuNanosecondsPerRow = "cpu_ns_per_row"
        case wallNanosecondsPerRow = "wall_ns_per_row"
    }
}

/// What `score --json-out` writes; `Scripts/bench_scoring.py` reads it.
struct Report: Codable {
    var side: String
    var label: String
    var model: String
    var modelVersion: String
    var trees: Int
    var rows: Int
    var requestRows: Int
    var modes: [String: ModeSamples]
    var maxAbsDiffPerRequestVsBatch: Double
    var maxAbsDiffSingleVsBatch: Double

    enum CodingKeys: String, CodingKey {
        case side, label, model, trees, rows, modes
        case modelVersion = "model_version"
        case requestRows = "request_rows"
        case maxAbsDiffPerRequestVsBatch = "max_abs_diff_per_request_vs_batch"
        case maxAbsDiffSingleVsBatch = "max_abs_diff_single_vs_batch"
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/// CPU time of the calling thread, not wall time: the machine is shared, and another process holding the core
/// inflates wall time but not the CPU time this thread was given.
enum Clock {
    static func threadCPUNanoseconds() -> UInt64 { read(CLOCK_THREAD_CPUTIME_ID) }
    static func monotonicNanoseconds() -> UInt64 { read(CLOCK_MONOTONIC) }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
