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

    /// A standard normal sample by the ziggurat method (Marsaglia and Tsang, 2000, in Doornik's form of 2005 with
    /// 128 layers): almost always one draw, one table read and one compare, where ``normal()`` takes a logarithm, a
    /// square root and a cosine. Its sequence for a seed differs from ``normal()``'s.
    @inline(__always)
    public mutating func zigguratNormal() -> Double {
        let (x, ratio) = Ziggurat.table
        while true {
            let bits = next()
            let layer = Int(bits & 0x7F)
            // Uniform in [-1, 1), from the bits the layer did not use.
            let u = Double(bits >> 11) * 0x1.0p-52 - 1
            if abs(u) < ratio[layer] { return u * x[layer] }
            if layer == 0 { return zigguratTail(negative: u < 0) }
            // The wedge between this layer's rectangle and the curve: accept under the curve.
            let sample = u * x[layer]
            let f0 = _exp(-0.5 * (x[layer] * x[layer] - sample * sample))
            let f1 = _exp(-0.5 * (x[layer + 1] * x[layer + 1] - sample * sample))
            if f1 + unit() * (f0 - f1) < 1 { return sample }
        }
    }

    /// A normal sample beyond the ziggurat's base, `Ziggurat.r` (Marsaglia's tail method).
    private mutating func zigguratTail(negative: Bool) -> Double {
        var a: Double
        var b: Double
        repeat {
            a = -_log(max(unit(), 1e-300)) / Ziggurat.r
            b = -_log(max(unit(), 1e-300))
        } while b + b < a * a
        return negative ? -(Ziggurat.r + a) : Ziggurat.r + a
    }

    /// A Gamma(shape, 1) sample (Marsaglia-Tsang) whose normals are ``normal()``'s. The demo generators draw from
    /// it, so its sequence for a seed must stay as it is: the demo models were trained on the data they write.
    public mutating func gamma(shape: Double) -> Double {
        gamma(shape: shape) { $0.normal() }
    }

    /// A Beta(alpha, beta) sample, from two gammas whose normals are ``zigguratNormal()``'s: Thompson exploration
    /// draws one for every new venue of every answer.
    public mutating func beta(_ alpha: Double, _ beta: Double) -> Double {
        let x = gamma(shape: alpha) { $0.zigguratNormal() }
        let y = gamma(shape: beta) { $0.zigguratNormal() }
        return x / (x + y)
    }

    /// Marsaglia-Tsang with the normals `normal` draws; below shape 1, a sample of `shape + 1` scaled by `u^(1/shape)`.
    @inline(__always)
    private mutating func gamma(shape: Double, normal: (inout SplitMix64) -> Double) -> Double {
        let boost = shape < 1 ? _pow(max(unit(), 1e-300), 1 / shape) : 1
        let d = (shape < 1 ? shape + 1 : shape) - 1.0 / 3.0
        let c = 1.0 / (9 * d).squareRoot()
        while true {
            var x: Double
            var v: Double
            repeat {
                x = normal(&self)
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = unit()
            if u < 1 - 0.0331 * x * x * x * x { return d * v * boost }
            if _log(max(u, 1e-300)) < 0.5 * x * x + d * (1 - v + _log(v)) { return d * v * boost }
        }
    }
}

/// The ziggurat's layers for ``SplitMix64/zigguratNormal()``: 128 of equal area `v` under the standard normal's
/// curve, the base one running out to the tail beyond `r`.
enum Ziggurat {
    static let r = 3.442619855899
    static let v = 9.91256303526217e-3

    /// `x[i]`: the right edge of layer `i` (`x[0]`, wider than `r`, gives the base layer its area with the tail's;
    /// `x[128]` = 0); `ratio[i]` = `x[i + 1] / x[i]`, the share of layer `i` inside the curve for certain.
    static let table: (x: [Double], ratio: [Double]) = {
        func f(_ x: Double) -> Double { _exp(-0.5 * x * x) }
        var x = [Double](repeating: 0, count: 129)
        x[0] = v / f(r)
        x[1] = r
        for i in 2..<128 { x[i] = (-2 * _log(v / x[i - 1] + f(x[i - 1]))).squareRoot() }
        return (x, (0..<128).map { x[$0 + 1] / x[$0] })
    }()
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
@inline(__always) func _exp(_ x: Double) -> Double { Foundation.exp(x) }
