import Foundation
import Prometheus

/// The standard process metrics, read from /proc when a scrape asks: resident memory, CPU seconds, open and maximum
/// file descriptors, and the start time. Where /proc is missing (not Linux) the gauges stay at zero.
final class ProcessSampler: @unchecked Sendable {
    private let resident: Gauge
    private let cpu: Counter
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let startTime: Gauge
    private var cpuReported = 0.0
    private let lock = NSLock()

    init(registry: PrometheusCollectorRegistry) {
        resident = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        cpu = registry.makeCounter(name: "process_cpu_seconds_total", help: "User and system CPU time in seconds.")
        openFDs = registry.makeGauge(name: "process_open_fds", help: "Open file descriptors.")
        maxFDs = registry.makeGauge(name: "process_max_fds", help: "Limit on open file descriptors.")
        startTime = registry.makeGauge(
            name: "process_start_time_seconds",
            help: "Start time of the process since the Unix epoch, in seconds."
        )
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = Self.statFields(), stat.count > 21, let started = Double(stat[21]), ticks > 0,
            let boot = Self.bootTime()
        {
            startTime.set(boot + started / ticks)
        }
    }

    /// Reads /proc once and updates every gauge.
    func sample() {
        lock.lock()
        defer { lock.unlock() }
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        if let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) {
            let fields = statm.split(separator: " ")
            if fields.count > 1, let pages = Double(fields[1]) { resident.set(pages * page) }
        }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        if let stat = Self.statFields(), stat.count > 14, let user = Double(stat[13]), let system = Double(stat[14]),
            ticks > 0
        {
            let seconds = (user + system) / ticks
            if seconds > cpuReported {
                cpu.increment(by: seconds - cpuReported)
                cpuReported = seconds
            }
        }
        if let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") {
            openFDs.set(Double(entries.count))
        }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.set(Double(limit.rlim_cur)) }
    }

    /// The fields of /proc/self/stat, from the state on (the command name may hold spaces, so split after ")").
    private static func statFields() -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Field 3 (state) is at index 2 after padding with the pid and command.
        return ["pid", "comm"] + stat[stat.index(after: close)...].split(separator: " ")
    }

    private static func bootTime() -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8) else { return nil }
        for line in stat.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }
}
