import Atomics
import CoreMetrics
import Foundation
import H2GRPC

/// A histogram for the per-call hot path: fixed integer bucket bounds (nanoseconds or bytes), one relaxed atomic
/// add to the bucket an observation falls in, one to the running sum, no lock.
///
/// swift-prometheus's histogram takes a lock and walks every bucket for each observation; on gRPC calls that cost
/// a few microseconds each (a health check), that was 5 to 7% of the I/O thread. The gRFC A66 call histograms
/// therefore record here; they render in the same text format, after the registry's metrics.
final class CallHistogram: TimerHandler, RecorderHandler, BucketedHistogramHandler, @unchecked Sendable {
    let name: String
    let labels: [(String, String)]
    /// Upper bounds in the recorded unit, ascending; one more bucket above the last holds the rest (+Inf).
    private let bounds: [Int64]
    /// The bounds as written in `le`, from the configured values (so 0.025 reads "0.025", as rules expect).
    private let boundLabels: [String]
    /// How a bound or the sum is written: seconds from nanoseconds, or bytes as they are.
    private let unitScale: Double
    private let buckets: [ManagedAtomic<Int64>]
    private let sum = ManagedAtomic<Int64>(0)
    private let renderedLabels: String

    init(name: String, labels: [(String, String)], bounds: [Double], unitScale: Double) {
        self.name = name
        self.labels = labels
        self.bounds = bounds.map { Int64(($0 / unitScale).rounded()) }
        boundLabels = bounds.map { "\($0)" }
        self.unitScale = unitScale
        buckets = (0...bounds.count).map { _ in ManagedAtomic<Int64>(0) }
        renderedLabels = labels.map { "\($0.0)=\"\(CallHistogram.escape($0.1))\"" }.joined(separator: ",")
    }

    /// Records a value in the recorded unit (negative values count as 0).
    func observe(_ value: Int64) {
        let value = max(0, value)
        var low = 0
        var high = bounds.count
        while low < high {
            let mid = (low + high) / 2
            if bounds[mid] >= value { high = mid } else { low = mid + 1 }
        }
        buckets[low].wrappingIncrement(ordering: .relaxed)
        sum.wrappingIncrement(by: value, ordering: .relaxed)
    }

    /// The bucket bounds in the recorded unit.
    var bucketBounds: [Int64] { bounds }

    /// Adds totals a caller counted itself (one count per bucket, the overflow bucket last).
    func add(counts: [Int], sum: Int64) {
        for (k, count) in zip(buckets.indices, counts) where count > 0 {
            buckets[k].wrappingIncrement(by: Int64(count), ordering: .relaxed)
        }
        self.sum.wrappingIncrement(by: sum, ordering: .relaxed)
    }

    func recordNanoseconds(_ duration: Int64) { observe(duration) }
    func record(_ value: Int64) { observe(value) }
    func record(_ value: Double) { observe(value.isFinite ? Int64(clamping: Int64(value.rounded())) : 0) }

    /// The `_bucket`, `_sum` and `_count` lines; the count is the sum of the buckets read, so the cumulative series
    /// stay consistent with it even while calls are recorded.
    func render(into out: inout String) {
        var cumulative: Int64 = 0
        let prefix = renderedLabels.isEmpty ? "" : renderedLabels + ","
        for k in bounds.indices {
            cumulative += buckets[k].load(ordering: .relaxed)
            out += "\(name)_bucket{\(prefix)le=\"\(boundLabels[k])\"} \(cumulative)\n"
        }
        cumulative += buckets[bounds.count].load(ordering: .relaxed)
        out += "\(name)_bucket{\(prefix)le=\"+Inf\"} \(cumulative)\n"
        let labelBlock = renderedLabels.isEmpty ? "" : "{\(renderedLabels)}"
        out += "\(name)_sum\(labelBlock) \(Double(sum.load(ordering: .relaxed)) * unitScale)\n"
        out += "\(name)_count\(labelBlock) \(cumulative)\n"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// The call histograms by name and labels, made on first use and rendered at each scrape.
final class CallHistograms: @unchecked Sendable {
    struct Family {
        var bounds: [Double]
        var unitScale: Double
        var help: String
    }

    private let families: [String: Family]
    private let lock = NSLock()
    private var histograms: [String: CallHistogram] = [:]

    init(families: [String: Family]) {
        self.families = families
    }

    func handles(_ name: String) -> Bool { families[name] != nil }

    func histogram(name: String, labels: [(String, String)]) -> CallHistogram {
        let key = name + "\u{0}" + labels.map { "\($0.0)=\($0.1)" }.joined(separator: "\u{0}")
        return lock.withLock {
            if let existing = histograms[key] { return existing }
            let family = families[name]!
            let made = CallHistogram(name: name, labels: labels, bounds: family.bounds, unitScale: family.unitScale)
            histograms[key] = made
            return made
        }
    }

    /// Every histogram, grouped by name with its HELP and TYPE lines, in a stable order.
    func render() -> String {
        let all = lock.withLock { histograms.sorted { $0.key < $1.key }.map(\.value) }
        var out = ""
        var current = ""
        for histogram in all {
            if histogram.name != current {
                current = histogram.name
                out += "# HELP \(current) \(families[current]?.help ?? "")\n# TYPE \(current) histogram\n"
            }
            histogram.render(into: &out)
        }
        return out
    }
}
