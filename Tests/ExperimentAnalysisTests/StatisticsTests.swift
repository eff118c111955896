import ExperimentAnalysis
import Foundation
import Ranking
import Testing

/// The distribution functions against published table values, and the interval methods' basic algebra.
@Suite struct StatisticsTests {
    // Critical values from chi-square tables: P(X ≥ x) for the given degrees of freedom.
    @Test(arguments: [
        (10.828, 1, 0.001), (3.841, 1, 0.05), (6.635, 1, 0.01), (5.991, 2, 0.05), (13.816, 2, 0.001),
        (7.815, 3, 0.05), (18.307, 10, 0.05), (124.342, 100, 0.05), (0.455, 1, 0.5), (1.386, 2, 0.5),
    ])
    func chiSquareSurvivalMatchesTables(statistic: Double, degreesOfFreedom: Int, p: Double) {
        let computed = Distributions.chiSquareSurvival(statistic, degreesOfFreedom: degreesOfFreedom)
        #expect(abs(computed - p) / p < 0.002, "chi2(\(degreesOfFreedom)) = \(statistic): \(computed), not \(p)")
    }

    @Test func chiSquareTailKeepsItsDigitsFarOut() {
        // With one degree of freedom P(X ≥ x) = erfc(√(x/2)): at x = 50 that is erfc(5) ≈ 1.5375e-12.
        let p = Distributions.chiSquareSurvival(50, degreesOfFreedom: 1)
        #expect(abs(p - erfc(5)) / erfc(5) < 1e-6)
        // With two, it is exp(−x/2).
        for x in [0.1, 1, 4, 30, 200] {
            let p2 = Distributions.chiSquareSurvival(x, degreesOfFreedom: 2)
            #expect(abs(p2 - exp(-x / 2)) <= 1e-9 * exp(-x / 2) + 1e-300)
        }
        #expect(Distributions.chiSquareSurvival(0, degreesOfFreedom: 3) == 1)
    }

    @Test func incompleteGammaHalvesAddUpToOne() {
        for a in [0.5, 1, 2.5, 10, 50] {
            for x in [0.01, 0.5, 1, 3, 10, 60] {
                let sum = Distributions.lowerRegularizedGamma(a, x) + Distributions.upperRegularizedGamma(a, x)
                #expect(abs(sum - 1) < 1e-12, "a \(a) x \(x): \(sum)")
            }
        }
        // P(1, x) = 1 − e^(−x).
        #expect(abs(Distributions.lowerRegularizedGamma(1, 2) - (1 - exp(-2))) < 1e-14)
    }

    @Test func normalTails() {
        #expect(abs(Distributions.twoSidedNormalP(1.959_963_984_540_054) - 0.05) < 1e-12)
        #expect(abs(Distributions.normalCDF(0) - 0.5) < 1e-15)
        #expect(Distributions.twoSidedNormalP(0) == 1)
    }

    @Test func deltaMethodRatioOfEqualSizedClustersIsTheMeanOfRates() {
        // Every user has 2 exposures: the ratio's variance is the variance of the per-user rate over n.
        let numerators = [0.0, 1, 2, 1, 0, 2]
        let denominators = [Double](repeating: 2, count: 6)
        let ratio = Estimate.ratio(numerators: numerators, denominators: denominators)
        let mean = Estimate.mean(numerators.map { $0 / 2 })
        #expect(abs(ratio.value - mean.value) < 1e-15)
        #expect(abs(ratio.variance - mean.variance) < 1e-15)
    }

    @Test func differenceOfIdenticalArmsIsZeroWithPOne() {
        let arm = Estimate(value: 0.2, variance: 0.0001)
        let difference = Difference(treatment: arm, control: arm)
        #expect(difference.absolute.estimate == 0)
        #expect(difference.pValue == 1)
        let low = try! #require(difference.absolute.low)
        #expect(abs(low + 1.959_963_984_540_054 * (0.0002).squareRoot()) < 1e-12)
    }

    @Test func seededGeneratorRepeats() {
        var a = SplitMix64(seed: 7)
        var b = SplitMix64(seed: 7)
        #expect((0..<5).map { _ in a.next() } == (0..<5).map { _ in b.next() })
    }
}
