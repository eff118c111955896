/// Stable sort of 64-bit keys by their high 32 bits (an index), low 32 bits carried along in input order.
///
/// The merge of candidate sources and the co-visitation summary each sort a few hundred to a few thousand keys
/// per request; a least-significant-digit radix sort over the bytes the largest index actually uses does that in
/// two passes instead of the standard library's comparison sort. Stability is what callers rely on: keys with
/// equal indexes keep their relative order, exactly as `sort` (also stable) leaves them.
func sortByHighWord(_ keys: inout [UInt64], scratch: inout [UInt64]) {
    let n = keys.count
    guard n > 1 else { return }
    var maxHigh: UInt64 = 0
    for k in keys { maxHigh |= k >> 32 }
    scratch.removeAll(keepingCapacity: true)
    scratch.append(contentsOf: repeatElement(0, count: n))
    var shift: UInt64 = 32
    var counts = [Int](repeating: 0, count: 257)
    while shift < 64 && (maxHigh >> (shift - 32)) != 0 {
        radixPass(&keys, &scratch, shift: shift, counts: &counts)
        shift += 8
    }
}

/// One stable counting pass of an LSD radix sort on the byte at `shift`: `keys` ends up ordered by that byte, keeping
/// the order of keys with equal bytes. `scratch` must hold as many keys as `keys`; the two are swapped.
@inline(__always)
private func radixPass(_ keys: inout [UInt64], _ scratch: inout [UInt64], shift: UInt64, counts: inout [Int]) {
    for i in counts.indices { counts[i] = 0 }
    for k in keys { counts[Int((k >> shift) & 0xFF) + 1] += 1 }
    for d in 1..<257 { counts[d] += counts[d - 1] }
    keys.withUnsafeBufferPointer { source in
        scratch.withUnsafeMutableBufferPointer { target in
            for k in source {
                let d = Int((k >> shift) & 0xFF)
                target[counts[d]] = k
                counts[d] += 1
            }
        }
    }
    swap(&keys, &scratch)
}
