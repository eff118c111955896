import CoreMetrics
import Foundation

/// A swift-metrics histogram handler that can take observations already sorted into its buckets, so a caller may
/// count locally and hand over totals. rankd's backend implements it for the call histograms; with any other
/// backend each call is recorded through the ordinary swift-metrics API.
public protocol BucketedHistogramHandler: AnyObject, Sendable {
    /// Upper bounds of the buckets, ascending, in the recorded unit (nanoseconds or bytes); one more bucket above
    /// the last holds the rest.
    var bucketBounds: [Int64] { get }
    /// Adds `counts` (one per bucket, the overflow bucket last) and their `sum`.
    func add(counts: [Int], sum: Int64)
}

/// gRPC's server-side call metrics as gRFC A66 defines them, recorded through swift-metrics: calls started by method,
/// and per method and final status the call's duration and the bytes of its request and response messages.
///
/// The method label is a registered method's full name ("ranking.v1.RankingService/Rank") or "other" for any path
/// the server does not serve, so a client cannot create series by inventing methods. A call costs its I/O thread a
/// few additions: each connection counts into its own ``CallTally`` and hands the totals to the shared handles on
/// the loop's tick (every 100 ms) and when it closes.
public final class CallMetrics: @unchecked Sendable {
    /// Metric names, in Prometheus form (gRFC A66's dots become underscores, units are suffixed).
    public enum Name {
        /// Counter: calls started, by `grpc_method`.
        public static let started = "grpc_server_call_started_total"
        /// Timer: seconds from the request headers to the status, by `grpc_method` and `grpc_status`.
        public static let duration = "grpc_server_call_duration_seconds"
        /// Recorder: request message bytes as received (compressed, without the 5-byte gRPC prefix) per call.
        public static let receivedBytes = "grpc_server_call_rcvd_total_compressed_message_size_bytes"
        /// Recorder: response message bytes as sent per call.
        public static let sentBytes = "grpc_server_call_sent_total_compressed_message_size_bytes"
    }

    /// gRFC A66's latency bucket boundaries, in seconds.
    public static let latencyBuckets: [Double] = [
        0, 0.00001, 0.00005, 0.0001, 0.0003, 0.0006, 0.0008, 0.001, 0.002, 0.003, 0.004, 0.005, 0.006, 0.008, 0.01,
        0.013, 0.016, 0.02, 0.025, 0.03, 0.04, 0.05, 0.065, 0.08, 0.1, 0.13, 0.16, 0.2, 0.25, 0.3, 0.4, 0.5, 0.65, 0.8,
        1, 2, 5, 10, 20, 50, 100,
    ]

    /// gRFC A66's size bucket boundaries, in bytes.
    public static let sizeBuckets: [Double] = [
        0, 1024, 2048, 4096, 16384, 65536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864, 268_435_456,
        1_073_741_824, 4_294_967_296,
    ]

    /// The latency bounds in nanoseconds and the size bounds in bytes, as the tallies count them.
    static let latencyBoundsNanoseconds = latencyBuckets.map { Int64(($0 * 1e9).rounded()) }
    static let sizeBounds = sizeBuckets.map { Int64($0) }

    /// The label of every method the server does not serve.
    public static let otherMethod = "other"

    /// The handlers of one method and status (made by the swift-metrics factory), and whether they take bucketed
    /// totals.
    final class Finished: @unchecked Sendable {
        let duration: any TimerHandler
        let received: any RecorderHandler
        let sent: any RecorderHandler
        /// Set when all three handlers take totals with A66's bounds.
        let bucketed:
            (duration: BucketedHistogramHandler, received: BucketedHistogramHandler, sent: BucketedHistogramHandler)?
        /// The backend records nothing (swift-metrics was not bootstrapped): skip the work.
        let discarded: Bool

        init(method: String, status: String, factory: any MetricsFactory) {
            let dimensions = [("grpc_method", method), ("grpc_status", status)]
            duration = factory.makeTimer(label: Name.duration, dimensions: dimensions)
            received = factory.makeRecorder(label: Name.receivedBytes, dimensions: dimensions, aggregate: true)
            sent = factory.makeRecorder(label: Name.sentBytes, dimensions: dimensions, aggregate: true)
            if let d = duration as? BucketedHistogramHandler, let r = received as? BucketedHistogramHandler,
                let s = sent as? BucketedHistogramHandler, d.bucketBounds == CallMetrics.latencyBoundsNanoseconds,
                r.bucketBounds == CallMetrics.sizeBounds, s.bucketBounds == CallMetrics.sizeBounds
            {
                bucketed = (d, r, s)
            } else {
                bucketed = nil
            }
            discarded = duration is NOOPMetricsHandler
        }
    }

    /// Method labels by router index; the last one is "other".
    let methodLabels: [String]
    /// The backend when the server was made (a task-local one in tests), used for the handles made later.
    private let factory: any MetricsFactory
    let started: [CoreMetrics.Counter]
    private let lock = NSLock()
    private var finished: [Finished?]

    /// Status codes per method slot (0...16).
    static let statusCount = 17

    init(methodLabels registered: [String]) {
        methodLabels = registered + [Self.otherMethod]
        let factory = MetricsSystem.factory
        self.factory = factory
        started = methodLabels.map {
            CoreMetrics.Counter(label: Name.started, dimensions: [("grpc_method", $0)], factory: factory)
        }
        finished = Array(repeating: nil, count: methodLabels.count * Self.statusCount)
    }

    /// The slot of unknown methods and of requests refused before their method was looked up.
    var otherIndex: Int { methodLabels.count - 1 }

    /// Slots: one per method and status code.
    var slotCount: Int { methodLabels.count * Self.statusCount }

    /// The handles for a method and status code, made on first use.
    func finishedHandles(slot: Int) -> Finished {
        lock.lock()
        defer { lock.unlock() }
        if let handles = finished[slot] { return handles }
        let method = methodLabels[slot / Self.statusCount]
        let status = GRPCStatus.Code(rawValue: slot % Self.statusCount).map(\.name) ?? "UNKNOWN"
        let handles = Finished(method: method, status: status, factory: factory)
        finished[slot] = handles
        return handles
    }

    /// The slot of a method index and status code.
    static func slot(method: Int, code: GRPCStatus.Code) -> Int {
        method * statusCount + min(Int(code.rawValue), statusCount - 1)
    }

    /// The bucket of `value` among ascending `bounds`: the first bound at or above it, or `bounds.count`.
    @inline(__always)
    static func bucket(of value: Int64, in bounds: [Int64]) -> Int {
        var low = 0
        var high = bounds.count
        while low < high {
            let mid = (low &+ high) >> 1
            if bounds[mid] >= value { high = mid } else { low = mid &+ 1 }
        }
        return low
    }
}

/// One connection's counts since its last flush. Loop thread only: counting is a few additions into one flat
/// array, and ``flush(_:)`` hands the totals to the shared handles.
struct CallTally {
    /// Per method and status slot in use: calls, the three sums, then the duration, received and sent buckets.
    /// Literals, not derived from the bound tables: a static computed at run time costs a `swift_once` check per use
    /// on this path. ``init(metrics:)`` checks them against the tables.
    private static let durationBuckets = 42
    private static let sizeBucketCount = 15
    private static let durationBase = 4
    private static let receivedBase = durationBase + durationBuckets
    private static let sentBase = receivedBase + sizeBucketCount
    private static let width = sentBase + sizeBucketCount

    /// How a slot's calls are recorded.
    private enum Mode: UInt8 {
        case bucketed, perCall, discarded
    }

    private var started: [Int]
    private var startedAny = false
    /// The bound tables, held here so the hot path reads no global.
    private let latencyBounds = CallMetrics.latencyBoundsNanoseconds
    private let sizeBounds = CallMetrics.sizeBounds
    /// Per slot: its position among the slots in use, or -1.
    private var positions: [Int32]
    private var handles: [CallMetrics.Finished] = []
    private var modes: [Mode] = []
    private var counts: [Int64] = []
    private var dirty = false

    init(metrics: CallMetrics) {
        assert(Self.durationBuckets == CallMetrics.latencyBoundsNanoseconds.count + 1)
        assert(Self.sizeBucketCount == CallMetrics.sizeBounds.count + 1)
        started = Array(repeating: 0, count: metrics.methodLabels.count)
        positions = Array(repeating: -1, count: metrics.slotCount)
    }

    mutating func callStarted(method: Int) {
        started[method] &+= 1
        startedAny = true
    }

    mutating func callEnded(
        _ metrics: CallMetrics,
        method: Int,
        code: GRPCStatus.Code,
        nanoseconds: Int64,
        receivedBytes: Int,
        sentBytes: Int
    ) {
        let slot = CallMetrics.slot(method: method, code: code)
        var position = Int(positions[slot])
        if position < 0 {
            let finished = metrics.finishedHandles(slot: slot)
            position = handles.count
            positions[slot] = Int32(position)
            handles.append(finished)
            modes.append(finished.discarded ? .discarded : finished.bucketed != nil ? .bucketed : .perCall)
            counts.append(contentsOf: repeatElement(0, count: Self.width))
        }
        switch modes[position] {
        case .discarded:
            return
        case .perCall:
            // A backend without bucketed totals: record this call through swift-metrics as it ends.
            let finished = handles[position]
            finished.duration.recordNanoseconds(nanoseconds)
            finished.received.record(Int64(receivedBytes))
            finished.sent.record(Int64(sentBytes))
            return
        case .bucketed:
            break
        }
        let duration = max(0, nanoseconds)
        let received = Int64(max(0, receivedBytes))
        let sent = Int64(max(0, sentBytes))
        let d = CallMetrics.bucket(of: duration, in: latencyBounds)
        let r = CallMetrics.bucket(of: received, in: sizeBounds)
        let s = CallMetrics.bucket(of: sent, in: sizeBounds)
        let base = position * Self.width
        counts.withUnsafeMutableBufferPointer { p in
            p[base] &+= 1
            p[base + 1] &+= duration
            p[base + 2] &+= received
            p[base + 3] &+= sent
            p[base + Self.durationBase + d] &+= 1
            p[base + Self.receivedBase + r] &+= 1
            p[base + Self.sentBase + s] &+= 1
        }
        dirty = true
    }

    /// Hands everything counted since the last flush to the shared handles and starts again from zero.
    mutating func flush(_ metrics: CallMetrics) {
        if startedAny {
            for (method, count) in started.enumerated() where count > 0 {
                metrics.started[method].increment(by: Int64(count))
                started[method] = 0
            }
            startedAny = false
        }
        guard dirty else { return }
        dirty = false
        for (position, finished) in handles.enumerated() {
            let base = position * Self.width
            guard counts[base] > 0, let bucketed = finished.bucketed else { continue }
            func slice(_ from: Int, _ count: Int) -> [Int] {
                (base + from..<base + from + count).map { Int(counts[$0]) }
            }
            bucketed.duration.add(counts: slice(Self.durationBase, Self.durationBuckets), sum: counts[base + 1])
            bucketed.received.add(counts: slice(Self.receivedBase, Self.sizeBucketCount), sum: counts[base + 2])
            bucketed.sent.add(counts: slice(Self.sentBase, Self.sizeBucketCount), sum: counts[base + 3])
            for k in base..<base + Self.width { counts[k] = 0 }
        }
    }
}
