import Foundation
import H2GRPC

/// How load is offered.
public enum LoadMode: Sendable, Equatable {
    /// Requests are sent on a schedule whatever the server does; latency counts from each intended send time.
    case openLoop(LoadSchedule)
    /// Every one of `concurrency` callers sends its next request when its previous one ends, for `duration` after
    /// `warmup`. A stalled server then slows the sending down, which hides the stall from the latencies: use this
    /// only to find a throughput ceiling, never to report latency.
    case closedLoop(concurrency: Int, durationNanoseconds: UInt64, warmupNanoseconds: UInt64)
}

/// What a run does: where to, how many connections and streams, which requests, on what schedule.
public struct LoadConfiguration: Sendable {
    /// Server host.
    public var host: String
    /// Server port.
    public var port: Int
    /// HTTP/2 connections; request `i` goes to connection `i % connections`.
    public var connections: Int = 4
    /// Calls open at once on one connection; more requests wait in the generator (their wait counts in latency).
    public var streamsPerConnection: Int = 100
    /// Event-loop threads the connections are spread over.
    public var ioThreads: Int = 1
    /// CPUs to pin the event-loop threads to (taskset on the whole process is the other way).
    public var pinCPUs: [Int]?
    /// The schedule, or closed loop.
    public var mode: LoadMode
    /// Deadline of each call, counted from its intended send time; also sent as grpc-timeout. 0: no deadline
    /// (calls still open 10 s after the schedule ends are cut off and counted as transport errors).
    public var timeoutNanoseconds: UInt64 = 5_000_000_000
    /// The requests.
    public var workload: Workload
    /// Open loop: also record the measured schedule in windows of this length, by intended send time (0: none).
    /// Each window is a ``PhaseRecord`` of its own, so a step schedule shows second by second how latency follows
    /// the rate, e.g. how soon it recovers once a surge ends.
    public var windowNanoseconds: UInt64 = 0
    /// Most windows a run may have: each is a full record of four histograms (about half a MiB per event loop).
    public static let maxWindows = 120
    /// How often ``onProgress`` hears of the run.
    public var progressIntervalNanoseconds: UInt64 = 1_000_000_000
    /// Called from the thread that called ``LoadRunner/run()`` while the run goes on.
    public var onProgress: (@Sendable (LoadProgress) -> Void)?
    /// Called on the scheduler thread right after request `index` was handed to its loop. For tests that need to
    /// act at a known point of the schedule (never used in real runs).
    public var onDispatch: (@Sendable (Int) -> Void)?

    /// Creates a configuration.
    public init(host: String, port: Int, mode: LoadMode, workload: Workload) {
        self.host = host
        self.port = port
        self.mode = mode
        self.workload = workload
    }
}

/// A snapshot for the progress line.
public struct LoadProgress: Sendable {
    /// Time since the schedule started.
    public var elapsedNanoseconds: UInt64
    /// Planned length of the run (warm-up included).
    public var totalNanoseconds: UInt64
    /// Whether the run is still in its warm-up.
    public var inWarmup: Bool
    /// Requests handed to the event loops so far.
    public var dispatched: UInt64
    /// Calls finished so far.
    public var completed: UInt64
    /// Calls that did not end with OK so far.
    public var failed: UInt64
    /// Completions per second over the last interval.
    public var recentRate: Double
}

/// The outcome of one run, before any judgement: per-phase records plus what is needed to judge them.
public struct LoadResult: Sendable {
    /// The configuration's mode.
    public var mode: LoadMode
    /// Names of the phases, e.g. ["warm-up", "measured"] or ["warm-up", "step 1", "step 2"].
    public var phaseNames: [String]
    /// Target rate of each phase (0 in closed loop).
    public var phaseTargetRates: [Double]
    /// Length of each phase's window.
    public var phaseDurations: [UInt64]
    /// How many leading phases are warm-up.
    public var warmupPhases: Int
    /// Records, one per phase, merged over every loop.
    public var phases: [PhaseRecord]
    /// Length of the time windows (0 when the run was not recorded in windows).
    public var windowNanoseconds: UInt64 = 0
    /// Start of each window, from the start of the measured schedule.
    public var windowStarts: [UInt64] = []
    /// Length of each window (the last one may be shorter).
    public var windowDurations: [UInt64] = []
    /// Mean target rate of each window.
    public var windowTargetRates: [Double] = []
    /// Records, one per window of the measured schedule, by intended send time, merged over every loop.
    public var windows: [PhaseRecord] = []
    /// Calls still open when the run was cut off after its drain grace period, recorded as transport errors.
    public var abandoned: UInt64
    /// Connections x streams, for reports.
    public var connections: Int
    /// Streams per connection.
    public var streamsPerConnection: Int
    /// Call deadline.
    public var timeoutNanoseconds: UInt64
    /// Workload description.
    public var workloadName: String
    /// Method most requests call.
    public var path: String
    /// "host:port".
    public var target: String

    /// Every measured phase merged.
    public var measured: PhaseRecord {
        var total = PhaseRecord()
        for record in phases.dropFirst(warmupPhases) { total.add(record) }
        return total
    }

    /// Every warm-up phase merged.
    public var warmup: PhaseRecord {
        var total = PhaseRecord()
        for record in phases.prefix(warmupPhases) { total.add(record) }
        return total
    }

    /// Length of the measured window.
    public var measuredNanoseconds: UInt64 { phaseDurations.dropFirst(warmupPhases).reduce(0, +) }

    /// Length of the warm-up.
    public var warmupNanoseconds: UInt64 { phaseDurations.prefix(warmupPhases).reduce(0, +) }

    /// Mean target rate of the measured window (0 in closed loop).
    public var targetRate: Double {
        let seconds = Double(measuredNanoseconds) / 1e9
        guard seconds > 0 else { return 0 }
        let requests = zip(phaseTargetRates, phaseDurations).dropFirst(warmupPhases).reduce(0.0) {
            $0 + $1.0 * Double($1.1) / 1e9
        }
        return requests / seconds
    }

    /// Requests the generator dispatched in the measured window per second.
    public var achievedRate: Double {
        let seconds = Double(measuredNanoseconds) / 1e9
        return seconds > 0 ? Double(measured.dispatchedInWindow) / seconds : 0
    }

    /// Calls of the measured window that finished, per second of the window.
    public var completedRate: Double {
        let seconds = Double(measuredNanoseconds) / 1e9
        return seconds > 0 ? Double(measured.corrected.count) / seconds : 0
    }

    /// Whether latencies count from intended send times.
    public var isOpenLoop: Bool {
        if case .openLoop = mode { return true }
        return false
    }
}

/// Runs one load test: opens the connections, sends on the schedule from a scheduler thread, records on the event
/// loops, waits for every call to end, and returns the merged records.
///
/// Threads: the scheduler thread only computes send times, sleeps until them and hands batches to the loops; each
/// loop owns its connections and its records, so nothing on the hot path takes a lock but the loop's own task
/// queue. The calling thread reports progress and waits.
public final class LoadRunner: @unchecked Sendable {
    private let configuration: LoadConfiguration

    /// Prepares a run.
    public init(configuration: LoadConfiguration) {
        precondition(configuration.connections > 0 && configuration.streamsPerConnection > 0, "need a stream")
        if case .openLoop(let schedule) = configuration.mode, configuration.windowNanoseconds > 0 {
            let windows =
                (schedule.measuredNanoseconds + configuration.windowNanoseconds - 1)
                / configuration.windowNanoseconds
            precondition(windows <= LoadConfiguration.maxWindows, "more than maxWindows windows")
        }
        self.configuration = configuration
    }

    /// Runs to the end and returns what was recorded. Throws only when the connections cannot be opened.
    public func run() throws -> LoadResult {
        let config = configuration
        let loopCount = max(1, min(config.ioThreads, config.connections))
        let group = try EventLoopGroup(count: loopCount, prefix: "load", pinToCPUs: config.pinCPUs)
        defer { group.shutdown() }

        let plan = PhasePlan(mode: config.mode, windowNanoseconds: config.windowNanoseconds)
        var connections: [ClientConnection] = []
        do {
            for index in 0..<config.connections {
                connections.append(
                    try ClientConnection(host: config.host, port: config.port, loop: group.loops[index % loopCount])
                )
            }
        } catch {
            for connection in connections { connection.close() }
            throw error
        }
        let workers = (0..<loopCount).map { loopIndex in
            LoopWorker(
                loop: group.loops[loopIndex],
                connections: connections.enumerated().filter { $0.offset % loopCount == loopIndex }.map(\.element),
                configuration: config,
                plan: plan,
                workerIndex: loopIndex,
                workerCount: loopCount
            )
        }

        let start = MonotonicClock.now() + 20_000_000
        let endOfSchedule = start + plan.totalNanoseconds
        for worker in workers { worker.begin(start: start) }

        let scheduler = SchedulerState()
        if case .openLoop(let schedule) = config.mode {
            let thread = Thread { [config] in
                Self.schedule(schedule, plan: plan, start: start, workers: workers, config: config, state: scheduler)
            }
            thread.name = "load-scheduler"
            thread.stackSize = 1 << 20
            thread.start()
        } else {
            scheduler.finish(dispatched: 0)
        }

        // Every call ends by its deadline (the client enforces it), so after the schedule plus one deadline plus a
        // grace period anything still open is a bug somewhere below and is cut off rather than waited for.
        let deadline = config.timeoutNanoseconds > 0 ? config.timeoutNanoseconds : 10_000_000_000
        let hardStop = endOfSchedule + deadline + 3_000_000_000
        var nextProgress = start + config.progressIntervalNanoseconds
        var lastCompleted: UInt64 = 0
        var lastProgressTime = start
        while true {
            MonotonicClock.sleep(until: MonotonicClock.now() + 5_000_000)
            let now = MonotonicClock.now()
            let counts = workers.map { $0.counters() }
            let completed = counts.reduce(0) { $0 + $1.completed }
            let received = counts.reduce(0) { $0 + $1.received }
            if now >= nextProgress, let onProgress = config.onProgress {
                let interval = Double(now - lastProgressTime) / 1e9
                onProgress(
                    LoadProgress(
                        elapsedNanoseconds: now > start ? now - start : 0,
                        totalNanoseconds: plan.totalNanoseconds,
                        inWarmup: now < start + plan.warmupNanoseconds,
                        dispatched: received,
                        completed: completed,
                        failed: counts.reduce(0) { $0 + $1.failed },
                        recentRate: interval > 0 ? Double(completed - lastCompleted) / interval : 0
                    )
                )
                lastCompleted = completed
                lastProgressTime = now
                nextProgress = now + config.progressIntervalNanoseconds
            }
            let schedulerDone = scheduler.isFinished
            let openLoopDone = schedulerDone && received == scheduler.dispatched && completed == received
            let closedLoopDone = !plan.isOpenLoop && now >= endOfSchedule && counts.allSatisfy { $0.outstanding == 0 }
            if (plan.isOpenLoop && openLoopDone) || closedLoopDone || now >= hardStop { break }
        }

        // Closing fails whatever is still open (recorded as transport errors); then the records are collected on
        // their own threads.
        for worker in workers { worker.stop() }
        for connection in connections { connection.close() }
        var phases = [PhaseRecord](repeating: PhaseRecord(), count: plan.names.count)
        var windows = [PhaseRecord](repeating: PhaseRecord(), count: plan.windowStarts.count)
        var abandoned: UInt64 = 0
        for worker in workers {
            let (records, windowRecords, cut) = worker.collect()
            for index in phases.indices { phases[index].add(records[index]) }
            for index in windows.indices { windows[index].add(windowRecords[index]) }
            abandoned += cut
        }
        let (streams, connectionCount) = (config.streamsPerConnection, config.connections)
        var result = LoadResult(
            mode: config.mode,
            phaseNames: plan.names,
            phaseTargetRates: plan.targetRates,
            phaseDurations: plan.durations,
            warmupPhases: plan.warmupPhases,
            phases: phases,
            abandoned: abandoned,
            connections: connectionCount,
            streamsPerConnection: streams,
            timeoutNanoseconds: config.timeoutNanoseconds,
            workloadName: config.workload.name,
            path: config.workload.primaryPath,
            target: "\(config.host):\(config.port)"
        )
        if !windows.isEmpty {
            result.windowNanoseconds = config.windowNanoseconds
            result.windowStarts = plan.windowStarts.map { $0 - plan.measuredStartNanoseconds }
            result.windowDurations = plan.windowDurations
            result.windowTargetRates = plan.windowTargetRates
            result.windows = windows
        }
        return result
    }

    /// The scheduler thread: computes each intended send time, sleeps until it, and hands the due requests to
    /// their loops in batches. It never waits for the server, so a stall cannot slow the offered load down.
    private static func schedule(
        _ schedule: LoadSchedule,
        plan: PhasePlan,
        start: UInt64,
        workers: [LoopWorker],
        config: LoadConfiguration,
        state: SchedulerState
    ) {
        let connectionCount = config.connections
        let loopCount = workers.count
        var batches = [[ScheduledRequest]](repeating: [], count: loopCount)
        var index = 0
        var hint = 0
        var pendingNotifications: [Int] = []

        func flush() {
            for (workerIndex, batch) in batches.enumerated() where !batch.isEmpty {
                let worker = workers[workerIndex]
                worker.loop.execute { worker.accept(batch) }
                batches[workerIndex].removeAll(keepingCapacity: true)
            }
            if let onDispatch = config.onDispatch {
                for notified in pendingNotifications { onDispatch(notified) }
                pendingNotifications.removeAll(keepingCapacity: true)
            }
        }

        while let (offset, segment) = schedule.sendTime(ofRequest: index, hint: hint) {
            hint = segment
            let intended = start + offset
            if intended > MonotonicClock.now() {
                flush()
                MonotonicClock.sleep(until: intended)
            }
            let connection = index % connectionCount
            let workerIndex = connection % loopCount
            batches[workerIndex].append(
                ScheduledRequest(
                    index: index,
                    intended: intended,
                    phase: segment,
                    window: plan.window(atOffset: offset) ?? -1,
                    connection: connection / loopCount
                )
            )
            if config.onDispatch != nil { pendingNotifications.append(index) }
            index += 1
            // Bounded batches keep a late scheduler from handing one loop thousands of requests at once.
            if batches[workerIndex].count >= 64 { flush() }
        }
        flush()
        state.finish(dispatched: UInt64(index))
    }
}

/// Phase names, windows and target rates for a mode.
struct PhasePlan: Sendable {
    var names: [String]
    var targetRates: [Double]
    var durations: [UInt64]
    var warmupPhases: Int
    var isOpenLoop: Bool
    var closedLoopConcurrency: Int
    /// Where the measured schedule starts on the timeline.
    var measuredStartNanoseconds: UInt64 = 0
    /// Open loop with windows: where each window of the measured schedule starts on the timeline, its length and
    /// mean target rate. Empty without windows.
    var windowStarts: [UInt64] = []
    var windowDurations: [UInt64] = []
    var windowTargetRates: [Double] = []

    init(mode: LoadMode, windowNanoseconds: UInt64 = 0) {
        switch mode {
        case .openLoop(let schedule):
            isOpenLoop = true
            closedLoopConcurrency = 0
            warmupPhases = schedule.warmupSegments
            let measuredCount = schedule.segments.count - schedule.warmupSegments
            names = schedule.segments.indices.map { index in
                if index < schedule.warmupSegments { return "warm-up" }
                return measuredCount == 1 ? "measured" : "step \(index - schedule.warmupSegments + 1)"
            }
            targetRates = schedule.segments.map(\.meanRate)
            durations = schedule.segments.map(\.durationNanoseconds)
            measuredStartNanoseconds = schedule.measuredStartNanoseconds
            if windowNanoseconds > 0 {
                var windowStart = schedule.measuredStartNanoseconds
                while windowStart < schedule.totalNanoseconds {
                    let end = Swift.min(windowStart + windowNanoseconds, schedule.totalNanoseconds)
                    windowStarts.append(windowStart)
                    windowDurations.append(end - windowStart)
                    let requests =
                        schedule.expectedRequests(untilOffset: end)
                        - schedule.expectedRequests(untilOffset: windowStart)
                    windowTargetRates.append(requests / (Double(end - windowStart) / 1e9))
                    windowStart = end
                }
            }
        case .closedLoop(let concurrency, let duration, let warmup):
            isOpenLoop = false
            closedLoopConcurrency = concurrency
            warmupPhases = warmup > 0 ? 1 : 0
            names = (warmup > 0 ? ["warm-up"] : []) + ["measured"]
            targetRates = names.map { _ in 0 }
            durations = (warmup > 0 ? [warmup] : []) + [duration]
            measuredStartNanoseconds = warmup
        }
    }

    var totalNanoseconds: UInt64 { durations.reduce(0, +) }
    var warmupNanoseconds: UInt64 { durations.prefix(warmupPhases).reduce(0, +) }

    /// The time window of the measured schedule that holds `offset` from the start; nil without windows, in the
    /// warm-up, or past the end.
    func window(atOffset offset: UInt64) -> Int? {
        guard let first = windowStarts.first, offset >= first else { return nil }
        let index = windowStarts.count == 1 ? 0 : Int((offset - first) / (windowStarts[1] - first))
        return index < windowStarts.count && offset < windowStarts[index] + windowDurations[index] ? index : nil
    }

    /// The phase whose window holds `offset` from the start, or nil past the end.
    func phase(atOffset offset: UInt64) -> Int? {
        var end: UInt64 = 0
        for (index, duration) in durations.enumerated() {
            end += duration
            if offset < end { return index }
        }
        return nil
    }
}

/// One request as the scheduler hands it over.
struct ScheduledRequest: Sendable {
    var index: Int
    var intended: UInt64
    var phase: Int
    /// The time window of the measured schedule the intended send time falls in; -1 for none.
    var window: Int
    /// Index among the worker's connections.
    var connection: Int
}

/// Whether the scheduler has handed over its last request, and how many it handed over.
final class SchedulerState: @unchecked Sendable {
    private let lock = NSLock()
    private var finished = false
    private var total: UInt64 = 0

    func finish(dispatched: UInt64) {
        lock.withLock {
            finished = true
            total = dispatched
        }
    }

    var isFinished: Bool { lock.withLock { finished } }
    var dispatched: UInt64 { lock.withLock { total } }
}
