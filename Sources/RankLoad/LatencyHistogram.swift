import Histogram

/// An HdrHistogram of latencies from 1 µs to 60 s at three significant digits.
///
/// Values are taken and returned in nanoseconds but stored in microseconds, the unit that makes the range fit the
/// histogram's precision. A value above 60 s is recorded as 60 s and counted in ``clampedCount``, so a stuck call
/// is never dropped from the tail. Histograms are merged by adding counts, never by averaging percentiles.
public struct LatencyHistogram: Sendable {
    /// Lowest value told apart, in the storage unit (µs).
    public static let lowestMicroseconds: UInt64 = 1
    /// Highest value tracked, in the storage unit (µs): 60 s.
    public static let highestMicroseconds: UInt64 = 60_000_000

    private(set) var storage = Histogram<UInt64>(
        lowestDiscernibleValue: lowestMicroseconds,
        highestTrackableValue: highestMicroseconds,
        numberOfSignificantValueDigits: .three
    )
    /// Values above the trackable range, recorded at its top.
    public private(set) var clampedCount: UInt64 = 0

    /// An empty histogram.
    public init() {}

    /// Number of recorded values.
    public var count: UInt64 { storage.totalCount }

    /// Records one latency.
    @inline(__always)
    public mutating func record(nanoseconds: UInt64) {
        // Round up so that a 300 ns answer reads as 1 µs rather than vanishing below the lowest bucket.
        var micros = (nanoseconds + 999) / 1000
        if micros < Self.lowestMicroseconds { micros = Self.lowestMicroseconds }
        if micros > Self.highestMicroseconds {
            micros = Self.highestMicroseconds
            clampedCount += 1
        }
        storage.record(micros)
    }

    /// Adds every count of `other`.
    public mutating func add(_ other: LatencyHistogram) {
        storage.add(other.storage)
        clampedCount += other.clampedCount
    }

    /// The value at `percentile` (0...100), in nanoseconds; 0 when empty.
    public func valueAtPercentile(_ percentile: Double) -> UInt64 {
        count == 0 ? 0 : storage.valueAtPercentile(percentile) * 1000
    }

    /// Smallest recorded value, in nanoseconds.
    public var min: UInt64 { count == 0 ? 0 : storage.min * 1000 }

    /// Largest recorded value, in nanoseconds.
    public var max: UInt64 { count == 0 ? 0 : storage.maxRecorded * 1000 }

    /// Mean, in nanoseconds (reported for completeness; percentiles are what to read).
    public var mean: Double { count == 0 ? 0 : storage.mean * 1000 }

    /// Every distinct recorded bucket as (value in µs, count), lowest first: the full histogram, enough to merge
    /// runs or recompute any percentile later.
    public var buckets: [(microseconds: UInt64, count: UInt64)] {
        storage.recordedValues().map { ($0.value, UInt64($0.count)) }
    }

    /// The percentile spectrum: (percentile, value in ns) at `ticksPerHalfDistance` steps per halving of the
    /// distance to 100%, the curve that shows the tail.
    public func spectrum(ticksPerHalfDistance: Int = 5) -> [(percentile: Double, nanoseconds: UInt64)] {
        guard count > 0 else { return [] }
        return storage.percentiles(ticksPerHalfDistance: ticksPerHalfDistance).map {
            // Bucket values are the top of their bucket; no point of the curve may claim more than was recorded.
            ($0.percentileLevelIteratedTo, Swift.min($0.value, storage.maxRecorded) * 1000)
        }
    }
}
