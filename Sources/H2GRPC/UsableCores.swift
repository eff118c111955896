import CSystemShim
import Foundation

/// How many cores the process may really use: what the default thread counts are sized by.
///
/// The machine's online processor count says nothing of the limits a deployment puts on the process. Under
/// `taskset -c 0` on a 16-core host, or in a container limited to two CPUs' worth of time, one thread per host core
/// means threads that only take turns on the same cores: more context switches, and a worker pool whose admission
/// divides the queued work by threads that cannot run at once. The count is the smallest of
/// - the processors online,
/// - the CPUs in the process's affinity mask (`taskset`, cpusets),
/// - the CPU-time quota of its cgroup and every ancestor, rounded up (cgroup v2 `cpu.max`, or v1's
///   `cpu.cfs_quota_us` over `cpu.cfs_period_us`),
/// and at least 1.
public enum UsableCores {
    /// The count for this process, read once.
    public static let count: Int = measure()

    /// Reads the limits now.
    public static func measure(cgroupRoot: String = "/sys/fs/cgroup", selfCgroup: String = "/proc/self/cgroup") -> Int {
        var cores = ProcessInfo.processInfo.activeProcessorCount
        let affinity = Int(csystem_affinity_cpu_count())
        if affinity > 0 { cores = min(cores, affinity) }
        if let membership = try? String(contentsOfFile: selfCgroup, encoding: .utf8),
            let quota = cgroupQuota(membership: membership, root: cgroupRoot, read: readSmallFile)
        {
            cores = min(cores, quota)
        }
        return max(1, cores)
    }

    /// The CPU-time quota in whole cores (rounded up) that the cgroups in `membership` (the text of
    /// `/proc/self/cgroup`) allow, checking the process's cgroup and each ancestor under `root`; nil for no quota.
    /// `read` returns a file's text, or nil when it cannot be read.
    static func cgroupQuota(membership: String, root: String, read: (String) -> String?) -> Int? {
        var smallest: Int?
        func consider(_ cores: Int?) {
            guard let cores else { return }
            smallest = min(smallest ?? cores, cores)
        }
        for line in membership.split(separator: "\n") {
            // hierarchy-ID:controller-list:cgroup-path; the path may itself hold colons.
            let fields = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, fields[2].hasPrefix("/") else { continue }
            let path = String(fields[2])
            if fields[0] == "0" && fields[1].isEmpty {
                for directory in selfAndAncestors(path) {
                    consider(read("\(root)\(directory)/cpu.max").flatMap(cores(cpuMax:)))
                }
            } else if fields[1].split(separator: ",").contains("cpu") {
                for directory in selfAndAncestors(path) {
                    let base = "\(root)/cpu\(directory)"
                    guard let quota = read("\(base)/cpu.cfs_quota_us"), let period = read("\(base)/cpu.cfs_period_us")
                    else { continue }
                    consider(cores(quota: quota, period: period))
                }
            }
        }
        return smallest
    }

    /// Whole cores of a cgroup v2 `cpu.max` ("QUOTA PERIOD" in microseconds, or "max PERIOD"), rounded up; nil
    /// when unlimited or unreadable.
    static func cores(cpuMax text: String) -> Int? {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard fields.count == 2 else { return nil }
        return cores(quota: String(fields[0]), period: String(fields[1]))
    }

    /// Whole cores of a quota over a period (microseconds), rounded up; nil when the quota is "max" or negative
    /// (cgroup v1's -1), or either is not a positive number.
    static func cores(quota: String, period: String) -> Int? {
        guard let quota = Int64(quota.trimmingCharacters(in: .whitespacesAndNewlines)), quota > 0,
            let period = Int64(period.trimmingCharacters(in: .whitespacesAndNewlines)), period > 0
        else { return nil }
        let whole = quota / period + (quota % period == 0 ? 0 : 1)
        return Int(min(whole, Int64(Int32.max)))
    }

    /// "/a/b" -> ["/a/b", "/a", ""]: the cgroup's directory and its ancestors, the root as "".
    private static func selfAndAncestors(_ path: String) -> [String] {
        var parts = path.split(separator: "/").map(String.init)
        var result: [String] = []
        while true {
            result.append(parts.isEmpty ? "" : "/" + parts.joined(separator: "/"))
            if parts.isEmpty { return result }
            parts.removeLast()
        }
    }

    private static func readSmallFile(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }
}
