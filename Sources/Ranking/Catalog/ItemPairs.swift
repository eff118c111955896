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
        (start, partner, count) = catalog.orderItem.withUnsafeBufferPointer { first in
            catalog.orderItem2.withUnsafeBufferPointer { second in
                topPartners(keys: catalog.itemCount, perKey: ItemPairs.partnersPerItem) { pair in
                    for o in first.indices {
                        let a = first[o]
                        let b = second[o]
                        guard a >= 0, b >= 0, a != b else { continue }
                        pair(a, b)
                        pair(b, a)
                    }
                }
            }
        }
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
