import CoreMetrics
import Dispatch
import Foundation

/// Where a log's records go besides (or instead of) its files: a Redis Stream, for instance.
public protocol LogSink: Sendable {
    /// What to call it in errors and metrics: "redis".
    var name: String { get }
    /// Writes records; throws when the destination refused them (they are counted as failed, not retried).
    func write(_ records: [[UInt8]]) throws
}

/// How a log writes and when it rotates.
public struct LogSettings: Sendable {
    /// Records waiting to be written; when full, new records are dropped and counted, never waited for.
    public var queueCapacity = 65_536
    /// A file is closed and a new one started past this size...
    public var maxFileBytes = 64 << 20
    /// ...or this age.
    public var maxFileAgeSeconds = 3_600.0
    /// Queued records are written at least this often.
    public var flushIntervalSeconds = 1.0
    public var format = LogFormat.protobuf

    public init() {}
}

/// What became of the records a log was offered: written (to every destination), dropped (queue full or log
/// stopped), failed (a destination refused the write).
public struct LogTotals: Sendable, Equatable {
    public var written = 0
    public var dropped = 0
    public var failed = 0

    public init(written: Int = 0, dropped: Int = 0, failed: Int = 0) {
        self.written = written
        self.dropped = dropped
        self.failed = failed
    }
}

/// A log of one record stream, written off the serving path: ``offer(_:)`` puts a record in a bounded queue and
/// returns at once; a thread of the log's own encodes queued records and writes them to rotating files and to the
/// extra sinks. A full queue drops the new record and counts it (`rankd_log_records_total{outcome="dropped"}`); a
/// sink that fails counts its records as failed; neither ever slows an answer.
public final class RecordLog<Record: LogRecord>: @unchecked Sendable {
    /// "exposure" or "event", the metrics' `log` label.
    public let name: String
    private let settings: LogSettings
    private let file: RotatingFile?
    private let sinks: [any LogSink]
    private let condition = NSCondition()
    private var queue: [Record] = []
    private var stopping = false
    private var stopped = false
    private var thread: Thread?
    private let counters: (written: Counter, dropped: Counter, failed: Counter)
    private let depth: Gauge
    // Counts also kept here, for tests and for the summary printed at shutdown.
    private var totals = LogTotals()

    /// - Parameters:
    ///   - directory: the files' folder and prefix; nil writes to `sinks` only.
    /// - Throws: when the folder cannot be created or written to.
    public init(
        name: String,
        directory: LogDirectory?,
        sinks: [any LogSink] = [],
        settings: LogSettings = LogSettings()
    )
        throws
    {
        self.name = name
        self.settings = settings
        self.sinks = sinks
        file = try directory.map {
            try RotatingFile(
                directory: $0,
                format: settings.format,
                maxBytes: settings.maxFileBytes,
                maxAgeSeconds: settings.maxFileAgeSeconds
            )
        }
        (counters, depth) = LogMetrics.handles(log: name)
        queue.reserveCapacity(min(settings.queueCapacity, 4096))
        let thread = Thread { [weak self] in self?.run() }
        thread.name = "rankd-log-\(name)"
        self.thread = thread
        thread.start()
    }

    /// Queues a record; false (and counted as dropped) when the queue is full or the log has stopped.
    @discardableResult
    public func offer(_ record: Record) -> Bool {
        condition.lock()
        guard !stopping, queue.count < settings.queueCapacity else {
            totals.dropped += 1
            condition.unlock()
            counters.dropped.increment()
            return false
        }
        queue.append(record)
        // Woken only when a batch is worth writing; the interval wakes it otherwise.
        if queue.count == 1024 { condition.signal() }
        condition.unlock()
        return true
    }

    /// The counts so far.
    public var totalsSoFar: LogTotals {
        condition.lock()
        defer { condition.unlock() }
        return totals
    }

    /// Writes what is queued, closes the current file and stops the thread; records offered afterwards are dropped.
    /// Waits at most `timeoutSeconds` for the queue to drain.
    public func stop(timeoutSeconds: Double = 10) {
        condition.lock()
        stopping = true
        condition.broadcast()
        let until = Date(timeIntervalSinceNow: timeoutSeconds)
        while !stopped && condition.wait(until: until) {}
        condition.unlock()
    }

    /// Writes everything queued now and returns when it is written (tests, and the admin port's flush).
    public func flush() {
        condition.lock()
        let target = totals.written + totals.failed + queue.count
        condition.broadcast()
        let until = Date(timeIntervalSinceNow: 10)
        while totals.written + totals.failed < target && !stopped && condition.wait(until: until) {}
        condition.unlock()
    }

    private func run() {
        var batch: [Record] = []
        var bytes: [UInt8] = []
        var encoded: [[UInt8]] = []
        while true {
            condition.lock()
            if queue.isEmpty && !stopping {
                _ = condition.wait(until: Date(timeIntervalSinceNow: settings.flushIntervalSeconds))
            }
            depth.record(queue.count)
            swap(&batch, &queue)
            let finishing = stopping && batch.isEmpty
            condition.unlock()
            if finishing { break }
            if batch.isEmpty { continue }

            var failed = 0
            if let file {
                bytes.removeAll(keepingCapacity: true)
                for record in batch { LogCoding.append(record, format: settings.format, to: &bytes) }
                do {
                    try file.append(bytes)
                } catch {
                    failed = batch.count
                }
            }
            if !sinks.isEmpty && failed == 0 {
                encoded = batch.map { $0.protobuf() }
                for sink in sinks {
                    do { try sink.write(encoded) } catch { failed = batch.count }
                }
            }
            condition.lock()
            totals.written += batch.count - failed
            totals.failed += failed
            condition.broadcast()
            condition.unlock()
            if failed < batch.count { counters.written.increment(by: Int64(batch.count - failed)) }
            if failed > 0 { counters.failed.increment(by: Int64(failed)) }
            batch.removeAll(keepingCapacity: true)
        }
        file?.close()
        condition.lock()
        stopped = true
        condition.broadcast()
        condition.unlock()
    }
}

/// The logs' metrics: `rankd_log_records_total{log, outcome}` (written, dropped, failed) and
/// `rankd_log_queue_depth{log}`.
public enum LogMetrics {
    static func handles(log: String) -> ((written: Counter, dropped: Counter, failed: Counter), Gauge) {
        (
            (
                Counter(label: "rankd_log_records_total", dimensions: [("log", log), ("outcome", "written")]),
                Counter(label: "rankd_log_records_total", dimensions: [("log", log), ("outcome", "dropped")]),
                Counter(label: "rankd_log_records_total", dimensions: [("log", log), ("outcome", "failed")])
            ),
            Gauge(label: "rankd_log_queue_depth", dimensions: [("log", log)])
        )
    }

    /// Makes the series of `logs` exist from the start (at zero), so that dashboards and alert rules find them
    /// whether or not a log is configured.
    public static func register(logs: [String]) {
        for log in logs { _ = handles(log: log) }
    }
}
