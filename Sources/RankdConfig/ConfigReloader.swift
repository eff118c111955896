import Foundation
import Ranking

/// The outcome of one configuration reload.
public struct ConfigReloadResult: Sendable, CustomStringConvertible {
    /// Whether the new configuration is now active.
    public var applied: Bool
    /// What is served now (applied), or why nothing changed (refused), in one line.
    public var summary: String
    /// Why it was refused: every problem, located. Empty when applied.
    public var problems: [ConfigProblem]
    /// Settings that changed in the file but only take effect at restart (`server.port: 50051 -> 50052`).
    public var pendingRestart: [String]

    /// One line, or a line per problem after the first.
    public var description: String {
        if applied {
            guard !pendingRestart.isEmpty else { return summary }
            return summary + "; changed, takes effect at restart: " + pendingRestart.joined(separator: ", ")
        }
        return ([summary] + problems.map(\.description)).joined(separator: "\n    ")
    }
}

/// Re-reads rankd's configuration file and applies it: validated in full first (every setting, the pipeline, the
/// model files against their golden files), then the pipeline swapped atomically into the engine and the live
/// settings (logging) handed to `apply`. A configuration with any problem is refused and the old one keeps
/// serving. Settings that need a restart (listener, threads, limits, catalog source) are reported, not refused.
///
/// SIGHUP and the admin endpoint call ``reload(reason:)``; reloads run one at a time.
public final class ConfigReloader: @unchecked Sendable {
    /// The configuration file.
    public let path: String
    private let environment: [String: String]
    private let flags: [String: String]
    private let engine: @Sendable () -> RankingEngine?
    private let apply: @Sendable (RankdSettings) -> Void
    /// Serialises reloads; `active` is only touched under it.
    private let lock = NSLock()
    private var active: ResolvedConfiguration

    /// - Parameters:
    ///   - path: the configuration file (re-read on every reload).
    ///   - environment: the environment variables rankd started with (they keep overriding the file).
    ///   - flags: the flags rankd started with, by name without dashes (they keep overriding the file).
    ///   - active: the configuration rankd started with.
    ///   - engine: the engine serving, or nil while the first load runs (it then picks up ``settings``).
    ///   - apply: called with the new settings after a successful reload, to apply the live ones (log level,
    ///     log format, access log sampling) and count the reload.
    public init(
        path: String,
        environment: [String: String],
        flags: [String: String],
        active: ResolvedConfiguration,
        engine: @escaping @Sendable () -> RankingEngine?,
        apply: @escaping @Sendable (RankdSettings) -> Void
    ) {
        self.path = path
        self.environment = environment
        self.flags = flags
        self.active = active
        self.engine = engine
        self.apply = apply
    }

    /// The settings now in force (the last configuration applied).
    public var settings: RankdSettings {
        lock.lock()
        defer { lock.unlock() }
        return active.settings
    }

    /// Re-reads, validates and applies the configuration file; `reason` (e.g. "SIGHUP") starts the summary.
    public func reload(reason: String) -> ConfigReloadResult {
        lock.lock()
        defer { lock.unlock() }
        let next: ResolvedConfiguration
        do {
            next = try ConfigResolver.load(path: path, environment: environment, flags: flags)
        } catch {
            let message = (error as? ConfigFileError)?.problem ?? "\(error)"
            let problem = ConfigProblem(origin: .file(path: path, line: 0, column: 0), keyPath: "", message: message)
            return refused(reason, [problem])
        }
        guard next.isValid else { return refused(reason, next.problems) }
        let pending = Settings.all.compactMap { setting -> String? in
            let old = setting.valueText(in: active.settings)
            let new = setting.valueText(in: next.settings)
            guard !setting.appliesOnReload, old != new else { return nil }
            return "\(setting.key) \(old) -> \(new)"
        }
        var note = ""
        if let engine = engine() {
            do {
                let pipeline = try next.settings.effectivePipeline()
                try engine.swapPipeline(config: pipeline.config, resourceDirectory: pipeline.directory)
            } catch {
                let problem = ConfigProblem(
                    origin: .file(path: path, line: 0, column: 0),
                    keyPath: "",
                    message: plainMessage(error)
                )
                return refused(reason, [problem])
            }
        } else {
            note = " (nothing serving yet: the first load uses it)"
        }
        active = next
        apply(next.settings)
        return ConfigReloadResult(
            applied: true,
            summary: "\(reason): applied \(path)\(note): " + ConfigSummary.describe(next.settings),
            problems: [],
            pendingRestart: pending
        )
    }

    private func refused(_ reason: String, _ problems: [ConfigProblem]) -> ConfigReloadResult {
        ConfigReloadResult(
            applied: false,
            summary: "\(reason): refused \(path) (\(problems.count) problem\(problems.count == 1 ? "" : "s")), "
                + "still serving the previous configuration",
            problems: problems,
            pendingRestart: []
        )
    }
}

/// What a configuration would serve, in one line.
public enum ConfigSummary {
    /// Surfaces, models, experiments, listener and log level.
    public static func describe(_ settings: RankdSettings) -> String {
        guard let pipeline = try? settings.effectivePipeline() else { return "the embedded pipeline is missing" }
        let config = pipeline.config
        let surfaces = config.surfaces.keys.sorted()
        let models = config.models.keys.sorted()
        let experiments = config.allLayers.flatMap { layer in
            layer.experiments.map { experiment in
                let arms = experiment.variants.map { "\($0.name) \(String(format: "%g", $0.percent))%" }.joined(
                    separator: ", "
                )
                return "\(experiment.name) on \(experiment.surfaces.joined(separator: ", ")) in layer \(layer.name), "
                    + "\(String(format: "%g", experiment.percent))% of users (\(arms))"
            }
        }
        let origin = settings.pipeline == nil ? "embedded pipeline" : "pipeline"
        return "\(origin): \(surfaces.count) surface(s) [\(surfaces.joined(separator: ", "))], "
            + "\(models.count) model(s) [\(models.joined(separator: ", "))], "
            + "\(experiments.count) experiment(s)\(experiments.isEmpty ? "" : " [\(experiments.joined(separator: "; "))]"); "
            + "gRPC \(settings.server.host):\(settings.server.port), admin port \(settings.admin.port), "
            + "log level \(settings.logging.level.rawValue)"
    }
}
