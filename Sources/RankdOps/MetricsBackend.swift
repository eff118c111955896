import CoreMetrics
import H2GRPC
import Prometheus

/// The process's metrics backend behind swift-metrics: swift-prometheus's registry for every counter, gauge and
/// histogram, with gRFC A66's buckets for the pipeline stages, except the three per-call A66 histograms, which
/// record into lock-free ``CallHistogram``s (see there why) and render after the registry's metrics.
public final class MetricsBackend: Sendable {
    /// The swift-prometheus registry.
    public let registry: PrometheusCollectorRegistry
    let calls: CallHistograms

    /// A backend over a new registry; ``bootstrap()`` makes it the process's.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        let seconds = CallHistograms.Family(
            bounds: CallMetrics.latencyBuckets,
            unitScale: 1e-9,
            help: "Time from a call's request headers to its status, in seconds (gRFC A66)."
        )
        func bytes(_ help: String) -> CallHistograms.Family {
            CallHistograms.Family(bounds: CallMetrics.sizeBuckets, unitScale: 1, help: help)
        }
        calls = CallHistograms(families: [
            CallMetrics.Name.duration: seconds,
            CallMetrics.Name.receivedBytes: bytes("Request message bytes a call received, compressed (gRFC A66)."),
            CallMetrics.Name.sentBytes: bytes("Response message bytes a call sent, compressed (gRFC A66)."),
        ])
    }

    /// Bootstraps swift-metrics with a new backend and returns it; call once, before any handle is made.
    public static func bootstrap() -> MetricsBackend {
        let backend = MetricsBackend()
        MetricsSystem.bootstrap(backend.factory)
        return backend
    }

    /// The swift-metrics factory (tests bind it with `withMetricsFactory` instead of bootstrapping the process).
    public var factory: any MetricsFactory {
        var prometheus = PrometheusMetricsFactory(registry: registry)
        let latency = CallMetrics.latencyBuckets.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        prometheus.durationHistogramBuckets = ["rankd_stage_duration_seconds": latency]
        prometheus.defaultDurationHistogramBuckets = latency
        return RankdMetricsFactory(prometheus: prometheus, calls: calls)
    }

    /// Every metric in the Prometheus text format.
    public func render() -> [UInt8] {
        registry.emitToBuffer() + Array(calls.render().utf8)
    }
}

/// swift-prometheus's factory, with the call histograms taken out.
struct RankdMetricsFactory: MetricsFactory {
    let prometheus: PrometheusMetricsFactory
    let calls: CallHistograms

    func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        prometheus.makeCounter(label: label, dimensions: dimensions)
    }

    func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        prometheus.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        if aggregate && calls.handles(label) { return calls.histogram(name: label, labels: dimensions) }
        return prometheus.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        prometheus.makeMeter(label: label, dimensions: dimensions)
    }

    func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        if calls.handles(label) { return calls.histogram(name: label, labels: dimensions) }
        return prometheus.makeTimer(label: label, dimensions: dimensions)
    }

    func destroyCounter(_ handler: any CounterHandler) { prometheus.destroyCounter(handler) }
    func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        prometheus.destroyFloatingPointCounter(handler)
    }
    func destroyRecorder(_ handler: any RecorderHandler) {
        if handler is CallHistogram { return }
        prometheus.destroyRecorder(handler)
    }
    func destroyMeter(_ handler: any MeterHandler) { prometheus.destroyMeter(handler) }
    func destroyTimer(_ handler: any TimerHandler) {
        if handler is CallHistogram { return }
        prometheus.destroyTimer(handler)
    }
}
