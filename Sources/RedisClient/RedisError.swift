/// Why a Redis call failed. Each case carries a message for a person: the endpoint, what was going on and what
/// the server or the socket said. A reply of the `-ERR ...` kind is not one of these: it comes back as
/// ``RedisReply/error(_:)`` in its place among the replies, and the connection stays usable.
public enum RedisError: Error, Hashable, Sendable, CustomStringConvertible {
    /// A string that is not `redis://HOST` or `redis://HOST:PORT`.
    case invalidEndpoint(String)
    /// No connection could be had: the connect was refused or timed out, the host does not resolve, the pool is
    /// waiting out its back-off after such a failure, or the pool is closed. Nothing was sent.
    case unavailable(String)
    /// The deadline passed: before anything was sent, while connecting, while waiting for a free connection, or
    /// while waiting for replies. In the last case the commands may or may not have run.
    case timeout(String)
    /// The connection was reset or closed, or its socket failed, with commands in flight; they may or may not have
    /// run. Also thrown by a ``RedisConnection`` that is closed.
    case connectionLost(String)
    /// The server's bytes were not RESP, or a reply went over the ``RedisReplyLimits``. The connection is dropped.
    case protocolError(String)

    /// The message alone.
    public var message: String {
        switch self {
        case .invalidEndpoint(let message), .unavailable(let message), .timeout(let message),
            .connectionLost(let message), .protocolError(let message):
            return message
        }
    }

    public var description: String {
        switch self {
        case .invalidEndpoint(let message): return message
        case .unavailable(let message): return "Redis unavailable: \(message)"
        case .timeout(let message): return "Redis timeout: \(message)"
        case .connectionLost(let message): return "Redis connection lost: \(message)"
        case .protocolError(let message): return "Redis protocol error: \(message)"
        }
    }
}
