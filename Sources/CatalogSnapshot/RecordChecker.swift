import Foundation

/// The ids of every kind, collected in a first pass so references can be checked in the second.
struct IDIndex {
    /// One kind's ids: each distinct id, and the record (1-based) it first appeared in.
    struct Kind {
        var table: StringTable
        var firstRecord: [Int32] = []

        /// Adds `id` seen in `record`; returns the record it was first seen in if it is a duplicate.
        @inline(__always)
        mutating func insert(_ id: UnsafeRawBufferPointer, record: Int) -> Int? {
            guard let (entry, added) = table.insert(id) else { return nil }
            if added {
                firstRecord.append(Int32(truncatingIfNeeded: record))
                return nil
            }
            return Int(firstRecord[entry])
        }
    }

    /// Per kind, by name.
    private(set) var kinds: [String: Kind] = [:]
    /// Kinds whose file is missing or unreadable: references to them are not checked, since every one would
    /// dangle and the missing file is already reported.
    var unavailable: Set<String> = []

    /// Prepares a kind for about `expected` ids (its manifest count), so the table does not grow while filling.
    mutating func reserve(kind: String, expected: Int) {
        if kinds[kind] == nil { kinds[kind] = Kind(table: StringTable(capacity: min(max(expected, 16), 1 << 26))) }
    }

    /// Adds `id` of `kind` seen in `record`; returns the record it was first seen in if it is a duplicate.
    mutating func insert(_ id: String, kind: String, record: Int) -> Int? {
        var id = id
        return id.withUTF8 { insert(UnsafeRawBufferPointer($0), kind: kind, record: record) }
    }

    /// Adds the id given as bytes; returns the record it was first seen in if it is a duplicate. An id past the
    /// table's bounds (2^30 ids, 4 GiB of them) is not remembered: references to it will be reported as dangling.
    mutating func insert(_ id: UnsafeRawBufferPointer, kind: String, record: Int) -> Int? {
        withKind(kind) { $0.insert(id, record: record) }
    }

    /// Runs `body` on one kind's ids, held outside the dictionary meanwhile so the table is mutated in place.
    mutating func withKind<R>(_ kind: String, _ body: (inout Kind) -> R) -> R {
        reserve(kind: kind, expected: 16)
        var ids = kinds.removeValue(forKey: kind)!
        defer { kinds[kind] = ids }
        return body(&ids)
    }

    /// Sets one kind's ids, read elsewhere.
    mutating func set(_ kind: String, _ ids: Kind) {
        kinds[kind] = ids
    }

    func contains(_ id: String, kind: String) -> Bool {
        unavailable.contains(kind) || kinds[kind]?.table.find(id) != nil
    }

    func count(of kind: String) -> Int { kinds[kind]?.table.count ?? 0 }
}

/// Whether IANA zone names are known, asking Foundation once per distinct name.
struct TimeZoneCache {
    private var known: [String: Bool] = [:]

    mutating func isKnown(_ name: String) -> Bool {
        if let cached = known[name] { return cached }
        let result = !name.isEmpty && name.utf8.count <= 64 && TimeZone(identifier: name) != nil
        // Names come from input; past this many distinct ones stop remembering rather than grow without bound.
        if known.count < 4096 { known[name] = result }
        return result
    }
}

/// Checks one record against its kind in the schema: types, required values, value ranges, schedules, embedding
/// sizes and, against the ids of the first pass, references. Every problem is reported; none stops the check.
struct RecordChecker {
    /// Longest id accepted, in UTF-8 bytes.
    static let maximumIDBytes = 512

    let kind: EntityKindSpec
    let file: String
    var zones = TimeZoneCache()

    init(kind: EntityKindSpec, file: String) {
        self.kind = kind
        self.file = file
    }

    /// Reports the problems of `record` (number `number`, starting on `line` for text input). Fields that already
    /// have a problem from reading the input (`issues`) are not reported again as missing.
    mutating func check(
        _ record: EntityRecord,
        number: Int,
        line: Int?,
        issues: [RecordIssue],
        ids: IDIndex,
        log: inout ProblemLog
    ) {
        let file = self.file
        func report(_ problemClass: ProblemClass, _ field: String?, _ message: String) {
            log.report(problemClass, file: file, record: number, line: line, field: field, message: message)
        }
        for issue in issues { report(issue.problemClass, issue.field, issue.message) }
        let fieldsWithIssues = Set(issues.compactMap(\.field))

        if record.id.isEmpty {
            if !fieldsWithIssues.contains("id") { report(.missingRequired, "id", "the entity has no id") }
        } else if let reason = RecordChecker.idProblem(record.id) {
            report(.invalidValue, "id", reason)
        }
        for spec in kind.attributes where spec.required && record.attributes[spec.name] == nil {
            if !fieldsWithIssues.contains(spec.name) {
                report(.missingRequired, spec.name, "required \(spec.type.rawValue) has no value")
            }
        }
        for name in record.attributes.keys.sorted() {
            let value = record.attributes[name]!
            guard let spec = kind.attribute(named: name) else {
                report(.unknownAttribute, name, "kind \(kind.name) declares no attribute \"\(name)\"")
                continue
            }
            guard value.type == spec.type else {
                report(.wrongType, name, "expected \(spec.type.rawValue), found \(value.type.rawValue)")
                continue
            }
            checkValue(value, spec: spec, ids: ids, report: report)
        }
    }

    /// Why `id` cannot be an id, or nil when it can.
    static func idProblem(_ id: String) -> String? {
        if id.utf8.count > maximumIDBytes { return "id is longer than \(maximumIDBytes) bytes" }
        if id.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            return "id contains a control character"
        }
        if id.first?.isWhitespace == true || id.last?.isWhitespace == true {
            return "id \"\(id)\" starts or ends with white space"
        }
        return nil
    }

    private mutating func checkValue(
        _ value: AttributeValue,
        spec: AttributeSpec,
        ids: IDIndex,
        report: (ProblemClass, String?, String) -> Void
    ) {
        let name = spec.name
        switch value {
        case .number(let number):
            if !number.isFinite { report(.invalidValue, name, "\(number) is not a finite number") }
        case .category(let text):
            if text.isEmpty {
                report(.invalidValue, name, "an empty category; leave the value out instead")
            } else if let values = spec.values, !values.contains(text) {
                report(.invalidValue, name, "\"\(text)\" is not one of the declared values (\(Self.list(values)))")
            }
        case .tags(let tags):
            if let index = tags.firstIndex(where: \.isEmpty) {
                report(.invalidValue, name, "tag \(index + 1) of \(tags.count) is empty")
            }
            if let values = spec.values, let index = tags.firstIndex(where: { !$0.isEmpty && !values.contains($0) }) {
                report(
                    .invalidValue,
                    name,
                    "tag \(index + 1) of \(tags.count), \"\(tags[index])\", is not one of the declared values ("
                        + Self.list(values) + ")"
                )
            }
        case .geo(let point):
            if !(point.lat.isFinite && (-90...90).contains(point.lat)) {
                report(.coordinateOutOfRange, name, "latitude \(point.lat) is outside -90...90")
            }
            if !(point.lon.isFinite && (-180...180).contains(point.lon)) {
                report(.coordinateOutOfRange, name, "longitude \(point.lon) is outside -180...180")
            }
        case .radius(let metres):
            if !(metres.isFinite && metres > 0) {
                report(.invalidValue, name, "radius \(metres) m is not a positive distance")
            }
        case .schedule(let schedule):
            for problem in scheduleProblems(schedule) { report(.malformedSchedule, name, problem) }
        case .timestamp:
            break
        case .embedding(let values):
            let dimension = spec.dimension ?? 0
            if values.count != dimension {
                report(.embeddingSize, name, "\(values.count) values, the schema declares \(dimension)")
            }
            if let index = values.firstIndex(where: { !$0.isFinite }) {
                report(.invalidValue, name, "value \(index + 1) is \(values[index]), not a finite number")
            }
        case .reference(let id):
            let target = spec.target ?? ""
            if id.isEmpty {
                report(.invalidValue, name, "an empty reference; leave the value out instead")
            } else if !ids.contains(id, kind: target) {
                report(.danglingReference, name, "no \(target) has id \"\(id)\"")
            }
        case .history(let interactions):
            checkHistory(interactions, spec: spec, ids: ids, report: report)
        case .text:
            break
        }
    }

    /// A schema's list of values for a message: the first twelve, then how many more.
    static func list(_ values: [String]) -> String {
        values.count <= 12
            ? values.joined(separator: ", ")
            : values.prefix(12).joined(separator: ", ") + " and \(values.count - 12) more"
    }

    private func checkHistory(
        _ interactions: [Interaction],
        spec: AttributeSpec,
        ids: IDIndex,
        report: (ProblemClass, String?, String) -> Void
    ) {
        let target = spec.target ?? ""
        // One problem per record and kind of fault, however long the history: it names the first entry at fault
        // and counts the rest.
        var dangling: (first: Int, id: String, count: Int)?
        var badEvent: (first: Int, event: String, count: Int)?
        for (index, interaction) in interactions.enumerated() {
            if interaction.entityID.isEmpty || !ids.contains(interaction.entityID, kind: target) {
                dangling = (dangling?.first ?? index, dangling?.id ?? interaction.entityID, (dangling?.count ?? 0) + 1)
            }
            let allowed = spec.events.map { $0.contains(interaction.event) } ?? !interaction.event.isEmpty
            if !allowed {
                badEvent = (badEvent?.first ?? index, badEvent?.event ?? interaction.event, (badEvent?.count ?? 0) + 1)
            }
        }
        if let dangling {
            report(
                .danglingReference,
                spec.name,
                "entry \(dangling.first + 1) names \(target) \"\(dangling.id)\", which does not exist"
                    + (dangling.count > 1 ? " (\(dangling.count) of \(interactions.count) entries do)" : "")
            )
        }
        if let badEvent {
            let expected = spec.events.map { "one of " + $0.joined(separator: ", ") } ?? "a non-empty event"
            report(
                .invalidValue,
                spec.name,
                "entry \(badEvent.first + 1) has event \"\(badEvent.event)\", expected \(expected)"
                    + (badEvent.count > 1 ? " (\(badEvent.count) of \(interactions.count) entries do)" : "")
            )
        }
    }

    /// What is wrong with a schedule: its zone, each interval's weekday and minutes, and overlaps.
    mutating func scheduleProblems(_ schedule: WeeklySchedule) -> [String] {
        var problems: [String] = []
        if !zones.isKnown(schedule.timeZone) {
            problems.append("time zone \"\(schedule.timeZone)\" is not an IANA time zone name")
        }
        problems += intervalProblems(schedule.intervals)
        // A hostile schedule may have thousands of bad intervals; a handful says what to fix.
        let shown = 10
        if problems.count > shown {
            let more = problems.count - shown
            problems = Array(problems.prefix(shown)) + ["and \(more) more problems in this schedule"]
        }
        return problems
    }

    /// What is wrong with a schedule's intervals: each one's weekday and minutes, and overlaps.
    func intervalProblems(_ intervals: [OpenInterval]) -> [String] {
        var problems: [String] = []
        var spans: [(start: Int, end: Int, interval: Int)] = []
        for (index, interval) in intervals.enumerated() {
            let label = "interval \(index + 1)"
            guard (1...7).contains(interval.weekday) else {
                problems.append("\(label): weekday \(interval.weekday) is not 1 (Monday) to 7 (Sunday)")
                continue
            }
            guard (0..<1440).contains(interval.openMinute) else {
                problems.append("\(label): opens at minute \(interval.openMinute), not 0 to 1439")
                continue
            }
            guard interval.closeMinute > interval.openMinute, interval.closeMinute <= interval.openMinute + 1440 else {
                problems.append(
                    "\(label): closes at minute \(interval.closeMinute), must be after opening "
                        + "(\(interval.openMinute)) and at most 24 hours later"
                )
                continue
            }
            // Minutes of the week from Monday 00:00; an interval running past Sunday midnight wraps to Monday.
            let start = (interval.weekday - 1) * 1440 + interval.openMinute
            let end = start + interval.closeMinute - interval.openMinute
            let week = 7 * 1440
            if end > week {
                spans.append((start, week, index))
                spans.append((0, end - week, index))
            } else {
                spans.append((start, end, index))
            }
        }
        spans.sort { ($0.start, $0.end) < ($1.start, $1.end) }
        var reported = Set<[Int]>()
        // Sorted by start, a span overlaps exactly when it starts before the furthest end seen so far.
        var furthest: (end: Int, interval: Int)?
        for span in spans {
            if let previous = furthest, span.start < previous.end, previous.interval != span.interval {
                let pair = [previous.interval, span.interval].sorted()
                if reported.insert(pair).inserted {
                    problems.append(
                        "intervals \(pair[0] + 1) (\(RecordChecker.describe(intervals[pair[0]]))) and "
                            + "\(pair[1] + 1) (\(RecordChecker.describe(intervals[pair[1]]))) overlap"
                    )
                }
            }
            if span.end > furthest?.end ?? Int.min { furthest = (span.end, span.interval) }
        }
        return problems
    }

    static let weekdayNames = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

    /// `mon 18:00-02:00`.
    static func describe(_ interval: OpenInterval) -> String {
        func clock(_ minute: Int) -> String {
            let m = minute % 1440
            let hours = m / 60
            let minutes = m % 60
            return (hours < 10 ? "0" : "") + "\(hours):" + (minutes < 10 ? "0" : "") + "\(minutes)"
        }
        let day = (1...7).contains(interval.weekday) ? weekdayNames[interval.weekday - 1] : "day \(interval.weekday)"
        let close = interval.closeMinute == 1440 ? "24:00" : clock(interval.closeMinute)
        return "\(day) \(clock(interval.openMinute))-\(close)"
    }
}
