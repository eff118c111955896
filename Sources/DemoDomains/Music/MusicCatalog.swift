/// What the music demo's snapshot holds, as column arrays: tracks, artists, and listeners with their listening
/// histories. Nothing here is hidden; ``MusicTruth`` holds what drives the listeners.
///
/// Entities are numbered from 0; their ids are `t1…tN`, `a1…aN` and `u1…uN`.
public struct MusicCatalog: Sendable {
    /// Dimension of track and listener embeddings (schemas/music.json).
    public static let embeddingDimension = 32

    // MARK: Tracks
    /// Number of tracks.
    public var trackCount: Int { trackArtist.count }
    /// Title of each track.
    public var trackTitle: [String] = []
    /// The artist of each track.
    public var trackArtist: [Int32] = []
    /// The album of each track (albums are numbered across artists; ids `al1…`).
    public var trackAlbum: [Int32] = []
    /// The first genre of each track, the artist's main genre (an index into ``MusicVocabulary/genres``).
    public var trackGenre: [UInt8] = []
    /// Every genre of each track, one bit per genre (the first genre included).
    public var trackGenreMask: [UInt16] = []
    /// Beats per minute.
    public var trackTempo: [Float] = []
    /// 0 (calm) to 1 (intense).
    public var trackEnergy: [Float] = []
    /// Length in seconds.
    public var trackDuration: [Int32] = []
    /// Release date, Unix milliseconds.
    public var trackRelease: [Int64] = []
    /// log(1 + plays) over the histories written (held-out evaluation sessions not counted).
    public var trackPopularity: [Float] = []
    /// Track vectors, `embeddingDimension` per track.
    public var trackEmbedding: [Float] = []

    // MARK: Artists
    /// Number of artists.
    public var artistCount: Int { artistName.count }
    /// Name of each artist.
    public var artistName: [String] = []
    /// The artist's main genre.
    public var artistGenre: [UInt8] = []
    /// The artist's second genre, or -1.
    public var artistSecondGenre: [Int8] = []
    /// The artist's country (an index into the country list).
    public var artistCountry: [UInt8] = []
    /// log(1 + plays) of all the artist's tracks.
    public var artistPopularity: [Float] = []
    /// The artist's tracks: `artistTracks[artistTrackStart[a]..<artistTrackStart[a + 1]]`, newest album first.
    public var artistTrackStart: [Int32] = []
    /// Track indices grouped by artist.
    public var artistTracks: [Int32] = []

    // MARK: Listeners
    /// Number of listeners.
    public var userCount: Int { userCountry.count }
    /// The listener's country.
    public var userCountry: [UInt8] = []
    /// When the account was opened, Unix milliseconds.
    public var userCreated: [Int64] = []
    /// Listener vectors, `embeddingDimension` per listener.
    public var userEmbedding: [Float] = []
    /// The listener's listens: `listen*[userListenStart[u]..<userListenStart[u + 1]]`, oldest first.
    public var userListenStart: [Int32] = []
    /// The track of each listen.
    public var listenTrack: [Int32] = []
    /// When it started playing, Unix milliseconds (the `play` event).
    public var listenStart: [Int64] = []
    /// When it ended, Unix milliseconds (the `complete` or `skip` event).
    public var listenEnd: [Int64] = []
    /// Whether it was listened to the end (`complete`) or skipped.
    public var listenCompleted: [Bool] = []
    /// The artists each listener follows: `follow*[userFollowStart[u]..<userFollowStart[u + 1]]`, oldest first.
    public var userFollowStart: [Int32] = []
    /// The artist followed.
    public var followArtist: [Int32] = []
    /// When, Unix milliseconds.
    public var followTime: [Int64] = []

    /// Creates an empty catalog; ``MusicDemo`` fills it.
    public init() {}

    /// The id of track `t`.
    public static func trackID(_ t: Int) -> String { "t\(t + 1)" }
    /// The id of artist `a`.
    public static func artistID(_ a: Int) -> String { "a\(a + 1)" }
    /// The id of listener `u`.
    public static func userID(_ u: Int) -> String { "u\(u + 1)" }
    /// The id of album `al`.
    static func albumID(_ al: Int) -> String { "al\(al + 1)" }

    /// The index of a track id of this catalog, or nil.
    public func trackIndex(_ id: String) -> Int? { DemoIDs.index(id, prefix: "t", count: trackCount) }
    /// The index of a listener id of this catalog, or nil.
    public func userIndex(_ id: String) -> Int? { DemoIDs.index(id, prefix: "u", count: userCount) }

    /// The listens of listener `u`, as a range of the `listen*` columns.
    public func listens(of u: Int) -> Range<Int> { Int(userListenStart[u])..<Int(userListenStart[u + 1]) }

    /// The tracks of artist `a`, as a slice of ``artistTracks``.
    public func tracks(of a: Int) -> ArraySlice<Int32> {
        artistTracks[Int(artistTrackStart[a])..<Int(artistTrackStart[a + 1])]
    }

    /// The genre names of track `t`, its first genre first.
    public func genreNames(of t: Int) -> [String] {
        let first = Int(trackGenre[t])
        var names = [MusicVocabulary.genres[first].name]
        for g in MusicVocabulary.genres.indices where g != first && trackGenreMask[t] & (1 << UInt16(g)) != 0 {
            names.append(MusicVocabulary.genres[g].name)
        }
        return names
    }

    /// Total listens and the share skipped, for reports.
    public var listenSummary: (listens: Int, skipped: Double) {
        let skipped = listenCompleted.reduce(0) { $0 + ($1 ? 0 : 1) }
        return (listenTrack.count, listenTrack.isEmpty ? 0 : Double(skipped) / Double(listenTrack.count))
    }
}
