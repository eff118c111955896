import Foundation
import RankingModels
import Testing

@testable import Ranking

/// Experiment layers: assignment by salted hash with allocations, holdout and a running window; variants that change
/// the model, sources, re-rank and online features; checks that name the experiment and field; and every answered
/// entry carrying the full model's score.
@Suite struct ExperimentTests {
    static func variant(
        _ name: String,
        _ percent: Double,
        model: String? = nil,
        sources: [SourceConfig]? = nil,
        rerank: RerankConfig? = nil,
        online: SurfaceOnlineConfig? = nil
    ) -> LayeredVariantConfig {
        LayeredVariantConfig(
            name: name,
            percent: percent,
            model: model,
            sources: sources,
            rerank: rerank,
            online: online
        )
    }

    static func experiment(
        _ name: String,
        percent: Double,
        surfaces: [String] = ["discovery"],
        start: String? = nil,
        stop: String? = nil,
        variants: [LayeredVariantConfig]
    ) -> LayeredExperimentConfig {
        LayeredExperimentConfig(
            name: name,
            surfaces: surfaces,
            percent: percent,
            start: start,
            stop: stop,
            salt: nil,
            variants: variants
        )
    }

    /// One layer ("ranking", salt "s", no holdout) holding `experiments`.
    static func oneLayer(_ experiments: LayeredExperimentConfig...) -> [ExperimentLayerConfig] {
        [ExperimentLayerConfig(name: "ranking", salt: "s", holdoutPercent: nil, experiments: experiments)]
    }

    /// The embedded configuration without its surface experiment, plus `layers`.
    static func config(_ layers: [ExperimentLayerConfig]) throws -> PipelineConfig {
        var config = try RankingEngine.embeddedConfig()
        for name in config.surfaces.keys { config.surfaces[name]?.experiment = nil }
        config.experiments = layers
        return config
    }

    static let users = (0..<20_000).map { "user-\($0)" }

    @Test func layersSplitUsersByTheirAllocationsIndependently() throws {
        let layers = [
            ExperimentLayerConfig(
                name: "ranking",
                salt: "ranking-2026",
                holdoutPercent: 10,
                experiments: [
                    Self.experiment(
                        "model",
                        percent: 60,
                        variants: [Self.variant("control", 50), Self.variant("b", 50)]
                    ),
                    Self.experiment(
                        "small",
                        percent: 20,
                        variants: [Self.variant("control", 25), Self.variant("c", 75)]
                    ),
                ]
            ),
            ExperimentLayerConfig(
                name: "ui",
                salt: "ui-2026",
                holdoutPercent: nil,
                experiments: [
                    Self.experiment(
                        "diversity",
                        percent: 100,
                        variants: [Self.variant("control", 50), Self.variant("d", 50)]
                    )
                ]
            ),
        ]
        let config = try Self.config(layers)
        #expect(config.problems().isEmpty)
        let plan = ExperimentPlan(config)
        var counts: [String: Int] = [:]
        var both: [String: Int] = [:]
        for user in Self.users {
            let placements = plan.assign(userID: user, surface: "discovery", timeMs: 0).placements
            #expect(placements == plan.assign(userID: user, surface: "discovery", timeMs: 0).placements)
            let ranking = placements.first { $0.layer == "ranking" }
            let key = ranking.map { "\($0.experiment)/\($0.variant)" } ?? "none"
            counts[key, default: 0] += 1
            let ui = try #require(placements.first { $0.layer == "ui" })
            if ranking?.variant == "b" { both[ui.variant, default: 0] += 1 }
        }
        let n = Double(Self.users.count)
        func share(_ key: String) -> Double { Double(counts[key] ?? 0) / n }
        // Each share within 4 standard errors of its plan.
        func close(_ observed: Double, _ planned: Double) -> Bool {
            abs(observed - planned) < 4 * (planned * (1 - planned) / n).squareRoot()
        }
        #expect(close(share("/holdout"), 0.10))
        #expect(close(share("model/control"), 0.30))
        #expect(close(share("model/b"), 0.30))
        #expect(close(share("small/control"), 0.05))
        #expect(close(share("small/c"), 0.15))
        #expect(close(share("none"), 0.10))
        // The ui layer splits the users of variant b half and half: the layers are independent.
        let inB = Double(both.values.reduce(0, +))
        #expect(abs(Double(both["d"] ?? 0) / inB - 0.5) < 4 * (0.25 / inB).squareRoot())
        // The planned share is the variant's share of its experiment.
        let someone = try #require(
            Self.users.lazy.compactMap {
                plan.assign(userID: $0, surface: "discovery", timeMs: 0).placements.first { $0.experiment == "small" }
            }.first { $0.variant == "c" }
        )
        #expect(someone.plannedShare == 0.75)
    }

    @Test func anExperimentRunsOnlyBetweenItsStartAndStopAndOnlyOnItsSurfaces() throws {
        let layers = Self.oneLayer(
            Self.experiment(
                "december",
                percent: 100,
                start: "2026-12-01T00:00:00Z",
                stop: "2027-01-01T00:00:00Z",
                variants: [Self.variant("control", 50), Self.variant("b", 50)]
            )
        )
        let plan = ExperimentPlan(try Self.config(layers))
        let december: Int64 = 1_796_169_600_000  // 2026-12-02
        let november: Int64 = 1_795_000_000_000
        let january: Int64 = 1_798_848_000_000  // 2027-01-02
        #expect(plan.assign(userID: "u1", surface: "discovery", timeMs: december).placements.count == 1)
        #expect(plan.assign(userID: "u1", surface: "discovery", timeMs: november).placements.isEmpty)
        #expect(plan.assign(userID: "u1", surface: "discovery", timeMs: january).placements.isEmpty)
        #expect(plan.assign(userID: "u1", surface: "category", timeMs: december).placements.isEmpty)
    }

    @Test func variantsChangeTheModelSourcesRerankAndOnlineFeatures() throws {
        var diverse = try RankingEngine.embeddedConfig().surfaces["discovery"]!.rerank
        diverse.explorationPolicy = "none"
        diverse.brandCap = 1
        let layers = Self.oneLayer(
            Self.experiment(
                "everything",
                percent: 100,
                variants: [
                    Self.variant("control", 50),
                    Self.variant(
                        "changed",
                        50,
                        model: "discovery_xgb",
                        sources: [
                            SourceConfig(name: "popular", quota: 30), SourceConfig(name: "reorder", quota: 5),
                            SourceConfig(name: "new", quota: 5),
                        ],
                        rerank: diverse,
                        online: try Self.discoveryOnline(adding: "online_clicks_here")
                    ),
                ]
            )
        )
        let config = try Self.config(layers)
        #expect(config.problems().isEmpty, "\(config.problems())")
        let engine = try Fixture.engine { $0 = config }
        var seen: [String: RankResult] = [:]
        for user in 0..<60 where seen.count < 2 {
            let list = try engine.recommendList(
                Fixture.discovery(user: user, explain: true, limit: 30),
                deadline: Fixture.unhurried,
                isCancelled: Fixture.never
            )
            seen[list.variant] = list
        }
        let control = try #require(seen["control"])
        let changed = try #require(seen["changed"])
        #expect(control.modelVersion.hasPrefix("discovery-lgbm"))
        #expect(changed.modelVersion.hasPrefix("discovery-xgb"))
        #expect(changed.sourceNames == ["popular", "reorder", "new"])
        #expect(control.sourceNames.contains("nearby"))
        #expect(changed.items.allSatisfy { $0.sources.allSatisfy(["popular", "reorder", "new"].contains) })
        #expect(changed.items.first?.features.contains { $0.0 == "online_clicks_here" } == true)
        #expect(control.items.first?.features.contains { $0.0 == "online_clicks_here" } == false)
        #expect(changed.assignments.map(\.experiment) == ["everything"])
    }

    /// The discovery surface's online features (its models read them) plus a session click feature `name`.
    static func discoveryOnline(adding name: String) throws -> SurfaceOnlineConfig {
        var online =
            try RankingEngine.embeddedConfig().surfaces["discovery"]?.online
            ?? SurfaceOnlineConfig(features: [], excludeRecent: nil)
        online.features =
            (online.features ?? [])
            + [GenericFeatureConfig(name: name, kind: "online_interacted", event: "click", scope: "session")]
        return online
    }

    @Test func aModelMayReadWhatEverySurfaceAndVariantNamingItComputes() throws {
        let layers = Self.oneLayer(
            Self.experiment(
                "clicks",
                percent: 100,
                variants: [
                    Self.variant("control", 50),
                    Self.variant(
                        "clicks",
                        50,
                        model: "discovery_xgb",
                        online: try Self.discoveryOnline(adding: "online_clicks_here")
                    ),
                ]
            )
        )
        var config = try Self.config(layers)
        let discovery = try #require(config.surfaces["discovery"])
        let category = try #require(config.surfaces["category"])
        // The surfaces naming the model, their features once each in order.
        var lgbm = discovery.featureNames
        for name in category.featureNames where !lgbm.contains(name) { lgbm.append(name) }
        #expect(config.featureNames(ofModel: "discovery_lgbm") == lgbm)
        // A variant's model reads the variant's online features on the experiment's surfaces.
        #expect(config.featureNames(ofModel: "discovery_xgb") == discovery.featureNames + ["online_clicks_here"])
        // A model no surface or variant names may read anything some surface computes.
        config.experiments = []
        let unused = config.featureNames(ofModel: "discovery_xgb")
        for surface in config.surfaces.values { #expect(surface.featureNames.allSatisfy(unused.contains)) }
        #expect(Set(unused).count == unused.count)
    }

    @Test func checksNameTheExperimentAndTheField() throws {
        func problems(_ layer: ExperimentLayerConfig) throws -> [String] {
            try Self.config([layer]).problems().map(\.description)
        }
        func layer(_ experiments: [LayeredExperimentConfig], holdout: Double? = nil) -> ExperimentLayerConfig {
            ExperimentLayerConfig(name: "ranking", salt: "s", holdoutPercent: holdout, experiments: experiments)
        }
        let ok = [Self.variant("control", 50), Self.variant("b", 50)]
        #expect(
            try problems(layer([Self.experiment("x", percent: 60, variants: ok)], holdout: 50)).contains(
                "experiments.0.experiments: layer ranking: holdout and experiments take 110.0% of users, over 100"
            )
        )
        #expect(
            try problems(
                layer([Self.experiment("x", percent: 50, variants: [Self.variant("a", 50), Self.variant("b", 50)])])
            )
            .contains(
                "experiments.0.experiments.0.variants: experiment x has no variant named control to compare the others with"
            )
        )
        #expect(
            try problems(
                layer([
                    Self.experiment("x", percent: 50, variants: [Self.variant("control", 50), Self.variant("b", 40)])
                ])
            )
            .contains("experiments.0.experiments.0.variants: experiment x: variant percents add up to 90.0, not 100")
        )
        #expect(
            try problems(layer([Self.experiment("x", percent: 50, start: "yesterday", variants: ok)]))
                .contains {
                    $0.hasPrefix(
                        "experiments.0.experiments.0.start: experiment x: \"yesterday\" is not an ISO 8601 time"
                    )
                }
        )
        #expect(
            try problems(
                layer([
                    Self.experiment(
                        "x",
                        percent: 50,
                        start: "2026-12-02T00:00:00Z",
                        stop: "2026-12-01T00:00:00Z",
                        variants: ok
                    )
                ])
            ).contains("experiments.0.experiments.0.stop: experiment x: stops at or before it starts")
        )
        #expect(
            try problems(layer([Self.experiment("x", percent: 50, surfaces: ["nowhere"], variants: ok)]))
                .contains {
                    $0.hasPrefix("experiments.0.experiments.0.surfaces.0: experiment x: unknown surface nowhere")
                }
        )
        #expect(
            try problems(
                layer([
                    Self.experiment(
                        "x",
                        percent: 50,
                        variants: [Self.variant("control", 50), Self.variant("b", 50, model: "gone")]
                    )
                ])
            ).contains { $0.hasPrefix("experiments.0.experiments.0.variants.1.model: names unknown model gone") }
        )
        #expect(
            try problems(
                layer([
                    Self.experiment(
                        "x",
                        percent: 50,
                        variants: [
                            Self.variant("control", 50),
                            Self.variant("b", 50, sources: [SourceConfig(name: "menu", quota: 5)]),
                        ]
                    )
                ])
            ).contains {
                $0.hasPrefix(
                    "experiments.0.experiments.0.variants.1.sources.0.name: experiment x variant b: unknown candidate source menu"
                )
            }
        )
        #expect(
            try problems(
                layer([
                    Self.experiment(
                        "x",
                        percent: 50,
                        surfaces: ["next_track"],
                        variants: [Self.variant("control", 50), Self.variant("b", 50, model: "discovery_xgb")]
                    )
                ])
            ).contains { $0.contains("variants on next_track (a generic surface) cannot change") }
        )
        // An A/A split on a generic surface is fine.
        #expect(
            try problems(layer([Self.experiment("aa", percent: 100, surfaces: ["next_track"], variants: ok)])).isEmpty
        )
        #expect(
            try problems(
                layer([
                    Self.experiment("x", percent: 50, variants: ok), Self.experiment("x", percent: 10, variants: ok),
                ])
            )
            .contains { $0.contains("experiment x is named twice") }
        )
    }

    @Test func everyAnsweredEntryCarriesTheFullModelsScore() throws {
        // Two-phase scoring with few leaders, exploration on: most answered entries were ranked on the first trees.
        let engine = try Fixture.engine { config in
            for name in config.surfaces.keys { config.surfaces[name]?.experiment = nil }
            config.surfaces["discovery"]?.scoring = ScoringConfig(firstPhaseTrees: 10, fullModelTopN: 3)
            config.surfaces["discovery"]?.rerank.explorationPolicy = "epsilon"
            config.surfaces["discovery"]?.rerank.epsilon = 1
            config.surfaces["discovery"]?.rerank.explorationSlot = 1
        }
        let model = try GradientBoostedTrees.load(contentsOf: EmbeddedResources.directory() + "/discovery-lgbm.txt")
        var explored = 0
        var checked = 0
        for user in 0..<30 {
            let list = try engine.recommendList(
                Fixture.discovery(user: user, explain: true, requestID: "r\(user)", limit: 30),
                deadline: Fixture.unhurried,
                isCancelled: Fixture.never
            )
            #expect(list.degradedStages.isEmpty)
            for entry in list.items {
                let row = entry.features.prefix(model.featureNames.count).map(\.1)
                #expect(row.withUnsafeBufferPointer { model.rawScore($0) } == entry.modelScore)
                checked += 1
                if entry.explored { explored += 1 }
            }
        }
        #expect(checked > 300)
        #expect(explored > 0)
    }
}
