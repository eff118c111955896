import Dispatch
import Foundation

@testable import Ranking

/// A hand-made catalog of the music schema's shape, small enough that every expected value can be worked out by
/// hand: 12 tracks by 4 artists in 3 genres, and 3 listeners.
///
/// | track | artist | genres | popularity | energy | tempo | embedding |
/// |---|---|---|---|---|---|---|
/// | t1-t4 | a1 | rock | 1-4 | 0.1-0.4 | 101-104 | (1, 0.1 k) |
/// | t5-t8 | a2 | jazz (t5: jazz, rock) | 5-8 | 0.5-0.8 | 105-108 | (0, 1) |
/// | t9-t10 | a3 | pop | 9-10 | 0.9-1.0 | 109-110 | (-1, 0) |
/// | t11-t12 | a4 | pop | 11-12 | 0.1-0.2 | 111-112 | (-1, 0.1) |
///
/// u1 listened t1 (complete), t2 (complete), t3 (skip) in one session, then an hour later t9 (complete); u2 t1, t2
/// (both complete); u3 has no history. u1 follows a3.
enum GenericFixture {
    static let genres = ["rock", "jazz", "pop"]
    static let events = ["play", "skip", "complete"]

    static func artist(of t: Int) -> Int32 { t < 4 ? 0 : t < 8 ? 1 : t < 10 ? 2 : 3 }

    static let catalog: EntityCatalog = {
        let trackCount = 12
        var tagStarts: [Int32] = [0]
        var tagCodes: [Int32] = []
        var embedding: [Float] = []
        for t in 0..<trackCount {
            switch artist(of: t) {
            case 0:
                tagCodes.append(0)
                embedding += [1, 0.1 * Float(t + 1)]
            case 1:
                tagCodes.append(1)
                if t == 4 { tagCodes.append(0) }
                embedding += [0, 1]
            case 2:
                tagCodes.append(2)
                embedding += [-1, 0]
            default:
                tagCodes.append(2)
                embedding += [-1, 0.1]
            }
            tagStarts.append(Int32(tagCodes.count))
        }
        let tracks = EntityKindColumns(
            name: "track",
            ids: .positional(prefix: "t", count: trackCount),
            numbers: [
                "popularity": (0..<trackCount).map { Float($0 + 1) },
                "energy": (0..<trackCount).map { t in t >= 10 ? 0.1 * Float(t - 9) : 0.1 * Float(t + 1) },
                "tempo": (0..<trackCount).map { Float(101 + $0) },
                "duration_s": [Float](repeating: 200, count: trackCount),
            ],
            tags: ["genres": TagColumn(starts: tagStarts, codes: tagCodes, names: genres)],
            references: ["artist": ReferenceColumn(target: "artist", positions: (0..<trackCount).map(artist(of:)))],
            embeddings: [
                "embedding": EmbeddingColumn(
                    dimension: 2,
                    values: embedding,
                    present: [Bool](repeating: true, count: trackCount)
                )
            ]
        )
        let artists = EntityKindColumns(
            name: "artist",
            ids: .positional(prefix: "a", count: 4),
            numbers: ["popularity": [1, 2, 3, 4]]
        )
        // (user, track, event, seconds)
        let listens: [(Int, Int32, UInt8, Int64)] = [
            (0, 0, 0, 0), (0, 0, 2, 200), (0, 1, 0, 201), (0, 1, 2, 400), (0, 2, 0, 401), (0, 2, 1, 410),
            (0, 8, 0, 4000), (0, 8, 2, 4200),
            (1, 0, 0, 0), (1, 0, 2, 200), (1, 1, 0, 201), (1, 1, 2, 400),
        ]
        var starts: [Int32] = [0]
        for u in 0..<3 { starts.append(Int32(listens.filter { $0.0 <= u }.count)) }
        let users = EntityKindColumns(
            name: "user",
            ids: .positional(prefix: "u", count: 3),
            embeddings: [
                "embedding": EmbeddingColumn(dimension: 2, values: [1, 0, 0, 1, 0, 0], present: [true, true, false])
            ],
            histories: [
                "listens": HistoryColumn(
                    target: "track",
                    starts: starts,
                    targets: listens.map(\.1),
                    events: listens.map(\.2),
                    eventNames: events,
                    times: listens.map { 1_700_000_000_000 + $0.3 * 1000 }
                ),
                "follows": HistoryColumn(
                    target: "artist",
                    starts: [0, 1, 1, 1],
                    targets: [2],
                    events: [0],
                    eventNames: ["follow"],
                    times: [1_700_000_000_000]
                ),
            ]
        )
        return EntityCatalog(schema: "music", kinds: [tracks, artists, users])
    }()

    /// A surface configuration: the embedded `next_track` with `change` applied.
    static func surface(_ change: (inout GenericSurfaceConfig) -> Void = { _ in }) throws -> GenericSurfaceConfig {
        guard var surface = try DomainConfig.embedded(schema: "music")?.surfaces["next_track"] else {
            throw RankingError.unavailable("no embedded next_track surface")
        }
        surface.model = nil
        if (surface.weights ?? [:]).isEmpty { surface.weights = ["track.popularity": 1] }
        change(&surface)
        return surface
    }

    /// One source alone, with quota `quota`.
    static func only(_ source: GenericSourceConfig) throws -> GenericSurfaceConfig {
        try surface { $0.sources = [source] }
    }

    static func state(_ surface: GenericSurfaceConfig) throws -> GenericState {
        try GenericState(
            catalog: catalog,
            config: DomainConfig(schema: "music", models: [:], surfaces: ["next_track": surface]),
            resourceDirectory: nil
        )
    }

    /// The engine rankd would build over the fixture: the embedded configurations.
    static let engine: RankingEngine = {
        try! RankingEngine(
            catalog: Catalog.generic(catalog, snapshotID: "fixture-music"),
            config: RankingEngine.embeddedConfig(),
            resourceDirectory: RankingEngine.embeddedResourceDirectory()
        )
    }()

    static func query(
        _ context: [String],
        user: String = "u1",
        limit: Int = 0,
        explain: Bool = false
    )
        -> RecommendQuery
    {
        RecommendQuery(userID: user, surface: "next_track", limit: limit, explain: explain, contextItemIDs: context)
    }

    /// A deadline no busy test machine reaches.
    static var deadline: DispatchTime { .now() + .seconds(600) }

    static func list(
        _ state: GenericState,
        _ query: RecommendQuery,
        online: (any OnlineStore)? = nil
    ) throws -> GenericRun {
        try state.recommend(query, online: online, deadline: deadline, arrival: nil, isCancelled: { false }).run
    }

    static func ids(_ run: GenericRun, _ surface: GenericSurface) -> [String] {
        run.order.map { surface.items.ids.id(Int(run.candidates[$0])) }
    }
}
