import Foundation

/// Percentiles of one histogram in milliseconds, as the JSON report and the table show them.
public struct LatencySummary: Codable, Sendable, Equatable {
    /// Smallest value.
    public var min: Double
    /// Median.
    public var p50: Double
    /// 90th percentile.
    public var p90: Double
    /// 99th percentile.
    public var p99: Double
    /// 99.9th percentile.
    public var p999: Double
    /// 99.99th percentile.
    public var p9999: Double
    /// Largest value.
    public var max: Double
    /// Mean (for completeness only).
    public var mean: Double
    /// Number of values.
    public var count: UInt64

    /// Summarises a histogram.
    public init(_ histogram: LatencyHistogram) {
        func ms(_ nanoseconds: UInt64) -> Double { (Double(nanoseconds) / 1e3).rounded() / 1e3 }
        min = ms(histogram.min)
        p50 = ms(histogram.valueAtPercentile(50))
        p90 = ms(histogram.valueAtPercentile(90))
        p99 = ms(histogram.valueAtPercentile(99))
        p999 = ms(histogram.valueAtPercentile(99.9))
        p9999 = ms(histogram.valueAtPercentile(99.99))
        max = ms(histogram.max)
        mean = (histogram.mean / 1e3).rounded() / 1e3
        count = histogram.count
    }
}

/// The full histogram in the JSON report: every recorded bucket, enough to merge runs or recompute percentiles.
public struct HistogramDump: Codable, Sendable, Equatable {
    /// Unit of `counts` values: "us".
    public var unit = "us"
    /// Significant digits the histogram keeps.
    public var significantDigits = 3
    /// Lowest and highest trackable values, in `unit`.
    public var lowest = LatencyHistogram.lowestMicroseconds
    /// Highest trackable value, in `unit`.
    public var highest = LatencyHistogram.highestMicroseconds
    /// Values above `highest`, recorded at it.
    public var clamped: UInt64
    /// [value, count] pairs, value ascending.
    public var counts: [[UInt64]]

    /// Dumps a histogram.
    public init(_ histogram: LatencyHistogram) {
        clamped = histogram.clampedCount
        counts = histogram.buckets.map { [$0.microseconds, $0.count] }
    }

    enum CodingKeys: String, CodingKey {
        case unit
        case significantDigits = "significant_digits"
        case lowest, highest, clamped, counts
    }
}

/// Per-phase summary (warm-up, each step) or per-window summary (``LoadConfiguration/windowNanoseconds``).
public struct PhaseSummary: Codable, Sendable, Equatable {
    /// "warm-up", "measured", "step 2"; for a window its span from the start of the measured schedule, "10-11s".
    public var name: String
    /// Where the phase or window starts, in seconds from the start of the measured schedule (negative for the
    /// warm-up).
    public var startS: Double
    /// Target rate.
    public var targetRPS: Double
    /// Dispatched per second within the phase's window.
    public var achievedRPS: Double
    /// Calls that ended with OK per second of the phase (calls counted by intended send time).
    public var goodputRPS: Double
    /// Phase length.
    public var durationS: Double
    /// Corrected latency, every call.
    public var latencyMs: LatencySummary
    /// Corrected latency per grpc-status name, only the statuses that occurred.
    public var latencyByStatusMs: [String: LatencySummary]
    /// Counts per grpc-status.
    public var statusCounts: [String: UInt64]

    /// Summarises one phase or window record.
    public init(name: String, startS: Double, targetRPS: Double, durationNanoseconds: UInt64, record: PhaseRecord) {
        let seconds = Double(durationNanoseconds) / 1e9
        self.name = name
        self.startS = (startS * 1000).rounded() / 1000
        self.targetRPS = (targetRPS * 10).rounded() / 10
        achievedRPS = seconds > 0 ? (Double(record.dispatchedInWindow) / seconds * 10).rounded() / 10 : 0
        goodputRPS = seconds > 0 ? (Double(record.statuses.ok) / seconds * 10).rounded() / 10 : 0
        durationS = seconds
        latencyMs = LatencySummary(record.corrected)
        latencyByStatusMs = record.latencyByStatus.byName.mapValues(LatencySummary.init)
        statusCounts = record.statuses.countsByName
    }

    enum CodingKeys: String, CodingKey {
        case name
        case startS = "start_s"
        case targetRPS = "target_rps"
        case achievedRPS = "achieved_rps"
        case goodputRPS = "goodput_rps"
        case durationS = "duration_s"
        case
            latencyMs = "latency_ms"
        case latencyByStatusMs = "latency_by_status_ms"
        case statusCounts = "status_counts"
    }
}

/// What a run found, judged: the JSON report's content and the source of the human table.
public struct RunReport: Codable, Sendable {
    /// "rank-load".
    public var tool = "rank-load"
    /// "host:port".
    public var target: String
    /// The method most requests call.
    public var method: String
    /// The request mix.
    public var workload: String
    /// "open-loop" or "closed-loop".
    public var mode: String
    /// Connections.
    public var connections: Int
    /// Streams per connection.
    public var streamsPerConnection: Int
    /// Call deadline in ms.
    public var timeoutMs: Double
    /// Measured window length.
    public var durationS: Double
    /// Warm-up length (excluded from everything but `warmup`).
    public var warmupS: Double
    /// Mean target rate of the measured window (0 in closed loop).
    public var targetRPS: Double
    /// Requests dispatched per second in the measured window.
    public var achievedRPS: Double
    /// Calls finished per second of the measured window.
    public var completedRPS: Double
    /// Calls of the measured window that ended with OK, per second of the window: the work the server got done.
    public var goodputRPS: Double
    /// Whether the generator kept up (see ``ValidityGate``).
    public var valid: Bool
    /// Why not, when not.
    public var invalidReasons: [String]
    /// Latency from intended send time (coordinated-omission corrected), every call.
    public var latencyMs: LatencySummary
    /// The same latency per grpc-status name ("OK", "RESOURCE_EXHAUSTED", ...), only the statuses that occurred.
    public var latencyByStatusMs: [String: LatencySummary]
    /// Latency from the actual send (what tools without the correction report).
    public var uncorrectedLatencyMs: LatencySummary
    /// Time to the first response message from intended send time (streaming methods).
    public var firstMessageMs: LatencySummary?
    /// The generator's own lag.
    public var schedulingLagMs: LatencySummary
    /// Calls per grpc-status name.
    public var statusCounts: [String: UInt64]
    /// Calls per HTTP :status.
    public var httpStatusCounts: [String: UInt64]
    /// Calls per kind of ending (trailers, http_error, rst_stream, goaway, timeout, transport_error).
    public var endingCounts: [String: UInt64]
    /// RST_STREAM error codes.
    public var rstStreamCodes: [String: UInt64]
    /// Transport failures by reason.
    public var transportErrors: [String: UInt64]
    /// Share of measured calls that did not end with OK.
    public var errorRate: Double
    /// Requests that waited in the generator for a free stream (their wait is part of their latency).
    public var waitedForStream: UInt64
    /// Response messages per finished call.
    public var messagesPerCall: Double
    /// The warm-up, reported but excluded.
    public var warmup: PhaseSummary?
    /// Every phase (warm-up and steps).
    public var phases: [PhaseSummary]
    /// Length of the time windows, when the run was recorded in windows.
    public var windowS: Double?
    /// The measured schedule in windows of `windowS`, calls counted by intended send time; nil without windows.
    public var windows: [PhaseSummary]?
    /// The SLO checked, if any.
    public var slo: String?
    /// Whether it held; nil without an SLO.
    public var sloMet: Bool?
    /// Breached bounds.
    public var sloBreaches: [String]?
    /// The corrected latency histogram of the measured window.
    public var histogram: HistogramDump
    /// The uncorrected latency histogram of the measured window.
    public var uncorrectedHistogram: HistogramDump

    enum CodingKeys: String, CodingKey {
        case tool, target, method, workload, mode, connections
        case streamsPerConnection = "streams_per_connection"
        case
            timeoutMs = "timeout_ms"
        case durationS = "duration_s"
        case warmupS = "warmup_s"
        case targetRPS = "target_rps"
        case
            achievedRPS = "achieved_rps"
        case completedRPS = "completed_rps"
        case goodputRPS = "goodput_rps"
        case valid
        case invalidReasons = "invalid_reasons"
        case
            latencyMs = "latency_ms"
        case latencyByStatusMs = "latency_by_status_ms"
        case uncorrectedLatencyMs = "uncorrected_latency_ms"
        case
            firstMessageMs = "first_message_ms"
        case schedulingLagMs = "scheduling_lag_ms"
        case
            statusCounts = "status_counts"
        case httpStatusCounts = "http_status_counts"
        case endingCounts = "ending_counts"
        case
            rstStreamCodes = "rst_stream_codes"
        case transportErrors = "transport_errors"
        case errorRate = "error_rate"
        case
            waitedForStream = "waited_for_stream"
        case messagesPerCall = "messages_per_call"
        case warmup, phases, slo
        case windowS = "window_s"
        case windows
        case
            sloMet = "slo_met"
        case sloBreaches = "slo_breaches"
        case histogram
        case uncorrectedHistogram = "uncorrected_histogram"
    }

    /// Judges a result with a validity gate and, optionally, an SLO.
    public init(result: LoadResult, gate: ValidityGate = ValidityGate(), slo: ServiceLevelObjective? = nil) {
        let measured = result.measured
        target = result.target
        method = result.path
        workload = result.workloadName
        mode = result.isOpenLoop ? "open-loop" : "closed-loop"
        connections = result.connections
        streamsPerConnection = result.streamsPerConnection
        timeoutMs = Double(result.timeoutNanoseconds) / 1e6
        durationS = Double(result.measuredNanoseconds) / 1e9
        warmupS = Double(result.warmupNanoseconds) / 1e9
        targetRPS = (result.targetRate * 10).rounded() / 10
        achievedRPS = (result.achievedRate * 10).rounded() / 10
        completedRPS = (result.completedRate * 10).rounded() / 10
        let measuredSeconds = Double(result.measuredNanoseconds) / 1e9
        goodputRPS = measuredSeconds > 0 ? (Double(measured.statuses.ok) / measuredSeconds * 10).rounded() / 10 : 0
        invalidReasons = gate.problems(result)
        valid = invalidReasons.isEmpty
        latencyMs = LatencySummary(measured.corrected)
        latencyByStatusMs = measured.latencyByStatus.byName.mapValues(LatencySummary.init)
        uncorrectedLatencyMs = LatencySummary(measured.uncorrected)
        // Only for streams: with one message per call the first message is the completion, and a second row of
        // the same numbers would only be noise.
        firstMessageMs = measured.isStreaming ? LatencySummary(measured.firstMessage) : nil
        schedulingLagMs = LatencySummary(measured.schedulingLag)
        let statuses = measured.statuses
        statusCounts = statuses.countsByName
        httpStatusCounts = Dictionary(uniqueKeysWithValues: statuses.byHTTPStatus.map { (String($0.key), $0.value) })
        endingCounts = statuses.countsByEnding
        rstStreamCodes = Dictionary(uniqueKeysWithValues: statuses.resets.map { (String($0.key), $0.value) })
        transportErrors = statuses.transportErrors
        errorRate = statuses.errorFraction
        waitedForStream = measured.waitedForStream
        messagesPerCall = statuses.total > 0 ? Double(measured.messages) / Double(statuses.total) : 0
        var phaseStart = -Double(result.warmupNanoseconds) / 1e9
        phases = result.phases.indices.map { index in
            defer { phaseStart += Double(result.phaseDurations[index]) / 1e9 }
            return PhaseSummary(
                name: result.phaseNames[index],
                startS: phaseStart,
                targetRPS: result.phaseTargetRates[index],
                durationNanoseconds: result.phaseDurations[index],
                record: result.phases[index]
            )
        }
        if !result.windows.isEmpty {
            windowS = Double(result.windowNanoseconds) / 1e9
            windows = result.windows.indices.map { index in
                let start = Double(result.windowStarts[index]) / 1e9
                let end = start + Double(result.windowDurations[index]) / 1e9
                return PhaseSummary(
                    name: "\(trimmed(start))-\(trimmed(end))s",
                    startS: start,
                    targetRPS: result.windowTargetRates[index],
                    durationNanoseconds: result.windowDurations[index],
                    record: result.windows[index]
                )
            }
        }
        warmup = result.warmupPhases > 0 ? phases[0] : nil
        if let slo {
            let verdict = slo.evaluate(latency: measured.corrected, errorFraction: statuses.errorFraction)
            self.slo = slo.description
            sloMet = verdict.met
            sloBreaches = verdict.breaches
        }
        histogram = HistogramDump(measured.corrected)
        uncorrectedHistogram = HistogramDump(measured.uncorrected)
    }

    /// The JSON report, keys sorted so runs diff cleanly.
    public func json() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }
}
