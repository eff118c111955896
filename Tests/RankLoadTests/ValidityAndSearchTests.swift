import Testing

@testable import RankLoad

@Suite("Validity gate and max-RPS search")
struct ValidityAndSearchTests {
    @Test("a run that achieved its rate with little lag is valid")
    func validRun() {
        let result = Synthetic.result(targetRate: 1000, dispatched: 1000, latencyNanoseconds: 1_000_000)
        #expect(ValidityGate().problems(result).isEmpty)
        #expect(RunReport(result: result).valid)
    }

    @Test("achieving less than 99% of the target rate makes a run invalid")
    func lowAchievedRate() {
        let result = Synthetic.result(targetRate: 1000, dispatched: 980, latencyNanoseconds: 1_000_000)
        let problems = ValidityGate().problems(result)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("achieved rate") == true)
        #expect(RunReport(result: result).valid == false)
    }

    @Test("one request short of rate x duration is rounding, not a saturated generator")
    func oneShortIsFine() {
        let result = Synthetic.result(targetRate: 1000, dispatched: 989, latencyNanoseconds: 1_000_000)
        #expect(ValidityGate().problems(result).isEmpty)
    }

    @Test("a scheduling lag p99 above the threshold makes a run invalid however fast the server was")
    func highLag() {
        let result = Synthetic.result(
            targetRate: 1000,
            dispatched: 1000,
            latencyNanoseconds: 100_000,
            lagNanoseconds: 8_000_000
        )
        let problems = ValidityGate().problems(result)
        #expect(problems.count == 1)
        #expect(problems.first?.contains("scheduling lag") == true)
        let relaxed = ValidityGate(minAchievedFraction: 0.99, maxSchedulingLagP99Nanoseconds: 10_000_000)
        #expect(relaxed.problems(result).isEmpty)
    }

    @Test("the report carries the SLO verdict and the JSON has the documented keys")
    func reportJSON() throws {
        let result = Synthetic.result(targetRate: 1000, dispatched: 1000, latencyNanoseconds: 12_000_000)
        let report = RunReport(result: result, slo: try ServiceLevelObjective.parse("p99=10ms"))
        #expect(report.sloMet == false)
        let text = String(decoding: try report.json(), as: UTF8.self)
        for key in [
            "\"target_rps\"", "\"achieved_rps\"", "\"valid\"", "\"latency_ms\"", "\"p50\"", "\"p90\"",
            "\"p99\"", "\"p999\"", "\"max\"", "\"status_counts\"", "\"histogram\"", "\"counts\"",
        ] {
            #expect(text.contains(key), "missing \(key)")
        }
        #expect(report.table.contains("BREACHED"))
    }

    /// A server whose p99 is 1 ms up to 3000 req/s and 20 ms above.
    private func modelServer(_ rate: Double) -> RunReport {
        let latency: UInt64 = rate <= 3000 ? 1_000_000 : 20_000_000
        let result = Synthetic.result(targetRate: rate, dispatched: UInt64(rate), latencyNanoseconds: latency)
        return RunReport(result: result, slo: try! ServiceLevelObjective.parse("p99=10ms"))
    }

    @Test("the search brackets the knee within its precision")
    func searchFindsTheKnee() throws {
        var search = MaxRateSearch(slo: try ServiceLevelObjective.parse("p99=10ms"), startRate: 500)
        search.precision = 0.05
        let outcome = search.run(trial: modelServer)
        let maxRPS = try #require(outcome.maxRPS)
        let failing = try #require(outcome.firstFailingRPS)
        #expect(maxRPS <= 3000)
        #expect(failing > 3000)
        #expect(failing / maxRPS <= 1.05)
        #expect(outcome.limitedByGenerator == false)
    }

    @Test("the search goes down when the first rate already breaches")
    func searchGoesDown() throws {
        let outcome = MaxRateSearch(slo: try ServiceLevelObjective.parse("p99=10ms"), startRate: 10_000)
            .run(trial: modelServer)
        #expect(outcome.trials.first?.sloMet == false)
        #expect(try #require(outcome.maxRPS) <= 3000)
    }

    @Test("a single noisy breach is re-run; only a confirmed breach marks a rate as failing")
    func breachesAreConfirmed() throws {
        var calls: [Double: Int] = [:]
        let search = MaxRateSearch(slo: try ServiceLevelObjective.parse("p99=10ms"), startRate: 1000)
        let outcome = search.run { rate in
            calls[rate, default: 0] += 1
            // 2000 req/s breaches on its first trial only (a neighbour's burst); 4000 breaches every time.
            let slow = rate >= 4000 || (rate == 2000 && calls[rate] == 1)
            let result = Synthetic.result(
                targetRate: rate,
                dispatched: UInt64(rate),
                latencyNanoseconds: slow ? 20_000_000 : 1_000_000
            )
            return RunReport(result: result, slo: try! ServiceLevelObjective.parse("p99=10ms"))
        }
        #expect(calls[2000] == 2)
        #expect(calls[4000] == 2)
        #expect(try #require(outcome.maxRPS) >= 2000)
        #expect(try #require(outcome.firstFailingRPS) <= 4000)
        var strict = MaxRateSearch(slo: try ServiceLevelObjective.parse("p99=10ms"), startRate: 1000)
        strict.confirmBreaches = false
        calls = [:]
        let first = strict.run { rate in
            calls[rate, default: 0] += 1
            let slow = rate >= 2000
            let result = Synthetic.result(
                targetRate: rate,
                dispatched: UInt64(rate),
                latencyNanoseconds: slow ? 20_000_000 : 1_000_000
            )
            return RunReport(result: result, slo: try! ServiceLevelObjective.parse("p99=10ms"))
        }
        #expect(calls[2000] == 1)
        #expect(first.firstFailingRPS == 2000)
    }

    @Test("at low rates the bisection never re-tries a rate it has already judged")
    func lowRatesDoNotRepeat() throws {
        let search = MaxRateSearch(slo: try ServiceLevelObjective.parse("p99=10ms"), startRate: 25)
        #expect(search.nextRate(passing: 6.25, failing: 7) == 6.61)
        #expect(search.nextRate(passing: 6.9, failing: 7) == nil)
        let outcome = search.run { rate in
            let result = Synthetic.result(
                targetRate: rate,
                dispatched: UInt64(rate.rounded()),
                latencyNanoseconds: rate <= 6.7 ? 1_000_000 : 20_000_000
            )
            return RunReport(result: result, slo: try! ServiceLevelObjective.parse("p99=10ms"))
        }
        let maxRPS = try #require(outcome.maxRPS)
        let failing = try #require(outcome.firstFailingRPS)
        #expect(maxRPS < failing)
        #expect(maxRPS <= 6.7)
    }

    @Test("an invalid trial stops the search and marks the answer as a generator-bound lower bound")
    func generatorLimitStopsTheSearch() throws {
        let search = MaxRateSearch(slo: try ServiceLevelObjective.parse("p99=10ms"), startRate: 500)
        let outcome = search.run { rate in
            // The generator manages only 1500 req/s, far below the server's knee.
            let dispatched = UInt64(min(rate, 1500))
            let result = Synthetic.result(targetRate: rate, dispatched: dispatched, latencyNanoseconds: 1_000_000)
            return RunReport(result: result, slo: try! ServiceLevelObjective.parse("p99=10ms"))
        }
        #expect(outcome.limitedByGenerator)
        #expect(outcome.maxRPS == 1000)
        #expect(outcome.firstFailingRPS == nil)
        #expect(outcome.trials.last?.valid == false)
    }
}
