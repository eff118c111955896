import ArgumentParser
import Dispatch
import ExposureLog
import Foundation
import GRPCStandardServices
import H2GRPC
import Logging
import OnlineStoreRedis
import RankdConfig
import RankdOps
import RankdService
import Ranking
import RedisClient

/// rankd: the ranking server. Starts listening at once, loads the catalog (a snapshot, or the generated demo through
/// the same loader) and the models in the background (health says NOT_SERVING until then), swaps snapshots on
/// SIGHUP or a repointed symlink, re-reads its configuration file on SIGHUP, and shuts down gracefully on SIGTERM or
/// SIGINT.
@main
struct Rankd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rankd",
        abstract: "Real-time personalised ranking over gRPC.",
        usage: """
            rankd [--config FILE] [<options>]
            rankd check-config FILE
            """,
        discussion: """
            Every setting below can be given four ways; the first that is set wins: \
            (1) the flag on the command line; \
            (2) an environment variable RANKD_ and the flag in upper snake case (RANKD_PORT, RANKD_ADMIN_PORT, \
            RANKD_LOG_LEVEL, ...); \
            (3) the configuration file (--config FILE or RANKD_CONFIG; YAML or JSON; each option names its key, \
            e.g. server.port), which also holds the pipeline: surfaces, models and experiments; \
            (4) the built-in default shown with each option.

            SIGHUP re-reads the configuration file, validates all of it (model files against their golden files \
            included) and swaps it in atomically; a file with any problem is refused with a log line and the old \
            configuration keeps serving. The pipeline and the logging settings apply at once; the others are \
            reported as changed and take effect at restart. `rankd check-config FILE` validates a file without \
            starting. See docs/configuration.md.
            """,
        subcommands: [CheckConfig.self]
    )

    @Option(
        help:
            "Configuration file (YAML or JSON); flags and RANKD_* environment variables override it (env RANKD_CONFIG)."
    )
    var config: String?

    @Option(help: ArgumentHelp(Settings.help("host"))) var host: String?
    @Option(help: ArgumentHelp(Settings.help("port"))) var port: String?
    @Option(help: ArgumentHelp(Settings.help("io-threads"))) var ioThreads: String?
    @Option(help: ArgumentHelp(Settings.help("pin-io-cpus"))) var pinIoCpus: String?
    @Option(help: ArgumentHelp(Settings.help("max-receive-message-size"))) var maxReceiveMessageSize: String?
    @Option(help: ArgumentHelp(Settings.help("max-concurrent-streams"))) var maxConcurrentStreams: String?
    @Option(help: ArgumentHelp(Settings.help("max-connections"))) var maxConnections: String?
    @Option(help: ArgumentHelp(Settings.help("max-header-list-size"))) var maxHeaderListSize: String?
    @Option(help: ArgumentHelp(Settings.help("max-connection-request-bytes"))) var maxConnectionRequestBytes: String?
    @Option(help: ArgumentHelp(Settings.help("max-server-request-bytes"))) var maxServerRequestBytes: String?
    @Option(help: ArgumentHelp(Settings.help("max-connection-response-bytes"))) var maxConnectionResponseBytes: String?
    @Option(help: ArgumentHelp(Settings.help("preface-timeout"))) var prefaceTimeout: String?
    @Option(help: ArgumentHelp(Settings.help("idle-timeout"))) var idleTimeout: String?
    @Option(help: ArgumentHelp(Settings.help("max-connection-age"))) var maxConnectionAge: String?
    @Option(help: ArgumentHelp(Settings.help("max-connection-age-grace"))) var maxConnectionAgeGrace: String?
    @Option(help: ArgumentHelp(Settings.help("write-timeout"))) var writeTimeout: String?
    @Option(help: ArgumentHelp(Settings.help("min-ping-interval"))) var minPingInterval: String?
    @Option(help: ArgumentHelp(Settings.help("workers"))) var workers: String?
    @Option(help: ArgumentHelp(Settings.help("max-queued-calls"))) var maxQueuedCalls: String?
    @Option(help: ArgumentHelp(Settings.help("queue-budget-ms"))) var queueBudgetMs: String?
    @Option(help: ArgumentHelp(Settings.help("inline-max-ms"))) var inlineMaxMs: String?
    @Option(help: ArgumentHelp(Settings.help("worker-nice"))) var workerNice: String?
    @Option(help: ArgumentHelp(Settings.help("grace-period"))) var gracePeriod: String?
    @Option(help: ArgumentHelp(Settings.help("admin-port"))) var adminPort: String?
    @Option(help: ArgumentHelp(Settings.help("log-level"))) var logLevel: String?
    @Option(help: ArgumentHelp(Settings.help("log-format"))) var logFormat: String?
    @Option(help: ArgumentHelp(Settings.help("access-log-sample-rate"))) var accessLogSampleRate: String?
    @Option(help: ArgumentHelp(Settings.help("seed"))) var seed: String?
    @Option(help: ArgumentHelp(Settings.help("scale"))) var scale: String?
    @Option(help: ArgumentHelp(Settings.help("model"))) var model: String?
    @Option(help: ArgumentHelp(Settings.help("snapshot"))) var snapshot: String?
    @Option(help: ArgumentHelp(Settings.help("snapshot-poll-interval"))) var snapshotPollInterval: String?
    @Option(help: ArgumentHelp(Settings.help("online-store"))) var onlineStore: String?
    @Option(help: ArgumentHelp(Settings.help("exposure-log"))) var exposureLog: String?
    @Option(help: ArgumentHelp(Settings.help("event-log"))) var eventLog: String?
    @Option(help: ArgumentHelp(Settings.help("log-records-as"))) var logRecordsAs: String?
    @Option(help: ArgumentHelp(Settings.help("log-queue-capacity"))) var logQueueCapacity: String?

    @Flag(help: "Honour test-only request metadata (rankd-test-delay-ms, x-echo-*). Never in production.")
    var testHooks = false

    /// The flags given on the command line, by name without dashes.
    var givenFlags: [String: String] {
        let all: [(String, String?)] = [
            ("host", host), ("port", port), ("io-threads", ioThreads), ("pin-io-cpus", pinIoCpus),
            ("max-receive-message-size", maxReceiveMessageSize), ("max-concurrent-streams", maxConcurrentStreams),
            ("max-connections", maxConnections), ("max-header-list-size", maxHeaderListSize),
            ("max-connection-request-bytes", maxConnectionRequestBytes),
            ("max-server-request-bytes", maxServerRequestBytes),
            ("max-connection-response-bytes", maxConnectionResponseBytes), ("preface-timeout", prefaceTimeout),
            ("idle-timeout", idleTimeout), ("max-connection-age", maxConnectionAge),
            ("max-connection-age-grace", maxConnectionAgeGrace), ("write-timeout", writeTimeout),
            ("min-ping-interval", minPingInterval), ("workers", workers), ("max-queued-calls", maxQueuedCalls),
            ("queue-budget-ms", queueBudgetMs), ("inline-max-ms", inlineMaxMs), ("worker-nice", workerNice),
            ("grace-period", gracePeriod),
            ("admin-port", adminPort), ("log-level", logLevel), ("log-format", logFormat),
            ("access-log-sample-rate", accessLogSampleRate), ("seed", seed), ("scale", scale), ("model", model),
            ("snapshot", snapshot), ("snapshot-poll-interval", snapshotPollInterval), ("online-store", onlineStore),
            ("exposure-log", exposureLog), ("event-log", eventLog), ("log-records-as", logRecordsAs),
            ("log-queue-capacity", logQueueCapacity),
        ]
        var flags: [String: String] = [:]
        for (name, value) in all { if let value { flags[name] = value } }
        return flags
    }

    /// The file, the environment and the flags combined; a problem anywhere stops rankd before it listens.
    func resolve() throws -> (ResolvedConfiguration, configPath: String?) {
        let environment = ProcessInfo.processInfo.environment
        var path = config
        if path == nil, let fromEnvironment = environment[ConfigResolver.configEnvironmentVariable],
            !fromEnvironment.isEmpty
        {
            path = fromEnvironment
        }
        let resolved: ResolvedConfiguration
        do {
            // Model files load with the catalog, in the background; a bad one leaves rankd NOT_SERVING.
            resolved = try ConfigResolver.load(
                path: path,
                environment: environment,
                flags: givenFlags,
                loadModels: false
            )
        } catch {
            throw ValidationError("\(error)")
        }
        guard resolved.isValid else {
            let lines = resolved.problems.map(\.description).joined(separator: "\n")
            throw ValidationError("configuration problems:\n\(lines)")
        }
        return (resolved, path)
    }

    mutating func run() throws {
        let (resolved, configPath) = try resolve()
        let settings = resolved.settings
        // Both before anything makes a logger or a metric handle.
        LineLogHandler.bootstrap(format: LineLogHandler.Format(rawValue: settings.logging.format.rawValue) ?? .json)
        let operations = Operations(backend: MetricsBackend.bootstrap())
        EventIngest.registerMetrics()
        LogMetrics.register(logs: ["exposure", "event"])
        let signals = try TerminationSignals.block()
        let ranking = RankingServiceHandlers(testHooks: testHooks, storeIsRemote: settings.online.store != nil)
        // The online state outlives catalogs and configurations: every engine built later reads this one.
        let onlineStore = try Rankd.onlineStore(settings.online)
        ranking.onlineStore = onlineStore
        let logs = try Rankd.recordLogs(settings)
        ranking.exposureLog = logs.exposures
        let events = EventServiceHandlers(
            store: onlineStore,
            storeIsRemote: settings.online.store != nil,
            eventLog: logs.events
        )
        let health = HealthService(services: [RankingServiceHandlers.serviceName, EventServiceHandlers.serviceName])
        let serviceNames = [
            RankingServiceHandlers.serviceName, EventServiceHandlers.serviceName, "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
        ]
        let reflection = try ReflectionService(services: serviceNames)
        var serverConfiguration = Rankd.serverConfiguration(settings)
        serverConfiguration.logger = Logger(label: "rankd")
        serverConfiguration.logger.logLevel = .trace
        let server = try Server(
            configuration: serverConfiguration,
            services: [ranking.definition, events.definition, health.definition] + reflection.definitions
        )
        operations.observe(server: { server.stats() })
        operations.observe(onlineStore: {
            let report = onlineStore.report()
            var sample = OnlineStoreSample()
            sample.users = report.users
            sample.sessions = report.sessions
            sample.items = report.items
            sample.eventIDs = report.eventIDs
            sample.bytes = report.bytes
            sample.evictions = report.evictions
            sample.readRoundTrips = report.readRoundTrips
            sample.writeRoundTrips = report.writeRoundTrips
            sample.refreshRoundTrips = report.refreshRoundTrips
            sample.failures = report.failures
            return sample
        })
        operations.configServed(version: Rankd.configVersion(path: configPath))

        var reloader: ConfigReloader?
        if let configPath {
            reloader = ConfigReloader(
                path: configPath,
                environment: ProcessInfo.processInfo.environment,
                flags: givenFlags,
                active: resolved,
                engine: { ranking.engine },
                apply: { settings in
                    server.setLogLevel(Rankd.logLevel(settings.logging.level))
                    server.setAccessLogEvery(Rankd.accessLogEvery(settings.logging.accessLogSampleRate))
                    LineLogHandler.setFormat(
                        LineLogHandler.Format(rawValue: settings.logging.format.rawValue) ?? .json
                    )
                }
            )
        }
        let activeSettings: @Sendable () -> RankdSettings = { [reloader] in reloader?.settings ?? settings }
        let reloadEndpoint: (@Sendable () -> (ok: Bool, message: String))? = reloader.map { reloader in
            {
                let result = Rankd.reloadConfiguration(
                    reloader,
                    reason: "POST /-/reload",
                    server: server,
                    operations: operations,
                    ranking: ranking
                )
                return (result.applied, result.description)
            }
        }
        let admin = try AdminPort.start(
            settings: settings,
            operations: operations,
            activeSettings: activeSettings,
            reload: reloadEndpoint
        )
        if let admin { print("rankd admin listening on \(settings.server.host):\(admin.port)") }
        try server.start()
        print(
            "rankd threads: \(serverConfiguration.ioThreads) I/O, \(serverConfiguration.workers) workers "
                + "(\(UsableCores.count) usable cores of \(ProcessInfo.processInfo.activeProcessorCount) online)"
        )
        print("rankd listening on \(settings.server.host):\(server.port)")
        fflush(stdout)
        let catalogs = SnapshotSwitcher(
            path: settings.catalog.snapshot,
            seed: settings.catalog.demo.seed,
            scale: settings.catalog.demo.scale,
            pipeline: { try activeSettings().effectivePipeline() },
            ranking: ranking,
            health: health,
            server: server,
            operations: operations
        )
        Thread.detachNewThread { catalogs.loadInitial() }
        if settings.catalog.snapshot != nil, settings.catalog.snapshotPollInterval > 0 {
            let interval = settings.catalog.snapshotPollInterval
            Thread.detachNewThread { catalogs.watch(every: interval) }
        }

        var signal = TerminationSignals.wait(signals)
        while signal == SIGHUP || signal == SIGUSR1 {
            if signal == SIGHUP {
                if settings.catalog.snapshot != nil {
                    Thread.detachNewThread { catalogs.reload(reason: "SIGHUP") }
                }
                if let reloader {
                    // The configuration carries --model too, so its reload re-reads that file as well.
                    Thread.detachNewThread {
                        Rankd.reloadConfiguration(
                            reloader,
                            reason: "SIGHUP",
                            server: server,
                            operations: operations,
                            ranking: ranking
                        )
                    }
                } else if let model = settings.modelOverride {
                    reload(model: model, into: ranking, server: server, operations: operations)
                } else if settings.catalog.snapshot == nil {
                    server.log(
                        .warning,
                        "SIGHUP: nothing to reload (start rankd with --config FILE, --snapshot DIR or --model PATH)"
                    )
                }
            } else {
                server.log(.info, server.stats().line)
            }
            signal = TerminationSignals.wait(signals)
        }
        // Readiness first, so load balancers stop sending before connections are told to go away.
        operations.readiness.markDraining()
        server.log(.info, "signal \(signal): draining in-flight calls (grace \(settings.server.gracePeriod) s)")
        health.setAll(.notServing)
        let cut = server.shutdown()
        server.log(.info, cut == 0 ? "shut down cleanly" : "shut down; \(cut) call(s) cut off at the grace period")
        // After the last call: every answer and event accepted before the shutdown is written.
        for (name, totals) in logs.stop() {
            server.log(
                .info,
                "\(name) log: \(totals.written) record(s) written, \(totals.dropped) dropped (queue full), "
                    + "\(totals.failed) failed"
            )
        }
        admin?.stop()
    }

    /// The exposure and event logs the settings ask for: files in their folders, and a Redis Stream each when the
    /// online store is Redis.
    static func recordLogs(_ settings: RankdSettings) throws -> RecordLogs {
        var logSettings = LogSettings()
        logSettings.format = settings.logs.format == .jsonl ? .jsonl : .protobuf
        logSettings.queueCapacity = settings.logs.queueCapacity
        var pool: RedisPool?
        if let url = settings.online.store, settings.logs.exposures != nil || settings.logs.events != nil {
            pool = RedisPool(endpoint: try RedisEndpoint(parsing: url))
        }
        func open<Record: LogRecord>(_ folder: String?, _ name: String, _ prefix: String) throws -> RecordLog<Record>? {
            guard let folder else { return nil }
            do {
                return try RecordLog<Record>(
                    name: name,
                    directory: LogDirectory(path: folder, prefix: prefix),
                    sinks: pool.map { [RedisStreamSink(pool: $0, key: "rankd:\(prefix)")] } ?? [],
                    settings: logSettings
                )
            } catch {
                throw ValidationError("--\(name)-log \(folder): \(error)")
            }
        }
        return RecordLogs(
            exposures: try open(settings.logs.exposures, "exposure", "exposures"),
            events: try open(settings.logs.events, "event", "events"),
            pool: pool
        )
    }

    /// The online store `settings` name: Redis (its item counters mirrored from now on) or this process's memory.
    static func onlineStore(_ settings: OnlineSettings) throws -> any OnlineStore {
        guard let url = settings.store else { return InProcessOnlineStore() }
        let endpoint: RedisEndpoint
        do {
            endpoint = try RedisEndpoint(parsing: url)
        } catch {
            throw ValidationError("--online-store: \(error)")
        }
        let store = RedisOnlineStore(endpoint: endpoint)
        store.startRefreshing()
        return store
    }

    /// Re-reads the configuration file and applies it, or refuses it and keeps the old one, with one log line
    /// either way. SIGHUP calls it; so may the admin endpoint (POST /-/reload), which counts the result.
    @discardableResult
    static func reloadConfiguration(
        _ reloader: ConfigReloader,
        reason: String,
        server: Server,
        operations: Operations,
        ranking: RankingServiceHandlers
    ) -> ConfigReloadResult {
        let result = reloader.reload(reason: reason)
        server.log(result.applied ? .info : .error, result.description)
        operations.reloaded("config", ok: result.applied)
        if result.applied {
            operations.configServed(version: configVersion(path: reloader.path))
            if let engine = ranking.engine { operations.modelsServed(engine.servingModels) }
        }
        return result
    }

    /// Names a configuration by its file's contents: 12 hex digits of FNV-1a; "defaults" without a file.
    static func configVersion(path: String?) -> String {
        guard let path, let data = FileManager.default.contents(atPath: path) else { return "defaults" }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String((String(repeating: "0", count: 16 - hex.count) + hex).prefix(12))
    }

    /// The access log's "one call in N" for a sample rate in 0...1; 0 when off.
    static func accessLogEvery(_ rate: Double) -> Int {
        guard rate > 0, rate.isFinite else { return 0 }
        return max(1, Int((1 / min(rate, 1)).rounded()))
    }

    /// The listener and its limits from the settings.
    static func serverConfiguration(_ settings: RankdSettings) -> ServerConfiguration {
        let server = settings.server
        var configuration = ServerConfiguration()
        configuration.host = server.host
        configuration.port = server.port
        configuration.maxReceiveMessageSize = server.maxReceiveMessageSize
        // The settings' ranges keep these within UInt32 and Int32.
        configuration.maxConcurrentStreams = UInt32(clamping: server.maxConcurrentStreams)
        configuration.maxConnections = server.maxConnections
        configuration.maxHeaderListSize = UInt32(clamping: server.maxHeaderListSize)
        configuration.maxConnectionRequestBytes = server.maxConnectionRequestBytes
        configuration.maxServerRequestBytes = server.maxServerRequestBytes
        configuration.maxConnectionResponseBytes = server.maxConnectionResponseBytes
        configuration.prefaceTimeout = server.prefaceTimeout
        configuration.idleTimeout = server.idleTimeout > 0 ? server.idleTimeout : nil
        configuration.maxConnectionAge = server.maxConnectionAge > 0 ? server.maxConnectionAge : nil
        configuration.maxConnectionAgeGrace = server.maxConnectionAgeGrace
        configuration.writeTimeout = server.writeTimeout > 0 ? server.writeTimeout : nil
        configuration.minPingInterval = server.minPingInterval
        if let workers = server.workers { configuration.workers = workers }
        configuration.maxQueuedCalls = server.maxQueuedCalls
        configuration.queueBudgetMilliseconds = server.queueBudgetMs
        configuration.inlineCallMaxMilliseconds = server.inlineMaxMs
        configuration.workerNice = Int32(clamping: server.workerNice)
        configuration.shutdownGracePeriod = server.gracePeriod
        configuration.logLevel = logLevel(settings.logging.level)
        configuration.accessLogEvery = accessLogEvery(settings.logging.accessLogSampleRate)
        if let ioThreads = server.ioThreads { configuration.ioThreads = ioThreads }
        configuration.pinIOThreads = server.pinIoCpus
        return configuration
    }

    static func logLevel(_ name: LogLevelName) -> LogLevel {
        switch name {
        case .debug: return .debug
        case .info: return .info
        case .warning: return .warning
        case .error: return .error
        }
    }

    /// SIGHUP with --model: swaps in the model file again, validated first; a bad file is refused and the old model
    /// keeps serving.
    private func reload(model: String, into ranking: RankingServiceHandlers, server: Server, operations: Operations) {
        guard let engine = ranking.engine else {
            server.log(.warning, "SIGHUP: still loading; the model is read once loading finishes")
            return
        }
        do {
            try engine.swapModel(contentsOf: model)
            operations.reloaded("model", ok: true)
            operations.modelsServed(engine.servingModels)
            server.log(.info, "SIGHUP: now serving \(engine.modelVersion)")
        } catch {
            operations.reloaded("model", ok: false)
            server.log(.error, "SIGHUP: refused \(model), still serving \(engine.modelVersion): \(error)")
        }
    }
}

/// The logs rankd writes, stopped (drained) at shutdown.
struct RecordLogs {
    let exposures: RecordLog<ExposureRecord>?
    let events: RecordLog<EventRecord>?
    let pool: RedisPool?

    /// Writes what is queued and stops; returns each log's totals.
    func stop() -> [(String, LogTotals)] {
        var totals: [(String, LogTotals)] = []
        if let exposures {
            exposures.stop()
            totals.append(("exposure", exposures.totalsSoFar))
        }
        if let events {
            events.stop()
            totals.append(("event", events.totalsSoFar))
        }
        pool?.close()
        return totals
    }
}
