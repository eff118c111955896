import Foundation

/// A seeded pseudo-random generator (SplitMix64) for the demo domains.
///
/// A demo catalog must be identical for the same seed on every machine and run, and it is generated at scale, so
/// the generator is deterministic and cheap. The engine has its own; this module does not depend on it.
struct DemoRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose whole output is fixed by `seed`.
    init(seed: UInt64) {
        state = seed
    }

    /// A generator for one named stream of `seed` (a user, a session), independent of every other stream, so
    /// streams can be drawn in any order or in parallel and still give the same values.
    init(seed: UInt64, stream: String, _ index: Int) {
        state = DemoHash.hash(seed, stream, index)
    }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    @inline(__always)
    mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in [0, bound); `bound` must be positive.
    @inline(__always)
    mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below(_:) needs a positive bound")
        return Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// True with probability `p`.
    @inline(__always)
    mutating func chance(_ p: Double) -> Bool { unit() < p }

    /// A standard normal sample (Box-Muller, one of the pair discarded so the state stays one word).
    @inline(__always)
    mutating func normal() -> Double {
        let u1 = max(unit(), 1e-300)
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * unit())
    }

    /// A Gumbel(0, 1) sample: the arg-max of utilities plus Gumbel noise samples from their softmax.
    @inline(__always)
    mutating func gumbel() -> Double {
        -log(-log(max(unit(), 1e-300)))
    }

    /// A Gamma(shape, 1) sample (Marsaglia-Tsang).
    mutating func gamma(shape: Double) -> Double {
        if shape < 1 {
            let u = max(unit(), 1e-300)
            return gamma(shape: shape + 1) * pow(u, 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1.0 / (9 * d).squareRoot()
        while true {
            var x: Double
            var v: Double
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = unit()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// An index in [0, count) biased towards 0: `count * u^power`, for lists sorted best first.
    @inline(__always)
    mutating func headBiased(_ count: Int, power: Double) -> Int {
        min(count - 1, Int(Double(count) * pow(unit(), power)))
    }

    /// An index drawn with probability proportional to `weights` (non-negative, not all zero).
    mutating func weighted(_ weights: [Double]) -> Int {
        let total = weights.reduce(0, +)
        var r = unit() * total
        for (index, weight) in weights.enumerated() {
            r -= weight
            if r < 0 { return index }
        }
        return weights.count - 1
    }
}

/// Stable 64-bit hashing (FNV-1a, then the SplitMix finaliser). Swift's `Hasher` is seeded per process, so it
/// cannot pick the same held-out users on every run.
enum DemoHash {
    /// Hashes the UTF-8 bytes of `parts`, with a separator so ("ab", "c") and ("a", "bc") differ.
    static func hash(_ parts: String...) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for part in parts {
            for byte in part.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
            h = (h ^ 0xFF) &* 0x100_0000_01B3
        }
        var mixer = DemoRandom(seed: h)
        return mixer.next()
    }

    /// A hash of a seed, a stream name and an index.
    static func hash(_ seed: UInt64, _ stream: String, _ index: Int) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in stream.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01B3 }
        var mixer = DemoRandom(
            seed: h ^ (seed &* 0x9E37_79B9_7F4A_7C15) ^ UInt64(bitPattern: Int64(index)) &* 0xD6E8_FEB8_6659_FD93
        )
        return mixer.next()
    }
}
