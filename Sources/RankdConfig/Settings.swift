import Ranking

/// Everything rankd is configured with, after the file, the environment and the flags have been combined.
/// Each property's initial value is the built-in default that `rankd --help` and docs/configuration.md show.
public struct RankdSettings: Sendable {
    /// The gRPC listener and its limits; these take effect at start only.
    public var server = ServerSettings()
    /// The admin HTTP port.
    public var admin = AdminSettings()
    /// Log level and format.
    public var logging = LoggingSettings()
    /// What catalog is served.
    public var catalog = CatalogSettings()
    /// Where what users do (Track's events) is kept.
    public var online = OnlineSettings()
    /// The exposure and event logs.
    public var logs = RecordLogSettings()
    /// The file's `surfaces` and `models`; nil serves the embedded default pipeline.
    public var pipeline: PipelineConfig?
    /// The folder `pipeline`'s model paths are relative to (the configuration file's).
    public var pipelineDirectory: String?
    /// `--model` / `RANKD_MODEL`: a model file that replaces the discovery surface's model.
    public var modelOverride: String?

    /// The built-in defaults.
    public init() {}
}

/// The gRPC listener and its limits (see docs/defences.md for what each protects).
public struct ServerSettings: Sendable, Equatable {
    /// Address to listen on.
    public var host = "127.0.0.1"
    /// Port to listen on; 0 picks a free one.
    public var port = 50051
    /// I/O threads; nil for one per usable core (the affinity mask and the cgroup CPU quota bound the count).
    public var ioThreads: Int?
    /// CPUs to pin I/O threads to.
    public var pinIoCpus: [Int]?
    /// Threads that run Rank and Recommend; nil for one per usable core.
    public var workers: Int?
    /// Largest request message accepted, in bytes.
    public var maxReceiveMessageSize = 4 << 20
    /// Concurrent streams a client may open on one connection.
    public var maxConcurrentStreams = 1000
    /// Connections served at once.
    public var maxConnections = 10_000
    /// Largest decoded request header list, in bytes.
    public var maxHeaderListSize = 16 << 10
    /// Request bytes one connection may have buffered.
    public var maxConnectionRequestBytes = 16 << 20
    /// Request bytes all connections together may have buffered.
    public var maxServerRequestBytes = 256 << 20
    /// Response bytes one connection may leave unread before its new calls wait to start.
    public var maxConnectionResponseBytes = 4 << 20
    /// Seconds a new connection has to send the HTTP/2 preface.
    public var prefaceTimeout = 10.0
    /// Seconds without streams before GOAWAY; 0 for never.
    public var idleTimeout = 300.0
    /// Seconds before a connection gets GOAWAY so clients rebalance; 0 for never.
    public var maxConnectionAge = 0.0
    /// Seconds calls in flight get after a maximum-age GOAWAY.
    public var maxConnectionAgeGrace = 10.0
    /// Seconds a connection may leave response bytes unread before it is closed; 0 for never.
    public var writeTimeout = 30.0
    /// PINGs closer than this many seconds earn a strike.
    public var minPingInterval = 300.0
    /// Calls waiting for a worker at most.
    public var maxQueuedCalls = 1000
    /// Milliseconds a call may wait for a worker.
    public var queueBudgetMs = 5.0
    /// Milliseconds a Rank or Recommend may cost and still run on the I/O thread when the workers are idle; 0 never.
    public var inlineMaxMs = 1.0
    /// Nice value of the worker threads.
    public var workerNice = 5
    /// Seconds in-flight calls get to finish on SIGTERM.
    public var gracePeriod = 10.0

    /// The defaults.
    public init() {}
}

/// The admin HTTP port (metrics, health, reload).
public struct AdminSettings: Sendable, Equatable {
    /// Port on the gRPC host; 0 disables the admin server.
    public var port = 9090

    /// The defaults.
    public init() {}
}

/// Severity below which log lines are dropped.
public enum LogLevelName: String, Sendable, CaseIterable {
    /// Everything, including per-connection detail.
    case debug
    /// Start-up, swaps, reloads.
    case info
    /// Refusals and degraded states.
    case warning
    /// Failures only.
    case error
}

/// How log lines are written.
public enum LogFormat: String, Sendable, CaseIterable {
    /// One JSON object per line.
    case json
    /// `[level] message` lines for people.
    case text
}

/// Log level and format.
public struct LoggingSettings: Sendable, Equatable {
    /// Lines below this level are dropped.
    public var level = LogLevelName.info
    /// One JSON object per line, or text.
    public var format = LogFormat.json
    /// Share of requests written to the access log, 0...1.
    public var accessLogSampleRate = 0.0

    /// The defaults.
    public init() {}
}

/// What catalog rankd serves: a snapshot, or the generated demo marketplace.
public struct CatalogSettings: Sendable, Equatable {
    /// A snapshot folder (or a symlink to one); nil serves the generated demo.
    public var snapshot: String?
    /// Seconds between checks of where `snapshot` points; 0 for never.
    public var snapshotPollInterval = 1.0
    /// The generated demo marketplace.
    public var demo = DemoSettings()

    /// The defaults.
    public init() {}
}

/// Where the online state (what users did since the snapshot) lives.
public struct OnlineSettings: Sendable, Equatable {
    /// `redis://HOST:PORT` for a Redis that replicas share; nil keeps the state in this process.
    public var store: String?

    /// The defaults.
    public init() {}
}

/// The exposure log (what every answer showed) and the event log (what Track accepted), docs/experiments.md.
public struct RecordLogSettings: Sendable, Equatable {
    /// Folder of the exposure log's files; nil: no exposure log.
    public var exposures: String?
    /// Folder of the event log's files; nil: no event log.
    public var events: String?
    /// How records are written.
    public var format = RecordLogFormat.protobuf
    /// Records each log may hold waiting to be written; more are dropped and counted.
    public var queueCapacity = 65_536

    /// The defaults.
    public init() {}
}

/// How the logs hold their records.
public enum RecordLogFormat: String, Sendable, CaseIterable {
    /// Length-delimited `ranking.exposure.v1` protobuf records (`.pb` files).
    case protobuf
    /// One JSON object per line (`.jsonl` files), for people.
    case jsonl
}

/// The generated demo marketplace.
public struct DemoSettings: Sendable, Equatable {
    /// Seed of the generator.
    public var seed: UInt64 = 42
    /// Size relative to the default (20k venues, 400k items, 200k users).
    public var scale = 1.0

    /// The defaults.
    public init() {}
}

/// A value of one setting, as parsed from the file, the environment or a flag.
public enum SettingValue: Sendable, Equatable, CustomStringConvertible {
    /// Text (host, paths, names from a fixed list).
    case string(String)
    /// A whole number.
    case integer(Int)
    /// A whole number that may not fit in `Int` (the demo seed).
    case unsigned(UInt64)
    /// A real number.
    case number(Double)
    /// A list of whole numbers (CPUs).
    case integers([Int])

    /// The value as a person would write it.
    public var description: String {
        switch self {
        case .string(let text): return text
        case .integer(let value): return String(value)
        case .unsigned(let value): return String(value)
        case .number(let value): return value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : "\(value)"
        case .integers(let values): return values.map(String.init).joined(separator: ",")
        }
    }
}

/// What values a setting accepts.
public enum SettingKind: Sendable {
    /// Any text.
    case string
    /// A whole number in the range.
    case integer(ClosedRange<Int>)
    /// A whole number 0...UInt64.max.
    case unsigned
    /// A real number at least `minimum` (more than it when `exclusive`), at most `maximum` when given.
    case number(minimum: Double, exclusive: Bool, maximum: Double?)
    /// One of these words (case-insensitive).
    case choice([String])
    /// CPU numbers: `0,1` as text, or a YAML sequence of integers.
    case cpuList
}

/// One setting: its key in the file, its flag, its environment variable, what it accepts and whether a reload
/// applies it.
public struct Setting: Sendable {
    /// Dotted key in the configuration file (`server.port`); settings that exist only as a flag have none.
    public let key: String
    /// Whether the key may appear in the file.
    public let inFile: Bool
    /// The flag's name without dashes (`port`); the environment variable is derived from it.
    public let flag: String
    /// What it accepts.
    public let kind: SettingKind
    /// One line for `rankd --help`.
    public let summary: String
    /// Whether a configuration reload applies a change at once (otherwise it takes effect at restart).
    public let appliesOnReload: Bool
    /// Text shown as the default when the built-in value is nil (e.g. "one per core").
    let unsetDefault: String
    let read: @Sendable (RankdSettings) -> SettingValue?
    let write: @Sendable (inout RankdSettings, SettingValue) -> Void

    /// `--port`.
    public var flagName: String { "--" + flag }

    /// `RANKD_PORT`: RANKD_ and the flag in upper snake case.
    public var environmentVariable: String { "RANKD_" + flag.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// The built-in default as text.
    public var defaultText: String { read(RankdSettings()).map(\.description) ?? unsetDefault }

    /// The value in `settings`, as text.
    public func valueText(in settings: RankdSettings) -> String { read(settings).map(\.description) ?? unsetDefault }

    /// The help line: summary, default, environment variable and file key.
    public var help: String {
        let defaultPart = defaultText.isEmpty ? "no default" : "default \(defaultText)"
        let filePart = inFile ? "; file: \(key)" : ""
        return "\(summary) (\(defaultPart); env \(environmentVariable)\(filePart))"
    }
}

extension Setting {
    static func integer(
        _ key: String,
        _ flag: String,
        _ path: WritableKeyPath<RankdSettings, Int> & Sendable,
        _ range: ClosedRange<Int>,
        live: Bool = false,
        _ summary: String
    ) -> Setting {
        Setting(
            key: key,
            inFile: true,
            flag: flag,
            kind: .integer(range),
            summary: summary,
            appliesOnReload: live,
            unsetDefault: "",
            read: { .integer($0[keyPath: path]) },
            write: { settings, value in if case .integer(let v) = value { settings[keyPath: path] = v } }
        )
    }

    static func optionalInteger(
        _ key: String,
        _ flag: String,
        _ path: WritableKeyPath<RankdSettings, Int?> & Sendable,
        _ range: ClosedRange<Int>,
        unset: String,
        _ summary: String
    ) -> Setting {
        Setting(
            key: key,
            inFile: true,
            flag: flag,
            kind: .integer(range),
            summary: summary,
            appliesOnReload: false,
            unsetDefault: unset,
            read: { $0[keyPath: path].map(SettingValue.integer) },
            write: { settings, value in if case .integer(let v) = value { settings[keyPath: path] = v } }
        )
    }

    static func number(
        _ key: String,
        _ flag: String,
        _ path: WritableKeyPath<RankdSettings, Double> & Sendable,
        minimum: Double = 0,
        exclusive: Bool = false,
        maximum: Double? = nil,
        live: Bool = false,
        _ summary: String
    ) -> Setting {
        Setting(
            key: key,
            inFile: true,
            flag: flag,
            kind: .number(minimum: minimum, exclusive: exclusive, maximum: maximum),
            summary: summary,
            appliesOnReload: live,
            unsetDefault: "",
            read: { .number($0[keyPath: path]) },
            write: { settings, value in if case .number(let v) = value { settings[keyPath: path] = v } }
        )
    }

    static func string(
        _ key: String,
        _ flag: String,
        _ path: WritableKeyPath<RankdSettings, String?> & Sendable,
        inFile: Bool = true,
        unset: String,
        _ summary: String
    ) -> Setting {
        Setting(
            key: key,
            inFile: inFile,
            flag: flag,
            kind: .string,
            summary: summary,
            appliesOnReload: false,
            unsetDefault: unset,
            read: { $0[keyPath: path].map(SettingValue.string) },
            write: { settings, value in if case .string(let v) = value { settings[keyPath: path] = v } }
        )
    }

    static func choice<Choice: RawRepresentable & CaseIterable & Sendable>(
        _ key: String,
        _ flag: String,
        _ path: WritableKeyPath<RankdSettings, Choice> & Sendable,
        live: Bool,
        _ summary: String
    ) -> Setting where Choice.RawValue == String {
        Setting(
            key: key,
            inFile: true,
            flag: flag,
            kind: .choice(Choice.allCases.map(\.rawValue)),
            summary: summary,
            appliesOnReload: live,
            unsetDefault: "",
            read: { .string($0[keyPath: path].rawValue) },
            write: { settings, value in
                if case .string(let v) = value, let choice = Choice(rawValue: v) { settings[keyPath: path] = choice }
            }
        )
    }
}

/// Every setting rankd has, in the order `rankd --help` and docs/configuration.md list them.
public enum Settings {
    /// The table: one entry per flag, environment variable and file key.
    public static let all: [Setting] = [
        .string(\.server.host, "server.host", "host", "Address to listen on."),
        .integer("server.port", "port", \.server.port, 0...65535, "Port to listen on; 0 picks a free one."),
        .optionalInteger(
            "server.ioThreads",
            "io-threads",
            \.server.ioThreads,
            1...1024,
            unset: "one per usable core",
            "I/O threads."
        ),
        Setting(
            key: "server.pinIoCpus",
            inFile: true,
            flag: "pin-io-cpus",
            kind: .cpuList,
            summary: "Pin I/O threads to these CPUs, e.g. 0 or 0,1.",
            appliesOnReload: false,
            unsetDefault: "not pinned",
            read: { $0.server.pinIoCpus.map(SettingValue.integers) },
            write: { settings, value in if case .integers(let v) = value { settings.server.pinIoCpus = v } }
        ),
        .optionalInteger(
            "server.workers",
            "workers",
            \.server.workers,
            0...4096,
            unset: "one per usable core",
            "Threads that run Rank and Recommend; 0 runs them on the I/O threads (one core, local online store)."
        ),
        .integer(
            "server.maxReceiveMessageSize",
            "max-receive-message-size",
            \.server.maxReceiveMessageSize,
            1...Int(Int32.max),
            "Largest request message accepted, in bytes."
        ),
        .integer(
            "server.maxConcurrentStreams",
            "max-concurrent-streams",
            \.server.maxConcurrentStreams,
            1...Int(UInt32.max),
            "Concurrent streams a client may open on one connection."
        ),
        .integer(
            "server.maxConnections",
            "max-connections",
            \.server.maxConnections,
            1...Int(Int32.max),
            "Connections served at once; at the limit the oldest one that has not sent its preface is closed."
        ),
        .integer(
            "server.maxHeaderListSize",
            "max-header-list-size",
            \.server.maxHeaderListSize,
            1024...Int(UInt32.max),
            "Largest decoded request header list, in bytes (SETTINGS_MAX_HEADER_LIST_SIZE)."
        ),
        .integer(
            "server.maxConnectionRequestBytes",
            "max-connection-request-bytes",
            \.server.maxConnectionRequestBytes,
            1...Int.max,
            "Request bytes one connection may have buffered (messages arriving or not yet handled)."
        ),
        .integer(
            "server.maxServerRequestBytes",
            "max-server-request-bytes",
            \.server.maxServerRequestBytes,
            1...Int.max,
            "Request bytes all connections together may have buffered."
        ),
        .integer(
            "server.maxConnectionResponseBytes",
            "max-connection-response-bytes",
            \.server.maxConnectionResponseBytes,
            1...Int.max,
            "Response bytes one connection may leave unread before its new calls wait to start."
        ),
        .number(
            "server.prefaceTimeout",
            "preface-timeout",
            \.server.prefaceTimeout,
            exclusive: true,
            "Seconds a new connection has to send the HTTP/2 preface."
        ),
        .number(
            "server.idleTimeout",
            "idle-timeout",
            \.server.idleTimeout,
            "Seconds without streams before a connection gets GOAWAY; 0 for never."
        ),
        .number(
            "server.maxConnectionAge",
            "max-connection-age",
            \.server.maxConnectionAge,
            "Seconds before a connection gets GOAWAY so clients rebalance; 0 for never."
        ),
        .number(
            "server.maxConnectionAgeGrace",
            "max-connection-age-grace",
            \.server.maxConnectionAgeGrace,
            "Seconds calls in flight get after a maximum-age GOAWAY."
        ),
        .number(
            "server.writeTimeout",
            "write-timeout",
            \.server.writeTimeout,
            "Seconds a connection may leave response bytes unread before it is closed; 0 for never."
        ),
        .number(
            "server.minPingInterval",
            "min-ping-interval",
            \.server.minPingInterval,
            "PINGs closer than this many seconds (with no response data between) earn a strike; 3 = GOAWAY."
        ),
        .integer(
            "server.maxQueuedCalls",
            "max-queued-calls",
            \.server.maxQueuedCalls,
            1...Int(Int32.max),
            "Calls waiting for a worker at most; more are refused with RESOURCE_EXHAUSTED."
        ),
        .number(
            "server.queueBudgetMs",
            "queue-budget-ms",
            \.server.queueBudgetMs,
            "Milliseconds a call may wait for a worker; one that would wait longer is refused at once."
        ),
        .number(
            "server.inlineMaxMs",
            "inline-max-ms",
            \.server.inlineMaxMs,
            maximum: 1000,
            "Rank and Recommend run on the I/O thread that read them, with no hand-off to a worker and back, when "
                + "every worker is idle and the call costs at most this many milliseconds; 0 always hands them over."
        ),
        .integer(
            "server.workerNice",
            "worker-nice",
            \.server.workerNice,
            0...19,
            "Nice value of the worker threads, so I/O threads sharing their cores run first (0 to 19)."
        ),
        .number(
            "server.gracePeriod",
            "grace-period",
            \.server.gracePeriod,
            "Seconds in-flight calls get to finish on SIGTERM."
        ),
        .integer(
            "admin.port",
            "admin-port",
            \.admin.port,
            0...65535,
            "Admin HTTP port (metrics, health, reload) on the gRPC host; 0 disables it."
        ),
        .choice("logging.level", "log-level", \.logging.level, live: true, "Log level: debug, info, warning, error."),
        .choice("logging.format", "log-format", \.logging.format, live: true, "Log lines as json or text."),
        .number(
            "logging.accessLogSampleRate",
            "access-log-sample-rate",
            \.logging.accessLogSampleRate,
            maximum: 1,
            live: true,
            "Share of requests written to the access log, 0 to 1."
        ),
        .string(
            "catalog.snapshot",
            "snapshot",
            \.catalog.snapshot,
            unset: "the generated demo",
            "A catalog snapshot folder (or a symlink to one) to serve instead of the generated demo; reloaded on "
                + "SIGHUP or when the symlink is repointed."
        ),
        .number(
            "catalog.snapshotPollInterval",
            "snapshot-poll-interval",
            \.catalog.snapshotPollInterval,
            "Seconds between checks of where the snapshot path points; 0 for never."
        ),
        .string(
            "online.store",
            "online-store",
            \.online.store,
            unset: "in this process",
            "Where events and the online features they make are kept: redis://HOST:PORT for a Redis every replica "
                + "shares; unset keeps them in this process (bounded, lost at restart)."
        ),
        .string(
            "logs.exposures",
            "exposure-log",
            \.logs.exposures,
            unset: "off",
            "A folder for the exposure log: one record per Rank and Recommend answer (user, experiments, items with "
                + "positions and scores), in rotating files; also a Redis Stream (rankd:exposures) with a Redis "
                + "online store."
        ),
        .string(
            "logs.events",
            "event-log",
            \.logs.events,
            unset: "off",
            "A folder for the event log: every event Track accepted, in rotating files; also a Redis Stream "
                + "(rankd:events) with a Redis online store."
        ),
        .choice(
            "logs.format",
            "log-records-as",
            \.logs.format,
            live: false,
            "How the exposure and event logs write records: protobuf (length-delimited) or jsonl."
        ),
        .integer(
            "logs.queueCapacity",
            "log-queue-capacity",
            \.logs.queueCapacity,
            1...10_000_000,
            "Records each log holds waiting to be written; past it, records are dropped and counted, never waited for."
        ),
        Setting(
            key: "catalog.demo.seed",
            inFile: true,
            flag: "seed",
            kind: .unsigned,
            summary: "Seed of the demo marketplace.",
            appliesOnReload: false,
            unsetDefault: "",
            read: { .unsigned($0.catalog.demo.seed) },
            write: { settings, value in if case .unsigned(let v) = value { settings.catalog.demo.seed = v } }
        ),
        .number(
            "catalog.demo.scale",
            "scale",
            \.catalog.demo.scale,
            exclusive: true,
            maximum: 100,
            "Size of the demo marketplace relative to the default (20k venues, 400k items, 200k users)."
        ),
        .string(
            "model",
            "model",
            \.modelOverride,
            inFile: false,
            unset: "",
            "A discovery model file (LightGBM .txt or XGBoost .json, with <name>.golden.json beside it) that "
                + "replaces the configured one; reloaded and checked on SIGHUP."
        ),
    ]

    /// The setting with this file key or flag name.
    public static func named(_ name: String) -> Setting? {
        all.first { $0.key == name || $0.flag == name }
    }

    /// The help line of the setting named `name` (file key or flag); for `@Option(help:)`.
    public static func help(_ name: String) -> String { named(name)?.help ?? "" }
}

extension Setting {
    fileprivate static func string(
        _ path: WritableKeyPath<RankdSettings, String> & Sendable,
        _ key: String,
        _ flag: String,
        _ summary: String
    ) -> Setting {
        Setting(
            key: key,
            inFile: true,
            flag: flag,
            kind: .string,
            summary: summary,
            appliesOnReload: false,
            unsetDefault: "",
            read: { .string($0[keyPath: path]) },
            write: { settings, value in if case .string(let v) = value { settings[keyPath: path] = v } }
        )
    }
}
