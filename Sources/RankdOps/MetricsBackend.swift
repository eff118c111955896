import CoreMetrics
import H2GRPC
import Prometheus

/// The process's metrics backend: swift-prometheus behind swift-metrics, with the bucket boundaries each histogram
/// needs (gRFC A66's for the gRPC call metrics and the pipeline stages).
public enum MetricsBackend {
    /// Bootstraps swift-metrics with a Prometheus registry and returns it; call once, before any handle is made.
    public static func bootstrap() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(factory(registry: registry))
        return registry
    }

    /// The factory over `registry` with rankd's buckets (tests use it without bootstrapping the process).
    public static func factory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        let latency = CallMetrics.latencyBuckets.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        factory.durationHistogramBuckets = [
            CallMetrics.Name.duration: latency,
            "rankd_stage_duration_seconds": latency,
        ]
        factory.defaultDurationHistogramBuckets = latency
        factory.valueHistogramBuckets = [
            CallMetrics.Name.receivedBytes: CallMetrics.sizeBuckets,
            CallMetrics.Name.sentBytes: CallMetrics.sizeBuckets,
        ]
        return factory
    }
}
