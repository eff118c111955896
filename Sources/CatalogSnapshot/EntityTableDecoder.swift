/// Fills an `EntityTable` from the records of one kind's snapshot file while checking them.
///
/// Each record is first read straight from the protobuf wire format into the columns, checked as it goes, with no
/// dictionary, string or message per record. Anything that path does not take on (a problem of any kind, and also
/// encodings that are valid but unusual: unknown fields, a field given twice, text that is not plain ASCII or UTF-8
/// without NUL, unpacked embedding values) sends the record down the general path instead: a full decode through
/// protobuf-c and `RecordChecker`, which reports every problem exactly as for any other input and, when it finds
/// none, writes the decoded record into the same columns. So the quick path decides nothing on its own: it only
/// accepts records the general path would accept, with the values it would write (the tests and the
/// `snapshot-records` fuzz target compare the two).
struct EntityTableDecoder {
    private(set) var table: EntityTable
    private var checker: RecordChecker
    private let attributeNames: [[UInt8]]
    /// Per attribute: the ids of its target kind (references and histories), and whether that kind is missing.
    private let targets: [StringTable?]
    private let targetUnavailable: [Bool]
    /// Per attribute: whether each name of its vocabulary is a known time zone (schedules only).
    private var zoneKnown: [[Bool]]
    /// An empty column left in the table while a history column is taken out to be appended to (swapped, not
    /// copied: a copy would cost every array's reference count per record).
    private var spare: AttributeColumn
    /// Attribute indexes in the order of their names, the order the snapshot writer lists a record's attributes in;
    /// and where in it to start looking for the next attribute's name (after the last one matched).
    private let byName: [Int]
    private var nextByName = 0
    /// Per attribute, what the quick path reads of its spec (copying an `AttributeSpec` per record costs its strings'
    /// reference counting).
    private let types: [AttributeType]
    private let required: [Bool]
    private let dimensions: [Int]
    /// Per attribute, whether the schema lists its values (category, tags) or events (history).
    private let restricted: [Bool]
    /// The attributes whose columns `AttributeColumn.close` has something to do for (entries or text).
    private let closing: [Int]
    /// Records taken by the general path, for the load log and the tests.
    private(set) var generalPathRecords = 0
    /// False sends every record down the general path (tests compare the two).
    var quickPath = true

    init(kind: EntityKindSpec, file: String, ids: IDIndex, count: Int) {
        table = EntityTable(
            kind: kind,
            ids: ids.kinds[kind.name]?.table ?? StringTable(),
            count: count
        )
        checker = RecordChecker(kind: kind, file: file)
        attributeNames = kind.attributes.map { Array($0.name.utf8) }
        targets = kind.attributes.map { spec in
            guard spec.type == .reference || spec.type == .history, let target = spec.target else { return nil }
            return ids.kinds[target]?.table ?? StringTable()
        }
        targetUnavailable = kind.attributes.map { spec in
            (spec.type == .reference || spec.type == .history) && ids.unavailable.contains(spec.target ?? "")
        }
        zoneKnown = kind.attributes.map { _ in [] }
        byName = kind.attributes.indices.sorted { kind.attributes[$0].name < kind.attributes[$1].name }
        spare = AttributeColumn(spec: kind.attributes.first ?? AttributeSpec(name: "", type: .number), count: 0)
        types = kind.attributes.map(\.type)
        required = kind.attributes.map(\.required)
        dimensions = kind.attributes.map { $0.dimension ?? 0 }
        restricted = kind.attributes.map { $0.events != nil || $0.values != nil }
        let columns = table.columns
        closing = columns.indices.filter { columns[$0].needsClosing }
    }

    /// Reads record `k` (0-based, file order) from `bytes` into the table, reporting its problems to `log`.
    mutating func decode(_ bytes: UnsafeRawBufferPointer, at k: Int, ids: IDIndex, log: inout ProblemLog) {
        guard k < table.columns.first.map({ $0.present.count }) ?? Int.max else {
            // More records than the first pass counted: the file changed between the passes.
            log.report(
                .malformedRecord,
                file: checker.file,
                record: k + 1,
                message: "the file changed while it was being read; records past \(k) were not checked"
            )
            return
        }
        if quickPath && quick(bytes, at: k) { return }
        for c in table.columns.indices { table.columns[c].clear(k) }
        generalPathRecords += 1
        guard let (record, issues) = EntityCodec.decode(Array(bytes)) else {
            log.report(
                .malformedRecord,
                file: checker.file,
                record: k + 1,
                message: "\(bytes.count) bytes that are not a ranking.catalog.v1.Entity"
            )
            closeAll(k)
            return
        }
        let before = log.total
        checker.check(record, number: k + 1, line: nil, issues: issues, ids: ids, log: &log)
        if log.total == before, let (field, message) = write(record, at: k) {
            log.report(.invalidValue, file: checker.file, record: k + 1, field: field, message: message)
        }
        closeAll(k)
    }

    private mutating func closeAll(_ k: Int) {
        for c in closing { table.columns[c].close(k) }
    }

    // MARK: The quick path

    /// True when record `k` was read and found clean; false leaves partly written columns for the caller to clear.
    private mutating func quick(_ bytes: UnsafeRawBufferPointer, at k: Int) -> Bool {
        // Per attribute, where this record's value is: scratch on the stack, so noting it costs no array's
        // uniqueness check.
        withUnsafeTemporaryAllocation(of: ValueAt.self, capacity: types.count) { values in
            values.initialize(repeating: ValueAt())
            return quick(bytes, at: k, values: values)
        }
    }

    /// Where a record's value of one attribute is: the `Value` field that carries it (0: none) and its bytes.
    private struct ValueAt {
        var field = 0
        var start = 0
        var end = 0
    }

    private mutating func quick(
        _ bytes: UnsafeRawBufferPointer,
        at k: Int,
        values: UnsafeMutableBufferPointer<ValueAt>
    ) -> Bool {
        nextByName = 0
        var wire = WireCursor(bytes)
        var id: Range<Int>?
        while !wire.atEnd {
            guard let key = wire.varint() else { return false }
            switch key {
            case 0x0A:  // 1: id
                guard id == nil, let range = wire.lengthDelimited() else { return false }
                id = range
            case 0x12:  // 2: attributes entry
                guard let entry = wire.lengthDelimited(), attribute(in: entry, of: bytes, into: values) else {
                    return false
                }
            default:
                return false
            }
        }
        guard let id, WireCursor.isPlainID(bytes, id) else { return false }
        for a in types.indices {
            if values[a].field == 0 {
                if required[a] { return false }
                continue
            }
            guard value(a, values[a], bytes, at: k) else { return false }
            table.columns[a].present[k] = true
        }
        closeAll(k)
        return true
    }

    /// Notes where the entry's value is; false for anything unusual.
    private mutating func attribute(
        in entry: Range<Int>,
        of bytes: UnsafeRawBufferPointer,
        into values: UnsafeMutableBufferPointer<ValueAt>
    ) -> Bool {
        var wire = WireCursor(bytes, entry)
        guard wire.varint() == 0x0A, let name = wire.lengthDelimited(), wire.varint() == 0x12,
            let value = wire.lengthDelimited(), wire.atEnd
        else { return false }
        func isNamed(_ candidate: [UInt8]) -> Bool {
            candidate.count == name.count
                && (name.isEmpty
                    || candidate.withUnsafeBytes {
                        Self.equal($0.baseAddress!, bytes.baseAddress! + name.lowerBound, name.count)
                    })
        }
        // Every attribute once, from the one after the last match on: usually the first one tried.
        var found: Int?
        var p = nextByName
        for _ in 0..<byName.count {
            if isNamed(attributeNames[byName[p]]) {
                found = byName[p]
                nextByName = p + 1 == byName.count ? 0 : p + 1
                break
            }
            p = p + 1 == byName.count ? 0 : p + 1
        }
        guard let a = found, values[a].field == 0 else { return false }
        // The Value: exactly one field of its oneof.
        var inner = WireCursor(bytes, value)
        guard let key = inner.varint(), key >> 3 >= 1, key >> 3 <= 11 else { return false }
        let field = Int(key >> 3)
        let start = inner.index
        switch (field, key & 7) {
        case (1, 1), (5, 1):
            guard inner.skip(8) else { return false }
        case (7, 0):
            guard inner.varint() != nil else { return false }
        case (2, 2), (3, 2), (4, 2), (6, 2), (8, 2), (9, 2), (10, 2), (11, 2):
            guard let payload = inner.lengthDelimited() else { return false }
            values[a] = ValueAt(field: field, start: payload.lowerBound, end: payload.upperBound)
            return inner.atEnd
        default:
            return false
        }
        guard inner.atEnd else { return false }
        values[a] = ValueAt(field: field, start: start, end: inner.index)
        return true
    }

    /// Checks and writes attribute `a`'s value of record `k`, found at `place`; false when the general path must judge
    /// it.
    private mutating func value(_ a: Int, _ place: ValueAt, _ bytes: UnsafeRawBufferPointer, at k: Int) -> Bool {
        let field = place.field
        let range = place.start..<place.end
        let type = types[a]
        guard field == Self.field(of: type) else { return false }
        switch type {
        case .number:
            let x = WireCursor.double(bytes, at: range.lowerBound)
            guard x.isFinite else { return false }
            table.columns[a].numbers[k] = x
        case .radius:
            let x = WireCursor.double(bytes, at: range.lowerBound)
            guard x.isFinite, x > 0 else { return false }
            table.columns[a].numbers[k] = x
        case .timestamp:
            var wire = WireCursor(bytes, range)
            guard let raw = wire.varint() else { return false }
            table.columns[a].integers[k] = Int64(bitPattern: raw)
        case .category:
            guard !range.isEmpty, WireCursor.isPlainText(bytes, range),
                let code = vocabularyCode(a, UnsafeRawBufferPointer(rebasing: bytes[range]))
            else { return false }
            table.columns[a].codes[k] = Int32(code)
        case .text:
            guard WireCursor.isPlainText(bytes, range),
                table.columns[a].text.bytes.count + range.count <= PackedStrings.maximumBytes
            else { return false }
            table.columns[a].text.append(UnsafeRawBufferPointer(rebasing: bytes[range]))
        case .reference:
            guard !range.isEmpty, !targetUnavailable[a],
                let position = targets[a]?.find(UnsafeRawBufferPointer(rebasing: bytes[range]))
            else { return false }
            table.columns[a].codes[k] = Int32(position)
        case .geo:
            var wire = WireCursor(bytes, range)
            var lat = 0.0
            var lon = 0.0
            var seen = 0
            while !wire.atEnd {
                guard let key = wire.varint(), key == 0x09 || key == 0x11, seen & Int(key >> 3) == 0,
                    wire.index + 8 <= range.upperBound
                else { return false }
                seen |= Int(key >> 3)
                if key == 0x09 {
                    lat = WireCursor.double(bytes, at: wire.index)
                } else {
                    lon = WireCursor.double(bytes, at: wire.index)
                }
                _ = wire.skip(8)
            }
            guard lat.isFinite, (-90...90).contains(lat), lon.isFinite, (-180...180).contains(lon) else {
                return false
            }
            table.columns[a].latitudes[k] = lat
            table.columns[a].longitudes[k] = lon
        case .embedding:
            var wire = WireCursor(bytes, range)
            let d = dimensions[a]
            guard wire.varint() == 0x0A, let packed = wire.lengthDelimited(), wire.atEnd, packed.count == 4 * d
            else { return false }
            for i in 0..<d {
                let x = Float(
                    bitPattern: bytes.loadUnaligned(fromByteOffset: packed.lowerBound + 4 * i, as: UInt32.self)
                )
                guard x.isFinite else { return false }
            }
            // The packed floats are little-endian IEEE 754, as the column holds them on the little-endian machines
            // rankd runs on: one copy, not a write per value.
            if d > 0 {
                table.columns[a].floats.withUnsafeMutableBytes { floats in
                    floats.baseAddress!.advanced(by: 4 * k * d).copyMemory(
                        from: bytes.baseAddress! + packed.lowerBound,
                        byteCount: 4 * d
                    )
                }
            }
        case .tags:
            var wire = WireCursor(bytes, range)
            while !wire.atEnd {
                guard wire.varint() == 0x0A, let tag = wire.lengthDelimited(), !tag.isEmpty,
                    WireCursor.isPlainText(bytes, tag),
                    let code = vocabularyCode(a, UnsafeRawBufferPointer(rebasing: bytes[tag]))
                else { return false }
                table.columns[a].codes.append(Int32(code))
            }
        case .schedule:
            return schedule(a, bytes, range, at: k)
        case .history:
            return history(a, bytes, range, at: k)
        }
        return true
    }

    private mutating func schedule(_ a: Int, _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, at k: Int) -> Bool {
        var wire = WireCursor(bytes, range)
        var zone: Range<Int>?
        var intervals: [OpenInterval] = []
        while !wire.atEnd {
            guard let key = wire.varint() else { return false }
            if key == 0x0A {
                guard zone == nil, let z = wire.lengthDelimited(), WireCursor.isPlainText(bytes, z) else {
                    return false
                }
                zone = z
            } else if key == 0x12 {
                guard let body = wire.lengthDelimited() else { return false }
                var inner = WireCursor(bytes, body)
                var values: [UInt64] = [0, 0, 0]
                var seen = 0
                while !inner.atEnd {
                    guard let key = inner.varint(), key == 0x08 || key == 0x10 || key == 0x18,
                        seen & (1 << Int(key >> 3)) == 0, let v = inner.varint(), v < 1 << 31
                    else { return false }
                    seen |= 1 << Int(key >> 3)
                    values[Int(key >> 3) - 1] = v
                }
                intervals.append(
                    OpenInterval(weekday: Int(values[0]), openMinute: Int(values[1]), closeMinute: Int(values[2]))
                )
            } else {
                return false
            }
        }
        let zoneBytes =
            zone.map { UnsafeRawBufferPointer(rebasing: bytes[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        guard let (code, added) = table.columns[a].names.insert(zoneBytes) else { return false }
        if added {
            zoneKnown[a].append(checker.zones.isKnown(table.columns[a].names[code]))
        }
        guard zoneKnown[a][code] else { return false }
        // Minutes and overlaps: the checker's own rules, on the schedule with the zone already known to be good.
        guard checker.intervalProblems(intervals).isEmpty else { return false }
        table.columns[a].codes[k] = Int32(code)
        table.columns[a].intervals.append(contentsOf: intervals)
        return true
    }

    /// The code of a category or tag value of attribute `a`: looked up when the schema declares the values (one it
    /// does not list goes to the general path, which reports it), added to the vocabulary otherwise.
    @inline(__always)
    private mutating func vocabularyCode(_ a: Int, _ value: UnsafeRawBufferPointer) -> Int? {
        if restricted[a] { return table.columns[a].names.find(value) }
        return table.columns[a].names.insert(value)?.0
    }

    private mutating func history(_ a: Int, _ bytes: UnsafeRawBufferPointer, _ range: Range<Int>, at k: Int) -> Bool {
        guard !targetUnavailable[a], let target = targets[a] else { return false }
        // The column is taken out of the table (into `spare`) while its entries are appended, so each append is in
        // place.
        swap(&spare, &table.columns[a])
        defer { swap(&spare, &table.columns[a]) }
        let restricted = self.restricted[a]
        // Histories repeat a handful of events: the last one's bytes and code save a lookup per entry.
        var lastEvent = 0..<0
        var lastCode = 0
        // Each entry takes at least 8 bytes (its key and length, an entity and an event of a byte each, with their
        // keys and lengths). The record's entries are gathered in scratch and appended in one go per column: an
        // append per entry would check each array's uniqueness every time.
        let bound = range.count / 8 + 1
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: bound) { positions in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bound) { codes in
                withUnsafeTemporaryAllocation(of: Int64.self, capacity: bound) { times in
                    var n = 0
                    var wire = WireCursor(bytes, range)
                    while !wire.atEnd {
                        guard n < bound, wire.varint() == 0x0A, let body = wire.lengthDelimited() else { return false }
                        var inner = WireCursor(bytes, body)
                        var entity: Range<Int>?
                        var event: Range<Int>?
                        var time: UInt64 = 0
                        var seenTime = false
                        while !inner.atEnd {
                            guard let key = inner.varint() else { return false }
                            switch key {
                            case 0x0A:
                                guard entity == nil, let r = inner.lengthDelimited() else { return false }
                                entity = r
                            case 0x12:
                                guard event == nil, let r = inner.lengthDelimited() else { return false }
                                event = r
                            case 0x18:
                                guard !seenTime, let v = inner.varint() else { return false }
                                time = v
                                seenTime = true
                            default:
                                return false
                            }
                        }
                        guard let entity, !entity.isEmpty, let event, !event.isEmpty,
                            let position = target.find(UnsafeRawBufferPointer(rebasing: bytes[entity]))
                        else { return false }
                        let code: Int
                        if lastEvent.count == event.count && !lastEvent.isEmpty
                            && Self.equal(bytes, lastEvent.lowerBound, event.lowerBound, event.count)
                        {
                            code = lastCode
                        } else {
                            let eventBytes = UnsafeRawBufferPointer(rebasing: bytes[event])
                            if restricted {
                                guard let known = spare.names.find(eventBytes) else { return false }
                                code = known
                            } else {
                                guard WireCursor.isPlainText(bytes, event), spare.names.count < Self.maximumEvents,
                                    let (added, _) = spare.names.insert(eventBytes)
                                else { return false }
                                code = added
                            }
                            lastEvent = event
                            lastCode = code
                        }
                        positions[n] = Int32(position)
                        codes[n] = UInt8(code)
                        times[n] = Int64(bitPattern: time)
                        n += 1
                    }
                    if spare.codes.count + n > spare.codes.capacity {
                        Self.reserveEntries(&spare, recordsRead: k, adding: n)
                    }
                    spare.codes.append(contentsOf: UnsafeBufferPointer(rebasing: positions[..<n]))
                    spare.events.append(contentsOf: UnsafeBufferPointer(rebasing: codes[..<n]))
                    spare.integers.append(contentsOf: UnsafeBufferPointer(rebasing: times[..<n]))
                    return true
                }
            }
        }
    }

    /// Whether the `count` bytes at `a` and at `b` are the same; inline, for the short names and events compared
    /// per value.
    @inline(__always)
    static func equal(_ bytes: UnsafeRawBufferPointer, _ a: Int, _ b: Int, _ count: Int) -> Bool {
        equal(bytes.baseAddress! + a, bytes.baseAddress! + b, count)
    }

    @inline(__always)
    static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
        var i = 0
        while i + 8 <= count {
            if a.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                != b.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            {
                return false
            }
            i += 8
        }
        while i < count {
            if a.load(fromByteOffset: i, as: UInt8.self) != b.load(fromByteOffset: i, as: UInt8.self) { return false }
            i += 1
        }
        return true
    }

    /// Makes room in a history column for the entries the whole file is likely to hold, judged from the first
    /// `recordsRead` records, with a margin. Histories are most of a snapshot's values: growing their arrays by
    /// doubling would copy every entry read so far, into fresh pages, at each step. Room reserved and never used
    /// costs address space only, and the tables are dropped once the engine's columns are built.
    static func reserveEntries(_ column: inout AttributeColumn, recordsRead: Int, adding: Int = 0) {
        let held = column.codes.count
        var wanted = max(2 * held, 1024, held + adding)
        if recordsRead >= 256 {
            let perRecord = Double(held) / Double(recordsRead)
            let estimate = Int(perRecord * Double(column.present.count) * 1.1)
            wanted = max(held + held / 2, estimate, held + adding)
        }
        column.codes.reserveCapacity(wanted)
        column.events.reserveCapacity(wanted)
        column.integers.reserveCapacity(wanted)
    }

    /// The `Value` oneof field that carries each type.
    static func field(of type: AttributeType) -> Int {
        switch type {
        case .number: 1
        case .category: 2
        case .tags: 3
        case .geo: 4
        case .radius: 5
        case .schedule: 6
        case .timestamp: 7
        case .embedding: 8
        case .reference: 9
        case .history: 10
        case .text: 11
        }
    }

    // MARK: The general path

    /// Writes a record the checker found clean; returns the field and why when a value is past what the columns
    /// hold: a history attribute with more than `maximumEvents` distinct events.
    private mutating func write(_ record: EntityRecord, at k: Int) -> (field: String, message: String)? {
        var refused: (field: String, message: String)?
        for (a, spec) in table.kind.attributes.enumerated() {
            guard let value = record.attributes[spec.name] else { continue }
            var column = table.columns[a]
            table.columns[a] = AttributeColumn(spec: spec, count: 0)  // released so the write below does not copy
            column.present[k] = true
            switch value {
            case .number(let x), .radius(let x):
                column.numbers[k] = x
            case .timestamp(let ms):
                column.integers[k] = ms
            case .category(let name):
                if let (code, _) = column.names.insert(name) { column.codes[k] = Int32(code) }
            case .text(let text):
                column.text.append(text)
            case .reference(let id):
                column.codes[k] = Int32(targets[a]?.find(id) ?? -1)
            case .geo(let point):
                column.latitudes[k] = point.lat
                column.longitudes[k] = point.lon
            case .embedding(let values):
                let d = column.dimension
                for i in 0..<min(d, values.count) { column.floats[k * d + i] = values[i] }
            case .tags(let tags):
                for tag in tags {
                    if let (code, _) = column.names.insert(tag) { column.codes.append(Int32(code)) }
                }
            case .schedule(let schedule):
                if let (code, added) = column.names.insert(schedule.timeZone) {
                    if added { zoneKnown[a].append(checker.zones.isKnown(schedule.timeZone)) }
                    column.codes[k] = Int32(code)
                }
                column.intervals.append(contentsOf: schedule.intervals)
            case .history(let interactions):
                for interaction in interactions {
                    guard let position = targets[a]?.find(interaction.entityID) else { continue }
                    guard let (code, _) = column.names.insert(interaction.event), code < Self.maximumEvents else {
                        refused = (
                            spec.name,
                            "more than \(Self.maximumEvents) distinct events in this attribute's histories"
                        )
                        break
                    }
                    column.codes.append(Int32(position))
                    column.events.append(UInt8(code))
                    column.integers.append(interaction.unixMilliseconds)
                }
            }
            table.columns[a] = column
        }
        return refused
    }

    /// Most distinct events one history attribute may use across a snapshot (each entry keeps a one-byte code).
    static let maximumEvents = 256
}

/// A read position in protobuf wire-format bytes.
struct WireCursor {
    let bytes: UnsafeRawBufferPointer
    private(set) var index: Int
    let end: Int

    init(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>? = nil) {
        self.bytes = bytes
        index = range?.lowerBound ?? 0
        end = range?.upperBound ?? bytes.count
    }

    var atEnd: Bool { index >= end }

    /// A base-128 varint of at most 10 bytes, or nil when the bytes end first or it runs longer.
    @inline(__always)
    mutating func varint() -> UInt64? {
        // Keys and short lengths, most of what a record holds, take one byte.
        if index < end {
            let byte = bytes[index]
            if byte < 0x80 {
                index += 1
                return UInt64(byte)
            }
        }
        return longVarint()
    }

    /// `varint()` past its one-byte case.
    mutating func longVarint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while index < end, shift < 70 {
            let byte = bytes[index]
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return shift == 63 && byte > 1 ? nil : value }
            shift += 7
        }
        return nil
    }

    /// A length-delimited field's payload.
    @inline(__always)
    mutating func lengthDelimited() -> Range<Int>? {
        guard let length = varint(), length <= UInt64(end - index) else { return nil }
        let start = index
        index += Int(length)
        return start..<index
    }

    /// Skips `count` bytes; false when fewer are left.
    @inline(__always)
    mutating func skip(_ count: Int) -> Bool {
        guard end - index >= count else { return false }
        index += count
        return true
    }

    @inline(__always)
    static func double(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Double {
        Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
    }

    /// Text the quick path keeps as it is: no NUL (protobuf-c's strings would end there) and valid UTF-8.
    static func isPlainText(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        var ascii = true
        for i in range {
            let byte = bytes[i]
            if byte == 0 { return false }
            if byte >= 0x80 { ascii = false }
        }
        return ascii || String(validating: UnsafeRawBufferPointer(rebasing: bytes[range]), as: UTF8.self) != nil
    }

    /// An id the quick path accepts without `RecordChecker.idProblem`: printable ASCII, not starting or ending with a
    /// space, at most `RecordChecker.maximumIDBytes`.
    static func isPlainID(_ bytes: UnsafeRawBufferPointer, _ range: Range<Int>) -> Bool {
        guard !range.isEmpty, range.count <= RecordChecker.maximumIDBytes, bytes[range.lowerBound] != 0x20,
            bytes[range.upperBound - 1] != 0x20
        else { return false }
        for i in range where bytes[i] < 0x20 || bytes[i] >= 0x7F { return false }
        return true
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
