import Dispatch
import RedisClient

/// Appends each record to a Redis Stream (`XADD key MAXLEN ~ maxLength * r <protobuf bytes>`), so that consumers
/// on other machines read exposures and events as they happen. The stream is trimmed to about `maxLength` entries:
/// Redis holds a bounded window, the files hold everything.
public struct RedisStreamSink: LogSink {
    public let name = "redis"
    /// The stream's key, e.g. "rankd:exposures".
    public let key: String
    /// About how many entries the stream keeps.
    public let maxLength: Int
    private let pool: RedisPool
    /// Longest one batch waits for Redis.
    private let timeout: DispatchTimeInterval

    public init(pool: RedisPool, key: String, maxLength: Int = 1_000_000, timeout: DispatchTimeInterval = .seconds(2)) {
        self.pool = pool
        self.key = key
        self.maxLength = max(1, maxLength)
        self.timeout = timeout
    }

    public func write(_ records: [[UInt8]]) throws {
        // One round trip per chunk of records, so that one reply never grows past the client's reply limits.
        var start = 0
        while start < records.count {
            let chunk = records[start..<min(records.count, start + 500)]
            let commands: [RedisCommand] = chunk.map { bytes in
                ["XADD", RedisArgument(key), "MAXLEN", "~", RedisArgument(maxLength), "*", "r", RedisArgument(bytes)]
            }
            let replies = try pool.pipeline(commands, deadline: .now() + timeout)
            if let failure = replies.first(where: { $0.errorMessage != nil }) {
                throw LogReadError(description: "Redis refused XADD to \(key): \(failure.errorMessage ?? "")")
            }
            start += chunk.count
        }
    }
}
