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
    // The four bytes' counts in one read of the keys, side by side: four independent increments per key overlap,
    // where one byte's counts alone wait on each other whenever neighbouring keys share that byte.
    var counts = [Int32](repeating: 0, count: 4 * 256)
    var differing: UInt64 = 0
    counts.withUnsafeMutableBufferPointer { counts in
        keys.withUnsafeBufferPointer { source in
            let first = source[0]
            for k in source {
                differing |= k ^ first
                counts[Int((k >> 32) & 0xFF)] &+= 1
                counts[256 + Int((k >> 40) & 0xFF)] &+= 1
                counts[512 + Int((k >> 48) & 0xFF)] &+= 1
                counts[768 + Int(k >> 56)] &+= 1
            }
        }
    }
    guard differing >> 32 != 0 else { return }
    scratch.removeAll(keepingCapacity: true)
    scratch.append(contentsOf: repeatElement(0, count: n))
    for byte in 0..<4 {
        let shift = UInt64(32 + 8 * byte)
        guard (differing >> shift) & 0xFF != 0 else { continue }
        counts.withUnsafeMutableBufferPointer { all in
            let counts = UnsafeMutableBufferPointer(rebasing: all[(256 * byte)..<(256 * byte + 256)])
            var total: Int32 = 0
            for d in 0..<256 {
                let c = counts[d]
                counts[d] = total
                total &+= c
            }
            keys.withUnsafeBufferPointer { source in
                scratch.withUnsafeMutableBufferPointer { target in
                    for k in source {
                        let d = Int((k >> shift) & 0xFF)
                        target[Int(counts[d])] = k
                        counts[d] &+= 1
                    }
                }
            }
        }
        swap(&keys, &scratch)
    }
}
