import Foundation

/// Simulated listeners of the music demo for a live rankd: each listening session starts from a track of the
/// session's mood, then asks next_track what to play after it; the listener looks at the answer's top positions
/// (``ExaminationModel``), plays the examined track they like most (hidden utility plus Gumbel noise, as the demo's
/// histories were made) and completes or skips it by its utility, as the demo's listeners do. The utility includes
/// the session's intent (``MusicTruth/Intent``, drawn as for the demo's held-out sessions): the listener knows what
/// they are after, and rankd sees it only through the session's events. A session ends after three skips in a row or
/// at its drawn length.
public struct MusicListener: Sendable {
    /// The demo rankd serves.
    public let demo: MusicDemo
    /// The simulation's seed: users, moods and every draw of a session come from it.
    public let seed: UInt64
    /// How far down an answer listeners look.
    public let examination: ExaminationModel

    /// Sessions end after this many skips in a row, as in the demo's histories.
    public static let skipsEndingSession = 3
    /// Tracks of the session sent as next_track's context: the playing one and the most recent before it.
    public static let contextTracks = 10

    /// Listeners of `demo`, their draws fixed by `seed`.
    public init(demo: MusicDemo, seed: UInt64, examination: ExaminationModel = ExaminationModel()) {
        self.demo = demo
        self.seed = seed
        self.examination = examination
    }

    /// `count` distinct listeners (at most all of the demo's), the same for the same seed.
    public func users(count: Int) -> [Int] {
        simulatedUsers(count: min(count, demo.catalog.userCount), population: demo.catalog.userCount, seed: seed)
    }

    /// Listening session number `number` of listener `user`, its first track already chosen and played.
    public func session(number: Int, user: Int) -> MusicListeningSession {
        precondition(user >= 0 && user < demo.catalog.userCount, "no such listener")
        return MusicListeningSession(listener: self, number: number, user: user)
    }
}

/// What a listener did with one next_track answer, by zero-based position in it.
public struct MusicReaction: Sendable, Equatable {
    /// Positions looked at, in order.
    public var examined: [Int]
    /// The position played, nil when no examined track was playable (unknown or already played).
    public var played: Int?
    /// Whether the played track was played to its end (else skipped).
    public var completed: Bool
    /// Seconds played.
    public var secondsPlayed: Double
}

/// One listening session in progress: what plays, what played, and the listener's hidden state.
public struct MusicListeningSession: Sendable {
    /// The session's number in the simulation, from 0.
    public let number: Int
    /// The listener's index in the demo.
    public let user: Int
    /// The app session id, `sim-<seed>-s<number>`.
    public let sessionID: String
    /// Tracks the session plays at most.
    public let length: Int
    /// The session's tracks, newest first (the first is playing).
    public private(set) var tracks: [String] = []
    /// Whether the first track, chosen before any request, was completed, and how long it played.
    public private(set) var firstTrack: (completed: Bool, secondsPlayed: Double) = (false, 0)
    /// Skips since the last complete.
    public private(set) var skipsInRow = 0
    /// What the listener is after in this session beyond its mood: part of the hidden truth, for reports.
    public var intent: MusicTruth.Intent { state.intent }
    private let listener: MusicListener
    private var state: ListeningState
    private var rng: DemoRandom

    init(listener: MusicListener, number: Int, user: Int) {
        self.listener = listener
        self.number = number
        self.user = user
        sessionID = "sim-\(listener.seed)-s\(number)"
        let demo = listener.demo
        rng = DemoRandom(seed: listener.seed, stream: "listening", number)
        state = ListeningState(trackCount: demo.catalog.trackCount)
        state.begin(user: user, truth: demo.truth, catalog: demo.catalog)
        let listens = demo.catalog.listens(of: user)
        for l in listens where demo.catalog.listenCompleted[l] {
            let t = Int(demo.catalog.listenTrack[l])
            state.completes[t] = state.completes[t] &+ 1
        }
        let mood = demo.truth.drawMood(user: user, rng: &rng)
        // A stream of its own, so the session's other draws are those of a listener without intent.
        var intentRng = DemoRandom(seed: listener.seed, stream: "listening-intent", number)
        let intent = demo.truth.drawIntent(
            mood: mood,
            recentCompletes: listens.suffix(ListenerSimulator.recentForIntent)
                .filter { demo.catalog.listenCompleted[$0] }.map { demo.catalog.listenTrack[$0] },
            catalog: demo.catalog,
            rng: &intentRng
        )
        state.startSession(mood, intent: intent, truth: demo.truth)
        length = min(40, 2 + Int(-log(max(rng.unit(), 1e-12)) * 7))
        // The first track: the best liked of the mood genre's most appealing, as a listener picks a playlist.
        let genreTracks = demo.truth.genreTracks[state.mood.genre].prefix(50).map { Int($0) }
        let pool = genreTracks.isEmpty ? [rng.below(demo.catalog.trackCount)] : genreTracks
        var first = (score: -Double.infinity, track: pool[0])
        for t in pool {
            let s = score(t)
            if s > first.score { first = (s, t) }
        }
        let listened = listen(first.track)
        firstTrack = (listened.completed, listened.seconds)
    }

    /// The listener's id.
    public var userID: String { MusicCatalog.userID(user) }

    /// Whether the session is over: three skips in a row, or its length played.
    public var isOver: Bool { skipsInRow >= MusicListener.skipsEndingSession || tracks.count >= length }

    /// next_track's context items: the playing track first, then the session's recent ones, newest first.
    public var context: [String] { Array(tracks.prefix(MusicListener.contextTracks)) }

    /// Plays from `shown` (a next_track answer, in order) and advances the session.
    public mutating func react(shown: [String]) -> MusicReaction {
        let catalog = listener.demo.catalog
        let examined = listener.examination.examined(count: shown.count, rng: &rng)
        var best: (score: Double, position: Int, track: Int)?
        for position in examined {
            guard let t = catalog.trackIndex(shown[position]), !state.isInSession(t) else { continue }
            let s = score(t)
            if s > best?.score ?? -Double.infinity { best = (s, position, t) }
        }
        guard let best else {
            // Nothing to play from this answer counts as a skip of the whole answer, so a session of bad answers ends.
            skipsInRow += 1
            return MusicReaction(examined: examined, played: nil, completed: false, secondsPlayed: 0)
        }
        let listened = listen(best.track)
        return MusicReaction(
            examined: examined,
            played: best.position,
            completed: listened.completed,
            secondsPlayed: listened.seconds
        )
    }

    /// The tracks not yet played in the session, best first by the listener's hidden utility with the session's
    /// intent (no noise): the answer
    /// of a ranker that knew the truth, for tests and for calibrating how much better a model could do.
    public func bestTracks(limit: Int) -> [String] {
        let demo = listener.demo
        var scored: [(Float, Int)] = []
        for t in 0..<demo.catalog.trackCount where !state.isInSession(t) {
            scored.append((state.listenerUtility(t, truth: demo.truth, catalog: demo.catalog), t))
        }
        return scored.sorted { ($0.0, -$0.1) > ($1.0, -$1.1) }.prefix(limit).map { MusicCatalog.trackID($0.1) }
    }

    /// Utility plus a Gumbel draw: choosing the highest draws from the softmax of utilities.
    private mutating func score(_ t: Int) -> Double {
        Double(state.listenerUtility(t, truth: listener.demo.truth, catalog: listener.demo.catalog)) + rng.gumbel()
    }

    /// Plays `t`: completed when its utility plus logistic noise clears the listener's threshold, else skipped
    /// after 5 to 40 seconds (the demo's listening rule).
    private mutating func listen(_ t: Int) -> (completed: Bool, seconds: Double) {
        let demo = listener.demo
        let utility = Double(state.listenerUtility(t, truth: demo.truth, catalog: demo.catalog))
        let p = min(max(rng.unit(), 1e-12), 1 - 1e-12)
        let completed =
            utility + MusicTruth.Weight.completionNoise * log(p / (1 - p))
            > Double(demo.truth.userThreshold[user])
        let duration = Double(demo.catalog.trackDuration[t])
        let seconds = completed ? duration : min(duration, Double(5 + rng.below(36)))
        state.play(t)
        tracks.insert(MusicCatalog.trackID(t), at: 0)
        skipsInRow = completed ? 0 : skipsInRow + 1
        return (completed, seconds)
    }
}
