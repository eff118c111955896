/// For each of `keys` indexes, its most frequent partners among the pairs `forEachPair` produces, each with how often
/// it was paired: partners of key `k` are `partner[start[k] ..< start[k + 1]]`, most frequent first, ties by the lower
/// index, at most `perKey` of them.
///
/// The catalog's co-visitation and bought-together lists are built with this at every load, from millions of pairs.
/// Rather than sorting the pairs, it buckets each key's partners (a counting sort: `forEachPair` is called twice, to
/// count and then to place them, and must produce the same pairs both times), then tallies each bucket in a dense
/// array as long as the index range and keeps the best `perKey`. The result is the same as sorting the pairs and
/// counting the runs; only the work is linear and the memory one 32-bit index per pair.
/// - Parameter forEachPair: calls its argument with every pair `(a, b)`, both indexes in `0 ..< keys`; a pair counts
///   for `a` only (callers pass both directions).
@inline(__always)
func topPartners(
    keys: Int,
    perKey: Int,
    forEachPair: ((_ a: Int32, _ b: Int32) -> Void) -> Void
) -> (start: [Int32], partner: [Int32], count: [Float]) {
    precondition(perKey > 0, "perKey must be positive")
    var bucketEnd = [Int](repeating: 0, count: keys + 1)
    bucketEnd.withUnsafeMutableBufferPointer { ends in
        forEachPair { a, _ in ends[Int(a) + 1] += 1 }
        for k in 0..<keys { ends[k + 1] += ends[k] }
    }
    // Filled from each bucket's end down, so `bucketEnd[k]` ends as the start of bucket k.
    let pairs = bucketEnd[keys]
    let partners = [Int32](unsafeUninitializedCapacity: pairs) { buffer, initialized in
        bucketEnd.withUnsafeMutableBufferPointer { ends in
            forEachPair { a, b in
                let slot = ends[Int(a) + 1] - 1
                ends[Int(a) + 1] = slot
                buffer[slot] = b
            }
        }
        initialized = pairs
    }
    // After the placing pass `bucketEnd[k + 1]` is where bucket k starts and `bucketEnd[k + 2]` where it ends, except
    // the last bucket, which ends at `pairs`.
    var start = [Int32](repeating: 0, count: keys + 1)
    var partner: [Int32] = []
    var count: [Float] = []
    partner.reserveCapacity(min(pairs, keys * perKey))
    count.reserveCapacity(min(pairs, keys * perKey))
    var tally = [Int32](repeating: 0, count: keys)
    var distinct: [Int32] = []
    var best: [(partner: Int32, count: Int32)] = []
    best.reserveCapacity(perKey + 1)
    partners.withUnsafeBufferPointer { partners in
        tally.withUnsafeMutableBufferPointer { tally in
            for k in 0..<keys {
                start[k] = Int32(partner.count)
                let first = bucketEnd[k + 1]
                let end = k + 2 <= keys ? bucketEnd[k + 2] : pairs
                guard first < end else { continue }
                distinct.removeAll(keepingCapacity: true)
                for p in first..<end {
                    let b = Int(partners[p])
                    if tally[b] == 0 { distinct.append(Int32(b)) }
                    tally[b] += 1
                }
                // The best `perKey` by (count descending, index ascending), a total order, kept sorted by insertion.
                best.removeAll(keepingCapacity: true)
                for b in distinct {
                    let n = tally[Int(b)]
                    tally[Int(b)] = 0
                    if best.count == perKey {
                        let worst = best[perKey - 1]
                        guard n > worst.count || (n == worst.count && b < worst.partner) else { continue }
                        best.removeLast()
                    }
                    var at = best.count
                    while at > 0 && (n > best[at - 1].count || (n == best[at - 1].count && b < best[at - 1].partner)) {
                        at -= 1
                    }
                    best.insert((b, n), at: at)
                }
                for entry in best {
                    partner.append(entry.partner)
                    count.append(Float(entry.count))
                }
            }
        }
    }
    start[keys] = Int32(partner.count)
    return (start, partner, count)
}
