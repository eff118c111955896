import Foundation

/// Loads a model file, refusing one that needs a feature outside `available` (the features of the surfaces that use
/// it); injected so the engine can be built and tested without model files.
typealias ModelLoader =
    @Sendable (_ path: String, _ goldenPath: String?, _ available: [String]) throws -> any ScoringModel

/// A surface with everything resolved: its source objects and its models.
struct ResolvedSurface: Sendable {
    let name: String
    let config: SurfaceConfig
    let generator: CandidateGenerator
    let model: ActiveModel
    let heuristic: ActiveModel
    /// Its metrics handles.
    let metrics: SurfaceMetrics
    /// Every feature it computes, in row order (``SurfaceConfig/featureNames``), and each one's column.
    let featureNames: [String]
    let featureIndex: [String: Int]
    /// Its attribute features' catalog columns (after the joined features), one value per venue or item.
    let attributeColumns: [[Double]]
    /// Its online features (columns after the attribute features) and the rule that drops what was just interacted
    /// with.
    let online: [OnlineFeature]
    let excludeRecent: RecentRule?
    /// The surface as each combination of experiment variants changes it, by ``ExperimentPlan`` key.
    var variants: [String: ResolvedSurface] = [:]
}

extension ResolvedSurface {
    /// The feature rows of `candidates` in the surface's row order: the joined features, the attribute features
    /// (missing for a candidate the catalog does not have), and the online features missing, for the caller to fill.
    func joinedRows(catalog: Catalog, frame: RequestFrame, candidates: [Int32]) -> [Double] {
        let width = featureNames.count
        let attributes = attributeColumns.count
        let joined = width - online.count - attributes
        // The join writes every joined value of every row, so the buffer needs no zeroing first.
        return [Double](unsafeUninitializedCapacity: candidates.count * width) { buffer, initialized in
            FeatureJoiner.join(
                kind: config.kind,
                catalog: catalog,
                frame: frame,
                candidates: candidates,
                stride: width,
                into: buffer
            )
            if joined < width {
                for (r, c) in candidates.enumerated() {
                    let base = r * width + joined
                    for (k, column) in attributeColumns.enumerated() {
                        buffer[base + k] = c >= 0 && Int(c) < column.count ? column[Int(c)] : .nan
                    }
                    for j in attributes..<(width - joined) { buffer[base + j] = .nan }
                }
            }
            initialized = candidates.count * width
        }
    }
}

/// One immutable snapshot of what the engine serves: catalog, configuration and models. Requests take a
/// reference at their start, so a swap never changes a request half-way.
final class EngineState: Sendable {
    let catalog: Catalog
    let config: PipelineConfig
    let models: [String: ActiveModel]
    let surfaces: [String: ResolvedSurface]
    /// The experiment layers and how they assign users.
    let plan: ExperimentPlan
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
            plan = ExperimentPlan(config)
            itemPairs = nil
            generic = try GenericState(
                catalog: entities,
                config: domain,
                resourceDirectory: try EmbeddedResources.directory(),
                plan: plan
            )
            return
        }
        generic = nil
        guard catalog.venueCount > 0 else { throw RankingError.unavailable("the catalog has no venues") }
        self.catalog = catalog
        self.config = config
        var resolvedModels: [String: ActiveModel] = [:]
        var surfaces: [String: ResolvedSurface] = [:]
        let plan = ExperimentPlan(config)
        for (name, surface) in config.surfaces {
            let experiments = plan.experiments(onSurface: name)
            // Per variant combination: its sources and features are its own, and their series are the surface's.
            func metrics(_ surface: SurfaceConfig) -> SurfaceMetrics {
                SurfaceMetrics(
                    surface: name,
                    sourceNames: surface.sources.map(\.name),
                    featureNames: surface.featureNames,
                    experiments: experiments
                )
            }
            var base = try Self.resolve(
                name: name,
                surface: surface,
                catalog: catalog,
                models: models,
                resolvedModels: &resolvedModels,
                additionalSources: additionalSources,
                metrics: metrics(surface)
            )
            let combinations = plan.combinations(surface: name)
            guard combinations.count <= ExperimentPlan.maxCombinations else {
                throw RankingError.invalidArgument(
                    "surface \(name): its experiments' variants make \(combinations.count) combinations, more than "
                        + "\(ExperimentPlan.maxCombinations)"
                )
            }
            for combination in combinations {
                var patched = surface
                for variant in combination.variants {
                    if let model = variant.model { patched.model = model }
                    if let sources = variant.sources { patched.sources = sources }
                    if let rerank = variant.rerank { patched.rerank = rerank }
                    if let online = variant.online { patched.online = online }
                }
                base.variants[combination.key] = try Self.resolve(
                    name: name,
                    surface: patched,
                    catalog: catalog,
                    models: models,
                    resolvedModels: &resolvedModels,
                    additionalSources: additionalSources,
                    metrics: metrics(patched)
                )
            }
            surfaces[name] = base
        }
        self.plan = plan
        self.models = resolvedModels
        self.surfaces = surfaces
        let readsPairs = config.surfaces.values.contains { surface in
            surface.kind == .venueItems && surface.sources.contains { $0.name == BoughtTogetherSource().name }
        }
        itemPairs = readsPairs ? ItemPairs(catalog: catalog) : nil
    }
}

extension EngineState {
    /// One surface with its sources, models and online features resolved.
    static func resolve(
        name: String,
        surface: SurfaceConfig,
        catalog: Catalog,
        models: [String: any ScoringModel],
        resolvedModels: inout [String: ActiveModel],
        additionalSources: [any CandidateSource],
        metrics: SurfaceMetrics
    ) throws -> ResolvedSurface {
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
        let featureNames = surface.featureNames
        func bind(_ key: String?) throws -> ActiveModel? {
            guard let key else { return nil }
            if let bound = resolvedModels[key], bound.kind != surface.kind {
                throw RankingError.invalidArgument("model \(key) is used by surfaces of different kinds")
            }
            guard let model = models[key] else { throw RankingError.unavailable("model \(key) is not loaded") }
            // Bound per surface: surfaces of one kind may compute different online features.
            let bound = try ActiveModel(model: model, kind: surface.kind, featureNames: featureNames)
            if resolvedModels[key] == nil { resolvedModels[key] = bound }
            return bound
        }
        let heuristic = try ActiveModel(
            model: HeuristicScorer(kind: surface.kind),
            kind: surface.kind,
            featureNames: featureNames
        )
        let fail = { (message: String) -> Error in RankingError.invalidArgument("surface \(name): \(message)") }
        var online: [OnlineFeature] = []
        var seen = Set(FeatureJoiner.featureNames(for: surface.kind))
        let numbers = surface.kind == .venues ? catalog.venueNumbers : catalog.itemNumbers
        let attributeColumns = try (surface.attributes ?? []).map { feature -> [Double] in
            guard seen.insert(feature.name).inserted else { throw fail("feature \(feature.name) is named twice") }
            guard let column = numbers[feature.attribute] else {
                let kindName = surface.kind == .venues ? "venue" : "item"
                let known = numbers.keys.sorted()
                throw fail(
                    "feature \(feature.name): the snapshot's \(kindName)s have no number attribute "
                        + "\(feature.attribute) beyond those the engine reads itself ("
                        + (known.isEmpty ? "they have none" : "they have: " + known.joined(separator: ", ")) + ")"
                )
            }
            return column
        }
        for feature in surface.online?.features ?? [] {
            guard seen.insert(feature.name).inserted else { throw fail("feature \(feature.name) is named twice") }
            guard
                let bound = try OnlineFeature.bind(
                    feature,
                    groups: { try catalog.onlineGroups($0, kind: surface.kind, what: $1, fail: fail) },
                    fail: fail
                )
            else {
                throw fail(
                    "feature \(feature.name): \(feature.kind) is not an online feature kind (known: "
                        + GenericFeatureKind.allCases.map(\.rawValue).filter { $0.hasPrefix("online_") }
                        .joined(separator: ", ") + ")"
                )
            }
            online.append(bound)
        }
        return ResolvedSurface(
            name: name,
            config: surface,
            generator: CandidateGenerator(sources: sources, parallel: surface.parallelSources),
            model: try bind(surface.model) ?? heuristic,
            heuristic: heuristic,
            metrics: metrics,
            featureNames: featureNames,
            featureIndex: Dictionary(featureNames.enumerated().map { ($1, $0) }, uniquingKeysWith: { a, _ in a }),
            attributeColumns: attributeColumns,
            online: online,
            excludeRecent: try surface.online?.excludeRecent.map {
                try RecentRule($0, "online excludeRecent", fail: fail)
            }
        )
    }
}

extension Catalog {
    /// The group of each entity a surface of `kind` ranks, by `via`: `venue`, `cuisine`, `brand`, or (items)
    /// `category` (the item's category); -1 where there is none (a venue of no brand).
    func onlineGroups(
        _ via: String?,
        kind: SurfaceKind,
        what: String,
        fail: (String) -> Error
    ) throws -> [Int32] {
        let venueOf: (Int) -> Int = kind == .venues ? { $0 } : { Int(self.itemVenue[$0]) }
        let count = kind == .venues ? venueCount : itemCount
        switch via {
        case "venue": return (0..<count).map { Int32(venueOf($0)) }
        case "cuisine": return (0..<count).map { Int32(venueCuisine[venueOf($0)]) }
        case "brand": return (0..<count).map { venueBrand[venueOf($0)] }
        case "category" where kind == .venueItems: return itemCategory.map { Int32($0) }
        default:
            let known = kind == .venues ? "venue, cuisine, brand" : "venue, cuisine, brand, category"
            throw fail("\(what): via must be one of \(known) on a \(kind.rawValue) surface (got \(via ?? "none"))")
        }
    }
}
