import CatalogSnapshot
import Foundation

/// The music demo as snapshot records of `schemas/music.json`: only what a music app's export would hold. The
/// hidden utility, the moods and the held-out sessions are not written.
extension MusicDemo {
    /// The music schema shipped with rankd (a copy of `schemas/music.json`, kept equal by a test).
    public static func schema() throws -> CatalogSchema { try DemoSnapshots.schema("music") }

    static var schemaURL: URL? { DemoSnapshots.schemaURL("music") }

    /// Writes the catalog as a snapshot into `directory`, which must not exist, with the embedded schema unless
    /// given another; the id defaults to the writer's `music-<UTC time>-<content hash>`. Record files depend only
    /// on the seed and scale.
    @discardableResult
    public func writeSnapshot(
        to directory: String,
        snapshotID: String? = nil,
        schema: CatalogSchema? = nil
    ) throws -> SnapshotManifest {
        let schema = try schema ?? Self.schema()
        return try DemoSnapshots.write(schema: schema, directory: directory, snapshotID: snapshotID) { writer in
            for t in 0..<catalog.trackCount { try writer.append(trackRecord(t), kind: "track") }
            for a in 0..<catalog.artistCount { try writer.append(artistRecord(a), kind: "artist") }
            for u in 0..<catalog.userCount { try writer.append(userRecord(u), kind: "user") }
        }
    }

    func trackRecord(_ t: Int) -> EntityRecord {
        let d = MusicCatalog.embeddingDimension
        return EntityRecord(
            id: MusicCatalog.trackID(t),
            attributes: [
                "title": .text(catalog.trackTitle[t]),
                "artist": .reference(MusicCatalog.artistID(Int(catalog.trackArtist[t]))),
                "album": .category(MusicCatalog.albumID(Int(catalog.trackAlbum[t]))),
                "genres": .tags(catalog.genreNames(of: t)),
                "tempo": .number(Double(catalog.trackTempo[t])),
                "energy": .number(Self.rounded(catalog.trackEnergy[t], places: 3)),
                "duration_s": .number(Double(catalog.trackDuration[t])),
                "release_date": .timestamp(unixMilliseconds: catalog.trackRelease[t]),
                "popularity": .number(Self.rounded(catalog.trackPopularity[t], places: 4)),
                "embedding": .embedding(Array(catalog.trackEmbedding[(t * d)..<((t + 1) * d)])),
            ]
        )
    }

    func artistRecord(_ a: Int) -> EntityRecord {
        var genres = [MusicVocabulary.genres[Int(catalog.artistGenre[a])].name]
        if catalog.artistSecondGenre[a] >= 0 {
            genres.append(MusicVocabulary.genres[Int(catalog.artistSecondGenre[a])].name)
        }
        return EntityRecord(
            id: MusicCatalog.artistID(a),
            attributes: [
                "name": .text(catalog.artistName[a]),
                "genres": .tags(genres),
                "country": .category(MusicVocabulary.countries[Int(catalog.artistCountry[a])].code),
                "popularity": .number(Self.rounded(catalog.artistPopularity[a], places: 4)),
            ]
        )
    }

    /// A listener. `listens` holds their last ``maxListens`` listens before the export, oldest first, each a
    /// `play` at its start followed by its `complete` (at the end of the track) or `skip`; `follows` the artists
    /// they follow, oldest first. An empty history is left out.
    func userRecord(_ u: Int) -> EntityRecord {
        let d = MusicCatalog.embeddingDimension
        var attributes: [String: AttributeValue] = [
            "country": .category(MusicVocabulary.countries[Int(catalog.userCountry[u])].code),
            "created_at": .timestamp(unixMilliseconds: catalog.userCreated[u]),
            "embedding": .embedding(Array(catalog.userEmbedding[(u * d)..<((u + 1) * d)])),
        ]
        var listens: [Interaction] = []
        listens.reserveCapacity(2 * catalog.listens(of: u).count)
        for l in catalog.listens(of: u) {
            let track = MusicCatalog.trackID(Int(catalog.listenTrack[l]))
            listens.append(Interaction(entityID: track, event: "play", unixMilliseconds: catalog.listenStart[l]))
            listens.append(
                Interaction(
                    entityID: track,
                    event: catalog.listenCompleted[l] ? "complete" : "skip",
                    unixMilliseconds: catalog.listenEnd[l]
                )
            )
        }
        if !listens.isEmpty { attributes["listens"] = .history(listens) }
        let follows = Int(catalog.userFollowStart[u])..<Int(catalog.userFollowStart[u + 1])
        if !follows.isEmpty {
            attributes["follows"] = .history(
                follows.map {
                    Interaction(
                        entityID: MusicCatalog.artistID(Int(catalog.followArtist[$0])),
                        event: "follow",
                        unixMilliseconds: catalog.followTime[$0]
                    )
                }
            )
        }
        return EntityRecord(id: MusicCatalog.userID(u), attributes: attributes)
    }

    static func rounded(_ value: Float, places: Int) -> Double {
        let factor = pow(10, Double(places))
        return (Double(value) * factor).rounded() / factor
    }
}
