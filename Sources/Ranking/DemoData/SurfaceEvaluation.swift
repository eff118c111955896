import Dispatch
import Foundation

/// Evaluation of every kind of surface on held-out sessions: what the simulated user would choose (from the hidden
/// utility, never from anything the pipeline reads) against what the surface serves and what popularity would show.
extension SessionSimulator {
    /// What a surface's evaluation sessions ask; chosen from the inputs the surface requires, so a surface
    /// configured later is evaluated by what it does, not by its name.
    public enum EvaluationTask: String, Sendable, CaseIterable {
        /// Venues for the user here and now (venue surfaces without inputs).
        case discovery
        /// Venues of one cuisine (venue surfaces that require `category`).
        case category
        /// Items of the venue the user orders from (item surfaces that require `venue`).
        case menu
        /// Items to add to a cart of that venue's items (item surfaces that require `context_items`).
        case cart

        /// The task for a surface, by its kind and inputs.
        public init(surface: SurfaceConfig) {
            switch surface.kind {
            case .venues: self = surface.inputs.contains(.category) ? .category : .discovery
            case .venueItems: self = surface.inputs.contains(.contextItems) ? .cart : .menu
            }
        }

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

        var ranksVenues: Bool { self == .discovery || self == .category }
    }

    /// One evaluated session: the request the surface is asked, the graded truth and the popularity baseline's
    /// order, both as venue indexes (venue tasks) or item indexes (item tasks).
    struct EvaluationCase {
        var query: RecommendQuery
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

    /// The evaluation case of `session` for `task` on surface `surface`, or nil when the session cannot ask it (no
    /// venue delivers; no cuisine with enough venues; a menu too short).
    func evaluationCase(_ session: Session, task: EvaluationTask, surface: String) -> EvaluationCase? {
        var query = RecommendQuery(
            userID: Catalog.userID(session.user),
            surface: surface,
            context: session.context,
            limit: 50
        )
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
            query.category = Marketplace.cuisines[cuisine]
            return EvaluationCase(
                query: query,
                truth: truth,
                baseline: baseline,
                ceiling: byUtility(session, venues: baseline)
            )
        case .menu:
            guard let venue = relevance(session).first?.venue else { return nil }
            query.venueID = Catalog.venueID(venue)
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
            query.contextItemIDs = cart.map { Catalog.itemID($0) }
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
        let catalog = market.catalog
        let f = frame(session)
        let deliverable = deliverableVenues(f).sorted()
        let cuisines = Marketplace.cuisines.count
        var counts = [Int](repeating: 0, count: cuisines)
        for v in deliverable {
            for c in 0..<cuisines where catalog.venueTags[v] & (UInt32(1) << UInt32(c)) != 0 { counts[c] += 1 }
        }
        let eligible = (0..<cuisines).filter { counts[$0] >= SessionSimulator.minimumCategoryVenues }
        guard !eligible.isEmpty else { return nil }
        var rng = SplitMix64(seed: StableHash.hash("category", String(session.id), String(session.user)))
        let weights = eligible.map {
            0.1 + Double(market.truth.userTrueAffinity[session.user * HiddenTruth.cuisineCount + $0])
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
        var noisy = venues.map { (utility(session, venue: $0, frame: f) + rng.gumbel(), $0) }
        noisy.sort { ($0.0, -$0.1) > ($1.0, -$1.1) }
        let truth = noisy.prefix(5).enumerated().map { (venue: $0.element.1, grade: $0.offset == 0 ? 2 : 1) }
        let popularity = catalog.venuePopularity
        let baseline = venues.sorted { (popularity[$0], -$0) > (popularity[$1], -$1) }
        return (cuisine, truth, baseline)
    }

    /// A cart at `venue` and what the user adds to it, all from the hidden item utility with habit and the session's
    /// noise (as in the orders): the user puts the item they want most in the cart and, in half the sessions, the
    /// item they then want most given it; the item they want most given that cart is what they add (grade 2), and
    /// the next two given the cart are good picks too (grade 1). What the cart adds is
    /// ``HiddenTruth/complement(catalog:item:cart:)``: courses it lacks, the pairing group of its items.
    func cartTruth(_ session: Session, venue: Int) -> (cart: [Int], truth: [(venue: Int, grade: Int)])? {
        var rng = SplitMix64(seed: StableHash.hash("cart", String(session.id), String(session.user)))
        let noisy = noisyItems(session, venue: venue, rng: &rng)
        guard noisy.count >= SessionSimulator.minimumCartItems else { return nil }
        let cartSize = rng.unit() < 0.5 ? 1 : 2
        let cart = pickInOrder(noisy, count: cartSize)
        let truth = bestGiven(noisy, cart: cart, count: 3).enumerated().map {
            (venue: $0.element, grade: $0.offset == 0 ? 2 : 1)
        }
        return (cart, truth)
    }

    /// `venues` by the session's noiseless utility, best first.
    private func byUtility(_ session: Session, venues: [Int]) -> [Int] {
        let f = frame(session)
        let utilities = venues.map { utility(session, venue: $0, frame: f) }
        return venues.indices.sorted { (utilities[$0], -venues[$0]) > (utilities[$1], -venues[$1]) }.map { venues[$0] }
    }

    /// `items` as the session's noiseless item utility (with habit) would order a menu: the item wanted most, the
    /// item wanted most given it, then the rest given both.
    private func menuByUtility(_ session: Session, items: [Int]) -> [Int] {
        let f = frame(session)
        let noiseless = items.sorted().map {
            (
                utility: market.truth.itemUtility(catalog: market.catalog, user: session.user, item: $0, hour: f.hour)
                    + 1.5 * Double(f.itemCount(Int32($0))),
                item: $0
            )
        }
        let ordered = pickInOrder(noiseless, count: 2)
        return ordered + bestGiven(noiseless, cart: ordered, count: items.count)
    }

    /// `items` by the session's noiseless item utility (with habit) given `cart`, best first.
    private func byUtility(_ session: Session, items: [Int], cart: [Int]) -> [Int] {
        let f = frame(session)
        let utilities = items.map {
            market.truth.itemUtility(catalog: market.catalog, user: session.user, item: $0, hour: f.hour, cart: cart)
                + 1.5 * Double(f.itemCount(Int32($0)))
        }
        return items.indices.sorted { (utilities[$0], -items[$0]) > (utilities[$1], -items[$1]) }.map { items[$0] }
    }

    /// The venue's available items, most ordered first, without `excluding`: the item baseline.
    func itemsByPopularity(venue: Int, excluding: [Int]) -> [Int] {
        let catalog = market.catalog
        let popularity = catalog.itemPopularity
        return (Int(catalog.venueItemStart[venue])..<Int(catalog.venueItemStart[venue + 1]))
            .filter { catalog.itemAvailable[$0] && !excluding.contains($0) }
            .sorted { (popularity[$0], -$0) > (popularity[$1], -$1) }
    }

    /// Replays held-out sessions through `engine`'s surface `surface` (its Recommend list, as served, top 50) and
    /// through the popularity baseline, and reports NDCG@10 and recall of each. The task follows the surface's
    /// configuration (``EvaluationTask/init(surface:)``).
    public func evaluate(
        engine: RankingEngine,
        surface: String,
        sessions count: Int,
        seed: UInt64
    ) throws -> EvaluationReport {
        guard let config = engine.pipelineConfig.surfaces[surface] else {
            throw RankingError.notFound(
                "unknown surface \"\(surface)\"; known surfaces: " + engine.surfaceNames.joined(separator: ", ")
            )
        }
        let task = EvaluationTask(surface: config)
        let cutoff = task.recallCutoff
        let catalog = engine.catalog
        var served = (ndcg: 0.0, recall: 0.0)
        var popular = (ndcg: 0.0, recall: 0.0)
        var ceiling = (ndcg: 0.0, recall: 0.0)
        var evaluated = 0
        var version = ""
        for session in sessions(count: count, heldOut: true, seed: seed) {
            guard let evaluation = evaluationCase(session, task: task, surface: surface) else { continue }
            // Quality, not latency, is measured: a generous deadline keeps a busy machine from skipping stages.
            let result = try engine.recommendList(
                evaluation.query,
                deadline: .now() + .seconds(10),
                isCancelled: { false }
            )
            version = result.modelVersion
            let ranked = result.items.compactMap {
                task.ranksVenues ? catalog.venueIndex($0.itemID) : catalog.itemIndex($0.itemID)
            }
            served.ndcg += Metrics.ndcg(ranked, relevance: evaluation.truth, k: 10)
            served.recall += Metrics.recall(ranked, relevance: evaluation.truth, k: cutoff)
            popular.ndcg += Metrics.ndcg(evaluation.baseline, relevance: evaluation.truth, k: 10)
            popular.recall += Metrics.recall(evaluation.baseline, relevance: evaluation.truth, k: cutoff)
            ceiling.ndcg += Metrics.ndcg(evaluation.ceiling, relevance: evaluation.truth, k: 10)
            ceiling.recall += Metrics.recall(evaluation.ceiling, relevance: evaluation.truth, k: cutoff)
            evaluated += 1
        }
        let n = Double(max(evaluated, 1))
        return EvaluationReport(
            surface: surface,
            task: task,
            sessions: evaluated,
            recallCutoff: cutoff,
            rows: [
                .init(
                    name: task.baselineName,
                    ndcg10: popular.ndcg / n,
                    recall: popular.recall / n,
                    isBaseline: true
                ),
                .init(name: "rankd \(surface) (\(version))", ndcg10: served.ndcg / n, recall: served.recall / n),
                .init(
                    name: "ceiling: hidden utility without noise (not a ranker)",
                    ndcg10: ceiling.ndcg / n,
                    recall: ceiling.recall / n,
                    isCeiling: true
                ),
            ]
        )
    }
}
