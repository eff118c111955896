import Foundation
import Ranking
import Yams

/// Why a configuration file could not be read at all (as opposed to read with problems in it).
public enum ConfigFileError: Error, Sendable, CustomStringConvertible {
    /// The file is missing, unreadable, or not UTF-8.
    case unreadable(path: String, reason: String)
    /// The text is not YAML (nor JSON): a syntax error, with its location.
    case notYAML(path: String, reason: String)

    /// One line (more for a syntax error with its snippet) for the operator.
    public var description: String {
        switch self {
        case .unreadable(let path, _), .notYAML(let path, _): return "\(path): \(problem)"
        }
    }

    /// What is wrong, without the path.
    public var problem: String {
        switch self {
        case .unreadable(_, let reason): return "cannot read: \(reason)"
        case .notYAML(_, let reason): return "not YAML: \(reason)"
        }
    }
}

/// A configuration file, read and checked: the settings it sets (with where), its pipeline, and every problem.
public struct ConfigFile: Sendable {
    /// The path as given.
    public let path: String
    /// The folder relative model paths are resolved against.
    public let directory: String
    /// Settings the file sets, by key, with their location.
    public let values: [String: (value: SettingValue, origin: SettingOrigin)]
    /// The file's pipeline (`surfaces` and `models`); nil when it has neither.
    public let pipeline: PipelineConfig?
    /// Every problem found, in file order.
    public let problems: [ConfigProblem]
    /// Where each model key's `file` is, for problems found when loading it.
    let modelOrigins: [String: SettingOrigin]

    /// The top-level sections.
    static let sections = ["server", "admin", "logging", "catalog", "online", "logs", "models", "surfaces", "experiments"]

    /// Reads and checks the file at `path`. Model files are not loaded here (see ``ConfigCheck``).
    /// - Throws: ``ConfigFileError`` when the file cannot be read or is not YAML.
    public static func read(path: String) throws -> ConfigFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw ConfigFileError.unreadable(path: path, reason: (error as NSError).localizedDescription)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigFileError.unreadable(path: path, reason: "not UTF-8 text")
        }
        let absolute = URL(fileURLWithPath: path).standardizedFileURL
        return try parse(text, path: path, directory: absolute.deletingLastPathComponent().path)
    }

    /// Checks YAML (or JSON) `text` as if read from `path`, with relative model paths under `directory`.
    /// - Throws: ``ConfigFileError/notYAML(path:reason:)`` on a syntax error.
    public static func parse(_ text: String, path: String, directory: String) throws -> ConfigFile {
        var walker = YAMLWalker(file: path)
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            if case .duplicatedKeysInMapping(let duplicates, let context) = error {
                // A duplicated key is a mistake in a well-formed file: report it like the others, but nothing
                // else can be checked without a tree.
                walker.report(
                    context.mark,
                    "",
                    "duplicated key(s) \(duplicates.sorted().joined(separator: ", ")): each key may appear once"
                )
                return ConfigFile(path: path, directory: directory, walker: walker, values: [:], pipeline: nil)
            }
            throw ConfigFileError.notYAML(path: path, reason: "\(error)")
        } catch {
            throw ConfigFileError.notYAML(path: path, reason: "\(error)")
        }
        guard let root else {
            // An empty file: every default.
            return ConfigFile(path: path, directory: directory, walker: walker, values: [:], pipeline: nil)
        }
        guard let entries = walker.entries(of: root, at: "", keyMark: root.mark, known: sections) else {
            return ConfigFile(path: path, directory: directory, walker: walker, values: [:], pipeline: nil)
        }
        var values: [String: (value: SettingValue, origin: SettingOrigin)] = [:]
        var models: Any?
        var surfaces: Any?
        var experiments: Any?
        var sectionMarks: [String: Mark?] = [:]
        for (key, mark, value) in entries {
            sectionMarks[key] = mark
            switch key {
            case "models":
                models = walker.convert(value, shape: .map(PipelineSchema.model), at: "models", keyMark: mark)
            case "surfaces":
                surfaces = walker.convert(value, shape: .map(PipelineSchema.surface), at: "surfaces", keyMark: mark)
            case "experiments":
                experiments = walker.convert(
                    value,
                    shape: .list(PipelineSchema.layer),
                    at: "experiments",
                    keyMark: mark
                )
            default:
                readSettings(value, at: key, keyMark: mark, into: &values, walker: &walker)
            }
        }
        var pipeline: PipelineConfig?
        if models != nil || surfaces != nil {
            if surfaces == nil {
                walker.refuse(
                    sectionMarks["models"] ?? nil,
                    "surfaces",
                    "missing: a file that sets models must set surfaces too (or neither, for the embedded pipeline)"
                )
            }
            pipeline = decodePipeline(
                models: models ?? [String: Any](),
                surfaces: surfaces ?? [:],
                experiments: experiments,
                walker: &walker
            )
        } else if let experiments {
            // Experiments on the embedded surfaces and models.
            pipeline = decodePipeline(models: nil, surfaces: nil, experiments: experiments, walker: &walker)
        }
        var file = ConfigFile(path: path, directory: directory, walker: walker, values: values, pipeline: pipeline)
        if let pipeline { file = file.adding(pipeline.problems(), walker: walker) }
        return file
    }

    private init(
        path: String,
        directory: String,
        walker: YAMLWalker,
        values: [String: (value: SettingValue, origin: SettingOrigin)],
        pipeline: PipelineConfig?,
        extra: [ConfigProblem] = []
    ) {
        self.path = path
        self.directory = directory
        self.values = values
        self.pipeline = pipeline
        self.problems = (walker.problems + extra).sorted(by: ConfigFile.fileOrder)
        var origins: [String: SettingOrigin] = [:]
        for key in pipeline?.models.keys.sorted() ?? [] {
            origins[key] = walker.origin(walker.mark(for: "models.\(key).file"))
        }
        self.modelOrigins = origins
    }

    /// The pipeline's own findings, located; those under a key the walker already refused are left out.
    private func adding(_ findings: [PipelineProblem], walker: YAMLWalker) -> ConfigFile {
        var extra: [ConfigProblem] = []
        for finding in findings {
            let keyPath = finding.path.joined(separator: ".")
            if walker.isRefused(keyPath) { continue }
            extra.append(
                ConfigProblem(
                    origin: walker.origin(walker.mark(for: keyPath)),
                    keyPath: keyPath,
                    message: finding.message
                )
            )
        }
        return ConfigFile(
            path: path,
            directory: directory,
            walker: walker,
            values: values,
            pipeline: pipeline,
            extra: extra
        )
    }

    static func fileOrder(_ a: ConfigProblem, _ b: ConfigProblem) -> Bool {
        guard case .file(_, let lineA, let columnA) = a.origin, case .file(_, let lineB, let columnB) = b.origin else {
            return false
        }
        return (lineA, columnA) < (lineB, columnB)
    }

    /// A settings section (`server`, `admin`, `logging`, `catalog` and its `demo`), checked against the table.
    private static func readSettings(
        _ node: Node,
        at keyPath: String,
        keyMark: Mark?,
        into values: inout [String: (value: SettingValue, origin: SettingOrigin)],
        walker: inout YAMLWalker
    ) {
        let prefix = keyPath + "."
        var children: [String] = []
        for setting in Settings.all where setting.inFile && setting.key.hasPrefix(prefix) {
            let child = String(setting.key.dropFirst(prefix.count).prefix { $0 != "." })
            if !children.contains(child) { children.append(child) }
        }
        guard let entries = walker.entries(of: node, at: keyPath, keyMark: keyMark, known: children) else { return }
        for (key, mark, value) in entries {
            let path = YAMLWalker.join(keyPath, key)
            walker.remember(path, mark)
            guard let setting = Settings.all.first(where: { $0.inFile && $0.key == path }) else {
                readSettings(value, at: path, keyMark: mark, into: &values, walker: &walker)
                continue
            }
            if case .scalar(let scalar) = value, walker.isNull(scalar) {
                // `snapshot: ~` says "the default" explicitly; for a setting with a value default it is a mistake.
                if setting.read(RankdSettings()) == nil { continue }
            }
            switch (setting.kind, value) {
            case (.cpuList, .sequence(let sequence)):
                var cpus: [Int] = []
                for item in sequence {
                    guard let text = walker.plainScalar(item), let cpu = Int(text), (0...4095).contains(cpu) else {
                        walker.refuse(mark, path, "must be CPU numbers 0...4095, got \(walker.describe(item))")
                        break
                    }
                    cpus.append(cpu)
                }
                if !walker.isRefused(path) { values[path] = (.integers(cpus), walker.origin(mark)) }
            case (_, .scalar(let scalar)) where !walker.isNull(scalar):
                let quoted = !(scalar.style == .plain || scalar.style == .any)
                switch setting.kind.parse(scalar.string, quoted: quoted) {
                case .success(let parsed): values[path] = (parsed, walker.origin(mark))
                case .failure(let error):
                    let message =
                        quoted && !error.message.hasSuffix("\"\(scalar.string)\"")
                        ? setting.kind.expectation(found: "\"\(scalar.string)\"") : error.message
                    walker.refuse(mark, path, message)
                }
            default:
                walker.refuse(mark, path, setting.kind.expectation(found: walker.describe(value)))
            }
        }
    }

    /// The pipeline from the file's sections; without `models` and `surfaces`, the embedded ones.
    private static func decodePipeline(
        models: Any?,
        surfaces: Any?,
        experiments: Any?,
        walker: inout YAMLWalker
    ) -> PipelineConfig? {
        do {
            var config: PipelineConfig
            if let models, let surfaces {
                let json = try JSONSerialization.data(withJSONObject: ["models": models, "surfaces": surfaces])
                config = try JSONDecoder().decode(PipelineConfig.self, from: json)
            } else {
                config = try RankingEngine.embeddedConfig()
            }
            if let experiments {
                let json = try JSONSerialization.data(withJSONObject: experiments)
                config.experiments = try JSONDecoder().decode([ExperimentLayerConfig].self, from: json)
            }
            return config
        } catch {
            // The schema walk should make this impossible; say so rather than crash.
            walker.report(nil, "surfaces", "cannot be decoded even after the checks above: \(error)")
            return nil
        }
    }
}

/// The shape of `models` and `surfaces`, as in Ranking's surfaces.json (PipelineConfig's Codable form).
enum PipelineSchema {
    static let count = Shape.integer(minimum: 0)

    static let model = Shape.object([Field("file", .string), Field("golden", .string)])

    static let rerank = Shape.object([
        Field("brandCap", count),
        Field("brandCapWindow", count),
        Field("diversityPenalty", .number),
        Field("diversityWindow", count),
        Field("explorationPolicy", .string),
        Field("explorationSlot", count),
        Field("epsilon", .number),
        Field("cuisineBoosts", .map(.number)),
        Field("pins", .map(count)),
        Field("buries", .list(.string)),
        Field("excludeContextItems", .bool, required: false),
    ])

    static let surface = Shape.object([
        Field("kind", .oneOf([SurfaceKind.venues.rawValue, SurfaceKind.venueItems.rawValue])),
        Field("defaultLimit", count),
        Field("maxLimit", count),
        Field("maxCandidates", count),
        Field("defaultBudgetMillis", .number),
        Field(
            "stageBudgets",
            .object([
                Field("candidates", .number), Field("features", .number), Field("score", .number),
                Field("rerank", .number),
            ])
        ),
        Field("sources", .list(.object([Field("name", .string), Field("quota", count)]))),
        Field("parallelSources", .bool),
        Field("model", .string, required: false),
        Field("scoring", .object([Field("firstPhaseTrees", count), Field("fullModelTopN", count)])),
        Field("rerank", rerank),
        Field(
            "sections",
            .list(
                .object([
                    Field("key", .string), Field("title", .string), Field("source", .string, required: false),
                    Field("priority", .integer(minimum: nil), required: false),
                ])
            )
        ),
        Field(
            "experiment",
            .object([
                Field("name", .string),
                Field("salt", .string),
                Field(
                    "variants",
                    .list(
                        .object([
                            Field("name", .string), Field("buckets", count), Field("model", .string, required: false),
                            Field("rerank", rerank, required: false),
                        ])
                    )
                ),
            ]),
            required: false
        ),
        Field("requires", .list(.oneOf(SurfaceInput.allCases.map(\.rawValue))), required: false),
        Field("online", online, required: false),
    ])

    static let eventKinds = Shape.oneOf(EventKind.allCases.map(\.name))

    /// A surface's `online` block (docs/events.md): the feature kinds' settings are checked here, their meaning
    /// when the surface is built.
    static let percent = Shape.number

    /// An experiment layer (``ExperimentLayerConfig``).
    static let layer = Shape.object([
        Field("name", .string),
        Field("salt", .string),
        Field("holdoutPercent", percent, required: false),
        Field(
            "experiments",
            .list(
                .object([
                    Field("name", .string),
                    Field("surfaces", .list(.string)),
                    Field("percent", percent),
                    Field("start", .string, required: false),
                    Field("stop", .string, required: false),
                    Field("salt", .string, required: false),
                    Field(
                        "variants",
                        .list(
                            .object([
                                Field("name", .string),
                                Field("percent", percent),
                                Field("model", .string, required: false),
                                Field(
                                    "sources",
                                    .list(.object([Field("name", .string), Field("quota", count)])),
                                    required: false
                                ),
                                Field("rerank", rerank, required: false),
                                Field("online", online, required: false),
                            ])
                        )
                    ),
                ])
            )
        ),
    ])

    static let online = Shape.object([
        Field(
            "features",
            .list(
                .object([
                    Field("name", .string),
                    Field(
                        "kind",
                        .oneOf(GenericFeatureKind.allCases.map(\.rawValue).filter { $0.hasPrefix("online_") })
                    ),
                    Field("event", eventKinds, required: false),
                    Field("over", eventKinds, required: false),
                    Field("windowSeconds", .number, required: false),
                    Field("prior", .number, required: false),
                    Field("priorWeight", .number, required: false),
                    Field("scope", .oneOf(["user", "session"]), required: false),
                    Field("via", .string, required: false),
                ])
            ),
            required: false
        ),
        Field(
            "excludeRecent",
            .object([
                Field("events", .list(eventKinds)),
                Field("withinSeconds", .number),
                Field("scope", .oneOf(["user", "session"]), required: false),
            ]),
            required: false
        ),
    ])
}
