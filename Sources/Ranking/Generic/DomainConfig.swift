import Foundation

/// The surfaces that serve one schema through the generic pipeline: which kinds and attributes each candidate
/// source, feature and re-rank rule reads. `Resources/domain-<schema>.json` is embedded for each domain rankd serves
/// besides the marketplace (`domain-music.json`: `next_track`). Code never names a domain, a kind or an attribute.
public struct DomainConfig: Codable, Sendable {
    /// The snapshot schema served (its `name`).
    public var schema: String
    /// Model files by key (tree models with their golden files).
    public var models: [String: ModelConfig]
    /// Surfaces by name.
    public var surfaces: [String: GenericSurfaceConfig]

    /// The embedded configuration of `schema`, or nil when rankd has none.
    public static func embedded(schema: String) throws -> DomainConfig? {
        let directory = try EmbeddedResources.directory()
        let path = (directory as NSString).appendingPathComponent("domain-\(schema).json")
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try decode(Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Schemas with an embedded configuration, sorted.
    public static func embeddedSchemas() -> [String] {
        guard let directory = try? EmbeddedResources.directory(),
            let files = try? FileManager.default.contentsOfDirectory(atPath: directory)
        else { return [] }
        return files.filter { $0.hasPrefix("domain-") && $0.hasSuffix(".json") }
            .map { String($0.dropFirst("domain-".count).dropLast(".json".count)) }.sorted()
    }

    /// Decodes a configuration and checks what can be checked without a catalog.
    public static func decode(_ data: Data) throws -> DomainConfig {
        let config: DomainConfig
        do {
            config = try JSONDecoder().decode(DomainConfig.self, from: data)
        } catch {
            throw RankingError.invalidArgument("domain configuration is not valid: \(error)")
        }
        if let first = config.problems().first { throw RankingError.invalidArgument(first.description) }
        return config
    }

    /// What cannot be served, with paths as ``PipelineConfig/problems(additionalSources:)`` gives them. References
    /// to kinds and attributes are checked against the catalog when the surfaces are built (``GenericSurface``).
    public func problems() -> [PipelineProblem] {
        var found: [PipelineProblem] = []
        func report(_ path: [String], _ message: String) { found.append(PipelineProblem(path: path, message: message)) }
        if surfaces.isEmpty { report(["surfaces"], "at least one surface is needed") }
        for (name, surface) in surfaces.sorted(by: { $0.key < $1.key }) {
            let at = ["surfaces", name]
            if surface.defaultLimit < 1 || surface.defaultLimit > surface.maxLimit {
                report(at + ["defaultLimit"], "must be in 1...maxLimit (got \(surface.defaultLimit))")
            }
            if !(surface.defaultBudgetMillis > 0 && surface.defaultBudgetMillis.isFinite) {
                report(at + ["defaultBudgetMillis"], "must be a positive number (got \(surface.defaultBudgetMillis))")
            }
            if surface.sources.isEmpty || surface.sources.count > 32 {
                report(at + ["sources"], "1 to 32 sources (got \(surface.sources.count))")
            }
            for (i, source) in surface.sources.enumerated() {
                if GenericSourceKind(rawValue: source.name) == nil {
                    report(
                        at + ["sources", "\(i)", "name"],
                        "unknown candidate source \(source.name) (known: "
                            + GenericSourceKind.allCases.map(\.rawValue).joined(separator: ", ") + ")"
                    )
                }
                if source.quota < 0 { report(at + ["sources", "\(i)", "quota"], "must not be negative") }
            }
            var names = Set<String>()
            for (i, feature) in surface.features.enumerated() where !names.insert(feature.name).inserted {
                report(at + ["features", "\(i)", "name"], "feature \(feature.name) is named twice")
            }
            if let key = surface.model, models[key] == nil {
                report(at + ["model"], "names unknown model \(key)")
            }
            for (feature, weight) in (surface.weights ?? [:]).sorted(by: { $0.key < $1.key }) {
                if !names.contains(feature) {
                    report(at + ["weights", feature], "weighs feature \(feature), which the surface does not compute")
                }
                if !weight.isFinite { report(at + ["weights", feature], "must be finite") }
            }
            if surface.model == nil && (surface.weights ?? [:]).isEmpty {
                report(at + ["model"], "a surface needs a model or weights")
            }
            if surface.context.minItems < 1 || surface.context.maxItems < surface.context.minItems
                || surface.context.maxItems > RecommendQuery.maxContextItems
            {
                report(
                    at + ["context"],
                    "minItems must be at least 1 and maxItems in minItems...\(RecommendQuery.maxContextItems)"
                )
            }
            if let cap = surface.rerank.capPerReference, cap.cap < 1 {
                report(at + ["rerank", "capPerReference", "cap"], "must be at least 1")
            }
            if let cap = surface.rerank.capPerReference, cap.window < 0 {
                report(at + ["rerank", "capPerReference", "window"], "must not be negative (got \(cap.window))")
            }
            if let diversity = surface.rerank.tagDiversity, diversity.window < 0 {
                report(at + ["rerank", "tagDiversity", "window"], "must not be negative (got \(diversity.window))")
            }
            if let diversity = surface.rerank.tagDiversity, !(diversity.penalty >= 0 && diversity.penalty.isFinite) {
                report(at + ["rerank", "tagDiversity", "penalty"], "must be a non-negative number")
            }
        }
        return found
    }
}

/// One generic surface: what it ranks, from which sources, on which features, and the re-rank rules.
public struct GenericSurfaceConfig: Codable, Sendable {
    /// The entity kind ranked (`track`).
    public var kind: String
    /// The kind a request's `user_id` names (`user`).
    public var userKind: String
    /// The user's history of the ranked kind that sources and features read.
    public var history: HistoryConfig
    /// `context_item_ids`: the anchor (the playing track) first, then the session's recent items, newest first.
    public var context: ContextConfig
    /// Limit when the caller sends 0.
    public var defaultLimit: Int
    /// Largest limit a caller may ask for.
    public var maxLimit: Int
    /// Budget for the whole request when the caller gives no deadline.
    public var defaultBudgetMillis: Double
    /// Candidate sources, in order (a candidate keeps a bit per source that found it).
    public var sources: [GenericSourceConfig]
    /// The features computed per candidate, in order; models and weights name them.
    public var features: [GenericFeatureConfig]
    /// Model key; nil scores with `weights`.
    public var model: String?
    /// Two-phase scoring (the first trees on every candidate, the whole model on the leaders); nil: every tree on
    /// every candidate.
    public var scoring: ScoringConfig?
    /// A linear scorer: weight per feature name (NaN features count 0). Used when `model` is nil, and when
    /// scoring fails.
    public var weights: [String: Double]?
    /// Re-rank rules.
    public var rerank: GenericRerankConfig
    /// The one Recommend section the answer is sent as.
    public var section: SectionConfig
}

/// The user history a generic surface reads.
public struct HistoryConfig: Codable, Sendable {
    /// The user kind's history attribute whose target is the ranked kind (`listens`).
    public var attribute: String
    /// The event that marks one consumption of an item (`play`), for sessions and co-occurrence; nil: every event.
    public var playEvent: String?
    /// A gap longer than this between two events starts a new session.
    public var sessionGapSeconds: Double
}

/// How many context items a request must and may send.
public struct ContextConfig: Codable, Sendable {
    /// At least (1: the anchor).
    public var minItems: Int
    /// At most.
    public var maxItems: Int
}

/// A configured candidate source.
public struct GenericSourceConfig: Codable, Sendable {
    /// One of ``GenericSourceKind``.
    public var name: String
    /// Most candidates it may return.
    public var quota: Int
    /// The attribute it reads: the reference (`same_reference`), the embedding (`embedding_neighbours`), the tags
    /// (`popular_in_tags`).
    public var attribute: String?
    /// A number attribute to order by, most first (`popular_in_tags`, `same_reference`).
    public var orderBy: String?
    /// The event counted (`user_favourites`: `complete`).
    public var event: String?
    /// `embedding_neighbours`: the user kind's embedding attribute, added to the context's centroid with
    /// `userWeight` (the listener's taste beside the session's mood); nil or an unknown user: the centroid alone.
    public var userAttribute: String?
    /// The user vector's weight against the centroid's 1 (both unit length).
    public var userWeight: Double?
}

/// The generic candidate sources.
public enum GenericSourceKind: String, CaseIterable, Sendable {
    /// Items played next to the context items in users' sessions (consecutive plays within a session), most often
    /// first, the anchor's counting most.
    case coOccurrence = "co_occurrence"
    /// Items sharing the anchor's reference (the playing track's artist).
    case sameReference = "same_reference"
    /// Items whose embedding is nearest (cosine) to the context's weighted centroid (plus, optionally, the user's).
    case embeddingNeighbours = "embedding_neighbours"
    /// The user's items with the most `event`s (most completed).
    case userFavourites = "user_favourites"
    /// The top items of the anchor's tags by `orderBy` (popular in the genre).
    case popularInTags = "popular_in_tags"
}

/// A configured feature: `name` is what models and weights use, `kind` what is computed.
public struct GenericFeatureConfig: Codable, Sendable {
    /// The name models use (`track.energy`, `energy_gap`).
    public var name: String
    /// One of ``GenericFeatureKind``.
    public var kind: String
    /// The attribute it reads (a number, reference, embedding or history attribute, by kind).
    public var attribute: String?
    /// The event counted (`user_events`, `user_reference_events`); nil counts every event.
    public var event: String?
    /// For `user_reference_events`: the reference attribute of the ranked kind (`artist`); for `cosine_user`: the
    /// user kind's embedding attribute; for the `online_*` kinds that read a group: the reference or tags attribute
    /// that groups items (`artist`, `genres`: its first tag).
    public var via: String?
    /// `online_*`: the window, in seconds (window counts and rates: 300 to 3600 in steps of 300, or 7200 to 86400
    /// in steps of 3600).
    public var windowSeconds: Double?
    /// `online_rate`, `online_session_rate`: the event counted below the line (`impression` under `click`).
    public var over: String?
    /// `online_rate`, `online_session_rate`: the rate assumed before any event, and how many events it weighs as.
    public var prior: Double?
    public var priorWeight: Double?
    /// `online_time_since`, `online_interacted`: whose events: `user` (every session; the default) or `session` (the
    /// request's `Context.session_id`).
    public var scope: String?
    /// `online_session_difference`: `c`'s value minus the mean rather than the distance, so a model sees on which
    /// side of what the session completed (or skipped) `c` lies.
    public var signed: Bool?
}

/// What a generic feature computes for a candidate `c`, given the anchor `a`, the context items and the user.
public enum GenericFeatureKind: String, CaseIterable, Sendable {
    /// `c.attribute` (a number attribute).
    case attribute
    /// |c.attribute - a.attribute|.
    case anchorDifference = "anchor_difference"
    /// |log(c.attribute / a.attribute)| (tempo steps).
    case anchorLogRatio = "anchor_log_ratio"
    /// |c.attribute - mean over the context|.
    case contextDifference = "context_difference"
    /// Sessions in which `c` was played right next to `a`.
    case coOccurrenceAnchor = "co_occurrence_anchor"
    /// The same, summed over every context item.
    case coOccurrenceContext = "co_occurrence_context"
    /// 1 when `c.attribute` (a reference) equals `a`'s, else 0.
    case sameReference = "same_reference"
    /// Share of context items whose reference is `c`'s.
    case contextReferenceShare = "context_reference_share"
    /// Cosine of `c`'s and `a`'s embeddings.
    case cosineAnchor = "cosine_anchor"
    /// Cosine of `c`'s embedding and the context's centroid.
    case cosineContext = "cosine_context"
    /// Cosine of `c`'s embedding and the user's (`via`: the user kind's embedding attribute).
    case cosineUser = "cosine_user"
    /// The user's history events (`event`) on `c`.
    case userEvents = "user_events"
    /// The user's history events (`event`) on items sharing `c`'s reference (`via`).
    case userReferenceEvents = "user_reference_events"
    /// Entries of another user history (`attribute`, e.g. follows) naming `c`'s reference (`via`).
    case userReferenceHistory = "user_reference_history"
    /// Events (`event`, an event kind of the event contract) on `c` by every user in the last `windowSeconds`.
    case onlineWindowCount = "online_window_count"
    /// (events `event` + prior x priorWeight) / (events `over` + priorWeight) on `c` in the last `windowSeconds`: a
    /// click-through rate that starts at the prior and follows the events.
    case onlineRate = "online_rate"
    /// Seconds since the user (or the session: `scope`) last had an `event` (any kind when nil) with `c`, or with an
    /// item of `c`'s group (`via`); missing when never.
    case onlineTimeSince = "online_time_since"
    /// Share of the session's events (`event`, or all) on items of `c`'s group (`via`); 0 without session events.
    case onlineSessionAffinity = "online_session_affinity"
    /// 1 when the user (or the session) had an `event` with `c` in the last `windowSeconds` (default: as long as
    /// events are kept), else 0.
    case onlineInteracted = "online_interacted"
    /// |c.attribute - mean of `attribute` over the items of the session's events (`event`, or all)| (without the
    /// bars when `signed`): how far `c` is from what the session completed (or skipped); missing without such events.
    case onlineSessionDifference = "online_session_difference"
    /// Cosine of `c`'s embedding (`attribute`) and the centroid of the items of the session's events (`event`, or
    /// all): how alike `c` is to what the session completed (or skipped); missing without such events.
    case onlineSessionCosine = "online_session_cosine"
    /// (the session's `event`s + prior x priorWeight) / (its `over`s + priorWeight) on the items that share a group
    /// with `c` (`via`: a reference, or any tag of a tags attribute), for the best of `c`'s groups: how `c`'s artist
    /// or genres fared in the session (completes over plays); the prior where the session has no such events.
    case onlineSessionRate = "online_session_rate"
}

/// Generic re-rank rules.
public struct GenericRerankConfig: Codable, Sendable {
    /// Never answer a context item (no repeats within the session).
    public var excludeContextItems: Bool
    /// Never answer an item the user (or session) just had one of these events with (a track just skipped).
    public var excludeRecent: RecentEventRule?
    /// Lower the score of items whose group (`attribute`: artist) the user or session just had these events with,
    /// by `penalty` per event (an artist skipped twice sinks twice as far).
    public var demoteRecent: RecentEventRule?
    /// At most `cap` items sharing a reference (artist) within the first `window` positions.
    public var capPerReference: ReferenceCapConfig?
    /// Greedy diversity over a tag attribute's main tag (genre).
    public var tagDiversity: TagDiversityConfig?
}

/// A re-rank rule that reads what the user did since the snapshot (the online state).
public struct RecentEventRule: Codable, Sendable {
    /// Event kinds of the event contract (`skip`).
    public var events: [String]
    /// How far back, in seconds.
    public var withinSeconds: Double
    /// `user` (the default) or `session`.
    public var scope: String?
    /// `demoteRecent`: the reference or tags attribute that groups items (`artist`); `excludeRecent` ignores it.
    public var attribute: String?
    /// `demoteRecent`: score taken off per event.
    public var penalty: Double?
}

/// `cap_per_reference`.
public struct ReferenceCapConfig: Codable, Sendable {
    /// The reference attribute (`artist`).
    public var attribute: String
    /// Most items per reference within the window.
    public var cap: Int
    /// Positions the cap holds for.
    public var window: Int
}

/// `tag_diversity`: the first `window` positions are filled greedily by score minus `penalty` per item already
/// placed with the same main tag.
public struct TagDiversityConfig: Codable, Sendable {
    /// The tag attribute (`genres`).
    public var attribute: String
    /// Score penalty per placed item of the same main tag.
    public var penalty: Double
    /// Positions filled greedily.
    public var window: Int
}
