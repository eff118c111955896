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
    /// demo (`make run`, rankd without `--snapshot`) serves. The snapshot is removed once loaded.
    public static func loadThroughSnapshot(_ market: DemoMarketplace) throws -> LoadedCatalog {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rankd-demo-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let snapshot = folder.appendingPathComponent("snapshot").path
        // The generator's own name for it, so health and metrics read the same whichever way the demo is served.
        try write(market, to: snapshot, snapshotID: market.catalog.snapshotID)
        return try CatalogLoader.load(directory: snapshot, referenceDay: market.catalog.referenceDay)
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
