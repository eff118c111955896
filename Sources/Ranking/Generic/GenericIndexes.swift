/// Items played next to each other in users' sessions: for item `i`, its most frequent neighbours
/// `neighbours[starts[i] ..< starts[i + 1]]` with their counts, most first. Derived once when an engine state is
/// built (never per request).
///
/// A user's history is split into sessions where two consecutive events are more than the gap apart; within a
/// session, each two consecutive consumptions (`playEvent` entries) of different items count once for the pair, in
/// both directions.
struct CoOccurrenceIndex: Sendable {
    let starts: [Int32]
    let neighbours: [Int32]
    let counts: [Float]

    /// Neighbours kept per item.
    static let keptPerItem = 60

    init(history: HistoryColumn, itemCount: Int, playEvent: UInt8?, sessionGapMs: Int64, kept: Int = keptPerItem) {
        var degree = [Int32](repeating: 0, count: itemCount + 1)
        func forEachPair(_ body: (Int, Int) -> Void) {
            for u in 0..<(history.starts.count - 1) {
                var previous = -1
                var lastTime = Int64.min
                for e in history.range(u) {
                    let time = history.times[e]
                    if lastTime != Int64.min && time - lastTime > sessionGapMs { previous = -1 }
                    lastTime = time
                    if let playEvent, history.events[e] != playEvent { continue }
                    let item = Int(history.targets[e])
                    guard item >= 0 && item < itemCount else { continue }
                    if previous >= 0 && previous != item { body(previous, item) }
                    previous = item
                }
            }
        }
        forEachPair { a, b in
            degree[a + 1] += 1
            degree[b + 1] += 1
        }
        for i in 0..<itemCount { degree[i + 1] += degree[i] }
        var fill = degree
        var raw = [Int32](repeating: 0, count: Int(degree[itemCount]))
        forEachPair { a, b in
            raw[Int(fill[a])] = Int32(b)
            fill[a] += 1
            raw[Int(fill[b])] = Int32(a)
            fill[b] += 1
        }
        var starts = [Int32](repeating: 0, count: itemCount + 1)
        var neighbours: [Int32] = []
        var counts: [Float] = []
        var runs: [(item: Int32, count: Int32)] = []
        for i in 0..<itemCount {
            let range = Int(degree[i])..<Int(degree[i + 1])
            raw[range].sort()
            runs.removeAll(keepingCapacity: true)
            for j in range {
                if let last = runs.last, last.item == raw[j] {
                    runs[runs.count - 1].count += 1
                } else {
                    runs.append((raw[j], 1))
                }
            }
            runs.sort { ($0.count, $1.item) > ($1.count, $0.item) }
            for run in runs.prefix(kept) {
                neighbours.append(run.item)
                counts.append(Float(run.count))
            }
            starts[i + 1] = Int32(neighbours.count)
        }
        self.starts = starts
        self.neighbours = neighbours
        self.counts = counts
    }

    @inline(__always)
    func range(_ i: Int) -> Range<Int> { Int(starts[i])..<Int(starts[i + 1]) }

}

/// Entities grouped by the entity they refer to (tracks by artist), each group ordered by a number attribute, most
/// first: group `r` is `items[starts[r] ..< starts[r + 1]]`.
struct ReferenceGroups: Sendable {
    let starts: [Int32]
    let items: [Int32]

    init(references: [Int32], targetCount: Int, orderBy: [Float]?) {
        var starts = [Int32](repeating: 0, count: targetCount + 1)
        for r in references where r >= 0 && Int(r) < targetCount { starts[Int(r) + 1] += 1 }
        for r in 0..<targetCount { starts[r + 1] += starts[r] }
        var fill = starts
        var items = [Int32](repeating: 0, count: Int(starts[targetCount]))
        for (i, r) in references.enumerated() where r >= 0 && Int(r) < targetCount {
            items[Int(fill[Int(r)])] = Int32(i)
            fill[Int(r)] += 1
        }
        if let orderBy {
            for r in 0..<targetCount {
                items[Int(starts[r])..<Int(starts[r + 1])].sort { GenericIndexes.before($0, $1, by: orderBy) }
            }
        }
        self.starts = starts
        self.items = items
    }

    @inline(__always)
    func group(_ r: Int) -> ArraySlice<Int32> {
        guard r >= 0 && r + 1 < starts.count else { return [] }
        return items[Int(starts[r])..<Int(starts[r + 1])]
    }
}

/// The top entities of each tag by a number attribute (popular in the genre): tag `g`'s are
/// `items[starts[g] ..< starts[g + 1]]`, most first.
struct TagTopLists: Sendable {
    let starts: [Int32]
    let items: [Int32]

    init(tags: TagColumn, orderBy: [Float]?, kept: Int) {
        let tagCount = tags.names.count
        var lists = [[Int32]](repeating: [], count: tagCount)
        for k in 0..<(tags.starts.count - 1) {
            for j in tags.range(k) where tags.codes[j] >= 0 && Int(tags.codes[j]) < tagCount {
                lists[Int(tags.codes[j])].append(Int32(k))
            }
        }
        var starts: [Int32] = [0]
        var items: [Int32] = []
        for g in 0..<tagCount {
            if let orderBy { lists[g].sort { GenericIndexes.before($0, $1, by: orderBy) } }
            items.append(contentsOf: lists[g].prefix(kept))
            starts.append(Int32(items.count))
        }
        self.starts = starts
        self.items = items
    }

    @inline(__always)
    func list(_ g: Int) -> ArraySlice<Int32> {
        guard g >= 0 && g + 1 < starts.count else { return [] }
        return items[Int(starts[g])..<Int(starts[g + 1])]
    }
}

/// Each user's favourite items: those with the most `event` entries in their history, most first (ties: the most
/// recent first), `kept` at most: user `u`'s are `items[starts[u] ..< starts[u + 1]]`.
struct UserFavourites: Sendable {
    let starts: [Int32]
    let items: [Int32]

    init(history: HistoryColumn, event: UInt8?, kept: Int) {
        let userCount = history.starts.count - 1
        var starts = [Int32](repeating: 0, count: userCount + 1)
        var items: [Int32] = []
        var entries: [(item: Int32, last: Int)] = []
        var runs: [(item: Int32, count: Int, last: Int)] = []
        for u in 0..<userCount {
            entries.removeAll(keepingCapacity: true)
            for e in history.range(u) where event == nil || history.events[e] == event! {
                entries.append((history.targets[e], e))
            }
            entries.sort { ($0.item, $0.last) < ($1.item, $1.last) }
            runs.removeAll(keepingCapacity: true)
            for entry in entries {
                if let last = runs.last, last.item == entry.item {
                    runs[runs.count - 1].count += 1
                    runs[runs.count - 1].last = entry.last
                } else {
                    runs.append((entry.item, 1, entry.last))
                }
            }
            runs.sort { ($0.count, $0.last) > ($1.count, $1.last) }
            for run in runs.prefix(kept) { items.append(run.item) }
            starts[u + 1] = Int32(items.count)
        }
        self.starts = starts
        self.items = items
    }

    @inline(__always)
    func of(_ u: Int) -> ArraySlice<Int32> { items[Int(starts[u])..<Int(starts[u + 1])] }
}

/// Embeddings scaled to unit length (zero rows stay zero), so a dot product is a cosine.
struct UnitEmbeddings: Sendable {
    let dimension: Int
    let values: [Float]

    init(_ column: EmbeddingColumn) {
        dimension = column.dimension
        var values = column.values
        let d = dimension
        for k in 0..<(d == 0 ? 0 : values.count / d) {
            var norm: Float = 0
            for j in 0..<d { norm += values[k * d + j] * values[k * d + j] }
            guard norm > 0 else { continue }
            let scale = 1 / norm.squareRoot()
            for j in 0..<d { values[k * d + j] *= scale }
        }
        self.values = values
    }

    /// The dot product of row `k` with `query` (`dimension` floats).
    @inline(__always)
    func dot(_ k: Int, _ query: UnsafeBufferPointer<Float>) -> Float {
        guard dimension > 0, let q = query.baseAddress else { return 0 }
        return values.withUnsafeBufferPointer { v in embeddingDot(v.baseAddress! + k * dimension, q, count: dimension) }
    }
}

/// Helpers shared by the indexes.
enum GenericIndexes {
    /// Descending by `by` (NaN last), then ascending position: a total order, so lists are the same on every run.
    @inline(__always)
    static func before(_ a: Int32, _ b: Int32, by: [Float]) -> Bool {
        let x = by[Int(a)]
        let y = by[Int(b)]
        let xv = x.isNaN ? -Float.infinity : x
        let yv = y.isNaN ? -Float.infinity : y
        return xv != yv ? xv > yv : a < b
    }
}
