/// The ids of one kind of entity (venues, items or users) and their positions in the catalog's columns.
///
/// Numbered data names its entities `v1`, `v2`..., so the id is the position and nothing is stored. A team's
/// export names them as its warehouse does (`venue-7f3a`, a UUID): those ids are kept in position order, with a
/// table from id to position.
public struct EntityIDs: Sendable, Equatable {
    private enum Storage: Sendable, Equatable {
        /// Position `k` is `<prefix><k + 1>`.
        case positional(prefix: UInt8)
        case explicit(ids: [String], positions: [String: Int32])
    }

    private let storage: Storage
    /// Number of entities.
    public let count: Int

    /// `count` numbered ids with a one-letter prefix: `v1` ... `v<count>`.
    public static func positional(prefix: Character, count: Int) -> EntityIDs {
        EntityIDs(storage: .positional(prefix: prefix.asciiValue ?? UInt8(ascii: "?")), count: count)
    }

    /// The given ids, position `k` having `ids[k]`; nil when an id repeats.
    public static func explicit(_ ids: [String]) -> EntityIDs? {
        var positions: [String: Int32] = [:]
        positions.reserveCapacity(ids.count)
        for (position, id) in ids.enumerated() {
            guard positions.updateValue(Int32(position), forKey: id) == nil else { return nil }
        }
        return EntityIDs(storage: .explicit(ids: ids, positions: positions), count: ids.count)
    }

    private init(storage: Storage, count: Int) {
        self.storage = storage
        self.count = count
    }

    /// True for numbered ids (nothing stored).
    public var isPositional: Bool {
        if case .positional = storage { return true }
        return false
    }

    /// The id at `position` (which must be below `count`).
    public func id(_ position: Int) -> String {
        switch storage {
        case .positional(let prefix): return Self.numbered(prefix: prefix, position + 1)
        case .explicit(let ids, _): return ids[position]
        }
    }

    /// `<prefix><n>`, for n >= 1 its digits written right to left into the string's own storage (one string, at most
    /// 20 bytes: inline up to 15, as any catalog's numbered ids are).
    static func numbered(prefix: UInt8, _ n: Int) -> String {
        guard n > 0 else { return String(UnicodeScalar(prefix)) + String(n) }
        var digits = 1
        var rest = n / 10
        while rest > 0 {
            digits += 1
            rest /= 10
        }
        return String(unsafeUninitializedCapacity: digits + 1) { bytes in
            bytes[0] = prefix
            var value = n
            for k in stride(from: digits, through: 1, by: -1) {
                bytes[k] = UInt8(truncatingIfNeeded: 48 + value % 10)
                value /= 10
            }
            return digits + 1
        }
    }

    /// The position of `id`, or nil when the catalog has no such entity.
    public func position(_ id: String) -> Int? {
        switch storage {
        case .positional(let prefix): return Self.parse(id, prefix: prefix, count: count)
        case .explicit(_, let positions): return positions[id].map(Int.init)
        }
    }

    /// Whether `id` has the form of this kind's ids even though no entity has it yet (an entity newer than the
    /// snapshot): any numbered id with the prefix, or for explicit ids, any non-empty one.
    public func couldName(_ id: String) -> Bool {
        switch storage {
        case .positional(let prefix): return Self.parse(id, prefix: prefix, count: Int.max / 2) != nil
        case .explicit: return !id.isEmpty
        }
    }

    /// Bytes held by stored ids (none for numbered ones): the strings' inline parts and the table.
    public var memoryBytes: Int {
        switch storage {
        case .positional: return 0
        case .explicit(let ids, let positions):
            return ids.reduce(ids.count * MemoryLayout<String>.stride) { $0 + ($1.utf8.count > 15 ? $1.utf8.count : 0) }
                + positions.capacity * (MemoryLayout<String>.stride + MemoryLayout<Int32>.stride + 1)
        }
    }

    /// Position of `<prefix><n>` when 1 <= n <= count, without leading zeros.
    static func parse(_ id: String, prefix: UInt8, count: Int) -> Int? {
        var utf8 = id.utf8.makeIterator()
        guard utf8.next() == prefix else { return nil }
        var value = 0
        var digits = 0
        while let byte = utf8.next() {
            guard byte >= 48, byte <= 57, digits < 12 else { return nil }
            if digits == 0 && byte == 48 { return nil }
            value = value * 10 + Int(byte - 48)
            digits += 1
        }
        guard digits > 0, value >= 1, value <= count else { return nil }
        return value - 1
    }
}

extension CatalogColumns {
    /// The id of venue `index`: the stored one, or the numbered one when ids are numbered.
    public func venueID(_ index: Int) -> String { venueIDs?.id(index) ?? Catalog.venueID(index) }
    /// The id of item `index`.
    public func itemID(_ index: Int) -> String { itemIDs?.id(index) ?? Catalog.itemID(index) }
    /// The id of user `index`.
    public func userID(_ index: Int) -> String { userIDs?.id(index) ?? Catalog.userID(index) }
}
