import Foundation

/// What simulated listeners act on and the snapshot does not show: taste over latent factors, loyalty to a few
/// artists, each session's mood, how much a listener stays with the playing artist, and how picky they are.
///
/// The snapshot shows only its traces: genres, energy and tempo are visible, the latent factors only through the
/// noisy embeddings, loyalty through follows and repeated plays, the mood through the session's tracks.
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

    /// The hidden intent of a session: a genre it leans to and the energy it wants. Only the session's tracks show it.
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

    /// Starts a session with `mood`.
    mutating func startSession(_ mood: MusicTruth.Mood, truth: MusicTruth) {
        session &+= 1
        self.mood = mood
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

    /// The hidden utility of playing `t` next.
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
}
