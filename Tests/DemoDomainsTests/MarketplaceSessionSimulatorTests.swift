import Foundation
import Testing

@testable import DemoDomains

/// The marketplace demo's sessions, labels and evaluation truth, all from the hidden utility.
@Suite struct MarketplaceSessionSimulatorTests {
    @Test func sessionsAreOfHeldOutUsersAtHomeAfterTheSnapshotAndTheSameForTheSameSeed() {
        let simulator = MarketplaceFixture.simulator
        let c = MarketplaceFixture.demo.catalog
        let sessions = simulator.sessions(count: 50, heldOut: true, seed: 5)
        #expect(sessions.count == 50)
        for session in sessions {
            #expect(MarketplaceSessionSimulator.isHeldOut(user: session.user) && session.heldOut)
            #expect(session.latitude == c.userLatitude[session.user])
            #expect(session.market == MarketplaceVocabulary.cities[Int(c.userCity[session.user])].market)
            #expect(session.requestTimeUnixMs > Int64(MarketplaceFixture.referenceDay) * 86_400_000)
        }
        let again = simulator.sessions(count: 50, heldOut: true, seed: 5)
        #expect(again.map(\.user) == sessions.map(\.user))
        #expect(again.map(\.requestTimeUnixMs) == sessions.map(\.requestTimeUnixMs))
        #expect(simulator.sessions(count: 50, heldOut: false, seed: 5).allSatisfy { !$0.heldOut && !isHeldOut($0) })
    }

    func isHeldOut(_ session: MarketplaceSessionSimulator.Session) -> Bool {
        MarketplaceSessionSimulator.isHeldOut(user: session.user)
    }

    @Test func labelsByIdAreTheLabelsOfThoseVenuesAndUnknownIdsAreOnlySeen() throws {
        let simulator = MarketplaceFixture.simulator
        for session in simulator.sessions(count: 20, heldOut: false, seed: 1) {
            let venues = simulator.deliverableVenues(simulator.visit(session)).sorted().prefix(30).map { $0 }
            let byIndex = simulator.labels(session, shown: venues)
            #expect(simulator.labels(session, shown: venues.map { MarketplaceCatalog.venueID($0) }) == byIndex)
            #expect(byIndex.filter { $0 == 2 }.count <= 1)
            let withUnknown = simulator.labels(
                session,
                shown: ["nowhere"] + venues.map { MarketplaceCatalog.venueID($0) }
            )
            #expect(withUnknown == [0] + byIndex)
        }
    }

    @Test func categoryTruthAndBaselineHoldOnlyOrderableVenuesOfTheCategory() throws {
        let simulator = MarketplaceFixture.simulator
        let c = MarketplaceFixture.demo.catalog
        var checked = 0
        for session in simulator.sessions(count: 200, heldOut: true, seed: 5) {
            guard let evaluation = simulator.evaluationCase(session, task: .category) else { continue }
            let cuisine = try #require(MarketplaceVocabulary.cuisines.firstIndex(of: evaluation.query.category))
            let tag = UInt32(1) << UInt32(cuisine)
            let deliverable = Set(simulator.deliverableVenues(simulator.visit(session)))
            #expect(evaluation.baseline.count >= MarketplaceSessionSimulator.minimumCategoryVenues)
            #expect(evaluation.baseline.allSatisfy { c.venueTags[$0] & tag != 0 && deliverable.contains($0) })
            #expect(evaluation.truth.allSatisfy { c.venueTags[$0.venue] & tag != 0 && deliverable.contains($0.venue) })
            #expect(evaluation.truth.map(\.grade) == [2, 1, 1, 1, 1])
            #expect(Set(evaluation.ceiling) == Set(evaluation.baseline))
            checked += 1
        }
        #expect(checked > 0, "some fixture session should open a category page")
    }

    @Test func cartTruthNeverHoldsACartItemAndTheBaselineSkipsTheCart() throws {
        let simulator = MarketplaceFixture.simulator
        let c = MarketplaceFixture.demo.catalog
        var checked = 0
        for session in simulator.sessions(count: 40, heldOut: true, seed: 5) {
            guard let evaluation = simulator.evaluationCase(session, task: .cart) else { continue }
            let cart = Set(evaluation.query.contextItemIDs.compactMap { c.itemIndex($0) })
            #expect(!cart.isEmpty && cart.count <= 2)
            #expect(evaluation.truth.allSatisfy { !cart.contains($0.venue) })
            #expect(evaluation.baseline.allSatisfy { !cart.contains($0) })
            #expect(evaluation.truth.map(\.grade) == [2, 1, 1])
            checked += 1
        }
        #expect(checked > 0)
    }

    @Test func cartTruthIsWhatTheHiddenUtilityWantsMostGivenTheCart() throws {
        let simulator = MarketplaceFixture.simulator
        let c = MarketplaceFixture.demo.catalog
        let truthOf = MarketplaceFixture.demo.truth
        var checked = 0
        var completing = 0
        for session in simulator.sessions(count: 60, heldOut: true, seed: 5) {
            guard let venue = simulator.relevance(session).first?.venue,
                let (cart, truth) = simulator.cartTruth(session, venue: venue)
            else { continue }
            // The same noise the truth was drawn with: the session's mood for each item.
            var rng = DemoRandom(seed: DemoHash.hash("cart", String(session.id), String(session.user)))
            let noisy = simulator.noisyItems(session, venue: venue, rng: &rng)
            let utility = Dictionary(
                uniqueKeysWithValues: noisy.map {
                    ($0.item, $0.utility + truthOf.complement(catalog: c, item: $0.item, cart: cart))
                }
            )
            let graded = Set(truth.map(\.venue))
            let worstGraded = truth.map { utility[$0.venue]! }.min()!
            for (item, u) in utility where !graded.contains(item) && !cart.contains(item) {
                #expect(u <= worstGraded)
            }
            #expect(truth.map(\.grade) == [2, 1, 1])
            let added = truth[0].venue
            if !cart.contains(where: { c.itemCategory[$0] == c.itemCategory[added] }) { completing += 1 }
            // The same truth by id.
            let byID = try #require(simulator.cartTruth(session, venueID: MarketplaceCatalog.venueID(venue)))
            #expect(byID.cart == cart.map { MarketplaceCatalog.itemID($0) })
            #expect(byID.truth.map(\.itemID) == truth.map { MarketplaceCatalog.itemID($0.venue) })
            checked += 1
        }
        try #require(checked > 10)
        // What is added is mostly a course the cart does not have yet.
        #expect(Double(completing) > 0.7 * Double(checked), "\(completing) of \(checked)")
    }

    @Test(arguments: MarketplaceSessionSimulator.EvaluationTask.allCases)
    func aRankerThatAnswersTheTruthScoresOneAndTheBaselineItsOwnFigures(
        task: MarketplaceSessionSimulator.EvaluationTask
    ) throws {
        let simulator = MarketplaceFixture.simulator
        var truths: [String: [String]] = [:]
        var baseline = 0.0
        var cases = 0
        for session in simulator.sessions(count: 30, heldOut: true, seed: 3) {
            guard let evaluation = simulator.evaluationCase(session, task: task) else { continue }
            let id = task.ranksVenues ? MarketplaceCatalog.venueID : MarketplaceCatalog.itemID
            // Best grade first: the order that scores 1.
            truths[session.requestID] = evaluation.truth.sorted { $0.grade > $1.grade }.map { id($0.venue) }
            baseline += DemoMetrics.ndcg(
                evaluation.baseline,
                relevance: evaluation.truth.map { ($0.venue, grade: $0.grade) },
                k: 10
            )
            cases += 1
        }
        let report = simulator.evaluate(surface: "s", task: task, sessions: 30, seed: 3, name: "oracle") { query, _ in
            truths[query.session.requestID] ?? []
        }
        #expect(report.sessions == cases)
        #expect(report.rows.map(\.name) == [task.baselineName, "oracle", report.rows[2].name])
        #expect(report.rows.map(\.isBaseline) == [true, false, false])
        #expect(report.rows.map(\.isCeiling) == [false, false, true])
        #expect(report.recallCutoff == task.recallCutoff)
        if cases > 0 {
            #expect(report.rows[1].ndcg10 == 1 && report.rows[1].recall == 1)
            #expect(abs(report.rows[0].ndcg10 - baseline / Double(cases)) < 1e-12)
        }
        #expect(report.markdown.contains("| oracle | "))
    }
}

/// Sessions with intent: a craving for a cuisine that only the venues looked at earlier in the session show.
@Suite struct MarketplaceSessionIntentTests {
    @Test func earlierEventsAreAFewViewsOfDeliverableVenuesJustBeforeTheRequest() {
        let simulator = MarketplaceFixture.simulator
        var roomy = 0
        var roomyWithEvents = 0
        for session in simulator.sessions(count: 200, heldOut: true, seed: 5) {
            let events = session.priorEvents
            let deliverable = Set(simulator.deliverableVenues(simulator.visit(session)))
            if deliverable.count > 6 {
                roomy += 1
                if !events.isEmpty { roomyWithEvents += 1 }
            }
            // Fewer venues than views: nothing to browse.
            if deliverable.count <= 3 { #expect(events.isEmpty) }
            guard !events.isEmpty else { continue }
            #expect((3...6).contains(events.count))
            #expect(events.allSatisfy { $0.kind == "view" })
            #expect(Set(events.map(\.venueID)).count == events.count)
            #expect(
                events.allSatisfy {
                    MarketplaceFixture.demo.catalog.venueIndex($0.venueID).map(deliverable.contains) == true
                }
            )
            #expect(zip(events, events.dropFirst()).allSatisfy { $0.timeMs < $1.timeMs })
            #expect(events.last!.timeMs < session.requestTimeUnixMs)
            #expect(session.requestTimeUnixMs - events.first!.timeMs <= 10 * 60_000)
        }
        // Where enough venues deliver, a quarter of sessions start at the request and the rest browse first.
        #expect(roomy > 20)
        let share = Double(roomyWithEvents) / Double(max(roomy, 1))
        #expect((0.6...0.9).contains(share), "\(roomyWithEvents) of \(roomy)")
    }

    @Test func intentsAndEventsAreTheSameForTheSameSeedAndLeaveUsersPlacesAndTimesAlone() {
        let simulator = MarketplaceFixture.simulator
        let sessions = simulator.sessions(count: 60, heldOut: false, seed: 9)
        let again = simulator.sessions(count: 60, heldOut: false, seed: 9)
        #expect(sessions.map(\.intent) == again.map(\.intent))
        #expect(sessions.map(\.priorEvents) == again.map(\.priorEvents))
        for session in sessions {
            var plain = session
            plain.intent = .none
            plain.priorEvents = []
            #expect(simulator.withIntent(plain, seed: 9).intent == session.intent)
        }
        let kinds = Set(sessions.map(\.intent.kind))
        #expect(kinds == ["none", "cuisine"])
    }

    @Test func aCravingRaisesTheCravedCuisineAndTheViewsLeanToIt() throws {
        let simulator = MarketplaceFixture.simulator
        let catalog = MarketplaceFixture.demo.catalog
        var viewsOfCraved = 0
        var views = 0
        var shareAmongDeliverable = 0.0
        var craving = 0
        for session in simulator.sessions(count: 200, heldOut: true, seed: 5) {
            guard case .cuisine(let craved) = session.intent else { continue }
            let deliverable = simulator.deliverableVenues(simulator.visit(session))
            let venue = try #require(deliverable.first { Int(catalog.venueCuisine[$0]) == craved })
            var calm = session
            calm.intent = .none
            let gain =
                simulator.utility(session, venue: venue, visit: simulator.visit(session))
                - simulator.utility(calm, venue: venue, visit: simulator.visit(calm))
            #expect(abs(gain - MarketplaceSessionSimulator.SessionIntent.cravingBonus) < 1e-9)
            guard !session.priorEvents.isEmpty else { continue }
            craving += 1
            let of = deliverable.filter { Int(catalog.venueCuisine[$0]) == craved }.count
            shareAmongDeliverable += Double(of) / Double(deliverable.count)
            for event in session.priorEvents {
                views += 1
                if Int(catalog.venueCuisine[catalog.venueIndex(event.venueID)!]) == craved { viewsOfCraved += 1 }
            }
        }
        #expect(craving > 20)
        // The views show the craving: far more of them are of the craved cuisine than its share of venues.
        #expect(Double(viewsOfCraved) / Double(views) > 2 * shareAmongDeliverable / Double(craving))
    }
}
