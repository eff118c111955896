import Testing

@testable import RankLoad

@Suite("LatencyHistogram")
struct LatencyHistogramTests {
    @Test("percentiles of 1...1000 ms come back within the three-significant-digit precision")
    func percentilesOfUniformValues() {
        var histogram = LatencyHistogram()
        for millisecond in 1...1000 { histogram.record(nanoseconds: UInt64(millisecond) * 1_000_000) }
        #expect(histogram.count == 1000)
        for (percentile, expectedMs) in [(50.0, 500.0), (90, 900), (99, 990), (99.9, 999)] {
            let value = Double(histogram.valueAtPercentile(percentile)) / 1e6
            #expect(abs(value - expectedMs) <= expectedMs * 0.001 + 0.001, "p\(percentile) = \(value) ms")
        }
        #expect(histogram.min == 1_000_000)
        #expect(abs(Double(histogram.max) / 1e6 - 1000) <= 1)
    }

    @Test("a value above 60 s is kept at the top and counted as clamped, never dropped")
    func clampsAboveRange() {
        var histogram = LatencyHistogram()
        histogram.record(nanoseconds: 120_000_000_000)
        #expect(histogram.count == 1)
        #expect(histogram.clampedCount == 1)
        #expect(histogram.max >= 59_900_000_000)
    }

    @Test("a sub-microsecond value is recorded as 1 µs rather than lost below the range")
    func roundsTinyValuesUp() {
        var histogram = LatencyHistogram()
        histogram.record(nanoseconds: 0)
        histogram.record(nanoseconds: 300)
        #expect(histogram.count == 2)
        #expect(histogram.min == 1000)
    }

    @Test("merging per-thread histograms equals recording everything in one (no averaging of percentiles)")
    func mergeEqualsSingleRecording() {
        var fast = LatencyHistogram()
        var slow = LatencyHistogram()
        var all = LatencyHistogram()
        for index in 0..<990 {
            fast.record(nanoseconds: UInt64(100_000 + index * 100))
            all.record(nanoseconds: UInt64(100_000 + index * 100))
        }
        for index in 0..<10 {
            slow.record(nanoseconds: UInt64(50_000_000 + index * 1_000_000))
            all.record(nanoseconds: UInt64(50_000_000 + index * 1_000_000))
        }
        var merged = fast
        merged.add(slow)
        #expect(merged.count == all.count)
        for percentile in [50.0, 90, 99, 99.5, 99.9, 100] {
            #expect(merged.valueAtPercentile(percentile) == all.valueAtPercentile(percentile))
        }
        // The average of the two p99s would hide the slow tail; the merged p99.5 sits in it.
        #expect(merged.valueAtPercentile(99.5) >= 50_000_000)
        #expect(merged.buckets.map(\.count).reduce(0, +) == 1000)
    }

    @Test("the spectrum rises monotonically and ends at the maximum")
    func spectrumIsMonotonic() {
        var histogram = LatencyHistogram()
        for index in 1...5000 { histogram.record(nanoseconds: UInt64(index) * 10_000) }
        let spectrum = histogram.spectrum()
        #expect(!spectrum.isEmpty)
        for (earlier, later) in zip(spectrum, spectrum.dropFirst()) {
            #expect(earlier.percentile <= later.percentile)
            #expect(earlier.nanoseconds <= later.nanoseconds)
        }
        #expect(spectrum.last?.nanoseconds == histogram.max)
    }
}
