import Foundation

/// A snapshot (or input) that cannot be read at all: no folder, no readable manifest or schema. The command line
/// exits 2 for it, and 1 for a snapshot that was read and has problems.
public struct UnreadableInput: Error, CustomStringConvertible, Sendable {
    /// What could not be read and why.
    public var description: String

    /// An error with its explanation.
    public init(_ description: String) { self.description = description }
}

/// The outcome of validating a snapshot: what it claims to be and every problem found.
public struct SnapshotValidation: Sendable {
    /// The snapshot's manifest.
    public var manifest: SnapshotManifest
    /// The schema it carries.
    public var schema: CatalogSchema
    /// Records read per kind, in schema order.
    public var recordsRead: [(kind: String, records: Int)]
    /// Every problem (details for up to the limit).
    public var problems: ProblemLog
    /// A valid snapshot's records, one table per kind in schema order, when asked for (else empty).
    public var tables: [EntityTable] = []
    /// Records that took the general decoding path (protobuf-c and `RecordChecker`) rather than the quick one.
    public var generalPathRecords = 0

    /// The table of `kind`, when tables were kept.
    public func table(_ kind: String) -> EntityTable? { tables.first { $0.kind.name == kind } }

    /// No problem at all.
    public var isValid: Bool { problems.isEmpty }

    /// The report a person reads: one line per problem, then a summary line.
    public func text() -> String {
        var lines = problems.listed.map(\.description)
        if problems.unlisted > 0 {
            lines.append("... and \(problems.unlisted) more problems not listed")
        }
        let records = recordsRead.map(\.records).reduce(0, +)
        let about =
            "snapshot \(manifest.snapshotID) (schema \(schema.name) v\(schema.version)): "
            + recordsRead.map { "\($0.records) \($0.kind)" }.joined(separator: ", ")
        if isValid {
            lines.append("\(about): valid, \(records) records checked, every checksum matches")
        } else {
            let counts = problems.counts.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }
            lines.append(
                "\(about): invalid, \(problems.total) problem\(problems.total == 1 ? "" : "s") "
                    + "(\(counts.joined(separator: ", ")))"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The report as one JSON document, for scripts.
    public func json() -> JSONValue {
        .object([
            ("valid", .bool(isValid)),
            ("snapshot_id", .string(manifest.snapshotID)),
            ("schema", .object([("name", .string(schema.name)), ("version", .integer(Int64(schema.version)))])),
            ("records", .object(recordsRead.map { (key: $0.kind, value: .integer(Int64($0.records))) })),
            ("problem_count", .integer(Int64(problems.total))),
            (
                "problem_counts",
                .object(
                    problems.counts.sorted { $0.key < $1.key }.map {
                        (key: $0.key.rawValue, value: .integer(Int64($0.value)))
                    }
                )
            ),
            ("problems", .array(problems.listed.map(\.json))),
            ("problems_not_listed", .integer(Int64(problems.unlisted))),
        ])
    }
}

/// Checks a snapshot folder completely: the manifest against the schema and the files, every file's checksum and
/// record count, and every record against the schema (types, required values, ranges, schedules, embedding
/// sizes, duplicate ids, dangling references). Reads each record file once when the snapshot is valid (ids,
/// checksum and every record in one pass, kinds in schema order) and otherwise twice (ids and checksums, then every
/// record), in bounded memory apart from the ids it must remember to check references and, when asked for, the
/// columns it reads the records into.
public struct SnapshotValidator: Sendable {
    /// Bounds on records and reports.
    public var limits: CatalogLimits
    /// False sends every record down the general decoding path: for tests that compare the two paths.
    var quickPath = true
    /// False reads every file in two passes even when the snapshot is valid: for tests that compare the two ways.
    var onePass = true

    /// A validator.
    public init(limits: CatalogLimits = CatalogLimits()) {
        self.limits = limits
    }

    /// Validates the snapshot in `directory`; throws `UnreadableInput` when there is nothing to validate. With
    /// `keepTables`, a valid snapshot's records come back as columns (`SnapshotValidation.tables`), read in the same
    /// pass that checked them; without, one kind's columns at a time are held and dropped.
    public func validate(directory: String, keepTables: Bool = false) throws -> SnapshotValidation {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
        else { throw UnreadableInput("\(directory): no such snapshot folder") }
        let folder = URL(fileURLWithPath: directory)
        let manifest = try SnapshotValidator.readManifest(folder)
        let schemaPath = folder.appendingPathComponent(SnapshotManifest.schemaFileName).path
        let schema: CatalogSchema
        do {
            schema = try CatalogSchema.load(path: schemaPath)
        } catch let error as SchemaError {
            throw UnreadableInput(
                "\(SnapshotManifest.schemaFileName): \(error.field.isEmpty ? "" : error.field + ": ")"
                    + error.message
            )
        }

        var check = CatalogCheck(limits: limits)
        checkManifest(manifest, schema: schema, log: &check.log)

        // Files other than record files: the schema copy and anything else the manifest lists.
        let kindFiles = Set(schema.kinds.map { SnapshotManifest.recordFileName(kind: $0.name) })
        for entry in manifest.files
        where !kindFiles.contains(entry.name) && SnapshotManifest.isPlainFileName(entry.name) {
            let path = folder.appendingPathComponent(entry.name).path
            do {
                var file = try ChunkedFile(path: path)
                let digest = try file.finish()
                compare(entry, sha256: digest, bytes: file.bytesRead, log: &check.log)
            } catch {
                check.log.report(.missingFile, file: entry.name, message: "listed in the manifest but cannot be read")
            }
        }

        // Passes 1 and 2 at once, kind by kind in schema order, while every kind read so far is clean and the next
        // one's references point only to kinds before it. The first kind that is not, and every kind after it, go
        // through the two passes below, so a snapshot with problems is reported exactly as by those alone.
        var recordsRead: [(kind: String, records: Int)] = []
        var tables: [EntityTable] = []
        var generalPathRecords = 0
        var readInOnePass = 0
        for kind in schema.kinds where onePass {
            let name = SnapshotManifest.recordFileName(kind: kind.name)
            let earlier = schema.kinds[..<readInOnePass].map(\.name)
            guard
                kind.attributes.allSatisfy({
                    ($0.type != .reference && $0.type != .history) || earlier.contains($0.target ?? "")
                }),
                let expected = manifest.records(of: kind.name), let entry = manifest.file(named: name),
                let (table, general) = check.readInOnePass(
                    kind: kind,
                    file: name,
                    path: folder.appendingPathComponent(name).path,
                    expected: expected,
                    entry: entry,
                    maxRecordBytes: limits.maxRecordBytes,
                    quickPath: quickPath
                )
            else { break }
            recordsRead.append((kind.name, expected))
            generalPathRecords += general
            if keepTables { tables.append(table) }
            readInOnePass += 1
        }

        // Pass 1: ids, checksums and counts of every kind.
        var readable: [(kind: EntityKindSpec, records: Int)] = []
        for kind in schema.kinds[readInOnePass...] {
            let name = SnapshotManifest.recordFileName(kind: kind.name)
            let path = folder.appendingPathComponent(name).path
            var reader: DelimitedRecordReader
            do {
                reader = try DelimitedRecordReader(path: path, maxRecordBytes: limits.maxRecordBytes)
            } catch {
                check.log.report(.missingFile, file: name, message: "the records of kind \(kind.name) are missing")
                check.ids.unavailable.insert(kind.name)
                recordsRead.append((kind.name, 0))
                continue
            }
            let expected = manifest.records(of: kind.name)
            let count = try check.collectIDs(kind: kind.name, file: name, reader: &reader, expected: expected ?? 0)
            let (digest, bytes) = try reader.finish()
            recordsRead.append((kind.name, count))
            readable.append((kind, count))
            if let entry = manifest.file(named: name) {
                compare(entry, sha256: digest, bytes: bytes, log: &check.log)
            }
            if let expected, expected != count {
                check.log.report(
                    .recordCountMismatch,
                    file: name,
                    message: "\(count) records read, the manifest says \(expected)"
                )
            }
        }

        // Pass 2: every record, into columns.
        for (kind, count) in readable {
            let name = SnapshotManifest.recordFileName(kind: kind.name)
            var reader = try DelimitedRecordReader(
                path: folder.appendingPathComponent(name).path,
                maxRecordBytes: limits.maxRecordBytes,
                hashing: false
            )
            let (table, general) = try check.decodeRecords(
                kind: kind,
                file: name,
                reader: &reader,
                count: count,
                quickPath: quickPath
            )
            generalPathRecords += general
            if reader.count < count {
                check.log.report(
                    .malformedRecord,
                    file: name,
                    message: "the file changed while it was being read: \(reader.count) records, then \(count)"
                )
            }
            if keepTables { tables.append(table) }
        }
        check.log.sort(
            fileOrder: [SnapshotManifest.fileName, SnapshotManifest.schemaFileName]
                + schema.kinds.map { SnapshotManifest.recordFileName(kind: $0.name) }
        )
        var validation = SnapshotValidation(
            manifest: manifest,
            schema: schema,
            recordsRead: recordsRead,
            problems: check.log
        )
        validation.generalPathRecords = generalPathRecords
        if validation.isValid { validation.tables = tables }
        return validation
    }

    static func readManifest(_ folder: URL) throws -> SnapshotManifest {
        let path = folder.appendingPathComponent(SnapshotManifest.fileName).path
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            (attributes[.type] as? FileAttributeType) == .typeRegular
        else { throw UnreadableInput("\(SnapshotManifest.fileName): missing; this folder is not a snapshot") }
        if let size = attributes[.size] as? NSNumber, size.intValue > SnapshotManifest.maximumBytes {
            throw UnreadableInput("\(SnapshotManifest.fileName): over \(SnapshotManifest.maximumBytes) bytes")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw UnreadableInput("\(SnapshotManifest.fileName): cannot be read")
        }
        do {
            return try SnapshotManifest.parse(data)
        } catch let error as ManifestError {
            throw UnreadableInput("\(SnapshotManifest.fileName): \(error.description)")
        }
    }

    private func compare(_ entry: SnapshotManifest.FileEntry, sha256: String, bytes: Int, log: inout ProblemLog) {
        guard entry.sha256.lowercased() != sha256 || entry.bytes != bytes else { return }
        var message = "SHA-256 is \(sha256), the manifest says \(entry.sha256)"
        if entry.bytes != bytes { message += "; \(bytes) bytes, the manifest says \(entry.bytes)" }
        log.report(.checksumMismatch, file: entry.name, message: message)
    }

    /// The manifest against the schema it came with: names, version, one count and one checksum per kind.
    private func checkManifest(_ manifest: SnapshotManifest, schema: CatalogSchema, log: inout ProblemLog) {
        let file = SnapshotManifest.fileName
        if !SnapshotManifest.isValidSnapshotID(manifest.snapshotID) {
            log.report(
                .manifest,
                file: file,
                field: "snapshot_id",
                message: "\"\(ValueText.clip(manifest.snapshotID))\" is not a snapshot id (letters, digits, . _ -, "
                    + "at most 128)"
            )
        }
        if manifest.schemaName != schema.name || manifest.schemaVersion != schema.version {
            log.report(
                .manifest,
                file: file,
                field: "schema",
                message: "names schema \(manifest.schemaName) v\(manifest.schemaVersion), but schema.json is "
                    + "\(schema.name) v\(schema.version)"
            )
        }
        for entry in manifest.files where !SnapshotManifest.isPlainFileName(entry.name) {
            log.report(
                .manifest,
                file: file,
                field: "files",
                message: "\"\(ValueText.clip(entry.name))\" is not a file name inside the snapshot folder; not read"
            )
        }
        let expected =
            [SnapshotManifest.schemaFileName]
            + schema.kinds.map {
                SnapshotManifest.recordFileName(kind: $0.name)
            }
        for name in expected where manifest.file(named: name) == nil {
            log.report(.missingFile, file: file, field: "files", message: "no checksum for \(name)")
        }
        for kind in schema.kinds where manifest.records(of: kind.name) == nil {
            log.report(.manifest, file: file, field: "record_counts", message: "no record count for kind \(kind.name)")
        }
        for entry in manifest.recordCounts where schema.kind(named: entry.kind) == nil {
            log.report(
                .manifest,
                file: file,
                field: "record_counts",
                message: "counts records of kind \"\(entry.kind)\", which the schema does not declare"
            )
        }
    }
}
