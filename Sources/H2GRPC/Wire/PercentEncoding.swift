/// The percent-encoding of `grpc-message` values: UTF-8 bytes outside space...`~` and the `%` itself become `%XX`,
/// and so does a space at either end, because HTTP/2 forbids a header value that starts or ends with one.
public enum PercentEncoding {
    private static let hexDigits: [UInt8] = Array("0123456789ABCDEF".utf8)

    /// Encodes a status message for the `grpc-message` header.
    public static func encode(_ message: String) -> String {
        let utf8 = message.utf8
        let space = UInt8(ascii: " ")
        // Most messages are plain ASCII; return them untouched without copying.
        if utf8.allSatisfy({ !needsEscape($0) }) && utf8.first != space && utf8.last != space { return message }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count + 16)
        let last = utf8.count - 1
        for (index, byte) in utf8.enumerated() {
            if needsEscape(byte) || (byte == space && (index == 0 || index == last)) {
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            } else {
                out.append(byte)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a `grpc-message` value. The spec forbids failing here, so a `%` not followed by two hex digits is
    /// kept literally and bytes that do not form valid UTF-8 become U+FFFD.
    public static func decode(_ value: String) -> String {
        let bytes = Array(value.utf8)
        guard bytes.contains(UInt8(ascii: "%")) else { return value }
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%"), index + 2 < bytes.count,
                let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
            {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(byte)
                index += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte > 0x7E || byte == UInt8(ascii: "%")
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        default: return nil
        }
    }
}
