import Foundation

/// What one listener's simulation produced.
struct ListenerOutput {
    /// The most recent ``MusicDemo/maxListens`` listens before the export, oldest first.
    var listens: [Listen]
    /// Artists followed, oldest first.
    var follows: [(artist: Int32, time: Int64)]
    /// The listener's held-out session, if they are held out.
    var heldOut: MusicHeldOutSession?
}

/// Simulates listeners one after another: sessions over the history window, each started from a seed track and
/// continued with the candidate of highest utility plus noise, completed or skipped by utility.
///
/// Candidates come as a listening app would offer them (more by the playing artist, the popular tracks of its
/// genre and of the mood's, the listener's artists and favourites, a little of anything in the mood's genre), so
/// the co-listening the histories show (artist runs, genre neighbours, favourites, hits) comes from the choices.
struct ListenerSimulator {
    let seed: UInt64
    let catalog: MusicCatalog
    let truth: MusicTruth
    /// Plays of each track by the listeners simulated so far (held-out sessions not counted).
    private(set) var plays: [Int32]
    private var state: ListeningState
    private var pool: [Int32] = []

    /// Sessions end after this many skips in a row.
    static let skipsEndingSession = 3

    init(seed: UInt64, catalog: MusicCatalog, truth: MusicTruth) {
        self.seed = seed
        self.catalog = catalog
        self.truth = truth
        plays = [Int32](repeating: 0, count: catalog.trackCount)
        state = ListeningState(trackCount: catalog.trackCount)
        pool.reserveCapacity(MusicGenerator.candidatesPerStep)
    }

    /// Simulates listener `u`: their history sessions, follows and, when held out, their held-out session, with
    /// the intent drawn for it or `heldOutIntent` instead (to see what the intent changes).
    mutating func run(user u: Int, heldOutIntent: MusicTruth.Intent? = nil) -> ListenerOutput {
        var rng = DemoRandom(seed: seed, stream: "sessions", u)
        state.begin(user: u, truth: truth, catalog: catalog)
        let export = MusicDemo.exportTime
        let windowStart = max(catalog.userCreated[u], export - Int64(MusicDemo.historyDays) * MusicDemo.day)
        let sessionCount = min(60, max(1, Int(exp(1.0 + 0.9 * rng.normal()).rounded())))
        let starts = (0..<sessionCount).map { _ in
            windowStart + Int64(rng.unit() * Double(export - 2 * 3_600_000 - windowStart))
        }.sorted()
        var listens: [Listen] = []
        var clock: Int64 = 0
        for sessionStart in starts {
            var time = max(sessionStart, clock + 10 * 60_000)
            guard time < export - 60_000 else { break }
            state.startSession(truth.drawMood(user: u, rng: &rng), truth: truth)
            let length = min(40, 1 + Int(-log(max(rng.unit(), 1e-12)) * 7))
            var skipsInRow = 0
            for _ in 0..<length {
                let t = choose(listens: listens, rng: &rng)
                let listen = self.listen(t, at: time, rng: &rng)
                guard listen.end < export else { break }
                listens.append(listen)
                plays[t] += 1
                if listen.completed { state.completes[t] += 1 }
                // The window of recent listens moves on: a complete that leaves it no longer counts.
                if listens.count > MusicDemo.maxListens {
                    let leaving = listens[listens.count - 1 - MusicDemo.maxListens]
                    if leaving.completed { state.completes[Int(leaving.track)] -= 1 }
                }
                state.play(t)
                skipsInRow = listen.completed ? 0 : skipsInRow + 1
                time = listen.end + 1000 + Int64(rng.below(4000))
                if skipsInRow >= Self.skipsEndingSession { break }
            }
            clock = time
        }
        let kept = Array(listens.suffix(MusicDemo.maxListens))

        var heldOut: MusicHeldOutSession?
        if MusicSessionSimulator.isHeldOut(userID: MusicCatalog.userID(u)) {
            var sessionRng = DemoRandom(seed: seed, stream: "held-out", u)
            heldOut = heldOutSession(user: u, listens: kept, intent: heldOutIntent, rng: &sessionRng)
        }
        for listen in kept { state.completes[Int(listen.track)] = 0 }

        var followRng = DemoRandom(seed: seed, stream: "follows", u)
        var follows: [(artist: Int32, time: Int64)] = []
        for l in truth.loyalties(of: u) where followRng.chance(0.6) {
            let created = catalog.userCreated[u]
            follows.append((truth.loyalArtist[l], created + Int64(followRng.unit() * Double(export - created))))
        }
        follows.sort { ($0.time, $0.artist) < ($1.time, $1.artist) }
        return ListenerOutput(listens: kept, follows: follows, heldOut: heldOut)
    }

    /// A session after the export, played up to a random point: 1 to 8 tracks, the last one playing. It changes
    /// neither the listener's window nor the play counts.
    ///
    /// The session has an intent besides its mood. It and the listens' noise come from streams of their own, and a
    /// listen draws the same numbers whether completed or skipped, so the tracks played are the ones a session
    /// without intent would play: the intent changes only which of them the listener completes.
    private mutating func heldOutSession(
        user u: Int,
        listens: [Listen],
        intent override: MusicTruth.Intent?,
        rng: inout DemoRandom
    ) -> MusicHeldOutSession {
        let start = MusicDemo.exportTime + Int64(rng.below(7 * 86_400)) * 1000
        let mood = truth.drawMood(user: u, rng: &rng)
        var intentRng = DemoRandom(seed: seed, stream: "intent", u)
        let drawn = truth.drawIntent(
            mood: mood,
            recentCompletes: listens.suffix(Self.recentForIntent).filter(\.completed).map(\.track),
            catalog: catalog,
            rng: &intentRng
        )
        let intent = override ?? drawn
        state.startSession(mood, intent: intent, truth: truth)
        var tracks: [Int32] = []
        var completed: [Bool] = []
        var starts: [Int64] = []
        var ends: [Int64] = []
        var time = start
        var listenRng = DemoRandom(seed: seed, stream: "held-out-listens", u)
        for _ in 0..<(1 + rng.below(12)) {
            let t = choose(listens: listens, rng: &rng)
            let listen = self.listen(t, at: time, rng: &listenRng, drawsAlike: true)
            tracks.append(Int32(t))
            completed.append(listen.completed)
            starts.append(listen.start)
            ends.append(listen.end)
            state.play(t)
            time = listen.end + 1000
        }
        let next = choose(listens: listens, rng: &rng)
        return MusicHeldOutSession(
            user: u,
            mood: mood,
            intent: intent,
            start: start,
            tracks: tracks,
            completed: completed,
            starts: starts,
            ends: ends,
            next: Int32(next)
        )
    }

    /// The listener's latest listens an intent's tired-of artist is drawn from (by their completes).
    static let recentForIntent = 30

    /// Plays `t` from `time`: completed if its utility (with the session's intent) plus logistic noise clears the
    /// listener's threshold, otherwise skipped after 5 to 40 seconds. With `drawsAlike`, the skip's length is drawn
    /// even for a complete, so the next draws do not depend on the outcome (the histories draw it for skips only).
    private func listen(_ t: Int, at time: Int64, rng: inout DemoRandom, drawsAlike: Bool = false) -> Listen {
        let utility = Double(state.listenerUtility(t, truth: truth, catalog: catalog))
        let p = max(rng.unit(), 1e-12)
        let noise = MusicTruth.Weight.completionNoise * log(p / (1 - p))
        let completed = utility + noise > Double(truth.userThreshold[state.user])
        let duration = Int64(catalog.trackDuration[t]) * 1000
        let skipLength = !completed || drawsAlike ? Int64(5_000 + rng.below(35_000)) : 0
        let end = completed ? time + duration : time + min(duration, skipLength)
        return Listen(track: Int32(t), start: time, end: end, completed: completed)
    }

    /// The candidate of highest utility plus Gumbel noise: a draw from the softmax of utilities.
    private mutating func choose(listens: [Listen], rng: inout DemoRandom) -> Int {
        fillPool(listens: listens, rng: &rng)
        var best = Int(pool[0])
        var bestScore = -Double.infinity
        for t32 in pool {
            let t = Int(t32)
            let score = Double(state.utility(t, truth: truth, catalog: catalog)) + rng.gumbel()
            if score > bestScore {
                best = t
                bestScore = score
            }
        }
        return best
    }

    private mutating func fillPool(listens: [Listen], rng: inout DemoRandom) {
        pool.removeAll(keepingCapacity: true)
        func popular(_ genre: Int, _ n: Int, rng: inout DemoRandom) {
            let tracks = truth.genreTracks[genre]
            guard !tracks.isEmpty else { return }
            for _ in 0..<n { pool.append(tracks[rng.headBiased(tracks.count, power: 3)]) }
        }
        let mood = state.mood.genre
        if state.playing >= 0 {
            let byArtist = catalog.tracks(of: Int(catalog.trackArtist[state.playing]))
            for _ in 0..<4 { pool.append(byArtist[byArtist.startIndex + rng.below(byArtist.count)]) }
            popular(Int(catalog.trackGenre[state.playing]), 5, rng: &rng)
        } else {
            popular(mood, 5, rng: &rng)
        }
        popular(mood, 8, rng: &rng)
        let (left, right) = MusicVocabulary.neighbours(of: mood)
        popular(rng.chance(0.5) ? left : right, 3, rng: &rng)
        let moodTracks = truth.genreTracks[mood]
        if !moodTracks.isEmpty {
            for _ in 0..<2 { pool.append(moodTracks[rng.below(moodTracks.count)]) }
        }
        let loyal = state.loyalArtists
        if !loyal.isEmpty {
            for _ in 0..<5 {
                let tracks = catalog.tracks(of: Int(loyal[rng.below(loyal.count)].artist))
                guard !tracks.isEmpty else { continue }
                pool.append(tracks[tracks.startIndex + rng.below(tracks.count)])
            }
        }
        let window = listens.suffix(MusicDemo.maxListens)
        if !window.isEmpty {
            for _ in 0..<3 {
                let listen = window[window.startIndex + rng.below(window.count)]
                if listen.completed { pool.append(listen.track) }
            }
        }
        if pool.isEmpty { pool.append(Int32(rng.below(catalog.trackCount))) }
    }
}
