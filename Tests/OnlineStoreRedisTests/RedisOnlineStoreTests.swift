import Dispatch
import Foundation
import OnlineStoreRedis
import Ranking
import RedisClient
import RedisTestSupport
import Testing

/// The online state in a real redis-server: what one store writes another reads, each event once, the item counters
/// mirrored, every key with a TTL, and a server that dies or comes back.
@Suite(.serialized) struct RedisOnlineStoreTests {
    static let now: Int64 = 1_780_000_000_000
    static var later: DispatchTime { .now() + .seconds(5) }

    static func event(
        _ id: String,
        user: String = "u1",
        session: String = "",
        kind: EventKind = .order,
        item: String = "v1",
        at: Int64 = now,
        value: Double = 0
    ) -> OnlineEvent {
        OnlineEvent(eventID: id, userID: user, sessionID: session, kind: kind, itemID: item, timeMs: at, value: value)
    }

    /// Two replicas' stores on one real redis-server, stopped afterwards.
    static func withTwoReplicas(
        _ body: (RedisServer, RedisOnlineStore, RedisOnlineStore) throws -> Void
    ) throws {
        try withRedisServer { server in
            let a = RedisOnlineStore(endpoint: server.endpoint)
            let b = RedisOnlineStore(endpoint: server.endpoint)
            defer {
                a.stop()
                b.stop()
            }
            try body(server, a, b)
        }
    }

    @Test func whatOneReplicaStoresAnotherReadsInOneRoundTrip() throws {
        try Self.withTwoReplicas { server, a, b in
            let stored = try a.write(
                [
                    Self.event("e1", session: "s1", kind: .click, item: "v7", at: Self.now - 2000),
                    Self.event("e2", session: "s1", item: "v7|odd id", at: Self.now - 1000, value: 23.5),
                    Self.event("e3", session: "s2", kind: .view, item: "v9"),
                ],
                nowMs: Self.now,
                deadline: Self.later
            )
            #expect(stored == [true, true, true])
            let before = b.report().roundTrips
            let state = try b.read(userID: "u1", sessionID: "s1", nowMs: Self.now, deadline: Self.later)
            #expect(b.report().roundTrips - before == 1)
            #expect(state.user.map(\.itemID) == ["v9", "v7|odd id", "v7"])
            #expect(
                state.user[1]
                    == OnlineInteraction(kind: .order, itemID: "v7|odd id", timeMs: Self.now - 1000, value: 23.5)
            )
            #expect(state.session.map(\.itemID) == ["v7|odd id", "v7"])
            // The same store through both: the in-process store gives the same answer for the same events.
            let memory = InProcessOnlineStore()
            _ = try memory.write(
                [
                    Self.event("e1", session: "s1", kind: .click, item: "v7", at: Self.now - 2000),
                    Self.event("e2", session: "s1", item: "v7|odd id", at: Self.now - 1000, value: 23.5),
                    Self.event("e3", session: "s2", kind: .view, item: "v9"),
                ],
                nowMs: Self.now,
                deadline: Self.later
            )
            #expect(try memory.read(userID: "u1", sessionID: "s1", nowMs: Self.now, deadline: Self.later) == state)
        }
    }

    @Test func eachEventIsStoredOnceWhicheverReplicaSeesItAgain() throws {
        try Self.withTwoReplicas { server, a, b in
            #expect(try a.write([Self.event("e1")], nowMs: Self.now, deadline: Self.later) == [true])
            #expect(
                try b.write([Self.event("e1"), Self.event("e2")], nowMs: Self.now, deadline: Self.later) == [
                    false, true,
                ]
            )
            // A server that lost its scripts (restarted, flushed) gets the script again; nothing is stored twice.
            _ = try RedisPool(endpoint: server.endpoint).send(["SCRIPT", "FLUSH"], deadline: Self.later)
            #expect(
                try a.write([Self.event("e2"), Self.event("e3")], nowMs: Self.now, deadline: Self.later) == [
                    false, true,
                ]
            )
            let state = try a.read(userID: "u1", sessionID: "", nowMs: Self.now, deadline: Self.later)
            #expect(state.user.count == 3)
        }
    }

    @Test func listsAreBoundedPerKindAndEveryKeyHasATTL() throws {
        try withRedisServer { server in
            var limits = OnlineLimits()
            limits.recentPerKind = 3
            let store = RedisOnlineStore(endpoint: server.endpoint, limits: limits)
            defer { store.stop() }
            let events = (0..<5).map {
                Self.event("e\($0)", session: "s", kind: .click, item: "v\($0)", at: Self.now + Int64($0))
            }
            _ = try store.write(events, nowMs: Self.now, deadline: Self.later)
            let state = try store.read(userID: "u1", sessionID: "s", nowMs: Self.now + 10, deadline: Self.later)
            #expect(state.user.map(\.itemID) == ["v4", "v3", "v2"])
            #expect(state.session.map(\.itemID) == ["v4", "v3", "v2"])
            let pool = RedisPool(endpoint: server.endpoint)
            defer { pool.close() }
            let keys = try pool.send(["KEYS", "*"], deadline: Self.later).arrayValue ?? []
            // Five event ids, the user's and the session's list, two buckets and the counters' change log.
            #expect(keys.count == 5 + 2 + 2 + 1)
            for key in keys {
                let ttl = try pool.send(["PTTL", RedisArgument(key.bytesValue ?? [])], deadline: Self.later)
                #expect((ttl.integerValue ?? -1) > 0, "\(key.stringValue ?? "?") has no TTL")
            }
            // Every user key carries the user's hash tag, so one script touches one Cluster slot.
            let userKeys = keys.compactMap(\.stringValue).filter { !$0.hasPrefix("rk:{items}:") }
            #expect(userKeys.allSatisfy { $0.hasPrefix("rk:{u2:u1}:") })
            #expect(userKeys.count == 5 + 2)
        }
    }

    @Test func itemCountersAreSharedAndMirrored() throws {
        try Self.withTwoReplicas { server, a, b in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            _ = try a.write(
                [
                    Self.event("e1", user: "u1", item: "v5", at: now),
                    Self.event("e2", user: "u2", item: "v5", at: now),
                    Self.event("e3", user: "u3", kind: .click, item: "v5", at: now),
                    Self.event("e4", user: "u3", item: "v6", at: now - 2 * 3_600_000),
                ],
                nowMs: now,
                deadline: Self.later
            )
            b.refreshNow(nowMs: now)
            #expect(b.itemCounters.count(itemID: "v5", kind: .order, windowMillis: 3_600_000, nowMs: now) == 2)
            #expect(b.itemCounters.count(itemID: "v5", kind: .click, windowMillis: 3_600_000, nowMs: now) == 1)
            #expect(b.itemCounters.count(itemID: "v6", kind: .order, windowMillis: 3_600_000, nowMs: now) == 0)
            #expect(b.itemCounters.count(itemID: "v6", kind: .order, windowMillis: 86_400_000, nowMs: now) == 1)
        }
    }

    @Test func theMirrorReadsTheCountersWholeOnceThenOnlyWhatChanged() throws {
        try Self.withTwoReplicas { server, a, b in
            let now = Int64(Date().timeIntervalSince1970 * 1000)
            func orders(_ item: String) -> Int {
                b.itemCounters.count(itemID: item, kind: .order, windowMillis: 3_600_000, nowMs: now)
            }
            _ = try a.write([Self.event("e1", user: "u1", item: "v5", at: now)], nowMs: now, deadline: Self.later)
            b.refreshNow(nowMs: now)
            #expect(orders("v5") == 1)
            #expect(b.mirrorReadCounts.whole == 1 && b.mirrorReadCounts.changes == 0)
            // Nothing new: nothing read.
            b.refreshNow(nowMs: now)
            #expect(b.mirrorReadCounts.whole == 1 && b.mirrorReadCounts.changes == 0)
            // Two writes: two log entries, each event counted once.
            _ = try a.write(
                [Self.event("e2", user: "u2", item: "v5", at: now), Self.event("e3", user: "u2", item: "v6", at: now)],
                nowMs: now,
                deadline: Self.later
            )
            _ = try a.write([Self.event("e4", user: "u3", item: "v5", at: now)], nowMs: now, deadline: Self.later)
            // A repeat is stored by neither the counters nor the log.
            _ = try a.write([Self.event("e4", user: "u3", item: "v5", at: now)], nowMs: now, deadline: Self.later)
            b.refreshNow(nowMs: now)
            #expect(orders("v5") == 3 && orders("v6") == 1)
            #expect(b.mirrorReadCounts.whole == 1 && b.mirrorReadCounts.changes == 2)
            // A log trimmed past what was read: the counters are read whole again, and still counted once.
            _ = try a.write([Self.event("e5", user: "u4", item: "v6", at: now)], nowMs: now, deadline: Self.later)
            let pool = RedisPool(endpoint: server.endpoint)
            defer { pool.close() }
            _ = try pool.send(["XTRIM", RedisArgument(a.counterLogKey), "MAXLEN", 0], deadline: Self.later)
            b.refreshNow(nowMs: now)
            #expect(orders("v5") == 3 && orders("v6") == 2)
            #expect(b.mirrorReadCounts.whole == 2)
            // A replica that starts late reads the counters whole, then follows the log.
            let c = RedisOnlineStore(endpoint: server.endpoint)
            defer { c.stop() }
            c.refreshNow(nowMs: now)
            _ = try a.write([Self.event("e6", user: "u5", item: "v6", at: now)], nowMs: now, deadline: Self.later)
            c.refreshNow(nowMs: now)
            #expect(c.itemCounters.count(itemID: "v6", kind: .order, windowMillis: 3_600_000, nowMs: now) == 3)
            #expect(c.mirrorReadCounts.whole == 1 && c.mirrorReadCounts.changes == 1)
        }
    }

    @Test func aDeadServerIsUnavailableFastAndTheStoreRecoversByItself() throws {
        try withRedisServer { server in
            let store = RedisOnlineStore(endpoint: server.endpoint)
            defer { store.stop() }
            _ = try store.write([Self.event("e1")], nowMs: Self.now, deadline: Self.later)
            server.kill()
            let started = DispatchTime.now()
            #expect(throws: OnlineStoreError.self) {
                try store.read(userID: "u1", sessionID: "", nowMs: Self.now, deadline: Self.later)
            }
            #expect(throws: OnlineStoreError.self) {
                try store.write([Self.event("e2")], nowMs: Self.now, deadline: Self.later)
            }
            // Refused, not waited for: far below the five seconds each call was allowed.
            #expect(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds < 2_000_000_000)
            try server.restart()
            var recovered: UserOnlineState?
            for _ in 0..<100 where recovered == nil {
                recovered = try? store.read(userID: "u1", sessionID: "", nowMs: Self.now, deadline: Self.later)
                if recovered == nil { Thread.sleep(forTimeInterval: 0.05) }
            }
            // A restarted server without persistence has lost the state, and takes writes again.
            #expect(recovered == .empty)
            #expect(try store.write([Self.event("e2")], nowMs: Self.now, deadline: Self.later) == [true])
            #expect(store.report().failures > 0)
        }
    }

    @Test func aPausedServerMakesAReadMissItsDeadlineNotHang() throws {
        try withRedisServer { server in
            let store = RedisOnlineStore(endpoint: server.endpoint)
            defer { store.stop() }
            _ = try store.read(userID: "u1", sessionID: "", nowMs: Self.now, deadline: Self.later)
            server.pause()
            defer { server.resume() }
            let started = DispatchTime.now()
            #expect(throws: OnlineStoreError.self) {
                try store.read(userID: "u1", sessionID: "", nowMs: Self.now, deadline: .now() + .milliseconds(20))
            }
            #expect(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds < 1_000_000_000)
        }
    }
}
