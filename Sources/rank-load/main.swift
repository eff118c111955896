import ArgumentParser
import Foundation
import RankLoad

#if canImport(Glibc)
import Glibc
#endif

/// rank-load: open-loop gRPC load with coordinated-omission-corrected latency, for rankd and its peers.
struct RankLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rank-load",
        abstract: "Load-test a gRPC server at a fixed rate and report honest tail latency.",
        discussion: """
            Open-loop by default: requests are sent on schedule whatever the server does, and latency counts from \
            each request's intended send time (coordinated-omission corrected); the uncorrected figure is shown \
            too. A run is INVALID when the generator itself could not keep up.
            Exit status: 0 ok, 1 usage or connection error, 2 invalid run (generator saturated), 3 SLO breached.
            """
    )

    @Option(help: "Server address host:port.")
    var target: String

    @Option(help: "recommend, rank, mixed, health, track, or a full package.Service/Method path.")
    var method = "recommend"

    @Option(name: .customLong("payload-hex"), help: "Request message (hex) for a full method path.")
    var payloadHex = ""

    @Option(help: "Requests per second (the start rate of step and ramp schedules).")
    var rate = "1000"

    @Option(help: "Measured duration (per step for step schedules), e.g. 10s.")
    var duration = "10s"

    @Option(help: "Warm-up before the measured window, excluded from the results.")
    var warmup = "2s"

    @Option(name: .customLong("step-by"), help: "Step schedule: add this rate per step.")
    var stepBy: String?

    @Option(help: "Step schedule: number of steps.")
    var steps = 5

    @Option(name: .customLong("ramp-to"), help: "Ramp schedule: rate reached at the end of the duration.")
    var rampTo: String?

    @Option(
        help: ArgumentHelp(
            "Piecewise schedule RATExDURATION,..., e.g. 600x2s,2400x10s,600x5s (replaces --rate and --duration; the "
                + "warm-up runs at the first rate).",
            valueName: "steps"
        )
    )
    var schedule: String?

    @Option(help: "Also report the measured schedule in windows of this length, e.g. 1s (open loop).")
    var window: String?

    @Flag(
        name: .customLong("closed-loop"),
        help: "Closed loop (each stream sends when its last call ends). Latency is then NOT corrected."
    )
    var closedLoop = false

    @Option(help: "HTTP/2 connections.")
    var connections = 4

    @Option(help: "Concurrent streams per connection; more requests wait in the generator.")
    var streams = 100

    @Option(help: "Event-loop threads of the generator.")
    var threads = 1

    @Option(help: "Pin the generator's event loops to these CPUs, e.g. 1 or 0,1.")
    var cpus: String?

    @Option(help: "Call deadline from the intended send time, sent as grpc-timeout; 0 for none.")
    var timeout = "5s"

    @Option(help: "Seed of the request mix.")
    var seed: UInt64 = 1

    @Option(
        help: ArgumentHelp(
            "Distinct requests drawn; the run cycles through them. For --method track, at least the requests the run "
                + "sends, so that every event id is new (a repeat is a duplicate, cheaper than a write)."
        )
    )
    var poolSize = 4096

    @Option(help: "Events per Track request (--method track).")
    var eventsPerRequest = 20

    @Option(help: "Request time in every request's context, Unix ms; 0 = the server's clock.")
    var requestTime: Int64 = 0

    @Option(
        help: ArgumentHelp(
            "Demo data scale rankd serves: its --scale, or for --surface next_track the --scale of the music snapshot "
                + "(rankctl demo-data --domain music)."
        )
    )
    var scale = 1.0

    @Option(help: "Candidates per Rank request.")
    var candidates = 100

    @Option(
        help: ArgumentHelp(
            "Force one surface (discovery, venue_items) instead of the realistic mix, or next_track: Recommend on the "
                + "music demo, after listening sessions of 1-10 tracks."
        )
    )
    var surface: String?

    @Option(help: "Write the JSON report here.")
    var json: String?

    @Option(help: "Write the percentile-spectrum plot (SVG) here.")
    var plot: String?

    @Option(help: "SLO, e.g. p99=10ms or p99=10ms,p999=50ms,errors=0.1%.")
    var slo: String?

    @Option(name: .customLong("max-p99"), help: "CI gate: exit 3 when the measured p99 is above this.")
    var maxP99: String?

    @Flag(name: .customLong("find-max-rps"), help: "Search for the highest rate holding --slo.")
    var findMaxRPS = false

    @Option(name: .customLong("search-precision"), help: "Stop the search when fail/pass <= 1 + this.")
    var searchPrecision = 0.05

    @Option(name: .customLong("max-trials"), help: "Most trials of the search.")
    var maxTrials = 20

    @Flag(name: .customLong("no-confirm-breaches"), help: "Count a rate as failing after one breaching trial, not two.")
    var noConfirmBreaches = false

    @Option(name: .customLong("min-achieved"), help: "Validity: achieved/target rate at least this.")
    var minAchieved = 0.99

    @Option(name: .customLong("max-lag-p99"), help: "Validity: generator scheduling lag p99 at most this.")
    var maxLagP99 = "5ms"

    @Option(name: .customLong("wait-serving"), help: "First wait up to this long for Health/Check to say SERVING.")
    var waitServing: String?

    @Flag(name: .customLong("wait-only"), help: "Exit after --wait-serving succeeds, without load.")
    var waitOnly = false

    @Flag(help: "No progress line.")
    var quiet = false

    func validate() throws {
        guard connections > 0, streams > 0, threads > 0 else {
            throw ValidationError("--connections, --streams and --threads must be positive")
        }
        guard steps > 0 else { throw ValidationError("--steps must be positive") }
        guard candidates > 0 else { throw ValidationError("--candidates must be positive") }
        guard requestTime >= 0 else { throw ValidationError("--request-time must be 0 or a Unix time in ms") }
        // The demos' sizes are scale times a base count: past a thousand they would not fit in memory anyway.
        guard scale > 0, scale <= 1_000 else { throw ValidationError("--scale must be positive and at most 1000") }
        guard [stepBy != nil, rampTo != nil, schedule != nil, closedLoop].filter({ $0 }).count <= 1 else {
            throw ValidationError("choose one of --step-by, --ramp-to, --schedule and --closed-loop")
        }
        guard !(findMaxRPS && (stepBy != nil || rampTo != nil || schedule != nil || closedLoop)) else {
            throw ValidationError(
                "--find-max-rps searches constant open-loop rates; drop --step-by/--ramp-to/--schedule/--closed-loop"
            )
        }
        guard window == nil || !(findMaxRPS || closedLoop) else {
            throw ValidationError("--window reports one open-loop run; drop --find-max-rps/--closed-loop")
        }
        guard !findMaxRPS || slo != nil || maxP99 != nil else {
            throw ValidationError("--find-max-rps needs --slo (e.g. --slo p99=10ms)")
        }
        guard payloadHex.count % 2 == 0, payloadHex.allSatisfy(\.isHexDigit) else {
            throw ValidationError("--payload-hex must be an even number of hex digits")
        }
    }

    func run() throws {
        do {
            try execute()
        } catch let error as LoadParsing.InvalidValue {
            throw ValidationError(error.description)
        }
    }

    private func execute() throws {
        let (host, port) = try LoadParsing.target(target)
        // The command's validate() has checked the digits.
        let payload = stride(from: 0, to: payloadHex.count, by: 2).map { offset -> UInt8 in
            let start = payloadHex.index(payloadHex.startIndex, offsetBy: offset)
            return UInt8(payloadHex[start...payloadHex.index(after: start)], radix: 16)!
        }
        // Checked before any wait, so a wrong combination of options fails at once.
        var mix = RequestMix(
            method: try RequestMix.method(named: method, payload: payload),
            shape: .demo(scale: scale),
            candidates: candidates,
            surface: surface,
            seed: seed,
            poolSize: poolSize
        )
        mix.musicShape = .demo(scale: scale)
        mix.requestTimeUnixMs = requestTime
        mix.eventsPerRequest = eventsPerRequest
        try mix.validate()
        if let waitServing {
            do {
                try HealthProbe.waitUntilServing(
                    host: host,
                    port: port,
                    timeoutNanoseconds: try LoadParsing.nanoseconds(waitServing)
                )
            } catch let error as HealthProbe.NotServing {
                FileHandle.standardError.write("rank-load: \(error)\n".data(using: .utf8)!)
                throw ExitCode(1)
            }
            if waitOnly { return }
        } else if waitOnly {
            throw ValidationError("--wait-only needs --wait-serving")
        }
        let startRate = try LoadParsing.rate(rate)
        let durationNs = try LoadParsing.nanoseconds(duration)
        let warmupNs = try LoadParsing.nanoseconds(warmup)
        let timeoutNs = try LoadParsing.nanoseconds(timeout)
        let windowNs = try window.map(LoadParsing.nanoseconds) ?? 0
        guard durationNs > 0 else { throw ValidationError("--duration must be positive") }
        guard window == nil || windowNs >= 1_000_000 else { throw ValidationError("--window must be at least 1ms") }
        var objective = try slo.map(ServiceLevelObjective.parse)
        if let maxP99 {
            let bound = ServiceLevelObjective.LatencyBound(
                percentile: 99,
                maxNanoseconds: try LoadParsing.nanoseconds(maxP99)
            )
            if objective == nil {
                objective = ServiceLevelObjective(latency: [bound], maxErrorFraction: 1)
            } else {
                objective!.latency.removeAll { $0.percentile == 99 }
                objective!.latency.append(bound)
            }
        }
        let gate = ValidityGate(
            minAchievedFraction: minAchieved,
            maxSchedulingLagP99Nanoseconds: try LoadParsing.nanoseconds(maxLagP99)
        )
        let workload = mix.makeWorkload()
        let pin = try cpus.map { list in
            try list.split(separator: ",").map { part -> Int in
                guard let cpu = Int(part.trimmingCharacters(in: .whitespaces)), cpu >= 0 else {
                    throw ValidationError("--cpus takes CPU numbers such as 1 or 0,1")
                }
                return cpu
            }
        }

        func configuration(mode: LoadMode) -> LoadConfiguration {
            var config = LoadConfiguration(host: host, port: port, mode: mode, workload: workload)
            config.connections = connections
            config.streamsPerConnection = streams
            config.ioThreads = threads
            config.pinCPUs = pin
            config.timeoutNanoseconds = timeoutNs
            config.windowNanoseconds = windowNs
            if !quiet { config.onProgress = { ProgressLine.show($0) } }
            return config
        }

        func runOnce(_ mode: LoadMode) throws -> (LoadResult, RunReport) {
            let result: LoadResult
            do {
                result = try LoadRunner(configuration: configuration(mode: mode)).run()
            } catch {
                ProgressLine.end()
                FileHandle.standardError.write("rank-load: cannot load \(host):\(port): \(error)\n".data(using: .utf8)!)
                throw ExitCode(1)
            }
            ProgressLine.end()
            return (result, RunReport(result: result, gate: gate, slo: objective))
        }

        if findMaxRPS, let objective {
            var search = MaxRateSearch(slo: objective, startRate: startRate)
            search.precision = searchPrecision
            search.maxTrials = maxTrials
            search.confirmBreaches = !noConfirmBreaches
            var best: (LoadResult, RunReport)?
            let outcome = try search.run(
                trial: { trialRate in
                    let run = try runOnce(
                        .openLoop(
                            .constant(rate: trialRate, durationNanoseconds: durationNs, warmupNanoseconds: warmupNs)
                        )
                    )
                    if run.1.valid && (run.1.sloMet ?? false) && trialRate >= (best?.1.targetRPS ?? 0) { best = run }
                    return run.1
                },
                log: { print($0) }
            )
            print("")
            if let maxRPS = outcome.maxRPS {
                let bound = outcome.limitedByGenerator ? ">= " : ""
                let next = outcome.firstFailingRPS.map { " (\(Int($0)) req/s breached it)" } ?? ""
                print("max rate under \(objective): \(bound)\(Int(maxRPS)) req/s\(next)")
            } else {
                print("no tried rate held \(objective)")
            }
            if outcome.limitedByGenerator {
                print("the search stopped because the load generator could not keep up: the server may take more")
            }
            if let best {
                print("")
                print(best.1.table)
            }
            if let json {
                let document = SearchDocument(findMaxRPS: outcome, bestRun: best?.1)
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try write(try encoder.encode(document), to: json)
            }
            if let plot, let best { try writePlot(best.0, to: plot) }
            if outcome.maxRPS == nil { throw ExitCode(outcome.limitedByGenerator ? 2 : 3) }
            return
        }

        let mode: LoadMode
        if closedLoop {
            mode = .closedLoop(
                concurrency: connections * streams,
                durationNanoseconds: durationNs,
                warmupNanoseconds: warmupNs
            )
        } else if let stepBy {
            mode = .openLoop(
                .steps(
                    start: startRate,
                    step: try stepRate(stepBy, start: startRate),
                    steps: steps,
                    stepDurationNanoseconds: durationNs,
                    warmupNanoseconds: warmupNs
                )
            )
        } else if let schedule {
            mode = .openLoop(.piecewise(try LoadParsing.schedule(schedule), warmupNanoseconds: warmupNs))
        } else if let rampTo {
            mode = .openLoop(
                .ramp(
                    from: startRate,
                    to: try LoadParsing.rate(rampTo),
                    durationNanoseconds: durationNs,
                    warmupNanoseconds: warmupNs
                )
            )
        } else {
            mode = .openLoop(.constant(rate: startRate, durationNanoseconds: durationNs, warmupNanoseconds: warmupNs))
        }
        if windowNs > 0, case .openLoop(let schedule) = mode {
            let windows = (schedule.measuredNanoseconds + windowNs - 1) / windowNs
            guard windows <= LoadConfiguration.maxWindows else {
                throw ValidationError(
                    "--window \(window ?? "") cuts the run into \(windows) windows; at most "
                        + "\(LoadConfiguration.maxWindows): lengthen --window"
                )
            }
        }
        let (result, report) = try runOnce(mode)
        print(report.table)
        if let json { try write(try report.json(), to: json) }
        if let plot { try writePlot(result, to: plot) }
        if !report.valid { throw ExitCode(2) }
        if report.sloMet == false { throw ExitCode(3) }
    }

    /// A step may be zero (a flat series of windows) or negative, as long as no step's rate falls to zero.
    private func stepRate(_ text: String, start: Double) throws -> Double {
        let step =
            text.hasPrefix("-")
            ? -(try LoadParsing.rate(String(text.dropFirst()))) : (text == "0" ? 0 : try LoadParsing.rate(text))
        guard start + step * Double(steps - 1) > 0 else {
            throw ValidationError("--step-by \(text) takes the rate to zero or below within \(steps) steps")
        }
        return step
    }

    private func writePlot(_ result: LoadResult, to path: String) throws {
        let measured = result.measured
        var series = [
            SpectrumPlot.Series(
                label: "corrected (from intended send)",
                histogram: measured.corrected,
                color: "#d62728"
            ),
            SpectrumPlot.Series(
                label: "uncorrected (from actual send)",
                histogram: measured.uncorrected,
                color: "#1f77b4"
            ),
        ]
        if measured.isStreaming {
            series.append(
                SpectrumPlot.Series(
                    label: "first message (corrected)",
                    histogram: measured.firstMessage,
                    color: "#2ca02c"
                )
            )
        }
        let title = "\(result.path) at \(trimmedRate(result.targetRate)) req/s -> \(result.target)"
        try write(Data(SpectrumPlot(title: title, series: series).svg().utf8), to: path)
    }

    private func trimmedRate(_ value: Double) -> String {
        result(String(format: "%.1f", value))
    }

    private func result(_ text: String) -> String { text.hasSuffix(".0") ? String(text.dropLast(2)) : text }

    private func write(_ data: Data, to path: String) throws {
        do {
            try data.write(to: URL(fileURLWithPath: path))
        } catch {
            throw ValidationError("cannot write \(path): \(error.localizedDescription)")
        }
    }
}

/// The JSON document of a search.
struct SearchDocument: Encodable {
    var findMaxRPS: MaxRateSearch.Outcome
    var bestRun: RunReport?

    enum CodingKeys: String, CodingKey {
        case findMaxRPS = "find_max_rps"
        case bestRun = "best_run"
    }
}

/// The progress line on stderr: redrawn in place on a terminal, one line per 5 s otherwise.
enum ProgressLine {
    private static let isTerminal = isatty(2) != 0
    private static let lock = NSLock()
    nonisolated(unsafe) private static var drawn = false
    nonisolated(unsafe) private static var lastPrinted: UInt64 = 0

    static func show(_ progress: LoadProgress) {
        lock.lock()
        defer { lock.unlock() }
        if !isTerminal && progress.elapsedNanoseconds < lastPrinted + 5_000_000_000 && lastPrinted != 0 { return }
        lastPrinted = progress.elapsedNanoseconds
        let phase = progress.inWarmup ? "warm-up " : "measured"
        let clock = String(
            format: "[%5.1fs/%.0fs] ",
            Double(progress.elapsedNanoseconds) / 1e9,
            Double(progress.totalNanoseconds) / 1e9
        )
        let open = progress.dispatched - min(progress.dispatched, progress.completed)
        let line =
            clock + "\(phase) sent \(progress.dispatched), done \(progress.completed), failed \(progress.failed), "
            + "open \(open), " + String(format: "%.0f done/s", progress.recentRate)
        let text = isTerminal ? "\r\u{1B}[K" + line : line + "\n"
        FileHandle.standardError.write(text.data(using: .utf8)!)
        drawn = isTerminal
    }

    static func end() {
        lock.lock()
        defer { lock.unlock() }
        if drawn { FileHandle.standardError.write("\n".data(using: .utf8)!) }
        drawn = false
        lastPrinted = 0
    }
}

RankLoadCommand.main()
