import Foundation

/// The whole pipeline configuration: surfaces, models and experiments, read from a JSON file
/// (`Resources/surfaces.json` is the embedded default).
public struct PipelineConfig: Codable, Sendable {
    /// Surfaces by name.
    public var surfaces: [String: SurfaceConfig]
    /// Model files by key; surfaces and experiment variants name models by key.
    public var models: [String: ModelConfig]
    /// Experiment layers (``ExperimentLayerConfig``); absent: only surfaces' own `experiment`s.
    public var experiments: [ExperimentLayerConfig]?

    /// Decodes a configuration and checks that every reference in it resolves.
    public static func decode(_ data: Data) throws -> PipelineConfig {
        let config: PipelineConfig
        do {
            config = try JSONDecoder().decode(PipelineConfig.self, from: data)
        } catch {
            throw RankingError.invalidArgument("surface configuration is not valid: \(error)")
        }
        try config.validate()
        return config
    }

    /// Throws the first of ``problems(additionalSources:)`` as `invalidArgument`.
    func validate() throws {
        if let first = problems().first {
            throw RankingError.invalidArgument("\(first.path.joined(separator: ".")): \(first.message)")
        }
    }

    /// Every reference that does not resolve and every value the pipeline cannot serve with, each with the path of
    /// keys that leads to it (e.g. `["surfaces", "discovery", "rerank", "brandCap"]`; sequence elements by their
    /// zero-based index), so a configuration file's reader can point at the line. Empty when the configuration can
    /// be served (models still have to load).
    /// - Parameter additionalSources: candidate source names the host registers besides the built-in ones.
    public func problems(additionalSources: [String] = []) -> [PipelineProblem] {
        var found: [PipelineProblem] = []
        func report(_ path: [String], _ message: String) { found.append(PipelineProblem(path: path, message: message)) }
        let knownModels = models.keys.sorted().joined(separator: ", ")
        var modelKinds: [String: (kind: SurfaceKind, surface: String)] = [:]
        func checkModel(_ key: String?, kind: SurfaceKind, surface: String, at path: [String]) {
            guard let key else { return }
            guard models[key] != nil else {
                report(path, "names unknown model \(key) (known: \(knownModels.isEmpty ? "none" : knownModels))")
                return
            }
            if let bound = modelKinds[key], bound.kind != kind {
                report(
                    path,
                    "model \(key) ranks \(bound.kind.rawValue) for surface \(bound.surface) and cannot also rank "
                        + "\(kind.rawValue)"
                )
            } else {
                modelKinds[key] = (kind, surface)
            }
        }
        for (key, model) in models.sorted(by: { $0.key < $1.key }) {
            if model.file.isEmpty { report(["models", key, "file"], "must not be empty") }
            if model.golden.isEmpty { report(["models", key, "golden"], "must not be empty") }
        }
        if surfaces.isEmpty { report(["surfaces"], "at least one surface is needed") }
        for (name, surface) in surfaces.sorted(by: { $0.key < $1.key }) {
            let at = ["surfaces", name]
            for (key, value) in [
                ("defaultLimit", surface.defaultLimit), ("maxLimit", surface.maxLimit),
                ("maxCandidates", surface.maxCandidates),
            ] where value < 0 {
                report(at + [key], "must not be negative (got \(value))")
            }
            if surface.defaultLimit > surface.maxLimit {
                report(at + ["defaultLimit"], "\(surface.defaultLimit) is above maxLimit \(surface.maxLimit)")
            }
            if !(surface.defaultBudgetMillis > 0 && surface.defaultBudgetMillis.isFinite) {
                report(at + ["defaultBudgetMillis"], "must be a positive number (got \(surface.defaultBudgetMillis))")
            }
            let budgets = surface.stageBudgets
            for (key, fraction) in [
                ("candidates", budgets.candidates), ("features", budgets.features), ("score", budgets.score),
                ("rerank", budgets.rerank),
            ] where !(fraction > 0 && fraction <= 1) {
                report(at + ["stageBudgets", key], "stage budget fractions must be in (0, 1] (got \(fraction))")
            }
            if surface.sources.count > 32 {
                report(at + ["sources"], "\(surface.sources.count) sources; at most 32")
            }
            for (i, source) in surface.sources.enumerated() {
                if source.quota < 0 {
                    report(at + ["sources", "\(i)", "quota"], "source \(source.name) has a negative quota")
                }
                if !additionalSources.contains(source.name)
                    && BuiltinSources.named(source.name, kind: surface.kind) == nil
                {
                    let known = BuiltinSources.names(kind: surface.kind) + additionalSources
                    report(
                        at + ["sources", "\(i)", "name"],
                        "unknown candidate source \(source.name) for \(surface.kind.rawValue) "
                            + "(known: \(known.joined(separator: ", ")))"
                    )
                }
            }
            checkModel(surface.model, kind: surface.kind, surface: name, at: at + ["model"])
            for (key, value) in [
                ("firstPhaseTrees", surface.scoring.firstPhaseTrees), ("fullModelTopN", surface.scoring.fullModelTopN),
            ] where value < 0 {
                report(at + ["scoring", key], "must not be negative (got \(value))")
            }
            surface.rerank.problems(at: at + ["rerank"], report: report)
            surface.online?.problems(kind: surface.kind, at: at + ["online"], report: report)
            var featureNames = Set(FeatureJoiner.featureNames(for: surface.kind))
            for (i, feature) in (surface.attributes ?? []).enumerated() {
                if feature.name.isEmpty || !featureNames.insert(feature.name).inserted {
                    report(
                        at + ["attributes", "\(i)", "name"],
                        "feature \(SurfaceInputs.quoted(feature.name)) is empty or named twice"
                    )
                }
            }
            for feature in surface.online?.features ?? [] where featureNames.contains(feature.name) {
                report(at + ["online"], "feature \(feature.name) is both an attribute and an online feature")
            }
            for (i, input) in (surface.requires ?? []).enumerated() where !input.kinds.contains(surface.kind) {
                report(
                    at + ["requires", "\(i)"],
                    "input \(input.rawValue) is for \(input.kinds.map(\.rawValue).joined(separator: ", ")) surfaces, "
                        + "not \(surface.kind.rawValue)"
                )
            }
            if surface.kind == .venueItems && !surface.inputs.contains(.venue)
                && !surface.inputs.contains(.contextItems)
            {
                report(
                    at + ["requires"],
                    "an item surface needs venue or context_items to know which venue it ranks in"
                )
            }
            let sourceNames = Set(surface.sources.map(\.name))
            for (i, section) in surface.sections.enumerated() {
                if let source = section.source, !sourceNames.contains(source) {
                    report(
                        at + ["sections", "\(i)", "source"],
                        "section \(section.key) takes from source \(source), which surface \(name) does not have"
                    )
                }
            }
            if let experiment = surface.experiment {
                let path = at + ["experiment"]
                if experiment.variants.isEmpty {
                    report(path + ["variants"], "experiment \(experiment.name) has no variants")
                }
                var total = 0
                var names = Set<String>()
                for (i, variant) in experiment.variants.enumerated() {
                    let variantPath = path + ["variants", "\(i)"]
                    if !names.insert(variant.name).inserted {
                        report(variantPath + ["name"], "variant name \(variant.name) is used twice")
                    }
                    if variant.buckets < 0 {
                        report(variantPath + ["buckets"], "must not be negative (got \(variant.buckets))")
                    }
                    total += max(0, variant.buckets)
                    checkModel(variant.model, kind: surface.kind, surface: name, at: variantPath + ["model"])
                    variant.rerank?.problems(at: variantPath + ["rerank"], report: report)
                }
                if total > 100 {
                    report(path + ["variants"], "buckets add up to \(total), more than 100")
                }
            }
        }
        let genericSurfaces = DomainConfig.embeddedSchemas().flatMap { schema in
            ((try? DomainConfig.embedded(schema: schema)) ?? nil)?.surfaces.keys.map { $0 } ?? []
        }
        layerProblems(
            additionalSources: additionalSources,
            genericSurfaces: genericSurfaces,
            checkModel: { checkModel($0, kind: $1, surface: $2, at: $3) },
            report: report
        )
        return found
    }
}

/// A value in a ``PipelineConfig`` that cannot be served, and where it is.
public struct PipelineProblem: Sendable, Equatable, CustomStringConvertible {
    /// Keys from the configuration's top level down to the value; sequence elements by zero-based index.
    public var path: [String]
    /// What is wrong, for a person.
    public var message: String

    /// A problem at `path`.
    public init(path: [String], message: String) {
        self.path = path
        self.message = message
    }

    /// `path.joined(".")`: message.
    public var description: String { "\(path.joined(separator: ".")): \(message)" }
}

extension RerankConfig {
    /// The policies the re-ranker knows.
    static let explorationPolicies = ["thompson", "epsilon", "none"]

    func problems(at path: [String], report: ([String], String) -> Void) {
        for (key, value) in [
            ("brandCap", brandCap), ("brandCapWindow", brandCapWindow), ("diversityWindow", diversityWindow),
            ("explorationSlot", explorationSlot),
        ] where value < 0 {
            report(path + [key], "must not be negative (got \(value))")
        }
        if !(diversityPenalty.isFinite && diversityPenalty >= 0) {
            report(path + ["diversityPenalty"], "must be a non-negative number (got \(diversityPenalty))")
        }
        if !RerankConfig.explorationPolicies.contains(explorationPolicy) {
            report(
                path + ["explorationPolicy"],
                "must be one of \(RerankConfig.explorationPolicies.joined(separator: ", ")) (got \(explorationPolicy))"
            )
        }
        if !(epsilon >= 0 && epsilon <= 1) {
            report(path + ["epsilon"], "must be in [0, 1] (got \(epsilon))")
        }
        for (cuisine, boost) in cuisineBoosts.sorted(by: { $0.key < $1.key }) where !boost.isFinite {
            report(path + ["cuisineBoosts", cuisine], "must be a finite number (got \(boost))")
        }
        for (item, position) in pins.sorted(by: { $0.key < $1.key }) where position < 0 {
            report(path + ["pins", item], "must not be negative (got \(position))")
        }
    }
}

/// A Recommend input a surface needs besides the user and the context. Any surface may name any input its kind can
/// use, so a new page is configuration, not code.
public enum SurfaceInput: String, Codable, Sendable, CaseIterable {
    /// `venue_id`: the venue whose items are ranked (item surfaces).
    case venue
    /// `category`: the cuisine every answered venue is tagged with (venue surfaces).
    case category
    /// `context_item_ids`: the items the user already chose, e.g. the cart (item surfaces). Their venue is the
    /// venue ranked in, so they must all come from one venue.
    case contextItems = "context_items"

    /// The surface kinds that can use the input.
    var kinds: [SurfaceKind] {
        switch self {
        case .venue, .contextItems: return [.venueItems]
        case .category: return [.venues]
        }
    }
}

/// What a surface ranks.
public enum SurfaceKind: String, Codable, Sendable {
    /// Venues near the user (Discovery, category pages).
    case venues
    /// Items of one venue (in-venue menu, cart).
    case venueItems = "venue_items"
}

/// One surface: how it generates candidates, scores and re-ranks them, and how its answer is sectioned.
public struct SurfaceConfig: Codable, Sendable {
    /// Venues or a venue's items.
    public var kind: SurfaceKind
    /// Limit when the caller sends 0.
    public var defaultLimit: Int
    /// Largest limit a caller may ask for.
    public var maxLimit: Int
    /// Most candidates a Rank call may send.
    public var maxCandidates: Int
    /// Budget for the whole request when the caller gives no deadline.
    public var defaultBudgetMillis: Double
    /// Fractions of the request budget each stage may use.
    public var stageBudgets: StageBudgets
    /// Candidate sources, run in parallel.
    public var sources: [SourceConfig]
    /// Whether sources run on other threads (true) or one after another on the caller's thread.
    public var parallelSources: Bool
    /// Model key; nil scores with the heuristic.
    public var model: String?
    /// Two-phase scoring.
    public var scoring: ScoringConfig
    /// Re-ranking parameters.
    public var rerank: RerankConfig
    /// Recommend sections in the order they are sent.
    public var sections: [SectionConfig]
    /// An optional A/B experiment.
    public var experiment: ExperimentConfig?
    /// Recommend inputs the surface needs (each is refused when missing, and refused on surfaces that do not name
    /// it). Absent: `venue` for item surfaces, nothing for venue surfaces, as before inputs were configurable.
    public var requires: [SurfaceInput]?
    /// What the surface reads from the online state (what users did since the snapshot); nil: only the orders that
    /// count in the user's history. docs/events.md.
    public var online: SurfaceOnlineConfig?
    /// Number attributes of the snapshot's venues (venue surfaces) or items (item surfaces) that models read as
    /// features, each under its feature name: an attribute the data team adds becomes a feature without a code change.
    public var attributes: [AttributeFeatureConfig]?

    /// The inputs Recommend needs, defaults applied.
    public var inputs: [SurfaceInput] { requires ?? (kind == .venueItems ? [.venue] : []) }

    /// Every feature the surface computes, in row order: the kind's joined features, its attribute features, then
    /// its online features.
    public var featureNames: [String] {
        FeatureJoiner.featureNames(for: kind) + (attributes ?? []).map(\.name) + (online?.features ?? []).map(\.name)
    }
}

/// A number attribute of the catalog read as a model feature on a marketplace surface.
public struct AttributeFeatureConfig: Codable, Sendable, Equatable {
    /// The feature's name, as models, weights and Rank's caller features use it.
    public var name: String
    /// The attribute of the surface's kind (`venue` or `item` in the schema): a `number` the engine does not read
    /// itself. An entity without a value, or a candidate the catalog does not have, is missing (NaN).
    public var attribute: String

    public init(name: String, attribute: String) {
        self.name = name
        self.attribute = attribute
    }
}

/// A marketplace surface's use of the online state.
public struct SurfaceOnlineConfig: Codable, Sendable {
    /// The groups `via` may name on a surface of `kind`.
    static func groupNames(_ kind: SurfaceKind) -> [String] {
        kind == .venues ? ["venue", "cuisine", "brand"] : ["venue", "cuisine", "brand", "category"]
    }

    /// What cannot be served (checked again, with the catalog, when the surface is built).
    func problems(kind: SurfaceKind, at path: [String], report: ([String], String) -> Void) {
        struct Problem: Error { var message: String }
        var names = Set(FeatureJoiner.featureNames(for: kind))
        for (i, feature) in (features ?? []).enumerated() {
            let at = path + ["features", "\(i)"]
            if !names.insert(feature.name).inserted {
                report(at + ["name"], "feature \(feature.name) is named twice")
            }
            do {
                let bound = try OnlineFeature.bind(
                    feature,
                    groups: { via, what in
                        guard let via, SurfaceOnlineConfig.groupNames(kind).contains(via) else {
                            throw Problem(
                                message: "\(what): via must be one of "
                                    + SurfaceOnlineConfig.groupNames(kind).joined(separator: ", ")
                                    + " on a \(kind.rawValue) surface (got \(via ?? "none"))"
                            )
                        }
                        return []
                    },
                    fail: { Problem(message: $0) }
                )
                if bound == nil {
                    report(at + ["kind"], "\(feature.kind) is not an online feature kind")
                }
            } catch let problem as Problem {
                report(at, problem.message)
            } catch {
                report(at, "\(error)")
            }
        }
        if let rule = excludeRecent {
            do {
                _ = try RecentRule(rule, "excludeRecent", fail: { Problem(message: $0) })
            } catch let problem as Problem {
                report(path + ["excludeRecent"], problem.message)
            } catch {
                report(path + ["excludeRecent"], "\(error)")
            }
        }
    }

    /// Features computed from the online state, after the joined ones; models, weights and overrides name them. The
    /// kinds are those of generic surfaces (`online_window_count`, `online_rate`, `online_time_since`,
    /// `online_session_affinity`, `online_interacted`); `via` groups candidates by `venue`, `cuisine`, `brand` or
    /// (items) `category`.
    public var features: [GenericFeatureConfig]?
    /// Never answer a candidate the user (or session) just had one of these events with (counted in `dropped` as
    /// `recently_interacted`).
    public var excludeRecent: RecentEventRule?
}

/// Stage shares of a request's time budget; they may add up to more than 1 because stages that finish early
/// leave their time to later ones.
public struct StageBudgets: Codable, Sendable {
    /// Candidate generation.
    public var candidates: Double
    /// Feature join.
    public var features: Double
    /// Model scoring (both phases).
    public var score: Double
    /// Filtering and re-ranking.
    public var rerank: Double
}

/// A candidate source with its quota.
public struct SourceConfig: Codable, Sendable {
    /// Source name: nearby, reorder, covisit, embedding, popular, new (venues); menu, reorder, popular,
    /// bought_together (items); or one registered by the host.
    public var name: String
    /// Most candidates it may return.
    public var quota: Int
}

/// Two-phase scoring: the first `firstPhaseTrees` trees on every candidate, the full model on the best
/// `fullModelTopN`.
public struct ScoringConfig: Codable, Sendable {
    /// Trees used by the cheap first phase.
    public var firstPhaseTrees: Int
    /// How many first-phase leaders get the full model.
    public var fullModelTopN: Int
}

/// Re-ranking parameters.
public struct RerankConfig: Codable, Sendable {
    /// Most venues of one brand within the first `brandCapWindow` positions (0 disables).
    public var brandCap: Int
    /// Window the brand cap applies to.
    public var brandCapWindow: Int
    /// Score penalty per already placed venue of the same cuisine (greedy decay, 0 disables).
    public var diversityPenalty: Double
    /// Positions the diversity pass fills greedily.
    public var diversityWindow: Int
    /// Exploration: "thompson", "epsilon" or "none".
    public var explorationPolicy: String
    /// Zero-based position of the exploration slot.
    public var explorationSlot: Int
    /// For epsilon-greedy: probability of exploring on a request.
    public var epsilon: Double
    /// Additive score boosts by cuisine name.
    public var cuisineBoosts: [String: Double]
    /// Item ids pinned to zero-based positions.
    public var pins: [String: Int]
    /// Item ids moved to the end.
    public var buries: [String]
    /// Never answer an item the request gave as context (`context_item_ids`: what is already in the cart).
    public var excludeContextItems: Bool?
}

/// A Recommend section.
public struct SectionConfig: Codable, Sendable {
    /// Stable key, e.g. "for_you".
    public var key: String
    /// Human title.
    public var title: String
    /// Only candidates that came from this source; nil takes from all.
    public var source: String?
    /// Sections claim entries in ascending priority (default: their position), so a narrow section such as
    /// "Order again" can keep its venues even though it is sent after "For you".
    public var priority: Int?
}

/// An A/B experiment on one surface: users are hashed with `salt` and split by `buckets` of 100. It is served as a
/// layer of its own (``PipelineConfig/allLayers``); `experiments` layers can do more (several surfaces, a holdout, a
/// start and a stop, variants that change sources and online features).
public struct ExperimentConfig: Codable, Sendable {
    /// Experiment name.
    public var name: String
    /// Salt mixed into the hash so different experiments split users independently.
    public var salt: String
    /// Variants; `buckets` of all variants should add up to 100 (the remainder goes to the first).
    public var variants: [VariantConfig]
}

/// One experiment arm.
public struct VariantConfig: Codable, Sendable {
    /// Echoed in responses.
    public var name: String
    /// Share of the 100 buckets.
    public var buckets: Int
    /// Model key that replaces the surface's model.
    public var model: String?
    /// Re-ranking parameters that replace the surface's.
    public var rerank: RerankConfig?
}

/// A model file and its golden file, relative to the configuration's resource folder (or absolute).
public struct ModelConfig: Codable, Sendable {
    /// Model file (LightGBM text or XGBoost JSON).
    public var file: String
    /// Golden file with expected raw scores.
    public var golden: String

    /// A model file and its golden file.
    public init(file: String, golden: String) {
        self.file = file
        self.golden = golden
    }
}
