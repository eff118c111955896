import CZlibShim

/// gzip compression of single gRPC messages over zlib.
///
/// Each call builds and frees its own zlib stream: gRPC forbids carrying compression context across messages, and
/// a stream per call keeps these functions free of shared state.
public enum Gzip {
    /// Why a compressed message could not be decompressed.
    public enum Error: Swift.Error, CustomStringConvertible {
        /// The input is not a complete, valid gzip stream; the text says what zlib reported.
        case corrupt(String)
        /// The output would exceed `limit` bytes (a decompression bomb or just a too-large message).
        case tooLarge(limit: Int)

        /// A message suitable for `grpc-message`.
        public var description: String {
            switch self {
            case .corrupt(let reason): return "corrupt gzip message: \(reason)"
            case .tooLarge(let limit): return "decompressed message exceeds the limit of \(limit) bytes"
            }
        }
    }

    /// Compresses bytes into one gzip stream at zlib's default level.
    public static func compress(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var stream = z_stream()
        // Z_OK, or Z_MEM_ERROR / Z_STREAM_ERROR / Z_VERSION_ERROR, none of which a caller could recover from.
        let initResult = czlib_deflate_init_gzip(&stream, Z_DEFAULT_COMPRESSION)
        precondition(initResult == Z_OK, "deflateInit2 failed with \(initResult)")
        defer { deflateEnd(&stream) }

        // deflateBound covers the gzip wrapper too, so one Z_FINISH call always completes.
        let bound = Int(deflateBound(&stream, uLong(bytes.count)))
        var out = [UInt8](repeating: 0, count: bound)
        let written: Int = out.withUnsafeMutableBytes { outBuffer in
            stream.next_in = UnsafeMutablePointer(
                mutating: bytes.baseAddress?.assumingMemoryBound(to: Bytef.self)
            )
            stream.avail_in = uInt(bytes.count)
            stream.next_out = outBuffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.avail_out = uInt(outBuffer.count)
            // Z_STREAM_END is the only outcome with a deflateBound-sized buffer; Z_OK/Z_BUF_ERROR would mean a
            // zlib contract violation.
            let result = deflate(&stream, Z_FINISH)
            precondition(
                result == Z_STREAM_END,
                "deflate(Z_FINISH) returned \(result) with a deflateBound buffer"
            )
            return outBuffer.count - Int(stream.avail_out)
        }
        out.removeSubrange(written...)
        return out
    }

    /// Compresses bytes into one gzip stream at zlib's default level.
    public static func compress(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { compress($0) }
    }

    /// Decompresses one gzip stream. Throws `.tooLarge` as soon as the output would pass `limit` bytes, before
    /// producing more, and `.corrupt` for bad headers, bad checksums, truncated input or bytes after the stream.
    public static func decompress(_ bytes: [UInt8], limit: Int) throws -> [UInt8] {
        precondition(limit >= 0, "limit must not be negative")
        var stream = z_stream()
        // Z_OK, or Z_MEM_ERROR / Z_VERSION_ERROR (not recoverable by the caller).
        let initResult = czlib_inflate_init_gzip(&stream)
        precondition(initResult == Z_OK, "inflateInit2 failed with \(initResult)")
        defer { inflateEnd(&stream) }

        // Start small and grow geometrically; never allocate more than limit + 1 (one byte past the limit is how
        // an overflow is detected without trusting the size in the gzip trailer).
        var out = [UInt8](repeating: 0, count: min(limit + 1, max(bytes.count * 4, 1024)))
        var produced = 0
        var finished = false

        try bytes.withUnsafeBytes { input in
            stream.next_in = UnsafeMutablePointer(
                mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self)
            )
            stream.avail_in = uInt(input.count)
            while true {
                if produced == out.count {
                    guard out.count <= limit else { throw Error.tooLarge(limit: limit) }
                    let grown = min(limit + 1, out.count * 2)
                    out.append(contentsOf: repeatElement(0, count: grown - out.count))
                }
                let result: Int32 = out.withUnsafeMutableBytes { outBuffer in
                    stream.next_out = outBuffer.baseAddress!.assumingMemoryBound(to: Bytef.self) + produced
                    stream.avail_out = uInt(outBuffer.count - produced)
                    let result = inflate(&stream, Z_NO_FLUSH)
                    produced = outBuffer.count - Int(stream.avail_out)
                    return result
                }
                if produced > limit { throw Error.tooLarge(limit: limit) }
                switch result {
                case Z_STREAM_END:
                    finished = true
                    return
                case Z_OK:
                    continue
                case Z_BUF_ERROR:
                    // No progress possible: either the output is full (loop grows it) or the input ran out early.
                    if stream.avail_out == 0 { continue }
                    throw Error.corrupt("truncated gzip stream")
                case Z_DATA_ERROR:
                    throw Error.corrupt(stream.msg.map { String(cString: $0) } ?? "invalid deflate data")
                case Z_NEED_DICT:
                    throw Error.corrupt("gzip stream asks for a preset dictionary")
                default:
                    // Z_MEM_ERROR or Z_STREAM_ERROR: zlib could not continue; report rather than crash on peer data.
                    throw Error.corrupt("zlib inflate failed with code \(result)")
                }
            }
        }
        precondition(finished)
        guard stream.avail_in == 0 else {
            throw Error.corrupt("\(stream.avail_in) bytes after the end of the gzip stream")
        }
        out.removeSubrange(produced...)
        return out
    }
}
