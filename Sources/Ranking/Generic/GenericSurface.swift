import Foundation
import RankingModels

/// A generic surface with every name in its configuration resolved against the catalog: the columns its sources,
/// features and rules read, and the indexes derived for them. Built once per engine state; requests only read it.
final class GenericSurface: Sendable {
    let name: String
    let config: GenericSurfaceConfig
    let items: EntityKindColumns
    let users: EntityKindColumns?
    let history: HistoryColumn?
    let sources: [BoundSource]
    let features: [BoundFeature]
    let featureNames: [String]
    let coOccurrence: CoOccurrenceIndex?
    /// The trained model and where each of its columns is in `featureNames`; nil scores with `linear`.
    let model: GradientBoostedTrees?
    let modelLayout: [Int]
    let linear: [Double]
    let cap: (references: [Int32], cap: Int, window: Int)?
    let diversity: (tags: TagColumn, penalty: Double, window: Int)?
    /// Re-rank rules on the online state: items just interacted with that are never answered, and groups whose
    /// items were just interacted with that sink.
    let excludeRecent: RecentRule?
    let demoteRecent: (rule: RecentRule, groups: [Int32], penalty: Double)?
    /// Whether anything here reads the online state (else the request does not read it).
    let readsOnline: Bool
    /// Its metrics handles: the same series as a marketplace surface's.
    let metrics: SurfaceMetrics

    enum BoundSource: Sendable {
        case coOccurrence
        case sameReference(references: [Int32], groups: ReferenceGroups)
        case embeddingNeighbours(UnitEmbeddings, users: UnitEmbeddings?, userWeight: Float)
        case userFavourites(UserFavourites)
        case popularInTags(tags: TagColumn, lists: TagTopLists)
    }

    enum BoundFeature: Sendable {
        case attribute([Float])
        case anchorDifference([Float])
        case anchorLogRatio([Float])
        case contextDifference([Float])
        case coOccurrenceAnchor
        case coOccurrenceContext
        case sameReference([Int32])
        case contextReferenceShare([Int32])
        case cosineAnchor(UnitEmbeddings)
        case cosineContext(UnitEmbeddings)
        case cosineUser(items: UnitEmbeddings, users: UnitEmbeddings)
        case userEvents(event: UInt8?)
        case userReferenceEvents(references: [Int32], event: UInt8?)
        case userReferenceHistory(history: HistoryColumn, references: [Int32])
        /// A feature of the online state (``OnlineFeature``).
        case online(OnlineFeature)

        var readsOnline: Bool {
            if case .online = self { return true }
            return false
        }
    }

    /// Resolves `config` against `catalog`; every name that does not resolve is an `invalidArgument` naming the
    /// surface and the key.
    /// - Parameter experiments: the experiments that split the surface, with their variants' names (its metrics'
    ///   answer series).
    init(
        name: String,
        config: GenericSurfaceConfig,
        catalog: EntityCatalog,
        models: [String: GradientBoostedTrees],
        experiments: [(String, [String])] = []
    ) throws {
        func fail(_ message: String) -> RankingError {
            RankingError.invalidArgument("surface \(name) (schema \(catalog.schema)): \(message)")
        }
        guard let items = catalog.kind(config.kind) else {
            throw fail("ranks kind \(config.kind), which the catalog does not have")
        }
        let users = catalog.kind(config.userKind)
        var history: HistoryColumn?
        if let users {
            guard let column = users.histories[config.history.attribute] else {
                throw fail("\(config.userKind) has no history \(config.history.attribute)")
            }
            guard column.target == config.kind else {
                throw fail("history \(config.history.attribute) is of \(column.target), not \(config.kind)")
            }
            history = column
        }
        func event(_ name: String?, in column: HistoryColumn?) throws -> UInt8? {
            guard let name else { return nil }
            guard let column else { throw fail("event \(name) needs the \(config.userKind) kind") }
            guard let code = column.eventCode(name) else {
                throw fail("history has no event \(name) (events: \(column.eventNames.joined(separator: ", ")))")
            }
            return code
        }
        func number(_ attribute: String?, _ what: String) throws -> [Float] {
            guard let attribute, let values = items.numbers[attribute] else {
                throw fail("\(what) needs a number attribute of \(config.kind) (got \(attribute ?? "none"))")
            }
            return values
        }
        func reference(_ attribute: String?, _ what: String) throws -> ReferenceColumn {
            guard let attribute, let column = items.references[attribute] else {
                throw fail("\(what) needs a reference attribute of \(config.kind) (got \(attribute ?? "none"))")
            }
            return column
        }
        var unit: [String: UnitEmbeddings] = [:]
        func embedding(_ attribute: String?, of kind: EntityKindColumns?, _ what: String) throws -> UnitEmbeddings {
            guard let kind, let attribute, let column = kind.embeddings[attribute] else {
                throw fail("\(what) needs an embedding attribute (got \(attribute ?? "none"))")
            }
            let key = kind.name + "." + attribute
            if let done = unit[key] { return done }
            let made = UnitEmbeddings(column)
            unit[key] = made
            return made
        }
        /// The group of each item: a reference's target, or the first tag of a tags attribute.
        func groups(_ attribute: String?, _ what: String) throws -> [Int32] {
            if let attribute, let column = items.references[attribute] { return column.positions }
            if let attribute, let tags = items.tags[attribute] { return (0..<items.count).map { tags.first($0) } }
            throw fail("\(what) needs a reference or tags attribute of \(config.kind) (got \(attribute ?? "none"))")
        }
        /// Every group of each item: a reference's target (none when unset), or all tags of a tags attribute.
        func memberships(_ attribute: String?, _ what: String) throws -> TagColumn {
            if let attribute, let tags = items.tags[attribute] { return tags }
            let positions = try reference(attribute, what).positions
            var starts: [Int32] = [0]
            starts.reserveCapacity(items.count + 1)
            for position in positions { starts.append(starts[starts.count - 1] + (position >= 0 ? 1 : 0)) }
            return TagColumn(starts: starts, codes: positions.filter { $0 >= 0 }, names: [])
        }
        let onlineAttributes = OnlineFeature.ItemAttributes(
            numbers: number,
            embeddings: { try embedding($0, of: items, $1) },
            memberships: memberships
        )
        var needsCoOccurrence = false
        var sources: [BoundSource] = []
        for source in config.sources {
            switch GenericSourceKind(rawValue: source.name) {
            case .coOccurrence:
                needsCoOccurrence = true
                sources.append(.coOccurrence)
            case .sameReference:
                let column = try reference(source.attribute, "source same_reference")
                guard let target = catalog.kind(column.target) else { throw fail("no kind \(column.target)") }
                let orderBy = try source.orderBy.map { try number($0, "orderBy") }
                sources.append(
                    .sameReference(
                        references: column.positions,
                        groups: ReferenceGroups(
                            references: column.positions,
                            targetCount: target.count,
                            orderBy: orderBy
                        )
                    )
                )
            case .embeddingNeighbours:
                let vectors = try embedding(source.attribute, of: items, "embedding_neighbours")
                var userVectors: UnitEmbeddings?
                if let attribute = source.userAttribute {
                    userVectors = try embedding(attribute, of: users, "embedding_neighbours userAttribute")
                    guard userVectors?.dimension == vectors.dimension else {
                        throw fail("embedding_neighbours: embeddings of different dimensions")
                    }
                }
                sources.append(
                    .embeddingNeighbours(vectors, users: userVectors, userWeight: Float(source.userWeight ?? 1))
                )
            case .userFavourites:
                guard let history else { throw fail("user_favourites needs the \(config.userKind) kind") }
                let code = try event(source.event, in: history)
                sources.append(.userFavourites(UserFavourites(history: history, event: code, kept: source.quota)))
            case .popularInTags:
                guard let attribute = source.attribute, let tags = items.tags[attribute] else {
                    throw fail("popular_in_tags needs a tags attribute of \(config.kind)")
                }
                let orderBy = try source.orderBy.map { try number($0, "orderBy") }
                sources.append(
                    .popularInTags(tags: tags, lists: TagTopLists(tags: tags, orderBy: orderBy, kept: source.quota))
                )
            case nil: throw fail("unknown candidate source \(source.name)")
            }
        }
        var features: [BoundFeature] = []
        for feature in config.features {
            let what = "feature \(feature.name)"
            switch GenericFeatureKind(rawValue: feature.kind) {
            case .attribute: features.append(.attribute(try number(feature.attribute, what)))
            case .anchorDifference: features.append(.anchorDifference(try number(feature.attribute, what)))
            case .anchorLogRatio: features.append(.anchorLogRatio(try number(feature.attribute, what)))
            case .contextDifference: features.append(.contextDifference(try number(feature.attribute, what)))
            case .coOccurrenceAnchor:
                needsCoOccurrence = true
                features.append(.coOccurrenceAnchor)
            case .coOccurrenceContext:
                needsCoOccurrence = true
                features.append(.coOccurrenceContext)
            case .sameReference: features.append(.sameReference(try reference(feature.attribute, what).positions))
            case .contextReferenceShare:
                features.append(.contextReferenceShare(try reference(feature.attribute, what).positions))
            case .cosineAnchor: features.append(.cosineAnchor(try embedding(feature.attribute, of: items, what)))
            case .cosineContext: features.append(.cosineContext(try embedding(feature.attribute, of: items, what)))
            case .cosineUser:
                let itemVectors = try embedding(feature.attribute, of: items, what)
                let userVectors = try embedding(feature.via, of: users, what)
                guard itemVectors.dimension == userVectors.dimension else {
                    throw fail("\(what): embeddings of different dimensions")
                }
                features.append(.cosineUser(items: itemVectors, users: userVectors))
            case .userEvents:
                guard history != nil else { throw fail("\(what) needs the \(config.userKind) kind") }
                features.append(.userEvents(event: try event(feature.event, in: history)))
            case .userReferenceEvents:
                guard history != nil else { throw fail("\(what) needs the \(config.userKind) kind") }
                features.append(
                    .userReferenceEvents(
                        references: try reference(feature.via, what).positions,
                        event: try event(feature.event, in: history)
                    )
                )
            case .userReferenceHistory:
                let column = try reference(feature.via, what)
                guard let users, let attribute = feature.attribute, let other = users.histories[attribute],
                    other.target == column.target
                else {
                    throw fail("\(what) needs a \(config.userKind) history of \(column.target) (attribute)")
                }
                features.append(.userReferenceHistory(history: other, references: column.positions))
            case .onlineWindowCount, .onlineRate, .onlineTimeSince, .onlineSessionAffinity, .onlineInteracted,
                .onlineSessionDifference, .onlineSessionCosine, .onlineSessionRate:
                features.append(
                    .online(
                        try OnlineFeature.bind(feature, groups: groups, attributes: onlineAttributes, fail: fail)!
                    )
                )
            case nil:
                throw fail(
                    "feature \(feature.name): unknown kind \(feature.kind) (known: "
                        + GenericFeatureKind.allCases.map(\.rawValue).joined(separator: ", ") + ")"
                )
            }
        }
        let featureNames = config.features.map(\.name)
        var coOccurrence: CoOccurrenceIndex?
        if needsCoOccurrence {
            guard let history else { throw fail("co-occurrence needs the \(config.userKind) kind") }
            coOccurrence = CoOccurrenceIndex(
                history: history,
                itemCount: items.count,
                playEvent: try event(config.history.playEvent, in: history),
                sessionGapMs: Int64(config.history.sessionGapSeconds * 1000)
            )
        }
        var model: GradientBoostedTrees?
        var layout: [Int] = []
        if let key = config.model {
            guard let trees = models[key] else { throw RankingError.unavailable("model \(key) is not loaded") }
            layout = try ActiveModel.layout(trees.featureNames, of: trees.version, in: featureNames, surface: name)
            model = trees
        }
        let weights = config.weights ?? [:]
        let linear = featureNames.map { weights[$0] ?? 0 }
        var cap: (references: [Int32], cap: Int, window: Int)?
        if let rule = config.rerank.capPerReference {
            cap = (try reference(rule.attribute, "rerank capPerReference").positions, rule.cap, rule.window)
        }
        var diversity: (tags: TagColumn, penalty: Double, window: Int)?
        if let rule = config.rerank.tagDiversity {
            guard let tags = items.tags[rule.attribute] else {
                throw fail("rerank tagDiversity needs a tags attribute of \(config.kind) (got \(rule.attribute))")
            }
            diversity = (tags, rule.penalty, rule.window)
        }
        excludeRecent = try config.rerank.excludeRecent.map { try RecentRule($0, "rerank excludeRecent", fail: fail) }
        if let rule = config.rerank.demoteRecent {
            let penalty = rule.penalty ?? 0
            guard penalty >= 0 && penalty.isFinite else {
                throw fail("rerank demoteRecent: penalty must be a non-negative number")
            }
            demoteRecent = (
                try RecentRule(rule, "rerank demoteRecent", fail: fail),
                try groups(rule.attribute, "rerank demoteRecent"),
                penalty
            )
        } else {
            demoteRecent = nil
        }
        readsOnline = excludeRecent != nil || demoteRecent != nil || features.contains { $0.readsOnline }
        self.name = name
        self.config = config
        self.items = items
        self.users = users
        self.history = history
        self.sources = sources
        self.features = features
        self.featureNames = featureNames
        self.coOccurrence = coOccurrence
        self.model = model
        self.modelLayout = layout
        self.linear = linear
        self.cap = cap
        self.diversity = diversity
        metrics = SurfaceMetrics(
            surface: name,
            sourceNames: config.sources.map(\.name),
            featureNames: featureNames,
            experiments: experiments
        )
    }

    /// The version answers name: the model's, or the linear scorer's.
    var modelVersion: String { model?.version ?? "linear-\(name)-v1" }
}

/// What a domain's surfaces need from one engine state: the catalog, the surfaces resolved against it, and their
/// models (validated against their golden files when loaded).
final class GenericState: Sendable {
    let catalog: EntityCatalog
    let config: DomainConfig
    let surfaces: [String: GenericSurface]
    /// The loaded models by key.
    let models: [String: GradientBoostedTrees]

    /// - Parameter plan: the experiments that split the surfaces, for their answer series (none by default).
    init(catalog: EntityCatalog, config: DomainConfig, resourceDirectory: String?, plan: ExperimentPlan? = nil) throws {
        self.catalog = catalog
        self.config = config
        var models: [String: GradientBoostedTrees] = [:]
        for (key, model) in config.models {
            models[key] = try GenericState.loadModel(
                file: RankingEngine.resolve(model.file, in: resourceDirectory),
                golden: RankingEngine.resolve(model.golden, in: resourceDirectory)
            )
        }
        var surfaces: [String: GenericSurface] = [:]
        for (name, surface) in config.surfaces {
            surfaces[name] = try GenericSurface(
                name: name,
                config: surface,
                catalog: catalog,
                models: models,
                experiments: plan?.experiments(onSurface: name) ?? []
            )
        }
        self.surfaces = surfaces
        self.models = models
    }

    /// A tree model, refused unless it reproduces its golden file.
    static func loadModel(file: String, golden: String) throws -> GradientBoostedTrees {
        let trees: GradientBoostedTrees
        do {
            trees = try GradientBoostedTrees.load(contentsOf: file)
        } catch {
            throw RankingError.unavailable("model \(file) cannot be loaded: \(error)")
        }
        do {
            try trees.validate(against: try GoldenFile.load(contentsOf: golden))
        } catch {
            throw RankingError.unavailable("model \(file) does not reproduce its golden file \(golden): \(error)")
        }
        return trees
    }
}
