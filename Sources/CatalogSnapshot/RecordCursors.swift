/// One step of a pass over one file's records.
enum CursorItem {
    /// A record (1-based `number`; `line` for text input) and what reading it found wrong.
    case record(EntityRecord, number: Int, line: Int?, issues: [RecordIssue])
    /// A problem of the file or of a record that could not be read at all.
    case problem(ProblemClass, record: Int?, line: Int?, field: String?, message: String)
}

/// A single pass over the records of one file. The check reads every file twice (ids, then everything else), so
/// a cursor is opened once per pass.
protocol RecordCursor {
    mutating func next() throws -> CursorItem?
    /// What the first pass needs: the next record's id (nil at the end of the input).
    mutating func nextID() throws -> IDItem?
}

/// A record's id and where it is, or `.other` for a problem or a record without an id.
enum IDItem {
    case id(String, number: Int, line: Int?)
    case other
}

extension RecordCursor {
    /// The id from the whole record.
    mutating func nextID() throws -> IDItem? {
        guard let item = try next() else { return nil }
        if case .record(let record, let number, let line, _) = item, !record.id.isEmpty {
            return .id(record.id, number: number, line: line)
        }
        return .other
    }
}

/// The records of a snapshot's `<kind>.pb`, hashing the file as it goes.
struct SnapshotFileCursor: RecordCursor {
    private var reader: DelimitedRecordReader

    init(path: String, maxRecordBytes: Int) throws {
        reader = try DelimitedRecordReader(path: path, maxRecordBytes: maxRecordBytes)
    }

    /// Records read so far.
    var count: Int { reader.count }

    mutating func next() throws -> CursorItem? {
        switch try reader.next() {
        case .end:
            return nil
        case .malformed(let message):
            return .problem(.malformedRecord, record: reader.count + 1, line: nil, field: nil, message: message)
        case .record(let bytes):
            guard let (record, issues) = EntityCodec.decode(bytes) else {
                return .problem(
                    .malformedRecord,
                    record: reader.count,
                    line: nil,
                    field: nil,
                    message: "\(bytes.count) bytes that are not a ranking.catalog.v1.Entity"
                )
            }
            return .record(record, number: reader.count, line: nil, issues: issues)
        }
    }

    /// The id read straight from the record's bytes, without decoding its attributes; a record the quick read
    /// cannot parse is decoded in full. A record whose id reads but whose attributes do not decode keeps its id
    /// here (pass 2 reports it as malformed, so the snapshot is refused either way; references to it are simply
    /// not also reported as dangling).
    mutating func nextID() throws -> IDItem? {
        switch try reader.next() {
        case .end:
            return nil
        case .malformed:
            return .other
        case .record(let bytes):
            let id = EntityCodec.id(of: bytes) ?? EntityCodec.decode(bytes)?.record.id ?? ""
            return id.isEmpty ? .other : .id(id, number: reader.count, line: nil)
        }
    }

    /// Reads the rest of the file for its SHA-256 and size.
    mutating func finish() throws -> (sha256: String, bytes: Int) { try reader.finish() }
}

/// The rows of a CSV file as records of one kind. The first row names the columns: `id` and attribute names.
struct CSVRecordCursor<Source: ByteSource>: RecordCursor {
    private var reader: CSVReader<Source>
    private let converter: RowConverter
    private var columns: [String]?
    private var used: [Bool] = []
    private var number = 0
    private var pending: [CursorItem] = []
    private var stopped = false

    init(_ source: Source, kind: EntityKindSpec, maxRecordBytes: Int) {
        reader = CSVReader(source, maxRecordBytes: maxRecordBytes)
        converter = RowConverter(kind: kind)
    }

    mutating func next() throws -> CursorItem? {
        if !pending.isEmpty { return pending.removeFirst() }
        guard !stopped else { return nil }
        if columns == nil {
            guard let header = try reader.next() else {
                stopped = true
                return .problem(
                    .malformedRecord,
                    record: nil,
                    line: 1,
                    field: nil,
                    message: "the file is empty; a CSV input starts with a header row naming its columns"
                )
            }
            guard case .fields(let names, let line) = header else {
                stopped = true
                if case .malformed(let message, let line, _) = header {
                    return .problem(
                        .malformedRecord,
                        record: nil,
                        line: line,
                        field: nil,
                        message: "header: " + message
                    )
                }
                return nil
            }
            if let problem = checkHeader(names, line: line) {
                stopped = true
                return problem
            }
            columns = names
            used = names.map { $0 == "id" || converter.kind.attribute(named: $0) != nil }
            for (name, isUsed) in zip(names, used) where !isUsed {
                pending.append(
                    .problem(
                        .unknownAttribute,
                        record: nil,
                        line: line,
                        field: name,
                        message: "column \"\(name)\" is not an attribute of \(converter.kind.name); it is ignored"
                    )
                )
            }
            if !pending.isEmpty { return pending.removeFirst() }
        }
        guard let row = try reader.next() else { return nil }
        number += 1
        switch row {
        case .malformed(let message, let line, let fatal):
            if fatal { stopped = true }
            return .problem(.malformedRecord, record: number, line: line, field: nil, message: message)
        case .fields(let fields, let line):
            let columns = self.columns!
            guard fields.count == columns.count else {
                return .problem(
                    .malformedRecord,
                    record: number,
                    line: line,
                    field: nil,
                    message: "\(fields.count) fields, the header has \(columns.count)"
                )
            }
            var cells: [(name: String, cell: Cell)] = []
            cells.reserveCapacity(columns.count)
            for index in columns.indices where used[index] {
                cells.append((columns[index], .text(fields[index])))
            }
            let (record, issues) = converter.record(cells)
            return .record(record, number: number, line: line, issues: issues)
        }
    }

    private func checkHeader(_ names: [String], line: Int) -> CursorItem? {
        var seen = Set<String>()
        for name in names where !seen.insert(name).inserted {
            return .problem(
                .malformedRecord,
                record: nil,
                line: line,
                field: name,
                message: "header: column \"\(name)\" appears twice; the file is not read"
            )
        }
        guard seen.contains("id") else {
            return .problem(
                .missingRequired,
                record: nil,
                line: line,
                field: "id",
                message: "header: no \"id\" column; the file is not read"
            )
        }
        return nil
    }
}

/// The lines of a JSON Lines file as records of one kind: each an object with `id` and attribute members.
struct JSONLinesRecordCursor<Source: ByteSource>: RecordCursor {
    private var reader: JSONLinesReader<Source>
    private let converter: RowConverter
    private var number = 0

    init(_ source: Source, kind: EntityKindSpec, maxRecordBytes: Int) {
        reader = JSONLinesReader(source, maxLineBytes: maxRecordBytes)
        converter = RowConverter(kind: kind)
    }

    mutating func next() throws -> CursorItem? {
        guard let row = try reader.next() else { return nil }
        number += 1
        switch row {
        case .malformed(let message, let line):
            return .problem(.malformedRecord, record: number, line: line, field: nil, message: message)
        case .object(let object, let line):
            guard case .object(let members) = object else { return nil }
            let (record, issues) = converter.record(members.map { (name: $0.key, cell: .json($0.value)) })
            return .record(record, number: number, line: line, issues: issues)
        }
    }
}
