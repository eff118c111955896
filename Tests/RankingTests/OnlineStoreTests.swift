import Dispatch
import Testing

@testable import Ranking

/// Events in: each refusal reason, deduplication, the bounds of the in-process store and the item windows.
@Suite struct OnlineStoreTests {
    static let now: Int64 = 1_780_000_000_000
    static let later = DispatchTime.now() + .seconds(60)

    static func event(
        _ id: String,
        user: String = "u1",
        session: String = "",
        kind: EventKind = .click,
        item: String = "v1",
        atMs: Int64 = now
    ) -> IncomingEvent {
        IncomingEvent(
            eventID: id,
            userID: user,
            sessionID: session,
            kind: kind.rawValue,
            itemID: item,
            timestampMs: atMs
        )
    }

    @Test func everyRefusalHasItsReasonAndASentence() throws {
        let limits = OnlineLimits()
        var cases: [(IncomingEvent, EventRejection)] = []
        var e = Self.event("")
        cases.append((e, .missingEventID))
        e = Self.event(String(repeating: "x", count: 129))
        cases.append((e, .eventIDTooLong))
        e = Self.event("a", user: "")
        cases.append((e, .missingUserID))
        e = Self.event("a")
        e.kind = 0
        cases.append((e, .unknownKind))
        e.kind = 99
        cases.append((e, .unknownKind))
        cases.append((Self.event("a", item: ""), .missingItemID))
        cases.append((Self.event("a", session: String(repeating: "s", count: 257)), .idTooLong))
        cases.append((Self.event("a", atMs: Self.now + 301_000), .timestampInFuture))
        cases.append((Self.event("a", atMs: Self.now - 86_400_001), .timestampTooOld))
        e = Self.event("a")
        e.value = .nan
        cases.append((e, .valueNotFinite))
        e = Self.event("a")
        e.requestID = "r1"
        e.position = -1
        cases.append((e, .negativePosition))
        #expect(Set(cases.map(\.1)) == Set(EventRejection.allCases))
        for (event, reason) in cases {
            guard case .failure(let error) = event.checked(nowMs: Self.now, limits: limits) else {
                Issue.record("accepted an event that should be refused for \(reason)")
                continue
            }
            #expect(error.reason == reason)
            #expect(!error.message.isEmpty)
        }
        // Time 0 means "now"; a position without a request id is ignored.
        var good = Self.event("ok", atMs: 0)
        good.position = -5
        let checked = try good.checked(nowMs: Self.now, limits: limits).get()
        #expect(checked.timeMs == Self.now)
        #expect(checked.position == 0)
    }

    @Test func aBatchStoresTheGoodEventsAndCountsTheBadOnesByReason() throws {
        let store = InProcessOnlineStore()
        let batch = [
            Self.event("e1", kind: .order), Self.event(""), Self.event("e2", user: ""), Self.event("e3"),
            Self.event("e1", kind: .order),
        ]
        let outcome = try EventIngest.track(batch, store: store, nowMs: Self.now, deadline: Self.later)
        #expect(outcome.accepted == 2)
        #expect(outcome.duplicates == 1)
        #expect(outcome.rejectedByReason == [.missingEventID: 1, .missingUserID: 1])
        #expect(outcome.rejections.map(\.index) == [1, 2])
        // A retry of the same batch stores nothing twice.
        let retry = try EventIngest.track(batch, store: store, nowMs: Self.now + 1000, deadline: Self.later)
        #expect(retry.accepted == 0)
        #expect(retry.duplicates == 3)
        let state = try store.read(userID: "u1", sessionID: "", nowMs: Self.now + 1000, deadline: Self.later)
        #expect(state.user.map(\.kind) == [.click, .order])  // same time: the later arrival first
    }

    @Test func aBatchOverTheLimitIsRefusedWhole() {
        let store = InProcessOnlineStore()
        let batch = (0...1000).map { Self.event("e\($0)") }
        #expect(throws: RankingError.self) {
            try EventIngest.track(batch, store: store, nowMs: Self.now, deadline: Self.later)
        }
        #expect(store.report().eventIDs == 0)
    }

    @Test func recentInteractionsAreBoundedPerKindAndByAge() throws {
        var limits = OnlineLimits()
        limits.recentPerKind = 3
        limits.recentMaxAgeMillis = 60_000
        let store = InProcessOnlineStore(limits: limits)
        var events: [OnlineEvent] = []
        for i in 0..<5 {
            events.append(
                OnlineEvent(eventID: "c\(i)", userID: "u1", kind: .click, itemID: "v\(i)", timeMs: Self.now + Int64(i))
            )
        }
        events.append(OnlineEvent(eventID: "o", userID: "u1", kind: .order, itemID: "v9", timeMs: Self.now - 50_000))
        _ = try store.write(events, nowMs: Self.now, deadline: Self.later)
        let state = try store.read(userID: "u1", sessionID: "", nowMs: Self.now + 10, deadline: Self.later)
        #expect(state.user.map(\.itemID) == ["v4", "v3", "v2", "v9"])
        // 20 s later the order is over a minute old.
        let later = try store.read(userID: "u1", sessionID: "", nowMs: Self.now + 20_000, deadline: Self.later)
        #expect(later.user.map(\.itemID) == ["v4", "v3", "v2"])
    }

    @Test func sessionsKeepTheirOwnEventsUntilIdle() throws {
        let store = InProcessOnlineStore()
        let events = [
            OnlineEvent(eventID: "a", userID: "u1", sessionID: "s1", kind: .view, itemID: "v1", timeMs: Self.now),
            OnlineEvent(eventID: "b", userID: "u1", sessionID: "s2", kind: .view, itemID: "v2", timeMs: Self.now),
            OnlineEvent(eventID: "c", userID: "u1", kind: .view, itemID: "v3", timeMs: Self.now),
        ]
        _ = try store.write(events, nowMs: Self.now, deadline: Self.later)
        let s1 = try store.read(userID: "u1", sessionID: "s1", nowMs: Self.now, deadline: Self.later)
        #expect(s1.session.map(\.itemID) == ["v1"])
        #expect(Set(s1.user.map(\.itemID)) == ["v1", "v2", "v3"])
        // Another user's session of the same name is not this one.
        let other = try store.read(userID: "u2", sessionID: "s1", nowMs: Self.now, deadline: Self.later)
        #expect(other == .empty)
        let idle = try store.read(userID: "u1", sessionID: "s1", nowMs: Self.now + 3_600_001, deadline: Self.later)
        #expect(idle.session.isEmpty)
    }

    @Test func usersAndEventIDsStayWithinTheirBounds() throws {
        let store = InProcessOnlineStore(maxUsers: 160, maxEventIDs: 320)
        for batch in 0..<10 {
            let events = (0..<100).map { i in
                OnlineEvent(
                    eventID: "e\(batch)-\(i)",
                    userID: "u\(batch * 100 + i)",
                    kind: .click,
                    itemID: "v1",
                    timeMs: Self.now + Int64(batch)
                )
            }
            _ = try store.write(events, nowMs: Self.now + Int64(batch), deadline: Self.later)
        }
        let report = store.report()
        #expect(report.users <= 160)
        #expect(report.eventIDs <= 320)
        #expect(report.evictions > 0)
        #expect(report.bytes > 0)
        // The newest user is kept.
        let newest = try store.read(userID: "u999", sessionID: "", nowMs: Self.now + 10, deadline: Self.later)
        #expect(newest.user.count == 1)
    }

    @Test func itemWindowsCountByBucket() {
        let counters = ItemWindowCounters(maxItems: 10)
        let hour: Int64 = 3_600_000
        let base = (Self.now / hour) * hour + 30 * 60_000  // half past the hour
        counters.add(itemID: "v1", kind: .order, timeMs: base)
        counters.add(itemID: "v1", kind: .order, timeMs: base - 20 * 60_000)
        counters.add(itemID: "v1", kind: .order, timeMs: base - 3 * hour)
        counters.add(itemID: "v1", kind: .click, timeMs: base)
        #expect(counters.count(itemID: "v1", kind: .order, windowMillis: 300_000, nowMs: base) == 1)
        #expect(counters.count(itemID: "v1", kind: .order, windowMillis: hour, nowMs: base) == 2)
        #expect(counters.count(itemID: "v1", kind: .order, windowMillis: 24 * hour, nowMs: base) == 3)
        #expect(counters.count(itemID: "v1", kind: .order, windowMillis: 24 * hour, nowMs: base + 22 * hour) == 2)
        #expect(counters.count(itemID: "v1", kind: .click, windowMillis: hour, nowMs: base) == 1)
        #expect(counters.count(itemID: "v2", kind: .order, windowMillis: hour, nowMs: base) == 0)
        #expect(
            counters.counts(
                itemIDs: ["v2", "v1"],
                queries: [(.order, hour), (.click, hour)],
                nowMs: base
            ) == [0, 0, 2, 1]
        )
        for i in 0..<30 { counters.add(itemID: "x\(i)", kind: .view, timeMs: base + Int64(i)) }
        #expect(counters.size.items <= 10)
        #expect(counters.size.evictions > 0)
        #expect(ItemWindowCounters.isSupportedWindow(hour))
        #expect(ItemWindowCounters.isSupportedWindow(600_000))
        #expect(!ItemWindowCounters.isSupportedWindow(90 * 60_000))
        #expect(!ItemWindowCounters.isSupportedWindow(25 * hour))
    }
}

/// The pipeline reads what users just did.
@Suite struct OnlineRankingTests {
    /// A store that cannot be reached.
    final class DownStore: OnlineStore, @unchecked Sendable {
        let limits = OnlineLimits()
        let itemCounters = ItemWindowCounters()
        func write(_ events: [OnlineEvent], nowMs: Int64, deadline: DispatchTime) throws -> [Bool] {
            throw OnlineStoreError.unavailable("down")
        }
        func read(userID: String, sessionID: String, nowMs: Int64, deadline: DispatchTime) throws -> UserOnlineState {
            throw OnlineStoreError.unavailable("down")
        }
        func report() -> OnlineStoreReport { OnlineStoreReport(backend: "down") }
    }

    /// A Berlin user's discovery on an engine with an in-process store, before any event: the venues in Order again
    /// and, in answer order, the others shown (open, delivering to the user and not yet in Order again).
    struct OrderAgainCase {
        let engine: RankingEngine
        let store: InProcessOnlineStore
        let query: RecommendQuery
        let orderAgain: [String]
        let others: [String]

        init() throws {
            engine = try Fixture.engine { _ in }
            store = InProcessOnlineStore()
            engine.onlineStore = store
            query = Fixture.discovery(user: Fixture.berlinUser(minOrders: 4))
            let before = try Fixture.sections(engine, query)
            let orderAgain = before.first { $0.key == "order_again" }?.items.map(\.itemID) ?? []
            self.orderAgain = orderAgain
            others = before.filter { $0.key != "order_again" }.flatMap { $0.items.map(\.itemID) }
                .filter { !orderAgain.contains($0) }
        }

        /// Sends an order event per venue, each the given milliseconds before the request; returns how many the store
        /// accepted.
        func order(_ venues: [(venue: String, msBefore: Int64)]) throws -> Int {
            let events = venues.enumerated().map { k, order in
                IncomingEvent(
                    eventID: "order-\(k)",
                    userID: query.userID,
                    kind: EventKind.order.rawValue,
                    itemID: order.venue,
                    timestampMs: query.context.requestTimeUnixMs - order.msBefore
                )
            }
            return try EventIngest.track(
                events,
                store: store,
                nowMs: query.context.requestTimeUnixMs,
                deadline: .now() + .seconds(5)
            ).accepted
        }

        func answer() throws -> [RecommendSection] { try Fixture.sections(engine, query) }
    }

    @Test func anOrderSentAsAnEventShowsFirstInOrderAgain() throws {
        let setup = try OrderAgainCase()
        let fresh = try #require(setup.others.first)
        #expect(try setup.order([(fresh, 60_000)]) == 1)
        let after = try setup.answer()
        #expect(after.first { $0.key == "order_again" }?.items.first?.itemID == fresh)
        #expect(after.allSatisfy { !$0.degradedStages.contains("features.online") })
    }

    /// Orders that arrived as events lead Order again newest first, whatever the model scores them, and the section
    /// still reports scores in order.
    @Test func ordersSentAsEventsLeadOrderAgainNewestFirst() throws {
        let setup = try OrderAgainCase()
        let fresh = Array(setup.others.suffix(2))
        try #require(fresh.count == 2)
        // The first is ordered before the second, so the second leads.
        #expect(try setup.order([(fresh[0], 120_000), (fresh[1], 60_000)]) == 2)
        let after = try #require(try setup.answer().first { $0.key == "order_again" })
        #expect(Array(after.items.map(\.itemID).prefix(2)) == [fresh[1], fresh[0]])
        let scores = after.items.map(\.score)
        #expect(scores == scores.sorted(by: >))
    }

    @Test func anItemOrderedAsAnEventLeadsTheVenuesOrderAgain() throws {
        let engine = try Fixture.engine { _ in }
        let store = InProcessOnlineStore()
        engine.onlineStore = store
        let catalog = engine.catalog
        let venue = try #require(
            (0..<catalog.venueCount).first { v in
                catalog.venueItemStart[v + 1] - catalog.venueItemStart[v] >= 5 && catalog.venueAvailable[v]
            }
        )
        let item = Int(catalog.venueItemStart[venue]) + 3
        let user = "itest-item-order"
        let time = Fixture.time(hour: 19)
        let query = RecommendQuery(
            userID: user,
            surface: "venue_items",
            context: RequestContext(requestTimeUnixMs: time, requestID: "r1"),
            venueID: catalog.venueID(venue)
        )
        #expect(try Fixture.sections(engine, query).first { $0.key == "order_again" } == nil)
        _ = try EventIngest.track(
            [
                IncomingEvent(
                    eventID: "item-order",
                    userID: user,
                    kind: EventKind.order.rawValue,
                    itemID: catalog.itemID(item),
                    timestampMs: time - 60_000
                )
            ],
            store: store,
            nowMs: time,
            deadline: .now() + .seconds(5)
        )
        let after = try Fixture.sections(engine, query)
        #expect(after.first { $0.key == "order_again" }?.items.first?.itemID == catalog.itemID(item))
    }

    /// A surface with online features and a caller excluding ids the catalog does not have (a release build once
    /// trapped here on an exclusivity check).
    @Test func unknownExcludedIDsOnASurfaceWithOnlineFeaturesAreDropped() throws {
        let engine = try Fixture.engine { _ in }
        #expect(engine.pipelineConfig.surfaces["discovery"]?.online?.features?.isEmpty == false)
        engine.onlineStore = InProcessOnlineStore()
        var query = RankQuery(
            userID: Catalog.userID(Fixture.berlinUser()),
            surface: "discovery",
            context: RequestContext(requestTimeUnixMs: Fixture.time(hour: 19), requestID: "r1"),
            candidates: [CandidateInput(itemID: "v1"), CandidateInput(itemID: "v99999999")],
            limit: 10
        )
        query.excludeItemIDs = ["v99999999", "v88888888"]
        let result = try engine.rank(query, deadline: Fixture.unhurried, isCancelled: Fixture.never)
        #expect(!result.items.contains { $0.itemID == "v99999999" })
        #expect(result.dropped.contains { $0.reason == .excluded })
        var recommend = Fixture.discovery(user: Fixture.berlinUser())
        recommend.excludeItemIDs = ["v99999999"]
        #expect(try Fixture.sections(engine, recommend).contains { !$0.items.isEmpty })
    }

    @Test func aStoreThatIsDownDegradesTheAnswerButNeverFailsIt() throws {
        let engine = try Fixture.engine { _ in }
        engine.onlineStore = DownStore()
        let sections = try Fixture.sections(engine, Fixture.discovery(user: Fixture.berlinUser()))
        #expect(sections.reduce(0) { $0 + $1.items.count } > 0)
        #expect(sections.allSatisfy { $0.degraded && $0.degradedStages.contains("features.online") })
        #expect(throws: RankingError.self) {
            try EventIngest.track(
                [OnlineStoreTests.event("e1")],
                store: DownStore(),
                nowMs: OnlineStoreTests.now,
                deadline: .now() + .seconds(1)
            )
        }
    }
}

/// Marketplace surfaces configure online features and rules the way generic surfaces do.
@Suite struct MarketplaceOnlineTests {
    static func feature(
        _ name: String,
        _ kind: String,
        _ change: (inout GenericFeatureConfig) -> Void = { _ in }
    )
        -> GenericFeatureConfig
    {
        GenericOnlineTests.feature(name, kind, change)
    }

    /// Online features for discovery: the embedded discovery models read the last three.
    static let features = [
        feature("online_secs_since_venue_order", "online_time_since") {
            $0.event = "order"
            $0.via = "venue"
        },
        feature("online_venue_orders_1h", "online_window_count") {
            $0.event = "order"
            $0.windowSeconds = 3600
        },
        feature("online_secs_since_cuisine_click", "online_time_since") {
            $0.event = "click"
            $0.via = "cuisine"
        },
        feature("online_session_cuisine_affinity", "online_session_affinity") { $0.via = "cuisine" },
        feature("online_viewed_in_session", "online_interacted") {
            $0.event = "view"
            $0.scope = "session"
        },
    ]

    @Test func onlineFeaturesFollowTheJoinedOnesAndTheRuleDropsWhatWasJustOrdered() throws {
        let engine = try Fixture.engine { config in
            config.surfaces["discovery"]?.online = SurfaceOnlineConfig(
                features: Self.features,
                excludeRecent: RecentEventRule(events: ["order"], withinSeconds: 600)
            )
        }
        let store = InProcessOnlineStore()
        engine.onlineStore = store
        let user = Fixture.berlinUser()
        let time = Fixture.time(hour: 19)
        let venues = (0..<40).map { Catalog.venueID($0) }
        var query = RankQuery(
            userID: Catalog.userID(user),
            surface: "discovery",
            context: RequestContext(requestTimeUnixMs: time, requestID: "r1", sessionID: "s1"),
            candidates: venues.map { CandidateInput(itemID: $0) },
            limit: 40,
            explain: true
        )
        let before = try engine.rank(query, deadline: Fixture.unhurried, isCancelled: Fixture.never)
        let shown = try #require(before.items.first?.itemID)
        let ordered = try #require(before.items.dropFirst().first?.itemID)
        let names = before.items[0].features.map(\.0)
        // What the model read in its order (the discovery model reads three online features), then the rest.
        #expect(Set(names) == Set(FeatureJoiner.venueFeatures + Self.features.map(\.name)))
        #expect(names.count == FeatureJoiner.venueFeatures.count + Self.features.count)
        #expect(Array(names.suffix(2)) == ["online_venue_orders_1h", "online_secs_since_cuisine_click"])
        func value(_ result: RankResult, _ id: String, _ name: String) -> Double? {
            result.items.first { $0.itemID == id }?.features.first { $0.0 == name }?.1
        }
        #expect(value(before, shown, "online_viewed_in_session") == 0)
        #expect(value(before, shown, "online_secs_since_cuisine_click")?.isNaN == true)
        let events = [
            IncomingEvent(
                eventID: "v",
                userID: Catalog.userID(user),
                sessionID: "s1",
                kind: EventKind.view.rawValue,
                itemID: shown,
                timestampMs: time - 30_000
            ),
            IncomingEvent(
                eventID: "c",
                userID: Catalog.userID(user),
                sessionID: "s1",
                kind: EventKind.click.rawValue,
                itemID: shown,
                timestampMs: time - 20_000
            ),
            IncomingEvent(
                eventID: "o",
                userID: Catalog.userID(user),
                sessionID: "s1",
                kind: EventKind.order.rawValue,
                itemID: ordered,
                timestampMs: time - 10_000
            ),
        ]
        let outcome = try EventIngest.track(events, store: store, nowMs: time, deadline: .now() + .seconds(5))
        #expect(outcome.accepted == 3)
        query.context.requestID = "r2"
        let after = try engine.rank(query, deadline: Fixture.unhurried, isCancelled: Fixture.never)
        #expect(value(after, shown, "online_viewed_in_session") == 1)
        #expect(value(after, shown, "online_secs_since_cuisine_click") == 20)
        #expect(value(after, shown, "online_session_cuisine_affinity").map { $0 > 0 } == true)
        #expect(value(after, ordered, "online_venue_orders_1h") == nil)  // dropped: just ordered
        #expect(after.dropped.contains { $0.reason == .recentlyInteracted && $0.count == 1 })
        #expect(!after.items.contains { $0.itemID == ordered })
        // A caller may override an online feature by name like any other.
        query.candidates = [CandidateInput(itemID: shown, features: [("online_viewed_in_session", 0)])]
        let overridden = try engine.rank(query, deadline: Fixture.unhurried, isCancelled: Fixture.never)
        #expect(value(overridden, shown, "online_viewed_in_session") == 0)
    }

    @Test func badOnlineSettingsOfAMarketplaceSurfaceNameTheSurfaceAndFeature() throws {
        let cases: [(GenericFeatureConfig, String)] = [
            (Self.feature("f", "online_time_since") { $0.via = "artist" }, "via must be one of venue, cuisine, brand"),
            (Self.feature("f", "attribute"), "attribute is not an online feature kind"),
            (Self.feature("distance_km", "online_interacted"), "distance_km is named twice"),
            (Self.feature("f", "online_window_count") { $0.event = "order" }, "needs windowSeconds"),
        ]
        for (feature, message) in cases {
            #expect {
                // Beside the features the discovery models read, so the bad one is what is refused.
                try Fixture.engine {
                    $0.surfaces["discovery"]?.online = SurfaceOnlineConfig(features: Self.features + [feature])
                }
            } throws: { error in
                "\(error)".contains("surface discovery") && "\(error)".contains(message)
            }
        }
    }

    @Test func aConfigurationCheckFindsBadOnlineSettingsWithTheirPath() throws {
        var config = try RankingEngine.embeddedConfig()
        config.surfaces["cart"]?.online = SurfaceOnlineConfig(
            features: [
                Self.feature("f", "online_window_count") {
                    $0.event = "order"
                    $0.windowSeconds = 5400
                },
                Self.feature("g", "online_session_affinity") { $0.via = "artist" },
            ],
            excludeRecent: RecentEventRule(events: ["like"], withinSeconds: 60)
        )
        let problems = config.problems().map(\.description)
        #expect(problems.contains { $0.hasPrefix("surfaces.cart.online.features.0: ") && $0.contains("5400") })
        #expect(
            problems.contains {
                $0.hasPrefix("surfaces.cart.online.features.1: ") && $0.contains("venue, cuisine, brand, category")
            }
        )
        #expect(problems.contains { $0.hasPrefix("surfaces.cart.online.excludeRecent: ") && $0.contains("like") })
    }
}
