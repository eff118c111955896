import CRankingProto
import H2GRPC
import ProtoSupport
import Ranking
import Testing

@testable import RankdService

/// RecommendRequest's context_item_ids and category: mapped onto the query, and every refusal of them a gRPC status
/// with a readable message.
@Suite("Category and cart over the contract", .serialized)
struct SurfaceContractTests {
    static func request(
        _ arena: ProtoArena,
        surface: String,
        category: String = "",
        cart: [String] = []
    ) -> Ranking__V1__RecommendRequest {
        var request = Ranking__V1__RecommendRequest()
        ranking__v1__recommend_request__init(&request)
        request.user_id = arena.string("u3")
        request.context = RankingServiceTests.lunchtime(arena)
        request.surface = arena.string(surface)
        request.category = arena.string(category)
        request.n_context_item_ids = cart.count
        request.context_item_ids = arena.array(cart.map { Optional(arena.string($0)) })
        return request
    }

    static func call(
        _ harness: RankingServiceTests.Harness,
        _ request: inout Ranking__V1__RecommendRequest
    ) -> (status: GRPCStatus, items: [(id: String, venue: String)]) {
        let collected = RankingServiceTests.Collected()
        let result = harness.client.serverStreaming(
            ClientRequest(
                path: "/ranking.v1.RankingService/Recommend",
                message: ProtoC.encode(&request),
                timeoutNanoseconds: 30_000_000_000
            )
        ) { collected.append($0) }
        var items: [(String, String)] = []
        for bytes in collected.all {
            guard let section = try? ProtoC.decode(bytes, as: ranking__v1__recommend_response__init) else { continue }
            for item in ProtoC.messages(section.message.items, count: section.message.n_items) {
                items.append((ProtoC.string(item.pointee.item_id), ProtoC.string(item.pointee.venue_id)))
            }
        }
        return (result.status, items)
    }

    @Test func contextItemIDsAndCategoryAreMappedOntoTheQuery() {
        let arena = ProtoArena()
        let request = Self.request(arena, surface: "cart", category: "thai", cart: ["i4", "i9", "i4"])
        let query = ContractMapping.recommendQuery(request)
        #expect(query.contextItemIDs == ["i4", "i9", "i4"])
        #expect(query.category == "thai")
        let empty = ContractMapping.recommendQuery(Self.request(arena, surface: "discovery"))
        #expect(empty.contextItemIDs.isEmpty && empty.category.isEmpty)
    }

    @Test func aCategoryPageAnswersOverTheWire() throws {
        let harness = try RankingServiceTests.Harness()
        let arena = ProtoArena()
        var request = Self.request(arena, surface: "category", category: "pizza")
        let (status, items) = Self.call(harness, &request)
        #expect(status.code == .ok)
        #expect(Set(items.map(\.id)).count == items.count)
    }

    @Test(
        arguments: [
            ("category", "sushis", [String](), "unknown category \"sushis\"; one of: pizza, burger, sushi"),
            ("category", "", [], "category is required for surface category"),
            ("discovery", "sushi", [], "surface discovery takes no category"),
            ("cart", "", [], "context_item_ids is required for surface cart"),
            ("cart", "", ["i1", "i99999999"], "1 of 2 are not items of the catalog: \"i99999999\""),
            ("cart", "", Array(repeating: "i1", count: 101), "101 context_item_ids is more than the 100"),
            ("discovery", "", ["i1"], "surface discovery takes no context_item_ids"),
        ]
    )
    func badInputsAreInvalidArgumentWithAMessage(
        surface: String,
        category: String,
        cart: [String],
        message: String
    )
        throws
    {
        let harness = try RankingServiceTests.Harness()
        let arena = ProtoArena()
        var request = Self.request(arena, surface: surface, category: category, cart: cart)
        let (status, items) = Self.call(harness, &request)
        #expect(status.code == .invalidArgument)
        #expect(status.message.contains(message), "\(status.message)")
        #expect(items.isEmpty)
    }
}
