import CatalogLoading
import Foundation
import Ranking
import Testing

@testable import RankdConfig

/// A temporary folder with files written into it, removed at deinit.
final class Scratch {
    let directory: String

    init() {
        directory = NSTemporaryDirectory() + "rankd-config-tests-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    @discardableResult
    func write(_ name: String, _ text: String) -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
        return path
    }
}

/// The embedded pipeline as JSON text with absolute model paths, adjusted by `adjust`: a valid `models`/`surfaces`
/// pair to put in a configuration file.
func embeddedPipelineJSON(_ adjust: (inout PipelineConfig) -> Void = { _ in }) throws -> String {
    var config = try RankingEngine.embeddedConfig()
    let directory = try RankingEngine.embeddedResourceDirectory()
    for (key, model) in config.models {
        config.models[key] = ModelConfig(
            file: (directory as NSString).appendingPathComponent(model.file),
            golden: (directory as NSString).appendingPathComponent(model.golden)
        )
    }
    adjust(&config)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return String(decoding: try encoder.encode(config), as: UTF8.self)
}

func parse(_ text: String, file: String = "rankd.yaml") throws -> ConfigFile {
    try ConfigFile.parse(text, path: file, directory: "/nonexistent")
}

func problemLines(_ text: String) throws -> [String] {
    try parse(text).problems.map(\.description)
}

@Suite("Decoding the configuration file")
struct DecodingTests {
    @Test func anEmptyFileMeansEveryDefaultAndTheEmbeddedPipeline() throws {
        let file = try parse("")
        #expect(file.problems.isEmpty)
        #expect(file.pipeline == nil)
        let resolved = ConfigResolver.resolve(file: file, environment: [:], flags: [:])
        #expect(resolved.isValid)
        #expect(resolved.settings.server.port == 50051)
        #expect(resolved.settings.admin.port == 9090)
        #expect(resolved.settings.logging.level == .info)
        #expect(resolved.settings.logging.format == .json)
    }

    @Test func settingsSectionsAreDecodedWithTheirTypes() throws {
        let file = try parse(
            """
            server:
              host: 0.0.0.0
              port: 6000
              pinIoCpus: [0, 1]
              queueBudgetMs: 2.5
              inlineMaxMs: 0.5
            admin: {port: 0}
            logging: {level: WARN, format: text, accessLogSampleRate: 0.25}
            catalog:
              snapshot: /srv/snap
              demo: {seed: 18446744073709551615, scale: 0.5}
            """
        )
        #expect(file.problems.isEmpty)
        let settings = ConfigResolver.resolve(file: file, environment: [:], flags: [:]).settings
        #expect(settings.server.host == "0.0.0.0")
        #expect(settings.server.port == 6000)
        #expect(settings.server.pinIoCpus == [0, 1])
        #expect(settings.server.queueBudgetMs == 2.5)
        #expect(settings.server.inlineMaxMs == 0.5)
        #expect(settings.admin.port == 0)
        #expect(settings.logging.level == .warning)
        #expect(settings.logging.format == .text)
        #expect(settings.logging.accessLogSampleRate == 0.25)
        #expect(settings.catalog.snapshot == "/srv/snap")
        #expect(settings.catalog.demo.seed == UInt64.max)
        #expect(settings.catalog.demo.scale == 0.5)
    }

    @Test func jsonIsAcceptedAndThePipelineIsDecoded() throws {
        let json = try embeddedPipelineJSON { $0.surfaces["discovery"]?.defaultLimit = 7 }
        let file = try parse(json, file: "rankd.json")
        #expect(file.problems.isEmpty, "\(file.problems)")
        #expect(file.pipeline?.surfaces["discovery"]?.defaultLimit == 7)
        #expect(file.pipeline?.models.count == 4)
    }

    @Test func aSyntaxErrorIsNotYAML() {
        #expect(throws: ConfigFileError.self) { try parse("server: [1, 2\nadmin: {") }
    }

    @Test func anUnreadableFileIsReportedAsSuch() {
        #expect {
            try ConfigFile.read(path: "/nonexistent/rankd.yaml")
        } throws: { error in
            guard case .unreadable = error as? ConfigFileError else { return false }
            return true
        }
    }
}

@Suite("Every problem, with its location")
struct ValidationTests {
    @Test(
        arguments: [
            ("server:\n  port: 70000\n", "rankd.yaml:2:3: server.port: must be an integer in 0...65535, got 70000"),
            (
                "server:\n  workers: two\n",
                "rankd.yaml:2:3: server.workers: must be an integer in 0...4096, got \"two\""
            ),
            ("server:\n  port: \"50051\"\n", "server.port: must be an integer in 0...65535, got \"50051\""),
            (
                "server:\n  maxHeaderListSize: 100\n",
                "server.maxHeaderListSize: must be an integer of at least 1024, got 100"
            ),
            ("server:\n  idleTimeout: -1\n", "server.idleTimeout: must be a non-negative number, got -1"),
            ("server:\n  prefaceTimeout: 0\n", "server.prefaceTimeout: must be a positive number, got 0"),
            ("server:\n  workerNice: 20\n", "server.workerNice: must be an integer in 0...19, got 20"),
            ("server:\n  inlineMaxMs: 2000\n", "server.inlineMaxMs: must be a number in 0...1000, got 2000"),
            ("server:\n  pinIoCpus: [0, x]\n", "server.pinIoCpus: must be CPU numbers 0...4095, got \"x\""),
            (
                "logging:\n  level: verbose\n",
                "logging.level: must be one of debug, info, warning, error, got \"verbose\""
            ),
            ("logging:\n  accessLogSampleRate: 2\n", "logging.accessLogSampleRate: must be a number in 0...1, got 2"),
            ("catalog:\n  demo:\n    scale: 0\n", "rankd.yaml:3:5: catalog.demo.scale: must be a number above 0"),
            ("server: 5\n", "rankd.yaml:1:1: server: must be a mapping, got 5"),
            ("- a\n- b\n", "rankd.yaml:1:1: must be a mapping, got a sequence"),
            ("server:\n  port: 1\nserver:\n  port: 2\n", "duplicated key(s) server"),
            ("admin:\n  port: 50051\n", "admin.port: is the gRPC port 50051 too"),
            (
                "server:\n  workers: 0\nonline:\n  store: redis://127.0.0.1:6379\n",
                "server.workers: is 0, which runs Rank and Recommend on the I/O threads, but they would wait there"
            ),
            (
                "server:\n  maxReceiveMessageSize: 20000000\n",
                "need maxReceiveMessageSize (20000000) <= maxConnectionRequestBytes (16777216)"
            ),
        ]
    )
    func aBadSettingIsReportedWithItsLineAndKey(text: String, expected: String) throws {
        let file = try parse(text)
        let resolved = ConfigResolver.resolve(file: file, environment: [:], flags: [:])
        let lines = resolved.problems.map(\.description)
        #expect(lines.contains { $0.contains(expected) }, "\(lines)")
    }

    @Test func everyProblemIsReportedNotJustTheFirst() throws {
        let lines = try problemLines(
            """
            server:
              port: 70000
              workers: -1
            logging:
              level: loud
            """
        )
        #expect(lines.count == 3, "\(lines)")
        #expect(lines[0].hasPrefix("rankd.yaml:2:3: server.port"))
        #expect(lines[1].hasPrefix("rankd.yaml:3:3: server.workers"))
        #expect(lines[2].hasPrefix("rankd.yaml:5:3: logging.level"))
    }

    /// The embedded pipeline as YAML-flow JSON, with one value replaced through its key path.
    func pipelineProblems(_ adjust: (inout PipelineConfig) -> Void) throws -> [String] {
        try problemLines(try embeddedPipelineJSON(adjust))
    }

    @Test func pipelineChecksAreReportedAtTheirKeys() throws {
        #expect(
            try pipelineProblems { $0.surfaces["discovery"]?.model = "nope" }.contains {
                $0.contains("surfaces.discovery.model: names unknown model nope (known: cart_lgbm, discovery_lgbm")
            }
        )
        #expect(
            try pipelineProblems { $0.surfaces["discovery"]?.experiment?.variants = [] }.contains {
                $0.contains("surfaces.discovery.experiment.variants: experiment discovery-model-xgb has no variants")
            }
        )
        #expect(
            try pipelineProblems { $0.surfaces["discovery"]?.stageBudgets.score = 1.5 }.contains {
                $0.contains("surfaces.discovery.stageBudgets.score: stage budget fractions must be in (0, 1]")
            }
        )
        #expect(
            try pipelineProblems { $0.surfaces["discovery"]?.experiment?.variants[1].model = "gone" }.contains {
                $0.contains("surfaces.discovery.experiment.variants.1.model: names unknown model gone")
            }
        )
        #expect(
            try pipelineProblems { $0.surfaces["venue_items"]?.rerank.explorationPolicy = "greedy" }.contains {
                $0.contains("surfaces.venue_items.rerank.explorationPolicy: must be one of thompson, epsilon, none")
            }
        )
        #expect(
            try pipelineProblems { $0.surfaces["discovery"]?.sources[0].name = "nearbyy" }.contains {
                $0.contains("surfaces.discovery.sources.0.name: unknown candidate source nearbyy for venues")
            }
        )
        #expect(
            try pipelineProblems { $0.surfaces["discovery"]?.experiment?.variants[0].buckets = 80 }.contains {
                $0.contains("surfaces.discovery.experiment.variants: buckets add up to 130, more than 100")
            }
        )
        #expect(
            try pipelineProblems { $0.surfaces["discovery"]?.defaultLimit = 500 }.contains {
                $0.contains("surfaces.discovery.defaultLimit: 500 is above maxLimit 200")
            }
        )
        #expect(
            try pipelineProblems { $0.surfaces["venue_items"]?.model = "discovery_lgbm" }.contains {
                $0.contains("surfaces.venue_items.model: model discovery_lgbm ranks venues")
            }
        )
    }

    @Test func aValueOfTheWrongTypeInThePipelineIsReportedAtItsLine() throws {
        let lines = try problemLines(
            """
            models: {}
            surfaces:
              discovery:
                kind: venues
                defaultLimit: 20
                maxLimit: 200
                maxCandidates: 2000
                defaultBudgetMillis: 80
                stageBudgets: {candidates: 0.3, features: 0.2, score: 0.4, rerank: 0.2}
                parallelSources: true
                sources: [{name: nearby, quota: 10}]
                scoring: {firstPhaseTrees: 20, fullModelTopN: 80}
                rerank:
                  brandCap: two
                  brandCapWindow: 20
                  diversityPenalty: 0.15
                  diversityWindow: 30
                  explorationPolicy: none
                  explorationSlot: 4
                  epsilon: 0.1
                  cuisineBoosts: {}
                  pins: {}
                  buries: []
                sections: [{key: all, title: All}]
            """
        )
        #expect(
            lines == [
                #"rankd.yaml:14:7: surfaces.discovery.rerank.brandCap: must be a non-negative integer, got "two""#
            ]
        )
    }

    @Test func aMissingKeyAndAnUnknownKindAreReported() throws {
        let lines = try problemLines(
            """
            surfaces:
              discovery:
                kind: restaurants
            """
        )
        #expect(lines.contains { $0.contains("surfaces.discovery.kind: must be one of venues, venue_items") })
        #expect(lines.contains { $0.contains("rankd.yaml:2:3: surfaces.discovery.defaultLimit: missing") })
    }

    @Test func modelsWithoutSurfacesIsAProblem() throws {
        let lines = try problemLines("models:\n  m: {file: a.txt, golden: a.golden.json}\n")
        #expect(lines.contains { $0.contains("surfaces: missing: a file that sets models must set surfaces too") })
    }

    @Test func aMissingModelFileIsReportedAtItsKey() throws {
        let scratch = Scratch()
        let json = try embeddedPipelineJSON { $0.models["discovery_xgb"]?.file = "missing.json" }
        let path = scratch.write("rankd.json", json)
        let resolved = try ConfigResolver.load(path: path, environment: [:], flags: [:])
        #expect(
            resolved.problems.map(\.description).contains {
                $0.contains("models.discovery_xgb.file: model file \(scratch.directory)/missing.json does not exist")
            },
            "\(resolved.problems)"
        )
    }

    @Test func aModelThatDoesNotReproduceItsGoldenFileIsRefused() throws {
        let scratch = Scratch()
        let directory = try RankingEngine.embeddedResourceDirectory()
        // The XGBoost model checked against the LightGBM model's golden scores.
        scratch.write(
            "xgb.json",
            try String(contentsOfFile: directory + "/discovery-xgb.json", encoding: .utf8)
        )
        scratch.write(
            "xgb.golden.json",
            try String(contentsOfFile: directory + "/discovery-lgbm.golden.json", encoding: .utf8)
        )
        let json = try embeddedPipelineJSON {
            $0.models["discovery_xgb"] = ModelConfig(file: "xgb.json", golden: "xgb.golden.json")
        }
        let resolved = try ConfigResolver.load(path: scratch.write("rankd.yaml", json), environment: [:], flags: [:])
        let lines = resolved.problems.map(\.description)
        #expect(lines.count == 1, "\(lines)")
        #expect(lines.first?.contains("models.discovery_xgb.file:") == true, "\(lines)")
    }
}

@Suite("Unknown keys")
struct UnknownKeyTests {
    @Test(
        arguments: [
            ("server:\n  prot: 1\n", "unknown key prot (did you mean port?)"),
            ("server:\n  max_connections: 1\n", "unknown key max_connections (did you mean maxConnections?)"),
            ("logging:\n  levle: info\n", "unknown key levle (did you mean level?)"),
            ("surfce: {}\n", "unknown key surfce (did you mean surfaces?)"),
            ("server:\n  zzz: 1\n", "unknown key zzz (known: host, port,"),
        ]
    )
    func aTypoGetsTheNearestKnownKey(text: String, expected: String) throws {
        let lines = try problemLines(text)
        #expect(lines.contains { $0.contains(expected) }, "\(lines)")
    }

    @Test func aTypoInsideASurfaceIsCaught() throws {
        let json = try embeddedPipelineJSON().replacingOccurrences(of: "\"brandCapWindow\"", with: "\"brandCapWindw\"")
        let lines = try problemLines(json)
        #expect(lines.contains { $0.contains("unknown key brandCapWindw (did you mean brandCapWindow?)") })
        #expect(lines.contains { $0.contains("brandCapWindow: missing") })
    }

    @Test func editDistanceCountsInsertionsDeletionsAndSubstitutions() {
        #expect(KeySuggestion.editDistance(Array("kitten"), Array("sitting")) == 3)
        #expect(KeySuggestion.editDistance(Array(""), Array("abc")) == 3)
        #expect(KeySuggestion.nearest(to: "qqqqqqq", in: ["port", "host"]) == nil)
    }
}

@Suite("Precedence: flag > environment > file > default")
struct PrecedenceTests {
    let file: ConfigFile

    init() throws {
        file = try parse("server:\n  port: 6000\n  workers: 3\nlogging:\n  level: debug\n")
    }

    @Test func theFileOverridesTheDefault() {
        let resolved = ConfigResolver.resolve(file: file, environment: [:], flags: [:])
        #expect(resolved.settings.server.port == 6000)
        #expect(resolved.origins["server.port"] == .file(path: "rankd.yaml", line: 2, column: 3))
        #expect(resolved.settings.server.maxConnections == 10_000)
        #expect(resolved.origins["server.maxConnections"] == nil)
    }

    @Test func theEnvironmentOverridesTheFile() {
        let resolved = ConfigResolver.resolve(
            file: file,
            environment: ["RANKD_PORT": "7000", "RANKD_LOG_LEVEL": "error", "RANKD_ADMIN_PORT": "0"],
            flags: [:]
        )
        #expect(resolved.settings.server.port == 7000)
        #expect(resolved.settings.logging.level == .error)
        #expect(resolved.settings.admin.port == 0)
        #expect(resolved.settings.server.workers == 3)
        #expect(resolved.origins["server.port"] == .environment("RANKD_PORT"))
    }

    @Test func aFlagOverridesTheEnvironmentAndTheFile() {
        let resolved = ConfigResolver.resolve(
            file: file,
            environment: ["RANKD_PORT": "7000"],
            flags: ["port": "8000", "log-level": "info"]
        )
        #expect(resolved.settings.server.port == 8000)
        #expect(resolved.settings.logging.level == .info)
        #expect(resolved.origins["server.port"] == .flag("--port"))
    }

    @Test func aBadEnvironmentVariableIsAnErrorThatNamesIt() {
        let resolved = ConfigResolver.resolve(file: nil, environment: ["RANKD_WORKERS": "many"], flags: [:])
        #expect(
            resolved.problems.map(\.description) == [
                #"environment RANKD_WORKERS: server.workers: must be an integer in 0...4096, got "many""#
            ]
        )
    }

    @Test func aBadFlagIsReportedEvenWhenTheEnvironmentHasAGoodValue() {
        let resolved = ConfigResolver.resolve(file: nil, environment: ["RANKD_PORT": "1"], flags: ["port": "-1"])
        #expect(
            resolved.problems.map(\.description) == [
                "flag --port: server.port: must be an integer in 0...65535, got -1"
            ]
        )
    }

    @Test func everySettingHasAFlagAnEnvironmentVariableAndAHelpLineWithItsDefault() {
        var flags = Set<String>()
        for setting in Settings.all {
            #expect(flags.insert(setting.flag).inserted, "flag \(setting.flag) twice")
            #expect(setting.environmentVariable.hasPrefix("RANKD_"))
            #expect(setting.help.contains(setting.environmentVariable))
        }
        #expect(Settings.named("admin-port")?.environmentVariable == "RANKD_ADMIN_PORT")
        #expect(Settings.help("port").contains("default 50051"))
        #expect(Settings.help("port").contains("file: server.port"))
    }

    @Test func theModelFlagReplacesTheDiscoveryModel() throws {
        let resolved = ConfigResolver.resolve(file: nil, environment: [:], flags: ["model": "/models/new.txt"])
        let pipeline = try resolved.settings.effectivePipeline()
        #expect(pipeline.config.models["discovery_lgbm"]?.file == "/models/new.txt")
        #expect(pipeline.config.models["discovery_lgbm"]?.golden == "/models/new.golden.json")
    }
}

/// Counts what ``ConfigReloader`` hands its `apply` hook.
final class AppliedSettings: @unchecked Sendable {
    private let lock = NSLock()
    private var levels: [LogLevelName] = []

    func record(_ settings: RankdSettings) { lock.withLock { levels.append(settings.logging.level) } }
    var applied: [LogLevelName] { lock.withLock { levels } }
}

@Suite("Reloading the configuration")
struct ReloadTests {
    @Test func aGoodConfigurationIsSwappedInAndACorruptOneRefusedWithTheOldOneKept() throws {
        let scratch = Scratch()
        let engine = try RankingEngine.demoThroughSnapshot(seed: 7, scale: 0.01)
        let path = scratch.write("rankd.json", try embeddedPipelineJSON())
        let active = try ConfigResolver.load(path: path, environment: [:], flags: [:])
        #expect(active.isValid, "\(active.problems)")
        let applied = AppliedSettings()
        let reloader = ConfigReloader(
            path: path,
            environment: [:],
            flags: [:],
            active: active,
            engine: { engine },
            apply: { applied.record($0) }
        )

        // Good: a smaller default answer, another log level and a port change (pending restart).
        let changed = try embeddedPipelineJSON { $0.surfaces["discovery"]?.defaultLimit = 3 }
        scratch.write(
            "rankd.json",
            "{\"logging\": {\"level\": \"debug\"}, \"server\": {\"port\": 6001}, " + changed.dropFirst()
        )
        let good = reloader.reload(reason: "test")
        #expect(good.applied, "\(good)")
        #expect(good.pendingRestart == ["server.port 50051 -> 6001"])
        #expect(engine.pipelineConfig.surfaces["discovery"]?.defaultLimit == 3)
        #expect(applied.applied == [.debug])
        #expect(reloader.settings.logging.level == .debug)

        // Corrupt: not even YAML; then valid YAML with a bad value. Both refused, nothing changes.
        scratch.write("rankd.json", "{\"surfaces\": [")
        let corrupt = reloader.reload(reason: "test")
        #expect(!corrupt.applied)
        #expect(corrupt.summary.contains("refused"))
        scratch.write("rankd.json", try embeddedPipelineJSON { $0.surfaces["discovery"]?.model = "missing" })
        let bad = reloader.reload(reason: "test")
        #expect(!bad.applied)
        #expect(bad.problems.map(\.description).contains { $0.contains("names unknown model missing") })
        #expect(engine.pipelineConfig.surfaces["discovery"]?.defaultLimit == 3)
        #expect(engine.pipelineConfig.surfaces["discovery"]?.model == "discovery_lgbm")
        #expect(applied.applied == [.debug])
        #expect(reloader.settings.logging.level == .debug)
    }

    @Test func requestsAreServedWithTheNewDefaultLimitAfterASwap() throws {
        let engine = try RankingEngine.demoThroughSnapshot(seed: 7, scale: 0.01)
        var config = try RankingEngine.embeddedConfig()
        config.surfaces["discovery"]?.defaultLimit = 2
        try engine.swapPipeline(config: config, resourceDirectory: try RankingEngine.embeddedResourceDirectory())
        #expect(engine.pipelineConfig.surfaces["discovery"]?.defaultLimit == 2)
        config.surfaces["discovery"]?.sources[0].quota = -1
        #expect(throws: RankingError.self) {
            try engine.swapPipeline(config: config, resourceDirectory: try RankingEngine.embeddedResourceDirectory())
        }
        #expect(engine.pipelineConfig.surfaces["discovery"]?.sources[0].quota == 400)
    }
}

@Suite("Experiments and logs in the file")
struct ExperimentSectionTests {
    static let layer = """
        experiments:
          - name: ranking
            salt: ranking-2026
            holdoutPercent: 5
            experiments:
              - name: discovery-xgb
                surfaces: [discovery]
                percent: 50
                start: "2026-12-01T00:00:00Z"
                variants:
                  - {name: control, percent: 50}
                  - {name: xgb, percent: 50, model: discovery_xgb}
        """

    @Test func experimentsAloneRunOnTheEmbeddedSurfacesAndModels() throws {
        let file = try parse(Self.layer)
        #expect(file.problems.isEmpty, "\(file.problems)")
        let pipeline = try #require(file.pipeline)
        #expect(pipeline.experiments?.first?.experiments.first?.variants.map(\.name) == ["control", "xgb"])
        #expect(pipeline.models["discovery_xgb"].map { $0.file.hasPrefix("/") } == true)
        let resolved = ConfigResolver.resolve(file: file, environment: [:], flags: [:])
        #expect(
            ConfigSummary.describe(resolved.settings).contains(
                "discovery-xgb on discovery in layer ranking, 50% of users (control 50%, xgb 50%)"
            )
        )
    }

    @Test func aProblemInAnExperimentNamesItsKeys() throws {
        let lines = try problemLines(Self.layer.replacingOccurrences(of: "model: discovery_xgb", with: "model: gone"))
        #expect(
            lines.contains { $0.contains("experiments.0.experiments.0.variants.1.model: names unknown model gone") }
        )
        let shape = try problemLines(Self.layer.replacingOccurrences(of: "percent: 50\n", with: "percent: lots\n"))
        #expect(shape.contains { $0.contains("experiments.0.experiments.0.percent") }, "\(shape)")
        let unknown = try problemLines(Self.layer.replacingOccurrences(of: "holdoutPercent", with: "holdout"))
        #expect(unknown.contains { $0.contains("unknown key holdout") }, "\(unknown)")
    }

    @Test func logsAndOnlineSettingsAreReadFromTheFile() throws {
        let file = try parse(
            """
            online:
              store: redis://127.0.0.1:6390
            logs:
              exposures: /var/log/rankd/exposures
              events: /var/log/rankd/events
              format: jsonl
              queueCapacity: 1000
            """
        )
        #expect(file.problems.isEmpty, "\(file.problems)")
        let settings = ConfigResolver.resolve(file: file, environment: [:], flags: [:]).settings
        #expect(settings.online.store == "redis://127.0.0.1:6390")
        #expect(settings.logs.exposures == "/var/log/rankd/exposures")
        #expect(settings.logs.events == "/var/log/rankd/events")
        #expect(settings.logs.format == .jsonl)
        #expect(settings.logs.queueCapacity == 1000)
        #expect(try problemLines("logs:\n  format: xml").contains { $0.contains("logs.format") })
        #expect(try problemLines("logs:\n  queueCapacity: 0").contains { $0.contains("logs.queueCapacity") })
    }
}
