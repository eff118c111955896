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

/// Stable sort of `keys` ascending, with `values` moved alongside: an LSD radix sort by bytes, skipping the bytes in
/// which no two keys differ.
///
/// For the re-rank's few hundred candidates this costs about a third of a comparison sort on key pairs.
/// `scratchKeys` and `scratchValues` are reused buffers; their contents on return are unspecified.
func radixSort(
    _ keys: inout [UInt64],
    carrying values: inout [Int32],
    scratchKeys: inout [UInt64],
    scratchValues: inout [Int32]
) {
    precondition(values.count == keys.count, "a value per key")
    let n = keys.count
    guard n > 1 else { return }
    var differing: UInt64 = 0
    let first = keys[0]
    for k in keys { differing |= k ^ first }
    guard differing != 0 else { return }
    scratchKeys.removeAll(keepingCapacity: true)
    scratchKeys.append(contentsOf: repeatElement(0, count: n))
    scratchValues.removeAll(keepingCapacity: true)
    scratchValues.append(contentsOf: repeatElement(0, count: n))
    var counts = [Int](repeating: 0, count: 256)
    var shift: UInt64 = 0
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
                values.withUnsafeBufferPointer { sourceValues in
                    scratchKeys.withUnsafeMutableBufferPointer { targetKeys in
                        scratchValues.withUnsafeMutableBufferPointer { targetValues in
                            for j in 0..<n {
                                let k = source[j]
                                let d = Int((k >> shift) & 0xFF)
                                let at = counts[d]
                                targetKeys[at] = k
                                targetValues[at] = sourceValues[j]
                                counts[d] = at + 1
                            }
                        }
                    }
                }
            }
        }
        swap(&keys, &scratchKeys)
        swap(&values, &scratchValues)
    }
}
