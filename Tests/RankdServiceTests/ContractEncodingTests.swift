import CRankingProto
import Foundation
import ProtoSupport
import Testing

@testable import RankdService
@testable import Ranking

/// The answers ContractMapping writes straight in the wire format, read back through protobuf-c's generated code:
/// every field of RecommendResponse, RankResponse and their nested messages.
@Suite("Answers in the wire format, read by protobuf-c")
struct ContractEncodingTests {
    /// Entries that use every field: explain vectors (a missing feature is NaN, a zero and a negative zero), display
    /// fields, several sources, ids longer than a small string, and one entry with everything empty or zero.
    static let entries: [RankedEntry] = [
        RankedEntry(
            itemID: "v12",
            score: 3.25,
            modelScore: -1.5,
            venueID: "v12",
            sources: ["nearby", "exploration"],
            features: [("distance_km", 1.2), ("user_venue_orders", .nan), ("zero", 0), ("negative_zero", -0.0)],
            display: [(name: "name", value: "Pizzeria Nápoli"), (name: "cuisine", value: "")]
        ),
        RankedEntry(
            itemID: String(repeating: "item-", count: 40),
            score: 0,
            modelScore: 0,
            venueID: "",
            sources: [],
            features: []
        ),
    ]

    static let timings = [StageTiming(stage: "candidates", micros: 120), StageTiming(stage: "score", micros: 0)]

    private static func checkItems(_ decoded: [UnsafeMutablePointer<Ranking__V1__RankedItem>]) {
        #expect(decoded.count == entries.count)
        for (item, entry) in zip(decoded.map(\.pointee), entries) {
            #expect(ProtoC.string(item.item_id) == entry.itemID)
            #expect(item.score.bitPattern == entry.score.bitPattern)
            #expect(item.model_score.bitPattern == entry.modelScore.bitPattern)
            #expect(ProtoC.string(item.venue_id) == entry.venueID)
            #expect(ProtoC.array(item.sources, count: item.n_sources) { ProtoC.string($0) } == entry.sources)
            let features = ProtoC.messages(item.features, count: item.n_features).map {
                (ProtoC.string($0.pointee.key), $0.pointee.value)
            }
            #expect(features.map(\.0) == entry.features.map(\.0))
            // Bit for bit: NaN stays NaN and a negative zero keeps its sign.
            #expect(features.map(\.1.bitPattern) == entry.features.map(\.1.bitPattern))
            let display = ProtoC.messages(item.display, count: item.n_display).map {
                (ProtoC.string($0.pointee.name), ProtoC.string($0.pointee.value))
            }
            #expect(display.map(\.0) == entry.display.map(\.name))
            #expect(display.map(\.1) == entry.display.map(\.value))
        }
    }

    private static func checkTimings(_ decoded: [UnsafeMutablePointer<Ranking__V1__StageTiming>]) {
        #expect(decoded.map { ProtoC.string($0.pointee.stage) } == timings.map(\.stage))
        #expect(decoded.map(\.pointee.micros) == timings.map(\.micros))
    }

    @Test("a Recommend section: every field, nested items, timings and degraded stages")
    func recommendSection() throws {
        let section = RecommendSection(
            key: "for_you",
            title: "For you",
            items: Self.entries,
            modelVersion: "discovery-lgbm.txt#fnv1a64:0123456789abcdef",
            variant: "treatment",
            degraded: true,
            degradedStages: ["rerank", ""],
            timings: Self.timings
        )
        let bytes = ContractMapping.encode(section)
        let decoded = try ProtoC.decode(bytes, as: ranking__v1__recommend_response__init)
        let message = decoded.message
        #expect(ProtoC.string(message.section) == "for_you")
        #expect(ProtoC.string(message.title) == "For you")
        Self.checkItems(ProtoC.messages(message.items, count: message.n_items))
        #expect(ProtoC.string(message.model_version) == section.modelVersion)
        #expect(ProtoC.string(message.variant) == "treatment")
        #expect(message.degraded != 0)
        #expect(
            ProtoC.array(message.degraded_stages, count: message.n_degraded_stages) { ProtoC.string($0) } == [
                "rerank", "",
            ]
        )
        Self.checkTimings(ProtoC.messages(message.timings, count: message.n_timings))
    }

    @Test("an empty section is an empty message")
    func emptySection() throws {
        let section = RecommendSection(
            key: "",
            title: "",
            items: [],
            modelVersion: "",
            variant: "",
            degraded: false,
            degradedStages: [],
            timings: []
        )
        #expect(ContractMapping.encode(section).isEmpty)
    }

    @Test("a Rank answer: items, page token and the drop counts")
    func rankResult() throws {
        var result = RankResult(
            items: Self.entries,
            modelVersion: "items-lgbm.txt#fnv1a64:0123456789abcdef",
            variant: "control",
            degraded: false,
            degradedStages: [],
            timings: Self.timings,
            nextPageToken: "page-2"
        )
        result.dropped = [(.excluded, 2), (.outOfDeliveryRange, 300)]
        let decoded = try ProtoC.decode(ContractMapping.encode(result), as: ranking__v1__rank_response__init)
        let message = decoded.message
        Self.checkItems(ProtoC.messages(message.items, count: message.n_items))
        #expect(ProtoC.string(message.model_version) == result.modelVersion)
        #expect(ProtoC.string(message.variant) == "control")
        #expect(message.degraded == 0)
        #expect(message.n_degraded_stages == 0)
        Self.checkTimings(ProtoC.messages(message.timings, count: message.n_timings))
        #expect(ProtoC.string(message.next_page_token) == "page-2")
        let dropped = ProtoC.messages(message.dropped, count: message.n_dropped).map {
            (ProtoC.string($0.pointee.reason), $0.pointee.count)
        }
        #expect(dropped.map(\.0) == ["excluded", DropReason.outOfDeliveryRange.rawValue])
        #expect(dropped.map(\.1) == [2, 300])
    }

    @Test("a long answer: lengths past one varint byte at every level")
    func longAnswer() throws {
        let entry = RankedEntry(
            itemID: String(repeating: "x", count: 300),
            score: 1,
            modelScore: 1,
            venueID: "v1",
            sources: [],
            features: (0..<40).map { ("feature_\($0)", Double($0)) }
        )
        let section = RecommendSection(
            key: "popular",
            title: String(repeating: "t", count: 200),
            items: Array(repeating: entry, count: 100),
            modelVersion: "m",
            variant: "",
            degraded: false,
            degradedStages: [],
            timings: []
        )
        let decoded = try ProtoC.decode(ContractMapping.encode(section), as: ranking__v1__recommend_response__init)
        let items = ProtoC.messages(decoded.message.items, count: decoded.message.n_items)
        #expect(items.count == 100)
        #expect(items.allSatisfy { ProtoC.string($0.pointee.item_id).count == 300 && $0.pointee.n_features == 40 })
        #expect(ProtoC.string(decoded.message.title).count == 200)
    }
}
