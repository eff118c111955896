/// Base64 with the standard alphabet of RFC 4648 §4, as gRPC uses for `-bin` metadata values.
///
/// gRPC requires receivers to accept both padded and unpadded text and recommends sending unpadded text.
public enum Base64 {
    private static let alphabet: [UInt8] = Array(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8
    )

    /// Maps an ASCII byte to its 6-bit value, or 0xFF for bytes outside the alphabet.
    private static let decodeTable: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in alphabet.enumerated() { table[Int(byte)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes; `padded: false` drops the trailing `=` characters.
    public static func encode(_ bytes: [UInt8], padded: Bool = true) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let chunk =
                UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(chunk >> 18 & 0x3F)])
            out.append(alphabet[Int(chunk >> 12 & 0x3F)])
            out.append(alphabet[Int(chunk >> 6 & 0x3F)])
            out.append(alphabet[Int(chunk & 0x3F)])
            index += 3
        }
        switch bytes.count - index {
        case 1:
            let chunk = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(chunk >> 18 & 0x3F)])
            out.append(alphabet[Int(chunk >> 12 & 0x3F)])
            if padded { out.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "=")]) }
        case 2:
            let chunk = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(alphabet[Int(chunk >> 18 & 0x3F)])
            out.append(alphabet[Int(chunk >> 12 & 0x3F)])
            out.append(alphabet[Int(chunk >> 6 & 0x3F)])
            if padded { out.append(UInt8(ascii: "=")) }
        default:
            break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded or unpadded text. Returns nil for characters outside the alphabet (whitespace included),
    /// misplaced or excess `=`, and lengths that no encoding produces (a lone trailing character).
    public static func decode(_ text: String) -> [UInt8]? {
        var symbols = Array(text.utf8)
        // Padding may only complete the last quantum: strip up to two `=` and require a length that is a multiple of 4.
        var padding = 0
        while let last = symbols.last, last == UInt8(ascii: "=") {
            symbols.removeLast()
            padding += 1
        }
        if padding > 0 {
            guard padding <= 2, (symbols.count + padding) % 4 == 0 else { return nil }
        }
        let remainder = symbols.count % 4
        guard remainder != 1 else { return nil }
        // With padding present, the padding count must match exactly what the remainder implies.
        if padding > 0, padding != 4 - remainder { return nil }

        var out = [UInt8]()
        out.reserveCapacity(symbols.count / 4 * 3 + 2)
        var accumulator: UInt32 = 0
        var bits = 0
        for symbol in symbols {
            let value = decodeTable[Int(symbol)]
            guard value != 0xFF else { return nil }
            accumulator = accumulator << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        return out
    }
}
