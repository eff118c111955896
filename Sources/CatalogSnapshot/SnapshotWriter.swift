import Foundation

/// Writes a snapshot: records of each kind into `<kind>.pb`, then schema.json and manifest.json.
///
/// Everything is written into a staging folder beside the destination and renamed into place at the end, so a
/// folder at the destination is always a complete snapshot; a writer that is abandoned (or dropped unfinished)
/// removes its staging folder. It does not check records: `SnapshotBuilder` does, and `SnapshotValidator` checks
/// what was written.
public final class SnapshotWriter {
    /// The schema records are written for.
    public let schema: CatalogSchema
    /// Where the snapshot ends up.
    public let directory: URL
    private let staging: URL
    private var writers: [String: DelimitedRecordWriter] = [:]
    private var done = false

    /// Starts a snapshot at `directory`, which must not exist yet.
    public init(schema: CatalogSchema, directory: String) throws {
        self.schema = schema
        self.directory = URL(fileURLWithPath: directory).standardizedFileURL
        guard !FileManager.default.fileExists(atPath: self.directory.path) else {
            throw UnreadableInput("\(directory) already exists; a snapshot is written to a new folder")
        }
        staging = self.directory.deletingLastPathComponent().appendingPathComponent(
            ".\(self.directory.lastPathComponent).partial-\(ProcessInfo.processInfo.processIdentifier)"
        )
        try? FileManager.default.removeItem(at: staging)
        do {
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            for kind in schema.kinds {
                writers[kind.name] = try DelimitedRecordWriter(
                    path: staging.appendingPathComponent(SnapshotManifest.recordFileName(kind: kind.name)).path
                )
            }
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw UnreadableInput("cannot create \(staging.path): \(error.localizedDescription)")
        }
    }

    deinit {
        if !done { try? FileManager.default.removeItem(at: staging) }
    }

    /// Appends a record of `kind`, which the schema must declare.
    public func append(_ record: EntityRecord, kind: String) throws {
        precondition(!done, "append after finish or abandon")
        precondition(writers[kind] != nil, "kind \(kind) is not in schema \(schema.name)")
        try writers[kind]!.append(EntityCodec.encode(record))
    }

    /// Closes the record files, writes schema.json and manifest.json (last), and moves the snapshot into place.
    /// The default id is `<schema>-<UTC time>-<8 hex digits of the content's hash>`.
    @discardableResult
    public func finish(snapshotID: String? = nil, created: Date = Date()) throws -> SnapshotManifest {
        precondition(!done, "finish called twice")
        done = true
        do {
            var files: [SnapshotManifest.FileEntry] = []
            var counts: [(kind: String, records: Int)] = []
            let schemaBytes = Array((schema.json().rendered(pretty: true) + "\n").utf8)
            try Data(schemaBytes).write(to: staging.appendingPathComponent(SnapshotManifest.schemaFileName))
            files.append(
                SnapshotManifest.FileEntry(
                    name: SnapshotManifest.schemaFileName,
                    bytes: schemaBytes.count,
                    sha256: SHA256.hexDigest(schemaBytes)
                )
            )
            for kind in schema.kinds {
                var writer = writers.removeValue(forKey: kind.name)!
                let digest = try writer.close()
                counts.append((kind.name, writer.count))
                files.append(
                    SnapshotManifest.FileEntry(
                        name: SnapshotManifest.recordFileName(kind: kind.name),
                        bytes: writer.bytes,
                        sha256: digest
                    )
                )
            }
            let milliseconds = Int64((created.timeIntervalSince1970 * 1000).rounded(.down))
            let id = snapshotID ?? SnapshotWriter.defaultID(schema: schema.name, created: milliseconds, files: files)
            guard SnapshotManifest.isValidSnapshotID(id) else {
                throw UnreadableInput("\"\(id)\" is not a snapshot id (letters, digits, . _ -, at most 128)")
            }
            let manifest = SnapshotManifest(
                snapshotID: id,
                createdUnixMilliseconds: milliseconds,
                schemaName: schema.name,
                schemaVersion: schema.version,
                recordCounts: counts,
                files: files
            )
            let manifestURL = staging.appendingPathComponent(SnapshotManifest.fileName)
            try Data((manifest.json().rendered(pretty: true) + "\n").utf8).write(to: manifestURL)
            try FileManager.default.moveItem(at: staging, to: directory)
            return manifest
        } catch {
            try? FileManager.default.removeItem(at: staging)
            throw error
        }
    }

    /// Drops everything written.
    public func abandon() {
        guard !done else { return }
        done = true
        try? FileManager.default.removeItem(at: staging)
    }

    static func defaultID(schema: String, created: Int64, files: [SnapshotManifest.FileEntry]) -> String {
        let content = SHA256.hexDigest(Array(files.map { $0.name + ":" + $0.sha256 }.joined(separator: "\n").utf8))
        let time = Timestamps.formatISO8601(created).prefix(19).filter { $0 != "-" && $0 != ":" }
        return "\(schema)-\(time)Z-\(content.prefix(8))"
    }
}

/// Reads the records of a snapshot back, e.g. to load or export them. It checks framing but not content; run
/// `SnapshotValidator` first for that.
public struct SnapshotReader: Sendable {
    /// The snapshot folder.
    public let directory: URL
    /// Its manifest.
    public let manifest: SnapshotManifest
    /// Its schema.
    public let schema: CatalogSchema
    /// Bounds on record size.
    public let limits: CatalogLimits

    /// Opens a snapshot: reads its manifest and schema.
    public init(directory: String, limits: CatalogLimits = CatalogLimits()) throws {
        self.directory = URL(fileURLWithPath: directory)
        self.limits = limits
        manifest = try SnapshotValidator.readManifest(self.directory)
        do {
            schema = try CatalogSchema.load(
                path: self.directory.appendingPathComponent(SnapshotManifest.schemaFileName).path
            )
        } catch {
            throw UnreadableInput("\(SnapshotManifest.schemaFileName): \(error)")
        }
    }

    /// Calls `body` with each record of `kind`, in file order.
    public func forEachRecord(of kind: String, _ body: (EntityRecord) throws -> Void) throws {
        let name = SnapshotManifest.recordFileName(kind: kind)
        var cursor = try SnapshotFileCursor(
            path: directory.appendingPathComponent(name).path,
            maxRecordBytes: limits.maxRecordBytes
        )
        while let item = try cursor.next() {
            switch item {
            case .record(let record, _, _, _): try body(record)
            case .problem(_, let number, _, _, let message):
                throw UnreadableInput("\(name): record \(number ?? 0): \(message)")
            }
        }
    }

    /// Every record of `kind`.
    public func records(of kind: String) throws -> [EntityRecord] {
        var records: [EntityRecord] = []
        try forEachRecord(of: kind) { records.append($0) }
        return records
    }
}
