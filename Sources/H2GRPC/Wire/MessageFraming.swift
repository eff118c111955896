/// The gRPC Length-Prefixed-Message: a compressed-flag byte (0 or 1) and a big-endian UInt32 length, then the bytes.
public enum MessageFraming {
    /// The size of the prefix: one flag byte and four length bytes.
    public static let headerSize = 5

    /// Appends one framed message to `out`. A message longer than `UInt32.max` bytes cannot be framed and is a
    /// programming error.
    public static func append(
        message: UnsafeRawBufferPointer,
        compressed: Bool,
        to out: inout [UInt8]
    ) {
        precondition(message.count <= Int(UInt32.max), "a gRPC message is limited to 4 GiB - 1 bytes")
        let length = UInt32(message.count)
        out.reserveCapacity(out.count + headerSize + message.count)
        out.append(compressed ? 1 : 0)
        out.append(UInt8(truncatingIfNeeded: length >> 24))
        out.append(UInt8(truncatingIfNeeded: length >> 16))
        out.append(UInt8(truncatingIfNeeded: length >> 8))
        out.append(UInt8(truncatingIfNeeded: length))
        out.append(contentsOf: message)
    }

    /// Returns one framed message.
    public static func frame(_ message: [UInt8], compressed: Bool = false) -> [UInt8] {
        var out = [UInt8]()
        message.withUnsafeBytes { append(message: $0, compressed: compressed, to: &out) }
        return out
    }
}
