import Foundation

/// Loads a model file; injected so the engine can be built and tested without model files.
typealias ModelLoader =
    @Sendable (_ path: String, _ goldenPath: String?, _ kind: SurfaceKind) throws -> any ScoringModel

/// A surface with everything resolved: its source objects and its models.
struct ResolvedSurface: Sendable {
    let name: String
    let config: SurfaceConfig
    let generator: CandidateGenerator
    let defaultModel: ActiveModel
    let heuristic: ActiveModel
    let variantModels: [String: ActiveModel]
    /// Its metrics handles.
    let metrics: SurfaceMetrics
}

/// One immutable snapshot of what the engine serves: catalog, configuration and models. Requests take a
/// reference at their start, so a swap never changes a request half-way.
final class EngineState: Sendable {
    let catalog: Catalog
    let config: PipelineConfig
    let models: [String: ActiveModel]
    let surfaces: [String: ResolvedSurface]
    /// Items bought together, derived from the catalog when a surface configures a source that reads them.
    let itemPairs: ItemPairs?
    /// For a catalog of another schema (``Catalog/entities``): its domain's generic surfaces, which are then the only
    /// surfaces served.
    let generic: GenericState?

    init(
        catalog: Catalog,
        config: PipelineConfig,
        models: [String: any ScoringModel],
        additionalSources: [any CandidateSource]
    ) throws {
        if let entities = catalog.entities {
            guard let domain = try DomainConfig.embedded(schema: entities.schema) else {
                throw RankingError.unavailable("no surface configuration serves schema \(entities.schema)")
            }
            self.catalog = catalog
            self.config = config
            self.models = [:]
            self.surfaces = [:]
            itemPairs = nil
            generic = try GenericState(
                catalog: entities,
                config: domain,
                resourceDirectory: try EmbeddedResources.directory()
            )
            return
        }
        generic = nil
        guard catalog.venueCount > 0 else { throw RankingError.unavailable("the catalog has no venues") }
        self.catalog = catalog
        self.config = config
        var resolvedModels: [String: ActiveModel] = [:]
        var surfaces: [String: ResolvedSurface] = [:]
        for (name, surface) in config.surfaces {
            var sources: [(source: any CandidateSource, quota: Int)] = []
            for source in surface.sources {
                guard source.quota >= 0 else {
                    throw RankingError.invalidArgument("surface \(name): source \(source.name) has a negative quota")
                }
                if let custom = additionalSources.first(where: { $0.name == source.name }) {
                    sources.append((custom, source.quota))
                } else if let builtin = BuiltinSources.named(source.name, kind: surface.kind) {
                    sources.append((builtin, source.quota))
                } else {
                    throw RankingError.invalidArgument("surface \(name): unknown candidate source \(source.name)")
                }
            }
            guard sources.count <= 32 else { throw RankingError.invalidArgument("surface \(name): over 32 sources") }
            func bind(_ key: String?) throws -> ActiveModel? {
                guard let key else { return nil }
                if let bound = resolvedModels[key] {
                    guard bound.kind == surface.kind else {
                        throw RankingError.invalidArgument("model \(key) is used by surfaces of different kinds")
                    }
                    return bound
                }
                guard let model = models[key] else { throw RankingError.unavailable("model \(key) is not loaded") }
                let bound = try ActiveModel(model: model, kind: surface.kind)
                resolvedModels[key] = bound
                return bound
            }
            let heuristic = try ActiveModel(model: HeuristicScorer(kind: surface.kind), kind: surface.kind)
            var variantModels: [String: ActiveModel] = [:]
            for variant in surface.experiment?.variants ?? [] {
                if let bound = try bind(variant.model) { variantModels[variant.name] = bound }
            }
            surfaces[name] = ResolvedSurface(
                name: name,
                config: surface,
                generator: CandidateGenerator(sources: sources, parallel: surface.parallelSources),
                defaultModel: try bind(surface.model) ?? heuristic,
                heuristic: heuristic,
                variantModels: variantModels,
                metrics: SurfaceMetrics(
                    surface: name,
                    sourceNames: sources.map(\.source.name),
                    featureNames: FeatureJoiner.featureNames(for: surface.kind),
                    experiment: surface.experiment
                )
            )
        }
        self.models = resolvedModels
        self.surfaces = surfaces
        let readsPairs = config.surfaces.values.contains { surface in
            surface.kind == .venueItems && surface.sources.contains { $0.name == BoughtTogetherSource().name }
        }
        itemPairs = readsPairs ? ItemPairs(catalog: catalog) : nil
    }
}
