import Foundation

/// What simulated listeners act on and the snapshot does not show: taste over latent factors, loyalty to a few
/// artists, each session's mood, what the listener is after right now (the intent of a held-out session), how much
/// a listener stays with the playing artist, and how picky they are.
///
/// The snapshot shows only its traces: genres, energy and tempo are visible, the latent factors only through the
/// noisy embeddings, loyalty through follows and repeated plays, the mood through the session's tracks. The intent
/// shows only in the session's skips and completes: what is played next is chosen without it.
public struct MusicTruth: Sendable {
    /// Number of latent taste factors.
    static let factors = 10

    /// How much each part of the utility weighs.
    enum Weight {
        /// The listener's taste towards the track's factors.
        static let taste: Float = 1.6
        /// The session's mood genre towards the track's factors.
        static let mood: Float = 2.0
        /// Distance of the track's energy from the energy the session wants.
        static let moodEnergy: Float = 2.0
        /// Energy jump from the playing track.
        static let energyStep: Float = 1.2
        /// Tempo jump from the playing track (per unit of log tempo ratio).
        static let tempoStep: Float = 1.0
        /// The track's appeal to everyone (what makes hits).
        static let appeal: Float = 0.6
        /// An artist of the listener's country.
        static let local: Float = 0.3
        /// Per earlier complete in the listener's recent history, up to three.
        static let favourite: Float = 0.35
        /// A track already played in this session.
        static let repetition: Float = 8
        /// Spread of the logistic noise on complete-or-skip.
        static let completionNoise: Double = 0.8
        /// An intent for more calm or more intensity: per unit a track's energy is nearer the mood's than the energy
        /// wanted now (a gain where it is nearer the energy wanted).
        static let intentEnergy: Float = 8.0
        /// An intent for a genre: a track without it.
        static let intentGenre: Float = 3.0
        /// An intent to hear no more of an artist: each of the artist's tracks.
        static let intentTiredArtist: Float = 5.0
    }

    /// Latent factors of each genre, `factors` per genre, unit length; neighbours on the genre ring are alike.
    var genreFactors: [Float] = []
    /// Latent factors of each track, `factors` per track, unit length.
    var trackFactors: [Float] = []
    /// Appeal of each track to everyone, about standard normal.
    var trackAppeal: [Float] = []
    /// log(tempo) of each track, for tempo continuity.
    var trackLogTempo: [Float] = []
    /// Appeal of each artist, about standard normal.
    var artistAppeal: [Float] = []
    /// Tracks whose first genre is `g`, most appealing first: `genreTracks[g]`.
    var genreTracks: [[Int32]] = []
    /// Artists whose main genre is `g`, most appealing first.
    var genreArtists: [[Int32]] = []

    /// Each listener's taste, `factors` per listener, unit length.
    var userTaste: [Float] = []
    /// The energy each listener usually wants.
    var userEnergy: [Float] = []
    /// A listener completes a track when its utility plus noise clears this; skips it otherwise.
    var userThreshold: [Float] = []
    /// Bonus for staying with the playing track's artist.
    var userArtistRun: [Float] = []
    /// The listener's favourite genres: `userGenre[userGenreStart[u]..<userGenreStart[u + 1]]` with weights.
    var userGenreStart: [Int32] = [0]
    var userGenre: [UInt8] = []
    var userGenreWeight: [Double] = []
    /// Artists the listener is loyal to, with the bonus each gets.
    var userLoyaltyStart: [Int32] = [0]
    var loyalArtist: [Int32] = []
    var loyalWeight: [Float] = []

    func favouriteGenres(of u: Int) -> Range<Int> { Int(userGenreStart[u])..<Int(userGenreStart[u + 1]) }
    func loyalties(of u: Int) -> Range<Int> { Int(userLoyaltyStart[u])..<Int(userLoyaltyStart[u + 1]) }

    /// The hidden mood of a session: a genre it leans to and the energy it wants. What is played shows it, as the
    /// tracks are chosen by it.
    struct Mood: Sendable, Equatable {
        var genre: Int
        var energy: Float
    }

    /// A session's mood: mostly one of the listener's genres or a neighbour, sometimes anything.
    func drawMood(user u: Int, rng: inout DemoRandom) -> Mood {
        let favourites = favouriteGenres(of: u)
        let genre: Int
        let r = rng.unit()
        let favourite = Int(userGenre[favourites.lowerBound + rng.weighted(Array(userGenreWeight[favourites]))])
        if r < 0.7 {
            genre = favourite
        } else if r < 0.9 {
            let (left, right) = MusicVocabulary.neighbours(of: favourite)
            genre = rng.chance(0.5) ? left : right
        } else {
            genre = rng.weighted(MusicVocabulary.genres.map(\.share))
        }
        let wanted = 0.5 * Double(userEnergy[u]) + 0.5 * MusicVocabulary.genres[genre].energy + 0.15 * rng.normal()
        return Mood(genre: genre, energy: Float(min(0.95, max(0.05, wanted))))
    }

    /// What a listener is after right now, on top of the session's mood. What plays next is chosen without it (the
    /// app that picks does not know it), but the listener completes or skips by it, so only a session's skips and
    /// completes show it; never the snapshot, never which tracks were played.
    public enum Intent: Sendable, Equatable {
        /// Nothing beyond the mood.
        case none
        /// Calmer or more intense than the mood, by a quarter of the scale: a track is worth more the nearer its
        /// energy is to this than to the mood's, and less the other way round.
        case energy(Float)
        /// In the mood for a genre beside the session's: a track without it is worth less. The session still plays
        /// its mood's genre, so most of its tracks are skipped, and one of the wanted genre is completed.
        case genre(Int)
        /// Tired of an artist played a lot lately: the artist's tracks are worth less.
        case tiredOf(artist: Int32)

        /// The kind, for reports: `none`, `energy`, `genre` or `tired_of`.
        public var kind: String {
            switch self {
            case .none: return "none"
            case .energy: return "energy"
            case .genre: return "genre"
            case .tiredOf: return "tired_of"
            }
        }
    }

    /// A session's intent, drawn at its start: none (a tenth of sessions), or, a third each of the rest, an energy
    /// a quarter of the scale below or above the mood's, a genre beside the mood's on the ring, or the artist the
    /// listener completed most often lately. `recentCompletes` are the tracks the listener completed lately.
    func drawIntent(mood: Mood, recentCompletes: [Int32], catalog: MusicCatalog, rng: inout DemoRandom) -> Intent {
        let r = rng.unit()
        if r < 0.1 { return .none }
        if r < 0.4 {
            let calmer = mood.energy > 0.75 || (mood.energy >= 0.25 && rng.chance(0.5))
            return .energy(min(0.95, max(0.05, mood.energy + (calmer ? -0.25 : 0.25))))
        }
        if r < 0.7 || recentCompletes.isEmpty {
            let (left, right) = MusicVocabulary.neighbours(of: mood.genre)
            return .genre(rng.chance(0.5) ? left : right)
        }
        // The artist completed most often lately (the latest of those tied).
        var counts: [Int32: Int] = [:]
        var best: (count: Int, artist: Int32) = (0, -1)
        for t in recentCompletes {
            let artist = catalog.trackArtist[Int(t)]
            counts[artist, default: 0] += 1
            if counts[artist]! >= best.count { best = (counts[artist]!, artist) }
        }
        return .tiredOf(artist: best.artist)
    }
}

/// One listener at one moment: the session so far and what they have been completing lately. The scratch columns
/// are dense over tracks so a candidate's utility is a few array reads; one state serves many listeners in turn
/// (``begin(user:truth:catalog:)``), as allocating them per listener would cost more than the simulation.
struct ListeningState {
    private(set) var user = 0
    /// Completes of each track in the listener's recent listens (the history window); the owner clears what it
    /// set before the next listener.
    var completes: [UInt8]
    /// `sessionMark[t] == session` for tracks played in the current session; sessions are numbered across
    /// listeners so marks never need clearing.
    private var sessionMark: [UInt32]
    private var session: UInt32 = 0
    private(set) var mood = MusicTruth.Mood(genre: 0, energy: 0.5)
    /// What the listener is after in this session beyond the mood (see ``intentShift(_:catalog:)``).
    private(set) var intent = MusicTruth.Intent.none
    /// Taste and mood towards track factors, combined once per session.
    private var direction: [Float]
    /// The playing track, or -1 before the session's first.
    private(set) var playing = -1
    /// The listener's loyalties, copied for the hot loop.
    private(set) var loyalArtists: [(artist: Int32, weight: Float)] = []
    private var country: UInt8 = 0
    private var artistRun: Float = 0

    init(trackCount: Int) {
        completes = [UInt8](repeating: 0, count: trackCount)
        sessionMark = [UInt32](repeating: 0, count: trackCount)
        direction = [Float](repeating: 0, count: MusicTruth.factors)
    }

    /// Switches to listener `u`; `completes` must already be clear.
    mutating func begin(user u: Int, truth: MusicTruth, catalog: MusicCatalog) {
        user = u
        loyalArtists = truth.loyalties(of: u).map { (truth.loyalArtist[$0], truth.loyalWeight[$0]) }
        country = catalog.userCountry[u]
        artistRun = truth.userArtistRun[u]
        playing = -1
    }

    /// Starts a session with `mood` and `intent`.
    mutating func startSession(_ mood: MusicTruth.Mood, intent: MusicTruth.Intent = .none, truth: MusicTruth) {
        session &+= 1
        self.mood = mood
        self.intent = intent
        playing = -1
        let k = MusicTruth.factors
        for f in 0..<k {
            direction[f] =
                MusicTruth.Weight.taste * truth.userTaste[user * k + f] + MusicTruth.Weight.mood
                * truth.genreFactors[mood.genre * k + f]
        }
    }

    /// Plays `t` in the session: it becomes the playing track and is not wanted again this session.
    mutating func play(_ t: Int) {
        playing = t
        sessionMark[t] = session
    }

    /// Whether `t` was played in the current session.
    func isInSession(_ t: Int) -> Bool { sessionMark[t] == session }

    /// The hidden utility of playing `t` next as the app's choice sees it: everything but the session's intent.
    @inline(__always)
    func utility(_ t: Int, truth: MusicTruth, catalog: MusicCatalog) -> Float {
        typealias W = MusicTruth.Weight
        let k = MusicTruth.factors
        var u: Float = 0
        let base = t * k
        for f in 0..<k { u += direction[f] * truth.trackFactors[base + f] }
        let energy = catalog.trackEnergy[t]
        u -= W.moodEnergy * abs(energy - mood.energy)
        let artist = catalog.trackArtist[t]
        if playing >= 0 {
            u -= W.energyStep * abs(energy - catalog.trackEnergy[playing])
            u -= W.tempoStep * abs(truth.trackLogTempo[t] - truth.trackLogTempo[playing])
            if artist == catalog.trackArtist[playing] { u += artistRun }
        }
        for loyalty in loyalArtists where loyalty.artist == artist { u += loyalty.weight }
        u += W.appeal * truth.trackAppeal[t]
        if catalog.artistCountry[Int(artist)] == country { u += W.local }
        u += W.favourite * Float(min(completes[t], 3))
        if sessionMark[t] == session { u -= W.repetition }
        return u
    }

    /// What the session's intent adds to `t`'s utility: the listener completes or skips by `utility` plus this, and
    /// the ground truth of what they would play next includes it.
    @inline(__always)
    func intentShift(_ t: Int, catalog: MusicCatalog) -> Float {
        typealias W = MusicTruth.Weight
        switch intent {
        case .none: return 0
        case .energy(let wanted):
            // Relative to the mood's energy, so that the intent moves what is wanted rather than adding a penalty.
            let energy = catalog.trackEnergy[t]
            return -W.intentEnergy * (abs(energy - wanted) - abs(energy - mood.energy))
        case .genre(let g): return catalog.trackGenreMask[t] & (1 << UInt16(g)) != 0 ? 0 : -W.intentGenre
        case .tiredOf(let artist): return catalog.trackArtist[t] == artist ? -W.intentTiredArtist : 0
        }
    }

    /// The utility the listener completes or skips `t` by: ``utility(_:truth:catalog:)`` with the intent.
    @inline(__always)
    func listenerUtility(_ t: Int, truth: MusicTruth, catalog: MusicCatalog) -> Float {
        let u = utility(t, truth: truth, catalog: catalog)
        return intent == .none ? u : u + intentShift(t, catalog: catalog)
    }
}
