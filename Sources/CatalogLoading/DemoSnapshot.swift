import CatalogSnapshot
import DemoDomains
import Foundation
import Ranking

/// The embedded demo built by writing the generated marketplace (`DemoDomains`) as a snapshot and loading it, so the
/// demo and a team's export reach the engine the same way.
public enum DemoSnapshot {
    /// The generated catalog after a round trip through a temporary snapshot and the loader: what the embedded
    /// demo (`make run`, rankd without `--snapshot`) serves. The snapshot is removed once loaded.
    public static func loadThroughSnapshot(_ demo: MarketplaceDemo) throws -> LoadedCatalog {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rankd-demo-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let snapshot = folder.appendingPathComponent("snapshot").path
        // The generator's own name for it, so health and metrics read the same whichever way the demo is served.
        try demo.writeSnapshot(to: snapshot, snapshotID: demo.snapshotID)
        return try CatalogLoader.load(directory: snapshot, referenceDay: demo.catalog.referenceDay)
    }
}

extension RankingEngine {
    /// The embedded demo: the marketplace generated from `seed` at `scale` (as of `referenceDay`, today by default),
    /// through a temporary snapshot and `CatalogLoader` (the path `rankd --snapshot` takes), served with the embedded
    /// configuration and models.
    public static func demoThroughSnapshot(
        seed: UInt64 = 42,
        scale: Double = 1.0,
        referenceDay: Int? = nil
    ) throws -> RankingEngine {
        let market = MarketplaceDemo.generate(seed: seed, scale: scale, referenceDay: referenceDay)
        return try demo(catalog: DemoSnapshot.loadThroughSnapshot(market).catalog)
    }
}
