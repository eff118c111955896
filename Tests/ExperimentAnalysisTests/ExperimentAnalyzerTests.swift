import ExperimentAnalysis
import ExposureLog
import Foundation
import Ranking
import Testing

/// The analysis end to end on simulated users: a planted effect is found, an A/A split is wrong about 5% of the
/// time, a broken split is flagged, and a slower treatment is not shipped.
@Suite struct ExperimentAnalyzerTests {
    static func analyze(
        _ synthetic: SyntheticExperiment,
        _ settings: AnalysisSettings = AnalysisSettings()
    ) throws
        -> ExperimentResult
    {
        let (exposures, events) = synthetic.records()
        let report = try ExperimentAnalyzer.analyze(exposures: exposures, events: events, settings: settings)
        return try #require(report.experiments.first)
    }

    @Test func aPlantedConversionLiftIsSignificantAndShips() throws {
        var synthetic = SyntheticExperiment()
        synthetic.users = 10_000
        synthetic.conversionLift = ["treatment": 1.2]
        let result = try Self.analyze(synthetic)
        #expect(result.control == "control")
        let comparison = try #require(result.comparisons.first)
        #expect(comparison.variant == "treatment")
        let conversion = try #require(comparison.metric(.conversion))
        #expect(conversion.method == "welch")
        #expect(conversion.outcome == "better", "\(conversion)")
        let relative = try #require(conversion.relative.estimate)
        #expect(relative > 0.1 && relative < 0.3)
        #expect(try #require(conversion.pValue) < 0.05)
        #expect(comparison.metric(.clickThrough)?.method == "delta")
        #expect(comparison.guardrails.allSatisfy { $0.status == "pass" }, "\(comparison.guardrails)")
        #expect(!result.sampleRatio.flagged)
        #expect(comparison.verdict.decision == "ship", "\(comparison.verdict.reasons)")
        #expect(comparison.verdict.reasons.first?.contains("significantly higher") == true)
    }

    @Test func theSameLiftOnAnotherSuccessMetricIsNotAShip() throws {
        var synthetic = SyntheticExperiment()
        synthetic.users = 8_000
        synthetic.conversionLift = ["treatment": 1.2]
        var settings = AnalysisSettings()
        settings.successMetric = .clickThrough
        let comparison = try #require(try Self.analyze(synthetic, settings).comparisons.first)
        // Click-through has no lift, so whatever this draw's click-through says by chance, the verdict is not a ship
        // and it is about click-through, not the conversion lift.
        #expect(comparison.verdict.decision != "ship", "\(comparison.verdict.reasons)")
        #expect(comparison.verdict.reasons.allSatisfy { !$0.hasPrefix("Conversions") }, "\(comparison.verdict.reasons)")
    }

    /// Users of an A/A test: exposures per user and click propensities vary a lot between users, so exposures of
    /// one user are correlated and only a method clustered by user keeps the false-positive rate at 5%.
    static func aaTallies(seed: UInt64, users: Int) -> (a: [UserTally], b: [UserTally]) {
        var generator = SplitMix64(seed: seed)
        var a: [UserTally] = []
        var b: [UserTally] = []
        let salt = "aa-salt-\(seed)"
        for user in 0..<users {
            var tally = UserTally()
            let propensity = 0.6 * pow(Double.random(in: 0..<1, using: &generator), 3)
            let exposures = 1 + Int(pow(Double.random(in: 0..<1, using: &generator), 3) * 20)
            for _ in 0..<exposures {
                tally.exposures += 1
                if Double.random(in: 0..<1, using: &generator) < propensity {
                    tally.clickedExposures += 1
                    tally.ndcgSum += Double.random(in: 0.3...1, using: &generator)
                    if Double.random(in: 0..<1, using: &generator) < 0.3 { tally.conversions += 1 }
                }
            }
            if SyntheticExperiment.hash("\(salt):\(user)") & 1 == 0 { a.append(tally) } else { b.append(tally) }
        }
        return (a, b)
    }

    @Test func anAASplitIsSignificantAboutFivePercentOfTheTime() {
        let runs = 400
        var falsePositives: [Metric: Int] = [:]
        for run in 0..<runs {
            let (a, b) = Self.aaTallies(seed: UInt64(run) &+ 1_000, users: 1_000)
            for metric in Metric.allCases {
                let comparison = ExperimentAnalyzer.compare(metric, treatment: b, control: a)
                if comparison.outcome != "no significant difference" { falsePositives[metric, default: 0] += 1 }
            }
        }
        // 400 runs at 5%: 20 expected, a standard deviation of 4.4; 2%–9% is 8 to 36.
        for metric in Metric.allCases {
            let rate = Double(falsePositives[metric, default: 0]) / Double(runs)
            print("A/A false-positive rate, \(metric.rawValue) (\(metric.method)): \(rate)")
            #expect(rate >= 0.02 && rate <= 0.09, "\(metric.rawValue): \(rate)")
        }
    }

    @Test func anAAExperimentThroughTheWholePipelineIsSignificantAboutFivePercentOfTheTime() throws {
        // The same check from log records: the join, the per-user tallies and the verdict's success metric.
        let runs = 300
        var falsePositives: [Metric: Int] = [:]
        var settings = AnalysisSettings()
        settings.bootstrapResamples = 0
        for run in 0..<runs {
            var synthetic = SyntheticExperiment()
            synthetic.users = 500
            synthetic.seed = UInt64(run) &+ 50_000
            synthetic.salt = "aa-pipeline-\(run)"
            synthetic.variants = [("control", 0.5), ("control-again", 0.5)]
            let comparison = try #require(try Self.analyze(synthetic, settings).comparisons.first)
            for metric in [Metric.conversion, .clickThrough]
            where comparison.metric(metric)?.outcome != "no significant difference" {
                falsePositives[metric, default: 0] += 1
            }
        }
        for metric in [Metric.conversion, .clickThrough] {
            let rate = Double(falsePositives[metric, default: 0]) / Double(runs)
            print("A/A false-positive rate through the pipeline, \(metric.rawValue): \(rate)")
            #expect(rate >= 0.02 && rate <= 0.09, "\(metric.rawValue): \(rate)")
        }
    }

    @Test func anExposureLevelIntervalWouldBeTooNarrowOnTheSameData() {
        // The check above has teeth: treating each exposure as independent gives a clearly higher rate.
        let runs = 200
        var naivePositives = 0
        for run in 0..<runs {
            let (a, b) = Self.aaTallies(seed: UInt64(run) &+ 1_000, users: 1_000)
            let flatten = { (tallies: [UserTally]) -> [Double] in
                tallies.flatMap { tally in
                    [Double](repeating: 1, count: Int(tally.clickedExposures))
                        + [Double](repeating: 0, count: Int(tally.exposures - tally.clickedExposures))
                }
            }
            let difference = Difference(treatment: Estimate.mean(flatten(b)), control: Estimate.mean(flatten(a)))
            if difference.absolute.isAbove(0) || difference.absolute.isBelow(0) { naivePositives += 1 }
        }
        #expect(Double(naivePositives) / Double(runs) > 0.12)
    }

    @Test func aPlantedSampleRatioMismatchIsFlaggedAndBlocksTheVerdict() throws {
        var synthetic = SyntheticExperiment()
        synthetic.users = 20_000
        synthetic.salt = nil
        synthetic.dropEveryNth = ["treatment": 20]
        synthetic.conversionLift = ["treatment": 1.2]
        var settings = AnalysisSettings()
        settings.bootstrapResamples = 100
        let result = try Self.analyze(synthetic, settings)
        #expect(result.variants.map(\.users) == [10_000, 9_500])
        #expect(result.sampleRatio.checked)
        #expect(try #require(result.sampleRatio.pValue) < 0.001)
        #expect(result.sampleRatio.flagged)
        let verdict = try #require(result.comparisons.first?.verdict)
        #expect(verdict.decision == "inconclusive")
        #expect(verdict.reasons.first == ExperimentAnalyzer.sampleRatioReason)
    }

    @Test(arguments: [1, 2, 3] as [UInt64]) func aBalancedSplitIsNotFlagged(seed: UInt64) throws {
        var synthetic = SyntheticExperiment()
        synthetic.users = 20_000
        synthetic.seed = seed
        synthetic.salt = "balanced-\(seed)"
        var settings = AnalysisSettings()
        settings.bootstrapResamples = 100
        let result = try Self.analyze(synthetic, settings)
        #expect(result.sampleRatio.checked)
        #expect(try #require(result.sampleRatio.pValue) > 0.001)
        #expect(!result.sampleRatio.flagged)
    }

    @Test func unevenPlannedSharesAreTheExpectation() {
        let check = ExperimentAnalyzer.checkSampleRatio(
            [("control", 0.8, 8_000), ("treatment", 0.2, 2_000)],
            threshold: 0.001
        )
        #expect(check.chiSquare == 0)
        #expect(check.pValue == 1)
        #expect(check.cells.map(\.expectedUsers) == [8_000, 2_000])
    }

    @Test func sharesADamagedLogCannotPlanAreLeftOutNotCrashedOn() {
        for bad in [0.0, -0.5, Double.nan, Double.infinity] {
            let check = ExperimentAnalyzer.checkSampleRatio(
                [("control", 0.5, 5_000), ("treatment", bad, 5_000)],
                threshold: 0.001
            )
            #expect(!check.checked && !check.flagged && check.pValue == nil)
        }
        let three = ExperimentAnalyzer.checkSampleRatio(
            [("control", 0.5, 5_000), ("b", 0.5, 5_000), ("broken", .nan, 10)],
            threshold: 0.001
        )
        #expect(three.checked && three.cells.map(\.variant) == ["control", "b"])
    }

    @Test func aSlowerTreatmentFailsItsGuardrailAndIsNotShipped() throws {
        var synthetic = SyntheticExperiment()
        synthetic.users = 4_000
        synthetic.latencyFactor = ["treatment": 1.5]
        synthetic.conversionLift = ["treatment": 1.2]
        let comparison = try #require(try Self.analyze(synthetic).comparisons.first)
        let latency = try #require(comparison.guardrail(.latencyP99))
        #expect(latency.status == "fail", "\(latency)")
        #expect(latency.method == "bootstrap")
        #expect(try #require(latency.difference.low) > 0.1)
        #expect(comparison.verdict.decision == "don't ship")
        #expect(comparison.verdict.reasons.contains { $0.hasPrefix("Latency p99 guardrail fails") })
    }

    @Test func theBootstrapIsTheSameOnEveryRunAndHoldsItsEstimate() throws {
        var synthetic = SyntheticExperiment()
        synthetic.users = 1_000
        var settings = AnalysisSettings()
        settings.bootstrapResamples = 200
        let first = try #require(try Self.analyze(synthetic, settings).comparisons.first?.guardrail(.latencyP99))
        let second = try #require(try Self.analyze(synthetic, settings).comparisons.first?.guardrail(.latencyP99))
        #expect(first.difference == second.difference)
        let estimate = try #require(first.difference.estimate)
        #expect(try #require(first.difference.low) <= estimate && estimate <= (try #require(first.difference.high)))
    }

    @Test func withoutAVariantNamedControlTheFirstByNameIsTheControlAndTheHoldoutStandsAside() throws {
        var synthetic = SyntheticExperiment()
        synthetic.users = 600
        synthetic.variants = [("holdout", 0.1), ("b-new", 0.45), ("a-old", 0.45)]
        var settings = AnalysisSettings()
        settings.bootstrapResamples = 50
        let result = try Self.analyze(synthetic, settings)
        #expect(result.control == "a-old")
        #expect(result.controlRule.contains("first variant by name"))
        #expect(result.comparisons.map(\.variant) == ["b-new"])
        #expect(result.variants.first { $0.name == "holdout" }?.role == "holdout")
        #expect(result.sampleRatio.cells.count == 3)
    }

    @Test func aVariantAloneWithTheHoldoutIsComparedAgainstIt() throws {
        var synthetic = SyntheticExperiment()
        synthetic.users = 400
        synthetic.variants = [("holdout", 0.5), ("new-model", 0.5)]
        var settings = AnalysisSettings()
        settings.bootstrapResamples = 50
        let result = try Self.analyze(synthetic, settings)
        #expect(result.control == "holdout")
        #expect(result.comparisons.map(\.variant) == ["new-model"])
    }

    @Test func errorsNameWhatIsMissing() throws {
        #expect(throws: AnalysisError.noExposures) {
            try ExperimentAnalyzer.analyze(exposures: [], events: [])
        }
        var synthetic = SyntheticExperiment()
        synthetic.users = 10
        let (exposures, events) = synthetic.records()
        var settings = AnalysisSettings()
        settings.experiment = "nope"
        #expect(throws: AnalysisError.unknownExperiment("nope", known: ["ranking-v2"])) {
            try ExperimentAnalyzer.analyze(exposures: exposures, events: events, settings: settings)
        }
        let outside = exposures.map { exposure -> ExposureRecord in
            var copy = exposure
            copy.assignments = [.init(layer: "ranking", experiment: "", variant: "")]
            return copy
        }
        #expect(throws: AnalysisError.noExperiments) {
            try ExperimentAnalyzer.analyze(exposures: outside, events: events)
        }
    }
}
