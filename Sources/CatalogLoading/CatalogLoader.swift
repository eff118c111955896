import CSystemShim
import CatalogSnapshot
import Dispatch
import Foundation
import Ranking

/// A snapshot the loader would not serve: the validator's report, or why a valid snapshot does not fit the engine.
public struct SnapshotRefused: Error, CustomStringConvertible, Sendable {
    /// The snapshot's id, when its manifest could be read.
    public var snapshotID: String?
    /// The validator's findings, when validation failed.
    public var validation: SnapshotValidation?
    /// The report: every problem the validator listed and its summary line, or the mapping's reason.
    public var description: String
}

/// A catalog loaded from a snapshot, with what it was loaded from.
public struct LoadedCatalog: Sendable {
    /// The catalog, ready for `RankingEngine`.
    public let catalog: Catalog
    /// The snapshot's manifest (its id names it in logs).
    public let manifest: SnapshotManifest
    /// The folder it was read from, symlinks resolved.
    public let directory: String
    /// What the mapping simplified (several opening intervals a day, unknown tags...), for the log.
    public let notes: [String]
    /// Seconds spent validating, and reading and building the columns and indexes.
    public let validateSeconds: Double
    public let buildSeconds: Double
    /// Bytes of the snapshot's values as the validator read them into typed columns (the raw column bytes the
    /// engine's own columns are built from).
    public let rawColumnBytes: Int

    /// One log line: id, records, time and memory.
    public var summary: String {
        let counts = manifest.recordCounts.map { "\($0.records) \($0.kind)" }.joined(separator: ", ")
        return "snapshot \(manifest.snapshotID) (\(counts)) loaded in "
            + String(
                format: "%.2f s (validate %.2f s, build %.2f s; %.1f MB of raw columns)",
                validateSeconds + buildSeconds,
                validateSeconds,
                buildSeconds,
                Double(rawColumnBytes) / 1e6
            )
    }
}

/// The one way a catalog reaches the engine: validate the snapshot completely, refuse it with the validator's
/// report if anything is wrong, check its schema fits the marketplace mapping, then read it into column arrays and
/// derive the indexes. `DemoSnapshot` takes the embedded demo through here too.
public enum CatalogLoader {
    /// Loads the snapshot in `directory` (a symlink such as `current` is resolved first, so a repointed link never
    /// mixes two snapshots). Throws `SnapshotRefused` for a snapshot with problems, `UnreadableInput` for a folder
    /// that is not a snapshot at all.
    /// - Parameter referenceDay: the UTC day ages and recencies are counted from; today by default.
    public static func load(
        directory: String,
        referenceDay: Int? = nil,
        limits: CatalogLimits = CatalogLimits(maxListedProblems: 100)
    ) throws -> LoadedCatalog {
        let resolved = resolve(directory)
        let started = DispatchTime.now()
        let validation = try SnapshotValidator(limits: limits).validate(directory: resolved, keepTables: true)
        guard validation.isValid else {
            throw SnapshotRefused(
                snapshotID: validation.manifest.snapshotID,
                validation: validation,
                description: validation.text()
            )
        }
        let schemaProblems = MarketplaceImport.check(schema: validation.schema)
        guard schemaProblems.isEmpty else {
            // Another schema is served by its domain's generic surfaces, when rankd has a configuration for it.
            if try DomainConfig.embedded(schema: validation.schema.name) != nil {
                return try loadGeneric(validation, directory: resolved, started: started)
            }
            let configured = DomainConfig.embeddedSchemas()
            throw SnapshotRefused(
                snapshotID: validation.manifest.snapshotID,
                validation: nil,
                description: "snapshot \(validation.manifest.snapshotID) does not fit the engine: "
                    + schemaProblems.joined(separator: "; ") + "; and no surface configuration serves schema "
                    + "\(validation.schema.name) (configured besides the marketplace: "
                    + (configured.isEmpty ? "none" : configured.joined(separator: ", ")) + ")"
            )
        }
        let validated = DispatchTime.now()
        let today = Int((Date().timeIntervalSince1970 / 86_400).rounded(.down))
        var mapping = MarketplaceImport(referenceDay: referenceDay ?? today)
        var columns: CatalogColumns
        do {
            columns = try mapping.columns(from: validation.tables)
        } catch let error as CatalogMappingError {
            throw SnapshotRefused(
                snapshotID: validation.manifest.snapshotID,
                validation: nil,
                description: "snapshot \(validation.manifest.snapshotID) does not fit the engine: \(error.description)"
            )
        }
        columns.snapshotID = validation.manifest.snapshotID
        let rawColumnBytes = validation.tables.reduce(0) { $0 + $1.memoryBytes }
        let catalog = Catalog(columns)
        let built = DispatchTime.now()
        releaseFreedMemory()
        return LoadedCatalog(
            catalog: catalog,
            manifest: validation.manifest,
            directory: resolved,
            notes: mapping.notes,
            validateSeconds: seconds(started, validated),
            buildSeconds: seconds(validated, built),
            rawColumnBytes: rawColumnBytes
        )
    }

    /// Hands the memory the load freed (the validator's tables, the mapping's scratch) back to the system, so the
    /// process's resident size is what it keeps: glibc keeps freed heap pages otherwise.
    static func releaseFreedMemory() {
        csystem_release_free_memory()
    }

    /// A valid snapshot of a schema with a domain configuration, mapped into the generic catalog.
    static func loadGeneric(
        _ validation: SnapshotValidation,
        directory: String,
        started: DispatchTime
    ) throws -> LoadedCatalog {
        let validated = DispatchTime.now()
        let entities = GenericImport.catalog(schema: validation.schema.name, tables: validation.tables)
        let catalog = Catalog.generic(entities, snapshotID: validation.manifest.snapshotID)
        let built = DispatchTime.now()
        let rawColumnBytes = validation.tables.reduce(0) { $0 + $1.memoryBytes }
        releaseFreedMemory()
        return LoadedCatalog(
            catalog: catalog,
            manifest: validation.manifest,
            directory: directory,
            notes: [],
            validateSeconds: seconds(started, validated),
            buildSeconds: seconds(validated, built),
            rawColumnBytes: rawColumnBytes
        )
    }

    /// `path` with every symlink resolved, or `path` itself when it cannot be resolved.
    public static func resolve(_ path: String) -> String {
        URL(fileURLWithPath: path).resolvingSymlinksInPath().path
    }

    static func seconds(_ from: DispatchTime, _ to: DispatchTime) -> Double {
        Double(to.uptimeNanoseconds - from.uptimeNanoseconds) / 1e9
    }
}
