/// Writes protobuf wire format straight into a byte buffer, for the log records: the log's writer thread encodes every
/// answer, and building protobuf-c structures for that (a C string per id, an array per repeated field) cost more
/// than the answer's own re-rank. Reading goes through protobuf-c (``LogRecord/decode(protobuf:)``), so every record
/// this writes is checked against the generated code by the tests.
///
/// Fields follow proto3's implicit presence: a zero, an empty string and false are not written.
public struct ProtoWriter {
    /// The bytes so far (a caller may swap its own buffer in to append to it).
    public var bytes: [UInt8]

    public init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    @inline(__always)
    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    @inline(__always)
    private mutating func tag(_ field: Int, _ wireType: UInt64) {
        varint(UInt64(field) << 3 | wireType)
    }

    mutating func string(_ field: Int, _ value: String) {
        guard !value.isEmpty else { return }
        element(field, value)
    }

    /// A repeated string field: every element, empty ones included (repeated fields have no default to leave out).
    mutating func strings(_ field: Int, _ values: [String]) {
        for value in values { element(field, value) }
    }

    /// One string, written even when empty.
    private mutating func element(_ field: Int, _ value: String) {
        tag(field, 2)
        var value = value
        value.withUTF8 { utf8 in
            varint(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// int64 and int32 alike: a negative value is its 64-bit two's complement, ten bytes, as protobuf encodes both.
    mutating func int64(_ field: Int, _ value: Int64) {
        guard value != 0 else { return }
        tag(field, 0)
        varint(UInt64(bitPattern: value))
    }

    mutating func int32(_ field: Int, _ value: Int32) {
        int64(field, Int64(value))
    }

    /// An enum's number.
    mutating func enumeration(_ field: Int, _ value: Int) {
        int64(field, Int64(value))
    }

    mutating func double(_ field: Int, _ value: Double) {
        guard value.bitPattern != 0 else { return }
        tag(field, 1)
        var bits = value.bitPattern.littleEndian
        withUnsafeBytes(of: &bits) { bytes.append(contentsOf: $0) }
    }

    mutating func bool(_ field: Int, _ value: Bool) {
        guard value else { return }
        tag(field, 0)
        bytes.append(1)
    }

    /// A sub-message (always written, even when empty: it is present), its length before its fields.
    mutating func message(_ field: Int, _ body: (inout ProtoWriter) -> Void) {
        tag(field, 2)
        delimited(body)
    }

    /// `body`'s bytes preceded by their length as a varint: a one-byte length is reserved and widened afterwards
    /// when the body turns out longer than 127 bytes (rare for the logs' small messages).
    mutating func delimited(_ body: (inout ProtoWriter) -> Void) {
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
