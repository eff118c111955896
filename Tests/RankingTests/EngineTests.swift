import Dispatch
import Testing

@testable import Ranking

@Suite struct EngineValidationTests {
    static let engine = Fixture.engine
    static func rank(_ q: RankQuery) throws -> RankResult {
        try engine.rank(q, deadline: Fixture.unhurried, isCancelled: Fixture.never)
    }

    @Test func anEmptyUserIDIsRejected() {
        #expect(throws: RankingError.invalidArgument("user_id is required")) {
            try Self.rank(RankQuery(userID: "", surface: "discovery", candidates: []))
        }
    }

    @Test func anUnknownSurfaceIsNotFoundAndListsTheKnownOnes() {
        #expect(
            throws: RankingError.notFound(
                "unknown surface \"home\"; known surfaces: cart, category, discovery, venue_items"
            )
        ) {
            try Self.rank(RankQuery(userID: "u1", surface: "home", candidates: []))
        }
    }

    @Test(arguments: [-1, 201, 100_000])
    func limitsOutsideTheSurfaceRangeAreRejected(limit: Int) {
        #expect(throws: RankingError.self) {
            try Self.rank(RankQuery(userID: "u1", surface: "discovery", candidates: [], limit: limit))
        }
    }

    @Test func tooManyCandidatesAreRejected() {
        let many = (0..<2_001).map { CandidateInput(itemID: "v\($0 + 1)") }
        #expect(throws: RankingError.self) {
            try Self.rank(RankQuery(userID: "u1", surface: "discovery", candidates: many))
        }
    }

    @Test(arguments: [Double.nan, .infinity])
    func nonFiniteFeatureOverridesAreRejected(value: Double) {
        #expect(throws: RankingError.self) {
            try Self.rank(
                RankQuery(
                    userID: "u1",
                    surface: "discovery",
                    candidates: [CandidateInput(itemID: "v1", features: [("venue_rating", value)])]
                )
            )
        }
    }

    @Test func unknownFeatureNamesAndMalformedIDsAreRejected() {
        #expect(throws: RankingError.self) {
            try Self.rank(
                RankQuery(
                    userID: "u1",
                    surface: "discovery",
                    candidates: [CandidateInput(itemID: "v1", features: [("ratng", 1)])]
                )
            )
        }
        #expect(throws: RankingError.self) {
            try Self.rank(RankQuery(userID: "u1", surface: "discovery", candidates: [CandidateInput(itemID: "i1")]))
        }
    }

    @Test func venueItemsNeedsAKnownVenue() {
        #expect(throws: RankingError.invalidArgument("venue_id is required for surface venue_items")) {
            try Fixture.sections(Self.engine, RecommendQuery(userID: "u1", surface: "venue_items"))
        }
        #expect(throws: RankingError.notFound("unknown venue v999999")) {
            try Fixture.sections(Self.engine, RecommendQuery(userID: "u1", surface: "venue_items", venueID: "v999999"))
        }
    }

    @Test func aPassedDeadlineAndCancellationAreReported() {
        #expect(throws: RankingError.deadlineExceeded) {
            try Self.engine.recommendList(Fixture.discovery(user: 1), deadline: .now(), isCancelled: Fixture.never)
        }
        #expect(throws: RankingError.cancelled) {
            try Self.engine.recommendList(Fixture.discovery(user: 1), deadline: nil, isCancelled: { true })
        }
    }

    @Test(arguments: [Int64(-1), Int64.max])
    func requestTimesOutOfRangeAreRejected(time: Int64) {
        #expect(throws: RankingError.self) {
            try Self.rank(
                RankQuery(
                    userID: "u1",
                    surface: "discovery",
                    context: RequestContext(requestTimeUnixMs: time),
                    candidates: [CandidateInput(itemID: "v1")]
                )
            )
        }
    }

    @Test func aBadPageTokenIsRejected() {
        #expect(throws: RankingError.self) {
            try Self.rank(RankQuery(userID: "u1", surface: "discovery", candidates: [], pageToken: "nope"))
        }
    }
}

@Suite struct EngineBehaviourTests {
    @Test func recommendSendsDiscoverySectionsWithNoVenueTwice() throws {
        let sections = try Fixture.sections(Fixture.engine, Fixture.discovery(user: Fixture.berlinUser(minOrders: 4)))
        #expect(sections.first?.key == "for_you")
        #expect(sections.contains { $0.key == "order_again" })
        let ids = sections.flatMap { $0.items.map(\.itemID) }
        #expect(ids.count == Set(ids).count)
        let keys = sections.map(\.key)
        let configured = ["for_you", "order_again", "new_near_you", "popular_nearby"].filter(keys.contains)
        #expect(keys == configured)
    }

    @Test func anUnknownUserGetsAColdStartAnswer() throws {
        let sections = try Fixture.sections(
            Fixture.engine,
            RecommendQuery(
                userID: "u424242424",
                surface: "discovery",
                context: RequestContext(requestTimeUnixMs: Fixture.time(hour: 19), market: "ber")
            )
        )
        #expect(sections.reduce(0) { $0 + $1.items.count } > 0)
        #expect(!sections.contains { $0.key == "order_again" })
    }

    @Test func aRequestWithoutLocationUsesTheUsersHome() throws {
        let user = Fixture.berlinUser()
        let c = Fixture.catalog
        func ids(_ lat: Double, _ lon: Double) throws -> [String] {
            try Fixture.engine.recommendList(
                RecommendQuery(
                    userID: Catalog.userID(user),
                    surface: "discovery",
                    context: RequestContext(
                        latitude: lat,
                        longitude: lon,
                        requestTimeUnixMs: Fixture.time(hour: 19),
                        requestID: "x"
                    ),
                    limit: 50
                ),
                deadline: Fixture.unhurried,
                isCancelled: Fixture.never
            ).items.map(\.itemID)
        }
        let home = try ids(0, 0)
        #expect(!home.isEmpty)
        #expect(try home == ids(c.userLatitude[user], c.userLongitude[user]))
    }

    @Test func usersAreAssignedToVariantsDeterministicallyAndBothVariantsServe() throws {
        var variants: [String: Set<String>] = [:]
        for user in 0..<40 {
            let query = Fixture.discovery(user: user)
            let a = try Fixture.engine.recommendList(query, deadline: Fixture.unhurried, isCancelled: Fixture.never)
            let b = try Fixture.engine.recommendList(query, deadline: Fixture.unhurried, isCancelled: Fixture.never)
            #expect(a.variant == b.variant)
            variants[a.variant, default: []].insert(a.modelVersion)
        }
        #expect(Set(variants.keys) == ["control", "xgb_diverse"])
        #expect(variants["control"]!.allSatisfy { $0.hasPrefix("discovery-lgbm") })
        #expect(variants["xgb_diverse"]!.allSatisfy { $0.hasPrefix("discovery-xgb") })
        #expect(
            ExperimentAssignment.bucket(userID: "u17", salt: "s")
                == ExperimentAssignment.bucket(userID: "u17", salt: "s")
        )
    }

    @Test func paginationIsStableAndPagesDoNotOverlap() throws {
        let user = Catalog.userID(Fixture.berlinUser())
        let context = RequestContext(requestTimeUnixMs: Fixture.time(hour: 19), requestID: "pages")
        func rank(_ limit: Int, _ token: String) throws -> RankResult {
            try Fixture.engine.rank(
                RankQuery(
                    userID: user,
                    surface: "discovery",
                    context: context,
                    candidates: Fixture.allVenues,
                    limit: limit,
                    pageToken: token
                ),
                deadline: Fixture.unhurried,
                isCancelled: Fixture.never
            )
        }
        let all = try rank(12, "").items.map(\.itemID)
        let first = try rank(6, "")
        #expect(!first.nextPageToken.isEmpty)
        let second = try rank(6, first.nextPageToken)
        #expect(first.items.map(\.itemID) + second.items.map(\.itemID) == all)
        // A token used with other candidates is refused rather than silently paging something else.
        #expect(throws: RankingError.self) {
            try Fixture.engine.rank(
                RankQuery(
                    userID: user,
                    surface: "discovery",
                    context: context,
                    candidates: Array(Fixture.allVenues.prefix(5)),
                    limit: 6,
                    pageToken: first.nextPageToken
                ),
                deadline: Fixture.unhurried,
                isCancelled: Fixture.never
            )
        }
    }

    @Test func venueItemsRanksTheVenuesOwnItems() throws {
        let c = Fixture.catalog
        let request = Fixture.request(user: Fixture.berlinUser())
        let venue = try #require((0..<c.venueCount).first { request.isOrderable($0) })
        let sections = try Fixture.sections(
            Fixture.engine,
            RecommendQuery(
                userID: Catalog.userID(Fixture.berlinUser()),
                surface: "venue_items",
                context: RequestContext(requestTimeUnixMs: Fixture.time(hour: 19)),
                venueID: Catalog.venueID(venue)
            )
        )
        let items = sections.flatMap(\.items)
        #expect(!items.isEmpty)
        #expect(items.allSatisfy { $0.venueID == Catalog.venueID(venue) })
        #expect(sections.first?.modelVersion.hasPrefix("items-lgbm") == true)
    }

    @Test func rankKeepsUnknownButWellFormedIDs() throws {
        let result = try Fixture.engine.rank(
            RankQuery(
                userID: "u1",
                surface: "discovery",
                context: RequestContext(requestTimeUnixMs: Fixture.time(hour: 19)),
                candidates: [CandidateInput(itemID: "v999999", features: [("distance_km", 1)])]
            ),
            deadline: Fixture.unhurried,
            isCancelled: Fixture.never
        )
        #expect(result.items.map(\.itemID) == ["v999999"])
    }

    @Test func theEngineAnswersFromManyThreadsAtOnce() throws {
        let engine = Fixture.engine
        let users = (0..<16).map { $0 * 7 }
        let results = UnsafeMutableBufferPointer<Int>.allocate(capacity: users.count)
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: users.count) { i in
            let list = try? engine.recommendList(
                Fixture.discovery(user: users[i]),
                deadline: Fixture.unhurried,
                isCancelled: { false }
            )
            results[i] = list?.items.count ?? -1
        }
        #expect(!results.contains(-1))
    }
}
