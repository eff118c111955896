import CRankingProto
import DemoDomains
import Foundation
import H2GRPC

/// The workers of one `rankctl simulate`: each claims the next visit number, waits for its turn when a rate is
/// set, and plays the visit against rankd. Bounded in time (the duration, each call's deadline) and in count
/// (`maxVisits`; a music session's length is bounded by ``MusicListener``).
final class SimulationRun: @unchecked Sendable {
    let world: SimulatedWorld
    let host: String
    let port: Int
    let timeout: Double
    let users: [Int]
    let concurrency: Int
    let rate: Double
    let maxVisits: Int
    let duration: Double
    let visitTime: MarketplaceShopper.VisitTime
    let tally = SimulationTally()
    /// Tells this run's event ids from an earlier run's with the same seed, which rankd would otherwise ignore as
    /// duplicates for its deduplication window (24 h).
    let runTag = String(UInt64.random(in: 0..<(1 << 40)), radix: 36)

    private let lock = NSLock()
    private var nextVisit = 0
    private var hitVisitCap = false
    private var start = Date()

    init(
        world: SimulatedWorld,
        host: String,
        port: Int,
        timeout: Double,
        users: [Int],
        concurrency: Int,
        rate: Double,
        maxVisits: Int,
        duration: Double,
        visitTime: MarketplaceShopper.VisitTime
    ) {
        precondition(!users.isEmpty, "a simulation needs users")
        self.world = world
        self.host = host
        self.port = port
        self.timeout = timeout
        self.users = users
        self.concurrency = concurrency
        self.rate = rate
        self.maxVisits = maxVisits
        self.duration = duration
        self.visitTime = visitTime
    }

    /// Runs every worker to the end; returns the elapsed seconds and what stopped the run.
    func run() -> (elapsed: Double, stoppedBy: String) {
        start = Date()
        let done = DispatchGroup()
        for worker in 0..<concurrency {
            done.enter()
            let thread = Thread { [self] in
                work()
                done.leave()
            }
            thread.name = "simulate-\(worker)"
            thread.start()
        }
        done.wait()
        return (Date().timeIntervalSince(start), lock.withLock { hitVisitCap } ? "max_visits" : "duration")
    }

    private var elapsed: Double { Date().timeIntervalSince(start) }
    private var timeLeft: Bool { elapsed < duration }

    /// The next visit's number, once it is due; nil when the run is over.
    private func claimVisit() -> Int? {
        let number: Int? = lock.withLock {
            guard nextVisit < maxVisits else {
                hitVisitCap = true
                return nil
            }
            defer { nextVisit += 1 }
            return nextVisit
        }
        guard let number, timeLeft else { return nil }
        if rate > 0 {
            let due = Double(number) / rate
            guard due < duration else { return nil }
            let wait = due - elapsed
            if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        }
        return timeLeft ? number : nil
    }

    private func work() {
        let client = SimulationClient(host: host, port: port, timeoutSeconds: timeout)
        while let number = claimVisit() {
            let user = users[number % users.count]
            switch world {
            case .marketplace(let shopper): marketplaceVisit(number, user: user, shopper: shopper, client: client)
            case .music(let listener): listeningSession(number, user: user, listener: listener, client: client)
            }
            tally.update { $0.visits += 1 }
        }
    }

    private static var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    /// Discovery, then impressions of what the user looked at, clicks and an order; after an order, the venue's
    /// menu (venue_items) and the items added to the cart.
    private func marketplaceVisit(_ number: Int, user: Int, shopper: MarketplaceShopper, client: SimulationClient) {
        let now = Self.nowMs
        let visit = shopper.visit(number: number, user: user, nowUnixMs: now, time: visitTime)
        var query = SimulationClient.Query(
            userID: visit.userID,
            surface: "discovery",
            requestID: visit.requestID,
            sessionID: visit.sessionID
        )
        query.latitude = visit.latitude
        query.longitude = visit.longitude
        query.requestTimeUnixMs = visit.requestTimeUnixMs
        let answer = client.recommend(query)
        tally.recommended(answer)
        guard answer.status == .ok else { return }
        // Events are stamped once the answer is in, so none is older than the exposure rankd logged for it.
        let shownAt = Self.nowMs
        let reaction = shopper.react(visit, shown: answer.ids)
        var events = EventBatch(visit: visit.requestID, run: runTag, userID: visit.userID, sessionID: visit.sessionID)
        for position in reaction.examined {
            events.add(.impression, answer.ids[position], "discovery", visit.requestID, position, at: shownAt)
        }
        for position in reaction.clicked {
            events.add(.click, answer.ids[position], "discovery", visit.requestID, position, at: shownAt + 1)
        }
        if let position = reaction.ordered {
            events.add(
                .order,
                answer.ids[position],
                "discovery",
                visit.requestID,
                position,
                at: shownAt + 2,
                value: reaction.orderValue
            )
        }
        tally.update {
            $0.impressions += reaction.examined.count
            $0.clicks += reaction.clicked.count
            $0.orders += reaction.ordered == nil ? 0 : 1
            $0.orderValue += reaction.orderValue
        }
        if let position = reaction.ordered, timeLeft {
            let venueID = answer.ids[position]
            var menuQuery = query
            menuQuery.surface = "venue_items"
            menuQuery.venueID = venueID
            menuQuery.requestID = visit.requestID + "-menu"
            let menu = client.recommend(menuQuery)
            tally.recommended(menu)
            if menu.status == .ok {
                let menuAt = Self.nowMs
                let seen = shopper.reactToMenu(visit, venueID: venueID, shown: menu.ids)
                for position in seen.examined {
                    events.add(
                        .impression,
                        menu.ids[position],
                        "venue_items",
                        menuQuery.requestID,
                        position,
                        at: menuAt
                    )
                }
                for position in seen.added {
                    events.add(
                        .addToCart,
                        menu.ids[position],
                        "venue_items",
                        menuQuery.requestID,
                        position,
                        at: menuAt + 1
                    )
                }
                tally.update {
                    $0.menus += 1
                    $0.impressions += seen.examined.count
                    $0.addedToCart += seen.added.count
                }
            }
        }
        send(events.events, client: client)
    }

    /// A listening session: the first track (chosen before any request), then next_track answers played from
    /// until the session ends, the run's time is up, or its length is reached. Each step's events go at once.
    private func listeningSession(_ number: Int, user: Int, listener: MusicListener, client: SimulationClient) {
        var session = listener.session(number: number, user: user)
        let prefix = "sim-\(listener.seed)-\(number)"
        var events = EventBatch(visit: prefix, run: runTag, userID: session.userID, sessionID: session.sessionID)
        let now = Self.nowMs
        let first = session.tracks[0]
        events.add(.play, first, "", "", 0, at: now)
        events.add(
            session.firstTrack.completed ? .complete : .skip,
            first,
            "",
            "",
            0,
            at: now + 1,
            value: session.firstTrack.secondsPlayed
        )
        send(events.take(), client: client)
        var step = 0
        while !session.isOver, timeLeft, step < MusicListenerLimits.maxSteps {
            var query = SimulationClient.Query(
                userID: session.userID,
                surface: "next_track",
                requestID: "\(prefix)-\(step)",
                sessionID: session.sessionID
            )
            query.contextItemIDs = session.context
            step += 1
            let answer = client.recommend(query)
            tally.recommended(answer)
            guard answer.status == .ok else { return }
            let reaction = session.react(shown: answer.ids)
            let now = Self.nowMs
            for position in reaction.examined {
                events.add(.impression, answer.ids[position], "next_track", query.requestID, position, at: now)
            }
            if let position = reaction.played {
                events.add(.play, answer.ids[position], "next_track", query.requestID, position, at: now + 1)
                events.add(
                    reaction.completed ? .complete : .skip,
                    answer.ids[position],
                    "next_track",
                    query.requestID,
                    position,
                    at: now + 2,
                    value: reaction.secondsPlayed
                )
            }
            tally.update {
                $0.impressions += reaction.examined.count
                $0.plays += reaction.played == nil ? 0 : 1
                $0.completes += reaction.played != nil && reaction.completed ? 1 : 0
                $0.skips += reaction.played != nil && !reaction.completed ? 1 : 0
            }
            send(events.take(), client: client)
        }
    }

    private func send(_ events: [SimulationClient.Event], client: SimulationClient) {
        guard !events.isEmpty else { return }
        tally.tracked(events, client.track(events))
    }
}

/// Bounds of a listening session beyond its drawn length.
enum MusicListenerLimits {
    /// next_track calls per session at most, whatever the listener does.
    static let maxSteps = 50
}

/// A visit's events with ids of their own: `<visit's request id>-e<k>-<run tag>`.
struct EventBatch {
    let visit: String
    let run: String
    let userID: String
    let sessionID: String
    private(set) var events: [SimulationClient.Event] = []
    private var count = 0

    init(visit: String, run: String, userID: String, sessionID: String) {
        self.visit = visit
        self.run = run
        self.userID = userID
        self.sessionID = sessionID
    }

    enum Kind {
        case impression, click, addToCart, order, play, skip, complete

        var proto: Ranking__V1__EventKind {
            switch self {
            case .impression: return RANKING__V1__EVENT_KIND__EVENT_KIND_IMPRESSION
            case .click: return RANKING__V1__EVENT_KIND__EVENT_KIND_CLICK
            case .addToCart: return RANKING__V1__EVENT_KIND__EVENT_KIND_ADD_TO_CART
            case .order: return RANKING__V1__EVENT_KIND__EVENT_KIND_ORDER
            case .play: return RANKING__V1__EVENT_KIND__EVENT_KIND_PLAY
            case .skip: return RANKING__V1__EVENT_KIND__EVENT_KIND_SKIP
            case .complete: return RANKING__V1__EVENT_KIND__EVENT_KIND_COMPLETE
            }
        }
    }

    mutating func add(
        _ kind: Kind,
        _ itemID: String,
        _ surface: String,
        _ requestID: String,
        _ position: Int,
        at timestamp: Int64,
        value: Double = 0
    ) {
        events.append(
            SimulationClient.Event(
                id: "\(visit)-e\(count)-\(run)",
                userID: userID,
                sessionID: sessionID,
                kind: kind.proto,
                itemID: itemID,
                surface: surface,
                requestID: requestID,
                position: position,
                timestampUnixMs: timestamp,
                value: value
            )
        )
        count += 1
    }

    /// The events added since the last take.
    mutating func take() -> [SimulationClient.Event] {
        defer { events = [] }
        return events
    }
}
