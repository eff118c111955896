/// When each request of an open-loop run is meant to be sent, as a timeline of segments in which the rate changes
/// linearly from a start rate to an end rate (equal for constant segments).
///
/// The send time of request `i` is where the number of requests the schedule has asked for so far reaches `i`:
/// for a constant rate that is `i / rate`, for a linear ramp the root of a quadratic. Computing every send time from
/// the start of the run, rather than adding intervals, keeps rounding from drifting over millions of requests.
public struct LoadSchedule: Sendable, Equatable {
    /// One stretch of the timeline.
    public struct Segment: Sendable, Equatable {
        /// Length of the segment.
        public var durationNanoseconds: UInt64
        /// Rate at the start of the segment, requests per second.
        public var startRate: Double
        /// Rate at the end of the segment.
        public var endRate: Double

        /// Requests the segment asks for (fractional: the area under the rate line).
        public var expectedRequests: Double {
            (startRate + endRate) / 2 * Double(durationNanoseconds) / 1e9
        }

        /// Mean rate over the segment.
        public var meanRate: Double { (startRate + endRate) / 2 }
    }

    /// The segments in order; the first may be a warm-up.
    public let segments: [Segment]
    /// How many leading segments are warm-up: their requests are sent and recorded apart, never in the results.
    public let warmupSegments: Int
    private let startOffsets: [UInt64]
    private let cumulative: [Double]

    /// Creates a schedule from segments; `warmupSegments` of them lead and are excluded from the results.
    public init(segments: [Segment], warmupSegments: Int = 0) {
        precondition(warmupSegments >= 0 && warmupSegments <= segments.count, "more warm-up segments than segments")
        for segment in segments {
            precondition(segment.startRate >= 0 && segment.endRate >= 0, "rates are never negative")
        }
        self.segments = segments
        self.warmupSegments = warmupSegments
        var offsets: [UInt64] = []
        var counts: [Double] = []
        var time: UInt64 = 0
        var total = 0.0
        for segment in segments {
            offsets.append(time)
            counts.append(total)
            time += segment.durationNanoseconds
            total += segment.expectedRequests
        }
        offsets.append(time)
        counts.append(total)
        startOffsets = offsets
        cumulative = counts
    }

    /// A constant rate for `duration`, after `warmup` at the same rate.
    public static func constant(
        rate: Double,
        durationNanoseconds: UInt64,
        warmupNanoseconds: UInt64 = 0
    )
        -> LoadSchedule
    {
        build(
            measured: [Segment(durationNanoseconds: durationNanoseconds, startRate: rate, endRate: rate)],
            warmupNanoseconds: warmupNanoseconds
        )
    }

    /// Steps: `start`, `start + step`, ... each held for `stepDuration`, for `steps` steps.
    public static func steps(
        start: Double,
        step: Double,
        steps: Int,
        stepDurationNanoseconds: UInt64,
        warmupNanoseconds: UInt64 = 0
    ) -> LoadSchedule {
        precondition(steps > 0, "a step schedule has at least one step")
        let measured = (0..<steps).map { index in
            let rate = start + Double(index) * step
            return Segment(durationNanoseconds: stepDurationNanoseconds, startRate: rate, endRate: rate)
        }
        return build(measured: measured, warmupNanoseconds: warmupNanoseconds)
    }

    /// A linear ramp from `from` to `to` over `duration`, after `warmup` at `from`.
    public static func ramp(
        from: Double,
        to: Double,
        durationNanoseconds: UInt64,
        warmupNanoseconds: UInt64 = 0
    )
        -> LoadSchedule
    {
        build(
            measured: [Segment(durationNanoseconds: durationNanoseconds, startRate: from, endRate: to)],
            warmupNanoseconds: warmupNanoseconds
        )
    }

    /// Constant rates one after another, e.g. 600 req/s for 2 s, 2,400 for 10 s, 600 for 5 s: the shape of an
    /// overload test (a baseline, a surge, the drop back), after `warmup` at the first rate.
    public static func piecewise(
        _ steps: [(rate: Double, durationNanoseconds: UInt64)],
        warmupNanoseconds: UInt64 = 0
    ) -> LoadSchedule {
        precondition(!steps.isEmpty, "a piecewise schedule has at least one step")
        let measured = steps.map {
            Segment(durationNanoseconds: $0.durationNanoseconds, startRate: $0.rate, endRate: $0.rate)
        }
        return build(measured: measured, warmupNanoseconds: warmupNanoseconds)
    }

    private static func build(measured: [Segment], warmupNanoseconds: UInt64) -> LoadSchedule {
        guard warmupNanoseconds > 0, let first = measured.first else { return LoadSchedule(segments: measured) }
        let warmup = Segment(
            durationNanoseconds: warmupNanoseconds,
            startRate: first.startRate,
            endRate: first.startRate
        )
        return LoadSchedule(segments: [warmup] + measured, warmupSegments: 1)
    }

    /// Total length of the timeline, warm-up included.
    public var totalNanoseconds: UInt64 { startOffsets.last ?? 0 }

    /// Where the measured window starts on the timeline.
    public var measuredStartNanoseconds: UInt64 { startOffsets[warmupSegments] }

    /// Length of the measured window.
    public var measuredNanoseconds: UInt64 { totalNanoseconds - measuredStartNanoseconds }

    /// Requests the measured window asks for.
    public var measuredExpectedRequests: Double { cumulative[segments.count] - cumulative[warmupSegments] }

    /// Mean target rate of the measured window.
    public var measuredMeanRate: Double {
        measuredNanoseconds == 0 ? 0 : measuredExpectedRequests / (Double(measuredNanoseconds) / 1e9)
    }

    /// Requests the schedule asks for from its start up to `offset` on the timeline (fractional: the area under the
    /// rate line); the window between two offsets asks for the difference.
    public func expectedRequests(untilOffset offset: UInt64) -> Double {
        guard offset < totalNanoseconds else { return cumulative[segments.count] }
        let index = segment(atOffset: offset)
        let s = segments[index]
        let seconds = Double(offset - startOffsets[index]) / 1e9
        let slope = (s.endRate - s.startRate) / (Double(s.durationNanoseconds) / 1e9)
        return cumulative[index] + s.startRate * seconds + slope * seconds * seconds / 2
    }

    /// Offset of segment `index`'s start on the timeline.
    public func startOffset(ofSegment index: Int) -> UInt64 { startOffsets[index] }

    /// The segment the timeline offset falls in (the last one for offsets at or past the end).
    public func segment(atOffset offset: UInt64) -> Int {
        var low = 0
        var high = segments.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if startOffsets[middle] <= offset { low = middle } else { high = middle - 1 }
        }
        return low
    }

    /// The intended send time of request `index` as an offset from the start of the run, and its segment; nil once
    /// the schedule has asked for fewer than `index + 1` requests by its end.
    ///
    /// `hint` is the segment of the previous request: requests are asked for in order, so the search for the
    /// segment starts there and the whole run costs O(requests + segments).
    public func sendTime(ofRequest index: Int, hint: Int = 0) -> (offset: UInt64, segment: Int)? {
        let n = Double(index)
        var segment = Swift.max(0, Swift.min(hint, segments.count - 1))
        while segment > 0 && cumulative[segment] > n { segment -= 1 }
        while segment < segments.count && cumulative[segment + 1] <= n { segment += 1 }
        guard segment < segments.count else { return nil }
        let s = segments[segment]
        let local = n - cumulative[segment]
        let duration = Double(s.durationNanoseconds) / 1e9
        let seconds: Double
        let slope = (s.endRate - s.startRate) / duration
        if local == 0 {
            seconds = 0
        } else if abs(slope) < 1e-12 {
            seconds = local / s.startRate
        } else {
            // local = r0 t + slope t^2 / 2, solved for the root in [0, duration]; this form stays accurate when
            // the slope is tiny.
            let discriminant = Swift.max(0, s.startRate * s.startRate + 2 * slope * local)
            seconds = 2 * local / (s.startRate + discriminant.squareRoot())
        }
        let within = UInt64(Swift.min(Swift.max(0, seconds * 1e9), Double(s.durationNanoseconds)).rounded())
        return (startOffsets[segment] + within, segment)
    }
}
