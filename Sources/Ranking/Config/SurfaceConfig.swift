import Foundation

/// The whole pipeline configuration: surfaces, models and experiments, read from a JSON file
/// (`Resources/surfaces.json` is the embedded default).
public struct PipelineConfig: Codable, Sendable {
    /// Surfaces by name.
    public var surfaces: [String: SurfaceConfig]
    /// Model files by key; surfaces and experiment variants name models by key.
    public var models: [String: ModelConfig]

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

    func validate() throws {
        for (name, surface) in surfaces {
            if let model = surface.model, models[model] == nil {
                throw RankingError.invalidArgument("surface \(name) names unknown model \(model)")
            }
            for variant in surface.experiment?.variants ?? [] {
                if let model = variant.model, models[model] == nil {
                    throw RankingError.invalidArgument("variant \(variant.name) names unknown model \(model)")
                }
            }
            if let experiment = surface.experiment, experiment.variants.isEmpty {
                throw RankingError.invalidArgument("experiment \(experiment.name) has no variants")
            }
            let budgets = surface.stageBudgets
            for fraction in [budgets.candidates, budgets.features, budgets.score, budgets.rerank]
            where
                !(fraction > 0 && fraction <= 1)
            {
                throw RankingError.invalidArgument("surface \(name): stage budget fractions must be in (0, 1]")
            }
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
    /// Source name: nearby, reorder, covisit, embedding, popular, new (venues); menu, reorder, popular (items);
    /// or one registered by the host.
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

/// An A/B experiment: users are hashed with `salt` into 100 buckets and bucket ranges map to variants.
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
}
