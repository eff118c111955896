import Foundation
import Testing

@testable import Ranking

/// The samplers exploration and the demo generators draw from: their distributions, and the one sequence that must
/// never change.
@Suite struct RandomSamplingTests {
    /// The standard normal's distribution function.
    static func phi(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

    @Test func theZigguratDrawsTheStandardNormal() {
        var rng = SplitMix64(seed: 9)
        let n = 400_000
        let cuts: [Double] = [-3.6, -2, -1, -0.3, 0, 0.3, 1, 2, 3.6]
        var below = [Int](repeating: 0, count: cuts.count)
        var (sum, squares) = (0.0, 0.0)
        for _ in 0..<n {
            let x = rng.zigguratNormal()
            #expect(x.isFinite)
            sum += x
            squares += x * x
            for (k, cut) in cuts.enumerated() where x < cut { below[k] += 1 }
        }
        // Tolerances of about five standard errors for this many draws: the seed is fixed, so the test is too.
        #expect(abs(sum / Double(n)) < 0.008)
        #expect(abs(squares / Double(n) - 1) < 0.012)
        for (k, cut) in cuts.enumerated() {
            let p = Self.phi(cut)
            let error = (p * (1 - p) / Double(n)).squareRoot()
            #expect(abs(Double(below[k]) / Double(n) - p) < 5 * error + 1e-5, "P(x < \(cut))")
        }
        // Both tails beyond the base layer's edge (3.44) are drawn.
        #expect(below[0] > 0 && below.last! < n)
    }

    @Test func theZigguratsLayersNarrowToZero() {
        let (x, ratio) = Ziggurat.table
        #expect(x.count == 129 && ratio.count == 128)
        #expect(x[1] == Ziggurat.r && x[0] > x[1] && x[128] == 0)
        for i in 1..<128 { #expect(x[i + 1] < x[i] && x[i + 1] >= 0) }
        #expect(ratio.allSatisfy { $0.isFinite && $0 >= 0 && $0 < 1 })
    }

    @Test(arguments: [(1.0, 1.0), (3.0, 7.0), (1.0, 40.0), (25.0, 4.0), (0.5, 0.5)])
    func betaSamplesHaveTheBetaDistributionsMoments(alpha: Double, beta: Double) {
        var rng = SplitMix64(seed: 3)
        let n = 200_000
        var (sum, squares) = (0.0, 0.0)
        for _ in 0..<n {
            let x = rng.beta(alpha, beta)
            #expect(x >= 0 && x <= 1)
            sum += x
            squares += x * x
        }
        let mean = alpha / (alpha + beta)
        let variance = alpha * beta / ((alpha + beta) * (alpha + beta) * (alpha + beta + 1))
        let sampleMean = sum / Double(n)
        #expect(abs(sampleMean - mean) < 5 * (variance / Double(n)).squareRoot())
        #expect(abs((squares / Double(n) - sampleMean * sampleMean) / variance - 1) < 0.03)
    }

    @Test func theDemoGeneratorsGammaSequenceIsUnchanged() {
        // The demo data, and so the demo models trained on it, depend on these draws: Box-Muller normals.
        var rng = SplitMix64(seed: 42)
        var bits: [UInt64] = []
        for shape in [1.5, 0.5, 3, 12] {
            for _ in 0..<3 { bits.append(rng.gamma(shape: shape).bitPattern) }
        }
        #expect(
            bits == [
                0x3FFA_CA4F_1C55_F7D7, 0x400B_BFA2_AF05_623B, 0x3FFD_C5DE_5080_C91C, 0x3FA4_F725_0090_1BD8,
                0x3FD9_761A_E653_4ABF, 0x3FBE_C01E_3C68_83F1, 0x3FE4_8699_A616_790E, 0x4000_9942_F052_22B6,
                0x400E_FCAC_F515_C38C, 0x4029_F3CF_F250_F3C6, 0x4024_5C2B_1820_6B36, 0x4025_C0C9_CEC8_2503,
            ]
        )
    }
}
