// libFuzzer target: the ranking.v1 contract as rankd reads it. Decodes the input with ProtoSupport (protobuf-c) as a
// RankRequest or RecommendRequest, maps it with RankdService's ContractMapping (compiled into this target), and
// checks that the mapping loses nothing: re-encoding the decoded message and mapping it again gives the same query,
// a page token that parses re-encodes to itself, and a response built from the query's strings and numbers encodes
// and decodes back field for field.
//
// Input layout (see docs/testing.md, "Fuzzing"): byte 0 bit 0 picks the message (0 RankRequest, 1
// RecommendRequest); the rest is the protobuf body exactly as it arrives in a gRPC message.
import CRankingProto
import H2GRPC
import ProtoSupport

@testable import Ranking

/// An invariant of the code under test; unlike `precondition`, the message survives -O, so the crash report says
/// which one broke.
private func check(_ condition: Bool, _ message: @autoclosure () -> String = "invariant violated") {
    if !condition { fail(message()) }
}

private func fail(_ message: String) -> Never {
    fatalError("fuzz invariant: \(message)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let body = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    if data[0] & 1 == 0 {
        checkRank(body)
    } else {
        checkRecommend(body)
    }
    return 0
}

// MARK: Canonical forms

/// A double by its bit pattern, so NaN payloads count, except that -0 reads as 0: protobuf-c leaves proto3 fields
/// that compare equal to 0 off the wire, so -0 comes back as +0, which no ranking code can tell apart.
private func bits(_ value: Double) -> String { value == 0 ? "0" : String(value.bitPattern, radix: 16) }

private func describe(_ context: RequestContext) -> [String] {
    [
        bits(context.latitude), bits(context.longitude), String(context.requestTimeUnixMs), context.market,
        context.device, context.locale, context.requestID,
    ]
}

private func describe(_ query: RankQuery) -> [String] {
    var out = [
        "user", query.userID, "surface", query.surface, "limit", String(query.limit), "explain",
        String(query.explain), "page", query.pageToken,
    ]
    out += ["context"] + describe(query.context)
    for candidate in query.candidates {
        out += ["candidate", candidate.itemID] + candidate.features.flatMap { [$0.0, bits($0.1)] }
    }
    return out + ["exclude"] + query.excludeItemIDs
}

private func describe(_ query: RecommendQuery) -> [String] {
    [
        "user", query.userID, "surface", query.surface, "limit", String(query.limit), "explain", String(query.explain),
        "venue", query.venueID,
    ] + ["context"] + describe(query.context) + ["exclude"] + query.excludeItemIDs
}

private func describe(_ items: [RankedEntry]) -> [String] {
    items.flatMap { item in
        ["item", item.itemID, bits(item.score), bits(item.modelScore), item.venueID] + ["sources"] + item.sources
            + ["features"] + item.features.flatMap { [$0.0, bits($0.1)] }
    }
}

private func describe(_ timings: [Ranking.StageTiming]) -> [String] {
    timings.flatMap { [$0.stage, String($0.micros)] }
}

/// Reads ranked items back from a decoded response, the way a client would.
private func rankedEntries(
    _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Ranking__V1__RankedItem>?>?,
    count: Int
)
    -> [RankedEntry]
{
    ProtoC.messages(pointer, count: count).map { item in
        let message = item.pointee
        return RankedEntry(
            itemID: ProtoC.string(message.item_id),
            score: message.score,
            modelScore: message.model_score,
            venueID: ProtoC.string(message.venue_id),
            sources: ProtoC.array(message.sources, count: message.n_sources) { ProtoC.string($0) },
            features: ProtoC.messages(message.features, count: message.n_features).map {
                (ProtoC.string($0.pointee.key), $0.pointee.value)
            }
        )
    }
}

private func stageTimings(
    _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Ranking__V1__StageTiming>?>?,
    count: Int
)
    -> [Ranking.StageTiming]
{
    ProtoC.messages(pointer, count: count).map {
        Ranking.StageTiming(stage: ProtoC.string($0.pointee.stage), micros: $0.pointee.micros)
    }
}

// MARK: Requests

/// Decodes `body`; a body that does not parse must be reported as INTERNAL, as gRPC servers do.
private func decode<Message>(
    _ body: [UInt8],
    as initialize: (UnsafeMutablePointer<Message>) -> Void
)
    -> DecodedMessage<Message>?
{
    do {
        return try ProtoC.decode(body, as: initialize)
    } catch let status as GRPCStatus {
        check(status.code == .internal, "an unparseable body gave \(status), expected INTERNAL")
        return nil
    } catch {
        fail("ProtoC.decode threw \(error), not a GRPCStatus")
    }
}

/// protobuf-c 1.4 accepts field number 0 when its tag takes more than one byte (`80 00`), keeps it as an unknown field
/// and packs it back as `00`, which it then refuses to unpack. rankd never re-encodes a request, so such input only
/// skips the re-encoding check.
private func hasFieldNumberZero(_ base: ProtobufCMessage) -> Bool {
    guard base.n_unknown_fields > 0, let fields = base.unknown_fields else { return false }
    return UnsafeBufferPointer(start: fields, count: Int(base.n_unknown_fields)).contains { $0.tag == 0 }
}

private func hasFieldNumberZero(_ context: UnsafeMutablePointer<Ranking__V1__Context>?) -> Bool {
    context.map { hasFieldNumberZero($0.pointee.base) } ?? false
}

private func hasFieldNumberZero(_ request: Ranking__V1__RankRequest) -> Bool {
    hasFieldNumberZero(request.base) || hasFieldNumberZero(request.context)
        || ProtoC.messages(request.candidates, count: request.n_candidates).contains { candidate in
            hasFieldNumberZero(candidate.pointee.base)
                || ProtoC.messages(candidate.pointee.features, count: candidate.pointee.n_features).contains {
                    hasFieldNumberZero($0.pointee.base)
                }
        }
}

private func checkPageToken(_ text: String) {
    guard !text.isEmpty, let token = try? PageToken(decoding: text) else { return }
    check(token.offset >= 0, "page token \(text.debugDescription) has a negative offset")
    guard let again = try? PageToken(decoding: token.encoded) else {
        fail(
            "page token \(text.debugDescription) re-encodes to \(token.encoded.debugDescription), which does not parse"
        )
    }
    check(again == token, "page token \(text.debugDescription) does not round-trip through \(token.encoded)")
}

private func checkRank(_ body: [UInt8]) {
    guard let decoded = decode(body, as: ranking__v1__rank_request__init) else { return }
    let message = decoded.message
    let query = ContractMapping.rankQuery(message)
    check(
        query.candidates.count == message.n_candidates,
        "candidates lost: \(query.candidates.count) of \(message.n_candidates)"
    )
    check(query.excludeItemIDs.count == message.n_exclude_item_ids, "exclude_item_ids lost")
    check(query.limit == Int(message.limit), "limit \(message.limit) mapped to \(query.limit)")
    for (candidate, pointer) in zip(query.candidates, ProtoC.messages(message.candidates, count: message.n_candidates))
    {
        check(candidate.features.count == pointer.pointee.n_features, "features of \(candidate.itemID) lost")
    }
    if message.context == nil {
        check(describe(query.context) == describe(RequestContext()), "no context, not the defaults")
    }

    // What protobuf-c decoded is what it re-encodes, and the mapping of that is the same query.
    if !hasFieldNumberZero(message) {
        let reencoded = ProtoC.encode(UnsafePointer(decoded.pointer))
        guard let again = decode(reencoded, as: ranking__v1__rank_request__init) else {
            fail("a decoded RankRequest re-encodes to bytes that do not decode")
        }
        check(
            describe(ContractMapping.rankQuery(again.message)) == describe(query),
            "RankRequest mapping is not stable across re-encoding"
        )
    }
    checkPageToken(query.pageToken)

    // A response carrying the request's strings and numbers encodes and decodes back unchanged.
    let items = query.candidates.map { candidate in
        RankedEntry(
            itemID: candidate.itemID,
            score: candidate.features.first?.1 ?? query.context.latitude,
            modelScore: candidate.features.last?.1 ?? query.context.longitude,
            venueID: query.userID,
            sources: query.excludeItemIDs,
            features: query.explain ? candidate.features : []
        )
    }
    let result = RankResult(
        items: items,
        modelVersion: query.surface,
        variant: query.context.market,
        degraded: query.explain,
        degradedStages: query.excludeItemIDs,
        timings: [Ranking.StageTiming(stage: query.context.locale, micros: query.context.requestTimeUnixMs)],
        nextPageToken: query.pageToken
    )
    let encoded = ContractMapping.encode(result)
    guard let response = decode(encoded, as: ranking__v1__rank_response__init) else {
        fail("an encoded RankResponse does not decode")
    }
    let r = response.message
    check(describe(rankedEntries(r.items, count: r.n_items)) == describe(items), "RankResponse items do not round-trip")
    check(
        ProtoC.string(r.model_version) == result.modelVersion && ProtoC.string(r.variant) == result.variant
            && (r.degraded != 0) == result.degraded && ProtoC.string(r.next_page_token) == result.nextPageToken,
        "RankResponse scalars do not round-trip"
    )
    check(
        ProtoC.array(r.degraded_stages, count: r.n_degraded_stages) { ProtoC.string($0) } == result.degradedStages,
        "RankResponse degraded_stages do not round-trip"
    )
    check(
        describe(stageTimings(r.timings, count: r.n_timings)) == describe(result.timings),
        "RankResponse timings do not round-trip"
    )
}

private func checkRecommend(_ body: [UInt8]) {
    guard let decoded = decode(body, as: ranking__v1__recommend_request__init) else { return }
    let message = decoded.message
    let query = ContractMapping.recommendQuery(message)
    check(query.excludeItemIDs.count == message.n_exclude_item_ids, "exclude_item_ids lost")
    check(query.limit == Int(message.limit), "limit \(message.limit) mapped to \(query.limit)")
    if message.context == nil {
        check(describe(query.context) == describe(RequestContext()), "no context, not the defaults")
    }

    if !hasFieldNumberZero(message.base) && !hasFieldNumberZero(message.context) {
        let reencoded = ProtoC.encode(UnsafePointer(decoded.pointer))
        guard let again = decode(reencoded, as: ranking__v1__recommend_request__init) else {
            fail("a decoded RecommendRequest re-encodes to bytes that do not decode")
        }
        check(
            describe(ContractMapping.recommendQuery(again.message)) == describe(query),
            "RecommendRequest mapping is not stable across re-encoding"
        )
    }

    let items = query.excludeItemIDs.map { id in
        RankedEntry(
            itemID: id,
            score: query.context.latitude,
            modelScore: query.context.longitude,
            venueID: query.venueID,
            sources: [query.surface, query.context.device],
            features: query.explain ? [(query.context.requestID, query.context.latitude)] : []
        )
    }
    let section = RecommendSection(
        key: query.surface,
        title: query.userID,
        items: items,
        modelVersion: query.context.market,
        variant: query.context.locale,
        degraded: query.explain,
        degradedStages: [query.venueID],
        timings: [Ranking.StageTiming(stage: query.context.device, micros: Int64(query.limit))]
    )
    let encoded = ContractMapping.encode(section)
    guard let response = decode(encoded, as: ranking__v1__recommend_response__init) else {
        fail("an encoded RecommendResponse does not decode")
    }
    let r = response.message
    check(
        ProtoC.string(r.section) == section.key && ProtoC.string(r.title) == section.title
            && ProtoC.string(r.model_version) == section.modelVersion && ProtoC.string(r.variant) == section.variant
            && (r.degraded != 0) == section.degraded,
        "RecommendResponse scalars do not round-trip"
    )
    check(
        describe(rankedEntries(r.items, count: r.n_items)) == describe(items),
        "RecommendResponse items do not round-trip"
    )
    check(
        ProtoC.array(r.degraded_stages, count: r.n_degraded_stages) { ProtoC.string($0) } == section.degradedStages,
        "RecommendResponse degraded_stages do not round-trip"
    )
    check(
        describe(stageTimings(r.timings, count: r.n_timings)) == describe(section.timings),
        "RecommendResponse timings do not round-trip"
    )
}
