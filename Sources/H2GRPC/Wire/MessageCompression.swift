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
    /// rest.
    public static func parseAcceptEncoding(_ headerValue: String) -> [MessageCompression] {
        var result: [MessageCompression] = []
        for token in headerValue.split(separator: ",") {
            if let encoding = MessageCompression(headerValue: String(token)), !result.contains(encoding) {
                result.append(encoding)
            }
        }
        return result
    }
}
