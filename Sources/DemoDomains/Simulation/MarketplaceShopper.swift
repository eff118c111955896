import Foundation

/// Simulated marketplace users for a live rankd: given what discovery answered, which venues the user looks at,
/// clicks and orders from, decided by the hidden utility exactly as the demo's training sessions are
/// (``MarketplaceSessionSimulator/labels(_:shown:)``) but only over the positions the user examined
/// (``ExaminationModel``). A ranking that puts the venues the user wants where they look converts more, which is
/// what an A/B test of two models measures.
///
/// Everything is a function of the seed, the visit number and the ids shown: the same answers give the same events.
public struct MarketplaceShopper: Sendable {
    /// The demo rankd serves.
    public let demo: MarketplaceDemo
    /// The simulation's seed: users, visit times and every draw of a visit come from it.
    public let seed: UInt64
    /// How far down an answer users look.
    public let examination: ExaminationModel
    private let sessions: MarketplaceSessionSimulator

    /// Shoppers of `demo`, their draws fixed by `seed`.
    public init(demo: MarketplaceDemo, seed: UInt64, examination: ExaminationModel = ExaminationModel()) {
        self.demo = demo
        self.seed = seed
        self.examination = examination
        sessions = MarketplaceSessionSimulator(demo: demo)
    }

    /// When a visit happens as far as the hidden utility and the request are concerned.
    public enum VisitTime: String, Sendable, CaseIterable {
        /// At a meal time in the user's city (lunch 11–14 h, dinner 17–22 h, as the demo's sessions are): the wall
        /// clock during a meal, else the nearest meal time (up to an hour into it), so venues are open and meal-time
        /// tastes apply whenever the simulation runs, and the request stays as close to the events' wall clock as
        /// that allows.
        case meal
        /// The wall clock: what a real app would send, with closed venues and off-hour tastes at night.
        case now
    }

    /// Lunch and dinner as the demo's sessions have them, in local minutes of the day (ends excluded).
    static let meals = [(11 * 60, 14 * 60), (17 * 60, 22 * 60)]

    /// Minutes from local `minuteOfDay` to a meal time: 0 during a meal, else to the nearest meal's nearest edge and
    /// `inward` (0..<60) minutes into it.
    static func minutesToMeal(from minuteOfDay: Int, inward: Int) -> Int {
        var best: Int?
        for dayShift in [-1440, 0, 1440] {
            for (start, end) in meals {
                let (from, to) = (start + dayShift, end + dayShift)
                if minuteOfDay >= from && minuteOfDay < to { return 0 }
                let move = minuteOfDay < from ? from - minuteOfDay + inward : (to - 1) - minuteOfDay - inward
                if abs(move) < abs(best ?? .max) { best = move }
            }
        }
        return best!
    }

    /// One visit of one user.
    public struct Visit: Sendable {
        /// The visit's number in the simulation, from 0.
        public var number: Int
        /// The user's index in the demo.
        public var user: Int
        /// The request id of its discovery answer, `sim-<seed>-<number>`.
        public var requestID: String
        /// The app session it belongs to.
        public var sessionID: String
        /// Where the user is (at home).
        public var latitude: Double
        public var longitude: Double
        /// The request time, Unix milliseconds.
        public var requestTimeUnixMs: Int64
        let session: MarketplaceSessionSimulator.Session

        /// The user's id.
        public var userID: String { MarketplaceCatalog.userID(user) }
    }

    /// `count` distinct users (at most all of the demo's), the same for the same seed.
    public func users(count: Int) -> [Int] {
        simulatedUsers(count: min(count, demo.catalog.userCount), population: demo.catalog.userCount, seed: seed)
    }

    /// Visit number `number` of `user` at `nowUnixMs` (the wall clock), timed as `time` says.
    public func visit(number: Int, user: Int, nowUnixMs: Int64, time: VisitTime = .meal) -> Visit {
        precondition(user >= 0 && user < demo.catalog.userCount, "no such user")
        let catalog = demo.catalog
        let city = MarketplaceVocabulary.cities[Int(catalog.userCity[user])]
        var requestTime = nowUnixMs
        if time == .meal {
            var rng = DemoRandom(seed: seed, stream: "visit-time", number)
            let localNow = nowUnixMs + Int64(city.utcOffsetMinutes(atUnixMs: nowUnixMs)) * 60_000
            let minuteOfDay = Int(((localNow % 86_400_000) + 86_400_000) % 86_400_000 / 60_000)
            requestTime += Int64(Self.minutesToMeal(from: minuteOfDay, inward: rng.below(60))) * 60_000
        }
        let requestID = "sim-\(seed)-\(number)"
        // The label draws are keyed by the session number and user: a number of the seed's own keeps two
        // simulations with different seeds apart.
        let sessionNumber = Int(truncatingIfNeeded: DemoHash.hash(seed, "visit", number) >> 2)
        return Visit(
            number: number,
            user: user,
            requestID: requestID,
            sessionID: "sim-\(seed)-s\(number)",
            latitude: catalog.userLatitude[user],
            longitude: catalog.userLongitude[user],
            requestTimeUnixMs: requestTime,
            session: MarketplaceSessionSimulator.Session(
                id: sessionNumber,
                user: user,
                latitude: catalog.userLatitude[user],
                longitude: catalog.userLongitude[user],
                requestTimeUnixMs: requestTime,
                market: city.market,
                requestID: requestID,
                heldOut: MarketplaceSessionSimulator.isHeldOut(user: user)
            )
        )
    }

    /// What the user did with an answer, by zero-based position in it (across its sections, in the order sent).
    public struct Reaction: Sendable, Equatable {
        /// Positions looked at, in order.
        public var examined: [Int]
        /// Positions clicked (opened); an ordered venue is clicked too.
        public var clicked: [Int]
        /// The position ordered from, if any.
        public var ordered: Int?
        /// The order's total: the items the user would order there (0 without an order).
        public var orderValue: Double
    }

    /// What the user of `visit` does with the venues `shown`, in answer order. Ids the demo does not have are
    /// examined but never clicked.
    public func react(_ visit: Visit, shown: [String]) -> Reaction {
        var rng = DemoRandom(seed: seed, stream: "examine", visit.number)
        let examined = examination.examined(count: shown.count, rng: &rng)
        let labels = sessions.labels(visit.session, shown: examined.map { shown[$0] })
        var reaction = Reaction(examined: examined, clicked: [], ordered: nil, orderValue: 0)
        for (k, position) in examined.enumerated() where labels[k] > 0 {
            reaction.clicked.append(position)
            if labels[k] == 2 { reaction.ordered = position }
        }
        if let ordered = reaction.ordered, let venue = demo.catalog.venueIndex(shown[ordered]) {
            reaction.orderValue = sessions.itemLabels(visit.session, venue: venue)
                .filter { $0.label == 2 }
                .reduce(0) { $0 + Double(demo.catalog.itemPrice[$1.item]) }
        }
        return reaction
    }

    /// What the user does with a venue's menu (venue_items) after ordering there: the positions examined and the
    /// examined ones among the items they order (added to the cart).
    public func reactToMenu(_ visit: Visit, venueID: String, shown: [String]) -> (examined: [Int], added: [Int]) {
        var rng = DemoRandom(seed: seed, stream: "examine-menu", visit.number)
        let examined = examination.examined(count: shown.count, rng: &rng)
        let wanted = Set(sessions.itemLabels(visit.session, venueID: venueID).filter { $0.label == 2 }.map(\.itemID))
        return (examined, examined.filter { wanted.contains(shown[$0]) })
    }

    /// The venues that can take the visit's order, best first by the user's hidden utility (no noise): the answer
    /// of a ranker that knew the truth, for tests and for calibrating how much better a model could do.
    public func bestVenues(_ visit: Visit, limit: Int) -> [String] {
        let v = sessions.visit(visit.session)
        let scored = sessions.deliverableVenues(v).map { (sessions.utility(visit.session, venue: $0, visit: v), $0) }
        return scored.sorted { ($0.0, -$0.1) > ($1.0, -$1.1) }.prefix(limit).map { MarketplaceCatalog.venueID($0.1) }
    }

    /// Every venue that can take the visit's order, in venue order.
    public func deliverableVenues(_ visit: Visit) -> [String] {
        sessions.deliverableVenues(sessions.visit(visit.session)).sorted().map { MarketplaceCatalog.venueID($0) }
    }
}
