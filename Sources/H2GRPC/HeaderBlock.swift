import CNGHTTP2Shim

/// Header name/value pairs laid out for one nghttp2 submit call.
///
/// nghttp2 copies names and values during `nghttp2_submit_*`, so the bytes only need to live for the call:
/// ``withNameValues(_:_:)`` packs them into one scratch buffer instead of one allocation per string.
enum HeaderBlock {
    static func withNameValues<R>(
        _ pairs: [(String, String)],
        _ body: (UnsafePointer<nghttp2_nv>, Int) -> R
    ) -> R {
        var total = 0
        for (name, value) in pairs { total += name.utf8.count + value.utf8.count }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(total, 1)) { bytes in
            withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: max(pairs.count, 1)) { nvs in
                var offset = 0
                for (index, (name, value)) in pairs.enumerated() {
                    let nameStart = offset
                    offset = copy(name, into: bytes, at: offset)
                    let valueStart = offset
                    offset = copy(value, into: bytes, at: offset)
                    let base = UnsafePointer(bytes.baseAddress!)
                    nvs[index] = cnghttp2_nv(
                        base + nameStart,
                        valueStart - nameStart,
                        base + valueStart,
                        offset - valueStart,
                        UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)
                    )
                }
                return body(UnsafePointer(nvs.baseAddress!), pairs.count)
            }
        }
    }

    /// Copies `string`'s UTF-8 bytes to `buffer` at `offset` (the caller sized `buffer` from the same strings);
    /// returns the offset past them. Native and small strings are copied in one move.
    private static func copy(_ string: String, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        let copied = string.utf8.withContiguousStorageIfAvailable { source in
            UnsafeMutableBufferPointer(rebasing: buffer[offset..<offset + source.count]).update(fromContentsOf: source)
        }
        if let copied { return offset + copied }
        var offset = offset
        for byte in string.utf8 {
            buffer[offset] = byte
            offset += 1
        }
        return offset
    }
}
