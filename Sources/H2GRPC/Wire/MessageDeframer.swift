/// Reassembles Length-Prefixed-Messages from DATA frame payloads, which may split a message (or its 5-byte prefix)
/// at any byte.
///
/// The deframer only frames: a message whose flag says compressed is returned still compressed, and the caller (the
/// stream state machine) decides whether that flag is allowed and decompresses.
public struct MessageDeframer: Sendable {
    /// One complete message.
    public struct Message: Sendable, Equatable {
        /// True when the flag byte was 1: the bytes are compressed with the stream's `grpc-encoding`.
        public var compressed: Bool
        /// The message bytes, exactly as sent.
        public var bytes: [UInt8]

        /// Creates a message.
        public init(compressed: Bool, bytes: [UInt8]) {
            self.compressed = compressed
            self.bytes = bytes
        }
    }

    /// Framing errors caused by the peer.
    public enum Error: Swift.Error, Equatable, CustomStringConvertible {
        /// A prefix announced more bytes than the receiver accepts; becomes RESOURCE_EXHAUSTED.
        case messageTooLarge(length: Int, limit: Int)
        /// The flag byte was neither 0 nor 1; becomes INTERNAL.
        case invalidCompressionFlag(UInt8)

        /// A message suitable for `grpc-message`.
        public var description: String {
            switch self {
            case .messageTooLarge(let length, let limit):
                return "received message of \(length) bytes exceeds the limit of \(limit) bytes"
            case .invalidCompressionFlag(let flag):
                return "invalid compressed-flag byte \(flag) in a message prefix (must be 0 or 1)"
            }
        }
    }

    private let maxMessageSize: Int
    private var buffer: [UInt8] = []
    /// Index of the first unconsumed byte of `buffer`; consumed bytes are dropped lazily to avoid shifting per message.
    private var readIndex = 0

    /// Creates a deframer that rejects messages longer than `maxMessageSize` bytes (before decompression).
    public init(maxMessageSize: Int) {
        precondition(maxMessageSize >= 0, "maxMessageSize must not be negative")
        self.maxMessageSize = maxMessageSize
    }

    /// Buffers bytes from one DATA frame.
    public mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        compactIfWorthwhile()
        buffer.append(contentsOf: bytes)
    }

    /// Buffers bytes from one DATA frame.
    public mutating func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Returns the next complete message, or nil when more bytes are needed. Throws as soon as a prefix is invalid or
    /// announces a message over the limit, without waiting for (or buffering) its bytes. After a throw the stream is
    /// unusable: the caller must fail the call.
    public mutating func next() throws -> Message? {
        let available = buffer.count - readIndex
        guard available >= MessageFraming.headerSize else { return nil }
        let flag = buffer[readIndex]
        guard flag <= 1 else { throw Error.invalidCompressionFlag(flag) }
        let length =
            Int(buffer[readIndex + 1]) << 24 | Int(buffer[readIndex + 2]) << 16 | Int(
                buffer[readIndex + 3]
            ) << 8
            | Int(buffer[readIndex + 4])
        guard length <= maxMessageSize else {
            throw Error.messageTooLarge(length: length, limit: maxMessageSize)
        }
        guard available - MessageFraming.headerSize >= length else { return nil }
        let start = readIndex + MessageFraming.headerSize
        let message = Message(compressed: flag == 1, bytes: Array(buffer[start..<start + length]))
        readIndex = start + length
        if readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            readIndex = 0
        }
        return message
    }

    /// True when bytes of an unfinished message (or prefix) are buffered: a stream that ends now was truncated.
    public var hasPartialMessage: Bool { readIndex < buffer.count }

    /// The number of buffered bytes not yet returned as messages.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    private mutating func compactIfWorthwhile() {
        // Shift only when the consumed prefix is at least half the buffer, so the copying cost stays amortised O(1).
        if readIndex > 0, readIndex >= buffer.count - readIndex {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
