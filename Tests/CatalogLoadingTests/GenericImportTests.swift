import CatalogSnapshot
import Dispatch
import Foundation
import Testing

@testable import CatalogLoading
@testable import Ranking

/// Snapshots of schemas other than the marketplace: the generic mapping into ``EntityCatalog``, and the loader's
/// dispatch (a schema with a surface configuration loads and serves; any other is refused, saying why).
@Suite struct GenericImportTests {
    /// The repository's `schemas/` folder.
    static let schemas = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("schemas")

    static func folder() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("generic-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    /// A small music snapshot: 6 tracks by 2 artists, 2 listeners (u1 played t1, t2, t3 in one session).
    static func writeMusic(to path: String) throws {
        let schema = try CatalogSchema.load(path: schemas.appendingPathComponent("music.json").path)
        let writer = try SnapshotWriter(schema: schema, directory: path)
        for t in 1...6 {
            try writer.append(
                EntityRecord(
                    id: "t\(t)",
                    attributes: [
                        "title": .text("Song \(t)"),
                        "artist": .reference(t <= 3 ? "a1" : "a2"),
                        "genres": .tags(t <= 3 ? ["rock"] : ["jazz", "rock"]),
                        "tempo": .number(Double(100 + t)),
                        "energy": .number(Double(t) / 10),
                        "duration_s": .number(200),
                        "release_date": .timestamp(unixMilliseconds: 86_400_000 * 10),
                        "popularity": .number(Double(t)),
                        "embedding": .embedding((0..<32).map { Float($0 == t ? 1 : 0.1) }),
                    ]
                ),
                kind: "track"
            )
        }
        for a in 1...2 {
            try writer.append(
                EntityRecord(id: "a\(a)", attributes: ["name": .text("Artist \(a)"), "genres": .tags(["rock"])]),
                kind: "artist"
            )
        }
        let base: Int64 = 1_700_000_000_000
        try writer.append(
            EntityRecord(
                id: "u1",
                attributes: [
                    "country": .category("DE"),
                    "embedding": .embedding([Float](repeating: 0.2, count: 32)),
                    "listens": .history(
                        [
                            Interaction(entityID: "t1", event: "play", unixMilliseconds: base),
                            Interaction(entityID: "t1", event: "complete", unixMilliseconds: base + 200_000),
                            Interaction(entityID: "t2", event: "play", unixMilliseconds: base + 201_000),
                            Interaction(entityID: "t2", event: "skip", unixMilliseconds: base + 210_000),
                            Interaction(entityID: "t3", event: "play", unixMilliseconds: base + 211_000),
                        ]
                    ),
                    "follows": .history([Interaction(entityID: "a2", event: "follow", unixMilliseconds: base)]),
                ]
            ),
            kind: "user"
        )
        try writer.append(EntityRecord(id: "u2", attributes: ["country": .category("FI")]), kind: "user")
        try writer.finish(snapshotID: "tiny-music")
    }

    @Test func theGenericMappingKeepsEveryReadableAttributeAsAColumn() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("music").path
        try Self.writeMusic(to: path)
        let validation = try SnapshotValidator().validate(directory: path, keepTables: true)
        #expect(validation.isValid)
        let catalog = GenericImport.catalog(schema: "music", tables: validation.tables)
        #expect(catalog.schema == "music")
        let tracks = try #require(catalog.kind("track"))
        #expect(tracks.count == 6)
        #expect(tracks.ids.isPositional && tracks.ids.position("t4") == 3)
        #expect(tracks.numbers["tempo"]?[3] == 104)
        #expect(tracks.numbers["release_date"]?[0] == 10)
        #expect(tracks.numbers["energy"]?[5] == 0.6)
        let artist = try #require(tracks.references["artist"])
        #expect(artist.target == "artist" && artist.positions == [0, 0, 0, 1, 1, 1])
        let genres = try #require(tracks.tags["genres"])
        #expect(genres.names[Int(genres.first(3))] == "jazz" && genres.range(3).count == 2)
        let embedding = try #require(tracks.embeddings["embedding"])
        #expect(embedding.dimension == 32 && embedding.values[2 * 32 + 3] == 1)
        // The album is never given: a column of absent values.
        #expect(tracks.categories["album"]?.codes.allSatisfy { $0 == -1 } == true)
        let users = try #require(catalog.kind("user"))
        let listens = try #require(users.histories["listens"])
        #expect(listens.target == "track")
        #expect(listens.range(0).count == 5 && listens.range(1).isEmpty)
        #expect(listens.targets[Int(listens.starts[0])..<Int(listens.starts[1])] == [0, 0, 1, 1, 2])
        #expect(listens.events.map { listens.eventNames[Int($0)] } == ["play", "complete", "play", "skip", "play"])
        #expect(listens.times[1] - listens.times[0] == 200_000)
        #expect(users.histories["follows"]?.targets == [1])
        #expect(users.embeddings["embedding"]?.present == [true, false])
        #expect(users.categories["country"]?.names.contains("FI") == true)
        // Text is not kept: nothing generic reads it.
        #expect(tracks.numbers["title"] == nil)
    }

    @Test func idsThatAreNotNumberedAreKeptWithATable() {
        var table = StringTable()
        _ = table.insert("track-b")
        _ = table.insert("track-a")
        let ids = GenericImport.ids(table)
        #expect(!ids.isPositional && ids.position("track-a") == 1 && ids.id(0) == "track-b")
        var numbered = StringTable()
        _ = numbered.insert("x1")
        _ = numbered.insert("x2")
        #expect(GenericImport.ids(numbered).isPositional)
    }

    @Test func aMusicSnapshotLoadsIntoTheGenericCatalogAndServesNextTrack() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("music").path
        try Self.writeMusic(to: path)
        let loaded = try CatalogLoader.load(directory: path)
        #expect(loaded.catalog.snapshotID == "tiny-music")
        #expect(loaded.catalog.entities?.schema == "music")
        #expect(loaded.catalog.venueCount == 0)
        let engine = try RankingEngine(
            catalog: loaded.catalog,
            config: try RankingEngine.embeddedConfig(),
            resourceDirectory: try RankingEngine.embeddedResourceDirectory()
        )
        #expect(engine.surfaceNames == ["next_track"])
        var query = RecommendQuery(userID: "u1", surface: "next_track", limit: 10, contextItemIDs: ["t2", "t1"])
        query.includeDisplay = true
        let result = try engine.recommendList(query, deadline: .now() + .seconds(600), isCancelled: { false })
        // Display values are the schema's display attributes; a reference shows the target's id.
        let shown = try #require(result.items.first { $0.itemID == "t4" }?.display)
        #expect(shown.map(\.name) == ["title", "artist", "genres"])
        #expect(shown.map(\.value) == ["Song 4", "a2", "jazz, rock"])
        #expect(result.snapshotID == "tiny-music")
        #expect(!result.items.isEmpty)
        #expect(!result.items.contains { $0.itemID == "t1" || $0.itemID == "t2" })
        #expect(result.items.filter { ["t1", "t2", "t3"].contains($0.itemID) }.count <= 2)
    }

    @Test func aSchemaWithoutASurfaceConfigurationIsRefusedSayingSo() throws {
        let folder = try Self.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("books").path
        let schema = CatalogSchema(
            name: "library",
            version: 1,
            kinds: [
                EntityKindSpec(
                    name: "book",
                    attributes: [AttributeSpec(name: "pages", type: .number, required: false)]
                )
            ]
        )
        let writer = try SnapshotWriter(schema: schema, directory: path)
        try writer.append(EntityRecord(id: "b1", attributes: ["pages": .number(300)]), kind: "book")
        try writer.finish(snapshotID: "books")
        let refused = #expect(throws: SnapshotRefused.self) { try CatalogLoader.load(directory: path) }
        #expect(refused?.description.contains("snapshot books does not fit the engine") == true)
        #expect(refused?.description.contains("no surface configuration serves schema library") == true)
        #expect(refused?.description.contains("configured besides the marketplace: music") == true)
    }
}
