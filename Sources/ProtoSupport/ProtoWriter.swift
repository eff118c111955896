/// Writes protobuf wire format straight into a byte buffer, for the messages written on a hot path: the exposure log's
/// records and Recommend's and Rank's answers. Building protobuf-c structures for those (a C string per id, an array
/// per repeated field, a C allocation for each) cost more than the answer's own re-rank. Reading goes through
/// protobuf-c, so the tests check every message this writes against the generated code.
///
/// Fields follow proto3's implicit presence: a zero, an empty string and false are not written.
public struct ProtoWriter {
    /// The bytes so far (a caller may swap its own buffer in to append to it).
    public var bytes: [UInt8]

    @inlinable
    public init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    @inlinable
    public mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inlinable
    mutating func tag(_ field: Int, _ wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    @inlinable
    public mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }
        element(field, value)
    }

    /// A repeated string field: every element, empty ones included (repeated fields have no default to leave out).
    @inlinable
    public mutating func strings(_ field: Int, _ values: [String]) {
        for value in values { element(field, value) }
    }

    /// One string, written even when empty.
    @inlinable
    mutating func element(_ field: Int, _ value: String) {
        tag(field, 2)
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// int64 and int32 alike: a negative value is its 64-bit two's complement, ten bytes, as protobuf encodes both.
    @inlinable
    public mutating func int64(_ field: Int, _ value: Int64) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(UInt64(bitPattern: value))
    }

    @inlinable
    public mutating func int32(_ field: Int, _ value: Int32) {
        int64(field, Int64(value))
    }

    /// An enum's number.
    @inlinable
    public mutating func enumeration(_ field: Int, _ value: Int) {
        int64(field, Int64(value))
    }

    @inlinable
    public mutating func double(_ field: Int, _ value: Double) {
        guard value.bitPattern != 0 else { return }
        tag(field, 1)
        var bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
    }

    @inlinable
    public mutating func bool(_ field: Int, _ value: Bool) {
        guard value else { return }
        tag(field, 0)
        bytes.append(1)
    }

    /// A sub-message (always written, even when empty: it is present), its length before its fields.
    @inlinable
    public mutating func message(_ field: Int, _ body: (inout ProtoWriter) -> Void) {
        tag(field, 2)
        delimited(body)
    }

    /// `body`'s bytes preceded by their length as a varint: a one-byte length is reserved and widened afterwards
    /// when the body turns out longer than 127 bytes (rare for the logs' small messages).
    @inlinable
    public mutating func delimited(_ body: (inout ProtoWriter) -> Void) {
        let lengthAt = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - lengthAt - 1
        if length < 0x80 {
            bytes[lengthAt] = UInt8(length)
            return
        }
        var prefix: [UInt8] = []
        var v = UInt64(length)
        while v >= 0x80 {
            prefix.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        prefix.append(UInt8(v))
        bytes.replaceSubrange(lengthAt..<(lengthAt + 1), with: prefix)
    }
}
