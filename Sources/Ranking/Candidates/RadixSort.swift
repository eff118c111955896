/// Stable sort of 64-bit keys by their high 32 bits, the low 32 bits carried along in input order.
///
/// The merge of candidate sources, the co-visitation summary and the re-rank each sort a few hundred to a few
/// thousand keys per request; a least-significant-digit radix sort by bytes, skipping the bytes of the high word in
/// which no two keys differ, does that in two to four passes instead of the standard library's comparison sort.
/// Stability is what callers rely on: keys with equal high words keep their relative order, exactly as `sort` (also
/// stable) leaves them. `scratch` is a reused buffer; its contents on return are unspecified.
func sortByHighWord(_ keys: inout [UInt64], scratch: inout [UInt64]) {
    let n = keys.count
    guard n > 1 else { return }
    let bits: UInt64 = 0xFFFF_FFFF_0000_0000
    var differing: UInt64 = 0
    let first = keys[0]
    for k in keys { differing |= (k ^ first) & bits }
    guard differing != 0 else { return }
    scratch.removeAll(keepingCapacity: true)
    scratch.append(contentsOf: repeatElement(0, count: n))
    var counts = [Int](repeating: 0, count: 256)
    var shift: UInt64 = 32
    while shift < 64 {
        defer { shift += 8 }
        guard (differing >> shift) & 0xFF != 0 else { continue }
        counts.withUnsafeMutableBufferPointer { counts in
            counts.update(repeating: 0)
            keys.withUnsafeBufferPointer { source in
                for k in source { counts[Int((k >> shift) & 0xFF)] += 1 }
                var total = 0
                for d in 0..<256 {
                    let c = counts[d]
                    counts[d] = total
                    total += c
                }
                scratch.withUnsafeMutableBufferPointer { target in
                    for k in source {
                        let d = Int((k >> shift) & 0xFF)
                        target[counts[d]] = k
                        counts[d] += 1
                    }
                }
            }
        }
        swap(&keys, &scratch)
    }
}
