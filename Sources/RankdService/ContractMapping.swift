import CRankingProto
import ProtoSupport
import Ranking

/// Conversions between the ranking.v1 contract (protobuf-c structures) and the ranking library's Swift types.
///
/// Decoding copies what the pipeline needs out of the C structures so they can be freed at once; encoding builds
/// the response in a ``ProtoArena`` that lives until the bytes are packed.
public enum ContractMapping {
    /// The request context; a missing Context message reads as all defaults (no location: the user's home).
    static func context(_ pointer: UnsafeMutablePointer<Ranking__V1__Context>?) -> RequestContext {
        guard let context = pointer?.pointee else { return RequestContext() }
        return RequestContext(
            latitude: context.latitude,
            longitude: context.longitude,
            requestTimeUnixMs: context.request_time_unix_ms,
            market: ProtoC.string(context.market),
            device: ProtoC.string(context.device),
            locale: ProtoC.string(context.locale),
            requestID: ProtoC.string(context.request_id),
            sessionID: ProtoC.string(context.session_id)
        )
    }

    /// A RankQuery from a decoded RankRequest.
    public static func rankQuery(_ request: Ranking__V1__RankRequest) -> RankQuery {
        let candidates = ProtoC.messages(request.candidates, count: request.n_candidates).map { candidate in
            CandidateInput(
                itemID: ProtoC.string(candidate.pointee.item_id),
                features: ProtoC.messages(candidate.pointee.features, count: candidate.pointee.n_features).map {
                    (ProtoC.string($0.pointee.key), $0.pointee.value)
                }
            )
        }
        var query = RankQuery(
            userID: ProtoC.string(request.user_id),
            surface: ProtoC.string(request.surface),
            context: context(request.context),
            candidates: candidates,
            limit: Int(request.limit),
            explain: request.explain != 0,
            excludeItemIDs: ProtoC.array(request.exclude_item_ids, count: request.n_exclude_item_ids) {
                ProtoC.string($0)
            },
            pageToken: ProtoC.string(request.page_token)
        )
        query.includeDisplay = request.include_display != 0
        return query
    }

    /// A RecommendQuery from a decoded RecommendRequest.
    public static func recommendQuery(_ request: Ranking__V1__RecommendRequest) -> RecommendQuery {
        var query = RecommendQuery(
            userID: ProtoC.string(request.user_id),
            surface: ProtoC.string(request.surface),
            context: context(request.context),
            limit: Int(request.limit),
            explain: request.explain != 0,
            excludeItemIDs: ProtoC.array(request.exclude_item_ids, count: request.n_exclude_item_ids) {
                ProtoC.string($0)
            },
            venueID: ProtoC.string(request.venue_id),
            contextItemIDs: ProtoC.array(request.context_item_ids, count: request.n_context_item_ids) {
                ProtoC.string($0)
            },
            category: ProtoC.string(request.category)
        )
        query.includeDisplay = request.include_display != 0
        return query
    }

    /// Encodes a RankResponse.
    public static func encode(_ result: RankResult) -> [UInt8] {
        let arena = ProtoArena()
        var response = Ranking__V1__RankResponse()
        ranking__v1__rank_response__init(&response)
        let items = result.items.map { item(of: $0, arena: arena) }
        response.n_items = items.count
        response.items = arena.array(items)
        response.model_version = arena.string(result.modelVersion)
        response.variant = arena.string(result.variant)
        response.degraded = result.degraded ? 1 : 0
        response.n_degraded_stages = result.degradedStages.count
        response.degraded_stages = arena.array(result.degradedStages.map { Optional(arena.string($0)) })
        let timings = result.timings.map { timing(of: $0, arena: arena) }
        response.n_timings = timings.count
        response.timings = arena.array(timings)
        response.next_page_token = arena.string(result.nextPageToken)
        let dropped: [UnsafeMutablePointer<Ranking__V1__DroppedCandidates>?] = result.dropped.map { entry in
            var message = Ranking__V1__DroppedCandidates()
            ranking__v1__dropped_candidates__init(&message)
            message.reason = arena.string(entry.reason.rawValue)
            message.count = Int32(clamping: entry.count)
            return arena.make(message)
        }
        response.n_dropped = dropped.count
        response.dropped = arena.array(dropped)
        return ProtoC.encode(&response)
    }

    /// Encodes one RecommendResponse section.
    public static func encode(_ section: RecommendSection) -> [UInt8] {
        let arena = ProtoArena()
        var response = Ranking__V1__RecommendResponse()
        ranking__v1__recommend_response__init(&response)
        response.section = arena.string(section.key)
        response.title = arena.string(section.title)
        let items = section.items.map { item(of: $0, arena: arena) }
        response.n_items = items.count
        response.items = arena.array(items)
        response.model_version = arena.string(section.modelVersion)
        response.variant = arena.string(section.variant)
        response.degraded = section.degraded ? 1 : 0
        response.n_degraded_stages = section.degradedStages.count
        response.degraded_stages = arena.array(section.degradedStages.map { Optional(arena.string($0)) })
        let timings = section.timings.map { timing(of: $0, arena: arena) }
        response.n_timings = timings.count
        response.timings = arena.array(timings)
        return ProtoC.encode(&response)
    }

    private static func item(of entry: RankedEntry, arena: ProtoArena) -> UnsafeMutablePointer<Ranking__V1__RankedItem>?
    {
        var item = Ranking__V1__RankedItem()
        ranking__v1__ranked_item__init(&item)
        item.item_id = arena.string(entry.itemID)
        item.score = entry.score
        item.model_score = entry.modelScore
        item.venue_id = arena.string(entry.venueID)
        if !entry.sources.isEmpty {
            item.n_sources = entry.sources.count
            item.sources = arena.array(entry.sources.map { Optional(arena.string($0)) })
        }
        if !entry.features.isEmpty {
            let features: [UnsafeMutablePointer<Ranking__V1__RankedItem__FeaturesEntry>?] = entry.features.map {
                name,
                value in
                var feature = Ranking__V1__RankedItem__FeaturesEntry()
                ranking__v1__ranked_item__features_entry__init(&feature)
                feature.key = arena.string(name)
                feature.value = value
                return arena.make(feature)
            }
            item.n_features = features.count
            item.features = arena.array(features)
        }
        if !entry.display.isEmpty {
            let display: [UnsafeMutablePointer<Ranking__V1__DisplayField>?] = entry.display.map { field in
                var message = Ranking__V1__DisplayField()
                ranking__v1__display_field__init(&message)
                message.name = arena.string(field.name)
                message.value = arena.string(field.value)
                return arena.make(message)
            }
            item.n_display = display.count
            item.display = arena.array(display)
        }
        return arena.make(item)
    }

    private static func timing(
        of timing: Ranking.StageTiming,
        arena: ProtoArena
    )
        -> UnsafeMutablePointer<Ranking__V1__StageTiming>?
    {
        var message = Ranking__V1__StageTiming()
        ranking__v1__stage_timing__init(&message)
        message.stage = arena.string(timing.stage)
        message.micros = timing.micros
        return arena.make(message)
    }
}
