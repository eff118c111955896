/// "Bought together": for each item, the items most often in the same order, with how often.
///
/// Derived from a catalog's orders (an order holds up to two items of one venue, so partners are always items of
/// the same venue). Built when a surface's configuration names a source that reads it, once per catalog, and kept
/// in the engine's state beside the catalog, so requests only read it.
struct ItemPairs: Sendable {
    /// Partners of item `k` are `partner[start[k] ..< start[k + 1]]`, most frequent first.
    let start: [Int32]
    let partner: [Int32]
    let count: [Float]

    /// Most partners kept per item: a whole menu of the demo (at most 30 items), so rare pairs are kept too.
    static let partnersPerItem = 30

    /// Counts every pair of distinct items ordered together in `catalog`.
    init(catalog: Catalog) {
        var pairs: [UInt64] = []
        pairs.reserveCapacity(catalog.orderItem.count)
        for o in catalog.orderItem.indices {
            let a = catalog.orderItem[o]
            let b = catalog.orderItem2[o]
            guard a >= 0, b >= 0, a != b else { continue }
            pairs.append(UInt64(UInt32(a)) << 32 | UInt64(UInt32(b)))
            pairs.append(UInt64(UInt32(b)) << 32 | UInt64(UInt32(a)))
        }
        pairs.sort()
        var start = [Int32](repeating: 0, count: catalog.itemCount + 1)
        var partner: [Int32] = []
        var count: [Float] = []
        var neighbours: [(item: Int32, count: Float)] = []
        var nextItem = 0
        var i = 0
        while i < pairs.count {
            let a = Int(pairs[i] >> 32)
            while nextItem <= a {
                start[nextItem] = Int32(partner.count)
                nextItem += 1
            }
            neighbours.removeAll(keepingCapacity: true)
            while i < pairs.count && Int(pairs[i] >> 32) == a {
                var j = i
                while j < pairs.count && pairs[j] == pairs[i] { j += 1 }
                neighbours.append((Int32(truncatingIfNeeded: pairs[i] & 0xFFFF_FFFF), Float(j - i)))
                i = j
            }
            neighbours.sort { ($0.count, -$0.item) > ($1.count, -$1.item) }
            for n in neighbours.prefix(ItemPairs.partnersPerItem) {
                partner.append(n.item)
                count.append(n.count)
            }
        }
        while nextItem <= catalog.itemCount {
            start[nextItem] = Int32(partner.count)
            nextItem += 1
        }
        self.start = start
        self.partner = partner
        self.count = count
    }

    /// Partners of `item` with their counts, most frequent first.
    func partners(of item: Int) -> Range<Int> { Int(start[item])..<Int(start[item + 1]) }

    /// The counts of `item`'s kept partners added up (at least 1, so shares of it are defined).
    func totalCount(of item: Int) -> Float {
        var total: Float = 0
        for k in partners(of: item) { total += count[k] }
        return max(total, 1)
    }

    /// Bytes held.
    var memoryBytes: Int { start.count * 4 + partner.count * 4 + count.count * 4 }
}
