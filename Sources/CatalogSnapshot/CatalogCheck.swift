/// Limits that keep reading and checking bounded whatever the input.
public struct CatalogLimits: Sendable {
    /// Longest record accepted: a length prefix, CSV record or JSON line over this is a problem, not an allocation.
    public var maxRecordBytes: Int
    /// Most problems kept with details; past this they are only counted.
    public var maxListedProblems: Int

    /// Limits; the defaults fit embeddings of thousands of values and histories of tens of thousands of entries.
    public init(maxRecordBytes: Int = 16 << 20, maxListedProblems: Int = 10_000) {
        precondition(maxRecordBytes > 0 && maxListedProblems >= 0, "limits must be positive")
        self.maxRecordBytes = maxRecordBytes
        self.maxListedProblems = maxListedProblems
    }
}

/// The two passes every check makes over a catalog: first the ids of every kind (and duplicates), then every
/// record against the schema and those ids. Used both on a built snapshot and on input tables being built into one.
struct CatalogCheck {
    var ids = IDIndex()
    var log: ProblemLog

    init(limits: CatalogLimits) {
        log = ProblemLog(limit: limits.maxListedProblems)
    }

    /// Pass 1 over one file: collects ids and reports duplicates. Everything else waits for pass 2.
    mutating func collectIDs<Cursor: RecordCursor>(kind: String, file: String, cursor: inout Cursor) throws {
        while let item = try cursor.nextID() {
            guard case .id(let id, let number, let line) = item else { continue }
            if let first = ids.insert(id, kind: kind, record: number) {
                log.report(
                    .duplicateID,
                    file: file,
                    record: number,
                    line: line,
                    field: "id",
                    message: "id \"\(id)\" is also the id of record \(first)"
                )
            }
        }
    }

    /// Pass 2 over one file: reports every problem of every record; hands each record read to `sink`, with
    /// whether no problem at all has been found so far.
    mutating func checkRecords<Cursor: RecordCursor>(
        kind: EntityKindSpec,
        file: String,
        cursor: inout Cursor,
        sink: (_ record: EntityRecord, _ clean: Bool) throws -> Void = { _, _ in }
    ) throws {
        var checker = RecordChecker(kind: kind, file: file)
        while let item = try cursor.next() {
            switch item {
            case .problem(let problemClass, let record, let line, let field, let message):
                log.report(problemClass, file: file, record: record, line: line, field: field, message: message)
            case .record(let record, let number, let line, let issues):
                checker.check(record, number: number, line: line, issues: issues, ids: ids, log: &log)
                try sink(record, log.isEmpty)
            }
        }
    }
}
