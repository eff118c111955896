import Foundation
import Ranking

/// Distribution functions the analysis needs: the normal's tails and the chi-square's upper tail.
public enum Distributions {
    /// The 97.5th percentile of the standard normal: a 95% two-sided interval is the estimate ± this many standard
    /// errors.
    public static let z975 = 1.959_963_984_540_054

    /// P(Z ≤ z) for a standard normal Z.
    public static func normalCDF(_ z: Double) -> Double {
        0.5 * erfc(-z / 2.0.squareRoot())
    }

    /// The two-sided p-value of a standard normal statistic: P(|Z| ≥ |z|).
    public static func twoSidedNormalP(_ z: Double) -> Double {
        guard z.isFinite else { return z.isNaN ? .nan : 0 }
        return erfc(abs(z) / 2.0.squareRoot())
    }

    /// P(X ≥ statistic) for X chi-square distributed with `degreesOfFreedom` degrees of freedom: the p-value of a
    /// goodness-of-fit test. It is the upper regularized incomplete gamma function Q(k/2, x/2).
    public static func chiSquareSurvival(_ statistic: Double, degreesOfFreedom: Int) -> Double {
        precondition(degreesOfFreedom > 0, "a chi-square distribution needs at least one degree of freedom")
        guard statistic > 0 else { return 1 }
        guard statistic.isFinite else { return 0 }
        return upperRegularizedGamma(Double(degreesOfFreedom) / 2, statistic / 2)
    }

    /// Q(a, x) = Γ(a, x) / Γ(a), for a > 0 and x ≥ 0.
    ///
    /// Below x = a + 1 the series of P(a, x) converges fast and Q = 1 − P; above it the continued fraction of Q
    /// converges fast and is used directly, so a small tail probability is never the difference of two numbers
    /// near 1 (which would lose every significant digit of p-values like 1e-12).
    public static func upperRegularizedGamma(_ a: Double, _ x: Double) -> Double {
        precondition(a > 0 && x >= 0, "the incomplete gamma function needs a > 0 and x ≥ 0")
        if x == 0 { return 1 }
        // log(x^a e^-x / Γ(a)), the factor both expansions share.
        let logPrefactor = a * log(x) - x - lgamma(a)
        if x < a + 1 {
            return 1 - lowerSeries(a, x, logPrefactor: logPrefactor)
        }
        return upperContinuedFraction(a, x, logPrefactor: logPrefactor)
    }

    /// P(a, x) = Γ(a)⁻¹ ∫₀ˣ t^(a−1) e^(−t) dt.
    public static func lowerRegularizedGamma(_ a: Double, _ x: Double) -> Double {
        precondition(a > 0 && x >= 0, "the incomplete gamma function needs a > 0 and x ≥ 0")
        if x == 0 { return 0 }
        let logPrefactor = a * log(x) - x - lgamma(a)
        if x < a + 1 {
            return lowerSeries(a, x, logPrefactor: logPrefactor)
        }
        return 1 - upperContinuedFraction(a, x, logPrefactor: logPrefactor)
    }

    // The series x^a e^-x / Γ(a) · Σₙ xⁿ / (a (a+1) … (a+n)); its terms shrink once n > x − a.
    private static func lowerSeries(_ a: Double, _ x: Double, logPrefactor: Double) -> Double {
        var term = 1 / a
        var sum = term
        var denominator = a
        for _ in 0..<10_000 {
            denominator += 1
            term *= x / denominator
            sum += term
            if abs(term) < abs(sum) * 1e-16 { break }
        }
        return min(1, sum * exp(logPrefactor))
    }

    // Legendre's continued fraction for Γ(a, x), evaluated by the modified Lentz method.
    private static func upperContinuedFraction(_ a: Double, _ x: Double, logPrefactor: Double) -> Double {
        let tiny = 1e-300
        var b = x + 1 - a
        var c = 1 / tiny
        var d = 1 / b
        var fraction = d
        for i in 1..<10_000 {
            let an = -Double(i) * (Double(i) - a)
            b += 2
            d = an * d + b
            if abs(d) < tiny { d = tiny }
            c = b + an / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let step = d * c
            fraction *= step
            if abs(step - 1) < 1e-16 { break }
        }
        return max(0, min(1, exp(logPrefactor) * fraction))
    }
}

/// An estimate and its variance (the squared standard error).
public struct Estimate: Sendable, Equatable {
    /// The point estimate.
    public var value: Double
    /// The variance of the estimate; 0 when it cannot vary (and NaN when it cannot be estimated).
    public var variance: Double

    public init(value: Double, variance: Double) {
        self.value = value
        self.variance = variance
    }

    /// The mean of a ratio metric clustered by user, Σ numerator / Σ denominator over users, with its variance by
    /// the delta method: users are the independent units, so a user's exposures are never treated as independent
    /// draws.
    ///
    /// With per-user sums Xᵤ and Yᵤ over n users, R = X̄ / Ȳ and
    /// Var(R) ≈ (s²ₓ / Ȳ² − 2 X̄ sₓᵧ / Ȳ³ + X̄² s²ᵧ / Ȳ⁴) / n.
    public static func ratio(numerators: [Double], denominators: [Double]) -> Estimate {
        precondition(numerators.count == denominators.count, "one numerator and one denominator per user")
        let n = Double(numerators.count)
        guard n > 0 else { return Estimate(value: .nan, variance: .nan) }
        let meanX = numerators.reduce(0, +) / n
        let meanY = denominators.reduce(0, +) / n
        guard meanY > 0 else { return Estimate(value: .nan, variance: .nan) }
        let ratio = meanX / meanY
        guard n > 1 else { return Estimate(value: ratio, variance: .nan) }
        var sxx = 0.0
        var syy = 0.0
        var sxy = 0.0
        for (x, y) in zip(numerators, denominators) {
            sxx += (x - meanX) * (x - meanX)
            syy += (y - meanY) * (y - meanY)
            sxy += (x - meanX) * (y - meanY)
        }
        sxx /= n - 1
        syy /= n - 1
        sxy /= n - 1
        let variance =
            (sxx / (meanY * meanY) - 2 * meanX * sxy / (meanY * meanY * meanY) + meanX * meanX * syy
                / (meanY * meanY * meanY * meanY)) / n
        return Estimate(value: ratio, variance: max(0, variance))
    }

    /// A per-user mean with the variance of the mean, s² / n (Welch's standard error, per arm).
    public static func mean(_ values: [Double]) -> Estimate {
        let n = Double(values.count)
        guard n > 0 else { return Estimate(value: .nan, variance: .nan) }
        let mean = values.reduce(0, +) / n
        guard n > 1 else { return Estimate(value: mean, variance: .nan) }
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return Estimate(value: mean, variance: squares / (n - 1) / n)
    }
}

/// A difference with its 95% interval.
public struct Interval: Sendable, Equatable, Encodable {
    /// The point estimate; nil when undefined.
    public var estimate: Double?
    /// The 95% interval's lower bound.
    public var low: Double?
    /// The 95% interval's upper bound.
    public var high: Double?

    public init(estimate: Double?, low: Double?, high: Double?) {
        self.estimate = estimate.flatMap { $0.isFinite ? $0 : nil }
        self.low = low.flatMap { $0.isFinite ? $0 : nil }
        self.high = high.flatMap { $0.isFinite ? $0 : nil }
    }

    /// estimate ± 1.96 standard errors.
    public init(estimate: Double, variance: Double) {
        let half = Distributions.z975 * variance.squareRoot()
        self.init(estimate: estimate, low: estimate - half, high: estimate + half)
    }

    /// True when the whole interval lies above `threshold`.
    public func isAbove(_ threshold: Double) -> Bool { low.map { $0 > threshold } ?? false }

    /// True when the whole interval lies below `threshold`.
    public func isBelow(_ threshold: Double) -> Bool { high.map { $0 < threshold } ?? false }
}

/// Treatment against control: the absolute and relative differences with 95% normal intervals and a two-sided
/// p-value for "no difference".
public struct Difference: Sendable, Equatable {
    /// treatment − control.
    public var absolute: Interval
    /// treatment / control − 1; nil bounds when the control's value is 0.
    public var relative: Interval
    /// Two-sided, for the absolute difference being 0.
    public var pValue: Double?

    /// Compares two independent estimates (the arms hold disjoint users).
    ///
    /// The relative difference's variance is the delta method's for a quotient of independent estimates:
    /// Var(T/C) ≈ Var(T)/C² + T² Var(C)/C⁴.
    public init(treatment: Estimate, control: Estimate) {
        let difference = treatment.value - control.value
        let variance = treatment.variance + control.variance
        absolute = Interval(estimate: difference, variance: variance)
        if control.value != 0 && control.value.isFinite {
            let c = control.value
            let relativeVariance =
                treatment.variance / (c * c) + treatment.value * treatment.value * control.variance
                / (c * c * c * c)
            relative = Interval(estimate: treatment.value / c - 1, variance: relativeVariance)
        } else {
            relative = Interval(estimate: nil, low: nil, high: nil)
        }
        if !variance.isFinite || !difference.isFinite {
            pValue = nil
        } else if variance == 0 {
            pValue = difference == 0 ? 1 : 0
        } else {
            pValue = Distributions.twoSidedNormalP(difference / variance.squareRoot())
        }
    }
}

/// Latencies bucketed on a logarithmic scale for the bootstrap of a percentile: each resample adds bucket counts
/// instead of sorting latencies, so 500 resamples of 100,000 exposures stay cheap. Buckets are 0.5% wide, finer
/// than any margin a guardrail uses.
struct LatencyBuckets {
    static let growth = 1.005
    static let count = 4_000
    private static let logGrowth = log(growth)

    /// The bucket of a latency in microseconds.
    static func bucket(_ micros: Int64) -> Int {
        guard micros > 1 else { return 0 }
        return min(count - 1, Int(log(Double(micros)) / logGrowth) + 1)
    }

    /// A latency that represents the bucket (its upper edge).
    static func value(_ bucket: Int) -> Double {
        bucket == 0 ? 1 : exp(Double(bucket) * logGrowth)
    }
}

/// The nearest-rank percentile of a sample: the smallest value with at least `fraction` of the sample at or below.
public func nearestRankPercentile(_ values: [Double], _ fraction: Double) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let rank = Int((fraction * Double(sorted.count)).rounded(.up))
    return sorted[max(0, min(sorted.count - 1, rank - 1))]
}

/// Users' latencies for a percentile bootstrap over users: each user's exposures' buckets, stored contiguously.
struct UserLatencies {
    private var starts: [Int] = [0]
    private var buckets: [Int] = []

    var userCount: Int { starts.count - 1 }

    mutating func append(user latencies: [Int64]) {
        for micros in latencies { buckets.append(LatencyBuckets.bucket(micros)) }
        starts.append(buckets.count)
    }

    /// The percentile of one resample of users drawn with replacement, or of every user once when `generator` is
    /// nil (the estimate the resamples vary around); `counts` is scratch space, reused.
    func percentile(
        _ fraction: Double,
        counts: inout [Int],
        resamplingWith generator: inout SplitMix64?
    ) -> Double? {
        let users = userCount
        guard users > 0 else { return nil }
        for index in counts.indices { counts[index] = 0 }
        var total = 0
        for draw in 0..<users {
            var user = draw
            if generator != nil { user = Int(generator!.next() % UInt64(users)) }
            for position in starts[user]..<starts[user + 1] {
                counts[buckets[position]] += 1
            }
            total += starts[user + 1] - starts[user]
        }
        guard total > 0 else { return nil }
        let rank = Int((fraction * Double(total)).rounded(.up))
        var seen = 0
        for (bucket, count) in counts.enumerated() {
            seen += count
            if seen >= rank { return LatencyBuckets.value(bucket) }
        }
        return LatencyBuckets.value(counts.count - 1)
    }
}
