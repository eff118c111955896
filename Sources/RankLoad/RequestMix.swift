import CRankingProto
import DemoDomains
import Foundation
import ProtoSupport
import Ranking

/// One request a run can send: the method and the encoded message, made before the run so the hot path only picks.
public struct LoadRequest: Sendable {
    /// "/package.Service/Method".
    public var path: String
    /// The serialized request message.
    public var message: [UInt8]

    /// Creates a request.
    public init(path: String, message: [UInt8]) {
        self.path = path
        self.message = message
    }
}

/// The requests of a run: a pool drawn once from a seed, sent round-robin so request `i` is always the same one
/// and two runs with the same seed send the same sequence.
public struct Workload: Sendable {
    /// A short description for reports, e.g. "recommend (demo mix, seed 1)".
    public let name: String
    /// The pool, never empty.
    public let requests: [LoadRequest]
    /// The method most requests call, for reports.
    public let primaryPath: String

    /// Creates a workload from a non-empty pool.
    public init(name: String, requests: [LoadRequest]) {
        precondition(!requests.isEmpty, "a workload needs at least one request")
        self.name = name
        self.requests = requests
        var counts: [String: Int] = [:]
        for request in requests { counts[request.path, default: 0] += 1 }
        primaryPath = counts.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }!.key
    }

    /// The request sent as the run's `index`-th.
    @inline(__always)
    public func request(at index: Int) -> LoadRequest { requests[index % requests.count] }
}

/// The size of the demo marketplace rankd serves, so generated ids exist on the server: users u1...uN, venues
/// v1...vM in the cities of the demo (`MarketplaceVocabulary.cities`).
public struct DemoDataShape: Sendable, Equatable {
    /// Number of users.
    public var userCount: Int
    /// Number of venues.
    public var venueCount: Int

    /// Creates a shape.
    public init(userCount: Int, venueCount: Int) {
        precondition(userCount > 0 && venueCount > 0, "the demo data has users and venues")
        self.userCount = userCount
        self.venueCount = venueCount
    }

    /// The shape of the demo marketplace `rankd --scale` serves: the demo generator's sizing rule (200,000 users and
    /// 20,000 venues at scale 1, at least 100 and 50), restated here so a load generator needs no generator
    /// (RankLoadTests checks the two agree).
    public static func demo(scale: Double = 1) -> DemoDataShape {
        DemoDataShape(
            userCount: max(100, Int(200_000 * scale)),
            venueCount: max(50, Int(20_000 * scale))
        )
    }
}

/// The size of the music demo rankd serves from the snapshot `rankctl demo-data --domain music --scale S` writes,
/// so generated ids exist on the server: listeners u1...uN, tracks t1...tM.
public struct MusicDataShape: Sendable, Equatable {
    /// Number of listeners.
    public var userCount: Int
    /// Number of tracks.
    public var trackCount: Int

    /// Creates a shape.
    public init(userCount: Int, trackCount: Int) {
        precondition(userCount > 0 && trackCount > 0, "the music demo has listeners and tracks")
        self.userCount = userCount
        self.trackCount = trackCount
    }

    /// The shape of the music demo at `scale`: the music generator's sizing rule (100,000 listeners and 50,000
    /// tracks at scale 1, at least one of each), restated here so a load generator needs no generator (RankLoadTests
    /// checks the two agree).
    public static func demo(scale: Double = 1) -> MusicDataShape {
        func count(_ base: Double) -> Int { max(1, Int((base * scale).rounded())) }
        return MusicDataShape(userCount: count(100_000), trackCount: count(50_000))
    }

    /// The id of track `index`, numbered from t1 as the music demo numbers them.
    public static func trackID(_ index: Int) -> String { "t\(index + 1)" }
}

/// A realistic mix of ranking requests over the demo data: known and unknown users, home and explicit locations in
/// every city, both surfaces, both methods, drawn from a seed. Forced to ``musicSurface``, Recommend asks the music
/// demo what plays next after a listening session instead.
public struct RequestMix: Sendable {
    /// What the requests call.
    public enum Method: Sendable, Equatable {
        /// ranking.v1.RankingService/Recommend (server streaming): discovery and venue_items surfaces, or next_track
        /// on the music demo.
        case recommend
        /// ranking.v1.RankingService/Rank: the caller's venue candidates on the discovery surface.
        case rank
        /// Recommend and Rank together, `recommendShare` of them Recommend.
        case mixed(recommendShare: Double)
        /// grpc.health.v1.Health/Check with an empty service name: the transport alone.
        case health
        /// ranking.v1.EventService/Track: batches of ``RequestMix/eventsPerRequest`` events of demo users on demo
        /// venues (60% impressions, 25% clicks, 10% views, 5% orders), each with an id of its own in the pool.
        case track
        /// Any method with a fixed message (hex-encoded on the command line), e.g. grpc.testing.TestService/EmptyCall.
        case custom(path: String, message: [UInt8])
    }

    /// The gRPC path of Recommend.
    public static let recommendPath = "/ranking.v1.RankingService/Recommend"
    /// The gRPC path of Rank.
    public static let rankPath = "/ranking.v1.RankingService/Rank"
    /// The gRPC path of the health check.
    public static let healthPath = "/grpc.health.v1.Health/Check"
    /// The gRPC path of Track.
    public static let trackPath = "/ranking.v1.EventService/Track"
    /// The music demo's surface: what plays next after the tracks of a listening session.
    public static let musicSurface = "next_track"
    /// Most tracks of a listening session sent as next_track's context (the playing one and the recent ones), as the
    /// music app sends them.
    public static let maxSessionTracks = 10

    /// What the requests call.
    public var method: Method
    /// Demo data the ids are drawn from.
    public var shape: DemoDataShape
    /// The music demo the ids of ``musicSurface`` requests are drawn from.
    public var musicShape: MusicDataShape = .demo()
    /// Candidates per Rank request.
    public var candidates: Int
    /// A fixed surface for every request, or nil for the realistic mix (Recommend: 80% discovery, 20% venue_items).
    /// ``musicSurface`` draws from ``musicShape`` and is Recommend only.
    public var surface: String?
    /// Seed of the draw.
    public var seed: UInt64
    /// Distinct requests drawn; the run cycles through them.
    public var poolSize: Int
    /// Request time written into every context, Unix milliseconds; 0 leaves it to the server's clock. A fixed time
    /// makes a run's work independent of the hour it runs at (at night most venues are closed).
    public var requestTimeUnixMs: Int64 = 0
    /// Events per Track request.
    public var eventsPerRequest = 20

    /// Creates a mix.
    public init(
        method: Method,
        shape: DemoDataShape = .demo(),
        candidates: Int = 100,
        surface: String? = nil,
        seed: UInt64 = 1,
        poolSize: Int = 4096
    ) {
        self.method = method
        self.shape = shape
        self.candidates = candidates
        self.surface = surface
        self.seed = seed
        self.poolSize = poolSize
    }

    /// Parses a `--method` value: recommend, rank, mixed, health, or a full "package.Service/Method" path.
    public static func method(named name: String, payload: [UInt8] = []) throws -> Method {
        switch name.lowercased() {
        case "recommend", "ranking.v1.rankingservice/recommend", "/ranking.v1.rankingservice/recommend":
            return .recommend
        case "rank", "ranking.v1.rankingservice/rank", "/ranking.v1.rankingservice/rank": return .rank
        case "mixed", "mix": return .mixed(recommendShare: 0.7)
        case "health", "grpc.health.v1.health/check", "/grpc.health.v1.health/check": return .health
        case "track", "ranking.v1.eventservice/track", "/ranking.v1.eventservice/track": return .track
        default:
            let path = name.hasPrefix("/") ? name : "/" + name
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 3, parts[1].contains("."), !parts[2].isEmpty else {
                throw LoadParsing.InvalidValue(
                    description: "unknown method \"\(name)\": use recommend, rank, mixed, health, track, or a full "
                        + "package.Service/Method path (with --payload-hex for its message)"
                )
            }
            return .custom(path: path, message: payload)
        }
    }

    /// Checks that the mix can be drawn as asked; the error names the options to change.
    public func validate() throws {
        if surface == Self.musicSurface, method != .recommend {
            throw LoadParsing.InvalidValue(
                description: "--surface \(Self.musicSurface) is the music demo's and answers Recommend only: use "
                    + "--method recommend"
            )
        }
    }

    /// Draws the pool of a mix that ``validate()`` accepts.
    public func makeWorkload() -> Workload {
        precondition((try? validate()) != nil, "makeWorkload() of a mix that validate() refuses")
        var random = MixRandom(seed: seed)
        var requests: [LoadRequest] = []
        let count = max(1, poolSize)
        requests.reserveCapacity(count)
        let label: String
        switch method {
        case .recommend:
            label = "recommend"
            for index in 0..<count { requests.append(recommend(&random, index)) }
        case .rank:
            label = "rank (\(candidates) candidates)"
            for index in 0..<count { requests.append(rank(&random, index)) }
        case .mixed(let share):
            label = "mixed (\(Int((share * 100).rounded()))% recommend, rank with \(candidates) candidates)"
            for index in 0..<count {
                requests.append(random.unit() < share ? recommend(&random, index) : rank(&random, index))
            }
        case .health:
            label = "health check"
            var message = Grpc__Health__V1__HealthCheckRequest()
            grpc__health__v1__health_check_request__init(&message)
            requests.append(LoadRequest(path: Self.healthPath, message: ProtoC.encode(&message)))
        case .custom(let path, let message):
            label = path
            requests.append(LoadRequest(path: path, message: message))
        case .track:
            label = "track (\(eventsPerRequest) events per request)"
            for index in 0..<count { requests.append(track(&random, index)) }
        }
        let surfaceNote = surface.map { ", surface \($0)" } ?? ""
        return Workload(name: "\(label)\(surfaceNote), seed \(seed)", requests: requests)
    }

    // MARK: Drawing

    /// One of `count` users, u1...; both demos number their users the same way.
    private func user(_ random: inout MixRandom, of count: Int) -> String {
        // A few users the server has never seen, so the cold-start path is part of the traffic as in production.
        if random.unit() < 0.03 { return Catalog.userID(count + random.below(1_000_000)) }
        return Catalog.userID(random.below(count))
    }

    /// Fills a context. Marketplace requests (`located`): 60% "use my home location" (0, 0), else a point within
    /// ~5 km of a city centre chosen by the cities' traffic weights, half of those with the market code. Music
    /// requests carry no location but the app session they belong to.
    private func context(
        _ random: inout MixRandom,
        arena: ProtoArena,
        index: Int,
        located: Bool = true
    ) -> UnsafeMutablePointer<
        Ranking__V1__Context
    > {
        var context = Ranking__V1__Context()
        ranking__v1__context__init(&context)
        if !located {
            context.session_id = arena.string("load-session-\(seed)-\(index)")
        } else if random.unit() >= 0.6 {
            let city = pickCity(&random)
            let kmPerDegree = 110.574
            context.latitude = city.latitude + (random.unit() - 0.5) * 10 / kmPerDegree
            context.longitude =
                city.longitude + (random.unit() - 0.5) * 10 / (kmPerDegree * cos(city.latitude * .pi / 180))
            if random.unit() < 0.5 { context.market = arena.string(city.market) }
        }
        let devices = ["ios", "ios", "android", "android", "web"]
        context.device = arena.string(devices[random.below(devices.count)])
        context.locale = arena.string("en-US")
        context.request_id = arena.string("load-\(seed)-\(index)")
        context.request_time_unix_ms = requestTimeUnixMs
        return arena.make(context)
    }

    private func pickCity(_ random: inout MixRandom) -> MarketplaceVocabulary.City {
        let cities = MarketplaceVocabulary.cities
        let total = cities.reduce(0) { $0 + $1.weight }
        var draw = random.unit() * total
        for city in cities {
            draw -= city.weight
            if draw < 0 { return city }
        }
        return cities[cities.count - 1]
    }

    /// A Recommend request of the surface's domain: the marketplace's users and venues, or for ``musicSurface`` the
    /// music demo's listeners and tracks with a listening session as context. The draws of marketplace requests stay
    /// in their order, so a seed keeps naming the same marketplace requests.
    private func recommend(_ random: inout MixRandom, _ index: Int) -> LoadRequest {
        let arena = ProtoArena()
        var message = Ranking__V1__RecommendRequest()
        ranking__v1__recommend_request__init(&message)
        let listening = surface == Self.musicSurface
        message.user_id = arena.string(user(&random, of: listening ? musicShape.userCount : shape.userCount))
        let chosen = surface ?? (random.unit() < 0.8 ? "discovery" : "venue_items")
        message.surface = arena.string(chosen)
        message.context = context(&random, arena: arena, index: index, located: !listening)
        if chosen == "venue_items" { message.venue_id = arena.string(Catalog.venueID(random.below(shape.venueCount))) }
        let itemCount = listening ? musicShape.trackCount : shape.venueCount
        let itemID: (Int) -> String = listening ? MusicDataShape.trackID : Catalog.venueID
        if listening {
            let session = listeningSession(&random).map { Optional(arena.string(MusicDataShape.trackID($0))) }
            message.n_context_item_ids = session.count
            message.context_item_ids = arena.array(session)
        }
        if random.unit() < 0.1 { message.limit = 10 }
        if random.unit() < 0.1 {
            let excluded = (0..<3).map { _ in arena.string(itemID(random.below(itemCount))) }
            message.n_exclude_item_ids = excluded.count
            message.exclude_item_ids = arena.array(excluded.map { Optional($0) })
        }
        return LoadRequest(path: Self.recommendPath, message: ProtoC.encode(&message))
    }

    /// The tracks of a listening session, the playing one first: 1...``maxSessionTracks`` distinct tracks of the
    /// catalog (at most all of them), each length equally likely. rank-load cannot read the catalog, so the tracks
    /// are uniform over it rather than of one mood.
    private func listeningSession(_ random: inout MixRandom) -> [Int] {
        let length = 1 + random.below(min(Self.maxSessionTracks, musicShape.trackCount))
        var played = Set<Int>()
        var session: [Int] = []
        session.reserveCapacity(length)
        while session.count < length {
            let track = random.below(musicShape.trackCount)
            if played.insert(track).inserted { session.append(track) }
        }
        return session
    }

    private func track(_ random: inout MixRandom, _ index: Int) -> LoadRequest {
        let arena = ProtoArena()
        let kinds: [(Double, Ranking__V1__EventKind)] = [
            (0.6, RANKING__V1__EVENT_KIND__EVENT_KIND_IMPRESSION), (0.85, RANKING__V1__EVENT_KIND__EVENT_KIND_CLICK),
            (0.95, RANKING__V1__EVENT_KIND__EVENT_KIND_VIEW), (1.0, RANKING__V1__EVENT_KIND__EVENT_KIND_ORDER),
        ]
        var events: [UnsafeMutablePointer<Ranking__V1__Event>?] = []
        events.reserveCapacity(eventsPerRequest)
        let user = self.user(&random, of: shape.userCount)
        for k in 0..<eventsPerRequest {
            var event = Ranking__V1__Event()
            ranking__v1__event__init(&event)
            event.event_id = arena.string("load-\(seed)-\(index)-\(k)")
            event.user_id = arena.string(user)
            event.session_id = arena.string("load-session-\(index / 8)")
            let draw = random.unit()
            event.kind = kinds.first { draw < $0.0 }?.1 ?? RANKING__V1__EVENT_KIND__EVENT_KIND_IMPRESSION
            event.item_id = arena.string(Catalog.venueID(random.below(shape.venueCount)))
            event.surface = arena.string("discovery")
            event.request_id = arena.string("load-\(seed)-\(index)")
            event.position = Int32(k)
            events.append(arena.make(event))
        }
        var message = Ranking__V1__TrackRequest()
        ranking__v1__track_request__init(&message)
        message.n_events = events.count
        message.events = arena.array(events)
        return LoadRequest(path: Self.trackPath, message: ProtoC.encode(&message))
    }

    private func rank(_ random: inout MixRandom, _ index: Int) -> LoadRequest {
        let arena = ProtoArena()
        var message = Ranking__V1__RankRequest()
        ranking__v1__rank_request__init(&message)
        message.user_id = arena.string(user(&random, of: shape.userCount))
        message.surface = arena.string(surface ?? "discovery")
        message.context = context(&random, arena: arena, index: index)
        message.limit = 20
        let count = min(candidates, shape.venueCount)
        var chosen = Set<Int>()
        var candidatePointers: [UnsafeMutablePointer<Ranking__V1__Candidate>?] = []
        candidatePointers.reserveCapacity(count)
        while candidatePointers.count < count {
            let venue = random.below(shape.venueCount)
            guard chosen.insert(venue).inserted else { continue }
            var candidate = Ranking__V1__Candidate()
            ranking__v1__candidate__init(&candidate)
            candidate.item_id = arena.string(Catalog.venueID(venue))
            candidatePointers.append(arena.make(candidate))
        }
        message.n_candidates = candidatePointers.count
        message.candidates = arena.array(candidatePointers)
        return LoadRequest(path: Self.rankPath, message: ProtoC.encode(&message))
    }
}

/// SplitMix64: a seeded generator whose sequence is the same on every machine, so a seed names a request mix.
struct MixRandom {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// Uniform in [0, bound).
    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
