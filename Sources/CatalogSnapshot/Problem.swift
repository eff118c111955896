/// What kind of problem a snapshot or an input row has. The raw value is what reports print.
public enum ProblemClass: String, CaseIterable, Sendable, Comparable {
    /// Two entities of one kind share an id.
    case duplicateID = "duplicate_id"
    /// A reference or history entry names an id that no entity of the target kind has.
    case danglingReference = "dangling_reference"
    /// A latitude outside [-90, 90] or a longitude outside [-180, 180].
    case coordinateOutOfRange = "coordinate_out_of_range"
    /// An unknown time zone, minutes out of range, or overlapping intervals.
    case malformedSchedule = "malformed_schedule"
    /// An embedding whose length is not the schema's dimension.
    case embeddingSize = "embedding_size"
    /// A required attribute without a value, or an entity without an id.
    case missingRequired = "missing_required"
    /// A value of another type than the schema declares, or text that does not parse as the declared type.
    case wrongType = "wrong_type"
    /// A value of the right type that is not allowed: not finite, not positive, empty, an undeclared event.
    case invalidValue = "invalid_value"
    /// An attribute or column the schema does not declare.
    case unknownAttribute = "unknown_attribute"
    /// A file's SHA-256 differs from the manifest's.
    case checksumMismatch = "checksum_mismatch"
    /// A file holds another number of records than the manifest says.
    case recordCountMismatch = "record_count_mismatch"
    /// Bytes that cannot be split into records: a length prefix over the limit, a truncated record, a record that
    /// is not an Entity, a CSV or JSON syntax error.
    case malformedRecord = "malformed_record"
    /// A file the manifest or the schema calls for is not there, or the manifest and the schema disagree.
    case missingFile = "missing_file"
    /// The manifest is readable but wrong: a bad snapshot id, a kind it should not list.
    case manifest = "manifest"

    public static func < (lhs: ProblemClass, rhs: ProblemClass) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One problem: which file, which record (1-based; for CSV the data row, the header not counted), which field.
public struct Problem: Equatable, Sendable, CustomStringConvertible {
    /// What kind of problem.
    public var problemClass: ProblemClass
    /// The file, relative to the snapshot or input folder.
    public var file: String
    /// 1-based record number within the file; nil for a problem of the whole file.
    public var record: Int?
    /// For a text input (CSV, JSON Lines): the line the record starts on, which editors show.
    public var line: Int?
    /// The attribute or column ("id" for the id); nil when no one field is at fault.
    public var field: String?
    /// What is wrong, for the person fixing it.
    public var message: String

    /// A problem.
    public init(
        _ problemClass: ProblemClass,
        file: String,
        record: Int? = nil,
        line: Int? = nil,
        field: String? = nil,
        message: String
    ) {
        self.problemClass = problemClass
        self.file = file
        self.record = record
        self.line = line
        self.field = field
        self.message = message
    }

    /// `file: record N (line L): field F: class: message`, leaving out what is unknown.
    public var description: String {
        var parts = [file]
        if let record, let line {
            parts.append("record \(record) (line \(line))")
        } else if let record {
            parts.append("record \(record)")
        } else if let line {
            parts.append("line \(line)")
        }
        if let field { parts.append("field \(field)") }
        parts.append(problemClass.rawValue)
        parts.append(message)
        return parts.joined(separator: ": ")
    }

    /// The problem as a JSON object for `--json` reports.
    public var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("class", .string(problemClass.rawValue)), ("file", .string(file)),
        ]
        members.append(("record", record.map { .integer(Int64($0)) } ?? .null))
        if let line { members.append(("line", .integer(Int64(line)))) }
        members.append(("field", field.map { .string($0) } ?? .null))
        members.append(("message", .string(message)))
        return .object(members)
    }
}

/// Every problem found, with a bound on how many are kept in full: past `limit`, problems are only counted, so
/// a hostile or badly broken input cannot make the report take unbounded memory.
public struct ProblemLog: Sendable {
    /// Most problems kept with their details.
    public let limit: Int
    /// The problems kept, in the order found.
    public private(set) var listed: [Problem] = []
    /// How many problems of each class were found, listed or not.
    public private(set) var counts: [ProblemClass: Int] = [:]
    /// How many were found in all.
    public private(set) var total = 0

    /// An empty log that keeps up to `limit` problems in full.
    public init(limit: Int = 10_000) {
        precondition(limit >= 0, "a problem limit cannot be negative")
        self.limit = limit
    }

    /// Counts a problem and keeps it if there is room.
    public mutating func report(_ problem: Problem) {
        total += 1
        counts[problem.problemClass, default: 0] += 1
        if listed.count < limit { listed.append(problem) }
    }

    /// Counts a problem and keeps it if there is room.
    public mutating func report(
        _ problemClass: ProblemClass,
        file: String,
        record: Int? = nil,
        line: Int? = nil,
        field: String? = nil,
        message: String
    ) {
        report(Problem(problemClass, file: file, record: record, line: line, field: field, message: message))
    }

    /// Problems found but not kept in full.
    public var unlisted: Int { total - listed.count }

    /// No problem at all.
    public var isEmpty: Bool { total == 0 }

    /// Orders the kept problems by file (in `fileOrder`, then by name), record and field, keeping the order of
    /// discovery among equals.
    public mutating func sort(fileOrder: [String]) {
        let rank = Dictionary(fileOrder.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        listed = listed.enumerated().sorted { left, right in
            let (a, b) = (left.element, right.element)
            let rankA = rank[a.file] ?? Int.max
            let rankB = rank[b.file] ?? Int.max
            if rankA != rankB { return rankA < rankB }
            if a.file != b.file { return a.file < b.file }
            let recordA = a.record ?? 0
            let recordB = b.record ?? 0
            if recordA != recordB { return recordA < recordB }
            return left.offset < right.offset
        }.map(\.element)
    }
}
