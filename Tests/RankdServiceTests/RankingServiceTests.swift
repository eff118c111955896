import CRankingProto
import CatalogLoading
import Foundation
import H2GRPC
import ProtoSupport
import Ranking
import Testing

@testable import RankdService

/// RankingService served by H2GRPC over loopback with a small demo engine: the contract mapping in both directions
/// and the mapping of pipeline errors onto gRPC statuses.
@Suite("RankingService over loopback", .serialized)
struct RankingServiceTests {
    static let engine: RankingEngine = try! RankingEngine.demoThroughSnapshot(seed: 42, scale: 0.02)

    /// A request context at a fixed weekday evening (Wednesday 2026-06-10 18:00 UTC, dinner time in the demo cities): the demo venues keep opening
    /// hours, so a test that used the wall clock would find most of them closed at night.
    static func lunchtime(_ arena: ProtoArena) -> UnsafeMutablePointer<Ranking__V1__Context> {
        var context = Ranking__V1__Context()
        ranking__v1__context__init(&context)
        context.request_time_unix_ms = 1_781_114_400_000
        return arena.make(context)
    }

    final class Harness {
        let handlers: RankingServiceHandlers
        let server: Server
        let client: ClientConnection

        init(
            loaded: Bool = true,
            testHooks: Bool = true,
            configure: (inout ServerConfiguration) -> Void = { _ in }
        ) throws {
            handlers = RankingServiceHandlers(testHooks: testHooks)
            if loaded { handlers.engine = RankingServiceTests.engine }
            var configuration = ServerConfiguration()
            configuration.port = 0
            configuration.ioThreads = 1
            configuration.logLevel = .error
            // These tests are about the contract mapping; admission control has its own tests (WorkerPoolTests).
            configuration.queueBudgetMilliseconds = 10_000
            configure(&configuration)
            server = try Server(configuration: configuration, services: [handlers.definition])
            try server.start()
            client = try ClientConnection(host: "127.0.0.1", port: server.port)
        }

        deinit {
            client.close()
            server.shutdown(gracePeriod: 1)
        }

        func recommendedIDs(user: String) throws -> [String] {
            let arena = ProtoArena()
            var request = Ranking__V1__RecommendRequest()
            ranking__v1__recommend_request__init(&request)
            request.user_id = arena.string(user)
            request.context = RankingServiceTests.lunchtime(arena)
            request.surface = arena.string("discovery")
            let collected = Collected()
            let result = client.serverStreaming(
                ClientRequest(
                    path: "/ranking.v1.RankingService/Recommend",
                    message: ProtoC.encode(&request),
                    timeoutNanoseconds: 30_000_000_000
                )
            ) { collected.append($0) }
            try #require(result.status.code == .ok)
            return try collected.all.flatMap { bytes in
                let section = try ProtoC.decode(bytes, as: ranking__v1__recommend_response__init)
                return ProtoC.messages(section.message.items, count: section.message.n_items).map {
                    ProtoC.string($0.pointee.item_id)
                }
            }
        }

        func rank(
            user: String,
            items: [String],
            limit: Int32 = 0,
            explain: Bool = false,
            metadata: Metadata = Metadata()
        ) -> (response: [UInt8]?, result: ClientCallResult) {
            let arena = ProtoArena()
            var request = Ranking__V1__RankRequest()
            ranking__v1__rank_request__init(&request)
            request.user_id = arena.string(user)
            request.context = RankingServiceTests.lunchtime(arena)
            request.surface = arena.string("discovery")
            request.limit = limit
            request.explain = explain ? 1 : 0
            let candidates: [UnsafeMutablePointer<Ranking__V1__Candidate>?] = items.map { id in
                var candidate = Ranking__V1__Candidate()
                ranking__v1__candidate__init(&candidate)
                candidate.item_id = arena.string(id)
                return arena.make(candidate)
            }
            request.n_candidates = candidates.count
            request.candidates = arena.array(candidates)
            return client.unary(
                ClientRequest(
                    path: "/ranking.v1.RankingService/Rank",
                    message: ProtoC.encode(&request),
                    metadata: metadata,
                    timeoutNanoseconds: 30_000_000_000
                )
            )
        }
    }

    @Test("Rank returns the caller's candidates, ordered by score, with the model version and explain vectors")
    func rankOrdersCandidates() throws {
        let harness = try Harness()
        // Venues the pipeline itself finds for this user are open and in range, so none is filtered out.
        let items = Array(try harness.recommendedIDs(user: "u3").shuffled().prefix(20))
        try #require(items.count >= 5)
        let (bytes, result) = harness.rank(user: "u3", items: items, explain: true)
        #expect(result.status.code == .ok)
        let response = try ProtoC.decode(try #require(bytes), as: ranking__v1__rank_response__init)
        let ranked = ProtoC.messages(response.message.items, count: response.message.n_items)
        #expect(!ranked.isEmpty)
        #expect(Set(ranked.map { ProtoC.string($0.pointee.item_id) }).isSubset(of: Set(items)))
        #expect(ranked.count == items.count)
        let scores = ranked.map(\.pointee.score)
        #expect(scores == scores.sorted(by: >))
        #expect(!ProtoC.string(response.message.model_version).isEmpty)
        #expect(ranked.allSatisfy { $0.pointee.n_features > 0 })
    }

    @Test("a negative limit is INVALID_ARGUMENT with a message that names the field")
    func negativeLimit() throws {
        let harness = try Harness()
        let (_, result) = harness.rank(user: "u1", items: ["v1"], limit: -1)
        #expect(result.status.code == .invalidArgument)
        #expect(result.status.message.contains("limit"))
    }

    @Test("an empty user id is INVALID_ARGUMENT")
    func emptyUser() throws {
        let harness = try Harness()
        let (_, result) = harness.rank(user: "", items: ["v1"])
        #expect(result.status.code == .invalidArgument)
        #expect(result.status.message.contains("user_id"))
    }

    @Test("before the engine is loaded, calls are UNAVAILABLE, not errors")
    func unavailableWhileLoading() throws {
        let harness = try Harness(loaded: false)
        let (_, result) = harness.rank(user: "u1", items: ["v1"])
        #expect(result.status.code == .unavailable)
    }

    @Test("a body that is not a RankRequest is INTERNAL")
    func garbageBody() throws {
        let harness = try Harness()
        let (_, result) = harness.client.unary(
            ClientRequest(path: "/ranking.v1.RankingService/Rank", message: [0xff, 0xff, 0xff, 0x07])
        )
        #expect(result.status.code == .internal)
    }

    @Test("x-echo- metadata comes back in the headers and x-echo-trailer- in the trailers")
    func metadataEcho() throws {
        let harness = try Harness()
        var metadata = Metadata()
        metadata.append("x-echo-one", "1")
        metadata.append("x-echo-trailer-two", "2")
        metadata.appendBinary("x-echo-three-bin", [0, 1, 2, 255])
        let (_, result) = harness.rank(user: "u1", items: ["v1"], metadata: metadata)
        #expect(result.status.code == .ok)
        #expect(result.headers.first("x-echo-one") == "1")
        #expect(result.headers.binaryValues("x-echo-three-bin") == [[0, 1, 2, 255]])
        #expect(result.trailers.first("x-echo-trailer-two") == "2")
    }

    @Test("without test hooks, x-echo- metadata is ignored")
    func noEchoWithoutTestHooks() throws {
        let harness = try Harness(testHooks: false)
        var metadata = Metadata()
        metadata.append("x-echo-one", "1")
        metadata.append("x-echo-trailer-two", "2")
        let (_, result) = harness.rank(user: "u1", items: ["v1"], metadata: metadata)
        #expect(result.status.code == .ok)
        #expect(result.headers.first("x-echo-one") == nil)
        #expect(result.trailers.first("x-echo-trailer-two") == nil)
    }

    @Test("echoed metadata too large for the response headers ends the call with INTERNAL, and the server serves on")
    func oversizedEchoFails() throws {
        let harness = try Harness { $0.maxHeaderListSize = 256 << 10 }
        var metadata = Metadata()
        metadata.append("x-echo-big", String(repeating: "x", count: 40_000))
        let (_, result) = harness.rank(user: "u1", items: ["v1"], metadata: metadata)
        #expect(result.status.code == .internal)
        #expect(result.status.message.contains("exceeds the limit"))
        var trailing = Metadata()
        trailing.append("x-echo-trailer-big", String(repeating: "y", count: 40_000))
        let (_, second) = harness.rank(user: "u1", items: ["v1"], metadata: trailing)
        #expect(second.status.code == .internal)
        let (_, third) = harness.rank(user: "u1", items: ["v1"])
        #expect(third.status.code == .ok)
    }

    @Test("a status message that echoes a 100 KB field is cut to about a kilobyte")
    func longStatusMessageIsTruncated() throws {
        let harness = try Harness { $0.maxHeaderListSize = 256 << 10 }
        let arena = ProtoArena()
        var request = Ranking__V1__RankRequest()
        ranking__v1__rank_request__init(&request)
        request.user_id = arena.string("u1")
        request.surface = arena.string(String(repeating: "s", count: 100_000))
        let (_, result) = harness.client.unary(
            ClientRequest(
                path: "/ranking.v1.RankingService/Rank",
                message: ProtoC.encode(&request),
                timeoutNanoseconds: 30_000_000_000
            )
        )
        #expect(result.status.code == .notFound)
        #expect(result.status.message.utf8.count <= ResponseHeaders.maxStatusMessageBytes)
        #expect(result.status.message.hasSuffix("(truncated)"))
    }

    @Test("Recommend streams sections with no venue in two of them")
    func recommendSections() throws {
        let harness = try Harness()
        let arena = ProtoArena()
        var request = Ranking__V1__RecommendRequest()
        ranking__v1__recommend_request__init(&request)
        request.user_id = arena.string("u3")
        request.context = Self.lunchtime(arena)
        request.surface = arena.string("discovery")
        let collected = Collected()
        let result = harness.client.serverStreaming(
            ClientRequest(
                path: "/ranking.v1.RankingService/Recommend",
                message: ProtoC.encode(&request),
                timeoutNanoseconds: 30_000_000_000
            )
        ) { collected.append($0) }
        #expect(result.status.code == .ok)
        let sections = try collected.all.map { try ProtoC.decode($0, as: ranking__v1__recommend_response__init) }
        #expect(sections.count >= 2)
        var seen = Set<String>()
        for section in sections {
            for item in ProtoC.messages(section.message.items, count: section.message.n_items) {
                #expect(seen.insert(ProtoC.string(item.pointee.item_id)).inserted)
            }
        }
    }

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var messages: [[UInt8]] = []
        func append(_ message: [UInt8]) { lock.withLock { messages.append(message) } }
        var all: [[UInt8]] { lock.withLock { messages } }
    }
}

/// Which Rank and Recommend calls may run on the I/O thread while the workers are idle.
@Suite("RankingService calls run inline")
struct RankingServiceInlineTests {
    static func predicates(_ handlers: RankingServiceHandlers) -> [String: (@Sendable (Metadata) -> Bool)?] {
        Dictionary(uniqueKeysWithValues: handlers.definition.methods.map { ($0.name, $0.runsInlineWhenIdle) })
    }

    @Test("Rank and Recommend may run inline, except with a Redis online store, which the pipeline waits for")
    func remoteStoreKeepsCallsOnTheWorkers() {
        let local = Self.predicates(RankingServiceHandlers())
        #expect(Set(local.keys) == ["Rank", "Recommend"])
        for (_, predicate) in local { #expect(predicate?(Metadata()) == true) }
        let remote = Self.predicates(RankingServiceHandlers(storeIsRemote: true))
        for (_, predicate) in remote { #expect(predicate == nil) }
    }

    @Test("with test hooks, a call that asks the handler to wait goes to the workers; the rest may run inline")
    func delayHookKeepsTheCallOnTheWorkers() {
        var delayed = Metadata()
        delayed.append("rankd-test-delay-ms", "50")
        for (_, predicate) in Self.predicates(RankingServiceHandlers(testHooks: true)) {
            #expect(predicate?(Metadata()) == true)
            #expect(predicate?(delayed) == false)
        }
        // Without test hooks the metadata means nothing, so it changes nothing.
        for (_, predicate) in Self.predicates(RankingServiceHandlers()) { #expect(predicate?(delayed) == true) }
    }
}
