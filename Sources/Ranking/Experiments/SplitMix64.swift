import Foundation

/// A small, fast, seeded pseudo-random generator (SplitMix64).
///
/// Exploration must choose the same for the same request on every machine and every run (a request id names its
/// choices), and it runs per request, so the generator has to be both deterministic and cheap;
/// `SystemRandomNumberGenerator` is neither.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// Creates a generator whose whole output sequence is fixed by `seed`.
    public init(seed: UInt64) {
        state = seed
    }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform double in [0, 1).
    @inline(__always)
    public mutating func unit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in [0, bound); `bound` must be positive.
    @inline(__always)
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below(_:) needs a positive bound")
        return Int(truncatingIfNeeded: next().multipliedFullWidth(by: UInt64(bound)).high)
    }

    /// A standard normal sample (Box-Muller; one of the pair is discarded to keep the state a single word).
    @inline(__always)
    public mutating func normal() -> Double {
        let u1 = max(unit(), 1e-300)
        let u2 = unit()
        return (-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2)
    }

    /// A Gamma(shape, 1) sample (Marsaglia-Tsang), used for Beta sampling in Thompson exploration.
    public mutating func gamma(shape: Double) -> Double {
        if shape < 1 {
            let u = max(unit(), 1e-300)
            return gamma(shape: shape + 1) * _pow(u, 1 / shape)
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
            if _log(max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + _log(v)) { return d * v }
        }
    }

    /// A Beta(alpha, beta) sample.
    public mutating func beta(_ alpha: Double, _ beta: Double) -> Double {
        let x = gamma(shape: alpha)
        let y = gamma(shape: beta)
        return x / (x + y)
    }
}

/// Stable 64-bit hashing of strings (FNV-1a, then a SplitMix finaliser), for experiment buckets and exploration seeds.
///
/// Swift's `Hasher` is seeded per process, so it cannot give the same bucket to the same user across restarts.
public enum StableHash {
    /// Hashes the UTF-8 bytes of all `parts`, with a separator so ("ab", "c") and ("a", "bc") differ.
    public static func hash(_ parts: String...) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for part in parts {
            for byte in part.utf8 {
                h = (h ^ UInt64(byte)) &* 0x100_0000_01B3
            }
            h = (h ^ 0xFF) &* 0x100_0000_01B3
        }
        var mixer = SplitMix64(seed: h)
        return mixer.next()
    }
}

@inline(__always) func _log(_ x: Double) -> Double { Foundation.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Foundation.cos(x) }
@inline(__always) func _pow(_ x: Double, _ y: Double) -> Double { Foundation.pow(x, y) }
