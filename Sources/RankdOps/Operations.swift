import AdminHTTP
import Foundation
import H2GRPC
import Prometheus

/// Everything the admin port shows about a running rankd: the metrics registry and the samplers a scrape runs,
/// readiness, what is being served (snapshot, models, configuration) and the counts of reloads. rankd reports events
/// to it; the admin routes read from it.
public final class Operations: @unchecked Sendable {
    /// What `/metrics` renders.
    public let backend: MetricsBackend
    private var registry: PrometheusCollectorRegistry { backend.registry }
    /// Whether to send traffic here.
    public let readiness = Readiness()

    private let process: ProcessSampler
    private let server: ServerSampler
    private let ready: Gauge
    private let snapshotAge: Gauge
    private let snapshotLoadedAt: Gauge
    private let lock = NSLock()
    private var statsSource: (@Sendable () -> ServerStats)?
    private var snapshotCreatedSeconds: Double?
    private var snapshotInfo: Gauge?
    private var modelInfo: [Gauge] = []
    private var modelLoadedAt: [Gauge] = []
    private var configInfo: Gauge?
    private var served: [String: String] = [:]
    private var reloadCounters: [String: Counter] = [:]
    private var onlineSource: (@Sendable () -> OnlineStoreSample)?
    private let onlineEntries: [String: Gauge]
    private let onlineBytes: Gauge
    private let onlineTotals: [String: Counter]
    private var onlineReported: [String: Int] = [:]

    /// Operations over `backend` (the one ``MetricsBackend/bootstrap()`` returned).
    public init(backend: MetricsBackend) {
        self.backend = backend
        let registry = backend.registry
        process = ProcessSampler(registry: registry)
        server = ServerSampler(registry: registry)
        ready = registry.makeGauge(name: "rankd_ready", help: "1 when rankd should get traffic, else 0.")
        snapshotAge = registry.makeGauge(
            name: "rankd_snapshot_age_seconds",
            help: "Seconds since the serving catalog snapshot was created (its manifest's created_at)."
        )
        snapshotLoadedAt = registry.makeGauge(
            name: "rankd_snapshot_loaded_timestamp_seconds",
            help: "When the serving catalog snapshot was swapped in, in seconds since the Unix epoch."
        )
        onlineEntries = Dictionary(
            uniqueKeysWithValues: ["users", "sessions", "items", "event_ids"].map { kind in
                (
                    kind,
                    registry.makeGauge(
                        name: "rankd_online_store_entries",
                        labels: [("kind", kind)],
                        help: "Entries of the online state held in this process, by kind (for Redis: the item "
                            + "counters it mirrors)."
                    )
                )
            }
        )
        onlineBytes = registry.makeGauge(
            name: "rankd_online_store_bytes",
            help: "Approximate bytes of the online state held in this process."
        )
        onlineTotals = [
            "evictions": registry.makeCounter(
                name: "rankd_online_store_evictions_total",
                help: "Online state entries dropped to stay within their bounds before their age dropped them."
            ),
            "read": registry.makeCounter(
                name: "rankd_online_store_round_trips_total",
                labels: [("purpose", "read")],
                help: "Round trips to the shared online store (Redis), by purpose: reads for requests, writes for "
                    + "Track, and refreshes of the mirrored item counters."
            ),
            "write": registry.makeCounter(
                name: "rankd_online_store_round_trips_total",
                labels: [("purpose", "write")],
                help: "Round trips to the shared online store (Redis), by purpose: reads for requests, writes for "
                    + "Track, and refreshes of the mirrored item counters."
            ),
            "refresh": registry.makeCounter(
                name: "rankd_online_store_round_trips_total",
                labels: [("purpose", "refresh")],
                help: "Round trips to the shared online store (Redis), by purpose: reads for requests, writes for "
                    + "Track, and refreshes of the mirrored item counters."
            ),
            "failures": registry.makeCounter(
                name: "rankd_online_store_failures_total",
                help: "Calls to the shared online store that failed: timeouts, lost or refused connections."
            ),
        ]
        for kind in ["snapshot", "model", "config"] {
            for result in ["ok", "refused"] {
                reloadCounters["\(kind)/\(result)"] = registry.makeCounter(
                    name: "rankd_reloads_total",
                    labels: [("kind", kind), ("result", result)],
                    help: "Reloads of a snapshot, model or configuration, by result."
                )
            }
        }
    }

    /// Where scrapes read the transport's state.
    public func observe(server stats: @escaping @Sendable () -> ServerStats) {
        lock.withLock { statsSource = stats }
    }

    /// Where scrapes read the online store's size and totals.
    public func observe(onlineStore sample: @escaping @Sendable () -> OnlineStoreSample) {
        lock.withLock { onlineSource = sample }
    }

    // MARK: What is served

    /// A catalog snapshot now serves.
    public func snapshotServed(id: String, schema: String, createdUnixMilliseconds: Int64?) {
        lock.withLock {
            if let old = snapshotInfo { registry.unregisterGauge(old) }
            let info = registry.makeGauge(
                name: "rankd_snapshot_info",
                labels: [("snapshot_id", id), ("schema", schema)],
                help: "The serving catalog snapshot (value 1)."
            )
            info.set(1.0)
            snapshotInfo = info
            snapshotCreatedSeconds = createdUnixMilliseconds.map { Double($0) / 1000 }
            snapshotLoadedAt.set(Date().timeIntervalSince1970)
            served["snapshot"] = id
            served["snapshot_schema"] = schema
        }
    }

    /// The models now serving, by configuration key.
    public func modelsServed(_ models: [(key: String, version: String)]) {
        lock.withLock {
            for gauge in modelInfo + modelLoadedAt { registry.unregisterGauge(gauge) }
            modelInfo = []
            modelLoadedAt = []
            let now = Date().timeIntervalSince1970
            for model in models {
                let info = registry.makeGauge(
                    name: "rankd_model_info",
                    labels: [("model", model.key), ("version", model.version)],
                    help: "A serving model and its version (value 1)."
                )
                info.set(1.0)
                modelInfo.append(info)
                let loaded = registry.makeGauge(
                    name: "rankd_model_loaded_timestamp_seconds",
                    labels: [("model", model.key)],
                    help: "When the serving model was loaded, in seconds since the Unix epoch."
                )
                loaded.set(now)
                modelLoadedAt.append(loaded)
                served["model.\(model.key)"] = model.version
            }
        }
    }

    /// The configuration now in force, named by a short hash of its contents.
    public func configServed(version: String) {
        lock.withLock {
            if let old = configInfo { registry.unregisterGauge(old) }
            let info = registry.makeGauge(
                name: "rankd_config_info",
                labels: [("version", version)],
                help: "The configuration in force (value 1)."
            )
            info.set(1.0)
            configInfo = info
            served["config"] = version
        }
    }

    /// Counts a reload of `kind` ("snapshot", "model" or "config").
    public func reloaded(_ kind: String, ok: Bool) {
        lock.withLock { reloadCounters["\(kind)/\(ok ? "ok" : "refused")"] }?.increment()
    }

    /// What is served, by name ("snapshot", "model.<key>", "config"), for `/config` and logs.
    public var servedVersions: [String: String] { lock.withLock { served } }

    // MARK: Scrapes

    /// Samples the process and the server, then renders every metric in the Prometheus text format.
    public func scrape() -> [UInt8] {
        let (stats, created, online) = lock.withLock { (statsSource?(), snapshotCreatedSeconds, onlineSource) }
        process.sample()
        if let stats { server.sample(stats) }
        if let sample = online?() {
            for (kind, value) in [
                ("users", sample.users), ("sessions", sample.sessions), ("items", sample.items),
                ("event_ids", sample.eventIDs),
            ] {
                onlineEntries[kind]?.set(Double(value))
            }
            onlineBytes.set(Double(sample.bytes))
            lock.withLock {
                for (name, total) in [
                    ("evictions", sample.evictions), ("read", sample.readRoundTrips),
                    ("write", sample.writeRoundTrips), ("refresh", sample.refreshRoundTrips), ("failures", sample.failures),
                ] {
                    let delta = total - onlineReported[name, default: 0]
                    if delta > 0 { onlineTotals[name]?.increment(by: Int64(delta)) }
                    onlineReported[name] = max(total, onlineReported[name, default: 0])
                }
            }
        }
        ready.set(readiness.current.state == .ready ? 1.0 : 0.0)
        if let created { snapshotAge.set(max(0, Date().timeIntervalSince1970 - created)) }
        return backend.render()
    }
}

/// The online store's size and running totals at a scrape.
public struct OnlineStoreSample: Sendable {
    public var users = 0
    public var sessions = 0
    public var items = 0
    public var eventIDs = 0
    public var bytes = 0
    public var evictions = 0
    public var readRoundTrips = 0
    public var writeRoundTrips = 0
    public var refreshRoundTrips = 0
    public var failures = 0

    public init() {}
}
