import CRankingProto
import ProtoSupport
import Ranking

/// Conversions between the ranking.v1 contract (protobuf-c structures) and the ranking library's Swift types.
///
/// Decoding copies what the pipeline needs out of the C structures so they can be freed at once. The answers are
/// written straight in the wire format (``ProtoWriter``): no C structure, string or array per returned item; the
/// tests read them back through protobuf-c.
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
        var writer = ProtoWriter()
        writer.bytes.reserveCapacity(estimatedSize(of: result.items, timings: result.timings.count))
        for item in result.items { writer.message(1) { write(item, to: &$0) } }
        writer.string(2, result.modelVersion)
        writer.string(3, result.variant)
        writer.bool(4, result.degraded)
        writer.strings(5, result.degradedStages)
        for timing in result.timings { writer.message(6) { write(timing, to: &$0) } }
        writer.string(7, result.nextPageToken)
        for entry in result.dropped {
            writer.message(8) {
                $0.string(1, entry.reason.rawValue)
                $0.int32(2, Int32(clamping: entry.count))
            }
        }
        return writer.bytes
    }

    /// Encodes one RecommendResponse section.
    public static func encode(_ section: RecommendSection) -> [UInt8] {
        var writer = ProtoWriter()
        writer.bytes.reserveCapacity(estimatedSize(of: section.items, timings: section.timings.count))
        writer.string(1, section.key)
        writer.string(2, section.title)
        for item in section.items { writer.message(3) { write(item, to: &$0) } }
        writer.string(4, section.modelVersion)
        writer.string(5, section.variant)
        writer.bool(6, section.degraded)
        writer.strings(7, section.degradedStages)
        for timing in section.timings { writer.message(8) { write(timing, to: &$0) } }
        return writer.bytes
    }

    /// Room for an answer without growing the buffer in the common case: ids, two scores and a source or two per
    /// item, a feature name and value per feature, a name and value per display field.
    private static func estimatedSize(of items: [RankedEntry], timings: Int) -> Int {
        var size = 128 + 24 * timings
        for item in items {
            size += 64 + 24 * item.features.count + 40 * item.display.count + 16 * item.sources.count
        }
        return size
    }

    /// A RankedItem's fields, in field order.
    private static func write(_ entry: RankedEntry, to writer: inout ProtoWriter) {
        writer.string(1, entry.itemID)
        writer.double(2, entry.score)
        for (name, value) in entry.features {
            // A map entry: key 1, value 2, with proto3's implicit presence inside the entry as well.
            writer.message(3) {
                $0.string(1, name)
                $0.double(2, value)
            }
        }
        writer.double(4, entry.modelScore)
        writer.strings(5, entry.sources)
        writer.string(6, entry.venueID)
        for field in entry.display {
            writer.message(7) {
                $0.string(1, field.name)
                $0.string(2, field.value)
            }
        }
    }

    private static func write(_ timing: Ranking.StageTiming, to writer: inout ProtoWriter) {
        writer.string(1, timing.stage)
        writer.int64(2, timing.micros)
    }
}
