import AdminHTTP
import CoreMetrics
import Foundation
import H2GRPC
import Prometheus
import RankdOps
import Testing

@Suite("Operations: metrics, readiness, admin pages")
struct OperationsTests {
    /// An echo service on a loopback server whose call metrics go to `backend`.
    static func echoServer(backend: MetricsBackend) throws -> Server {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.ioThreads = 1
        configuration.workers = 1
        configuration.logLevel = .error
        configuration.queueBudgetMilliseconds = 10_000
        let echo = ServiceDefinition(
            name: "test.Echo",
            methods: [
                RPCMethod(name: "Echo", handler: .unary { _, request in request }),
                RPCMethod(
                    name: "Fail",
                    handler: .unary { _, _ in throw GRPCStatus(.invalidArgument, "no") }
                ),
            ]
        )
        return try withMetricsFactory(backend.factory) {
            try Server(configuration: configuration, services: [echo])
        }
    }

    static func call(_ client: ClientConnection, _ path: String, _ message: [UInt8]) -> GRPCStatus {
        client.unary(ClientRequest(path: path, message: message, timeoutNanoseconds: 30_000_000_000)).1.status
    }

    /// The value of the one sample line that starts with `series` (name and labels exactly as rendered).
    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test("calls are counted by method and status with gRFC A66's names, buckets and sizes; unknown methods are other")
    func callMetrics() throws {
        let backend = MetricsBackend()
        let server = try Self.echoServer(backend: backend)
        try server.start()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        for _ in 0..<3 { #expect(Self.call(client, "/test.Echo/Echo", [UInt8](repeating: 7, count: 100)).code == .ok) }
        #expect(Self.call(client, "/test.Echo/Fail", [1]).code == .invalidArgument)
        #expect(Self.call(client, "/test.Echo/Nope", [1]).code == .unimplemented)
        #expect(Self.call(client, "/made.up.Service/\(UUID().uuidString)", [1]).code == .unimplemented)
        // Each connection hands its counts over on the I/O loop's tick (every 100 ms).
        Thread.sleep(forTimeInterval: 0.3)
        let text = String(decoding: backend.render(), as: UTF8.self)
        #expect(Self.sample(text, #"grpc_server_call_started_total{grpc_method="test.Echo/Echo"}"#) == 3)
        #expect(Self.sample(text, #"grpc_server_call_started_total{grpc_method="test.Echo/Fail"}"#) == 1)
        #expect(Self.sample(text, #"grpc_server_call_started_total{grpc_method="other"}"#) == 2)
        let ok = #"grpc_method="test.Echo/Echo",grpc_status="OK""#
        #expect(Self.sample(text, "grpc_server_call_duration_seconds_count{\(ok)}") == 3)
        #expect(Self.sample(text, "grpc_server_call_duration_seconds_bucket{\(ok),le=\"100.0\"}") == 3)
        #expect(Self.sample(text, "grpc_server_call_duration_seconds_bucket{\(ok),le=\"0.0\"}") == 0)
        #expect(Self.sample(text, "grpc_server_call_rcvd_total_compressed_message_size_bytes_sum{\(ok)}") == 300)
        #expect(Self.sample(text, "grpc_server_call_sent_total_compressed_message_size_bytes_sum{\(ok)}") == 300)
        #expect(
            Self.sample(
                text,
                "grpc_server_call_sent_total_compressed_message_size_bytes_bucket{\(ok),le=\"1024.0\"}"
            ) == 3
        )
        let failed = #"grpc_method="test.Echo/Fail",grpc_status="INVALID_ARGUMENT""#
        #expect(Self.sample(text, "grpc_server_call_duration_seconds_count{\(failed)}") == 1)
        let other = #"grpc_method="other",grpc_status="UNIMPLEMENTED""#
        #expect(Self.sample(text, "grpc_server_call_duration_seconds_count{\(other)}") == 2)
        #expect(!text.contains("made.up.Service"))
    }

    @Test("with a backend that takes no bucketed totals, each call is recorded through swift-metrics as it ends")
    func plainBackend() throws {
        let registry = PrometheusCollectorRegistry()
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.ioThreads = 1
        configuration.workers = 1
        configuration.logLevel = .error
        // Admission would refuse calls that wait past its budget on a busy machine; this test is not about it.
        configuration.queueBudgetMilliseconds = 10_000
        let echo = ServiceDefinition(
            name: "test.Echo",
            methods: [RPCMethod(name: "Echo", handler: .unary { _, request in request })]
        )
        let server = try withMetricsFactory(PrometheusMetricsFactory(registry: registry)) {
            try Server(configuration: configuration, services: [echo])
        }
        try server.start()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        for _ in 0..<2 { #expect(Self.call(client, "/test.Echo/Echo", [1, 2, 3]).code == .ok) }
        let ok = #"grpc_method="test.Echo/Echo",grpc_status="OK""#
        // The server records a call as it ends, which may be just after the client has its answer, and hands the
        // started counts over on its loop's next tick.
        let started = #"grpc_server_call_started_total{grpc_method="test.Echo/Echo"}"#
        var text = registry.emitToString()
        for _ in 0..<200
        where Self.sample(text, "grpc_server_call_duration_seconds_count{\(ok)}") != 2
            || Self.sample(text, started) != 2
        {
            Thread.sleep(forTimeInterval: 0.05)
            text = registry.emitToString()
        }
        #expect(Self.sample(text, "grpc_server_call_duration_seconds_count{\(ok)}") == 2)
        #expect(Self.sample(text, "grpc_server_call_rcvd_total_compressed_message_size_bytes_sum{\(ok)}") == 6)
        #expect(Self.sample(text, started) == 2)
    }

    @Test("a scrape samples the process and the server, and readiness follows the process's life")
    func scrapeAndReadiness() throws {
        let backend = MetricsBackend()
        let operations = Operations(backend: backend)
        let server = try Self.echoServer(backend: backend)
        try server.start()
        defer { server.shutdown(gracePeriod: 1) }
        operations.observe(server: { server.stats() })
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        #expect(Self.call(client, "/test.Echo/Echo", [1]).code == .ok)
        var text = String(decoding: operations.scrape(), as: UTF8.self)
        #expect((Self.sample(text, "process_resident_memory_bytes") ?? 0) > 1_000_000)
        #expect((Self.sample(text, "process_open_fds") ?? 0) > 2)
        #expect((Self.sample(text, "process_max_fds") ?? 0) > 0)
        #expect((Self.sample(text, "process_start_time_seconds") ?? 0) > 1_600_000_000)
        #expect(Self.sample(text, "process_cpu_seconds_total") != nil)
        #expect(Self.sample(text, "rankd_open_connections") == 1)
        #expect(Self.sample(text, #"rankd_shed_calls_total{reason="overload"}"#) == 0)
        #expect(Self.sample(text, "rankd_ready") == 0)
        #expect(operations.readiness.current.state == .starting)

        operations.readiness.markReady("serving snapshot s1")
        operations.snapshotServed(id: "s1", schema: "marketplace/1", createdUnixMilliseconds: 1000)
        operations.modelsServed([("discovery_lgbm", "v1")])
        operations.configServed(version: "abc123")
        operations.reloaded("snapshot", ok: false)
        text = String(decoding: operations.scrape(), as: UTF8.self)
        #expect(Self.sample(text, "rankd_ready") == 1)
        #expect(Self.sample(text, #"rankd_snapshot_info{snapshot_id="s1",schema="marketplace/1"}"#) == 1)
        #expect((Self.sample(text, "rankd_snapshot_age_seconds") ?? 0) > 1_000_000)
        #expect(Self.sample(text, #"rankd_model_info{model="discovery_lgbm",version="v1"}"#) == 1)
        #expect(Self.sample(text, #"rankd_config_info{version="abc123"}"#) == 1)
        #expect(Self.sample(text, #"rankd_reloads_total{kind="snapshot",result="refused"}"#) == 1)

        // A new snapshot replaces the info series rather than adding one.
        operations.snapshotServed(id: "s2", schema: "marketplace/1", createdUnixMilliseconds: nil)
        text = String(decoding: operations.scrape(), as: UTF8.self)
        #expect(!text.contains(#"snapshot_id="s1""#))
        #expect(Self.sample(text, #"rankd_snapshot_info{snapshot_id="s2",schema="marketplace/1"}"#) == 1)

        operations.readiness.markDraining()
        operations.readiness.markReady("a late load")
        #expect(operations.readiness.current.state == .draining)
        text = String(decoding: operations.scrape(), as: UTF8.self)
        #expect(Self.sample(text, "rankd_ready") == 0)
    }

    @Test("the admin pages: metrics, probes, configuration and reload")
    func adminPages() throws {
        let backend = MetricsBackend()
        let operations = Operations(backend: backend)
        let reloads = ReloadScript(results: [(true, "reloaded: 2 surfaces"), (false, "refused: surfaces.x: bad")])
        let routes = AdminRoutes.make(
            operations: operations,
            configuration: { ["surfaces": ["discovery"]] },
            reload: { reloads.next() }
        )
        let admin = AdminServer(host: "127.0.0.1", port: 0, routes: routes)
        try admin.start()
        defer { admin.stop() }

        #expect(try get(admin, "/livez").status == 200)
        let notReady = try get(admin, "/readyz")
        #expect(notReady.status == 503)
        #expect(notReady.body.contains("loading"))
        operations.readiness.markReady("serving")
        #expect(try get(admin, "/readyz").status == 200)

        let metrics = try get(admin, "/metrics")
        #expect(metrics.status == 200)
        #expect(metrics.contentType.hasPrefix("text/plain; version=0.0.4"))
        #expect(metrics.body.contains("rankd_ready 1"))

        let config = try get(admin, "/config")
        #expect(config.contentType == "application/json")
        let document = try JSONSerialization.jsonObject(with: Data(config.body.utf8)) as? [String: Any]
        #expect(document?["surfaces"] as? [String] == ["discovery"])
        #expect(document?["ready"] as? Bool == true)

        #expect(try get(admin, "/-/reload").status == 405)
        let good = try post(admin, "/-/reload")
        #expect(good.status == 200)
        #expect(good.body.contains("2 surfaces"))
        let bad = try post(admin, "/-/reload")
        #expect(bad.status == 422)
        #expect(bad.body.contains("surfaces.x"))
    }

    struct Page {
        var status: Int
        var contentType: String
        var body: String
    }

    func get(_ admin: AdminServer, _ path: String) throws -> Page { try exchange(admin, "GET", path) }
    func post(_ admin: AdminServer, _ path: String) throws -> Page { try exchange(admin, "POST", path) }

    /// One request through a real socket (Foundation's HTTP client is not on every Linux build).
    func exchange(_ admin: AdminServer, _ method: String, _ path: String) throws -> Page {
        let request = "\(method) \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        let text = try RawHTTP.exchange(port: admin.port, request)
        let parts = text.components(separatedBy: "\r\n\r\n")
        let head = parts[0].components(separatedBy: "\r\n")
        let status = Int(head[0].split(separator: " ")[1]) ?? 0
        let type =
            head.first { $0.lowercased().hasPrefix("content-type:") }.map {
                String($0.dropFirst("content-type:".count)).trimmingCharacters(in: .whitespaces)
            } ?? ""
        return Page(status: status, contentType: type, body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }
}

/// Answers reloads from a script, in order.
final class ReloadScript: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [(Bool, String)]

    init(results: [(Bool, String)]) { self.results = results }

    func next() -> (ok: Bool, message: String) {
        lock.withLock { results.isEmpty ? (false, "no more") : results.removeFirst() }
    }
}

enum RawHTTP {
    static func exchange(port: Int, _ request: String) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw GRPCStatus(.unavailable, "connect failed") }
        var tv = timeval(tv_sec: 30, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        let bytes = Array(request.utf8)
        _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

@Suite("Call histograms")
struct CallHistogramTests {
    @Test("observations land in the first bucket whose bound holds them; buckets render cumulative, in A66's bounds")
    func buckets() throws {
        let backend = MetricsBackend()
        let timer = withMetricsFactory(backend.factory) {
            CoreMetrics.Timer(label: "grpc_server_call_duration_seconds", dimensions: [("grpc_method", "m")])
        }
        for nanoseconds: Int64 in [0, 10_000, 10_001, 25_000_000, 25_000_001, 200_000_000_000, -5] {
            timer.recordNanoseconds(nanoseconds)
        }
        let text = String(decoding: backend.render(), as: UTF8.self)
        func bucket(_ le: String) -> Double? {
            OperationsTests.sample(text, "grpc_server_call_duration_seconds_bucket{grpc_method=\"m\",le=\"\(le)\"}")
        }
        #expect(bucket("0.0") == 2)
        #expect(bucket("1e-05") == 3)
        #expect(bucket("5e-05") == 4)
        #expect(bucket("0.025") == 5)
        #expect(bucket("0.03") == 6)
        #expect(bucket("100.0") == 6)
        #expect(bucket("+Inf") == 7)
        #expect(OperationsTests.sample(text, #"grpc_server_call_duration_seconds_count{grpc_method="m"}"#) == 7)
        let sum = try #require(OperationsTests.sample(text, #"grpc_server_call_duration_seconds_sum{grpc_method="m"}"#))
        #expect(abs(sum - 200.050_020_002) < 1e-6)
        #expect(text.contains("# TYPE grpc_server_call_duration_seconds histogram"))
    }

    @Test("the same name and labels give the same histogram; label values are escaped")
    func sharedAndEscaped() {
        let backend = MetricsBackend()
        withMetricsFactory(backend.factory) {
            let labels = [("grpc_method", "a\"b\\c")]
            Recorder(label: "grpc_server_call_sent_total_compressed_message_size_bytes", dimensions: labels).record(10)
            Recorder(label: "grpc_server_call_sent_total_compressed_message_size_bytes", dimensions: labels).record(
                5000
            )
        }
        let text = String(decoding: backend.render(), as: UTF8.self)
        let series = #"grpc_server_call_sent_total_compressed_message_size_bytes_count{grpc_method="a\"b\\c"}"#
        #expect(OperationsTests.sample(text, series) == 2)
        #expect(text.contains(#"le="1024.0"} 1"#))
    }
}
