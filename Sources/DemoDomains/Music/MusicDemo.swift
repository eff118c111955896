import Dispatch
import Foundation

/// The music demo: a generated catalog of tracks, artists and listeners whose listening histories come from
/// simulated sessions driven by a hidden utility (``MusicTruth``), plus held-out sessions to evaluate a
/// "what plays next" ranker on (``MusicSessionSimulator``).
///
/// Everything is fixed by the seed and the scale. At scale 1 there are 50,000 tracks, 5,000 artists and 100,000
/// listeners; the scale multiplies all three.
public struct MusicDemo: Sendable {
    /// The generator seed.
    public let seed: UInt64
    /// The size multiplier.
    public let scale: Double
    /// What the snapshot holds.
    public var catalog: MusicCatalog
    /// What drives the listeners, not in the snapshot.
    public var truth: MusicTruth
    /// One session per held-out listener, after the export: never in the written histories or the popularity.
    public var heldOutSessions: [MusicHeldOutSession]

    /// The export time: every written event is before it, every held-out session after it (2024-06-01T00:00Z).
    public static let exportTime: Int64 = 1_717_200_000_000
    /// Listens kept per listener, the most recent; each is two events (`play`, then `complete` or `skip`).
    public static let maxListens = 100
    /// Days of listening before the export that sessions are spread over.
    public static let historyDays = 90

    static let day: Int64 = 86_400_000

    /// Tracks, artists and listeners at `scale` (at least one of each).
    public static func counts(scale: Double) -> (tracks: Int, artists: Int, users: Int) {
        func count(_ base: Double) -> Int { max(1, Int((base * scale).rounded())) }
        return (count(50_000), count(5_000), count(100_000))
    }

    /// Generates the demo; the same seed and scale give the same catalog, histories and held-out sessions.
    public static func generate(seed: UInt64 = 42, scale: Double = 1) -> MusicDemo {
        precondition(scale > 0 && scale.isFinite, "scale must be positive")
        var generator = MusicGenerator(seed: seed, counts: counts(scale: scale))
        generator.makeGenres()
        generator.makeArtistsAndTracks()
        generator.makeListeners()
        let heldOut = generator.simulateListening()
        generator.makeEmbeddings()
        return MusicDemo(
            seed: seed,
            scale: scale,
            catalog: generator.catalog,
            truth: generator.truth,
            heldOutSessions: heldOut
        )
    }
}

/// A held-out session: a listener's session after the export, up to the moment a ranker is asked what plays next.
public struct MusicHeldOutSession: Sendable {
    /// The listener.
    public var user: Int
    /// The session's hidden mood.
    var mood: MusicTruth.Mood
    /// What the listener is after in this session: it changed which tracks they completed, not which were played.
    public var intent: MusicTruth.Intent
    /// When it started, Unix milliseconds (after ``MusicDemo/exportTime``).
    public var start: Int64
    /// The tracks played so far, oldest first; the last is playing.
    public var tracks: [Int32]
    /// Whether each was listened to the end (the last one's end is after the moment a ranker is asked).
    public var completed: [Bool]
    /// When each started playing (its `play` event), Unix milliseconds.
    public var starts: [Int64]
    /// When each ended (its `complete` or `skip` event), Unix milliseconds.
    public var ends: [Int64]
    /// The track the simulated listener went on to play.
    public var next: Int32
}

/// One listen: a `play` event and its `complete` or `skip`.
struct Listen {
    var track: Int32
    var start: Int64
    var end: Int64
    var completed: Bool
}

/// The steps of generation, in order; each step's random draws come from its own streams of the seed.
struct MusicGenerator {
    let seed: UInt64
    let counts: (tracks: Int, artists: Int, users: Int)
    var catalog = MusicCatalog()
    var truth = MusicTruth()
    // Generation-only artist traits.
    var artistStyle: [Float] = []
    var artistEnergy: [Float] = []
    var artistTempo: [Float] = []
    var artistDebutYear: [Int] = []

    static let candidatesPerStep = 32

    init(seed: UInt64, counts: (tracks: Int, artists: Int, users: Int)) {
        self.seed = seed
        self.counts = counts
    }

    mutating func makeGenres() {
        var rng = DemoRandom(seed: seed, stream: "genres", 0)
        let k = MusicTruth.factors
        let count = MusicVocabulary.genres.count
        let raw = (0..<count).map { _ in (0..<k).map { _ in Float(rng.normal()) } }
        for g in 0..<count {
            let (left, right) = MusicVocabulary.neighbours(of: g)
            truth.genreFactors += normalized((0..<k).map { raw[g][$0] + 0.6 * (raw[left][$0] + raw[right][$0]) })
        }
    }

    mutating func makeArtistsAndTracks() {
        makeArtists()
        assignTracks()
        makeTracks()
        indexByGenre()
    }

    /// Artists: a main genre by the genres' shares, often a neighbour as a second, a country, an appeal, and
    /// the sound their tracks lean to.
    mutating func makeArtists() {
        let k = MusicTruth.factors
        let genres = MusicVocabulary.genres
        let shares = genres.map(\.share)
        let countryShares = MusicVocabulary.countries.map(\.share)
        var rng = DemoRandom(seed: seed, stream: "artists", 0)
        for _ in 0..<counts.artists {
            let genre = rng.weighted(shares)
            var second = -1
            if rng.chance(0.55) {
                let (left, right) = MusicVocabulary.neighbours(of: genre)
                second = rng.chance(0.5) ? left : right
            } else if rng.chance(0.2) {
                let other = rng.weighted(shares)
                if other != genre { second = other }
            }
            catalog.artistGenre.append(UInt8(genre))
            catalog.artistSecondGenre.append(Int8(second))
            catalog.artistCountry.append(UInt8(rng.weighted(countryShares)))
            catalog.artistName.append(artistName(&rng))
            truth.artistAppeal.append(Float(rng.normal()))
            artistStyle += (0..<k).map { _ in Float(rng.normal() * 0.5 / Double(k).squareRoot()) }
            artistEnergy.append(Float(rng.normal() * 0.08))
            artistTempo.append(Float(rng.normal() * 6))
            artistDebutYear.append(2024 - Int(45 * pow(rng.unit(), 1.8)))
        }
    }

    /// Every artist gets a track; the rest go to artists in proportion to their appeal, so hits cluster.
    mutating func assignTracks() {
        var trackRng = DemoRandom(seed: seed, stream: "tracks", 0)
        var cumulative: [Double] = []
        var total = 0.0
        for a in 0..<counts.artists {
            total += exp(0.9 * Double(truth.artistAppeal[a]))
            cumulative.append(total)
        }
        var artistOfTrack = [Int32](repeating: 0, count: counts.tracks)
        for t in 0..<counts.tracks {
            if t < counts.artists {
                artistOfTrack[t] = Int32(t)
            } else {
                let r = trackRng.unit() * total
                var low = 0
                var high = counts.artists - 1
                while low < high {
                    let mid = (low + high) / 2
                    if cumulative[mid] <= r { low = mid + 1 } else { high = mid }
                }
                artistOfTrack[t] = Int32(low)
            }
        }
        // Shuffle so track ids say nothing of their artist.
        for t in stride(from: counts.tracks - 1, to: 0, by: -1) {
            artistOfTrack.swapAt(t, trackRng.below(t + 1))
        }
        catalog.trackArtist = artistOfTrack
        var start = [Int32](repeating: 0, count: counts.artists + 1)
        for a in artistOfTrack { start[Int(a) + 1] += 1 }
        for a in 0..<counts.artists { start[a + 1] += start[a] }
        var fill = start
        var grouped = [Int32](repeating: 0, count: counts.tracks)
        for t in 0..<counts.tracks {
            let a = Int(artistOfTrack[t])
            grouped[Int(fill[a])] = Int32(t)
            fill[a] += 1
        }
        catalog.artistTrackStart = start
        catalog.artistTracks = grouped
    }

    /// Each artist's tracks in albums, with the artist's genres and sound, and hidden factors near the genres'.
    mutating func makeTracks() {
        let k = MusicTruth.factors
        catalog.trackTitle = [String](repeating: "", count: counts.tracks)
        catalog.trackAlbum = [Int32](repeating: 0, count: counts.tracks)
        catalog.trackGenre = [UInt8](repeating: 0, count: counts.tracks)
        catalog.trackGenreMask = [UInt16](repeating: 0, count: counts.tracks)
        catalog.trackTempo = [Float](repeating: 0, count: counts.tracks)
        catalog.trackEnergy = [Float](repeating: 0, count: counts.tracks)
        catalog.trackDuration = [Int32](repeating: 0, count: counts.tracks)
        catalog.trackRelease = [Int64](repeating: 0, count: counts.tracks)
        truth.trackFactors = [Float](repeating: 0, count: counts.tracks * k)
        truth.trackAppeal = [Float](repeating: 0, count: counts.tracks)
        truth.trackLogTempo = [Float](repeating: 0, count: counts.tracks)
        var album: Int32 = -1
        for a in 0..<counts.artists {
            var rng = DemoRandom(seed: seed, stream: "discography", a)
            let genre = Int(catalog.artistGenre[a])
            let second = Int(catalog.artistSecondGenre[a])
            var year = artistDebutYear[a]
            var left = 0
            var release: Int64 = 0
            for t32 in catalog.tracks(of: a) {
                let t = Int(t32)
                if left == 0 {
                    album += 1
                    left = rng.chance(0.3) ? 1 + rng.below(2) : 8 + rng.below(7)
                    release = Self.releaseTime(year: year, rng: &rng)
                    year = min(2024, year + 1 + rng.below(3))
                }
                left -= 1
                catalog.trackAlbum[t] = album
                catalog.trackRelease[t] = release
                var mask = UInt16(1) << UInt16(genre)
                if second >= 0 && rng.chance(0.6) { mask |= UInt16(1) << UInt16(second) }
                if rng.chance(0.08) {
                    let (l, r) = MusicVocabulary.neighbours(of: genre)
                    mask |= UInt16(1) << UInt16(rng.chance(0.5) ? l : r)
                }
                catalog.trackGenre[t] = UInt8(genre)
                catalog.trackGenreMask[t] = mask
                var factors = [Float](repeating: 0, count: k)
                for f in 0..<k {
                    factors[f] =
                        truth.genreFactors[genre * k + f] + artistStyle[a * k + f]
                        + Float(rng.normal() * 0.3 / Double(k).squareRoot())
                }
                if second >= 0 && mask & (UInt16(1) << UInt16(second)) != 0 {
                    for f in 0..<k { factors[f] += 0.5 * truth.genreFactors[second * k + f] }
                }
                for (f, value) in normalized(factors).enumerated() { truth.trackFactors[t * k + f] = value }
                let sound = MusicVocabulary.genres[genre]
                catalog.trackEnergy[t] = Float(
                    min(0.98, max(0.02, sound.energy + Double(artistEnergy[a]) + 0.1 * rng.normal()))
                )
                let tempo = min(200, max(55, (sound.tempo + Double(artistTempo[a]) + 8 * rng.normal()).rounded()))
                catalog.trackTempo[t] = Float(tempo)
                truth.trackLogTempo[t] = Float(log(tempo))
                catalog.trackDuration[t] = Int32(min(900, max(60, sound.durationSeconds * exp(0.2 * rng.normal()))))
                truth.trackAppeal[t] = 0.7 * truth.artistAppeal[a] + Float(0.7 * rng.normal())
                catalog.trackTitle[t] = title(&rng)
            }
        }
    }

    /// The hidden lists the simulation draws popular candidates and loyalties from.
    mutating func indexByGenre() {
        let genreCount = MusicVocabulary.genres.count
        truth.genreTracks = Array(repeating: [], count: genreCount)
        for t in 0..<counts.tracks { truth.genreTracks[Int(catalog.trackGenre[t])].append(Int32(t)) }
        for g in 0..<genreCount {
            truth.genreTracks[g].sort { (truth.trackAppeal[Int($0)], $1) > (truth.trackAppeal[Int($1)], $0) }
        }
        truth.genreArtists = Array(repeating: [], count: genreCount)
        for a in 0..<counts.artists { truth.genreArtists[Int(catalog.artistGenre[a])].append(Int32(a)) }
        for g in 0..<genreCount {
            truth.genreArtists[g].sort { (truth.artistAppeal[Int($0)], $1) > (truth.artistAppeal[Int($1)], $0) }
        }
    }

    mutating func makeListeners() {
        let k = MusicTruth.factors
        let genres = MusicVocabulary.genres
        let shares = genres.map(\.share)
        let countryShares = MusicVocabulary.countries.map(\.share)
        let earliest = Self.releaseTime(year: 2014, dayOfYear: 0)
        let latest = MusicDemo.exportTime - 30 * MusicDemo.day
        for u in 0..<counts.users {
            var rng = DemoRandom(seed: seed, stream: "listener", u)
            catalog.userCountry.append(UInt8(rng.weighted(countryShares)))
            catalog.userCreated.append(earliest + Int64(rng.unit() * Double(latest - earliest)))
            var favourites = [rng.weighted(shares)]
            let wanted = 1 + rng.below(3)
            for _ in 1..<wanted {
                let next: Int
                if rng.chance(0.6) {
                    let (left, right) = MusicVocabulary.neighbours(of: favourites[0])
                    next = rng.chance(0.5) ? left : right
                } else {
                    next = rng.weighted(shares)
                }
                if !favourites.contains(next) { favourites.append(next) }
            }
            var taste = (0..<k).map { _ in Float(rng.normal() * 0.35 / Double(k).squareRoot()) }
            var energy = 0.0
            var weightSum = 0.0
            for (i, g) in favourites.enumerated() {
                let weight = i == 0 ? 1 : 0.3 + 0.5 * rng.unit()
                truth.userGenre.append(UInt8(g))
                truth.userGenreWeight.append(weight)
                for f in 0..<k { taste[f] += Float(weight) * truth.genreFactors[g * k + f] }
                energy += weight * genres[g].energy
                weightSum += weight
            }
            truth.userGenreStart.append(Int32(truth.userGenre.count))
            truth.userTaste += normalized(taste)
            truth.userEnergy.append(Float(min(0.95, max(0.05, energy / weightSum + 0.08 * rng.normal()))))
            truth.userThreshold.append(Float(3.1 + 0.4 * rng.normal()))
            truth.userArtistRun.append(Float(rng.unit()))
            var loyal: [Int32] = []
            for _ in 0..<(2 + rng.below(6)) {
                let g = favourites[rng.weighted(Array(truth.userGenreWeight.suffix(favourites.count)))]
                let artists = truth.genreArtists[g]
                guard !artists.isEmpty else { continue }
                let a = artists[rng.headBiased(artists.count, power: 2)]
                if !loyal.contains(a) { loyal.append(a) }
            }
            for a in loyal {
                truth.loyalArtist.append(a)
                truth.loyalWeight.append(Float(0.4 + 1.2 * rng.unit()))
            }
            truth.userLoyaltyStart.append(Int32(truth.loyalArtist.count))
        }
    }

    /// Runs every listener's sessions (in parallel; each listener has its own random streams, so the result does
    /// not depend on the order), fills the listening columns and popularity, and returns the held-out sessions.
    mutating func simulateListening() -> [MusicHeldOutSession] {
        let users = counts.users
        let chunkCount = min(users, 64)
        let catalog = self.catalog
        let truth = self.truth
        let seed = self.seed
        var outputs = [ListenerOutput?](repeating: nil, count: users)
        var chunkPlays = [[Int32]](repeating: [], count: chunkCount)
        outputs.withUnsafeMutableBufferPointer { out in
            chunkPlays.withUnsafeMutableBufferPointer { plays in
                DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
                    var simulator = ListenerSimulator(seed: seed, catalog: catalog, truth: truth)
                    for u in stride(from: chunk, to: users, by: chunkCount) { out[u] = simulator.run(user: u) }
                    plays[chunk] = simulator.plays
                }
            }
        }
        var plays = [Int64](repeating: 0, count: counts.tracks)
        for chunk in chunkPlays { for (t, n) in chunk.enumerated() { plays[t] += Int64(n) } }

        var heldOut: [MusicHeldOutSession] = []
        self.catalog.userListenStart = [0]
        self.catalog.userFollowStart = [0]
        for u in 0..<users {
            let output = outputs[u]!
            for listen in output.listens {
                self.catalog.listenTrack.append(listen.track)
                self.catalog.listenStart.append(listen.start)
                self.catalog.listenEnd.append(listen.end)
                self.catalog.listenCompleted.append(listen.completed)
            }
            self.catalog.userListenStart.append(Int32(self.catalog.listenTrack.count))
            for follow in output.follows {
                self.catalog.followArtist.append(follow.artist)
                self.catalog.followTime.append(follow.time)
            }
            self.catalog.userFollowStart.append(Int32(self.catalog.followArtist.count))
            if let session = output.heldOut { heldOut.append(session) }
        }
        self.catalog.trackPopularity = plays.map { Float(log1p(Double($0))) }
        var artistPlays = [Int64](repeating: 0, count: counts.artists)
        for t in 0..<counts.tracks { artistPlays[Int(self.catalog.trackArtist[t])] += plays[t] }
        self.catalog.artistPopularity = artistPlays.map { Float(log1p(Double($0))) }
        return heldOut
    }

    /// Embeddings as a model trained on the histories might give: a fixed projection of the hidden factors (and
    /// of energy and tempo) plus noise, so they carry the latent structure without revealing it exactly.
    mutating func makeEmbeddings() {
        let k = MusicTruth.factors
        let d = MusicCatalog.embeddingDimension
        let inputs = k + 2
        var rng = DemoRandom(seed: seed, stream: "projection", 0)
        let projection = (0..<(d * inputs)).map { _ in Float(rng.normal() / Double(inputs).squareRoot()) }
        func project(_ x: [Float], noise: Double, rng: inout DemoRandom) -> [Float] {
            (0..<d).map { row in
                var sum: Float = 0
                for i in 0..<inputs { sum += projection[row * inputs + i] * x[i] }
                return ((sum + Float(noise * rng.normal())) * 10_000).rounded() / 10_000
            }
        }
        let logTempo110 = Float(log(110.0))
        catalog.trackEmbedding.reserveCapacity(counts.tracks * d)
        for t in 0..<counts.tracks {
            var trackRng = DemoRandom(seed: seed, stream: "track-embedding", t)
            let x =
                Array(truth.trackFactors[(t * k)..<((t + 1) * k)]) + [
                    1.5 * (catalog.trackEnergy[t] - 0.5), 1.5 * (truth.trackLogTempo[t] - logTempo110),
                ]
            catalog.trackEmbedding += project(x, noise: 0.25, rng: &trackRng)
        }
        catalog.userEmbedding.reserveCapacity(counts.users * d)
        for u in 0..<counts.users {
            var userRng = DemoRandom(seed: seed, stream: "user-embedding", u)
            let x = Array(truth.userTaste[(u * k)..<((u + 1) * k)]) + [1.5 * (truth.userEnergy[u] - 0.5), 0]
            catalog.userEmbedding += project(x, noise: 0.35, rng: &userRng)
        }
    }

    func artistName(_ rng: inout DemoRandom) -> String {
        if rng.chance(0.5) {
            let adjective = MusicVocabulary.adjectives[rng.below(MusicVocabulary.adjectives.count)]
            return "The \(adjective) \(MusicVocabulary.nouns[rng.below(MusicVocabulary.nouns.count)])"
        }
        let first = MusicVocabulary.firstNames[rng.below(MusicVocabulary.firstNames.count)]
        return "\(first) \(MusicVocabulary.lastNames[rng.below(MusicVocabulary.lastNames.count)])"
    }

    func title(_ rng: inout DemoRandom) -> String {
        let adjective = MusicVocabulary.adjectives[rng.below(MusicVocabulary.adjectives.count)]
        return "\(adjective) \(MusicVocabulary.nouns[rng.below(MusicVocabulary.nouns.count)])"
    }

    /// Midnight UTC of a day of `year`, before the export.
    static func releaseTime(year: Int, rng: inout DemoRandom) -> Int64 {
        releaseTime(year: year, dayOfYear: year >= 2024 ? rng.below(150) : rng.below(365))
    }

    static func releaseTime(year: Int, dayOfYear: Int) -> Int64 {
        func leapDays(before year: Int) -> Int { (year - 1) / 4 - (year - 1) / 100 + (year - 1) / 400 }
        let days = 365 * (year - 1970) + leapDays(before: year) - leapDays(before: 1970) + dayOfYear
        return Int64(days) * MusicDemo.day
    }
}

/// Unit length (a zero vector stays zero).
func normalized(_ v: [Float]) -> [Float] {
    let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return norm > 0 ? v.map { $0 / norm } : v
}
