/// Custom metadata of a call: ordered, multi-valued name/value pairs sent as HTTP/2 headers or trailers.
///
/// Names are stored lower-cased, as HTTP/2 requires. Values of names ending in `-bin` hold base64 text, exactly as on
/// the wire; `appendBinary` and `binaryValues` convert to and from bytes.
public struct Metadata: Sendable, Equatable, Sequence {
    /// One name/value pair.
    public struct Entry: Sendable, Equatable {
        /// The lower-cased header name.
        public var name: String
        /// The header value (base64 text for `-bin` names).
        public var value: String
    }

    private var entries: [Entry]

    /// Creates empty metadata.
    public init() {
        entries = []
    }

    /// Creates metadata from pairs, lower-casing each name.
    public init(_ pairs: [(String, String)]) {
        entries = pairs.map { Entry(name: Self.lowercasedName($0.0), value: $0.1) }
    }

    /// The number of pairs, counting repeated names once per value.
    public var count: Int { entries.count }

    /// True when there are no pairs.
    public var isEmpty: Bool { entries.isEmpty }

    /// Appends a pair after the existing ones, lower-casing the name.
    public mutating func append(_ name: String, _ value: String) {
        entries.append(Entry(name: Self.lowercasedName(name), value: value))
    }

    /// Appends a binary value as unpadded base64, as the spec recommends for senders.
    /// The name must end in `-bin`; anything else is a programming error.
    public mutating func appendBinary(_ name: String, _ bytes: [UInt8]) {
        let lowered = Self.lowercasedName(name)
        precondition(lowered.hasSuffix("-bin"), "binary metadata name '\(name)' must end in -bin")
        entries.append(Entry(name: lowered, value: Base64.encode(bytes, padded: false)))
    }

    /// Removes every pair with this name.
    public mutating func removeAll(_ name: String) {
        let lowered = Self.lowercasedName(name)
        entries.removeAll { $0.name == lowered }
    }

    /// The first value for a name, or nil.
    public func first(_ name: String) -> String? {
        if entries.isEmpty { return nil }
        let lowered = Self.lowercasedName(name)
        return entries.first { $0.name == lowered }?.value
    }

    /// The first value for a name the caller already has in lower case (the server's own constants), without
    /// lowering it again.
    func first(lowercasedName name: String) -> String? {
        if entries.isEmpty { return nil }
        return entries.first { $0.name == name }?.value
    }

    /// Every value for a name, in order.
    public func values(_ name: String) -> [String] {
        let lowered = Self.lowercasedName(name)
        return entries.compactMap { $0.name == lowered ? $0.value : nil }
    }

    /// Every value for a `-bin` name, decoded. A peer (or proxy) may join repeated values with commas, so each value
    /// is split on `,` before decoding; pieces that are not valid base64 are left out.
    public func binaryValues(_ name: String) -> [[UInt8]] {
        var decoded: [[UInt8]] = []
        for value in values(name) {
            for piece in value.split(separator: ",", omittingEmptySubsequences: false) {
                let trimmed = piece.trimmingASCIISpaces()
                if let bytes = Base64.decode(trimmed) { decoded.append(bytes) }
            }
        }
        return decoded
    }

    /// Iterates the pairs in order as `(name, value)` tuples.
    public struct Iterator: IteratorProtocol {
        fileprivate var base: IndexingIterator<[Entry]>

        /// The next pair, or nil at the end.
        public mutating func next() -> (name: String, value: String)? {
            guard let entry = base.next() else { return nil }
            return (entry.name, entry.value)
        }
    }

    /// Iterates the pairs in order.
    public func makeIterator() -> Iterator {
        Iterator(base: entries.makeIterator())
    }

    /// True for names an application may not use as custom metadata, because the gRPC runtime or HTTP/2 owns them:
    /// pseudo-headers (`:path`), the call-definition headers (`content-type`, `te`, `user-agent`), connection-specific
    /// headers HTTP/2 forbids (`connection`, `keep-alive`, `proxy-connection`, `transfer-encoding`, `upgrade`) and
    /// `host`, and every `grpc-` name, which the spec reserves for gRPC itself.
    ///
    /// The one `grpc-` exception is `grpc-status-details-bin`: it carries the application's rich error details
    /// (google.rpc.Status) in trailers, and the runtime only passes it through.
    public static func isReserved(_ name: String) -> Bool {
        isReserved(lowercase: lowercasedName(name))
    }

    /// ``isReserved(_:)`` for a name known to be in lower case already (every name stored in `Metadata` is).
    static func isReserved(lowercase lowered: String) -> Bool {
        let bytes = lowered.utf8
        if bytes.first == UInt8(ascii: ":") { return true }
        if bytes.starts(with: "grpc-".utf8) { return lowered != "grpc-status-details-bin" }
        switch (bytes.count, lowered) {
        case (12, "content-type"), (2, "te"), (10, "user-agent"), (4, "host"), (10, "connection"), (10, "keep-alive"),
            (16, "proxy-connection"), (17, "transfer-encoding"), (7, "upgrade"):
            return true
        default:
            return false
        }
    }

    /// `name` in lower case. HTTP/2 names and the keys code uses are lower-case ASCII already, so only a name with
    /// an upper-case letter (or a non-ASCII byte) pays for a new string.
    static func lowercasedName(_ name: String) -> String {
        func needsLowering(_ byte: UInt8) -> Bool {
            (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")) || byte >= 0x80
        }
        let needed =
            name.utf8.withContiguousStorageIfAvailable { $0.contains(where: needsLowering) }
            ?? name.utf8.contains(where: needsLowering)
        return needed ? name.lowercased() : name
    }

    /// Checks a name against the spec's grammar: one or more of `0-9 a-z _ - .` (so upper case is invalid).
    public static func isValidName(_ name: String) -> Bool {
        let utf8 = name.utf8
        return !utf8.isEmpty
            && utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
                    return true
                default:
                    return false
                }
            }
    }

    /// Checks an ASCII (non-`-bin`) value against the spec's grammar: one or more of space and printable ASCII.
    public static func isValidASCIIValue(_ value: String) -> Bool {
        let utf8 = value.utf8
        return !utf8.isEmpty && utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    }
}

extension Substring {
    /// Drops leading and trailing spaces and tabs (the optional whitespace HTTP allows around list elements).
    func trimmingASCIISpaces() -> String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}
