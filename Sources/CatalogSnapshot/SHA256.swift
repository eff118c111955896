import CSHA256

/// SHA-256 (FIPS 180-4), fed incrementally, for the checksums in a snapshot's manifest.
///
/// Written here rather than taken from a package so the snapshot module needs nothing beyond protobuf-c; it is
/// checked against the NIST example vectors in the tests. Not constant-time, and needs not be: it checks files,
/// not secrets.
public struct SHA256: Sendable {
    /// The 64 round constants, from CSHA256 (one table for both the Swift and the SHA-instruction rounds).
    private static let roundConstants = UnsafeBufferPointer(start: csha256_round_constants(), count: 64)

    private var h: [UInt32] = [
        0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a, 0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19,
    ]
    /// The start of a block not yet complete.
    private var pending: [UInt8] = []
    /// Message length so far, in bytes.
    private var length: UInt64 = 0
    /// The message schedule, kept to avoid an allocation per block.
    private var schedule = [UInt32](repeating: 0, count: 64)

    /// Whether blocks go to the CPU's SHA instructions (CSHA256) rather than the Swift rounds below.
    private let accelerated: Bool

    /// Whether this CPU has the SHA extensions the accelerated path uses.
    static let cpuHasSHAExtensions = csha256_accelerated() == 1

    /// A hash of nothing yet.
    public init() {
        self.init(accelerated: SHA256.cpuHasSHAExtensions)
    }

    /// A hash that uses the SHA instructions only when `accelerated` (tests compare both paths).
    init(accelerated: Bool) {
        self.accelerated = accelerated && SHA256.cpuHasSHAExtensions
        pending.reserveCapacity(64)
    }

    /// The digest of `bytes`, in one call.
    public static func digest<Bytes: Sequence>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var hash = SHA256()
        hash.update(Array(bytes))
        return hash.finalize()
    }

    /// The digest of `bytes` as 64 lowercase hex digits, as the manifest writes it.
    public static func hexDigest<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        hex(digest(bytes))
    }

    /// Lowercase hex of `bytes`.
    public static func hex(_ bytes: [UInt8]) -> String {
        let digits: [Character] = Array("0123456789abcdef")
        var text = ""
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return text
    }

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds `bytes` to the message.
    public mutating func update(_ bytes: ArraySlice<UInt8>) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Adds the bytes at `buffer` to the message.
    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        length &+= UInt64(buffer.count)
        var offset = 0
        if !pending.isEmpty {
            let take = min(64 - pending.count, buffer.count)
            pending.append(contentsOf: buffer[0..<take])
            offset = take
            guard pending.count == 64 else { return }
            pending.withUnsafeBytes { compress($0) }
            pending.removeAll(keepingCapacity: true)
        }
        let whole = (buffer.count - offset) / 64
        if accelerated && whole > 0 {
            let blocks = UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + whole * 64)])
            h.withUnsafeMutableBufferPointer { state in
                csha256_compress_blocks(
                    state.baseAddress!,
                    blocks.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    whole
                )
            }
            offset += whole * 64
        }
        while buffer.count - offset >= 64 {
            compress(UnsafeRawBufferPointer(rebasing: buffer[offset..<(offset + 64)]))
            offset += 64
        }
        if offset < buffer.count {
            pending.append(contentsOf: buffer[offset...])
        }
    }

    /// Pads the message and returns its 32-byte digest.
    public mutating func finalize() -> [UInt8] {
        let bitLength = length &* 8
        var tail: [UInt8] = [0x80]
        let used = (pending.count + 1) % 64
        tail.append(contentsOf: repeatElement(0, count: used <= 56 ? 56 - used : 120 - used))
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        let savedLength = length
        update(tail)
        length = savedLength
        precondition(pending.isEmpty, "padding must end on a block boundary")
        var digest: [UInt8] = []
        digest.reserveCapacity(32)
        for word in h {
            digest.append(UInt8(truncatingIfNeeded: word >> 24))
            digest.append(UInt8(truncatingIfNeeded: word >> 16))
            digest.append(UInt8(truncatingIfNeeded: word >> 8))
            digest.append(UInt8(truncatingIfNeeded: word))
        }
        return digest
    }

    /// The 64-byte block at `block` into the state.
    private mutating func compress(_ block: UnsafeRawBufferPointer) {
        // Moved out and back so the closures below touch locals only, not `self`.
        var words = schedule
        schedule = []
        var state = h
        words.withUnsafeMutableBufferPointer { w in
            for t in 0..<16 {
                let base = t * 4
                w[t] =
                    UInt32(block[base]) << 24 | UInt32(block[base + 1]) << 16 | UInt32(block[base + 2]) << 8
                    | UInt32(block[base + 3])
            }
            for t in 16..<64 {
                let s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3)
                let s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10)
                w[t] = w[t - 16] &+ s0 &+ w[t - 7] &+ s1
            }
            var a = state[0]
            var b = state[1]
            var c = state[2]
            var d = state[3]
            var e = state[4]
            var f = state[5]
            var g = state[6]
            var hh = state[7]
            let k = SHA256.roundConstants
            for t in 0..<64 {
                let sum1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
                let choice = (e & f) ^ (~e & g)
                let t1 = hh &+ sum1 &+ choice &+ k[t] &+ w[t]
                let sum0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
                let majority = (a & b) ^ (a & c) ^ (b & c)
                let t2 = sum0 &+ majority
                hh = g
                g = f
                f = e
                e = d &+ t1
                d = c
                c = b
                b = a
                a = t1 &+ t2
            }
            state[0] = state[0] &+ a
            state[1] = state[1] &+ b
            state[2] = state[2] &+ c
            state[3] = state[3] &+ d
            state[4] = state[4] &+ e
            state[5] = state[5] &+ f
            state[6] = state[6] &+ g
            state[7] = state[7] &+ hh
        }
        h = state
        schedule = words
    }
}

@inline(__always)
private func rotr(_ value: UInt32, _ count: UInt32) -> UInt32 {
    (value >> count) | (value << (32 - count))
}
