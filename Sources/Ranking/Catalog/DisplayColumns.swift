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

    /// `values[k]` holds entity `k`'s value of each field (empty for none). Past 4 GiB of text the remaining
    /// entities get no display values rather than overflowing the offsets.
    public init(fields: [String], values: [[String]]) {
        self.fields = fields
        starts.reserveCapacity(values.count + 1)
        for row in values {
            var entity: [UInt8] = []
            for (index, value) in row.prefix(fields.count).enumerated() {
                if index > 0 { entity.append(Self.separator) }
                entity.append(contentsOf: value.utf8.map { $0 == Self.separator ? UInt8(ascii: " ") : $0 })
            }
            if bytes.count + entity.count <= Int(UInt32.max) { bytes.append(contentsOf: entity) }
            starts.append(UInt32(bytes.count))
        }
    }

    /// Columns filled entity by entity with `append(_:)`.
    public init(fields: [String]) {
        self.fields = fields
    }

    /// Makes room for `entities` more entities and `bytes` more bytes of text, so filling a kind's columns does not
    /// copy them as they grow.
    public mutating func reserveCapacity(entities: Int, bytes: Int) {
        starts.reserveCapacity(starts.count + entities)
        self.bytes.reserveCapacity(self.bytes.count + min(bytes, Int(UInt32.max)))
    }

    /// Appends the next entity, its field values already joined by 0x1F (`separator`); a value's own 0x1F must
    /// have become a space. Past 4 GiB of text the entity gets no display values rather than overflowing the offsets.
    public mutating func append(joined entity: ArraySlice<UInt8>) {
        if bytes.count + entity.count <= Int(UInt32.max) { bytes.append(contentsOf: entity) }
        starts.append(UInt32(bytes.count))
    }

    /// The byte separating an entity's values.
    public static var fieldSeparator: UInt8 { separator }

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
