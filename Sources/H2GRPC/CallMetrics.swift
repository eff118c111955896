import CoreMetrics
import Foundation

/// gRPC's server-side call metrics as gRFC A66 defines them, recorded through swift-metrics: calls started by method,
/// and per method and final status the call's duration and the bytes of its request and response messages.
///
/// The method label is a registered method's full name ("ranking.v1.RankingService/Rank") or "other" for any path
/// the server does not serve, so a client cannot create series by inventing methods. Histograms for a method and
/// status are made the first time that pair ends a call; each connection keeps the ones it used, so a call takes the
/// shared lock only the first time its connection sees the pair.
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

    /// The label of every method the server does not serve.
    public static let otherMethod = "other"

    /// The handles of one method and status.
    final class Finished: Sendable {
        let duration: CoreMetrics.Timer
        let received: Recorder
        let sent: Recorder

        init(method: String, status: String, factory: any MetricsFactory) {
            let dimensions = [("grpc_method", method), ("grpc_status", status)]
            duration = CoreMetrics.Timer(label: Name.duration, dimensions: dimensions, factory: factory)
            received = Recorder(label: Name.receivedBytes, dimensions: dimensions, aggregate: true, factory: factory)
            sent = Recorder(label: Name.sentBytes, dimensions: dimensions, aggregate: true, factory: factory)
        }
    }

    /// Method labels by router index; the last one is "other".
    let methodLabels: [String]
    /// The backend when the server was made (a task-local one in tests), used for the handles made later.
    private let factory: any MetricsFactory
    private let started: [CoreMetrics.Counter]
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

    func callStarted(method: Int) {
        started[method].increment()
    }

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
}

/// Per connection: the handles its calls used, so recording a call's end takes no lock after the first time.
struct CallMetricsCache {
    private var handles: [CallMetrics.Finished?]

    init(slots: Int) {
        handles = Array(repeating: nil, count: slots)
    }

    mutating func record(
        _ metrics: CallMetrics,
        method: Int,
        code: GRPCStatus.Code,
        nanoseconds: Int64,
        receivedBytes: Int,
        sentBytes: Int
    ) {
        let slot = CallMetrics.slot(method: method, code: code)
        let finished: CallMetrics.Finished
        if let cached = handles[slot] {
            finished = cached
        } else {
            finished = metrics.finishedHandles(slot: slot)
            handles[slot] = finished
        }
        finished.duration.recordNanoseconds(nanoseconds)
        finished.received.record(receivedBytes)
        finished.sent.record(sentBytes)
    }
}
