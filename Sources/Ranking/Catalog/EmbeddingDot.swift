/// The dot product of two embedding rows of `count` floats: eight lanes at a time, the lanes summed, then the rest in
/// order. Every comparison of vectors in the engine goes through here (the marketplace's embedding source and
/// `embedding_dot` feature, the generic surfaces' neighbours and cosine features), so a source and a feature that
/// compare the same two vectors agree to the last bit, whatever the dimension.
@inline(__always)
func embeddingDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var lanes = SIMD8<Float>.zero
    var j = 0
    while j + 8 <= count {
        lanes +=
            UnsafeRawPointer(a + j).loadUnaligned(as: SIMD8<Float>.self)
            * UnsafeRawPointer(b + j).loadUnaligned(as: SIMD8<Float>.self)
        j += 8
    }
    var sum = lanes.sum()
    while j < count {
        sum += a[j] * b[j]
        j += 1
    }
    return sum
}
