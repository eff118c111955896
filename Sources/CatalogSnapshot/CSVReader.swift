/// Where a reader's bytes come from: a file read in chunks, or memory (tests, small inputs).
protocol ByteSource {
    /// The next chunk, or nil at the end.
    mutating func read() throws -> [UInt8]?
}

extension ChunkedFile: ByteSource {}

extension ByteSource {
    /// The first bytes of the input without a UTF-8 byte order mark, however the mark is split across chunks.
    mutating func readSkippingByteOrderMark() throws -> [UInt8] {
        var start: [UInt8] = []
        while start.count < 3, let next = try read() { start += next }
        return start.starts(with: [0xEF, 0xBB, 0xBF]) ? Array(start.dropFirst(3)) : start
    }
}

/// Bytes already in memory, handed out in one chunk (or several, to test chunk boundaries).
struct MemoryBytes: ByteSource {
    private var chunks: [[UInt8]]

    init(_ bytes: [UInt8], chunkSize: Int = Int.max) {
        chunks = stride(from: 0, to: bytes.count, by: max(chunkSize, 1)).map {
            Array(bytes[$0..<min($0 + chunkSize, bytes.count)])
        }
        chunks.reverse()
    }

    mutating func read() throws -> [UInt8]? { chunks.popLast() }
}

/// A CSV reader after RFC 4180: fields separated by commas, records by CRLF or LF; a field in double quotes may
/// hold commas, line breaks and doubled quotes (`""`). Lenient where exports commonly are: a bare CR or LF ends a
/// record, a quote inside an unquoted field is kept as text, blank lines are skipped, a UTF-8 BOM is ignored.
///
/// Bounded: a record over `maxRecordBytes` or with more than `maxFields` fields is reported and reading stops,
/// because inside an unterminated quote no later line break can be trusted to end it.
struct CSVReader<Source: ByteSource> {
    /// One step of the reader.
    enum Row: Equatable {
        /// A record's fields and the line it starts on.
        case fields([String], line: Int)
        /// A record that breaks the format; `fatal` means reading cannot go on after it.
        case malformed(String, line: Int, fatal: Bool)
    }

    static var defaultMaxFields: Int { 10_000 }

    private var source: Source
    private let maxRecordBytes: Int
    private let maxFields: Int
    private var chunk: [UInt8] = []
    private var index = 0
    private var line = 1
    private var finished = false
    private var startedFile = false

    init(_ source: Source, maxRecordBytes: Int, maxFields: Int = CSVReader.defaultMaxFields) {
        self.source = source
        self.maxRecordBytes = maxRecordBytes
        self.maxFields = maxFields
    }

    private mutating func nextByte() throws -> UInt8? {
        if !startedFile {
            startedFile = true
            chunk = try source.readSkippingByteOrderMark()
            index = 0
        }
        while index >= chunk.count {
            guard let next = try source.read() else { return nil }
            chunk = next
            index = 0
        }
        defer { index += 1 }
        return chunk[index]
    }

    private mutating func peekByte() throws -> UInt8? {
        guard let byte = try nextByte() else { return nil }
        index -= 1
        return byte
    }

    /// The next record, or nil at the end of the input.
    mutating func next() throws -> Row? {
        guard !finished else { return nil }
        let quote = UInt8(ascii: "\"")
        let comma = UInt8(ascii: ",")
        let cr = UInt8(13)
        let lf = UInt8(10)
        var fields: [String] = []
        var field: [UInt8] = []
        var recordBytes = 0
        var startLine = line
        var malformed: String?

        func finishField() {
            if let text = String(validating: field, as: UTF8.self) {
                fields.append(text)
            } else {
                malformed = malformed ?? "field \(fields.count + 1) is not UTF-8 text"
                fields.append("")
            }
            field.removeAll(keepingCapacity: true)
        }

        while true {
            // At the start of a field.
            guard let byte = try nextByte() else {
                finished = true
                if fields.isEmpty && field.isEmpty { return nil }
                finishField()
                return result(fields, startLine, malformed)
            }
            if byte == quote {
                let quoteLine = line
                // A quoted field: runs to the closing quote.
                while true {
                    guard let inner = try nextByte() else {
                        finished = true
                        return .malformed(
                            "the file ends inside a quoted field that starts on line \(quoteLine)",
                            line: startLine,
                            fatal: true
                        )
                    }
                    if inner == quote {
                        if try peekByte() == quote {
                            _ = try nextByte()
                            field.append(quote)
                            continue
                        }
                        break
                    }
                    if inner == lf { line += 1 }
                    if inner == cr, try peekByte() != lf { line += 1 }
                    field.append(inner)
                    recordBytes += 1
                    if recordBytes > maxRecordBytes { return tooLong(startLine) }
                }
                // After the closing quote: a separator, the end of the record, or a stray character.
                guard let after = try nextByte() else {
                    finished = true
                    finishField()
                    return result(fields, startLine, malformed)
                }
                if after == comma {
                    finishField()
                    if fields.count >= maxFields { return tooMany(startLine) }
                    continue
                }
                if after == cr || after == lf {
                    if after == cr, try peekByte() == lf { _ = try nextByte() }
                    line += 1
                    finishField()
                    return result(fields, startLine, malformed)
                }
                malformed =
                    malformed
                    ?? "field \(fields.count + 1): a closing quote must be followed by a comma or a line break "
                    + "(a quote inside a quoted field is written twice)"
                field.append(after)
                // Read the rest of this field as unquoted text.
            } else if byte == comma {
                finishField()
                if fields.count >= maxFields { return tooMany(startLine) }
                continue
            } else if byte == cr || byte == lf {
                if byte == cr, try peekByte() == lf { _ = try nextByte() }
                line += 1
                if fields.isEmpty && field.isEmpty {
                    // A blank line.
                    startLine = line
                    continue
                }
                finishField()
                return result(fields, startLine, malformed)
            } else {
                field.append(byte)
                recordBytes += 1
            }
            // The rest of an unquoted field.
            while true {
                guard let next = try nextByte() else {
                    finished = true
                    finishField()
                    return result(fields, startLine, malformed)
                }
                if next == comma {
                    finishField()
                    if fields.count >= maxFields { return tooMany(startLine) }
                    break
                }
                if next == cr || next == lf {
                    if next == cr, try peekByte() == lf { _ = try nextByte() }
                    line += 1
                    finishField()
                    return result(fields, startLine, malformed)
                }
                field.append(next)
                recordBytes += 1
                if recordBytes > maxRecordBytes { return tooLong(startLine) }
            }
        }
    }

    private func result(_ fields: [String], _ line: Int, _ malformed: String?) -> Row {
        if let malformed { return .malformed(malformed, line: line, fatal: false) }
        return .fields(fields, line: line)
    }

    private mutating func tooLong(_ line: Int) -> Row {
        finished = true
        return .malformed(
            "the record is longer than \(maxRecordBytes) bytes (an unterminated quote?); the rest of the file is "
                + "not read",
            line: line,
            fatal: true
        )
    }

    private mutating func tooMany(_ line: Int) -> Row {
        finished = true
        return .malformed(
            "the record has more than \(maxFields) fields; the rest of the file is not read",
            line: line,
            fatal: true
        )
    }
}

extension CSVReader where Source == MemoryBytes {
    /// Every row of `text`, for tests and small inputs.
    static func rows(_ text: String, maxRecordBytes: Int = 1 << 20, chunkSize: Int = Int.max) throws -> [Row] {
        var reader = CSVReader(MemoryBytes(Array(text.utf8), chunkSize: chunkSize), maxRecordBytes: maxRecordBytes)
        var rows: [Row] = []
        while let row = try reader.next() { rows.append(row) }
        return rows
    }
}

/// A JSON Lines reader: one JSON object per line; blank lines are skipped. A line over `maxLineBytes` is
/// reported and skipped without being held in memory.
struct JSONLinesReader<Source: ByteSource> {
    enum Row {
        /// A line's object and its line number.
        case object(JSONValue, line: Int)
        case malformed(String, line: Int)
    }

    private var source: Source
    private let maxLineBytes: Int
    private var chunk: [UInt8] = []
    private var index = 0
    private var line = 0
    private var finished = false
    private var started = false

    init(_ source: Source, maxLineBytes: Int) {
        self.source = source
        self.maxLineBytes = maxLineBytes
    }

    mutating func next() throws -> Row? {
        if !started {
            started = true
            chunk = try source.readSkippingByteOrderMark()
            index = 0
        }
        while !finished {
            line += 1
            var bytes: [UInt8] = []
            var overLimit = false
            var sawEnd = false
            while !sawEnd {
                if index >= chunk.count {
                    guard let next = try source.read() else {
                        finished = true
                        break
                    }
                    chunk = next
                    index = 0
                    continue
                }
                // Copy up to the next line feed in one go.
                let end = chunk[index...].firstIndex(of: 10) ?? chunk.count
                if !overLimit {
                    if bytes.count + (end - index) > maxLineBytes {
                        overLimit = true
                        bytes = []
                    } else {
                        bytes.append(contentsOf: chunk[index..<end])
                    }
                }
                sawEnd = end < chunk.count
                index = sawEnd ? end + 1 : end
            }
            if overLimit { return .malformed("the line is longer than \(maxLineBytes) bytes", line: line) }
            if bytes.last == 13 { bytes.removeLast() }
            if bytes.allSatisfy({ $0 == 32 || $0 == 9 }) {
                if finished { return nil }
                continue
            }
            guard let value = try? JSONValue.parse(bytes) else {
                return .malformed("the line is not valid JSON", line: line)
            }
            guard case .object = value else {
                return .malformed("the line is \(value.typeName), expected a JSON object", line: line)
            }
            return .object(value, line: line)
        }
        return nil
    }
}
