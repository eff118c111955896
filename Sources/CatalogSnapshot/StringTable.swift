/// Many short strings in one byte buffer: ids, category names, display text. At a million entities that is the
/// text itself plus four bytes of offset each, where a `[String]` would cost sixteen bytes and often an allocation
/// per string.
public struct PackedStrings: Sendable, Equatable {
    /// Every string's UTF-8 bytes, one after another.
    public private(set) var bytes: [UInt8] = []
    /// String `k` ends at `ends[k]` and starts where string `k - 1` ends.
    public private(set) var ends: [UInt32] = []

    /// No strings.
    public init() {}

    /// Number of strings.
    public var count: Int { ends.count }

    /// Bytes held.
    public var memoryBytes: Int { bytes.count + ends.count * MemoryLayout<UInt32>.stride }

    /// The byte range of string `k`.
    @inline(__always)
    public func range(_ k: Int) -> Range<Int> { (k == 0 ? 0 : Int(ends[k - 1]))..<Int(ends[k]) }

    /// String `k`.
    public subscript(_ k: Int) -> String { String(decoding: bytes[range(k)], as: UTF8.self) }

    /// Calls `body` with the bytes of string `k`.
    @inline(__always)
    public func withBytes<R>(_ k: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let r = range(k)
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[r])) }
    }

    /// Appends a string given as bytes. The caller keeps the total under 4 GiB (`PackedStrings.maximumBytes`).
    mutating func append(_ text: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: text)
        ends.append(UInt32(bytes.count))
    }

    /// Appends a string.
    mutating func append(_ text: String) {
        bytes.append(contentsOf: text.utf8)
        ends.append(UInt32(bytes.count))
    }

    /// Appends an empty string.
    mutating func appendEmpty() { ends.append(UInt32(bytes.count)) }

    /// Removes the strings from `count` on.
    mutating func truncate(to count: Int) {
        guard count < ends.count else { return }
        bytes.removeLast(bytes.count - (count == 0 ? 0 : Int(ends[count - 1])))
        ends.removeLast(ends.count - count)
    }

    /// Reserves room for `strings` strings of `bytes` bytes in all.
    mutating func reserve(strings: Int, bytes byteCount: Int) {
        ends.reserveCapacity(strings)
        bytes.reserveCapacity(byteCount)
    }

    /// Most bytes held: offsets are 32-bit.
    static let maximumBytes = Int(UInt32.max)

    /// Strings packed already: string `k` is `bytes[ends[k - 1] ..< ends[k]]`, from 0 for the first. The caller
    /// keeps `ends` rising and within `bytes`.
    init(bytes: [UInt8], ends: [UInt32]) {
        self.bytes = bytes
        self.ends = ends
    }

    /// `count` strings, string `n` being `source`'s string `index(n)`, or empty when `index(n)` is not one of
    /// `source`'s (a negative index for none). Past `maximumBytes` in all, the strings that would not fit are empty.
    /// Two passes over `index`: the ends, then one copy per string into memory allocated once.
    init(gathering count: Int, from source: PackedStrings, index: (Int) -> Int) {
        var ends = [UInt32](repeating: 0, count: count)
        var total = 0
        ends.withUnsafeMutableBufferPointer { ends in
            for n in 0..<count {
                let i = index(n)
                if i >= 0, i < source.count {
                    let length = source.range(i).count
                    if total + length <= PackedStrings.maximumBytes { total += length }
                }
                ends[n] = UInt32(total)
            }
        }
        bytes = [UInt8](unsafeUninitializedCapacity: total) { buffer, initialized in
            source.bytes.withUnsafeBufferPointer { sourceBytes in
                var written = 0
                for n in 0..<count {
                    let end = Int(ends[n])
                    // A string left out, or an empty one, adds nothing; any other is its source's whole string.
                    if end > written, let base = sourceBytes.baseAddress, let to = buffer.baseAddress {
                        (to + written).update(from: base + source.range(index(n)).lowerBound, count: end - written)
                    }
                    written = end
                }
            }
            initialized = total
        }
        self.ends = ends
    }
}

/// Distinct strings numbered in the order they were first added, found again by their bytes: the ids of a kind,
/// a category's vocabulary. Open addressing over the packed bytes, so adding or finding a string allocates nothing
/// (apart from growing the table) and hashes with FNV-1a rather than Swift's per-process seeded hasher.
///
/// Ids that number their entities (`v1`, `v2`, … in that order, as generated data and many warehouses write them)
/// are found by parsing the number: a table of a million ids is far larger than the cache, and the probe's cache
/// misses were most of the cost of reading interaction histories. The first string that breaks the numbering
/// builds the hash slots, and every lookup from then on probes.
public struct StringTable: Sendable, Equatable {
    /// The strings, entry `k` being the `k`-th distinct one added.
    public private(set) var strings = PackedStrings()
    /// Per slot, the entry's hash in the high 32 bits and its number + 1 in the low 32 bits; 0 is empty. One load
    /// tells whether the bytes are worth comparing, which matters when the table is far larger than the cache. A
    /// power of two, at most half full.
    private var slots: [UInt64] = []
    /// While every entry `k` is `prefix` followed by `k + 1` in decimal (no leading zero), the prefix; the slots
    /// are empty then. Nil once the numbering has broken (or never started).
    private var numbered: [UInt8]?
    /// Slots to make when the numbering breaks, for about this many strings.
    private let capacity: Int

    /// An empty table sized for about `capacity` strings.
    public init(capacity: Int = 16) {
        self.capacity = capacity
        numbered = []
    }

    /// True while lookups parse numbers instead of probing (for tests and the load log).
    public var isNumbered: Bool { numbered != nil && count > 0 }

    /// While every entry `k` is this prefix followed by `k + 1`, the prefix (`"v"` for `v1…vN`); else nil.
    public var numberedPrefix: String? { isNumbered ? numbered.map { String(decoding: $0, as: UTF8.self) } : nil }

    /// The number `text` spells after `prefix` (no leading zero, at most 18 digits, so it never overflows), or nil.
    @inline(__always)
    public static func number(_ text: UnsafeRawBufferPointer, after prefix: [UInt8]) -> Int? {
        let digits = text.count - prefix.count
        guard digits > 0, digits <= 18, text[prefix.count] != UInt8(ascii: "0") else { return nil }
        for i in 0..<prefix.count where text[i] != prefix[i] { return nil }
        var value = 0
        for i in prefix.count..<text.count {
            let digit = Int(text[i]) &- 48
            guard digit >= 0 && digit <= 9 else { return nil }
            value = value * 10 + digit
        }
        return value
    }

    /// Ends the numbered mode: every entry goes into hash slots.
    private mutating func buildSlots() {
        numbered = nil
        var size = 16
        while size < 2 * max(capacity, strings.count + 1) && size < 1 << 30 { size <<= 1 }
        slots = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        for entry in 0..<strings.count {
            let h = strings.withBytes(entry) { StringTable.hash($0) }
            var i = Int(h) & mask
            while slots[i] != 0 { i = (i + 1) & mask }
            slots[i] = UInt64(h) << 32 | UInt64(entry + 1)
        }
    }

    /// Number of distinct strings.
    public var count: Int { strings.count }

    /// Equal when they hold the same strings in the same order.
    public static func == (a: StringTable, b: StringTable) -> Bool { a.strings == b.strings }

    /// Bytes held.
    public var memoryBytes: Int { strings.memoryBytes + slots.count * 8 + (numbered?.count ?? 0) }

    /// String `k`.
    public subscript(_ k: Int) -> String { strings[k] }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 0x811C_9DC5
        for byte in bytes {
            h = (h ^ UInt32(byte)) &* 0x0100_0193
        }
        return h
    }

    /// The entry number of `text`, or nil.
    @inline(__always)
    public func find(_ text: UnsafeRawBufferPointer) -> Int? {
        if let numbered {
            guard let value = StringTable.number(text, after: numbered), value >= 1, value <= count else { return nil }
            return value - 1
        }
        let h = StringTable.hash(text)
        return slots.withUnsafeBufferPointer { slots in
            strings.bytes.withUnsafeBufferPointer { stored in
                strings.ends.withUnsafeBufferPointer { ends in
                    let mask = slots.count - 1
                    var i = Int(h) & mask
                    while true {
                        let slot = slots[i]
                        if slot == 0 { return nil }
                        let entry = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF) - 1
                        if UInt32(slot >> 32) == h && StringTable.equal(entry, text, stored, ends) { return entry }
                        i = (i + 1) & mask
                    }
                }
            }
        }
    }

    /// Whether entry `entry` (its bytes in `stored`, ranged by `ends`) is `text`; short ids compare inline.
    @inline(__always)
    static func equal(
        _ entry: Int,
        _ text: UnsafeRawBufferPointer,
        _ stored: UnsafeBufferPointer<UInt8>,
        _ ends: UnsafeBufferPointer<UInt32>
    ) -> Bool {
        let start = entry == 0 ? 0 : Int(ends[entry - 1])
        let count = Int(ends[entry]) - start
        guard count == text.count else { return false }
        if count <= 16 {
            for i in 0..<count where stored[start + i] != text[i] { return false }
            return true
        }
        return memcmp(stored.baseAddress! + start, text.baseAddress!, count) == 0
    }

    /// The entry number of `text`, or nil.
    public func find(_ text: String) -> Int? {
        var text = text
        return text.withUTF8 { find(UnsafeRawBufferPointer($0)) }
    }

    /// Adds `text` unless present; returns its entry number and whether it was added. Nil when the table is full
    /// (2^30 entries or 4 GiB of text), which the caller reports.
    @inline(__always)
    public mutating func insert(_ text: UnsafeRawBufferPointer) -> (entry: Int, added: Bool)? {
        if let prefix = numbered {
            if count == 0 {
                // The first string decides the prefix: whatever precedes a final "1".
                if text.count >= 1, text[text.count - 1] == UInt8(ascii: "1"),
                    text.count < 2 || !(48...57).contains(text[text.count - 2])
                {
                    numbered = Array(text[0..<(text.count - 1)])
                    strings.append(text)
                    return (0, true)
                }
            } else if let value = StringTable.number(text, after: prefix) {
                if value >= 1 && value <= count { return (value - 1, false) }
                if value == count + 1, strings.bytes.count + text.count <= PackedStrings.maximumBytes {
                    strings.append(text)
                    return (count - 1, true)
                }
            }
            buildSlots()
        }
        let h = StringTable.hash(text)
        let mask = slots.count - 1
        var i = Int(h) & mask
        while true {
            let slot = slots[i]
            if slot == 0 { break }
            let entry = Int(truncatingIfNeeded: slot & 0xFFFF_FFFF) - 1
            if UInt32(slot >> 32) == h,
                strings.bytes.withUnsafeBufferPointer({ stored in
                    strings.ends.withUnsafeBufferPointer { StringTable.equal(entry, text, stored, $0) }
                })
            {
                return (entry, false)
            }
            i = (i + 1) & mask
        }
        guard strings.count < 1 << 30, strings.bytes.count + text.count <= PackedStrings.maximumBytes else {
            return nil
        }
        let entry = strings.count
        strings.append(text)
        slots[i] = UInt64(h) << 32 | UInt64(entry + 1)
        if 2 * strings.count > slots.count { grow() }
        return (entry, true)
    }

    /// Adds `text` unless present.
    @discardableResult
    public mutating func insert(_ text: String) -> (entry: Int, added: Bool)? {
        var text = text
        return text.withUTF8 { insert(UnsafeRawBufferPointer($0)) }
    }

    private mutating func grow() {
        let size = slots.count * 2
        var grown = [UInt64](repeating: 0, count: size)
        let mask = size - 1
        for slot in slots where slot != 0 {
            var i = Int(slot >> 32) & mask
            while grown[i] != 0 { i = (i + 1) & mask }
            grown[i] = slot
        }
        slots = grown
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
