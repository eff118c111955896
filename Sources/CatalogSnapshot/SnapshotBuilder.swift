import Foundation

/// The format of an input table.
public enum InputFormat: String, CaseIterable, Sendable {
    case csv
    case jsonLines = "jsonl"
    case parquet

    /// The file extension it is recognised by.
    public var fileExtension: String { rawValue }
}

/// The outcome of a build: the manifest of the snapshot written, or the problems that stopped it.
public struct SnapshotBuild: Sendable {
    /// The input file read for each kind, in schema order (missing kinds are absent).
    public var inputs: [(kind: String, file: String)]
    /// Records read per kind.
    public var recordsRead: [(kind: String, records: Int)]
    /// The snapshot's manifest; nil when problems stopped the build and nothing was written.
    public var manifest: SnapshotManifest?
    /// Every problem found in the inputs.
    public var problems: ProblemLog

    /// The report a person reads.
    public func text() -> String {
        var lines = problems.listed.map(\.description)
        if problems.unlisted > 0 { lines.append("... and \(problems.unlisted) more problems not listed") }
        let read = recordsRead.map { "\($0.records) \($0.kind)" }.joined(separator: ", ")
        if let manifest {
            lines.append("wrote snapshot \(manifest.snapshotID): \(read)")
        } else {
            let counts = problems.counts.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }
            lines.append(
                "no snapshot written: \(problems.total) problem\(problems.total == 1 ? "" : "s") "
                    + "(\(counts.joined(separator: ", "))) in \(read.isEmpty ? "the input" : read)"
            )
        }
        return lines.joined(separator: "\n")
    }

    /// The report as JSON.
    public func json() -> JSONValue {
        .object([
            ("written", .bool(manifest != nil)),
            ("snapshot_id", manifest.map { .string($0.snapshotID) } ?? .null),
            ("records", .object(recordsRead.map { (key: $0.kind, value: .integer(Int64($0.records))) })),
            ("problem_count", .integer(Int64(problems.total))),
            ("problems", .array(problems.listed.map(\.json))),
            ("problems_not_listed", .integer(Int64(problems.unlisted))),
        ])
    }
}

/// Turns a folder of input tables (`<kind>.csv`, `<kind>.jsonl` or `<kind>.parquet`, one per kind of the schema)
/// into a snapshot. Every row is checked as `SnapshotValidator` checks records; a single problem means nothing is
/// written, and every problem is reported.
public struct SnapshotBuilder {
    /// The schema of the snapshot.
    public var schema: CatalogSchema
    /// Bounds on records and reports.
    public var limits: CatalogLimits
    /// Converts a Parquet file (first path) to JSON Lines (second path); nil when Parquet cannot be read here.
    public var parquetToJSONLines: ((String, String) throws -> Void)?

    /// A builder for `schema`.
    public init(
        schema: CatalogSchema,
        limits: CatalogLimits = CatalogLimits(),
        parquetToJSONLines: ((String, String) throws -> Void)? = nil
    ) {
        self.schema = schema
        self.limits = limits
        self.parquetToJSONLines = parquetToJSONLines
    }

    /// One input table found for a kind.
    struct Input {
        var kind: EntityKindSpec
        var file: String
        var format: InputFormat
        /// The file actually read: the input, or the JSON Lines converted from Parquet.
        var readPath: String
    }

    /// Reads `inputDirectory` and writes the snapshot to `output` (a folder that must not exist) if the input has
    /// no problem. Throws `UnreadableInput` when the input folder or a Parquet file cannot be read at all.
    public func build(inputDirectory: String, output: String, snapshotID: String? = nil) throws -> SnapshotBuild {
        let folder = URL(fileURLWithPath: inputDirectory)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory), isDirectory.boolValue
        else { throw UnreadableInput("\(inputDirectory): no such input folder") }
        if FileManager.default.fileExists(atPath: output) {
            throw UnreadableInput("\(output) already exists; a snapshot is written to a new folder")
        }
        var check = CatalogCheck(limits: limits)
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
            "rankctl-build-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
        )
        defer { try? FileManager.default.removeItem(at: scratch) }

        var inputs: [Input] = []
        for kind in schema.kinds {
            let present = InputFormat.allCases.filter {
                FileManager.default.fileExists(
                    atPath: folder.appendingPathComponent("\(kind.name).\($0.fileExtension)").path
                )
            }
            guard let format = present.first else {
                check.log.report(
                    .missingFile,
                    file: "\(kind.name).csv",
                    message: "no \(kind.name).csv, \(kind.name).jsonl or \(kind.name).parquet in \(inputDirectory)"
                )
                check.ids.unavailable.insert(kind.name)
                continue
            }
            let file = "\(kind.name).\(format.fileExtension)"
            if present.count > 1 {
                check.log.report(
                    .missingFile,
                    file: file,
                    message: "several inputs for kind \(kind.name) ("
                        + present.map { "\(kind.name).\($0.fileExtension)" }.joined(separator: ", ") + "); keep one"
                )
                check.ids.unavailable.insert(kind.name)
                continue
            }
            var readPath = folder.appendingPathComponent(file).path
            if format == .parquet {
                guard let convert = parquetToJSONLines else {
                    throw UnreadableInput("\(file): Parquet input needs the converter (Scripts/parquet-to-jsonl.py)")
                }
                try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
                let converted = scratch.appendingPathComponent("\(kind.name).jsonl").path
                do {
                    try convert(readPath, converted)
                } catch {
                    throw UnreadableInput("\(file): cannot be read as Parquet: \(error)")
                }
                readPath = converted
            }
            inputs.append(Input(kind: kind, file: file, format: format, readPath: readPath))
        }

        // Pass 1: ids of every kind, so pass 2 can check references in any direction.
        var recordsRead: [(kind: String, records: Int)] = []
        for input in inputs {
            var cursor = try openCursor(input)
            try check.collectIDs(kind: input.kind.name, file: input.file, cursor: &cursor)
        }
        // Pass 2: every row, written as it is checked; thrown away if anything was wrong.
        let writer = try SnapshotWriter(schema: schema, directory: output)
        for input in inputs {
            var cursor = try openCursor(input)
            var count = 0
            try check.checkRecords(kind: input.kind, file: input.file, cursor: &cursor) { record, clean in
                count += 1
                // Once the build has failed there is no point writing more.
                if clean { try writer.append(record, kind: input.kind.name) }
            }
            recordsRead.append((input.kind.name, count))
        }
        check.log.sort(fileOrder: inputs.map(\.file))
        var result = SnapshotBuild(
            inputs: inputs.map { ($0.kind.name, $0.file) },
            recordsRead: recordsRead,
            manifest: nil,
            problems: check.log
        )
        if check.log.isEmpty {
            result.manifest = try writer.finish(snapshotID: snapshotID)
        } else {
            writer.abandon()
        }
        return result
    }

    private func openCursor(_ input: Input) throws -> AnyRecordCursor {
        let file: ChunkedFile
        do {
            file = try ChunkedFile(path: input.readPath)
        } catch {
            throw UnreadableInput("\(input.file): cannot be read: \(error.localizedDescription)")
        }
        switch input.format {
        case .csv:
            return AnyRecordCursor(CSVRecordCursor(file, kind: input.kind, maxRecordBytes: limits.maxRecordBytes))
        case .jsonLines:
            return AnyRecordCursor(JSONLinesRecordCursor(file, kind: input.kind, maxRecordBytes: limits.maxRecordBytes))
        case .parquet:
            // Converted rows are one per line, so line numbers would only repeat the record numbers.
            return AnyRecordCursor(
                JSONLinesRecordCursor(file, kind: input.kind, maxRecordBytes: limits.maxRecordBytes),
                dropLines: true
            )
        }
    }
}

/// A cursor of any input format.
struct AnyRecordCursor: RecordCursor {
    private var base: any RecordCursor
    private let dropLines: Bool

    init(_ base: any RecordCursor, dropLines: Bool = false) {
        self.base = base
        self.dropLines = dropLines
    }

    mutating func next() throws -> CursorItem? {
        let item = try base.next()
        guard dropLines, let item else { return item }
        switch item {
        case .record(let record, let number, _, let issues):
            return .record(record, number: number, line: nil, issues: issues)
        case .problem(let problemClass, let record, _, let field, let message):
            return .problem(problemClass, record: record, line: nil, field: field, message: message)
        }
    }
}
