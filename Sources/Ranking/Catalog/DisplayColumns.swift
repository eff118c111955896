/// What a person recognises an entity by: the values of the attributes its schema marks `display` (a venue's name,
/// cuisine and rating), as text, so answers can show them beside ids and scores.
///
/// One byte buffer for every entity of a kind, not a string per value: at a million items that is the text itself
/// plus four bytes of offset per entity. An entity's values are separated by 0x1F (a value's own 0x1F becomes a
/// space); an empty value means the entity has none for that field.
public struct DisplayColumns: Sendable, Equatable {
    /// The display attributes' names, in schema order.
    public private(set) var fields: [String] = []
    private var bytes: [UInt8] = []
    /// Entity `k`'s values are `bytes[starts[k] ..< starts[k + 1]]`.
    private var starts: [UInt32] = [0]

    static let separator: UInt8 = 0x1F

    /// No display values for any entity.
    public init() {}

    /// `values[k]` holds entity `k`'s value of each field (empty for none; values beyond the fields are ignored).
    /// Past 4 GiB of text the remaining entities get no display values rather than overflowing the offsets.
    public init(fields: [String], values rows: [[String]]) {
        let columns = fields.indices.map { f in
            var bytes: [UInt8] = []
            var ends: [UInt32] = []
            ends.reserveCapacity(rows.count)
            for row in rows {
                if f < row.count, bytes.count + row[f].utf8.count <= Int(UInt32.max) {
                    bytes.append(contentsOf: row[f].utf8)
                }
                ends.append(UInt32(bytes.count))
            }
            return (bytes: bytes, ends: ends)
        }
        self.init(fields: fields, count: rows.count, values: columns)
    }

    /// Columns joined from each field's values for `count` entities: field `f`'s value for entity `k` is
    /// `values[f].bytes[values[f].ends[k - 1] ..< values[f].ends[k]]` (from 0 for the first entity). A range that is
    /// not within its bytes, or an entity past its field's ends, gives an empty value; a value's own 0x1F becomes a
    /// space. Past 4 GiB of text the entities that would not fit get no display values. One pass for the entities'
    /// offsets, then one per field.
    public init(fields: [String], count: Int, values: [(bytes: [UInt8], ends: [UInt32])]) {
        self.fields = fields
        let values = Array(values.prefix(fields.count))
        guard count > 0 else { return }
        let separators = max(fields.count - 1, 0)
        // Entity `k`'s value of a field, as a range of the field's bytes; empty when it is not within them.
        func range(_ k: Int, _ ends: UnsafeBufferPointer<UInt32>, _ byteCount: Int) -> Range<Int> {
            guard k < ends.count else { return 0..<0 }
            let lower = k == 0 ? 0 : Int(ends[k - 1])
            let upper = Int(ends[k])
            return lower < upper && upper <= byteCount ? lower..<upper : 0..<0
        }
        // The entities' lengths, the values field by field; then their offsets, leaving out what would not fit.
        var starts = [UInt32](repeating: 0, count: count + 1)
        var lengths = [Int](repeating: separators, count: count)
        for (bytes, ends) in values {
            ends.withUnsafeBufferPointer { ends in
                for k in 0..<count { lengths[k] += range(k, ends, bytes.count).count }
            }
        }
        var total = 0
        for k in 0..<count {
            if total + lengths[k] <= Int(UInt32.max) { total += lengths[k] }
            starts[k + 1] = UInt32(total)
        }
        // Where each entity's next value goes; an entity left out has no room and gets nothing.
        var cursor = Array(starts.dropLast())
        func copyField(
            _ source: UnsafeBufferPointer<UInt8>,
            _ ends: UnsafeBufferPointer<UInt32>,
            last: Bool,
            to out: UnsafeMutableBufferPointer<UInt8>,
            starts: UnsafeBufferPointer<UInt32>,
            cursor: UnsafeMutableBufferPointer<UInt32>
        ) {
            for k in 0..<count where starts[k + 1] > starts[k] {
                var at = Int(cursor[k])
                for i in range(k, ends, source.count) {
                    let byte = source[i]
                    out[at] = byte == Self.separator ? UInt8(ascii: " ") : byte
                    at += 1
                }
                if !last {
                    out[at] = Self.separator
                    at += 1
                }
                cursor[k] = UInt32(at)
            }
        }
        bytes = [UInt8](unsafeUninitializedCapacity: total) { out, initialized in
            starts.withUnsafeBufferPointer { starts in
                cursor.withUnsafeMutableBufferPointer { cursor in
                    for f in 0..<fields.count {
                        let none: (bytes: [UInt8], ends: [UInt32]) = ([], [])
                        let (bytes, ends) = f < values.count ? values[f] : none
                        bytes.withUnsafeBufferPointer { source in
                            ends.withUnsafeBufferPointer { ends in
                                let last = f == fields.count - 1
                                copyField(source, ends, last: last, to: out, starts: starts, cursor: cursor)
                            }
                        }
                    }
                }
            }
            initialized = total
        }
        self.starts = starts
    }

    /// Entities described (0 when there are no display values at all).
    public var count: Int { starts.count - 1 }

    /// Bytes held.
    public var memoryBytes: Int { bytes.count + starts.count * MemoryLayout<UInt32>.stride }

    /// The non-empty display values of entity `index`, in field order; none for an index out of range.
    public func values(of index: Int) -> [(name: String, value: String)] {
        guard index >= 0, index < count else { return [] }
        let entity = bytes[Int(starts[index])..<Int(starts[index + 1])]
        var result: [(name: String, value: String)] = []
        for (field, piece) in zip(fields, entity.split(separator: Self.separator, omittingEmptySubsequences: false))
        where !piece.isEmpty {
            result.append((field, String(decoding: piece, as: UTF8.self)))
        }
        return result
    }
}
