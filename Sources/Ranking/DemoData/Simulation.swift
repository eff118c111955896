import Dispatch
import Foundation

/// Sessions of the demo marketplace after its snapshot: users open Discovery, see venues, click and order,
/// decided by the hidden utility. Training rows and evaluation ground truth both come from here.
public struct SessionSimulator: Sendable {
    /// The marketplace the sessions run on.
    public let market: DemoMarketplace

    /// Creates a simulator.
    public init(market: DemoMarketplace) {
        self.market = market
    }

    /// One simulated visit.
    public struct Session: Sendable {
        /// Session number, unique within a simulation.
        public var id: Int
        /// The user.
        public var user: Int
        /// Request context of the visit (home location, a meal time in the two weeks after the snapshot).
        public var context: RequestContext
        /// Whether the user is held out for evaluation.
        public var heldOut: Bool
    }

    /// Held-out users are a fixed tenth of users, chosen by a hash of their id, never trained on.
    public static func isHeldOut(user: Int) -> Bool {
        StableHash.hash("holdout", Catalog.userID(user)) % 10 == 0
    }

    /// `count` sessions for users with at least one order (sessions of cold users are included at their share).
    public func sessions(count: Int, heldOut: Bool, seed: UInt64) -> [Session] {
        var rng = SplitMix64(seed: seed ^ 0x5E55_1011)
        let catalog = market.catalog
        var sessions: [Session] = []
        var attempts = 0
        while sessions.count < count && attempts < count * 50 {
            attempts += 1
            let user = rng.below(catalog.userCount)
            guard SessionSimulator.isHeldOut(user: user) == heldOut else { continue }
            let day = 1 + rng.below(14)
            let hour = rng.unit() < 0.45 ? 11 + rng.below(3) : 17 + rng.below(5)
            let city = Marketplace.cities[Int(catalog.userCity[user])]
            let localMs = Int64(catalog.referenceDay + day) * 86_400_000 + Int64(hour * 60 + rng.below(60)) * 60_000
            let time = city.unixMs(fromLocalMs: localMs)
            let context = RequestContext(
                latitude: catalog.userLatitude[user],
                longitude: catalog.userLongitude[user],
                requestTimeUnixMs: time,
                market: city.market,
                requestID: "sim-\(seed)-\(sessions.count)"
            )
            sessions.append(Session(id: sessions.count, user: user, context: context, heldOut: heldOut))
        }
        return sessions
    }

    /// The user's utility of a venue in a session, including habit; noise is added by the caller.
    func utility(_ session: Session, venue: Int, frame: RequestFrame) -> Double {
        let catalog = market.catalog
        let km = Geo.distanceKm(
            frame.latitude,
            frame.longitude,
            catalog.venueLatitude[venue],
            catalog.venueLongitude[venue],
            lonScale: frame.lonScale
        )
        var u = market.truth.utility(
            catalog: catalog,
            user: session.user,
            venue: venue,
            distanceKm: km,
            hour: frame.hour
        )
        if let h = frame.venueHistoryIndex(Int32(venue)) { u += 1.2 * log1p(Double(frame.venueHistory[h].count)) }
        return u
    }

    func frame(_ session: Session) -> RequestFrame {
        RequestFrame(
            catalog: market.catalog,
            userIndex: session.user,
            latitude: session.context.latitude,
            longitude: session.context.longitude,
            timeUnixMs: session.context.requestTimeUnixMs,
            venueIndex: nil
        )
    }

    /// Labels for venues shown in a session: 2 = ordered, 1 = clicked, 0 = only seen. The user clicks the venues
    /// whose noisy utility clears a threshold and orders the best of them if it beats staying out.
    public func labels(_ session: Session, shown: [Int]) -> [UInt8] {
        var rng = SplitMix64(seed: StableHash.hash("labels", String(session.id), String(session.user)))
        let f = frame(session)
        let noisy = shown.map { utility(session, venue: $0, frame: f) + rng.gumbel() }
        var labels = [UInt8](repeating: 0, count: shown.count)
        let ranked = noisy.indices.sorted { noisy[$0] > noisy[$1] }
        for (rank, i) in ranked.enumerated() where rank < 3 && noisy[i] > 1.0 { labels[i] = 1 }
        if let best = ranked.first, noisy[best] > 1.5 { labels[best] = 2 }
        return labels
    }

    /// Evaluation ground truth over every venue that can take the order (open, available, delivering here): the
    /// venue the user would order (grade 2) and the next four by noisy utility (grade 1).
    public func relevance(_ session: Session) -> [(venue: Int, grade: Int)] {
        let f = frame(session)
        var rng = SplitMix64(seed: StableHash.hash("truth", String(session.id), String(session.user)))
        var scored = deliverableVenues(f).map { (utility(session, venue: $0, frame: f), $0) }
        scored.sort { $0.1 < $1.1 }  // noise is drawn in venue order so it does not depend on scan order
        var noisy = scored.map { ($0.0 + rng.gumbel(), $0.1) }
        noisy.sort { ($0.0, -$0.1) > ($1.0, -$1.1) }
        return noisy.prefix(5).enumerated().map { (venue: $0.element.1, grade: $0.offset == 0 ? 2 : 1) }
    }

    /// Every venue that can take the order, most popular first: the popularity baseline.
    public func popularityRanking(_ session: Session) -> [Int] {
        let popularity = market.catalog.venuePopularity
        return deliverableVenues(frame(session)).sorted { (popularity[$0], -$0) > (popularity[$1], -$1) }
    }

    /// The venues that can take an order in this frame: available, open and delivering to its location, in ring
    /// order (both callers impose their own order).
    func deliverableVenues(_ f: RequestFrame) -> [Int] {
        let catalog = market.catalog
        guard let city = f.city else { return [] }
        var venues: [Int] = []
        catalog.spatial.forEachVenueByRing(
            city: city,
            latitude: f.latitude,
            longitude: f.longitude,
            maxKm: NearbySource.maxDeliveryKm
        ) { v in
            guard catalog.venueAvailable[v], catalog.isOpen(v, weekday: f.weekday, minuteOfDay: f.minuteOfDay)
            else { return true }
            let km = Geo.distanceKm(
                f.latitude,
                f.longitude,
                catalog.venueLatitude[v],
                catalog.venueLongitude[v],
                lonScale: f.lonScale
            )
            if km <= Double(catalog.venueRadiusKm[v]) { venues.append(v) }
            return true
        }
        return venues
    }

    /// Item labels for a visit to `venue`: the two items the user orders (2), the first on its own and the second
    /// given the first, and the next best two given both (1).
    public func itemLabels(_ session: Session, venue: Int) -> [(item: Int, label: UInt8)] {
        var rng = SplitMix64(seed: StableHash.hash("items", String(session.id), String(session.user)))
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
    /// session. What the cart adds (``HiddenTruth/complement(catalog:item:cart:)``) comes on top.
    func noisyItems(_ session: Session, venue: Int, rng: inout SplitMix64) -> [(utility: Double, item: Int)] {
        let catalog = market.catalog
        let f = frame(session)
        var noisy: [(utility: Double, item: Int)] = []
        for item in Int(catalog.venueItemStart[venue])..<Int(catalog.venueItemStart[venue + 1])
        where catalog.itemAvailable[item] {
            var u = market.truth.itemUtility(catalog: catalog, user: session.user, item: item, hour: f.hour)
            u += 1.5 * Double(f.itemCount(Int32(item)))
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
        let catalog = market.catalog
        var scored: [(Double, Int)] = []
        for entry in noisy where !cart.contains(entry.item) {
            let u = entry.utility + market.truth.complement(catalog: catalog, item: entry.item, cart: cart)
            scored.append((u, entry.item))
        }
        scored.sort { ($0.0, -$0.1) > ($1.0, -$1.1) }
        return scored.prefix(count).map(\.1)
    }
}

/// Ranking quality of the live pipeline against a popularity baseline on held-out users, for one surface.
public struct EvaluationReport: Sendable {
    /// One row of the table.
    public struct Row: Sendable {
        /// What was ranked, e.g. "rankd discovery (discovery-lgbm)".
        public var name: String
        /// Mean NDCG@10.
        public var ndcg10: Double
        /// Mean recall at the report's `recallCutoff`.
        public var recall: Double
        /// Whether this row is the popularity baseline.
        public var isBaseline: Bool
        /// Whether this row is the ceiling (the hidden utility without noise): a bound, not a ranker.
        public var isCeiling: Bool

        /// Creates a row.
        public init(name: String, ndcg10: Double, recall: Double, isBaseline: Bool = false, isCeiling: Bool = false) {
            self.name = name
            self.ndcg10 = ndcg10
            self.recall = recall
            self.isBaseline = isBaseline
            self.isCeiling = isCeiling
        }
    }

    /// The surface evaluated.
    public var surface: String
    /// What its sessions asked (``SessionSimulator/EvaluationTask``).
    public var task: SessionSimulator.EvaluationTask
    /// Sessions evaluated.
    public var sessions: Int
    /// Recall is measured in the first this many answers.
    public var recallCutoff: Int
    /// One row per ranker, the baseline first and the ceiling last.
    public var rows: [Row]

    /// Creates a report.
    public init(
        surface: String,
        task: SessionSimulator.EvaluationTask,
        sessions: Int,
        recallCutoff: Int,
        rows: [Row]
    ) {
        self.surface = surface
        self.task = task
        self.sessions = sessions
        self.recallCutoff = recallCutoff
        self.rows = rows
    }

    /// NDCG@10 of the baseline row, the denominator of every ratio.
    public var baselineNDCG10: Double? { rows.first(where: \.isBaseline)?.ndcg10 }

    /// A row's NDCG@10 divided by the baseline's, when the baseline scored above zero.
    public func ratioToBaseline(_ row: Row) -> Double? {
        guard let base = baselineNDCG10, base > 0 else { return nil }
        return row.ndcg10 / base
    }

    /// A Markdown table.
    public var markdown: String {
        var lines = [
            "surface \(surface) (\(task.rawValue))",
            "",
            "| ranker | NDCG@10 | recall@\(recallCutoff) | NDCG@10 / popularity |",
            "|---|---:|---:|---:|",
        ]
        for row in rows {
            let ratio = ratioToBaseline(row).map { String(format: "%.2fx", $0) } ?? "-"
            lines.append(String(format: "| %@ | %.4f | %.4f | %@ |", row.name, row.ndcg10, row.recall, ratio))
        }
        lines.append("")
        lines.append("\(sessions) held-out sessions")
        return lines.joined(separator: "\n")
    }
}

/// Metrics over one ranked list against graded relevance.
enum Metrics {
    static func ndcg(_ ranked: [Int], relevance: [(venue: Int, grade: Int)], k: Int) -> Double {
        func gain(_ grade: Int) -> Double { pow(2, Double(grade)) - 1 }
        var dcg = 0.0
        for (position, venue) in ranked.prefix(k).enumerated() {
            if let r = relevance.first(where: { $0.venue == venue }) {
                dcg += gain(r.grade) / log2(Double(position + 2))
            }
        }
        let ideal = relevance.map(\.grade).sorted(by: >).prefix(k).enumerated()
            .reduce(0.0) { $0 + gain($1.element) / log2(Double($1.offset + 2)) }
        return ideal > 0 ? dcg / ideal : 0
    }

    static func recall(_ ranked: [Int], relevance: [(venue: Int, grade: Int)], k: Int) -> Double {
        guard !relevance.isEmpty else { return 0 }
        let top = Set(ranked.prefix(k))
        return Double(relevance.filter { top.contains($0.venue) }.count) / Double(relevance.count)
    }
}
