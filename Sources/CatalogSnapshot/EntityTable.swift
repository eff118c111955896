/// One attribute of every entity of a kind, as columns: what a loader maps into an engine's own arrays without a
/// dictionary or a string per value. Which arrays are used depends on the attribute's type:
///
/// | type | per entity | per entry (entity `k`'s are `starts[k] ..< starts[k + 1]`) |
/// |---|---|---|
/// | number, radius (metres) | `numbers` | |
/// | timestamp (Unix ms) | `integers` | |
/// | geo | `latitudes`, `longitudes` | |
/// | category | `codes` (into `names`) | |
/// | reference | `codes` (the target entity's position in its kind) | |
/// | embedding | `floats` (`dimension` values each) | |
/// | text | `text` | |
/// | tags | | `codes` (into `names`) |
/// | schedule | `codes` (time zone, into `names`) | `intervals` |
/// | history | | `codes` (target positions), `events` (into `names`), `integers` (Unix ms) |
///
/// An entity without a value has `present[k] == false`, zeros in its per-entity slots and no entries.
public struct AttributeColumn: Sendable, Equatable {
    /// The attribute.
    public let spec: AttributeSpec
    /// Whether entity `k` has a value.
    public internal(set) var present: [Bool]
    public internal(set) var numbers: [Double] = []
    public internal(set) var integers: [Int64] = []
    public internal(set) var latitudes: [Double] = []
    public internal(set) var longitudes: [Double] = []
    public internal(set) var codes: [Int32] = []
    public internal(set) var floats: [Float] = []
    public internal(set) var text = PackedStrings()
    public internal(set) var intervals: [OpenInterval] = []
    public internal(set) var events: [UInt8] = []
    /// Entry ranges of the types with several entries per entity; `count + 1` offsets.
    public internal(set) var starts: [Int32] = []
    /// Vocabulary of categories, tags, time zones or history events, in order of first appearance (events: in the
    /// schema's order when it lists them).
    public internal(set) var names = StringTable()

    /// Embedding size (0 for other types).
    public var dimension: Int { spec.type == .embedding ? spec.dimension ?? 0 : 0 }

    /// Whether the type keeps several entries per entity, ranged by `starts`.
    var hasEntries: Bool { spec.type == .tags || spec.type == .schedule || spec.type == .history }

    /// Whether `close(_:)` has anything to do: entries to range, or a text slot to fill.
    var needsClosing: Bool { hasEntries || spec.type == .text }

    /// Entity `k`'s entries (tags, schedule intervals, history entries).
    public func entries(_ k: Int) -> Range<Int> { Int(starts[k])..<Int(starts[k + 1]) }

    /// Room for `count` entities of `spec`'s type.
    init(spec: AttributeSpec, count: Int) {
        self.spec = spec
        present = [Bool](repeating: false, count: count)
        switch spec.type {
        case .number, .radius: numbers = [Double](repeating: 0, count: count)
        case .timestamp: integers = [Int64](repeating: 0, count: count)
        case .geo:
            latitudes = [Double](repeating: 0, count: count)
            longitudes = [Double](repeating: 0, count: count)
        case .category, .reference: codes = [Int32](repeating: -1, count: count)
        case .embedding: floats = [Float](repeating: 0, count: count * (spec.dimension ?? 0))
        case .text: text.reserve(strings: count, bytes: count * 8)
        case .schedule: codes = [Int32](repeating: -1, count: count)
        case .tags, .history: break
        }
        if hasEntries {
            starts.reserveCapacity(count + 1)
            starts.append(0)
        }
        if spec.type == .history, let events = spec.events {
            for event in events { names.insert(event) }
        }
        if let values = spec.values {
            // Declared values take the codes of their order, whichever appears first in the file.
            for value in values { names.insert(value) }
        }
    }

    /// Bytes held.
    public var memoryBytes: Int {
        present.count + numbers.count * 8 + integers.count * 8 + latitudes.count * 8 + longitudes.count * 8
            + codes.count * 4 + floats.count * 4 + text.memoryBytes + intervals.count
            * MemoryLayout<OpenInterval>.stride
            + events.count + starts.count * 4 + names.memoryBytes
    }

    /// Forgets whatever entity `k` was given, so it can be written again. Only the last entity written (`k` is the
    /// number of entities the entry columns hold, minus one) can be cleared.
    mutating func clear(_ k: Int) {
        present[k] = false
        switch spec.type {
        case .number, .radius: numbers[k] = 0
        case .timestamp: integers[k] = 0
        case .geo:
            latitudes[k] = 0
            longitudes[k] = 0
        case .category, .reference, .schedule: codes[k] = -1
        case .embedding:
            let d = dimension
            for i in (k * d)..<((k + 1) * d) { floats[i] = 0 }
        case .text: text.truncate(to: k)
        case .tags, .history: break
        }
        if hasEntries {
            let keep = Int(starts[k])
            if starts.count > k + 1 { starts.removeLast(starts.count - (k + 1)) }
            if spec.type != .schedule && codes.count > keep { codes.removeLast(codes.count - keep) }
            if intervals.count > keep { intervals.removeLast(intervals.count - keep) }
            if events.count > keep { events.removeLast(events.count - keep) }
            if integers.count > keep { integers.removeLast(integers.count - keep) }
        }
    }

    /// Closes entity `k`'s entries (and its text slot when it has none): every entity gets exactly one.
    mutating func close(_ k: Int) {
        if hasEntries {
            let end: Int
            switch spec.type {
            case .schedule: end = intervals.count
            default: end = codes.count
            }
            if starts.count == k + 1 { starts.append(Int32(end)) }
        }
        if spec.type == .text && text.count == k { text.appendEmpty() }
    }
}

/// Every entity of one kind, in file order, as columns: their ids and one `AttributeColumn` per attribute the schema
/// declares, in schema order.
public struct EntityTable: Sendable, Equatable {
    /// The kind, as the snapshot's schema declares it.
    public let kind: EntityKindSpec
    /// Entity `k`'s id is `ids[k]`.
    public internal(set) var ids: StringTable
    /// One per attribute, in schema order.
    public internal(set) var columns: [AttributeColumn]

    /// Number of entities.
    public var count: Int { ids.count }

    /// The column of attribute `name`, or nil when the schema declares no such attribute.
    public func column(_ name: String) -> AttributeColumn? { columns.first { $0.spec.name == name } }

    /// Bytes held.
    public var memoryBytes: Int { ids.memoryBytes + columns.reduce(0) { $0 + $1.memoryBytes } }

    init(kind: EntityKindSpec, ids: StringTable, count: Int) {
        self.kind = kind
        self.ids = ids
        columns = kind.attributes.map { AttributeColumn(spec: $0, count: count) }
    }
}

extension EntityTable {
    /// Appends the text a person reads for entity `k`'s value of attribute `a` (as `AttributeValue.displayText`
    /// gives it) to `out`; nothing when the entity has no value or the type has no short text form. A reference is
    /// shown as the target's id, looked up in `targetIDs`.
    public func appendDisplayText(of k: Int, attribute a: Int, targetIDs: StringTable?, to out: inout [UInt8]) {
        // Read through `columns[a]` each time: binding the column to a constant would copy it, a dozen arrays'
        // reference counts per entity and field.
        guard columns[a].present[k] else { return }
        func append(_ text: String) { out.append(contentsOf: text.utf8) }
        func append(_ strings: PackedStrings, _ entry: Int) {
            out.append(contentsOf: strings.bytes[strings.range(entry)])
        }
        switch columns[a].spec.type {
        case .text: append(columns[a].text, k)
        case .category: append(columns[a].names.strings, Int(columns[a].codes[k]))
        case .reference:
            if let targetIDs { append(targetIDs.strings, Int(columns[a].codes[k])) }
        case .number: AttributeValue.appendShortNumber(columns[a].numbers[k], to: &out)
        case .radius:
            AttributeValue.appendShortNumber(columns[a].numbers[k] / 1000, to: &out)
            append(" km")
        case .timestamp: append(Timestamps.formatISO8601(columns[a].integers[k]))
        case .geo:
            AttributeValue.appendShortNumber(columns[a].latitudes[k], to: &out)
            append(",")
            AttributeValue.appendShortNumber(columns[a].longitudes[k], to: &out)
        case .tags:
            for (n, entry) in columns[a].entries(k).enumerated() {
                if n > 0 { append(", ") }
                append(columns[a].names.strings, Int(columns[a].codes[entry]))
            }
        case .schedule, .embedding, .history: break
        }
    }

    /// The display text of attribute `a` for every entity: string `n` is entity `order[n]`'s (entity `n`'s when
    /// `order` is nil; it must hold `count` positions), as ``appendDisplayText(of:attribute:targetIDs:to:)`` gives
    /// it. Text, categories and references are gathered from their packed strings a column at a time.
    public func displayTexts(attribute a: Int, order: [Int]?, targetIDs: StringTable?) -> PackedStrings {
        let column = columns[a]
        func gather(_ source: PackedStrings, _ index: (Int) -> Int) -> PackedStrings {
            column.present.withUnsafeBufferPointer { present in
                PackedStrings(gathering: count, from: source) { n in
                    let k = order?[n] ?? n
                    return present[k] ? index(k) : -1
                }
            }
        }
        switch column.spec.type {
        case .text: return gather(column.text) { $0 }
        case .category: return gather(column.names.strings) { Int(column.codes[$0]) }
        case .reference: return gather(targetIDs?.strings ?? PackedStrings()) { Int(column.codes[$0]) }
        default:
            var bytes: [UInt8] = []
            var ends: [UInt32] = []
            ends.reserveCapacity(count)
            for n in 0..<count {
                let start = bytes.count
                appendDisplayText(of: order?[n] ?? n, attribute: a, targetIDs: targetIDs, to: &bytes)
                if bytes.count > PackedStrings.maximumBytes { bytes.removeLast(bytes.count - start) }
                ends.append(UInt32(bytes.count))
            }
            return PackedStrings(bytes: bytes, ends: ends)
        }
    }
}
