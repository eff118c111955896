import Foundation
import Ranking

/// Settings with every layer applied, where each came from, and every problem found on the way.
public struct ResolvedConfiguration: Sendable {
    /// The combined settings (built-in defaults where nothing set a value).
    public var settings: RankdSettings
    /// Where each setting's value came from, by file key (`server.port`); absent for built-in defaults.
    public var origins: [String: SettingOrigin]
    /// Every problem: the file's, the environment's, the flags', the combination's and the model files'.
    public var problems: [ConfigProblem]
    /// The configuration file, when there is one.
    public var file: ConfigFile?

    /// No problem anywhere.
    public var isValid: Bool { problems.isEmpty }
}

/// Combines the layers. A flag given on the command line wins over an environment variable `RANKD_<FLAG>`, which
/// wins over the configuration file, which wins over the built-in default.
public enum ConfigResolver {
    /// The environment variable that names the configuration file when `--config` is not given.
    public static let configEnvironmentVariable = "RANKD_CONFIG"

    /// Reads `path` (when given) and combines it with `environment` and `flags` (flag name without dashes →
    /// its text), then checks the model files. Only a file that cannot be read or parsed throws.
    /// - Parameter loadModels: also load every model file against its golden file (what `check-config` and a
    ///   reload do); false checks everything else.
    public static func load(
        path: String?,
        environment: [String: String],
        flags: [String: String],
        loadModels: Bool = true
    ) throws -> ResolvedConfiguration {
        let file = try path.map { try ConfigFile.read(path: $0) }
        var resolved = resolve(file: file, environment: environment, flags: flags)
        if loadModels { resolved.problems += ModelCheck.problems(in: resolved) }
        return resolved
    }

    /// Combines an already read file with the environment and the flags; model files are not loaded.
    public static func resolve(
        file: ConfigFile?,
        environment: [String: String],
        flags: [String: String]
    ) -> ResolvedConfiguration {
        var settings = RankdSettings()
        var origins: [String: SettingOrigin] = [:]
        var problems = file?.problems ?? []
        for setting in Settings.all {
            let layers: [(text: String?, origin: SettingOrigin)] = [
                (flags[setting.flag], .flag(setting.flagName)),
                (environment[setting.environmentVariable], .environment(setting.environmentVariable)),
            ]
            var chosen: (value: SettingValue, origin: SettingOrigin)?
            for (text, origin) in layers {
                guard let text else { continue }
                switch setting.kind.parse(text) {
                case .success(let value): chosen = (value, origin)
                case .failure(let error):
                    problems.append(ConfigProblem(origin: origin, keyPath: setting.key, message: error.message))
                }
                // The highest layer that is set decides, even when its value is refused: falling back to a
                // lower one would serve something the operator did not ask for.
                break
            }
            if chosen == nil, layers.allSatisfy({ $0.text == nil }), let fromFile = file?.values[setting.key] {
                chosen = fromFile
            }
            if let chosen {
                setting.write(&settings, chosen.value)
                origins[setting.key] = chosen.origin
            }
        }
        if let file {
            settings.pipeline = file.pipeline
            settings.pipelineDirectory = file.directory
        }
        problems += crossChecks(settings, origins: origins)
        return ResolvedConfiguration(settings: settings, origins: origins, problems: problems, file: file)
    }

    /// Rules between settings.
    static func crossChecks(_ settings: RankdSettings, origins: [String: SettingOrigin]) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        let server = settings.server
        if !(server.maxReceiveMessageSize <= server.maxConnectionRequestBytes
            && server.maxConnectionRequestBytes <= server.maxServerRequestBytes)
        {
            let keys = [
                "server.maxReceiveMessageSize", "server.maxConnectionRequestBytes", "server.maxServerRequestBytes",
            ]
            let key = keys.last { origins[$0] != nil } ?? keys[1]
            problems.append(
                ConfigProblem(
                    origin: origins[key] ?? .builtIn,
                    keyPath: key,
                    message: "need maxReceiveMessageSize (\(server.maxReceiveMessageSize)) <= "
                        + "maxConnectionRequestBytes (\(server.maxConnectionRequestBytes)) <= "
                        + "maxServerRequestBytes (\(server.maxServerRequestBytes))"
                )
            )
        }
        if server.workers == 0, settings.online.store != nil {
            problems.append(
                ConfigProblem(
                    origin: origins["server.workers"] ?? .builtIn,
                    keyPath: "server.workers",
                    message: "is 0, which runs Rank and Recommend on the I/O threads, but they would wait there for "
                        + "the remote online store (online.store); use 1 or more workers with it"
                )
            )
        }
        if let admin = origins["admin.port"], settings.admin.port != 0, settings.admin.port == server.port {
            problems.append(
                ConfigProblem(origin: admin, keyPath: "admin.port", message: "is the gRPC port \(server.port) too")
            )
        }
        return problems
    }
}

extension RankdSettings {
    /// The pipeline to serve and the folder its model paths are relative to: the file's, or the embedded default,
    /// with `modelOverride` (`--model`) replacing the discovery surface's model.
    public func effectivePipeline() throws -> (config: PipelineConfig, directory: String?) {
        var config: PipelineConfig
        var directory: String?
        if let pipeline {
            config = pipeline
            directory = pipelineDirectory
        } else {
            config = try RankingEngine.embeddedConfig()
            directory = try RankingEngine.embeddedResourceDirectory()
        }
        if let modelOverride, let key = config.primaryModelKey {
            let path = URL(fileURLWithPath: modelOverride).standardizedFileURL.path
            config.models[key] = ModelConfig(file: path, golden: RankingEngine.goldenPath(forModel: path))
        }
        return (config, directory)
    }
}

/// Loads every model the effective pipeline names, as the engine would, and reports each that fails.
enum ModelCheck {
    static func problems(in resolved: ResolvedConfiguration) -> [ConfigProblem] {
        let settings = resolved.settings
        let pipeline: (config: PipelineConfig, directory: String?)
        do {
            pipeline = try settings.effectivePipeline()
        } catch {
            return [ConfigProblem(origin: .builtIn, keyPath: "surfaces", message: "embedded pipeline: \(error)")]
        }
        // Models of a pipeline that is itself broken are still checked: every problem at once.
        var problems: [ConfigProblem] = []
        let overridden = settings.modelOverride != nil ? pipeline.config.primaryModelKey : nil
        for (key, model) in pipeline.config.models.sorted(by: { $0.key < $1.key }) {
            let origin: SettingOrigin
            if key == overridden {
                origin = resolved.origins["model"] ?? .flag("--model")
            } else {
                origin = resolved.file?.modelOrigins[key] ?? .builtIn
            }
            if model.file.isEmpty || model.golden.isEmpty { continue }  // reported by the pipeline's checks
            let file = resolve(model.file, in: pipeline.directory)
            let golden = resolve(model.golden, in: pipeline.directory)
            let keyPath = key == overridden ? "model" : "models.\(key).file"
            var missing = false
            for (what, path) in [("model file", file), ("golden file", golden)]
            where !FileManager.default.fileExists(atPath: path) {
                problems.append(
                    ConfigProblem(origin: origin, keyPath: keyPath, message: "\(what) \(path) does not exist")
                )
                missing = true
            }
            if missing { continue }
            do {
                try RankingEngine.checkModel(
                    file: file,
                    golden: golden,
                    available: pipeline.config.featureNames(ofModel: key)
                )
            } catch {
                problems.append(ConfigProblem(origin: origin, keyPath: keyPath, message: plainMessage(error)))
            }
        }
        return problems
    }

    static func resolve(_ path: String, in directory: String?) -> String {
        guard !path.hasPrefix("/"), let directory else { return path }
        return (directory as NSString).appendingPathComponent(path)
    }
}

/// An error's text without RankingError's category prefix ("unavailable: ").
func plainMessage(_ error: any Error) -> String {
    switch error as? RankingError {
    case .invalidArgument(let message)?, .unavailable(let message)?, .notFound(let message)?: return message
    default: return "\(error)"
    }
}
