/// A message encoding this library can speak, named as in `grpc-encoding` / `grpc-accept-encoding`.
public enum MessageCompression: String, Sendable, CaseIterable {
    /// No compression; always acceptable, even when not advertised.
    case identity
    /// gzip (RFC 1952), one independent gzip stream per message.
    case gzip

    /// The `grpc-accept-encoding` value this library advertises: `identity,gzip`. Naming identity is redundant (every
    /// peer must accept it) but harmless, and matches what gRPC's C core sends, so logs read the same.
    public static let acceptEncodingHeader: String = acceptEncodingHeader(for: allCases)

    /// The `grpc-accept-encoding` value for a given set of encodings: identity first, then the others in order,
    /// without duplicates.
    public static func acceptEncodingHeader(for encodings: [MessageCompression]) -> String {
        var names = ["identity"]
        for encoding in encodings where !names.contains(encoding.rawValue) {
            names.append(encoding.rawValue)
        }
        return names.joined(separator: ",")
    }

    /// Parses a `grpc-encoding` value (case-insensitively, ignoring surrounding spaces); nil for encodings this
    /// library does not implement, such as `deflate` or `snappy`.
    public init?(headerValue: String) {
        let token = headerValue[...].trimmingASCIISpaces().lowercased()
        self.init(rawValue: token)
    }

    /// Parses a `grpc-accept-encoding` list, keeping the supported encodings in the peer's order and dropping the
    /// rest. Every request carries one, so it is read as bytes, without a string per token.
    public static func parseAcceptEncoding(_ headerValue: String) -> [MessageCompression] {
        var result: [MessageCompression] = []
        var headerValue = headerValue
        headerValue.withUTF8 { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: ",") { end += 1 }
                if let encoding = named(bytes[start..<end]), !result.contains(encoding) { result.append(encoding) }
                start = end + 1
            }
        }
        return result
    }

    /// The encoding a token names, ASCII case ignored and surrounding spaces and tabs trimmed.
    private static func named(_ token: Slice<UnsafeBufferPointer<UInt8>>) -> MessageCompression? {
        var token = token
        while let first = token.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            token = token.dropFirst()
        }
        while let last = token.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
            token = token.dropLast()
        }
        for encoding in allCases where encoding.rawValue.utf8.count == token.count {
            // OR-ing 0x20 lowercases ASCII letters; the names hold letters only, so no other byte can match one.
            if zip(encoding.rawValue.utf8, token).allSatisfy({ $0 == $1 | 0x20 }) { return encoding }
        }
        return nil
    }
}
