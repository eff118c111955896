import Testing

@testable import RankLoad

@Suite("LoadSchedule")
struct LoadScheduleTests {
    @Test("a constant rate sends request i at exactly i / rate and stops after rate x duration requests")
    func constantRate() {
        let schedule = LoadSchedule.constant(rate: 2000, durationNanoseconds: 1_000_000_000)
        #expect(schedule.sendTime(ofRequest: 0)?.offset == 0)
        #expect(schedule.sendTime(ofRequest: 1)?.offset == 500_000)
        #expect(schedule.sendTime(ofRequest: 1999)?.offset == 999_500_000)
        #expect(schedule.sendTime(ofRequest: 2000) == nil)
    }

    @Test("send times do not drift over a million requests")
    func noDrift() {
        let schedule = LoadSchedule.constant(rate: 3000, durationNanoseconds: 400_000_000_000)
        let time = schedule.sendTime(ofRequest: 999_999)
        #expect(time?.offset == 333_333_000_000)
    }

    @Test("warm-up is a leading segment at the start rate; the measured window follows it")
    func warmupSegment() {
        let schedule = LoadSchedule.constant(
            rate: 1000,
            durationNanoseconds: 2_000_000_000,
            warmupNanoseconds: 500_000_000
        )
        #expect(schedule.warmupSegments == 1)
        #expect(schedule.measuredStartNanoseconds == 500_000_000)
        #expect(schedule.measuredNanoseconds == 2_000_000_000)
        #expect(schedule.measuredMeanRate == 1000)
        #expect(schedule.sendTime(ofRequest: 499)?.segment == 0)
        let first = schedule.sendTime(ofRequest: 500)
        #expect(first?.segment == 1)
        #expect(first?.offset == 500_000_000)
        #expect(schedule.sendTime(ofRequest: 2499)?.offset == 2_499_000_000)
        #expect(schedule.sendTime(ofRequest: 2500) == nil)
    }

    @Test("steps raise the rate per step and each step gets rate x step duration requests")
    func steps() {
        let schedule = LoadSchedule.steps(start: 100, step: 100, steps: 3, stepDurationNanoseconds: 1_000_000_000)
        var perSegment = [0, 0, 0]
        var index = 0
        var hint = 0
        while let time = schedule.sendTime(ofRequest: index, hint: hint) {
            perSegment[time.segment] += 1
            #expect(schedule.segment(atOffset: time.offset) == time.segment)
            hint = time.segment
            index += 1
        }
        #expect(perSegment == [100, 200, 300])
        #expect(schedule.sendTime(ofRequest: 100)?.offset == 1_000_000_000)
        #expect(schedule.sendTime(ofRequest: 300)?.offset == 2_000_000_000)
    }

    @Test("a linear ramp sends (from + to) / 2 x duration requests, denser towards the end")
    func ramp() {
        let schedule = LoadSchedule.ramp(from: 0, to: 1000, durationNanoseconds: 2_000_000_000)
        var offsets: [UInt64] = []
        var index = 0
        while let time = schedule.sendTime(ofRequest: index) {
            offsets.append(time.offset)
            index += 1
        }
        #expect(offsets.count == 1000)
        #expect(offsets.first == 0)
        // Half the requests of a ramp from zero are sent by t = T / sqrt(2).
        let half = Double(offsets[500]) / 1e9
        #expect(abs(half - 2 / 2.0.squareRoot()) < 0.001)
        let firstGap = offsets[1] - offsets[0]
        let lastGap = offsets[999] - offsets[998]
        #expect(firstGap > lastGap)
        for (earlier, later) in zip(offsets, offsets.dropFirst()) { #expect(earlier <= later) }
    }

    @Test("the phase plan names warm-up and steps and finds the window of an offset")
    func phasePlan() {
        let plan = PhasePlan(
            mode: .openLoop(
                .steps(start: 10, step: 10, steps: 2, stepDurationNanoseconds: 100, warmupNanoseconds: 50)
            )
        )
        #expect(plan.names == ["warm-up", "step 1", "step 2"])
        #expect(plan.targetRates == [10, 10, 20])
        #expect(plan.phase(atOffset: 0) == 0)
        #expect(plan.phase(atOffset: 50) == 1)
        #expect(plan.phase(atOffset: 249) == 2)
        #expect(plan.phase(atOffset: 250) == nil)
    }

    @Test("a piecewise schedule holds each rate for its duration, after a warm-up at the first rate")
    func piecewise() {
        let schedule = LoadSchedule.piecewise(
            [(600, 2_000_000_000), (2400, 1_000_000_000), (300, 2_000_000_000)],
            warmupNanoseconds: 500_000_000
        )
        #expect(schedule.warmupSegments == 1)
        #expect(schedule.segments.map(\.meanRate) == [600, 600, 2400, 300])
        #expect(schedule.measuredNanoseconds == 5_000_000_000)
        var perSegment = [0, 0, 0, 0]
        var index = 0
        var hint = 0
        while let time = schedule.sendTime(ofRequest: index, hint: hint) {
            perSegment[time.segment] += 1
            hint = time.segment
            index += 1
        }
        #expect(perSegment == [300, 1200, 2400, 600])
        // The first request after the drop leaves exactly when the drop begins.
        #expect(schedule.sendTime(ofRequest: 300 + 1200 + 2400)?.offset == 3_500_000_000)
    }

    @Test(
        "the requests a schedule asks for up to an offset follow its rate line",
        arguments: [
            (0 as UInt64, 0.0), (250_000_000, 150), (1_000_000_000, 600), (1_500_000_000, 1800),
            (2_000_000_000, 3000), (9_000_000_000, 3000),
        ]
    )
    func expectedRequests(_ case_: (offset: UInt64, requests: Double)) {
        let schedule = LoadSchedule.piecewise([(600, 1_000_000_000), (2400, 1_000_000_000)])
        #expect(abs(schedule.expectedRequests(untilOffset: case_.offset) - case_.requests) < 1e-6)
    }

    @Test("within a ramp the requests asked for grow with the square of time")
    func expectedRequestsOnARamp() {
        let schedule = LoadSchedule.ramp(from: 0, to: 1000, durationNanoseconds: 2_000_000_000)
        #expect(abs(schedule.expectedRequests(untilOffset: 1_000_000_000) - 250) < 1e-6)
        #expect(abs(schedule.expectedRequests(untilOffset: 2_000_000_000) - 1000) < 1e-6)
    }

    @Test("windows cut the measured schedule from its start, the last one short, each with its mean target rate")
    func windows() {
        let schedule = LoadSchedule.piecewise(
            [(600, 1_500_000_000), (2400, 1_000_000_000)],
            warmupNanoseconds: 500_000_000
        )
        let plan = PhasePlan(mode: .openLoop(schedule), windowNanoseconds: 1_000_000_000)
        #expect(plan.measuredStartNanoseconds == 500_000_000)
        #expect(plan.windowStarts == [500_000_000, 1_500_000_000, 2_500_000_000])
        #expect(plan.windowDurations == [1_000_000_000, 1_000_000_000, 500_000_000])
        // The middle window straddles the rise: half a second at each rate.
        #expect(plan.windowTargetRates.map { $0.rounded() } == [600, 1500, 2400])
        #expect(plan.window(atOffset: 0) == nil)
        #expect(plan.window(atOffset: 499_999_999) == nil)
        #expect(plan.window(atOffset: 500_000_000) == 0)
        #expect(plan.window(atOffset: 1_499_999_999) == 0)
        #expect(plan.window(atOffset: 1_500_000_000) == 1)
        #expect(plan.window(atOffset: 2_999_999_999) == 2)
        #expect(plan.window(atOffset: 3_000_000_000) == nil)
    }

    @Test("without a window length, or in closed loop, a run has no windows")
    func noWindows() {
        let open = PhasePlan(mode: .openLoop(.constant(rate: 10, durationNanoseconds: 1_000_000_000)))
        #expect(open.windowStarts.isEmpty)
        #expect(open.window(atOffset: 0) == nil)
        let closed = PhasePlan(
            mode: .closedLoop(concurrency: 1, durationNanoseconds: 1_000_000_000, warmupNanoseconds: 0),
            windowNanoseconds: 100_000_000
        )
        #expect(closed.windowStarts.isEmpty)
    }
}
