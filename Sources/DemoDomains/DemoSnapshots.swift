import CatalogSnapshot
import Foundation

/// What every demo domain needs to become a snapshot: its schema, shipped in this module's bundle, and a writer that
/// leaves nothing behind when writing fails.
enum DemoSnapshots {
    /// The shipped schema `name` (a copy of `schemas/<name>.json`, kept equal by a test).
    static func schema(_ name: String) throws -> CatalogSchema {
        guard let url = schemaURL(name) else {
            throw UnreadableInput("the embedded \(name) schema is missing from the DemoDomains bundle")
        }
        return try CatalogSchema.load(path: url.path)
    }

    static func schemaURL(_ name: String) -> URL? { Bundle.module.url(forResource: name, withExtension: "json") }

    /// Writes a snapshot of `schema` into `directory`, which must not exist: `records` appends every record, then
    /// the manifest names it `snapshotID` (by default the writer's `<schema>-<UTC time>-<content hash>`). When
    /// anything throws, the folder is not created.
    static func write(
        schema: CatalogSchema,
        directory: String,
        snapshotID: String?,
        records: (SnapshotWriter) throws -> Void
    ) throws -> SnapshotManifest {
        let writer = try SnapshotWriter(schema: schema, directory: directory)
        do {
            try records(writer)
            return try writer.finish(snapshotID: snapshotID)
        } catch {
            writer.abandon()
            throw error
        }
    }
}
