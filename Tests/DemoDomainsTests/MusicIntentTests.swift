import Testing

@testable import DemoDomains

/// The intent of a held-out session: what the listener is after right now changes which tracks they complete or
/// skip, and nothing else a ranker could see (not the tracks played, not the written histories).
@Suite struct MusicIntentTests {
    static let demo = MusicDemoTests.demo

    /// Each held-out listener simulated again, with the drawn intent and with none.
    static let pairs: [(drawn: MusicHeldOutSession, none: MusicHeldOutSession, listens: Int)] = {
        var simulator = ListenerSimulator(seed: demo.seed, catalog: demo.catalog, truth: demo.truth)
        return demo.heldOutSessions.map { session in
            let drawn = simulator.run(user: session.user)
            let none = simulator.run(user: session.user, heldOutIntent: MusicTruth.Intent.none)
            #expect(drawn.listens.count == none.listens.count)
            #expect(
                zip(drawn.listens, none.listens).allSatisfy {
                    ($0.track, $0.start, $0.end, $0.completed) == ($1.track, $1.start, $1.end, $1.completed)
                },
                "the intent changed the written history of u\(session.user + 1)"
            )
            return (drawn.heldOut!, none.heldOut!, drawn.listens.count)
        }
    }()

    @Test func theSimulationIsTheDemosAndTheIntentLeavesThePlayedTracksAlone() {
        for (pair, session) in zip(Self.pairs, Self.demo.heldOutSessions) {
            #expect(pair.drawn.tracks == session.tracks && pair.drawn.completed == session.completed)
            #expect(pair.drawn.intent == session.intent)
            #expect(pair.none.tracks == pair.drawn.tracks, "the intent changed what was played")
            // A skip ends a listen early, so only the start of the session is the same.
            #expect(pair.none.starts.first == pair.drawn.starts.first)
        }
        var kinds: Set<String> = []
        for pair in Self.pairs {
            switch pair.drawn.intent {
            case .none: kinds.insert("none")
            case .energy: kinds.insert("energy")
            case .genre: kinds.insert("genre")
            case .tiredOf: kinds.insert("tiredOf")
            }
        }
        #expect(kinds == ["none", "energy", "genre", "tiredOf"])
    }

    @Test func theIntentTurnsCompletesIntoSkipsAndBackInItsDirection() {
        let catalog = Self.demo.catalog
        var changed = 0
        var sessionsChanged = 0
        for pair in Self.pairs {
            var state = ListeningState(trackCount: catalog.trackCount)
            state.startSession(pair.drawn.mood, intent: pair.drawn.intent, truth: Self.demo.truth)
            var any = false
            for (k, t) in pair.drawn.tracks.enumerated() {
                let shift = state.intentShift(Int(t), catalog: catalog)
                let (with, without) = (pair.drawn.completed[k], pair.none.completed[k])
                // The same listen noise both times: a track the intent makes worth more is never skipped where it
                // was completed without the intent, and the other way round.
                if shift > 0 { #expect(with || !without) }
                if shift < 0 { #expect(!with || without) }
                if shift == 0 { #expect(with == without) }
                if with != without {
                    changed += 1
                    any = true
                    if case .tiredOf(let artist) = pair.drawn.intent {
                        #expect(catalog.trackArtist[Int(t)] == artist && !with)
                    }
                }
            }
            if any { sessionsChanged += 1 }
        }
        let listens = Self.pairs.reduce(0) { $0 + $1.drawn.tracks.count }
        #expect(changed * 20 > listens, "\(changed) of \(listens) listens changed")
        #expect(sessionsChanged * 5 > Self.pairs.count, "\(sessionsChanged) of \(Self.pairs.count) sessions changed")
    }

    @Test func theGroundTruthFollowsTheIntent() {
        let simulator = MusicSessionSimulator(demo: Self.demo)
        var tiredAnswered = 0
        var tiredSessions = 0
        var state = ListeningState(trackCount: Self.demo.catalog.trackCount)
        for session in Self.demo.heldOutSessions {
            guard case .tiredOf(let artist) = session.intent else { continue }
            tiredSessions += 1
            let relevant = simulator.relevance(session, state: &state)
            tiredAnswered += relevant.filter { Self.demo.catalog.trackArtist[$0.track] == artist }.count
        }
        #expect(tiredSessions > 0)
        // Ten relevant tracks per session: hardly any is by the artist the listener is tired of.
        #expect(tiredAnswered * 50 < tiredSessions * MusicSessionSimulator.relevantTracks)
    }

    @Test func casesCarryTheSessionsEventsBeforeTheRequest() {
        let cases = MusicSessionSimulatorTests.cases
        for (c, session) in zip(cases, Self.demo.heldOutSessions) {
            #expect(c.events.count == 2 * session.tracks.count - 1)
            #expect(c.events.last == .init(kind: "play", trackID: c.playing, timeMs: session.starts.last!))
            #expect(zip(c.events, c.events.dropFirst()).allSatisfy { $0.timeMs <= $1.timeMs })
            #expect(c.events.allSatisfy { $0.timeMs < c.requestTimeMs })
            for (k, t) in session.tracks.dropLast().enumerated() {
                let end = c.events[2 * k + 1]
                #expect(end.trackID == MusicCatalog.trackID(Int(t)))
                #expect(end.kind == (session.completed[k] ? "complete" : "skip"))
            }
            #expect(c.sessionID.hasPrefix(c.userID + "-"))
        }
    }
}
