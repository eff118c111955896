import Foundation
import H2GRPC
import Prometheus

/// The transport's own state, read from ``Server/stats()`` when a scrape asks, so serving a call records nothing
/// extra: calls in flight and queued, open connections, calls shed and connections closed by reason.
final class ServerSampler: @unchecked Sendable {
    private let inflight: Gauge
    private let queued: Gauge
    private let connections: Gauge
    /// Counters fed from the server's running totals; `reported` holds what each has been given so far.
    private var totals: [(counter: Counter, read: @Sendable (ServerStats) -> Int)] = []
    private var reported: [Int] = []
    private let lock = NSLock()

    init(registry: PrometheusCollectorRegistry) {
        inflight = registry.makeGauge(name: "rankd_inflight_calls", help: "Calls being served (running or queued).")
        queued = registry.makeGauge(name: "rankd_queued_calls", help: "Calls waiting for a worker thread.")
        connections = registry.makeGauge(name: "rankd_open_connections", help: "Open gRPC connections.")
        typealias Read = @Sendable (ServerStats) -> Int
        let families: [(name: String, help: String, reasons: [(String, Read)])] = [
            (
                "rankd_shed_calls_total", "Calls refused to protect the server, by reason.",
                [
                    ("overload", { $0.rejectedOverload }),
                    ("deadline", { $0.rejectedDeadline }),
                    ("draining", { $0.rejectedDraining }),
                    ("buffer", { $0.counters.requestsRefusedBuffer + $0.counters.headerListsRefused }),
                ]
            ),
            (
                "rankd_connections_closed_total", "Connections the server closed or refused, by reason.",
                [
                    ("preface_timeout", { $0.counters.closedPrefaceTimeout }),
                    ("idle", { $0.counters.closedIdle }),
                    ("max_age", { $0.counters.closedMaxAge }),
                    ("write_timeout", { $0.counters.closedWriteTimeout }),
                    ("too_many_pings", { $0.counters.closedTooManyPings }),
                    ("evicted", { $0.counters.evictedConnections }),
                    ("refused", { $0.counters.refusedConnections }),
                ]
            ),
        ]
        for family in families {
            for (reason, read) in family.reasons {
                let counter = registry.makeCounter(name: family.name, labels: [("reason", reason)], help: family.help)
                totals.append((counter, read))
            }
        }
        reported = Array(repeating: 0, count: totals.count)
    }

    /// Updates every gauge and counter from `stats`.
    func sample(_ stats: ServerStats) {
        lock.lock()
        defer { lock.unlock() }
        inflight.set(Double(stats.activeCalls))
        queued.set(Double(stats.queuedCalls))
        connections.set(Double(stats.connections))
        for (k, total) in totals.enumerated() {
            let now = total.read(stats)
            if now > reported[k] {
                total.counter.increment(by: Int64(now - reported[k]))
                reported[k] = now
            }
        }
    }
}
