import Foundation

// Swapping the whole pipeline configuration (surfaces, models, experiments) while serving, and the checks a
// configuration file's validator shares with it.

extension RankingEngine {
    /// Replaces the pipeline configuration: checks `config` (``PipelineConfig/problems(additionalSources:)``),
    /// loads every model it names (relative to `resourceDirectory`, or absolute) and checks each against its golden
    /// file and the feature join, builds the surfaces against the catalog serving, and only then swaps them in.
    /// Requests in flight finish on the pipeline they started with. On any error nothing changes.
    public func swapPipeline(config: PipelineConfig, resourceDirectory: String?) throws {
        let problems = config.problems(additionalSources: additionalSources.map(\.name))
        guard problems.isEmpty else {
            throw RankingError.invalidArgument(problems.map(\.description).joined(separator: "; "))
        }
        guard let loader else { throw RankingError.unavailable("this engine has no model loader") }
        // Models load outside the swap lock: they take the longest, and a snapshot swap need not wait for them.
        let models = try RankingEngine.loadModels(config: config, resourceDirectory: resourceDirectory, loader: loader)
        swapLock.lock()
        defer { swapLock.unlock() }
        try install(catalog: current.catalog, config: config, models: models)
    }

    /// The pipeline configuration being served (after any ``swapModel(contentsOf:key:)``).
    public var pipelineConfig: PipelineConfig { current.config }

    /// Loads the model file at `path` as the engine would and checks it against its golden file and against the
    /// features its surfaces compute (`available`: ``PipelineConfig/featureNames(ofModel:)``); throws what is wrong.
    /// For configuration checks without an engine.
    public static func checkModel(file path: String, golden: String, available: [String]) throws {
        guard let loader = defaultLoader else { throw RankingError.unavailable("no model loader") }
        _ = try loader(path, golden, available)
    }

    /// The folder of the embedded surface configuration and models (`RANKD_RESOURCES` when set).
    public static func embeddedResourceDirectory() throws -> String {
        try EmbeddedResources.directory()
    }
}

extension PipelineConfig {
    /// The kind of surface a model key ranks: that of the first surface (or experiment variant) naming it;
    /// venues when none does.
    public func kind(ofModel key: String) -> SurfaceKind {
        surfaces.sorted { $0.key < $1.key }.first { _, surface in
            surface.model == key || (surface.experiment?.variants ?? []).contains { $0.model == key }
        }?.value.kind ?? .venues
    }

    /// The features a model key may use: those of every surface naming it, and of every surface an experiment
    /// variant naming it changes (with the variant's online features where it has its own); when none does, every
    /// feature some surface computes.
    public func featureNames(ofModel key: String) -> [String] {
        var lists = surfaces.sorted { $0.key < $1.key }.filter { $0.value.model == key }.map(\.value.featureNames)
        for experiment in allLayers.flatMap(\.experiments) {
            for variant in experiment.variants where variant.model == key {
                for name in experiment.surfaces {
                    guard var surface = surfaces[name] else { continue }
                    if let online = variant.online { surface.online = online }
                    lists.append(surface.featureNames)
                }
            }
        }
        if lists.isEmpty { lists = surfaces.sorted { $0.key < $1.key }.map(\.value.featureNames) }
        var names: [String] = []
        for list in lists { for name in list where !names.contains(name) { names.append(name) } }
        return names.isEmpty ? FeatureJoiner.venueFeatures : names
    }

    /// The model key `--model` style overrides replace: the discovery surface's model, else the first key.
    public var primaryModelKey: String? {
        surfaces["discovery"]?.model ?? models.keys.sorted().first
    }
}
