/// One reply from the server, as RESP2 has it.
public enum RedisReply: Hashable, Sendable {
    /// A simple string such as `OK` or `PONG`.
    case status(String)
    /// An error reply, such as `WRONGTYPE Operation against a key holding the wrong kind of value`. The command
    /// failed; the connection is fine.
    case error(String)
    /// An integer reply.
    case integer(Int64)
    /// A bulk string, binary-safe; nil is the null bulk string (`GET` of a missing key).
    case bulk([UInt8]?)
    /// An array; nil is the null array (`BLPOP` that timed out).
    case array([RedisReply]?)

    /// The text of a bulk string (as UTF-8, invalid bytes replaced) or of a status; nil for the others.
    public var stringValue: String? {
        switch self {
        case .bulk(let bytes?): return String(decoding: bytes, as: UTF8.self)
        case .status(let text): return text
        default: return nil
        }
    }

    /// The bytes of a bulk string; nil for the null bulk string and the other kinds.
    public var bytesValue: [UInt8]? {
        if case .bulk(let bytes?) = self { return bytes }
        return nil
    }

    /// The value of an integer reply, or of a bulk string that holds a decimal integer (`GET` of a counter).
    public var integerValue: Int64? {
        switch self {
        case .integer(let value): return value
        case .bulk(let bytes?): return Int64(String(decoding: bytes, as: UTF8.self))
        default: return nil
        }
    }

    /// The elements of an array; nil for the null array and the other kinds.
    public var arrayValue: [RedisReply]? {
        if case .array(let elements?) = self { return elements }
        return nil
    }

    /// Whether this is the null bulk string or the null array.
    public var isNull: Bool {
        switch self {
        case .bulk(nil), .array(nil): return true
        default: return false
        }
    }

    /// The message of an error reply; nil for the others.
    public var errorMessage: String? {
        if case .error(let message) = self { return message }
        return nil
    }
}

/// One argument of a command: the bytes the server receives, zero bytes and all. Written as a string or integer
/// literal, or made from bytes, a `String` (UTF-8), an integer or a `Double` (decimal text).
public struct RedisArgument: Hashable, Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    /// What is sent.
    public var bytes: [UInt8]

    /// The bytes as they are.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// The string's UTF-8 bytes.
    public init(_ string: String) {
        self.bytes = Array(string.utf8)
    }

    /// The integer in decimal, as Redis parses integers (`INCRBY`, `EXPIRE`).
    public init<Integer: BinaryInteger>(_ value: Integer) {
        self.bytes = Array(String(value).utf8)
    }

    /// The number as Swift prints it (`1.5`, `1e-05`, `inf`), which Redis parses as a float (`ZADD`, `INCRBYFLOAT`).
    public init(_ value: Double) {
        self.bytes = Array(value.description.utf8)
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }

    public init(integerLiteral value: Int) {
        self.init(value)
    }
}

/// A command with its arguments, the name first: `["HSET", "user:1", "clicks", 3]`.
public typealias RedisCommand = [RedisArgument]
