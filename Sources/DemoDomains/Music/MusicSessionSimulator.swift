import Dispatch
import Foundation

/// A "what plays next" ranker: given the listener, the playing track and the session's earlier tracks (newest
/// first), track ids, best first.
public typealias MusicRanker = (_ userID: String, _ playing: String, _ recent: [String]) -> [String]

/// Held-out listening sessions of the music demo with their ground truth, to evaluate a `next_track` ranker.
///
/// Held-out listeners are a fixed tenth, chosen by a hash of their id. Each has one session after the export,
/// played up to a random point; the ground truth is what the simulated listener would play next there, graded by
/// the hidden utility with the session's intent: the ``relevantTracks`` best tracks by utility plus a little noise,
/// grade 2 for those the listener would listen to the end, 1 for those they would start and likely skip. None of
/// these sessions is in the written histories or the popularity.
///
/// A case also carries the session's events so far (each earlier track's `play` and its `complete` or `skip`, and
/// the playing track's `play`), the only place the session's intent shows.
public struct MusicSessionSimulator: Sendable {
    /// The demo the sessions belong to.
    public let demo: MusicDemo

    /// Tracks graded relevant per session.
    public static let relevantTracks = 10

    /// A simulator over `demo`'s held-out sessions.
    public init(demo: MusicDemo) {
        self.demo = demo
    }

    /// Whether a listener is held out: a fixed tenth of ids, the same on every run.
    public static func isHeldOut(userID: String) -> Bool {
        DemoHash.hash("holdout", userID) % 10 == 0
    }

    /// One evaluation point: what a ranker is told, and what the listener would play.
    public struct Case: Sendable {
        /// The listener.
        public var userID: String
        /// The playing track.
        public var playing: String
        /// The session's earlier tracks, newest first.
        public var recent: [String]
        /// The relevant next tracks with their grades (2 = would complete, 1 = would start), best first.
        public var relevance: [(trackID: String, grade: Int)]
        /// An id for the session, as an app would send with its events and requests.
        public var sessionID: String
        /// The session's events before the request, oldest first.
        public var events: [Event]
        /// When the ranker is asked: just after the playing track started, Unix milliseconds.
        public var requestTimeMs: Int64
        /// The kind of the session's hidden intent (`none`, `energy`, `genre`, `tired_of`), for reports: part of
        /// the ground truth, never for a ranker.
        public var intent: String
    }

    /// One event of a held-out session, as a music app would report it.
    public struct Event: Sendable, Equatable {
        /// `play`, `complete` or `skip` (the event kinds of the event contract and of the snapshot's `listens`).
        public var kind: String
        /// The track.
        public var trackID: String
        /// When, Unix milliseconds.
        public var timeMs: Int64
    }

    /// The first `count` held-out sessions in listener order, with their ground truth.
    public func cases(count: Int) -> [Case] {
        let sessions = Array(demo.heldOutSessions.prefix(max(0, count)))
        guard !sessions.isEmpty else { return [] }
        let chunkCount = min(sessions.count, 16)
        var truths = [[(track: Int, grade: Int)]](repeating: [], count: sessions.count)
        truths.withUnsafeMutableBufferPointer { out in
            DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                var state = ListeningState(trackCount: demo.catalog.trackCount)
                for i in stride(from: chunk, to: sessions.count, by: chunkCount) {
                    out[i] = relevance(sessions[i], state: &state)
                }
            }
        }
        return sessions.indices.map { i in
            let session = sessions[i]
            let tracks = session.tracks.map { MusicCatalog.trackID(Int($0)) }
            return Case(
                userID: MusicCatalog.userID(session.user),
                playing: tracks.last!,
                recent: tracks.dropLast().reversed(),
                relevance: truths[i].map { (MusicCatalog.trackID($0.track), $0.grade) },
                sessionID: "\(MusicCatalog.userID(session.user))-s\(session.start)",
                events: Self.events(session),
                requestTimeMs: session.starts.last! + Self.requestDelayMs,
                intent: session.intent.kind
            )
        }
    }

    /// How long after the playing track starts the ranker is asked what plays next.
    public static let requestDelayMs: Int64 = 1000

    /// The events of `session` before the request: every track's `play`, and each earlier track's end.
    static func events(_ session: MusicHeldOutSession) -> [Event] {
        var events: [Event] = []
        for (k, t) in session.tracks.enumerated() {
            let id = MusicCatalog.trackID(Int(t))
            events.append(Event(kind: "play", trackID: id, timeMs: session.starts[k]))
            guard k < session.tracks.count - 1 else { break }
            events.append(Event(kind: session.completed[k] ? "complete" : "skip", trackID: id, timeMs: session.ends[k]))
        }
        return events
    }

    /// The ground truth of one session, from the hidden utility at its last track.
    func relevance(_ session: MusicHeldOutSession, state: inout ListeningState) -> [(track: Int, grade: Int)] {
        let catalog = demo.catalog
        let truth = demo.truth
        let u = session.user
        state.begin(user: u, truth: truth, catalog: catalog)
        for l in catalog.listens(of: u) where catalog.listenCompleted[l] {
            let t = Int(catalog.listenTrack[l])
            state.completes[t] = state.completes[t] &+ 1
        }
        state.startSession(session.mood, intent: session.intent, truth: truth)
        for t in session.tracks { state.play(Int(t)) }
        var rng = DemoRandom(seed: demo.seed, stream: "truth", u)
        var best: [(score: Double, utility: Float, track: Int)] = []
        for t in 0..<catalog.trackCount {
            let noise = rng.gumbel()
            guard !state.isInSession(t) else { continue }
            let utility = state.listenerUtility(t, truth: truth, catalog: catalog)
            let score = Double(utility) + 0.3 * noise
            guard best.count < Self.relevantTracks || score > best[best.count - 1].score else { continue }
            let at = best.firstIndex { $0.score < score } ?? best.count
            best.insert((score, utility, t), at: at)
            if best.count > Self.relevantTracks { best.removeLast() }
        }
        for l in catalog.listens(of: u) { state.completes[Int(catalog.listenTrack[l])] = 0 }
        let threshold = truth.userThreshold[u]
        return best.map { ($0.track, $0.utility >= threshold ? 2 : 1) }
    }

    /// NDCG@10 and recall@50 of `ranker` over the first `sessions` held-out sessions.
    public func evaluate(name: String, sessions: Int, ranker: MusicRanker) -> MusicEvaluation {
        evaluate(name: name, cases: cases(count: sessions), ranker: ranker)
    }

    /// NDCG@10 and recall@50 of `ranker` over `cases` (compute them once to compare several rankers).
    public func evaluate(name: String, cases: [Case], ranker: MusicRanker) -> MusicEvaluation {
        evaluate(name: name, cases: cases) { c in ranker(c.userID, c.playing, c.recent) }
    }

    /// NDCG@10 and recall@50 of a ranker told the whole case, events included.
    public func evaluate(name: String, cases: [Case], rankCase: (Case) -> [String]) -> MusicEvaluation {
        var ndcg = 0.0
        var recall = 0.0
        for c in cases {
            let ranked = rankCase(c)
            ndcg += Self.ndcg(ranked, relevance: c.relevance, k: 10)
            recall += Self.recall(ranked, relevance: c.relevance, k: 50)
        }
        let n = Double(max(cases.count, 1))
        return MusicEvaluation(name: name, sessions: cases.count, ndcg10: ndcg / n, recall50: recall / n)
    }

    /// NDCG@k with gains 2^grade - 1; a track ranked twice counts once.
    static func ndcg(_ ranked: [String], relevance: [(trackID: String, grade: Int)], k: Int) -> Double {
        DemoMetrics.ndcg(ranked, relevance: relevance.map { ($0.trackID, $0.grade) }, k: k)
    }

    /// The share of relevant tracks in the first `k`.
    static func recall(_ ranked: [String], relevance: [(trackID: String, grade: Int)], k: Int) -> Double {
        DemoMetrics.recall(ranked, relevance: relevance.map { ($0.trackID, $0.grade) }, k: k)
    }
}

extension MusicSessionSimulator {
    /// The baseline: the most popular tracks of the playing track's first genre, the session's tracks left out.
    /// It reads only what the snapshot holds.
    public func popularityRanker(limit: Int = 100) -> MusicRanker {
        let catalog = demo.catalog
        let byGenre = Self.tracksByPopularity(catalog)
        return { _, playing, recent in
            guard let p = catalog.trackIndex(playing) else { return [] }
            let session = Set([playing] + recent)
            var ranked: [String] = []
            for t in byGenre[Int(catalog.trackGenre[p])] where ranked.count < limit {
                let id = MusicCatalog.trackID(Int(t))
                if !session.contains(id) { ranked.append(id) }
            }
            return ranked
        }
    }

    /// A simple ranker on what the snapshot holds: the playing artist's popular tracks, then popular tracks of the
    /// playing track's genre and of its neighbours (the genres tracks most often carry beside it).
    public func artistAndGenreRanker(limit: Int = 100) -> MusicRanker {
        let catalog = demo.catalog
        let byGenre = Self.tracksByPopularity(catalog)
        let neighbours = Self.genreNeighbours(catalog)
        return { _, playing, recent in
            guard let p = catalog.trackIndex(playing) else { return [] }
            let session = Set([playing] + recent).compactMap { catalog.trackIndex($0) }
            var scored: [Int: Float] = [:]
            let artist = Int(catalog.trackArtist[p])
            for t in catalog.tracks(of: artist) { scored[Int(t)] = catalog.trackPopularity[Int(t)] + 2 }
            let genre = Int(catalog.trackGenre[p])
            for t in byGenre[genre].prefix(3 * limit) where scored[Int(t)] == nil {
                scored[Int(t)] = catalog.trackPopularity[Int(t)]
            }
            for g in neighbours[genre] {
                for t in byGenre[g].prefix(limit) where scored[Int(t)] == nil {
                    scored[Int(t)] = catalog.trackPopularity[Int(t)] - 0.7
                }
            }
            for t in session { scored[t] = nil }
            return scored.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(limit)
                .map { MusicCatalog.trackID($0.key) }
        }
    }

    /// Tracks of each first genre, most popular first.
    static func tracksByPopularity(_ catalog: MusicCatalog) -> [[Int32]] {
        var lists = [[Int32]](repeating: [], count: MusicVocabulary.genres.count)
        for t in 0..<catalog.trackCount { lists[Int(catalog.trackGenre[t])].append(Int32(t)) }
        let popularity = catalog.trackPopularity
        return lists.map { $0.sorted { (popularity[Int($0)], $1) > (popularity[Int($1)], $0) } }
    }

    /// For each genre, the two genres its tracks most often carry beside it (from the visible genre tags).
    static func genreNeighbours(_ catalog: MusicCatalog) -> [[Int]] {
        let count = MusicVocabulary.genres.count
        var together = [[Int]](repeating: [Int](repeating: 0, count: count), count: count)
        for t in 0..<catalog.trackCount {
            let g = Int(catalog.trackGenre[t])
            for h in 0..<count where h != g && catalog.trackGenreMask[t] & (1 << UInt16(h)) != 0 {
                together[g][h] += 1
            }
        }
        return (0..<count).map { g in
            (0..<count).filter { together[g][$0] > 0 }.sorted { (together[g][$0], $1) > (together[g][$1], $0) }
                .prefix(2).map { $0 }
        }
    }
}

/// Ranking quality of one ranker on held-out sessions.
public struct MusicEvaluation: Sendable {
    /// The ranker.
    public var name: String
    /// Sessions evaluated.
    public var sessions: Int
    /// Mean NDCG@10.
    public var ndcg10: Double
    /// Mean recall@50.
    public var recall50: Double

    /// A Markdown table of `rows`.
    public static func markdown(_ rows: [MusicEvaluation]) -> String {
        var lines = ["| ranker | NDCG@10 | recall@50 |", "|---|---:|---:|"]
        for row in rows { lines.append("| \(row.name) | \(format(row.ndcg10)) | \(format(row.recall50)) |") }
        lines.append("")
        lines.append("\(rows.first?.sessions ?? 0) held-out sessions")
        return lines.joined(separator: "\n")
    }

    static func format(_ value: Double) -> String { String(format: "%.4f", value) }
}
