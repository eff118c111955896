import Testing

@testable import RankLoad

@Suite("Option parsing")
struct ParsingTests {
    @Test("durations take ns, us, ms, s, m and h, and a bare number is seconds")
    func durations() throws {
        #expect(try LoadParsing.nanoseconds("10s") == 10_000_000_000)
        #expect(try LoadParsing.nanoseconds("250ms") == 250_000_000)
        #expect(try LoadParsing.nanoseconds("800us") == 800_000)
        #expect(try LoadParsing.nanoseconds("1.5") == 1_500_000_000)
        #expect(try LoadParsing.nanoseconds("2m") == 120_000_000_000)
        #expect(try LoadParsing.nanoseconds("1h") == 3_600_000_000_000)
    }

    @Test(
        "bad durations and rates are errors with a hint, not crashes",
        arguments: ["", "abc", "-1s", "10 parsecs", "nan"]
    )
    func badValues(_ text: String) {
        #expect(throws: LoadParsing.InvalidValue.self) { try LoadParsing.nanoseconds(text) }
        #expect(throws: LoadParsing.InvalidValue.self) { try LoadParsing.rate(text) }
    }

    @Test("rates accept k and m suffixes")
    func rates() throws {
        #expect(try LoadParsing.rate("2000") == 2000)
        #expect(try LoadParsing.rate("2.5k") == 2500)
        #expect(throws: LoadParsing.InvalidValue.self) { try LoadParsing.rate("0") }
    }

    @Test("a piecewise schedule is RATExDURATION steps separated by commas")
    func schedules() throws {
        let steps = try LoadParsing.schedule("600x2s,2.4kX10s,300x500ms")
        #expect(steps.map(\.rate) == [600, 2400, 300])
        #expect(steps.map(\.durationNanoseconds) == [2_000_000_000, 10_000_000_000, 500_000_000])
    }

    @Test(
        "bad schedules are errors with a hint",
        arguments: ["", "600", "600x", "x2s", "0x2s", "600x0s", "600x2s,", "1x2x3"]
    )
    func badSchedules(_ text: String) {
        #expect(throws: LoadParsing.InvalidValue.self) { try LoadParsing.schedule(text) }
    }

    @Test("targets are host:port with a valid port")
    func targets() throws {
        #expect(try LoadParsing.target("127.0.0.1:50051") == ("127.0.0.1", 50051))
        #expect(try LoadParsing.target("[::1]:8080") == ("::1", 8080))
        #expect(throws: LoadParsing.InvalidValue.self) { try LoadParsing.target("127.0.0.1") }
        #expect(throws: LoadParsing.InvalidValue.self) { try LoadParsing.target("host:70000") }
    }

    @Test("an SLO reads percentiles (p99, p99.9, p999) and an error budget")
    func slo() throws {
        let slo = try ServiceLevelObjective.parse("p99=10ms,p999=25ms,errors=0.5%")
        #expect(slo.latency.map(\.percentile) == [99, 99.9])
        #expect(slo.latency.map(\.maxNanoseconds) == [10_000_000, 25_000_000])
        #expect(slo.maxErrorFraction == 0.005)
        #expect(slo.p99Bound == 10_000_000)
        #expect(try ServiceLevelObjective.parse("p99.99=1s").latency.first?.percentile == 99.99)
        #expect(throws: LoadParsing.InvalidValue.self) { try ServiceLevelObjective.parse("errors=1%") }
        #expect(throws: LoadParsing.InvalidValue.self) { try ServiceLevelObjective.parse("q99=1ms") }
        #expect(throws: LoadParsing.InvalidValue.self) { try ServiceLevelObjective.parse("p99") }
    }

    @Test("an SLO is breached by a slow tail or by too many errors, and met otherwise")
    func sloVerdict() throws {
        let slo = try ServiceLevelObjective.parse("p99=10ms")
        var histogram = LatencyHistogram()
        for _ in 0..<98 { histogram.record(nanoseconds: 1_000_000) }
        for _ in 0..<2 { histogram.record(nanoseconds: 50_000_000) }
        #expect(slo.evaluate(latency: histogram, errorFraction: 0).met == false)
        var fast = LatencyHistogram()
        for _ in 0..<100 { fast.record(nanoseconds: 1_000_000) }
        #expect(slo.evaluate(latency: fast, errorFraction: 0).met)
        let failing = slo.evaluate(latency: fast, errorFraction: 0.01)
        #expect(failing.met == false)
        #expect(failing.breaches.count == 1)
        #expect(slo.evaluate(latency: LatencyHistogram(), errorFraction: 0).met == false)
    }

    @Test("method names map to their gRPC paths; unknown names are errors")
    func methods() throws {
        #expect(try RequestMix.method(named: "recommend") == .recommend)
        #expect(try RequestMix.method(named: "grpc.health.v1.Health/Check") == .health)
        #expect(
            try RequestMix.method(named: "grpc.testing.TestService/EmptyCall")
                == .custom(path: "/grpc.testing.TestService/EmptyCall", message: [])
        )
        #expect(throws: LoadParsing.InvalidValue.self) { try RequestMix.method(named: "frobnicate") }
    }
}
