import CRankingProto
import DemoDomains
import ProtoSupport
import Testing

@testable import RankLoad

@Suite("RequestMix")
struct RequestMixTests {
    @Test("the same seed draws the same requests; another seed draws others")
    func seedMakesItReproducible() {
        let first = RequestMix(method: .mixed(recommendShare: 0.5), seed: 7, poolSize: 64).makeWorkload()
        let again = RequestMix(method: .mixed(recommendShare: 0.5), seed: 7, poolSize: 64).makeWorkload()
        let other = RequestMix(method: .mixed(recommendShare: 0.5), seed: 8, poolSize: 64).makeWorkload()
        #expect(first.requests.map(\.message) == again.requests.map(\.message))
        #expect(first.requests.map(\.message) != other.requests.map(\.message))
    }

    @Test("a fixed request time reaches every context; by default the server's clock decides")
    func requestTimeIsCarried() throws {
        var mix = RequestMix(method: .mixed(recommendShare: 0.5), seed: 5, poolSize: 40)
        func times(_ workload: Workload) throws -> [Int64] {
            try workload.requests.map { request in
                if request.path == RequestMix.recommendPath {
                    let decoded = try ProtoC.decode(request.message, as: ranking__v1__recommend_request__init)
                    return decoded.message.context?.pointee.request_time_unix_ms ?? -1
                }
                let decoded = try ProtoC.decode(request.message, as: ranking__v1__rank_request__init)
                return decoded.message.context?.pointee.request_time_unix_ms ?? -1
            }
        }
        #expect(try times(mix.makeWorkload()).allSatisfy { $0 == 0 })
        mix.requestTimeUnixMs = 1_714_579_200_000
        #expect(try times(mix.makeWorkload()).allSatisfy { $0 == 1_714_579_200_000 })
    }

    @Test("Recommend requests name demo users and surfaces and decode as RecommendRequest")
    func recommendRequestsDecode() throws {
        let shape = DemoDataShape(userCount: 1000, venueCount: 100)
        let workload = RequestMix(method: .recommend, shape: shape, seed: 3, poolSize: 200).makeWorkload()
        var surfaces: [String: Int] = [:]
        var unknownUsers = 0
        for request in workload.requests {
            #expect(request.path == RequestMix.recommendPath)
            let decoded: DecodedMessage<Ranking__V1__RecommendRequest> = try ProtoC.decode(
                request.message,
                as: ranking__v1__recommend_request__init
            )
            let user = ProtoC.string(decoded.message.user_id)
            let number = Int(user.dropFirst()) ?? 0
            #expect(user.hasPrefix("u") && number >= 1)
            if number > 1000 { unknownUsers += 1 }
            let surface = ProtoC.string(decoded.message.surface)
            surfaces[surface, default: 0] += 1
            if surface == "venue_items" {
                let venue = Int(ProtoC.string(decoded.message.venue_id).dropFirst()) ?? 0
                #expect((1...100).contains(venue))
            }
        }
        #expect(Set(surfaces.keys) == ["discovery", "venue_items"])
        #expect(surfaces["discovery", default: 0] > surfaces["venue_items", default: 0])
        #expect(unknownUsers < 30)
    }

    @Test("Rank requests carry the asked number of distinct venue candidates")
    func rankCandidates() throws {
        let shape = DemoDataShape(userCount: 1000, venueCount: 5000)
        let workload = RequestMix(method: .rank, shape: shape, candidates: 500, seed: 1, poolSize: 4).makeWorkload()
        for request in workload.requests {
            let decoded: DecodedMessage<Ranking__V1__RankRequest> = try ProtoC.decode(
                request.message,
                as: ranking__v1__rank_request__init
            )
            let ids = ProtoC.messages(decoded.message.candidates, count: decoded.message.n_candidates).map {
                ProtoC.string($0.pointee.item_id)
            }
            #expect(ids.count == 500)
            #expect(Set(ids).count == 500)
            #expect(ids.allSatisfy { $0.hasPrefix("v") })
        }
    }

    @Test("the demo shape follows the demo generator's sizing rule")
    func demoShape() {
        #expect(DemoDataShape.demo(scale: 1) == DemoDataShape(userCount: 200_000, venueCount: 20_000))
        #expect(DemoDataShape.demo(scale: 5).userCount == 1_000_000)
        #expect(DemoDataShape.demo(scale: 0.0001) == DemoDataShape(userCount: 100, venueCount: 50))
        for scale in [0.0001, 0.02, 0.05, 1, 5] {
            let counts = MarketplaceDemo.counts(scale: scale)
            #expect(
                DemoDataShape.demo(scale: scale) == DemoDataShape(userCount: counts.users, venueCount: counts.venues)
            )
        }
    }

    /// The next_track requests of `mix`, decoded.
    static func listeningRequests(_ mix: RequestMix) throws -> [ListeningRequest] {
        try mix.makeWorkload().requests.map { request in
            #expect(request.path == RequestMix.recommendPath)
            let decoded = try ProtoC.decode(request.message, as: ranking__v1__recommend_request__init)
            let message = decoded.message
            let context = try #require(message.context?.pointee)
            return ListeningRequest(
                user: ProtoC.string(message.user_id),
                surface: ProtoC.string(message.surface),
                venue: ProtoC.string(message.venue_id),
                session: ProtoC.array(message.context_item_ids, count: message.n_context_item_ids) {
                    ProtoC.string($0)
                },
                excluded: ProtoC.array(message.exclude_item_ids, count: message.n_exclude_item_ids) {
                    ProtoC.string($0)
                },
                located: context.latitude != 0 || context.longitude != 0 || ProtoC.string(context.market) != "",
                sessionID: ProtoC.string(context.session_id),
                requestTime: context.request_time_unix_ms
            )
        }
    }

    struct ListeningRequest {
        var user: String
        var surface: String
        var venue: String
        var session: [String]
        var excluded: [String]
        var located: Bool
        var sessionID: String
        var requestTime: Int64
    }

    @Test("next_track requests name a listener and a session of 1 to 10 distinct tracks of the music demo")
    func nextTrackRequests() throws {
        var mix = RequestMix(method: .recommend, surface: "next_track", seed: 3, poolSize: 400)
        mix.musicShape = MusicDataShape(userCount: 2000, trackCount: 1000)
        mix.requestTimeUnixMs = 1_714_586_400_000
        let requests = try Self.listeningRequests(mix)
        var unknownUsers = 0
        for request in requests {
            #expect(request.surface == "next_track")
            let user = Int(request.user.dropFirst()) ?? 0
            #expect(request.user.hasPrefix("u") && user >= 1)
            if user > 2000 { unknownUsers += 1 }
            #expect((1...10).contains(request.session.count))
            #expect(Set(request.session).count == request.session.count, "a track twice in \(request.session)")
            for track in request.session + request.excluded {
                #expect(track.hasPrefix("t") && (1...1000).contains(Int(track.dropFirst()) ?? 0), "\(track)")
            }
            #expect(request.venue == "" && !request.located)
            #expect(request.sessionID != "")
            #expect(request.requestTime == 1_714_586_400_000)
        }
        #expect(Set(requests.map(\.session.count)) == Set(1...10))
        #expect(unknownUsers > 0 && unknownUsers < 30)
        #expect(requests.filter { !$0.excluded.isEmpty }.count < 80)
        #expect(try Self.listeningRequests(mix).map(\.session) == requests.map(\.session))
    }

    @Test("a music catalog smaller than a session plays all its tracks at most")
    func sessionsOfATinyCatalog() throws {
        var mix = RequestMix(method: .recommend, surface: "next_track", seed: 9, poolSize: 100)
        mix.musicShape = MusicDataShape(userCount: 1, trackCount: 3)
        let sessions = try Self.listeningRequests(mix).map(\.session)
        #expect(Set(sessions.map(\.count)) == [1, 2, 3])
        #expect(sessions.allSatisfy { Set($0).count == $0.count && Set($0).isSubset(of: ["t1", "t2", "t3"]) })
    }

    @Test("the music shape follows the music generator's sizing rule and track ids")
    func musicShape() {
        #expect(MusicDataShape.demo(scale: 1) == MusicDataShape(userCount: 100_000, trackCount: 50_000))
        for scale in [0.000_001, 0.02, 0.05, 1, 5] {
            let counts = MusicDemo.counts(scale: scale)
            #expect(
                MusicDataShape.demo(scale: scale) == MusicDataShape(userCount: counts.users, trackCount: counts.tracks)
            )
        }
        for index in [0, 1, 999, 49_999] { #expect(MusicDataShape.trackID(index) == MusicCatalog.trackID(index)) }
    }

    @Test(
        "next_track is the music demo's Recommend surface: any other method is refused, naming the fix",
        arguments: [
            RequestMix.Method.rank, .mixed(recommendShare: 0.7), .track, .health,
            .custom(path: "/grpc.testing.TestService/EmptyCall", message: []),
        ]
    )
    func nextTrackIsRecommendOnly(_ method: RequestMix.Method) {
        let mix = RequestMix(method: method, surface: "next_track")
        #expect(throws: LoadParsing.InvalidValue.self) { try mix.validate() }
        do {
            try mix.validate()
        } catch let error as LoadParsing.InvalidValue {
            #expect(error.description.contains("--surface next_track"))
            #expect(error.description.contains("--method recommend"))
        } catch {
            Issue.record("unexpected \(error)")
        }
        // The method alone is fine on the marketplace.
        #expect(throws: Never.self) { try RequestMix(method: method).validate() }
        #expect(throws: Never.self) { try RequestMix(method: method, surface: "discovery").validate() }
    }

    @Test("Recommend on next_track is accepted")
    func nextTrackRecommendIsValid() {
        #expect(throws: Never.self) { try RequestMix(method: .recommend, surface: "next_track").validate() }
    }

    @Test(
        "a seed keeps drawing the same marketplace requests, so runs compare across commits",
        arguments: [
            (RequestMix.Method.recommend, nil, UInt64(13_498_389_686_606_369_784)),
            (.recommend, "discovery", 15_241_940_554_685_334_698),
            (.recommend, "venue_items", 6_350_907_847_761_250_252),
            (.rank, nil, 11_645_019_085_958_050_557), (.mixed(recommendShare: 0.7), nil, 9_581_045_030_218_779_055),
            (.track, nil, 14_269_734_262_996_045_950),
        ]
    )
    func marketplaceDrawsArePinned(_ method: RequestMix.Method, _ surface: String?, _ digest: UInt64) {
        var mix = RequestMix(method: method, surface: surface, seed: 2, poolSize: 512)
        mix.requestTimeUnixMs = 1_714_586_400_000
        #expect(Self.digest(mix.makeWorkload()) == digest)
    }

    /// FNV-1a over every request's path and message, in pool order.
    static func digest(_ workload: Workload) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for request in workload.requests {
            for byte in Array(request.path.utf8) + request.message {
                hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
            }
        }
        return hash
    }
}
