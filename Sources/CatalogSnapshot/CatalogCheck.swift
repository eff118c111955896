import Foundation

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
                duplicate(id, file: file, record: number, line: line, first: first)
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

    /// Pass 1 over a snapshot's record file: collects ids (straight from the wire format) and reports duplicates.
    /// Returns the number of records the file splits into; framing problems are left for pass 2 to report.
    mutating func collectIDs(
        kind: String,
        file: String,
        reader: inout DelimitedRecordReader,
        expected: Int
    ) throws
        -> Int
    {
        ids.reserve(kind: kind, expected: expected)
        var number = 0
        var duplicates: [(id: String, record: Int, first: Int)] = []
        var failure: Error?
        ids.withKind(kind) { table in
            do {
                while try reader.withNext({ (bytes: UnsafeRawBufferPointer) -> Void in
                    number += 1
                    if let duplicate = CatalogCheck.collectID(bytes, record: number, into: &table) {
                        duplicates.append((duplicate.id, number, duplicate.first))
                    }
                }) != nil {}
            } catch {
                // Framing problems (`DelimitedRecordReader.Malformed`) are pass 2's to report; read errors rethrow.
                failure = error
            }
        }
        if let failure, !(failure is DelimitedRecordReader.Malformed) { throw failure }
        for duplicate in duplicates {
            self.duplicate(duplicate.id, file: file, record: duplicate.record, first: duplicate.first)
        }
        return reader.count
    }

    /// Adds the id of the record in `bytes` (number `record`, 1-based) to `table`; returns the id and the record it
    /// first appeared in when it is a duplicate. A record without an id adds nothing (pass 2 reports it).
    @inline(__always)
    static func collectID(
        _ bytes: UnsafeRawBufferPointer,
        record: Int,
        into table: inout IDIndex.Kind
    ) -> (id: String, first: Int)? {
        if let range = EntityCodec.idRange(of: bytes), WireCursor.isPlainText(bytes, range) {
            guard !range.isEmpty else { return nil }
            let id = UnsafeRawBufferPointer(rebasing: bytes[range])
            return table.insert(id, record: record).map { (String(decoding: id, as: UTF8.self), $0) }
        } else {
            // Text that is not UTF-8 is repaired here, as the full decode does; pass 2 reports it.
            var id = EntityCodec.decode(Array(bytes))?.record.id ?? ""
            guard !id.isEmpty else { return nil }
            return id.withUTF8({ table.insert(UnsafeRawBufferPointer($0), record: record) }).map { (id, $0) }
        }
    }

    /// Passes 1 and 2 over a snapshot's record file at once, reading it once: the ids, the checksum and every record
    /// into columns, for a kind whose references and histories all point to kinds already read. Returns nil, leaving
    /// the ids and the log as they were, as soon as anything at all is wrong (a problem, a duplicate id, another
    /// record count than `expected`, another size or checksum than `entry`'s, a read error): the separate passes then
    /// read the file again and report exactly what they always report.
    mutating func readInOnePass(
        kind: EntityKindSpec,
        file: String,
        path: String,
        expected: Int,
        entry: SnapshotManifest.FileEntry,
        maxRecordBytes: Int,
        quickPath: Bool
    ) -> (table: EntityTable, generalPathRecords: Int)? {
        // The columns are sized by `expected` before a record is read, so it must be a count the file could hold: a
        // record with an id takes at least 4 bytes.
        guard expected >= 0,
            let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber,
            expected <= min(size.intValue, entry.bytes) / 4,
            var reader = try? DelimitedRecordReader(path: path, maxRecordBytes: maxRecordBytes)
        else { return nil }
        let before = (ids: ids, log: log)
        var succeeded = false
        defer {
            if !succeeded { (ids, log) = before }
        }
        var own = IDIndex.Kind(table: StringTable(capacity: min(max(expected, 16), 1 << 26)))
        var decoder = EntityTableDecoder(kind: kind, file: file, ids: ids, count: expected)
        decoder.quickPath = quickPath
        let others = ids
        var number = 0
        var clean = true
        do {
            while clean,
                try reader.withNext({ (bytes: UnsafeRawBufferPointer) -> Void in
                    number += 1
                    guard CatalogCheck.collectID(bytes, record: number, into: &own) == nil else {
                        clean = false
                        return
                    }
                    decoder.decode(bytes, at: number - 1, ids: others, log: &log)
                    if log.total != before.log.total { clean = false }
                }) != nil
            {}
        } catch {
            return nil
        }
        guard clean, reader.count == expected, let (digest, bytes) = try? reader.finish(),
            digest == entry.sha256.lowercased(), bytes == entry.bytes
        else { return nil }
        ids.set(kind.name, own)
        var table = decoder.table
        table.ids = own.table
        succeeded = true
        return (table, decoder.generalPathRecords)
    }

    private mutating func duplicate(_ id: String, file: String, record: Int, line: Int? = nil, first: Int) {
        log.report(
            .duplicateID,
            file: file,
            record: record,
            line: line,
            field: "id",
            message: "id \"\(id)\" is also the id of record \(first)"
        )
    }

    /// Pass 2 over a snapshot's record file: every record into a table of `count` entities, every problem reported.
    mutating func decodeRecords(
        kind: EntityKindSpec,
        file: String,
        reader: inout DelimitedRecordReader,
        count: Int,
        quickPath: Bool = true
    ) throws -> (table: EntityTable, generalPathRecords: Int) {
        var decoder = EntityTableDecoder(kind: kind, file: file, ids: ids, count: count)
        decoder.quickPath = quickPath
        var number = 0
        do {
            while try reader.withNext({ (bytes: UnsafeRawBufferPointer) -> Void in
                decoder.decode(bytes, at: number, ids: ids, log: &log)
                number += 1
            }) != nil {}
        } catch let malformed as DelimitedRecordReader.Malformed {
            log.report(.malformedRecord, file: file, record: reader.count + 1, message: malformed.message)
        }
        return (decoder.table, decoder.generalPathRecords)
    }
}
