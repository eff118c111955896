/// Stable sort of 64-bit keys by their high 32 bits (an index), low 32 bits carried along in input order.
///
/// The merge of candidate sources and the co-visitation summary each sort a few hundred to a few thousand keys
/// per request; a least-significant-digit radix sort (``radixSort``) over the bytes in which their indexes differ
/// does that in two passes instead of the standard library's comparison sort. Stability is what callers rely on: keys with
/// equal indexes keep their relative order, exactly as `sort` (also stable) leaves them.
func sortByHighWord(_ keys: inout [UInt64], scratch: inout [UInt64]) {
    var (noValues, noScratch): ([Int32], [Int32]) = ([], [])
    radixSort(&keys, carrying: &noValues, scratchKeys: &scratch, scratchValues: &noScratch, bits: 0xFFFF_FFFF_0000_0000)
}

/// Stable sort of `keys` ascending by their `bits`, with `values` (empty: none) moved alongside: an LSD radix sort by
/// bytes, skipping the bytes in which no two keys' `bits` differ.
///
/// For the re-rank's few hundred candidates this costs about a third of a comparison sort on key pairs.
/// `scratchKeys` and `scratchValues` are reused buffers; their contents on return are unspecified.
func radixSort(
    _ keys: inout [UInt64],
    carrying values: inout [Int32],
    scratchKeys: inout [UInt64],
    scratchValues: inout [Int32],
    bits: UInt64 = .max
) {
    precondition(values.isEmpty || values.count == keys.count, "a value per key, or none")
    let carrying = !values.isEmpty
    let n = keys.count
    guard n > 1 else { return }
    var differing: UInt64 = 0
    let first = keys[0]
    for k in keys { differing |= (k ^ first) & bits }
    guard differing != 0 else { return }
    scratchKeys.removeAll(keepingCapacity: true)
    scratchKeys.append(contentsOf: repeatElement(0, count: n))
    scratchValues.removeAll(keepingCapacity: true)
    if carrying { scratchValues.append(contentsOf: repeatElement(0, count: n)) }
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
                                if carrying { targetValues[at] = sourceValues[j] }
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
