import Dispatch
import Foundation

/// Recent interactions of one user or session, newest first, within ``OnlineLimits``.
struct RecentInteractions {
    var items: [OnlineInteraction] = []
    var lastEventMs: Int64 = 0

    /// Adds `interaction` in time order, then forgets what is beyond the per-kind count or older than the age limit.
    mutating func add(_ interaction: OnlineInteraction, nowMs: Int64, limits: OnlineLimits) {
        var at = 0
        while at < items.count && items[at].timeMs > interaction.timeMs { at += 1 }
        items.insert(interaction, at: at)
        lastEventMs = max(lastEventMs, interaction.timeMs)
        trim(nowMs: nowMs, limits: limits)
    }

    mutating func trim(nowMs: Int64, limits: OnlineLimits) {
        var perKind = [Int](repeating: 0, count: EventKind.allCases.count + 1)
        let oldest = nowMs - limits.recentMaxAgeMillis
        items.removeAll { item in
            perKind[item.kind.rawValue] += 1
            return perKind[item.kind.rawValue] > limits.recentPerKind || item.timeMs < oldest
        }
    }

    /// The interactions still within the age limit at `nowMs`.
    func current(nowMs: Int64, limits: OnlineLimits) -> [OnlineInteraction] {
        let oldest = nowMs - limits.recentMaxAgeMillis
        guard let last = items.lastIndex(where: { $0.timeMs >= oldest }) else { return [] }
        return last == items.count - 1 ? items : Array(items[...last])
    }

    var bytes: Int { 64 + items.reduce(0) { $0 + 48 + $1.itemID.utf8.count } }
}

/// The online state in this process: bounded in users, sessions and remembered event ids, each entry forgotten
/// after its age limit. What one replica stores, only that replica sees; replicas that must agree share a store
/// such as Redis instead.
public final class InProcessOnlineStore: OnlineStore, @unchecked Sendable {
    public let limits: OnlineLimits
    public let itemCounters: ItemWindowCounters
    /// Most users (and, separately, sessions) with state; beyond it the least recently active are dropped.
    public let maxUsers: Int
    /// Most event ids remembered for deduplication; beyond it the oldest are forgotten early.
    public let maxEventIDs: Int

    /// State of the users whose id hashes to one shard, under its own lock.
    private final class Shard {
        let lock = NSLock()
        var users: [String: RecentInteractions] = [:]
        var sessions: [String: RecentInteractions] = [:]
        var seen: [String: Int64] = [:]
        /// Event ids in arrival order, for forgetting the oldest first.
        var seenOrder: [(id: String, timeMs: Int64)] = []
        var seenHead = 0
        var evictions = 0
        var writes = 0
    }

    private static let shardCount = 16
    private let shards: [Shard]

    public init(
        limits: OnlineLimits = OnlineLimits(),
        maxUsers: Int = 200_000,
        maxEventIDs: Int = 2_000_000,
        maxItems: Int = 100_000
    ) {
        self.limits = limits
        self.maxUsers = max(InProcessOnlineStore.shardCount, maxUsers)
        self.maxEventIDs = max(InProcessOnlineStore.shardCount, maxEventIDs)
        itemCounters = ItemWindowCounters(maxItems: maxItems)
        shards = (0..<InProcessOnlineStore.shardCount).map { _ in Shard() }
    }

    private func shard(of userID: String) -> Shard {
        var hasher = Hasher()
        hasher.combine(userID)
        return shards[Int(UInt(bitPattern: hasher.finalize()) % UInt(shards.count))]
    }

    private static func sessionKey(_ userID: String, _ sessionID: String) -> String { userID + "\u{0}" + sessionID }

    public func write(_ events: [OnlineEvent], nowMs: Int64, deadline: DispatchTime) throws -> [Bool] {
        let perShardUsers = maxUsers / shards.count
        let perShardIDs = maxEventIDs / shards.count
        var stored = [Bool](repeating: false, count: events.count)
        for (i, event) in events.enumerated() {
            let shard = shard(of: event.userID)
            shard.lock.lock()
            shard.writes &+= 1
            if shard.writes % 4096 == 0 { sweep(shard, nowMs: nowMs) }
            let isNew = remember(event.eventID, timeMs: nowMs, in: shard, bound: perShardIDs)
            if isNew {
                let interaction = OnlineInteraction(
                    kind: event.kind,
                    itemID: event.itemID,
                    timeMs: event.timeMs,
                    value: event.value
                )
                add(interaction, key: event.userID, to: \.users, in: shard, nowMs: nowMs, bound: perShardUsers)
                if !event.sessionID.isEmpty {
                    add(
                        interaction,
                        key: InProcessOnlineStore.sessionKey(event.userID, event.sessionID),
                        to: \.sessions,
                        in: shard,
                        nowMs: nowMs,
                        bound: perShardUsers
                    )
                }
            }
            shard.lock.unlock()
            if isNew { itemCounters.add(itemID: event.itemID, kind: event.kind, timeMs: event.timeMs) }
            stored[i] = isNew
        }
        return stored
    }

    /// Forgets users and sessions whose newest interaction is past its age limit.
    private func sweep(_ shard: Shard, nowMs: Int64) {
        let userCutoff = nowMs - limits.recentMaxAgeMillis
        shard.users = shard.users.filter { $0.value.lastEventMs >= userCutoff }
        let sessionCutoff = nowMs - min(limits.sessionIdleMillis, limits.recentMaxAgeMillis)
        shard.sessions = shard.sessions.filter { $0.value.lastEventMs >= sessionCutoff }
    }

    /// Records `id` as seen; false when it already was within the deduplication window. Forgets expired ids, and the
    /// oldest beyond `bound`.
    private func remember(_ id: String, timeMs: Int64, in shard: Shard, bound: Int) -> Bool {
        let expiry = timeMs - limits.deduplicationMillis
        while shard.seenHead < shard.seenOrder.count {
            let oldest = shard.seenOrder[shard.seenHead]
            let overBound = shard.seenOrder.count - shard.seenHead >= bound
            guard oldest.timeMs < expiry || overBound else { break }
            if shard.seen[oldest.id] == oldest.timeMs { shard.seen.removeValue(forKey: oldest.id) }
            if overBound && oldest.timeMs >= expiry { shard.evictions += 1 }
            shard.seenHead += 1
        }
        if shard.seenHead > 1024 && shard.seenHead * 2 > shard.seenOrder.count {
            shard.seenOrder.removeFirst(shard.seenHead)
            shard.seenHead = 0
        }
        if let seenAt = shard.seen[id], seenAt >= expiry { return false }
        shard.seen[id] = timeMs
        shard.seenOrder.append((id, timeMs))
        return true
    }

    private func add(
        _ interaction: OnlineInteraction,
        key: String,
        to table: ReferenceWritableKeyPath<Shard, [String: RecentInteractions]>,
        in shard: Shard,
        nowMs: Int64,
        bound: Int
    ) {
        if shard[keyPath: table][key] == nil && shard[keyPath: table].count >= bound {
            // Drop the least recently active tenth, so that eviction costs O(1) per new key amortised.
            let drop = max(1, bound / 10)
            let cutoff = shard[keyPath: table].values.map(\.lastEventMs).sorted()[drop - 1]
            var dropped = 0
            for (k, v) in shard[keyPath: table] where v.lastEventMs <= cutoff && dropped < drop {
                shard[keyPath: table].removeValue(forKey: k)
                dropped += 1
            }
            shard.evictions += dropped
        }
        shard[keyPath: table][key, default: RecentInteractions()].add(interaction, nowMs: nowMs, limits: limits)
    }

    public func read(
        userID: String,
        sessionID: String,
        nowMs: Int64,
        deadline: DispatchTime
    ) throws
        -> UserOnlineState
    {
        let shard = shard(of: userID)
        shard.lock.lock()
        defer { shard.lock.unlock() }
        let user = shard.users[userID]?.current(nowMs: nowMs, limits: limits) ?? []
        var session: [OnlineInteraction] = []
        if !sessionID.isEmpty, let recent = shard.sessions[InProcessOnlineStore.sessionKey(userID, sessionID)],
            recent.lastEventMs >= nowMs - limits.sessionIdleMillis
        {
            session = recent.current(nowMs: nowMs, limits: limits)
        }
        return UserOnlineState(user: user, session: session)
    }

    public func report() -> OnlineStoreReport {
        var report = OnlineStoreReport(backend: "memory")
        for shard in shards {
            shard.lock.lock()
            report.users += shard.users.count
            report.sessions += shard.sessions.count
            report.eventIDs += shard.seen.count
            report.evictions += shard.evictions
            report.bytes += shard.users.values.reduce(0) { $0 + $1.bytes + 32 }
            report.bytes += shard.sessions.values.reduce(0) { $0 + $1.bytes + 48 }
            report.bytes += shard.seen.count * 80
            shard.lock.unlock()
        }
        let items = itemCounters.size
        report.items = items.items
        report.bytes += items.bytes
        report.evictions += items.evictions
        return report
    }
}
