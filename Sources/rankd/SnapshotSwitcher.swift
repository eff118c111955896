import CatalogLoading
import CatalogSnapshot
import DemoDomains
import Dispatch
import Foundation
import GRPCStandardServices
import H2GRPC
import RankdOps
import RankdService
import Ranking

/// Owns which catalog rankd serves: the first load (a snapshot, or the generated demo through the same loader) and
/// every later swap. Loads run one at a time (a SIGHUP and a repointed symlink never load twice at once); each new
/// snapshot is loaded and validated beside the one serving and swapped in with `RankingEngine.swapCatalog`, so
/// requests in flight finish on the catalog they started with and the old one is freed when the last of them ends.
final class SnapshotSwitcher: @unchecked Sendable {
    private let path: String?
    private let seed: UInt64
    private let scale: Double
    /// The pipeline to build the first engine with (the configuration's, `--model` applied), read when it starts.
    private let pipeline: @Sendable () throws -> (config: PipelineConfig, directory: String?)
    private let ranking: RankingServiceHandlers
    private let health: HealthService
    private let server: Server
    private let operations: Operations
    /// Serialises loads; `loadedTarget` is only touched under it.
    private let lock = NSLock()
    /// The folder (symlinks resolved) of the snapshot last loaded or refused, so the watcher does not retry it.
    private var loadedTarget: String?

    init(
        path: String?,
        seed: UInt64,
        scale: Double,
        pipeline: @escaping @Sendable () throws -> (config: PipelineConfig, directory: String?),
        ranking: RankingServiceHandlers,
        health: HealthService,
        server: Server,
        operations: Operations
    ) {
        self.operations = operations
        self.path = path
        self.seed = seed
        self.scale = scale
        self.pipeline = pipeline
        self.ranking = ranking
        self.health = health
        self.server = server
    }

    /// The first load, on its own thread. Health turns SERVING when it succeeds; on failure rankd stays NOT_SERVING
    /// and a SIGHUP (or a repointed symlink) tries again.
    func loadInitial() {
        lock.lock()
        defer { lock.unlock() }
        let started = DispatchTime.now()
        do {
            let catalog: Catalog
            var about: String
            var manifest: SnapshotManifest?
            if let path {
                let target = CatalogLoader.resolve(path)
                loadedTarget = target
                let loaded = try CatalogLoader.load(directory: target)
                for note in loaded.notes { server.log(.warning, "snapshot \(loaded.manifest.snapshotID): \(note)") }
                catalog = loaded.catalog
                about = loaded.summary
                manifest = loaded.manifest
            } else {
                // The demo is written as a snapshot and loaded like any other: one load path.
                let market = MarketplaceDemo.generate(seed: seed, scale: scale)
                let loaded = try DemoSnapshot.loadThroughSnapshot(market)
                catalog = loaded.catalog
                about = "demo marketplace (seed \(seed), scale \(scale)) as \(loaded.summary)"
                manifest = loaded.manifest
            }
            let served = try self.pipeline()
            let engine = try RankingEngine(catalog: catalog, config: served.config, resourceDirectory: served.directory)
            ranking.engine = engine
            nameSnapshot(engine.catalog.snapshotID)
            announce(catalog, manifest: manifest)
            operations.modelsServed(engine.servingModels)
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9
            server.log(
                .info,
                "serving: \(about); model \(engine.modelVersion), ready in \(String(format: "%.1f", seconds)) s; "
                    + engine.memoryReport
            )
            health.setAll(.serving)
            operations.readiness.markReady("serving \(engine.catalog.snapshotID)")
        } catch {
            let what = path.map { "snapshot \($0)" } ?? "the demo data"
            server.log(.error, "could not load \(what) and the model: \(error); staying NOT_SERVING")
            operations.readiness.markNotReady("could not load \(what): \(error)")
        }
    }

    /// Loads the snapshot `path` names now, validated beside the one serving, and swaps it in; a broken snapshot is
    /// refused with its report and the old one keeps serving.
    func reload(reason: String) {
        guard let path else { return }
        guard let engine = ranking.engine else {
            server.log(.info, "\(reason): nothing serving yet; loading \(path)")
            loadInitial()
            return
        }
        lock.lock()
        defer { lock.unlock() }
        let target = CatalogLoader.resolve(path)
        loadedTarget = target
        do {
            let loaded = try CatalogLoader.load(directory: target)
            for note in loaded.notes { server.log(.warning, "snapshot \(loaded.manifest.snapshotID): \(note)") }
            try engine.swapCatalog(loaded.catalog)
            nameSnapshot(loaded.catalog.snapshotID)
            announce(loaded.catalog, manifest: loaded.manifest)
            operations.reloaded("snapshot", ok: true)
            server.log(.info, "\(reason): now serving \(loaded.summary); " + engine.memoryReport)
        } catch {
            operations.reloaded("snapshot", ok: false)
            let report = "\(error)".split(separator: "\n").joined(separator: "\n    ")
            server.log(.error, "\(reason): refused \(target), still serving the previous snapshot:\n    \(report)")
        }
    }

    /// The metrics name the snapshot now serving; the generated demo has no manifest and counts as made now.
    private func announce(_ catalog: Catalog, manifest: SnapshotManifest?) {
        let schema = manifest.map { "\($0.schemaName)/\($0.schemaVersion)" } ?? "marketplace (generated)"
        let created = manifest?.createdUnixMilliseconds ?? Int64(Date().timeIntervalSince1970 * 1000)
        operations.snapshotServed(id: catalog.snapshotID, schema: schema, createdUnixMilliseconds: created)
    }

    /// Health's Check answers name the snapshot now serving.
    private func nameSnapshot(_ snapshotID: String) {
        var metadata = Metadata()
        if Metadata.isValidASCIIValue(snapshotID) { metadata.append(RankingServiceHandlers.snapshotHeader, snapshotID) }
        health.setCheckMetadata(metadata)
    }

    /// Checks every `interval` seconds where `path` points; when a symlink on it has been repointed to another
    /// folder, loads that one.
    func watch(every interval: Double) {
        guard let path else { return }
        while true {
            Thread.sleep(forTimeInterval: interval)
            let target = CatalogLoader.resolve(path)
            lock.lock()
            let changed = loadedTarget != nil && loadedTarget != target
            lock.unlock()
            if changed { reload(reason: "\(path) now points to \(target)") }
        }
    }
}
