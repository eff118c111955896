import Foundation

/// Per-item event counts over sliding windows: five-minute buckets for the last hour and hourly buckets for the last
/// day, per event kind, for at most `maxItems` items (the least recently counted are dropped first).
///
/// A window of up to an hour is answered from the five-minute buckets, a longer one (up to a day) from the hourly
/// ones, so a window is exact to its bucket: "orders in the last hour" counts the 12 five-minute buckets ending with
/// the current one. Safe to use from any thread.
public final class ItemWindowCounters: @unchecked Sendable {
    /// Width of a fine bucket.
    public static let fineMillis: Int64 = 300_000
    /// Fine buckets kept: one hour.
    public static let fineCount = 12
    /// Width of a coarse bucket.
    public static let coarseMillis: Int64 = 3_600_000
    /// Coarse buckets kept: one day.
    public static let coarseCount = 24
    /// The longest window answered.
    public static let maxWindowMillis = coarseMillis * Int64(coarseCount)

    /// Whether `millis` is a window these counters answer exactly: a multiple of five minutes up to an hour, or of
    /// an hour up to a day.
    public static func isSupportedWindow(_ millis: Int64) -> Bool {
        (millis > 0 && millis <= fineMillis * Int64(fineCount) && millis % fineMillis == 0)
            || (millis > 0 && millis <= maxWindowMillis && millis % coarseMillis == 0)
    }

    /// One kind's buckets of one item: each slot holds its bucket number (time / width) and count.
    struct Buckets {
        var fineEpoch = [Int64](repeating: -1, count: ItemWindowCounters.fineCount)
        var fine = [UInt32](repeating: 0, count: ItemWindowCounters.fineCount)
        var coarseEpoch = [Int64](repeating: -1, count: ItemWindowCounters.coarseCount)
        var coarse = [UInt32](repeating: 0, count: ItemWindowCounters.coarseCount)

        mutating func add(timeMs: Int64, count: UInt32) {
            let f = timeMs / ItemWindowCounters.fineMillis
            let fi = Int(f % Int64(ItemWindowCounters.fineCount))
            if fineEpoch[fi] != f {
                // A newer bucket takes the slot; an event older than the slot's bucket falls outside the hour.
                if fineEpoch[fi] > f { return addCoarse(timeMs: timeMs, count: count) }
                fineEpoch[fi] = f
                fine[fi] = 0
            }
            fine[fi] &+= count
            addCoarse(timeMs: timeMs, count: count)
        }

        private mutating func addCoarse(timeMs: Int64, count: UInt32) {
            let c = timeMs / ItemWindowCounters.coarseMillis
            let ci = Int(c % Int64(ItemWindowCounters.coarseCount))
            if coarseEpoch[ci] != c {
                if coarseEpoch[ci] > c { return }
                coarseEpoch[ci] = c
                coarse[ci] = 0
            }
            coarse[ci] &+= count
        }

        mutating func set(epoch: Int64, fine isFine: Bool, count: UInt32) {
            if isFine {
                let i = Int(epoch % Int64(ItemWindowCounters.fineCount))
                guard fineEpoch[i] <= epoch else { return }
                fineEpoch[i] = epoch
                fine[i] = count
            } else {
                let i = Int(epoch % Int64(ItemWindowCounters.coarseCount))
                guard coarseEpoch[i] <= epoch else { return }
                coarseEpoch[i] = epoch
                coarse[i] = count
            }
        }

        func count(windowMillis: Int64, nowMs: Int64) -> Int {
            var total = 0
            if windowMillis <= ItemWindowCounters.fineMillis * Int64(ItemWindowCounters.fineCount) {
                let last = nowMs / ItemWindowCounters.fineMillis
                let first = last - windowMillis / ItemWindowCounters.fineMillis + 1
                for i in 0..<ItemWindowCounters.fineCount where fineEpoch[i] >= first && fineEpoch[i] <= last {
                    total += Int(fine[i])
                }
            } else {
                let last = nowMs / ItemWindowCounters.coarseMillis
                let first = last - windowMillis / ItemWindowCounters.coarseMillis + 1
                for i in 0..<ItemWindowCounters.coarseCount where coarseEpoch[i] >= first && coarseEpoch[i] <= last {
                    total += Int(coarse[i])
                }
            }
            return total
        }

        static let bytes = (fineCount + coarseCount) * (8 + 4) + 4 * 16
    }

    struct Entry {
        var byKind: [EventKind: Buckets] = [:]
        var lastTouchMs: Int64 = 0
    }

    private let lock = NSLock()
    private var entries: [String: Entry] = [:]
    private var bucketCount = 0
    private var evicted = 0
    /// Most items counted at once.
    public let maxItems: Int

    public init(maxItems: Int = 100_000) {
        self.maxItems = max(1, maxItems)
    }

    /// Counts `count` events of `kind` on `itemID` at `timeMs`.
    public func add(itemID: String, kind: EventKind, timeMs: Int64, count: UInt32 = 1) {
        lock.lock()
        defer { lock.unlock() }
        if entries[itemID] == nil && entries.count >= maxItems { evictOldest() }
        var entry = entries.removeValue(forKey: itemID) ?? Entry()
        if entry.byKind[kind] == nil { bucketCount += 1 }
        entry.byKind[kind, default: Buckets()].add(timeMs: timeMs, count: count)
        entry.lastTouchMs = max(entry.lastTouchMs, timeMs)
        entries[itemID] = entry
    }

    /// Sets one bucket's count, as a mirror of counters kept elsewhere (a shared store): the five-minute bucket
    /// number `epoch` (time / ``fineMillis``) when `fine`, else the hourly one (time / ``coarseMillis``). A bucket
    /// older than the one its slot holds is ignored.
    public func set(itemID: String, kind: EventKind, epoch: Int64, fine: Bool, count: UInt32) {
        lock.lock()
        defer { lock.unlock() }
        if entries[itemID] == nil && entries.count >= maxItems { evictOldest() }
        var entry = entries.removeValue(forKey: itemID) ?? Entry()
        if entry.byKind[kind] == nil { bucketCount += 1 }
        entry.byKind[kind, default: Buckets()].set(epoch: epoch, fine: fine, count: count)
        let end = (epoch + 1) * (fine ? ItemWindowCounters.fineMillis : ItemWindowCounters.coarseMillis) - 1
        entry.lastTouchMs = max(entry.lastTouchMs, end)
        entries[itemID] = entry
    }

    /// Events of `kind` on `itemID` in the `windowMillis` ending at `nowMs` (a supported window; see
    /// ``isSupportedWindow(_:)``).
    public func count(itemID: String, kind: EventKind, windowMillis: Int64, nowMs: Int64) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return entries[itemID]?.byKind[kind]?.count(windowMillis: windowMillis, nowMs: nowMs) ?? 0
    }

    /// Counts for many items at once under one lock: `out[i]` for `itemIDs[i]`, for each (kind, window) in `queries`
    /// (`out[i * queries.count + q]`).
    public func counts(
        itemIDs: [String],
        queries: [(kind: EventKind, windowMillis: Int64)],
        nowMs: Int64
    ) -> [Int] {
        var out = [Int](repeating: 0, count: itemIDs.count * queries.count)
        lock.lock()
        defer { lock.unlock() }
        for (i, id) in itemIDs.enumerated() {
            guard let entry = entries[id] else { continue }
            for (q, query) in queries.enumerated() {
                out[i * queries.count + q] =
                    entry.byKind[query.kind]?.count(windowMillis: query.windowMillis, nowMs: nowMs) ?? 0
            }
        }
        return out
    }

    /// Items counted, approximate bytes, and items dropped to stay within `maxItems`.
    public var size: (items: Int, bytes: Int, evictions: Int) {
        lock.lock()
        defer { lock.unlock() }
        return (entries.count, bucketCount * Buckets.bytes + entries.count * 96, evicted)
    }

    /// Drops the least recently counted tenth of the items (at least one), so eviction costs O(1) per insert
    /// amortised.
    private func evictOldest() {
        let drop = max(1, entries.count / 10)
        let cutoff = entries.values.map(\.lastTouchMs).sorted()[drop - 1]
        var dropped = 0
        for (key, entry) in entries where entry.lastTouchMs <= cutoff && dropped < drop {
            bucketCount -= entry.byKind.count
            entries.removeValue(forKey: key)
            dropped += 1
        }
        evicted += dropped
    }
}
