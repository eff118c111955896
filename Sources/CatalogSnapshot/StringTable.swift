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
}

/// Distinct strings numbered in the order they were first added, found again by their bytes: the ids of a kind,
/// a category's vocabulary. Open addressing over the packed bytes, so adding or finding a string allocates nothing
/// (apart from growing the table) and hashes with FNV-1a rather than Swift's per-process seeded hasher.
public struct StringTable: Sendable, Equatable {
    /// The strings, entry `k` being the `k`-th distinct one added.
    public private(set) var strings = PackedStrings()
    /// Entry number + 1 per slot; 0 is empty. A power of two, at most half full.
    private var slots: [Int32] = []
    /// Hash of each entry, so growing the table does not hash again and a probe skips most byte comparisons.
    private var hashes: [UInt32] = []

    /// An empty table sized for about `capacity` strings.
    public init(capacity: Int = 16) {
        var size = 16
        while size < 2 * capacity && size < 1 << 30 { size <<= 1 }
        slots = [Int32](repeating: 0, count: size)
        hashes.reserveCapacity(capacity)
    }

    /// Number of distinct strings.
    public var count: Int { strings.count }

    /// Equal when they hold the same strings in the same order.
    public static func == (a: StringTable, b: StringTable) -> Bool { a.strings == b.strings }

    /// Bytes held.
    public var memoryBytes: Int { strings.memoryBytes + slots.count * 4 + hashes.count * 4 }

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
        let h = StringTable.hash(text)
        return slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            var i = Int(h) & mask
            while true {
                let entry = Int(slots[i]) - 1
                if entry < 0 { return nil }
                if hashes[entry] == h && equal(entry, text) { return entry }
                i = (i + 1) & mask
            }
        }
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
        let h = StringTable.hash(text)
        let mask = slots.count - 1
        var i = Int(h) & mask
        while true {
            let entry = Int(slots[i]) - 1
            if entry < 0 { break }
            if hashes[entry] == h && equal(entry, text) { return (entry, false) }
            i = (i + 1) & mask
        }
        guard strings.count < 1 << 30, strings.bytes.count + text.count <= PackedStrings.maximumBytes else {
            return nil
        }
        let entry = strings.count
        strings.append(text)
        hashes.append(h)
        slots[i] = Int32(entry + 1)
        if 2 * strings.count > slots.count { grow() }
        return (entry, true)
    }

    /// Adds `text` unless present.
    @discardableResult
    public mutating func insert(_ text: String) -> (entry: Int, added: Bool)? {
        var text = text
        return text.withUTF8 { insert(UnsafeRawBufferPointer($0)) }
    }

    @inline(__always)
    private func equal(_ entry: Int, _ text: UnsafeRawBufferPointer) -> Bool {
        let r = strings.range(entry)
        guard r.count == text.count else { return false }
        return strings.bytes.withUnsafeBytes { stored in
            r.count == 0 || memcmp(stored.baseAddress! + r.lowerBound, text.baseAddress!, r.count) == 0
        }
    }

    private mutating func grow() {
        let size = slots.count * 2
        var grown = [Int32](repeating: 0, count: size)
        let mask = size - 1
        for entry in 0..<strings.count {
            var i = Int(hashes[entry]) & mask
            while grown[i] != 0 { i = (i + 1) & mask }
            grown[i] = Int32(entry + 1)
        }
        slots = grown
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
