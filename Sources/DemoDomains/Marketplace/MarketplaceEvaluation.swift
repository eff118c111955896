import Foundation

/// Evaluation of every kind of marketplace surface on held-out sessions: what the simulated user would choose (from
/// the hidden utility, never from anything a ranker reads) against what a ranker serves and what popularity would
/// show. The ranker is asked by entity ids and answers in them, so any ranker (rankd's pipeline included) can be
/// evaluated.
extension MarketplaceSessionSimulator {
    /// What a surface's evaluation sessions ask; a surface is evaluated by what it does, not by its name.
    public enum EvaluationTask: String, Sendable, CaseIterable {
        /// Venues for the user here and now (venue surfaces without inputs).
        case discovery
        /// Venues of one cuisine (venue surfaces that require a category).
        case category
        /// Items of the venue the user orders from (item surfaces that require a venue).
        case menu
        /// Items to add to a cart of that venue's items (item surfaces that require context items).
        case cart

        /// Recall is measured within this many answers: about a screen of venues, the length of a menu's visible part.
        public var recallCutoff: Int {
            switch self {
            case .discovery: return 50
            case .category: return 20
            case .menu, .cart: return 10
            }
        }

        /// The baseline's name in reports.
        var baselineName: String {
            switch self {
            case .discovery: return "popularity in area"
            case .category: return "popularity in category and area"
            case .menu: return "popularity in venue"
            case .cart: return "popularity in venue, not in cart"
            }
        }

        /// Whether the task's answers are venues (else items).
        public var ranksVenues: Bool { self == .discovery || self == .category }
    }

    /// What a ranker is asked in one evaluated session: the session's user, place and time, and the task's input.
    public struct EvaluationQuery: Sendable {
        /// The session.
        public var session: Session
        /// The cuisine of the category page (category task); empty otherwise.
        public var category = ""
        /// The venue whose menu is ranked (menu and cart tasks); empty otherwise.
        public var venueID = ""
        /// The cart (cart task); empty otherwise.
        public var contextItemIDs: [String] = []
        /// Answers wanted.
        public var limit = 50
    }

    /// One evaluated session: the query, the graded truth and the popularity baseline's order, both as venue
    /// indexes (venue tasks) or item indexes (item tasks).
    struct EvaluationCase {
        var query: EvaluationQuery
        var truth: [(venue: Int, grade: Int)]
        var baseline: [Int]
        /// The same candidates in the order of the hidden utility without the session's noise: what a ranker that
        /// knew everything but the user's mood would show. Not a ranker; it bounds what any ranker can reach.
        var ceiling: [Int]
    }

    /// Fewest venues of a cuisine that must deliver to a session for it to open that category page: below that the
    /// truth (five graded venues) would be most of the page, and any ranker would look good.
    static let minimumCategoryVenues = 10
    /// Fewest available items on a menu for a cart session (a cart of up to two, and three graded items to add).
    static let minimumCartItems = 6

    /// The evaluation case of `session` for `task`, or nil when the session cannot ask it (no venue delivers; no
    /// cuisine with enough venues; a menu too short).
    func evaluationCase(_ session: Session, task: EvaluationTask) -> EvaluationCase? {
        var query = EvaluationQuery(session: session)
        switch task {
        case .discovery:
            let truth = relevance(session)
            guard !truth.isEmpty else { return nil }
            let baseline = popularityRanking(session)
            return EvaluationCase(
                query: query,
                truth: truth,
                baseline: baseline,
                ceiling: byUtility(session, venues: baseline)
            )
        case .category:
            guard let (cuisine, truth, baseline) = categoryTruth(session) else { return nil }
            query.category = MarketplaceVocabulary.cuisines[cuisine]
            return EvaluationCase(
                query: query,
                truth: truth,
                baseline: baseline,
                ceiling: byUtility(session, venues: baseline)
            )
        case .menu:
            guard let venue = relevance(session).first?.venue else { return nil }
            query.venueID = MarketplaceCatalog.venueID(venue)
            let truth = itemLabels(session, venue: venue).filter { $0.label > 0 }.map {
                (venue: $0.item, grade: Int($0.label))
            }
            guard !truth.isEmpty else { return nil }
            let baseline = itemsByPopularity(venue: venue, excluding: [])
            return EvaluationCase(
                query: query,
                truth: truth,
                baseline: baseline,
                ceiling: menuByUtility(session, items: baseline)
            )
        case .cart:
            guard let venue = relevance(session).first?.venue,
                let (cart, truth) = cartTruth(session, venue: venue)
            else { return nil }
            query.contextItemIDs = cart.map { MarketplaceCatalog.itemID($0) }
            let baseline = itemsByPopularity(venue: venue, excluding: cart)
            return EvaluationCase(
                query: query,
                truth: truth,
                baseline: baseline,
                ceiling: byUtility(session, items: baseline, cart: cart)
            )
        }
    }

    /// A category page the user opens and what they would order from it. The cuisine is drawn among those with
    /// at least ``minimumCategoryVenues`` venues that can take the order, in proportion to the user's true taste
    /// for it plus a floor (people also browse cuisines they rarely order). Truth over those venues: the venue the
    /// user would order (grade 2) and the next four by noisy utility (grade 1), as for discovery.
    private func categoryTruth(
        _ session: Session
    ) -> (cuisine: Int, truth: [(venue: Int, grade: Int)], baseline: [Int])? {
        let catalog = demo.catalog
        let v = visit(session)
        let deliverable = deliverableVenues(v).sorted()
        let cuisines = MarketplaceVocabulary.cuisines.count
        var counts = [Int](repeating: 0, count: cuisines)
        for venue in deliverable {
            for c in 0..<cuisines where catalog.venueTags[venue] & (UInt32(1) << UInt32(c)) != 0 { counts[c] += 1 }
        }
        let eligible = (0..<cuisines).filter { counts[$0] >= MarketplaceSessionSimulator.minimumCategoryVenues }
        guard !eligible.isEmpty else { return nil }
        var rng = DemoRandom(seed: DemoHash.hash("category", String(session.id), String(session.user)))
        let weights = eligible.map {
            0.1 + Double(demo.truth.userTrueAffinity[session.user * MarketplaceTruth.cuisineCount + $0])
        }
        var r = rng.unit() * weights.reduce(0, +)
        var cuisine = eligible[eligible.count - 1]
        for (c, w) in zip(eligible, weights) {
            r -= w
            if r < 0 {
                cuisine = c
                break
            }
        }
        let tag = UInt32(1) << UInt32(cuisine)
        let venues = deliverable.filter { catalog.venueTags[$0] & tag != 0 }
        // Noise is drawn in venue order, so it does not depend on how the venues were found.
        var noisy = venues.map { (utility(session, venue: $0, visit: v) + rng.gumbel(), $0) }
        noisy.sort { ($0.0, -$0.1) > ($1.0, -$1.1) }
        let truth = noisy.prefix(5).enumerated().map { (venue: $0.element.1, grade: $0.offset == 0 ? 2 : 1) }
        let popularity = catalog.venuePopularity
        let baseline = venues.sorted { (popularity[$0], -$0) > (popularity[$1], -$1) }
        return (cuisine, truth, baseline)
    }

    /// A cart at the venue `venueID` and what the user adds to it, by id (see ``cartTruth(_:venue:)``); nil for an
    /// id that is no venue, or a menu too short.
    public func cartTruth(
        _ session: Session,
        venueID: String
    ) -> (cart: [String], truth: [(itemID: String, grade: Int)])? {
        guard let venue = demo.catalog.venueIndex(venueID), let (cart, truth) = cartTruth(session, venue: venue)
        else { return nil }
        return (
            cart.map { MarketplaceCatalog.itemID($0) }, truth.map { (MarketplaceCatalog.itemID($0.venue), $0.grade) }
        )
    }

    /// A cart at `venue` and what the user adds to it, all from the hidden item utility with habit and the session's
    /// noise (as in the orders): the user puts the item they want most in the cart and, in half the sessions, the
    /// item they then want most given it; the item they want most given that cart is what they add (grade 2), and
    /// the next two given the cart are good picks too (grade 1). What the cart adds is
    /// ``MarketplaceTruth/complement(catalog:item:cart:)``: courses it lacks, the pairing group of its items.
    func cartTruth(_ session: Session, venue: Int) -> (cart: [Int], truth: [(venue: Int, grade: Int)])? {
        var rng = DemoRandom(seed: DemoHash.hash("cart", String(session.id), String(session.user)))
        let noisy = noisyItems(session, venue: venue, rng: &rng)
        guard noisy.count >= MarketplaceSessionSimulator.minimumCartItems else { return nil }
        let cartSize = rng.unit() < 0.5 ? 1 : 2
        let cart = pickInOrder(noisy, count: cartSize)
        let truth = bestGiven(noisy, cart: cart, count: 3).enumerated().map {
            (venue: $0.element, grade: $0.offset == 0 ? 2 : 1)
        }
        return (cart, truth)
    }

    /// `venues` by the session's noiseless utility, best first.
    private func byUtility(_ session: Session, venues: [Int]) -> [Int] {
        let v = visit(session)
        let utilities = venues.map { utility(session, venue: $0, visit: v) }
        return venues.indices.sorted { (utilities[$0], -venues[$0]) > (utilities[$1], -venues[$1]) }.map { venues[$0] }
    }

    /// `items` as the session's noiseless item utility (with habit) would order a menu: the item wanted most, the
    /// item wanted most given it, then the rest given both.
    private func menuByUtility(_ session: Session, items: [Int]) -> [Int] {
        let v = visit(session)
        let noiseless = items.sorted().map {
            (
                utility: demo.truth.itemUtility(catalog: demo.catalog, user: session.user, item: $0, hour: v.hour)
                    + v.habit(item: $0),
                item: $0
            )
        }
        let ordered = pickInOrder(noiseless, count: 2)
        return ordered + bestGiven(noiseless, cart: ordered, count: items.count)
    }

    /// `items` by the session's noiseless item utility (with habit) given `cart`, best first.
    private func byUtility(_ session: Session, items: [Int], cart: [Int]) -> [Int] {
        let v = visit(session)
        let utilities = items.map {
            demo.truth.itemUtility(catalog: demo.catalog, user: session.user, item: $0, hour: v.hour, cart: cart)
                + v.habit(item: $0)
        }
        return items.indices.sorted { (utilities[$0], -items[$0]) > (utilities[$1], -items[$1]) }.map { items[$0] }
    }

    /// The venue's available items, most ordered first, without `excluding`: the item baseline.
    func itemsByPopularity(venue: Int, excluding: [Int]) -> [Int] {
        let catalog = demo.catalog
        let popularity = catalog.itemPopularity
        return catalog.menu(of: venue)
            .filter { catalog.itemAvailable[$0] && !excluding.contains($0) }
            .sorted { (popularity[$0], -$0) > (popularity[$1], -$1) }
    }

    /// Sessions compared with and without their events have at least this many events before the request.
    public static let minimumPriorEvents = 3

    /// Replays `sessions` held-out sessions (drawn with `seed`) through `ranker`, asked as a surface doing `task`
    /// would be, and through the popularity baseline, and reports NDCG@10 and recall of each and of the ceiling.
    /// The ranker answers entity ids, best first; ids of no venue (venue tasks) or item (item tasks) of the demo
    /// are skipped. Its row is called `name`.
    ///
    /// The ranker is told whether to read the session's earlier events (``Session/priorEvents``): its row reads
    /// them, as a served request would. Sessions with at least ``minimumPriorEvents`` of them are asked a second
    /// time without, for the report's ``MarketplaceEvaluationReport/events`` comparison.
    public func evaluate(
        surface: String,
        task: EvaluationTask,
        sessions count: Int,
        seed: UInt64,
        name: String,
        ranker: (_ query: EvaluationQuery, _ withEvents: Bool) throws -> [String]
    ) rethrows -> MarketplaceEvaluationReport {
        let cutoff = task.recallCutoff
        let catalog = demo.catalog
        var served = MetricSums()
        var popular = MetricSums()
        var ceiling = MetricSums()
        var comparison = (popular: MetricSums(), without: MetricSums(), with: MetricSums())
        var byIntent: [String: (without: MetricSums, with: MetricSums)] = [:]
        for session in sessions(count: count, heldOut: true, seed: seed) {
            guard let evaluation = evaluationCase(session, task: task) else { continue }
            let truth = evaluation.truth.map { ($0.venue, grade: $0.grade) }
            func measured(_ ids: [String]) -> (ndcg: Double, recall: Double) {
                let ranked = ids.compactMap { task.ranksVenues ? catalog.venueIndex($0) : catalog.itemIndex($0) }
                return (
                    DemoMetrics.ndcg(ranked, relevance: truth, k: 10),
                    DemoMetrics.recall(ranked, relevance: truth, k: cutoff)
                )
            }
            let withEvents = measured(try ranker(evaluation.query, true))
            let baseline = measured(evaluation.baseline.map(task.id))
            served.add(withEvents)
            popular.add(baseline)
            ceiling.add(measured(evaluation.ceiling.map(task.id)))
            guard session.priorEvents.count >= MarketplaceSessionSimulator.minimumPriorEvents else { continue }
            let withoutEvents = measured(try ranker(evaluation.query, false))
            comparison.popular.add(baseline)
            comparison.without.add(withoutEvents)
            comparison.with.add(withEvents)
            byIntent[session.intent.kind, default: (MetricSums(), MetricSums())].without.add(withoutEvents)
            byIntent[session.intent.kind, default: (MetricSums(), MetricSums())].with.add(withEvents)
        }
        return MarketplaceEvaluationReport(
            surface: surface,
            task: task,
            sessions: served.count,
            recallCutoff: cutoff,
            rows: [
                popular.row(task.baselineName, isBaseline: true),
                served.row(name),
                ceiling.row("ceiling: hidden utility without noise (not a ranker)", isCeiling: true),
            ],
            events: [
                .init(
                    ranker: name,
                    sessions: comparison.with.count,
                    popularity: comparison.popular.row(task.baselineName, isBaseline: true),
                    withoutEvents: comparison.without.row(name + ", without events"),
                    withEvents: comparison.with.row(name + ", with events"),
                    byIntent: byIntent.keys.sorted().map { kind in
                        let pair = byIntent[kind]!
                        return .init(
                            intent: kind,
                            sessions: pair.with.count,
                            withoutEvents: pair.without.row(kind),
                            withEvents: pair.with.row(kind)
                        )
                    }
                )
            ]
        )
    }
}

extension MarketplaceSessionSimulator.EvaluationTask {
    /// The id of a venue index (venue tasks) or item index (item tasks).
    func id(_ index: Int) -> String {
        ranksVenues ? MarketplaceCatalog.venueID(index) : MarketplaceCatalog.itemID(index)
    }
}

/// Running sums of NDCG@10 and recall over sessions.
struct MetricSums {
    var ndcg = 0.0
    var recall = 0.0
    var count = 0

    mutating func add(_ measured: (ndcg: Double, recall: Double)) {
        ndcg += measured.ndcg
        recall += measured.recall
        count += 1
    }

    /// The means as a report row.
    func row(_ name: String, isBaseline: Bool = false, isCeiling: Bool = false) -> MarketplaceEvaluationReport.Row {
        let n = Double(max(count, 1))
        return .init(name: name, ndcg10: ndcg / n, recall: recall / n, isBaseline: isBaseline, isCeiling: isCeiling)
    }
}

/// Ranking quality of a ranker against a popularity baseline on held-out users, for one surface.
public struct MarketplaceEvaluationReport: Sendable {
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
    /// What its sessions asked.
    public var task: MarketplaceSessionSimulator.EvaluationTask
    /// Sessions evaluated.
    public var sessions: Int
    /// Recall is measured in the first this many answers.
    public var recallCutoff: Int
    /// One row per ranker, the baseline first and the ceiling last.
    public var rows: [Row]
    /// Per ranker, the same requests with and without the session's earlier events.
    public var events: [EventsComparison]

    /// A ranker asked the same requests with and without the session's earlier events, over the held-out sessions
    /// with at least ``MarketplaceSessionSimulator/minimumPriorEvents`` of them.
    public struct EventsComparison: Sendable {
        /// One kind of hidden intent's share of the comparison.
        public struct IntentRows: Sendable {
            /// ``MarketplaceSessionSimulator/Intent/kind``.
            public var intent: String
            public var sessions: Int
            public var withoutEvents: Row
            public var withEvents: Row
        }

        /// The ranker's name.
        public var ranker: String
        /// Sessions compared.
        public var sessions: Int
        /// The baseline over the same sessions.
        public var popularity: Row
        public var withoutEvents: Row
        public var withEvents: Row
        /// The same per kind of hidden intent: where events can show something and where they cannot.
        public var byIntent: [IntentRows]

        /// NDCG@10 with events over NDCG@10 without (nil when without is zero).
        public var lift: Double? { withoutEvents.ndcg10 > 0 ? withEvents.ndcg10 / withoutEvents.ndcg10 : nil }
    }

    /// Creates a report.
    public init(
        surface: String,
        task: MarketplaceSessionSimulator.EvaluationTask,
        sessions: Int,
        recallCutoff: Int,
        rows: [Row],
        events: [EventsComparison] = []
    ) {
        self.surface = surface
        self.task = task
        self.sessions = sessions
        self.recallCutoff = recallCutoff
        self.rows = rows
        self.events = events
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
        for comparison in events where comparison.sessions > 0 {
            lines += [
                "",
                "\(comparison.ranker) with and without the session's events (\(comparison.sessions) held-out sessions "
                    + "with at least \(MarketplaceSessionSimulator.minimumPriorEvents) events before the request)",
                "",
                "| ranker | NDCG@10 | recall@\(recallCutoff) | NDCG@10 / popularity |",
                "|---|---:|---:|---:|",
            ]
            for row in [comparison.popularity, comparison.withoutEvents, comparison.withEvents] {
                let ratio = comparison.popularity.ndcg10 > 0 ? row.ndcg10 / comparison.popularity.ndcg10 : .nan
                lines.append(String(format: "| %@ | %.4f | %.4f | %.2fx |", row.name, row.ndcg10, row.recall, ratio))
            }
            if let lift = comparison.lift {
                lines += ["", String(format: "NDCG@10 with events / without: %.3f (%+.1f%%)", lift, 100 * (lift - 1))]
            }
            lines += [
                "",
                "| session's hidden intent | sessions | NDCG@10 without events | with events | with / without |",
                "|---|---:|---:|---:|---:|",
            ]
            for row in comparison.byIntent {
                let ratio = row.withoutEvents.ndcg10 > 0 ? row.withEvents.ndcg10 / row.withoutEvents.ndcg10 : .nan
                lines.append(
                    String(
                        format: "| %@ | %d | %.4f | %.4f | %.3f |",
                        row.intent,
                        row.sessions,
                        row.withoutEvents.ndcg10,
                        row.withEvents.ndcg10,
                        ratio
                    )
                )
            }
        }
        return lines.joined(separator: "\n")
    }
}
