import Foundation
import Testing

@testable import DemoDomains

/// The simulated users `rankctl simulate` plays against rankd: deterministic by seed, biased to the top of an
/// answer, and converting more on an answer ranked by the hidden utility than on a random one (what lets an A/B test
/// tell a better model).
@Suite struct SimulatedUsersTests {
    static let shopper = MarketplaceShopper(demo: MarketplaceFixture.demo, seed: 11)
    /// Noon UTC of a fixed day, so meal times do not depend on when the tests run.
    static let now = Int64(MarketplaceFixture.referenceDay + 3) * 86_400_000 + 12 * 3_600_000

    /// `count` visits of the shopper's users with what each could be shown: its deliverable venues, shuffled by
    /// `seed`.
    static func visits(_ shopper: MarketplaceShopper, count: Int) -> [(MarketplaceShopper.Visit, [String])] {
        let users = shopper.users(count: 200)
        var rng = DemoRandom(seed: 99)
        var visits: [(MarketplaceShopper.Visit, [String])] = []
        for number in 0..<count {
            let visit = shopper.visit(number: number, user: users[number % users.count], nowUnixMs: now)
            var venues = shopper.deliverableVenues(visit)
            for i in stride(from: venues.count - 1, to: 0, by: -1) { venues.swapAt(i, rng.below(i + 1)) }
            visits.append((visit, venues))
        }
        return visits
    }

    @Test func examinationFallsWithPositionAndStopsAtTheDepth() {
        let model = ExaminationModel(decay: 0.8, depth: 10)
        #expect(model.probability(position: 0) == 1)
        for k in 1..<10 { #expect(model.probability(position: k) < model.probability(position: k - 1)) }
        #expect(model.probability(position: 10) == 0)
        var rng = DemoRandom(seed: 3)
        for _ in 0..<100 {
            let seen = model.examined(count: 30, rng: &rng)
            #expect(seen.first == 0 && seen.allSatisfy { $0 < 10 } && seen == seen.sorted())
        }
    }

    @Test func usersAreDistinctAndTheSameForTheSameSeed() {
        let users = Self.shopper.users(count: 50)
        #expect(Set(users).count == 50)
        #expect(users == MarketplaceShopper(demo: MarketplaceFixture.demo, seed: 11).users(count: 50))
        #expect(users != MarketplaceShopper(demo: MarketplaceFixture.demo, seed: 12).users(count: 50))
        let everyone = Self.shopper.users(count: 1_000_000)
        #expect(Set(everyone).count == MarketplaceFixture.demo.catalog.userCount)
    }

    @Test func theSameSeedGivesTheSameVisitsAndReactions() {
        let again = MarketplaceShopper(demo: MarketplaceFixture.demo, seed: 11)
        let other = MarketplaceShopper(demo: MarketplaceFixture.demo, seed: 12)
        var differs = false
        for (visit, shown) in Self.visits(Self.shopper, count: 60) {
            let twin = again.visit(number: visit.number, user: visit.user, nowUnixMs: Self.now)
            #expect(twin.requestID == visit.requestID && twin.requestTimeUnixMs == visit.requestTimeUnixMs)
            #expect(again.react(twin, shown: shown) == Self.shopper.react(visit, shown: shown))
            let stranger = other.visit(number: visit.number, user: visit.user, nowUnixMs: Self.now)
            if other.react(stranger, shown: shown) != Self.shopper.react(visit, shown: shown) { differs = true }
        }
        #expect(differs, "another seed should change some visit")
    }

    @Test func mealTimeVisitsAreAtLunchOrDinnerOfTheUsersCityAndNowVisitsAtTheWallClock() {
        let c = MarketplaceFixture.demo.catalog
        for (visit, _) in Self.visits(Self.shopper, count: 40) {
            let city = MarketplaceVocabulary.cities[Int(c.userCity[visit.user])]
            let local =
                visit.requestTimeUnixMs + Int64(city.utcOffsetMinutes(atUnixMs: visit.requestTimeUnixMs)) * 60_000
            let hour = Int((local % 86_400_000) / 3_600_000)
            #expect((11..<14).contains(hour) || (17..<22).contains(hour), "hour \(hour)")
            #expect(abs(visit.requestTimeUnixMs - Self.now) <= 8 * 3_600_000)
            #expect(visit.requestID == "sim-11-\(visit.number)")
            let now = Self.shopper.visit(number: visit.number, user: visit.user, nowUnixMs: Self.now, time: .now)
            #expect(now.requestTimeUnixMs == Self.now)
        }
    }

    /// (local minute of the day, fewest and most minutes moved over the 60 draws into the meal)
    @Test(arguments: [
        (10 * 60, 60, 119), (12 * 60, 0, 0), (13 * 60 + 59, 0, 0), (14 * 60, -60, -1), (15 * 60, -120, -61),
        (16 * 60, 60, 119), (16 * 60 + 30, 30, 89), (21 * 60 + 59, 0, 0), (23 * 60, -120, -61), (3 * 60, -360, -301),
    ])
    func aMealVisitIsAtTheWallClockDuringAMealElseAtTheNearestMeal(minute: Int, fewest: Int, most: Int) {
        let moves = (0..<60).map { MarketplaceShopper.minutesToMeal(from: minute, inward: $0) }
        #expect(moves.min() == fewest && moves.max() == most, "\(moves)")
    }

    @Test func lowerPositionsAreClickedLess() {
        var clicks = [Int](repeating: 0, count: 10)
        for (visit, shown) in Self.visits(Self.shopper, count: 600) where shown.count >= 10 {
            let reaction = Self.shopper.react(visit, shown: shown)
            #expect(Set(reaction.clicked).isSubset(of: reaction.examined))
            if let ordered = reaction.ordered { #expect(reaction.clicked.contains(ordered)) }
            for position in reaction.clicked { clicks[position] += 1 }
        }
        let top = clicks[0..<3].reduce(0, +)
        let bottom = clicks[7..<10].reduce(0, +)
        #expect(top > 2 * bottom, "clicks by position \(clicks)")
    }

    @Test func anAnswerRankedByTheHiddenUtilityConvertsMoreThanARandomOne() {
        var best = 0
        var random = 0
        for (visit, shown) in Self.visits(Self.shopper, count: 400) where !shown.isEmpty {
            if Self.shopper.react(visit, shown: Self.shopper.bestVenues(visit, limit: 20)).ordered != nil { best += 1 }
            if Self.shopper.react(visit, shown: Array(shown.prefix(20))).ordered != nil { random += 1 }
        }
        // 225 against 146 orders at the time of writing.
        #expect(10 * best > 13 * random, "orders: ranked by utility \(best), random \(random)")
    }

    @Test func anOrderOpensAMenuWhoseAddedItemsWereExamined() {
        var menus = 0
        for (visit, shown) in Self.visits(Self.shopper, count: 200) {
            let reaction = Self.shopper.react(visit, shown: shown)
            guard let ordered = reaction.ordered else { continue }
            #expect(reaction.orderValue > 0)
            let venue = MarketplaceFixture.demo.catalog.venueIndex(shown[ordered])!
            let menu = MarketplaceFixture.demo.catalog.menu(of: venue).map { MarketplaceCatalog.itemID($0) }
            let seen = Self.shopper.reactToMenu(visit, venueID: shown[ordered], shown: menu)
            #expect(Set(seen.added).isSubset(of: seen.examined))
            menus += 1
        }
        #expect(menus > 0)
    }

    @Test func listeningSessionsAreTheSameForTheSameSeedAndEnd() {
        let listener = MusicListener(demo: MusicDemoTests.demo, seed: 5)
        let users = listener.users(count: 20)
        for (number, user) in users.enumerated() {
            var one = listener.session(number: number, user: user)
            var two = MusicListener(demo: MusicDemoTests.demo, seed: 5).session(number: number, user: user)
            #expect(one.tracks == two.tracks && one.length == two.length)
            var steps = 0
            while !one.isOver && steps < 100 {
                let shown = one.bestTracks(limit: 20).reversed().map { $0 }
                #expect(one.react(shown: shown) == two.react(shown: shown))
                #expect(one.context.first == one.tracks.first && one.context.count <= MusicListener.contextTracks)
                steps += 1
            }
            #expect(one.isOver, "a session ends by its length or its skips")
            #expect(Set(one.tracks).count == one.tracks.count, "no track twice in a session")
        }
    }

    @Test func listenersHaveTheHeldOutSessionsIntentsAndTheirBestTracksFollowThem() {
        let listener = MusicListener(demo: MusicDemoTests.demo, seed: 6)
        let catalog = MusicDemoTests.demo.catalog
        var kinds: Set<String> = []
        for (number, user) in listener.users(count: 60).enumerated() {
            let session = listener.session(number: number, user: user)
            kinds.insert(session.intent.kind)
            // Tired of an artist: a ranker that knew the truth answers none of theirs.
            guard case .tiredOf(let artist) = session.intent else { continue }
            let best = session.bestTracks(limit: 20).compactMap { catalog.trackIndex($0) }
            #expect(!best.contains { catalog.trackArtist[$0] == artist }, "session \(number) tired of \(artist)")
        }
        #expect(kinds.isSuperset(of: ["energy", "genre", "tired_of"]), "\(kinds)")
    }

    @Test func anAnswerRankedByTheHiddenUtilityIsCompletedMoreThanARandomOne() {
        let listener = MusicListener(demo: MusicDemoTests.demo, seed: 8)
        let trackCount = MusicDemoTests.demo.catalog.trackCount
        var rng = DemoRandom(seed: 4)
        var completes = (best: 0, random: 0)
        var plays = (best: 0, random: 0)
        for (number, user) in listener.users(count: 80).enumerated() {
            var ranked = listener.session(number: number, user: user)
            var random = listener.session(number: number, user: user)
            for _ in 0..<8 {
                let best = ranked.react(shown: ranked.bestTracks(limit: 20))
                let any = random.react(shown: (0..<20).map { _ in MusicCatalog.trackID(rng.below(trackCount)) })
                if best.played != nil { plays.best += 1 }
                if any.played != nil { plays.random += 1 }
                if best.completed { completes.best += 1 }
                if any.completed { completes.random += 1 }
            }
        }
        let bestRate = Double(completes.best) / Double(max(plays.best, 1))
        let randomRate = Double(completes.random) / Double(max(plays.random, 1))
        #expect(bestRate > randomRate + 0.1, "completion rate: ranked by utility \(bestRate), random \(randomRate)")
    }
}
