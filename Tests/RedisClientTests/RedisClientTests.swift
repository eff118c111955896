import Dispatch
import Foundation
import RedisClient
import RedisTestSupport
import Testing

/// The client against a real redis-server that each test starts on its own port (see `RedisServer`). Serialized:
/// several of these pause or kill their server and bound how long a failure may take, so they do not compete with
/// each other for the machine's cores.
@Suite("RedisClient against redis-server", .serialized, .timeLimit(.minutes(2)))
struct RedisClientTests {
    static func deadline(_ seconds: Double = 5) -> DispatchTime {
        .now() + .nanoseconds(Int(seconds * 1e9))
    }

    /// Seconds since `start`.
    static func seconds(since start: DispatchTime) -> Double {
        Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    }

    @Test("SET, GET, INCR, HSET, ZADD and EXPIRE round-trip binary-safe values in one pipeline")
    func pipelineRoundTrip() throws {
        try withRedisServer { server throws in
            let pool = RedisPool(endpoint: server.endpoint)
            let value: [UInt8] = [0, 1, 0, 0xFF, 0x0D, 0x0A, 0x24, 0x2A, 0]
            let key: [UInt8] = Array("user:".utf8) + [0, 7]
            let member: [UInt8] = [0xC3, 0x28, 0, 0x80]
            let replies = try pool.pipeline(
                [
                    ["SET", RedisArgument(key), RedisArgument(value)],
                    ["GET", RedisArgument(key)],
                    ["SET", "empty", ""],
                    ["GET", "empty"],
                    ["GET", "missing"],
                    ["INCR", "clicks"],
                    ["INCRBY", "clicks", 41],
                    ["HSET", "h", "a", RedisArgument(value), RedisArgument(member), "2"],
                    ["HGET", "h", "a"],
                    ["HGET", "h", RedisArgument(member)],
                    ["ZADD", "z", RedisArgument(2.5), "b", RedisArgument(-1.0), RedisArgument(member)],
                    ["ZRANGE", "z", 0, -1, "WITHSCORES"],
                    ["EXPIRE", RedisArgument(key), 60],
                    ["TTL", RedisArgument(key)],
                    ["BLPOP", "no-such-list", "0.01"],
                    ["DEL", RedisArgument(key), "h", "z", "clicks", "empty"],
                ],
                deadline: Self.deadline()
            )
            let expected: [RedisReply] = [
                .status("OK"),
                .bulk(value),
                .status("OK"),
                .bulk([]),
                .bulk(nil),
                .integer(1),
                .integer(42),
                .integer(2),
                .bulk(value),
                .bulk(Array("2".utf8)),
                .integer(2),
                .array([.bulk(member), .bulk(Array("-1".utf8)), .bulk(Array("b".utf8)), .bulk(Array("2.5".utf8))]),
                .integer(1),
                .integer(60),
                .array(nil),
                .integer(5),
            ]
            #expect(replies == expected)
            let statistics = pool.statistics()
            #expect(statistics.roundTrips == 1)
            #expect(statistics.connects == 1)
            #expect(statistics.errorReplies == 0)
        }
    }

    @Test("an error reply takes its place among the replies and the connection stays usable")
    func errorReplyKeepsConnection() throws {
        try withRedisServer { server throws in
            let pool = RedisPool(endpoint: server.endpoint)
            let replies = try pool.pipeline(
                [["SET", "s", "abc"], ["INCR", "s"], ["LPUSH", "s", "x"], ["GET", "s"]],
                deadline: Self.deadline()
            )
            #expect(replies[0] == .status("OK"))
            #expect(replies[1].errorMessage?.hasPrefix("ERR value is not an integer") == true, "\(replies[1])")
            #expect(replies[2].errorMessage?.hasPrefix("WRONGTYPE") == true, "\(replies[2])")
            #expect(replies[3] == .bulk(Array("abc".utf8)))
            #expect(try pool.send(["APPEND", "s", "d"], deadline: Self.deadline()) == .integer(4))
            let statistics = pool.statistics()
            #expect(statistics.errorReplies == 2)
            #expect(statistics.connects == 1)
            #expect(statistics.dropped == 0)
            #expect(statistics.open == 1)
        }
    }

    @Test("a server paused by SIGSTOP gives a timeout at the deadline and the connection is dropped")
    func pausedServerTimesOut() throws {
        try withRedisServer { server throws in
            let pool = RedisPool(endpoint: server.endpoint, configuration: .init(maxConnections: 2))
            #expect(try pool.send(["PING"], deadline: Self.deadline()) == .status("PONG"))
            server.pause()
            defer { server.resume() }
            let start = DispatchTime.now()
            let error = #expect(throws: RedisError.self) {
                try pool.pipeline([["SET", "k", "v"], ["GET", "k"]], deadline: .now() + .milliseconds(300))
            }
            #expect(Self.seconds(since: start) < 2)
            guard case .timeout(let message)? = error else {
                Issue.record("expected a timeout, got \(String(describing: error))")
                return
            }
            #expect(message.contains("waiting for reply 1 of 2"), "\(message)")
            var statistics = pool.statistics()
            #expect(statistics.timeouts == 1)
            #expect(statistics.dropped == 1)
            #expect(statistics.open == 0)
            #expect(statistics.inUse == 0)

            server.resume()
            #expect(try pool.send(["PING"], deadline: Self.deadline()) == .status("PONG"))
            statistics = pool.statistics()
            #expect(statistics.connects == 2)
            #expect(statistics.reconnects == 1)
        }
    }

    @Test("DEBUG SLEEP past the deadline times out, and the broken connection refuses to be used again")
    func slowCommandBreaksConnection() throws {
        try withRedisServer { server throws in
            let connection = try RedisConnection(endpoint: server.endpoint, deadline: Self.deadline())
            #expect(try connection.send(["SET", "k", "1"], deadline: Self.deadline()) == .status("OK"))
            let start = DispatchTime.now()
            let error = #expect(throws: RedisError.self) {
                try connection.pipeline(
                    [["DEBUG", "SLEEP", "0.5"], ["INCR", "k"]],
                    deadline: .now() + .milliseconds(100)
                )
            }
            #expect(Self.seconds(since: start) < 2)
            guard case .timeout? = error else {
                Issue.record("expected a timeout, got \(String(describing: error))")
                return
            }
            #expect(connection.isBroken)
            // The late replies (OK, 2) must never be read as answers to a later command.
            let again = #expect(throws: RedisError.self) {
                try connection.send(["GET", "k"], deadline: Self.deadline())
            }
            guard case .connectionLost? = again else {
                Issue.record("expected connectionLost, got \(String(describing: again))")
                return
            }
        }
    }

    @Test("a deadline already passed throws before sending and leaves the connection usable")
    func passedDeadline() throws {
        try withRedisServer { server throws in
            let connection = try RedisConnection(endpoint: server.endpoint, deadline: Self.deadline())
            let error = #expect(throws: RedisError.self) {
                try connection.send(["PING"], deadline: .now() - .milliseconds(1))
            }
            guard case .timeout? = error else {
                Issue.record("expected a timeout, got \(String(describing: error))")
                return
            }
            #expect(!connection.isBroken)
            #expect(try connection.send(["PING"], deadline: Self.deadline()) == .status("PONG"))
        }
    }

    @Test("a killed server makes calls fail fast as unavailable, and the pool recovers when it is back")
    func killedServerFailsFastThenRecovers() throws {
        try withRedisServer { server throws in
            let configuration = RedisPool.Configuration(
                maxConnections: 4,
                initialBackoff: .milliseconds(50),
                maximumBackoff: .milliseconds(400)
            )
            let pool = RedisPool(endpoint: server.endpoint, configuration: configuration)
            #expect(try pool.send(["SET", "k", "before"], deadline: Self.deadline()) == .status("OK"))

            server.kill()
            let start = DispatchTime.now()
            let first = #expect(throws: RedisError.self) { try pool.send(["GET", "k"], deadline: Self.deadline()) }
            #expect(Self.seconds(since: start) < 2)
            guard case .unavailable(let message)? = first else {
                Issue.record("expected unavailable, got \(String(describing: first))")
                return
            }
            #expect(message.contains("refused"), "\(message)")

            // During the back-off no call pays for a connect: they are refused at once.
            let burst = DispatchTime.now()
            for _ in 0..<50 {
                let error = #expect(throws: RedisError.self) { try pool.send(["GET", "k"], deadline: Self.deadline()) }
                guard case .unavailable? = error else {
                    Issue.record("expected unavailable, got \(String(describing: error))")
                    return
                }
            }
            let burstSeconds = Self.seconds(since: burst)
            #expect(burstSeconds < 2)
            var statistics = pool.statistics()
            #expect(statistics.isBackingOff)
            // One probe per back-off period at most: 50 + 100 + 200 + 400 + 400 ... ms within the burst.
            #expect(statistics.connectionErrors <= 2 + UInt64(burstSeconds / 0.4) + 4)
            #expect(statistics.unavailable >= 40)
            #expect(statistics.open == 0)

            try server.restart()
            // Longer than the longest back-off: the next call must reconnect by itself.
            Thread.sleep(forTimeInterval: 0.5)
            #expect(try pool.send(["SET", "k", "after"], deadline: Self.deadline()) == .status("OK"))
            statistics = pool.statistics()
            #expect(!statistics.isBackingOff)
            #expect(statistics.reconnects >= 1)
            #expect(statistics.connects == 2)
        }
    }

    @Test("a server killed while a connection is held gives connectionLost, and writing to it raises no SIGPIPE")
    func killedWhileHeld() throws {
        try withRedisServer { server throws in
            let connection = try RedisConnection(endpoint: server.endpoint, deadline: Self.deadline())
            #expect(try connection.send(["PING"], deadline: Self.deadline()) == .status("PONG"))
            server.kill()
            // More than the socket buffers hold, so the write goes on after the dead peer's reset: EPIPE, which
            // would end the process through SIGPIPE if the shim did not keep the signal from it.
            let big = [UInt8](repeating: 0x78, count: 8 << 20)
            let error = #expect(throws: RedisError.self) {
                try connection.send(["SET", "k", RedisArgument(big)], deadline: Self.deadline())
            }
            guard case .connectionLost? = error else {
                Issue.record("expected connectionLost, got \(String(describing: error))")
                return
            }
            #expect(connection.isBroken)
        }
    }

    @Test("a server that was never there is unavailable at once")
    func nothingListening() throws {
        let port = try freeLoopbackPort()
        // A back-off far longer than the test, so that exactly one connect is tried.
        let configuration = RedisPool.Configuration(initialBackoff: .seconds(30), maximumBackoff: .seconds(30))
        let pool = RedisPool(endpoint: RedisEndpoint(host: "127.0.0.1", port: port), configuration: configuration)
        let start = DispatchTime.now()
        for _ in 0..<3 {
            let error = #expect(throws: RedisError.self) { try pool.send(["PING"], deadline: Self.deadline()) }
            guard case .unavailable? = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                return
            }
        }
        #expect(Self.seconds(since: start) < 2)
        #expect(pool.statistics().connectionErrors == 1)
        #expect(pool.statistics().unavailable == 2)
    }

    @Test("a bulk string over the limit is refused and its connection dropped; the next call reconnects")
    func bulkLimit() throws {
        try withRedisServer { server throws in
            let limits = RedisReplyLimits(maxBulkLength: 1024)
            let pool = RedisPool(endpoint: server.endpoint, configuration: .init(limits: limits))
            let big = [UInt8](repeating: 0x61, count: 2000)
            let huge = [UInt8](repeating: 0x62, count: 1 << 20)
            let replies = try pool.pipeline(
                [["SET", "big", RedisArgument(big)], ["SET", "huge", RedisArgument(huge)], ["SET", "small", "ok"]],
                deadline: Self.deadline()
            )
            #expect(replies == [.status("OK"), .status("OK"), .status("OK")])
            for key in ["big", "huge"] {
                let error = #expect(throws: RedisError.self) {
                    try pool.send(["GET", RedisArgument(key)], deadline: Self.deadline())
                }
                guard case .protocolError(let message)? = error else {
                    Issue.record("expected a protocol error, got \(String(describing: error))")
                    return
                }
                #expect(message.contains("over the limit of 1024 bytes"), "\(message)")
            }
            #expect(try pool.send(["GET", "small"], deadline: Self.deadline()) == .bulk(Array("ok".utf8)))
            let statistics = pool.statistics()
            #expect(statistics.protocolErrors == 2)
            #expect(statistics.dropped == 2)
            #expect(statistics.connects == 3)
        }
    }

    @Test("arrays over the element limit and replies over the byte limit are refused")
    func elementAndByteLimits() throws {
        try withRedisServer { server throws in
            let limits = RedisReplyLimits(maxBulkLength: 1024, maxReplyElements: 50, maxReplyBytes: 1000)
            let pool = RedisPool(endpoint: server.endpoint, configuration: .init(limits: limits))
            let push: RedisCommand = ["RPUSH", "list"] + (0..<100).map { RedisArgument($0) }
            var hset: RedisCommand = ["HSET", "h"]
            for field in 0..<20 {
                hset += [RedisArgument("f\(field)"), RedisArgument([UInt8](repeating: 0x7A, count: 100))]
            }
            #expect(try pool.pipeline([push, hset], deadline: Self.deadline()) == [.integer(100), .integer(20)])

            let ten = try pool.send(["LRANGE", "list", 0, 9], deadline: Self.deadline())
            #expect(ten.arrayValue?.count == 10)
            for command: RedisCommand in [["LRANGE", "list", 0, -1], ["HGETALL", "h"]] {
                let error = #expect(throws: RedisError.self) { try pool.send(command, deadline: Self.deadline()) }
                guard case .protocolError(let message)? = error else {
                    Issue.record("expected a protocol error, got \(String(describing: error))")
                    return
                }
                #expect(message.contains("over the limit"), "\(message)")
            }
            // Nested arrays count against the same limit: 6 pairs and the outer 6 make 18 elements, allowed; 20 pairs
            // make 60.
            let nested = try pool.send(
                ["EVAL", "local r = {} for i = 1, 6 do r[i] = {i, i} end return r", 0],
                deadline: Self.deadline()
            )
            #expect(nested.arrayValue?.count == 6)
            let tooNested = #expect(throws: RedisError.self) {
                try pool.send(
                    ["EVAL", "local r = {} for i = 1, 20 do r[i] = {i, i} end return r", 0],
                    deadline: Self.deadline()
                )
            }
            guard case .protocolError? = tooNested else {
                Issue.record("expected a protocol error, got \(String(describing: tooNested))")
                return
            }
            #expect(pool.statistics().protocolErrors == 3)
        }
    }

    @Test(
        "a declared length over the limit is refused at its header, not after the bytes arrive",
        arguments: [
            ("$1073741824\r\nabc", "over the limit of 16777216 bytes"),
            ("*2147483647\r\n:1\r\n", "over the limit of 1048576 elements"),
            ("*2\r\n*1048575\r\n", "over the limit of 1048576 elements"),
        ]
    )
    func hugeDeclaredLengths(reply: String, expected: String) throws {
        let server = try CannedReplyServer(reply: Array(reply.utf8))
        defer { server.stop() }
        let connection = try RedisConnection(endpoint: server.endpoint, deadline: Self.deadline())
        // The server never sends the rest: a client that waited for it would time out instead.
        let error = #expect(throws: RedisError.self) {
            try connection.send(["GET", "k"], deadline: Self.deadline(10))
        }
        guard case .protocolError(let message)? = error else {
            Issue.record("expected a protocol error, got \(String(describing: error))")
            return
        }
        #expect(message.contains(expected), "\(message)")
        #expect(connection.isBroken)
    }

    @Test("bytes that are not RESP are a protocol error")
    func garbageReply() throws {
        let server = try CannedReplyServer(reply: Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))
        defer { server.stop() }
        let pool = RedisPool(endpoint: server.endpoint)
        let error = #expect(throws: RedisError.self) { try pool.send(["PING"], deadline: Self.deadline()) }
        guard case .protocolError(let message)? = error else {
            Issue.record("expected a protocol error, got \(String(describing: error))")
            return
        }
        #expect(message.contains("Protocol error"), "\(message)")
        #expect(pool.statistics().protocolErrors == 1)
    }

    @Test("8 threads x 200 pipelines share 4 connections with correct replies and never more than 4 in use")
    func concurrentPipelines() throws {
        try withRedisServer { server throws in
            let capacity = 4
            let pool = RedisPool(endpoint: server.endpoint, configuration: .init(maxConnections: capacity))
            let threads = 8
            let rounds = 200
            let probe = ConcurrencyProbe()
            let group = DispatchGroup()
            for thread in 0..<threads {
                group.enter()
                Thread {
                    defer { group.leave() }
                    for round in 0..<rounds {
                        let value: [UInt8] = [UInt8(thread), 0, UInt8(round % 256), 0xFF]
                        let key = RedisArgument("k:\(thread):\(round)")
                        do {
                            let replies = try pool.withConnection(deadline: Self.deadline(20)) { connection in
                                probe.enter()
                                defer { probe.leave() }
                                return try connection.pipeline(
                                    [
                                        ["INCR", RedisArgument("n:\(thread)")], ["SET", key, RedisArgument(value)],
                                        ["GET", key],
                                    ],
                                    deadline: Self.deadline(20)
                                )
                            }
                            let expected: [RedisReply] = [.integer(Int64(round + 1)), .status("OK"), .bulk(value)]
                            if replies != expected {
                                probe.report("thread \(thread) round \(round): \(replies)")
                            }
                        } catch {
                            probe.report("thread \(thread) round \(round): \(error)")
                        }
                    }
                }.start()
            }
            #expect(group.wait(timeout: .now() + 90) == .success)
            let (problems, mostBusy) = probe.results()
            #expect(problems.isEmpty, "\(problems.prefix(5))")
            #expect(mostBusy <= capacity)
            let statistics = pool.statistics()
            #expect(statistics.roundTrips == UInt64(threads * rounds))
            #expect(statistics.connects <= UInt64(capacity))
            #expect(statistics.open <= capacity)
            #expect(statistics.inUse == 0)
            #expect(statistics.timeouts + statistics.connectionErrors + statistics.protocolErrors == 0)

            // The server's own count: the pool's connections plus the one asking.
            let info = try RedisConnection(endpoint: server.endpoint, deadline: Self.deadline())
            let counters = try info.pipeline(
                [["INFO", "clients"], ["GET", "n:0"], ["GET", "n:7"]],
                deadline: Self.deadline()
            )
            let clients = counters[0].stringValue?.split(separator: "\r\n")
                .first { $0.hasPrefix("connected_clients:") }
                .flatMap { Int($0.dropFirst("connected_clients:".count)) }
            #expect(clients != nil && clients! <= capacity + 1, "\(String(describing: clients))")
            #expect(counters[1].integerValue == Int64(rounds))
            #expect(counters[2].integerValue == Int64(rounds))
        }
    }

    @Test("waiting for a free connection ends at the deadline")
    func poolWaitRespectsDeadline() throws {
        try withRedisServer { server throws in
            let pool = RedisPool(endpoint: server.endpoint, configuration: .init(maxConnections: 1))
            let holding = DispatchSemaphore(value: 0)
            let release = DispatchSemaphore(value: 0)
            let done = DispatchSemaphore(value: 0)
            Thread {
                _ = try? pool.withConnection(deadline: Self.deadline()) { _ in
                    holding.signal()
                    _ = release.wait(timeout: .now() + 10)
                }
                done.signal()
            }.start()
            #expect(holding.wait(timeout: .now() + 10) == .success)
            let start = DispatchTime.now()
            let error = #expect(throws: RedisError.self) {
                try pool.send(["PING"], deadline: .now() + .milliseconds(100))
            }
            #expect(Self.seconds(since: start) < 2)
            guard case .timeout(let message)? = error else {
                Issue.record("expected a timeout, got \(String(describing: error))")
                release.signal()
                return
            }
            #expect(message.contains("all 1 connections were in use"), "\(message)")
            #expect(pool.statistics().poolWaitTimeouts == 1)
            #expect(pool.statistics().inUse == 1)
            release.signal()
            #expect(done.wait(timeout: .now() + 10) == .success)
            #expect(try pool.send(["PING"], deadline: Self.deadline()) == .status("PONG"))
            #expect(pool.statistics().connects == 1)
        }
    }

    @Test("a waiting caller gets the connection another caller returns")
    func waiterGetsReturnedConnection() throws {
        try withRedisServer { server throws in
            let pool = RedisPool(endpoint: server.endpoint, configuration: .init(maxConnections: 1))
            let holding = DispatchSemaphore(value: 0)
            Thread {
                _ = try? pool.withConnection(deadline: Self.deadline()) { _ in
                    holding.signal()
                    Thread.sleep(forTimeInterval: 0.1)
                }
            }.start()
            #expect(holding.wait(timeout: .now() + 10) == .success)
            #expect(try pool.send(["PING"], deadline: Self.deadline()) == .status("PONG"))
            #expect(pool.statistics().connects == 1)
        }
    }

    @Test("a closed pool refuses calls")
    func closedPool() throws {
        try withRedisServer { server throws in
            let pool = RedisPool(endpoint: server.endpoint)
            #expect(try pool.send(["PING"], deadline: Self.deadline()) == .status("PONG"))
            pool.close()
            pool.close()
            #expect(pool.statistics().open == 0)
            let error = #expect(throws: RedisError.self) { try pool.send(["PING"], deadline: Self.deadline()) }
            guard case .unavailable(let message)? = error else {
                Issue.record("expected unavailable, got \(String(describing: error))")
                return
            }
            #expect(message.contains("closed"), "\(message)")
        }
    }
}

/// Counts the callers inside `withConnection` at once, and collects what went wrong, from many threads.
final class ConcurrencyProbe: @unchecked Sendable {
    private let lock = NSLock()
    private var busy = 0
    private var mostBusy = 0
    private var problems: [String] = []

    func enter() {
        lock.lock()
        busy += 1
        mostBusy = max(mostBusy, busy)
        lock.unlock()
    }

    func leave() {
        lock.lock()
        busy -= 1
        lock.unlock()
    }

    func report(_ problem: String) {
        lock.lock()
        problems.append(problem)
        lock.unlock()
    }

    func results() -> (problems: [String], mostBusy: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (problems, mostBusy)
    }
}
