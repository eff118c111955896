import CatalogSnapshot
import Foundation
import Ranking

/// The demo marketplace as a snapshot, and the embedded demo engine built by loading it, so the demo and a team's
/// export reach the engine the same way.
public enum DemoSnapshot {
    /// The marketplace schema shipped with rankd (a copy of `schemas/marketplace.json`, kept equal by a test).
    public static func marketplaceSchema() throws -> CatalogSchema {
        guard let url = marketplaceSchemaURL else {
            throw UnreadableInput("the embedded marketplace schema is missing from the CatalogLoading bundle")
        }
        return try CatalogSchema.load(path: url.path)
    }

    static var marketplaceSchemaURL: URL? { Bundle.module.url(forResource: "marketplace", withExtension: "json") }

    /// Writes the generated marketplace as a snapshot of `schema` (the embedded marketplace schema by default); the id
    /// defaults to the writer's `marketplace-<UTC time>-<content hash>`.
    @discardableResult
    public static func write(
        _ market: DemoMarketplace,
        to directory: String,
        schema: CatalogSchema? = nil,
        snapshotID: String? = nil
    ) throws -> SnapshotManifest {
        try MarketplaceExport.write(
            market.catalog,
            schema: schema ?? marketplaceSchema(),
            directory: directory,
            snapshotID: snapshotID
        )
    }

    /// The generated catalog after a round trip through a temporary snapshot and the loader: what the embedded
    /// demo serves. The snapshot is removed once loaded.
    public static func loadThroughSnapshot(_ market: DemoMarketplace) throws -> LoadedCatalog {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rankd-demo-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let snapshot = folder.appendingPathComponent("snapshot").path
        try write(market, to: snapshot, snapshotID: "demo-marketplace-seed\(market.seed)")
        return try CatalogLoader.load(directory: snapshot, referenceDay: market.catalog.referenceDay)
    }
}

extension DemoSnapshot {
    /// The generated catalog as the embedded demo serves it without a snapshot: the generator's columns plus the
    /// display values (names, cuisines...) the snapshot would carry, taken from the same records the snapshot
    /// export writes and kept with the same `display` flags of the embedded schema.
    public static func servedCatalog(_ market: DemoMarketplace) throws -> Catalog {
        let schema = try marketplaceSchema()
        var c = market.catalog.columns
        var venues = DisplayValues(kind: schema.kind(named: "venue"), count: c.venueCount)
        for v in 0..<c.venueCount { venues.add(MarketplaceExport.venue(v, c), at: v) }
        var items = DisplayValues(kind: schema.kind(named: "item"), count: c.itemCount)
        for i in 0..<c.itemCount { items.add(MarketplaceExport.item(i, c), at: i) }
        c.venueDisplay = venues.columns()
        c.itemDisplay = items.columns()
        return Catalog(c)
    }
}

extension RankingEngine {
    /// The embedded demo after a round trip through a temporary snapshot and `CatalogLoader` (the path
    /// `rankd --snapshot` takes). Rankings equal those of ``RankingEngine/demo(seed:scale:)``; tests and
    /// `rankctl eval` use it to exercise the loader at scale.
    public static func demoThroughSnapshot(seed: UInt64 = 42, scale: Double = 1.0) throws -> RankingEngine {
        let market = DemoMarketplace.generate(seed: seed, scale: scale)
        return try demo(catalog: DemoSnapshot.loadThroughSnapshot(market).catalog)
    }
}
