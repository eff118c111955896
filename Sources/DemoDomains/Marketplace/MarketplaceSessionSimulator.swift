import Foundation

/// Sessions of the marketplace demo after its snapshot: users open a surface, see venues or items, click and order,
/// decided by the hidden utility (``MarketplaceTruth``). Training labels and evaluation ground truth both come from
/// here; what a ranker serves comes in as entity ids, so the simulator needs no engine.
public struct MarketplaceSessionSimulator: Sendable {
    /// The demo the sessions run on.
    public let demo: MarketplaceDemo

    /// Creates a simulator.
    public init(demo: MarketplaceDemo) {
        self.demo = demo
    }

    /// One simulated visit: a user at home at a meal time in the two weeks after the snapshot.
    public struct Session: Sendable {
        /// Session number, unique within a simulation.
        public var id: Int
        /// The user's index.
        public var user: Int
        /// Where the user is.
        public var latitude: Double
        public var longitude: Double
        /// When, Unix milliseconds.
        public var requestTimeUnixMs: Int64
        /// The market code of the user's city.
        public var market: String
        /// A request id of its own (`sim-<seed>-<n>`).
        public var requestID: String
        /// Whether the user is held out for evaluation.
        public var heldOut: Bool
        /// What the user is after in this visit beyond their lasting taste; only ``priorEvents`` show it.
        public var intent = Intent.none
        /// What the user did in this session before the request, oldest first (empty: the session's first page).
        public var priorEvents: [SessionEvent] = []

        /// The user's id.
        public var userID: String { MarketplaceCatalog.userID(user) }
        /// The session's id, as its events and requests carry it.
        public var sessionID: String { "s-" + requestID }
    }

    /// What a user is after in one visit, on top of the taste their orders show: nothing in particular, or a craving
    /// for one cuisine (primary cuisine index), whatever they usually order. It is drawn per session, so neither the
    /// snapshot nor the user's history shows it; the venues they look at first in the session do.
    public enum Intent: Sendable, Equatable {
        case none
        case cuisine(Int)

        /// The kind, for reports: `none` or `cuisine`.
        public var kind: String {
            switch self {
            case .none: return "none"
            case .cuisine: return "cuisine"
            }
        }
    }

    /// One thing a user did in a session before the request: looked at a venue's page.
    public struct SessionEvent: Sendable, Equatable {
        /// The event kind as `Track` names it (`view`).
        public var kind: String
        /// The venue's id.
        public var venueID: String
        /// When, Unix milliseconds (before the session's request).
        public var timeMs: Int64
    }

    /// How a session's intent and earlier events are drawn.
    enum SessionIntent {
        /// Share of sessions with a craving.
        static let cravingShare = 0.7
        /// What a craving adds to the utility of a venue of the craved cuisine.
        static let cravingBonus = 5.0
        /// Share of sessions that start at the request: no earlier events, whatever the intent.
        static let firstPageShare = 0.25
        /// Venues looked at before the request, when any: this many at least, and up to this many more.
        static let minimumViews = 3
        static let extraViews = 3
        /// Spread of the noise on which venues are looked at: wider than on what is ordered, as people browse.
        static let browsingNoise = 1.5
        /// Time between two of those views, and between the last and the request.
        static let viewSpacingMs: Int64 = 40_000
        /// A cuisine is craved only where at least this many venues of it can take the order.
        static let minimumCravedVenues = 3
    }

    /// `session` with its intent and earlier events drawn, from a stream of its own, so the sessions' users, places
    /// and times do not depend on them. The events are the venues the user looks at first: those whose session
    /// utility (with the craving) plus browsing noise is highest.
    func withIntent(_ session: Session, seed: UInt64) -> Session {
        var session = session
        var rng = DemoRandom(seed: seed, stream: "intent", session.id)
        let wantsCraving = rng.chance(SessionIntent.cravingShare)
        let firstPage = rng.chance(SessionIntent.firstPageShare)
        let views = SessionIntent.minimumViews + rng.below(SessionIntent.extraViews + 1)
        let catalog = demo.catalog
        var v = visit(session)
        let deliverable = deliverableVenues(v).sorted()
        if wantsCraving {
            var counts = [Int](repeating: 0, count: MarketplaceTruth.cuisineCount)
            for venue in deliverable { counts[Int(catalog.venueCuisine[venue])] += 1 }
            let eligible = counts.indices.filter { counts[$0] >= SessionIntent.minimumCravedVenues }
            if !eligible.isEmpty { session.intent = .cuisine(eligible[rng.below(eligible.count)]) }
        }
        guard !firstPage, deliverable.count > views else { return session }
        v.intent = session.intent
        var noisy = deliverable.map {
            (utility(session, venue: $0, visit: v) + SessionIntent.browsingNoise * rng.gumbel(), $0)
        }
        noisy.sort { ($0.0, -$0.1) > ($1.0, -$1.1) }
        session.priorEvents = noisy.prefix(views).enumerated().map { k, entry in
            SessionEvent(
                kind: "view",
                venueID: MarketplaceCatalog.venueID(entry.1),
                timeMs: session.requestTimeUnixMs - Int64(views - k) * SessionIntent.viewSpacingMs
            )
        }
        return session
    }

    /// Held-out users are a fixed tenth of users, chosen by a hash of their id, never trained on.
    public static func isHeldOut(user: Int) -> Bool {
        DemoHash.hash("holdout", MarketplaceCatalog.userID(user)) % 10 == 0
    }

    /// `count` sessions for users with at least one order (sessions of cold users are included at their share).
    public func sessions(count: Int, heldOut: Bool, seed: UInt64) -> [Session] {
        var rng = DemoRandom(seed: seed ^ 0x5E55_1011)
        let catalog = demo.catalog
        var sessions: [Session] = []
        var attempts = 0
        while sessions.count < count && attempts < count * 50 {
            attempts += 1
            let user = rng.below(catalog.userCount)
            guard MarketplaceSessionSimulator.isHeldOut(user: user) == heldOut else { continue }
            let day = 1 + rng.below(14)
            let hour = rng.unit() < 0.45 ? 11 + rng.below(3) : 17 + rng.below(5)
            let city = MarketplaceVocabulary.cities[Int(catalog.userCity[user])]
            let localMs = Int64(catalog.referenceDay + day) * 86_400_000 + Int64(hour * 60 + rng.below(60)) * 60_000
            sessions.append(
                Session(
                    id: sessions.count,
                    user: user,
                    latitude: catalog.userLatitude[user],
                    longitude: catalog.userLongitude[user],
                    requestTimeUnixMs: city.unixMs(fromLocalMs: localMs),
                    market: city.market,
                    requestID: "sim-\(seed)-\(sessions.count)",
                    heldOut: heldOut
                )
            )
        }
        return sessions.map { withIntent($0, seed: seed) }
    }

    /// What a session's utilities depend on besides the truth: local time, the city, and the user's habits.
    struct Visit {
        var latitude: Double
        var longitude: Double
        var lonScale: Double
        var city: Int?
        var weekday: Int
        var minuteOfDay: Int
        var hour: Int
        /// The session's intent.
        var intent = Intent.none
        /// Orders of the user per venue and per item.
        var venueOrders: [Int32: Int] = [:]
        var itemOrders: [Int32: Int] = [:]

        /// What having ordered `item` before adds to its utility.
        func habit(item: Int) -> Double { 1.5 * Double(itemOrders[Int32(item)] ?? 0) }
    }

    func visit(_ session: Session) -> Visit {
        let catalog = demo.catalog
        let city = demo.grid.city(latitude: session.latitude, longitude: session.longitude)
        // Local time follows the city's time zone (outside every city: the first city's).
        let time = session.requestTimeUnixMs
        let offset = Int64(MarketplaceVocabulary.cities[city ?? 0].utcOffsetMinutes(atUnixMs: time)) * 60_000
        let localMs = time + offset
        let localDay = Int((Double(localMs) / 86_400_000).rounded(.down))
        let minuteOfDay = Int((localMs - Int64(localDay) * 86_400_000) / 60_000)
        var visit = Visit(
            latitude: session.latitude,
            longitude: session.longitude,
            lonScale: MarketplaceGeo.kmPerDegreeLongitude(atLatitude: session.latitude),
            city: city,
            weekday: ((localDay + 3) % 7 + 7) % 7,  // 1970-01-01 was a Thursday
            minuteOfDay: minuteOfDay,
            hour: minuteOfDay / 60,
            intent: session.intent
        )
        for o in catalog.orders(of: session.user) {
            visit.venueOrders[catalog.orderVenue[o], default: 0] += 1
            for item in [catalog.orderItem[o], catalog.orderItem2[o]] where item >= 0 {
                visit.itemOrders[item, default: 0] += 1
            }
        }
        return visit
    }

    /// The user's utility of a venue in a session, including habit; noise is added by the caller.
    func utility(_ session: Session, venue: Int, visit: Visit) -> Double {
        let km = MarketplaceGeo.distanceKm(
            visit.latitude,
            visit.longitude,
            demo.catalog.venueLatitude[venue],
            demo.catalog.venueLongitude[venue],
            lonScale: visit.lonScale
        )
        var u = demo.truth.utility(
            catalog: demo.catalog,
            user: session.user,
            venue: venue,
            distanceKm: km,
            hour: visit.hour
        )
        if let count = visit.venueOrders[Int32(venue)] { u += 1.2 * log1p(Double(count)) }
        if case .cuisine(let craved) = visit.intent, Int(demo.catalog.venueCuisine[venue]) == craved {
            u += SessionIntent.cravingBonus
        }
        return u
    }

    /// Labels for the venues shown in a session, by id: 2 = ordered, 1 = clicked, 0 = only seen (and for an id that
    /// is no venue of the demo). The user clicks the venues whose noisy utility clears a threshold and orders the
    /// best of them if it beats staying out.
    public func labels(_ session: Session, shown: [String]) -> [UInt8] {
        let venues = shown.map { demo.catalog.venueIndex($0) }
        let known = venues.compactMap { $0 }
        let labels = self.labels(session, shown: known)
        var next = 0
        return venues.map { venue in
            guard venue != nil else { return 0 }
            defer { next += 1 }
            return labels[next]
        }
    }

    func labels(_ session: Session, shown: [Int]) -> [UInt8] {
        var rng = DemoRandom(seed: DemoHash.hash("labels", String(session.id), String(session.user)))
        let v = visit(session)
        let noisy = shown.map { utility(session, venue: $0, visit: v) + rng.gumbel() }
        var labels = [UInt8](repeating: 0, count: shown.count)
        let ranked = noisy.indices.sorted { noisy[$0] > noisy[$1] }
        for (rank, i) in ranked.enumerated() where rank < 3 && noisy[i] > 1.0 { labels[i] = 1 }
        if let best = ranked.first, noisy[best] > 1.5 { labels[best] = 2 }
        return labels
    }

    /// Evaluation ground truth over every venue that can take the order (open, available, delivering here): the
    /// venue the user would order (grade 2) and the next four by noisy utility (grade 1).
    func relevance(_ session: Session) -> [(venue: Int, grade: Int)] {
        let v = visit(session)
        var rng = DemoRandom(seed: DemoHash.hash("truth", String(session.id), String(session.user)))
        var scored = deliverableVenues(v).map { (utility(session, venue: $0, visit: v), $0) }
        scored.sort { $0.1 < $1.1 }  // noise is drawn in venue order so it does not depend on scan order
        var noisy = scored.map { ($0.0 + rng.gumbel(), $0.1) }
        noisy.sort { ($0.0, -$0.1) > ($1.0, -$1.1) }
        return noisy.prefix(5).enumerated().map { (venue: $0.element.1, grade: $0.offset == 0 ? 2 : 1) }
    }

    /// Every venue that can take the order, most popular first: the popularity baseline.
    func popularityRanking(_ session: Session) -> [Int] {
        let popularity = demo.catalog.venuePopularity
        return deliverableVenues(visit(session)).sorted { (popularity[$0], -$0) > (popularity[$1], -$1) }
    }

    /// The farthest any venue delivers, and so how far around a session venues are looked for.
    static let maxDeliveryKm = 6.0

    /// The venues that can take an order in this visit: available, open and delivering to its location, in no
    /// particular order (every caller imposes its own).
    func deliverableVenues(_ v: Visit) -> [Int] {
        let catalog = demo.catalog
        guard let city = v.city else { return [] }
        var venues: [Int] = []
        demo.grid.forEachVenue(
            city: city,
            latitude: v.latitude,
            longitude: v.longitude,
            maxKm: MarketplaceSessionSimulator.maxDeliveryKm
        ) { venue in
            guard catalog.venueAvailable[venue],
                catalog.isOpen(venue, weekday: v.weekday, minuteOfDay: v.minuteOfDay)
            else { return }
            let km = MarketplaceGeo.distanceKm(
                v.latitude,
                v.longitude,
                catalog.venueLatitude[venue],
                catalog.venueLongitude[venue],
                lonScale: v.lonScale
            )
            if km <= Double(catalog.venueRadiusKm[venue]) { venues.append(venue) }
        }
        return venues
    }

    /// Item labels for a visit to the venue `venueID`: the two items the user orders (2), the first on its own and
    /// the second given the first, and the next best two given both (1); empty for an id that is no venue.
    public func itemLabels(_ session: Session, venueID: String) -> [(itemID: String, label: UInt8)] {
        guard let venue = demo.catalog.venueIndex(venueID) else { return [] }
        return itemLabels(session, venue: venue).map { (MarketplaceCatalog.itemID($0.item), $0.label) }
    }

    func itemLabels(_ session: Session, venue: Int) -> [(item: Int, label: UInt8)] {
        var rng = DemoRandom(seed: DemoHash.hash("items", String(session.id), String(session.user)))
        let noisy = noisyItems(session, venue: venue, rng: &rng)
        let ordered = pickInOrder(noisy, count: 2)
        let next = bestGiven(noisy, cart: ordered, count: 2)
        var labels = [UInt8](repeating: 0, count: noisy.count)
        for (k, entry) in noisy.enumerated() {
            if ordered.contains(entry.item) { labels[k] = 2 } else if next.contains(entry.item) { labels[k] = 1 }
        }
        return noisy.indices.map { (noisy[$0].item, labels[$0]) }
    }

    /// The venue's available items, in item order, each with the user's item utility, habit and one noise draw
    /// (in item order, so it does not depend on how the items were found): the user's mood for each item in this
    /// session. What the cart adds (``MarketplaceTruth/complement(catalog:item:cart:)``) comes on top.
    func noisyItems(_ session: Session, venue: Int, rng: inout DemoRandom) -> [(utility: Double, item: Int)] {
        let catalog = demo.catalog
        let v = visit(session)
        var noisy: [(utility: Double, item: Int)] = []
        for item in catalog.menu(of: venue) where catalog.itemAvailable[item] {
            var u = demo.truth.itemUtility(catalog: catalog, user: session.user, item: item, hour: v.hour)
            u += v.habit(item: item)
            noisy.append((u + rng.gumbel(), item))
        }
        return noisy
    }

    /// Up to `count` items picked one after another, each the best given the ones picked before it.
    func pickInOrder(_ noisy: [(utility: Double, item: Int)], count: Int) -> [Int] {
        var picked: [Int] = []
        while picked.count < count, let next = bestGiven(noisy, cart: picked, count: 1).first {
            picked.append(next)
        }
        return picked
    }

    /// The `count` items not in `cart` the user wants most given `cart`, best first (ties: lower index first).
    func bestGiven(_ noisy: [(utility: Double, item: Int)], cart: [Int], count: Int) -> [Int] {
        let catalog = demo.catalog
        var scored: [(Double, Int)] = []
        for entry in noisy where !cart.contains(entry.item) {
            let u = entry.utility + demo.truth.complement(catalog: catalog, item: entry.item, cart: cart)
            scored.append((u, entry.item))
        }
        scored.sort { ($0.0, -$0.1) > ($1.0, -$1.1) }
        return scored.prefix(count).map(\.1)
    }
}
