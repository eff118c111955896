import ArgumentParser
import Dispatch
import Foundation
import GRPCStandardServices
import H2GRPC
import RankdService
import Ranking

/// rankd: the ranking server. Starts listening at once, loads the catalog (a snapshot, or the generated demo through
/// the same loader) and the models in the background (health says NOT_SERVING until then), swaps snapshots on
/// SIGHUP or a repointed symlink, and shuts down gracefully on SIGTERM or SIGINT.
@main
struct Rankd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rankd",
        abstract: "Real-time personalised ranking over gRPC."
    )

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port = 50051

    @Option(help: "I/O threads (default: one per core).")
    var ioThreads: Int?

    @Option(help: "Pin I/O threads to these CPUs, e.g. 0 or 0,1.")
    var pinIoCpus: String?

    @Option(help: "Largest request message accepted, in bytes.")
    var maxReceiveMessageSize = 4 << 20

    @Option(help: "Concurrent streams a client may open on one connection.")
    var maxConcurrentStreams: UInt32 = 1000

    @Option(help: "Connections served at once; at the limit the oldest one that has not sent its preface is closed.")
    var maxConnections = 10_000

    @Option(help: "Largest decoded request header list, in bytes (SETTINGS_MAX_HEADER_LIST_SIZE).")
    var maxHeaderListSize: UInt32 = 16 << 10

    @Option(help: "Request bytes one connection may have buffered (messages arriving or not yet handled).")
    var maxConnectionRequestBytes = 16 << 20

    @Option(help: "Request bytes all connections together may have buffered.")
    var maxServerRequestBytes = 256 << 20

    @Option(help: "Response bytes one connection may leave unread before its new calls wait to start.")
    var maxConnectionResponseBytes = 4 << 20

    @Option(help: "Seconds a new connection has to send the HTTP/2 preface.")
    var prefaceTimeout = 10.0

    @Option(help: "Seconds without streams before a connection gets GOAWAY; 0 for never.")
    var idleTimeout = 300.0

    @Option(help: "Seconds before a connection gets GOAWAY so clients rebalance; 0 for never.")
    var maxConnectionAge = 0.0

    @Option(help: "Seconds calls in flight get after a maximum-age GOAWAY.")
    var maxConnectionAgeGrace = 10.0

    @Option(help: "Seconds a connection may leave response bytes unread before it is closed; 0 for never.")
    var writeTimeout = 30.0

    @Option(help: "PINGs closer than this many seconds (with no response data between) earn a strike; 3 = GOAWAY.")
    var minPingInterval = 300.0

    @Option(help: "Threads that run Rank and Recommend (default: one per core).")
    var workers: Int?

    @Option(help: "Calls waiting for a worker at most; more are refused with RESOURCE_EXHAUSTED.")
    var maxQueuedCalls = 1000

    @Option(help: "Milliseconds a call may wait for a worker; one that would wait longer is refused at once.")
    var queueBudgetMs = 5.0

    @Option(help: "Nice value of the worker threads, so I/O threads sharing their cores run first (0 to 19).")
    var workerNice: Int32 = 5

    @Option(help: "Seconds in-flight calls get to finish on SIGTERM.")
    var gracePeriod = 10.0

    @Option(help: "Log level: debug, info, warning, error.")
    var logLevel = "info"

    @Option(help: "Seed of the demo marketplace.")
    var seed: UInt64 = 42

    @Option(help: "Size of the demo marketplace relative to the default (20k venues, 400k items, 200k users).")
    var scale = 1.0

    @Option(
        help: """
            A discovery model (LightGBM .txt or XGBoost .json, with <name>.golden.json beside it) to serve instead of \
            the embedded one. On SIGHUP rankd reloads it: the new file is checked against its golden file and the \
            feature join before it replaces the old one, and requests in flight finish on the old model.
            """
    )
    var model: String?

    @Option(
        help: """
            A catalog snapshot folder to serve instead of the generated demo (e.g. from rankctl demo-data --snapshot). \
            On SIGHUP, or when the path is a symlink (such as current) that is repointed, rankd loads the snapshot it \
            names beside the one serving, validates it and swaps it in; a broken one is refused and logged.
            """
    )
    var snapshot: String?

    @Option(help: "Seconds between checks of where --snapshot points (a repointed symlink is loaded); 0 for never.")
    var snapshotPollInterval = 1.0

    @Flag(help: "Honour test-only request metadata (rankd-test-delay-ms, x-echo-*). Never in production.")
    var testHooks = false

    mutating func validate() throws {
        guard LogLevel(name: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
        guard (0...65535).contains(port) else { throw ValidationError("port must be 0...65535") }
        guard maxReceiveMessageSize > 0 else { throw ValidationError("--max-receive-message-size must be positive") }
        guard scale > 0 else { throw ValidationError("--scale must be positive") }
        guard maxHeaderListSize >= 1024 else { throw ValidationError("--max-header-list-size must be at least 1024") }
        guard maxConnectionRequestBytes >= maxReceiveMessageSize, maxServerRequestBytes >= maxConnectionRequestBytes
        else {
            throw ValidationError(
                "need --max-receive-message-size <= --max-connection-request-bytes <= --max-server-request-bytes"
            )
        }
        guard maxConnectionResponseBytes > 0 else {
            throw ValidationError("--max-connection-response-bytes must be positive")
        }
        for (name, value) in [
            ("--preface-timeout", prefaceTimeout), ("--idle-timeout", idleTimeout),
            ("--max-connection-age", maxConnectionAge), ("--max-connection-age-grace", maxConnectionAgeGrace),
            ("--write-timeout", writeTimeout), ("--min-ping-interval", minPingInterval),
            ("--queue-budget-ms", queueBudgetMs),
        ] where !(value >= 0 && value.isFinite) {
            throw ValidationError("\(name) must be a non-negative number of seconds (got \(value))")
        }
        guard prefaceTimeout > 0 else { throw ValidationError("--preface-timeout must be positive") }
        if let workers, workers < 1 { throw ValidationError("--workers must be at least 1") }
        guard (0...19).contains(workerNice) else { throw ValidationError("--worker-nice must be 0...19") }
        guard maxQueuedCalls >= 1 else { throw ValidationError("--max-queued-calls must be at least 1") }
        guard snapshotPollInterval >= 0, snapshotPollInterval.isFinite else {
            throw ValidationError("--snapshot-poll-interval must be a non-negative number of seconds")
        }
    }

    mutating func run() throws {
        let signals = try TerminationSignals.block()
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.maxReceiveMessageSize = maxReceiveMessageSize
        configuration.maxConcurrentStreams = maxConcurrentStreams
        configuration.maxConnections = maxConnections
        configuration.maxHeaderListSize = maxHeaderListSize
        configuration.maxConnectionRequestBytes = maxConnectionRequestBytes
        configuration.maxServerRequestBytes = maxServerRequestBytes
        configuration.maxConnectionResponseBytes = maxConnectionResponseBytes
        configuration.prefaceTimeout = prefaceTimeout
        configuration.idleTimeout = idleTimeout > 0 ? idleTimeout : nil
        configuration.maxConnectionAge = maxConnectionAge > 0 ? maxConnectionAge : nil
        configuration.maxConnectionAgeGrace = maxConnectionAgeGrace
        configuration.writeTimeout = writeTimeout > 0 ? writeTimeout : nil
        configuration.minPingInterval = minPingInterval
        if let workers { configuration.workers = workers }
        configuration.maxQueuedCalls = maxQueuedCalls
        configuration.queueBudgetMilliseconds = queueBudgetMs
        configuration.workerNice = workerNice
        configuration.shutdownGracePeriod = gracePeriod
        configuration.logLevel = LogLevel(name: logLevel)!
        if let ioThreads { configuration.ioThreads = ioThreads }
        if let pinIoCpus {
            configuration.pinIOThreads = pinIoCpus.split(separator: ",").compactMap { Int($0) }
        }

        let ranking = RankingServiceHandlers(testHooks: testHooks)
        let health = HealthService(services: [RankingServiceHandlers.serviceName])
        let serviceNames = [
            RankingServiceHandlers.serviceName, "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ]
        let reflection = try ReflectionService(services: serviceNames)
        let server = try Server(
            configuration: configuration,
            services: [ranking.definition, health.definition] + reflection.definitions
        )
        try server.start()
        print("rankd listening on \(host):\(server.port)")
        fflush(stdout)

        let catalogs = SnapshotSwitcher(
            path: snapshot,
            seed: seed,
            scale: scale,
            model: model,
            ranking: ranking,
            health: health,
            server: server
        )
        Thread.detachNewThread { catalogs.loadInitial() }
        if snapshot != nil, snapshotPollInterval > 0 {
            let interval = snapshotPollInterval
            Thread.detachNewThread { catalogs.watch(every: interval) }
        }

        var signal = TerminationSignals.wait(signals)
        while signal == SIGHUP || signal == SIGUSR1 {
            if signal == SIGHUP {
                if snapshot != nil {
                    Thread.detachNewThread { catalogs.reload(reason: "SIGHUP") }
                } else if model == nil {
                    server.log(
                        .warning,
                        "SIGHUP: nothing to reload (start rankd with --snapshot DIR or --model PATH to hand it files)"
                    )
                }
                if model != nil { reload(model: model, into: ranking, server: server) }
            } else {
                server.log(.info, server.stats().line)
            }
            signal = TerminationSignals.wait(signals)
        }
        server.log(.info, "signal \(signal): draining in-flight calls (grace \(gracePeriod) s)")
        health.setAll(.notServing)
        let cut = server.shutdown()
        server.log(.info, cut == 0 ? "shut down cleanly" : "shut down; \(cut) call(s) cut off at the grace period")
    }

    /// SIGHUP with --model: swaps in the model file again, validated first; a bad file is refused and the old model
    /// keeps serving.
    private func reload(model: String?, into ranking: RankingServiceHandlers, server: Server) {
        guard let model else { return }
        guard let engine = ranking.engine else {
            server.log(.warning, "SIGHUP: still loading; the model is read once loading finishes")
            return
        }
        do {
            try engine.swapModel(contentsOf: model)
            server.log(.info, "SIGHUP: now serving \(engine.modelVersion)")
        } catch {
            server.log(.error, "SIGHUP: refused \(model), still serving \(engine.modelVersion): \(error)")
        }
    }
}
