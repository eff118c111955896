import Dispatch
import Foundation
import Ranking
import RedisClient

/// The online state in Redis, shared by every replica that names the same server (`rankd --online-store
/// redis://HOST:PORT`). docs/events.md lists the keys.
///
/// - A user's keys share one hash tag (`{u<length>:<user id>}`), so each event is stored by one script on one slot of
///   a Redis Cluster: its id is remembered and its interaction appended, or neither.
/// - A read of one user (recent interactions of the user and of the session) is one pipelined round trip.
/// - Item counters are hashes per event kind and time bucket, incremented when an event is stored and mirrored into
///   this process every ``refreshInterval`` by a background thread, so that features read them without a round trip.
///   The mirror reads the counters whole once (at start, and again after Redis was unreachable or its change log was
///   trimmed past what the mirror had read); after that it reads only what changed: each write also appends its
///   stored events to a stream, ``counterLogKey``, which every replica reads from where it stopped.
/// - Every key has a TTL.
public final class RedisOnlineStore: OnlineStore, @unchecked Sendable {
    public let limits: OnlineLimits
    /// The mirror of the shared item counters.
    public let itemCounters: ItemWindowCounters
    /// Prefix of every key.
    public let prefix: String
    /// How often the item counters are mirrored.
    public let refreshInterval: DispatchTimeInterval

    private let pool: RedisPool
    private let lock = NSLock()
    /// The store script's SHA-1 as Redis gave it when loaded; nil until the first write.
    private var scriptSHA: String?
    /// Round trips by purpose: a request's read, a batch's writes, the item counters' mirror.
    private var roundTrips = (reads: 0, writes: 0, refreshes: 0)
    private var stopped = false
    /// The change log entry the mirror has read up to; nil: the mirror must read the counters whole.
    private var mirroredUpTo: String?
    /// Whole reads of the counters and change-log entries read.
    private var mirrorReads = (whole: 0, changes: 0)
    /// How often the mirror read the counters whole, and how many change-log entries it read.
    public var mirrorReadCounts: (whole: Int, changes: Int) { lock.withLock { mirrorReads } }
    /// Change-log entries kept: a few minutes of writes at thousands of batches a second. A replica that falls
    /// further behind reads the counters whole again.
    static let counterLogLength = 500_000
    /// Change-log entries read per round trip, and round trips per refresh at most (the rest waits for the next).
    static let counterLogBatch = 2_000
    static let counterLogBatchesPerRefresh = 50

    /// Stores an event if its id is new: remembers the id, appends the interaction to the user's list of its kind
    /// (and the session's), trims each to the per-kind bound and renews the TTLs. 1: stored; 0: a repeat.
    ///
    /// KEYS: the id, the user's list, and the session's list when the event has a session. ARGV: the entry, the
    /// per-kind bound, the list TTL, the id TTL and the session TTL (all ms).
    static let storeScript = """
        if not redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[4]) then return 0 end
        redis.call('LPUSH', KEYS[2], ARGV[1])
        redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[2]) - 1)
        redis.call('PEXPIRE', KEYS[2], ARGV[3])
        if KEYS[3] then
          redis.call('LPUSH', KEYS[3], ARGV[1])
          redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[2]) - 1)
          redis.call('PEXPIRE', KEYS[3], ARGV[5])
        end
        return 1
        """

    /// - Parameters:
    ///   - endpoint: `redis://HOST:PORT`.
    ///   - connections: the most connections open at once (one per worker thread is plenty).
    public init(
        endpoint: RedisEndpoint,
        limits: OnlineLimits = OnlineLimits(),
        prefix: String = "rk",
        connections: Int = 8,
        maxItems: Int = 100_000,
        refreshInterval: DispatchTimeInterval = .seconds(1)
    ) {
        self.limits = limits
        self.prefix = prefix
        self.refreshInterval = refreshInterval
        itemCounters = ItemWindowCounters(maxItems: maxItems)
        pool = RedisPool(
            endpoint: endpoint,
            configuration: RedisPool.Configuration(
                maxConnections: max(1, connections),
                connectTimeout: .milliseconds(200),
                initialBackoff: .milliseconds(50),
                maximumBackoff: .milliseconds(500)
            )
        )
    }

    /// Starts mirroring the item counters on a thread of its own, until ``stop()``.
    public func startRefreshing() {
        Thread.detachNewThread { [self] in
            while !lock.withLock({ stopped }) {
                refreshNow(nowMs: Int64(Date().timeIntervalSince1970 * 1000))
                Thread.sleep(forTimeInterval: refreshInterval.seconds)
            }
        }
    }

    /// Stops the refresher and closes the connections.
    public func stop() {
        lock.withLock { stopped = true }
        pool.close()
    }

    // MARK: Keys

    /// The hash tag of a user's keys: the id with its length, so that no id can make another user's keys.
    func userTag(_ userID: String) -> String { "{u\(userID.utf8.count):\(userID)}" }
    func eventKey(_ userID: String, _ eventID: String) -> String { "\(prefix):\(userTag(userID)):e:\(eventID)" }
    func userListKey(_ userID: String, _ kind: EventKind) -> String {
        "\(prefix):\(userTag(userID)):r:\(kind.rawValue)"
    }
    func sessionListKey(_ userID: String, _ sessionID: String, _ kind: EventKind) -> String {
        "\(prefix):\(userTag(userID)):s\(sessionID.utf8.count):\(sessionID):\(kind.rawValue)"
    }
    func itemBucketKey(_ kind: EventKind, fine: Bool, epoch: Int64) -> String {
        "\(prefix):{items}:\(kind.rawValue):\(fine ? "5m" : "1h"):\(epoch)"
    }
    /// The stream of counter changes: one entry per write, a field per stored event (`kind|time|item`). It shares
    /// the counters' hash tag, so a write's increments and its entry are one transaction on one Cluster slot.
    public var counterLogKey: String { "\(prefix):{items}:log" }

    /// An interaction as stored: `time|value|item`, the item last so that it may hold any byte.
    static func entry(_ event: OnlineEvent) -> String { "\(event.timeMs)|\(event.value)|\(event.itemID)" }

    static func interaction(_ bytes: [UInt8], kind: EventKind) -> OnlineInteraction? {
        guard let first = bytes.firstIndex(of: UInt8(ascii: "|")),
            let second = bytes[(first + 1)...].firstIndex(of: UInt8(ascii: "|")),
            let time = Int64(String(decoding: bytes[..<first], as: UTF8.self)),
            let value = Double(String(decoding: bytes[(first + 1)..<second], as: UTF8.self))
        else { return nil }
        return OnlineInteraction(
            kind: kind,
            itemID: String(decoding: bytes[(second + 1)...], as: UTF8.self),
            timeMs: time,
            value: value
        )
    }

    // MARK: Writes

    public func write(_ events: [OnlineEvent], nowMs: Int64, deadline: DispatchTime) throws -> [Bool] {
        guard !events.isEmpty else { return [] }
        var stored = [Bool?](repeating: nil, count: events.count)
        // Each event once by its script; a server that lost the script (restarted, flushed) gets it again.
        var sha = try lock.withLock({ scriptSHA }) ?? loadScript(deadline: deadline)
        for attempt in 0..<2 {
            let pending = events.indices.filter { stored[$0] == nil }
            lock.withLock { roundTrips.writes += 1 }
            let replies = try run(pending.map { store(events[$0], sha: sha) }, deadline: deadline)
            var missing = false
            for (k, i) in pending.enumerated() {
                switch replies[k] {
                case .integer(let value): stored[i] = value == 1
                case .error(let message) where message.hasPrefix("NOSCRIPT") && attempt == 0: missing = true
                case let other:
                    throw OnlineStoreError.unavailable("Redis answered \(other) to storing an event")
                }
            }
            guard missing else { break }
            sha = try loadScript(deadline: deadline)
        }
        guard !stored.contains(nil) else {
            throw OnlineStoreError.unavailable("Redis lost the store script twice in one write")
        }
        let result = stored.map { $0 ?? false }
        // The item counters of the stored events, in a second round trip (their keys are not the user's slot).
        var counters: [RedisCommand] = []
        for (event, isNew) in zip(events, result) where isNew {
            for fine in [true, false] {
                let width = fine ? ItemWindowCounters.fineMillis : ItemWindowCounters.coarseMillis
                let key = RedisArgument(itemBucketKey(event.kind, fine: fine, epoch: event.timeMs / width))
                let keep = fine ? 2 * ItemWindowCounters.coarseMillis : ItemWindowCounters.maxWindowMillis + width
                counters.append(["HINCRBY", key, RedisArgument(event.itemID), 1])
                counters.append(["PEXPIRE", key, RedisArgument(keep)])
            }
        }
        if !counters.isEmpty {
            var change: RedisCommand = [
                "XADD", RedisArgument(counterLogKey), "MAXLEN", "~", RedisArgument(Self.counterLogLength), "*",
            ]
            for (k, (event, isNew)) in zip(events, result).enumerated() where isNew {
                change += [RedisArgument(k), RedisArgument("\(event.kind.rawValue)|\(event.timeMs)|\(event.itemID)")]
            }
            counters.append(change)
            counters.append([
                "PEXPIRE", RedisArgument(counterLogKey), RedisArgument(2 * ItemWindowCounters.coarseMillis),
            ])
            // One transaction, so that a replica reading the counters whole sees a write's increments and its log
            // entry both or neither.
            lock.withLock { roundTrips.writes += 1 }
            let replies = try run([["MULTI"]] + counters + [["EXEC"]], deadline: deadline)
            let results = replies.last?.arrayValue ?? []
            if let failed = (replies + results).first(where: { $0.errorMessage != nil })
                ?? (results.isEmpty ? replies.last : nil)
            {
                throw OnlineStoreError.unavailable("Redis refused an item counter update: \(failed)")
            }
        }
        return result
    }

    /// Loads the store script and remembers its SHA-1.
    private func loadScript(deadline: DispatchTime) throws -> String {
        let reply = try run([["SCRIPT", "LOAD", RedisArgument(Self.storeScript)]], deadline: deadline)
        guard let sha = reply.first?.stringValue, reply.first?.errorMessage == nil else {
            throw OnlineStoreError.unavailable("Redis did not load the store script: \(reply)")
        }
        lock.withLock { scriptSHA = sha }
        return sha
    }

    private func store(_ event: OnlineEvent, sha: String) -> RedisCommand {
        var command: RedisCommand = [
            "EVALSHA", RedisArgument(sha), event.sessionID.isEmpty ? 2 : 3,
            RedisArgument(eventKey(event.userID, event.eventID)), RedisArgument(userListKey(event.userID, event.kind)),
        ]
        if !event.sessionID.isEmpty {
            command.append(RedisArgument(sessionListKey(event.userID, event.sessionID, event.kind)))
        }
        command += [
            RedisArgument(Self.entry(event)), RedisArgument(limits.recentPerKind),
            RedisArgument(limits.recentMaxAgeMillis), RedisArgument(limits.deduplicationMillis),
            RedisArgument(min(limits.sessionIdleMillis, limits.recentMaxAgeMillis)),
        ]
        return command
    }

    // MARK: Reads

    public func read(
        userID: String,
        sessionID: String,
        nowMs: Int64,
        deadline: DispatchTime
    ) throws
        -> UserOnlineState
    {
        var commands: [RedisCommand] = EventKind.allCases.map {
            ["LRANGE", RedisArgument(userListKey(userID, $0)), 0, -1]
        }
        if !sessionID.isEmpty {
            commands += EventKind.allCases.map {
                ["LRANGE", RedisArgument(sessionListKey(userID, sessionID, $0)), 0, -1]
            }
        }
        lock.withLock { roundTrips.reads += 1 }
        let replies = try run(commands, deadline: deadline)
        let oldest = nowMs - limits.recentMaxAgeMillis
        func interactions(_ replies: ArraySlice<RedisReply>) -> [OnlineInteraction] {
            var found: [OnlineInteraction] = []
            for (kind, reply) in zip(EventKind.allCases, replies) {
                for element in reply.arrayValue ?? [] {
                    guard let bytes = element.bytesValue, let interaction = Self.interaction(bytes, kind: kind),
                        interaction.timeMs >= oldest
                    else { continue }
                    found.append(interaction)
                }
            }
            // Newest first; a stable order for equal times.
            return found.enumerated().sorted {
                ($0.element.timeMs, -$0.offset) > ($1.element.timeMs, -$1.offset)
            }.map(\.element)
        }
        let kinds = EventKind.allCases.count
        var session: [OnlineInteraction] = []
        if !sessionID.isEmpty {
            session = interactions(replies[kinds...])
            // A session idle for longer than the limit is over, whatever its keys still hold.
            if let newest = session.first?.timeMs, newest < nowMs - limits.sessionIdleMillis { session = [] }
        }
        return UserOnlineState(user: interactions(replies[..<kinds]), session: session)
    }

    // MARK: Item counters

    /// Brings ``itemCounters`` up to date: the changes written since the last refresh, read from the change log; or,
    /// the first time, after a failure, or when the log was trimmed past what was read, every bucket of the window
    /// read whole, atomically with the log's newest entry, so that the changes after it are neither lost nor counted
    /// twice.
    public func refreshNow(nowMs: Int64) {
        lock.withLock { roundTrips.refreshes += 1 }
        do {
            if let from = lock.withLock({ mirroredUpTo }), try readChanges(after: from) { return }
            try readWhole(nowMs: nowMs)
        } catch {
            // Read everything again once Redis is back (the failure is in the pool's counters).
            lock.withLock { mirroredUpTo = nil }
        }
    }

    /// Reads the change log after `from` into the mirror; false when the log no longer holds `from` (trimmed, or
    /// flushed), so changes may have been lost and the counters must be read whole.
    private func readChanges(after from: String) throws -> Bool {
        var last = from
        for _ in 0..<Self.counterLogBatchesPerRefresh {
            // The first entry is read after the new ones: trimming only ever moves it forward, so if it is not past
            // `last` now, nothing after `last` was trimmed before the read.
            let replies = try run(
                [
                    [
                        "XREAD", "COUNT", RedisArgument(Self.counterLogBatch), "STREAMS", RedisArgument(counterLogKey),
                        RedisArgument(last),
                    ],
                    ["XRANGE", RedisArgument(counterLogKey), "-", "+", "COUNT", 1],
                ],
                deadline: .now() + .seconds(2)
            )
            let entries = replies[0].arrayValue?.first?.arrayValue?.dropFirst().first?.arrayValue ?? []
            let first = replies[1].arrayValue?.first?.arrayValue?.first?.stringValue
            guard last == "0-0" || first.map({ !Self.streamID($0, isAfter: last) }) == true else { return false }
            var read = 0
            for entry in entries {
                guard let parts = entry.arrayValue, parts.count == 2, let id = parts[0].stringValue else { continue }
                apply(changes: parts[1].arrayValue ?? [])
                last = id
                read += 1
            }
            lock.withLock {
                mirroredUpTo = last
                mirrorReads.changes += read
            }
            if entries.count < Self.counterLogBatch { break }
        }
        return true
    }

    /// Adds one change-log entry's events (`kind|time|item` values) to the mirror.
    private func apply(changes fields: [RedisReply]) {
        var k = 1
        while k < fields.count {
            defer { k += 2 }
            guard let bytes = fields[k].bytesValue,
                let first = bytes.firstIndex(of: UInt8(ascii: "|")),
                let second = bytes[(first + 1)...].firstIndex(of: UInt8(ascii: "|")),
                let raw = Int(String(decoding: bytes[..<first], as: UTF8.self)),
                let kind = EventKind(rawValue: raw),
                let time = Int64(String(decoding: bytes[(first + 1)..<second], as: UTF8.self))
            else { continue }
            itemCounters.add(itemID: String(decoding: bytes[(second + 1)...], as: UTF8.self), kind: kind, timeMs: time)
        }
    }

    /// Reads every bucket of the window whole, with the change log's newest entry in the same transaction.
    private func readWhole(nowMs: Int64) throws {
        var buckets: [(kind: EventKind, fine: Bool, epoch: Int64)] = []
        for kind in EventKind.allCases {
            let fineNow = nowMs / ItemWindowCounters.fineMillis
            let coarseNow = nowMs / ItemWindowCounters.coarseMillis
            for k in 0..<ItemWindowCounters.fineCount { buckets.append((kind, true, fineNow - Int64(k))) }
            for k in 0..<ItemWindowCounters.coarseCount { buckets.append((kind, false, coarseNow - Int64(k))) }
        }
        let commands: [RedisCommand] =
            [["MULTI"], ["XREVRANGE", RedisArgument(counterLogKey), "+", "-", "COUNT", 1]]
            + buckets.map { ["HGETALL", RedisArgument(itemBucketKey($0.kind, fine: $0.fine, epoch: $0.epoch))] }
            + [["EXEC"]]
        let replies = try run(commands, deadline: .now() + .seconds(2))
        guard let results = replies.last?.arrayValue, results.count == buckets.count + 1 else {
            throw OnlineStoreError.unavailable(
                "Redis did not run the counters' read: \(replies.last.map { "\($0)" } ?? "")"
            )
        }
        let newest = results[0].arrayValue?.first?.arrayValue?.first?.stringValue ?? "0-0"
        for (bucket, reply) in zip(buckets, results.dropFirst()) {
            let fields = reply.arrayValue ?? []
            var k = 0
            while k + 1 < fields.count {
                if let item = fields[k].stringValue, let count = fields[k + 1].integerValue, count > 0 {
                    itemCounters.set(
                        itemID: item,
                        kind: bucket.kind,
                        epoch: bucket.epoch,
                        fine: bucket.fine,
                        count: UInt32(clamping: count)
                    )
                }
                k += 2
            }
        }
        lock.withLock {
            mirroredUpTo = newest
            mirrorReads.whole += 1
        }
    }

    /// Whether stream id `a` (`ms-seq`) comes after `b`.
    static func streamID(_ a: String, isAfter b: String) -> Bool {
        func parts(_ id: String) -> (UInt64, UInt64) {
            let split = id.split(separator: "-", maxSplits: 1)
            return (UInt64(split.first ?? "") ?? 0, split.count > 1 ? UInt64(split[1]) ?? 0 : 0)
        }
        return parts(a) > parts(b)
    }

    // MARK: Round trips

    private func run(_ commands: [RedisCommand], deadline: DispatchTime) throws -> [RedisReply] {
        do {
            return try pool.pipeline(commands, deadline: deadline)
        } catch let error as RedisError {
            throw OnlineStoreError.unavailable(error.description)
        }
    }

    public func report() -> OnlineStoreReport {
        var report = OnlineStoreReport(backend: "redis")
        let items = itemCounters.size
        report.items = items.items
        report.bytes = items.bytes
        report.evictions = items.evictions
        let statistics = pool.statistics()
        report.roundTrips = Int(clamping: statistics.roundTrips)
        (report.readRoundTrips, report.writeRoundTrips, report.refreshRoundTrips) = lock.withLock {
            (roundTrips.reads, roundTrips.writes, roundTrips.refreshes)
        }
        report.failures = Int(
            clamping: statistics.timeouts + statistics.connectionErrors + statistics.protocolErrors
                + statistics.unavailable + statistics.poolWaitTimeouts
        )
        return report
    }
}

extension DispatchTimeInterval {
    /// The interval in seconds (never: a day).
    var seconds: Double {
        switch self {
        case .seconds(let s): return Double(s)
        case .milliseconds(let ms): return Double(ms) / 1e3
        case .microseconds(let us): return Double(us) / 1e6
        case .nanoseconds(let ns): return Double(ns) / 1e9
        case .never: return 86_400
        @unknown default: return 1
        }
    }
}
