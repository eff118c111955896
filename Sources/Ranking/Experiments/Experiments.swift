/// Experiment assignment: a user's place in each layer is a stable hash of the layer's salt and the user id, so the
/// same user always lands in the same experiment and variant, across restarts and machines, and layers with
/// different salts split users independently.
public enum ExperimentAssignment {
    /// Hash buckets per split: percentages are honoured to 0.01%.
    static let bucketCount: UInt64 = 10_000

    /// The user's place in one layer, as the exposure log records it.
    public struct Placement: Sendable, Equatable {
        public var layer: String
        /// Empty for the holdout.
        public var experiment: String
        /// "holdout" for the layer's holdout.
        public var variant: String
        /// The variant's planned share of its experiment's users, in (0, 1]; for the holdout, its share of the layer.
        public var plannedShare: Double
    }

    /// The user's bucket in 0..<10,000 for `salt`.
    static func bucket(userID: String, salt: String) -> UInt64 {
        StableHash.hash(salt, userID) % bucketCount
    }

    /// Where `userID` is in `layer` at `timeMs`: the holdout, a variant of a running experiment (with the experiment's
    /// position in the layer), or nil (no experiment, or one that is not running then).
    static func place(
        userID: String,
        in layer: ResolvedLayer,
        timeMs: Int64
    ) -> (placement: Placement, experiment: Int?, variant: Int?)? {
        let b = Double(bucket(userID: userID, salt: layer.salt))
        var upper = layer.holdoutPercent * 100
        if b < upper {
            let placement = Placement(
                layer: layer.name,
                experiment: "",
                variant: "holdout",
                plannedShare: layer.holdoutPercent / 100
            )
            return (placement, nil, nil)
        }
        for (e, experiment) in layer.experiments.enumerated() {
            upper += experiment.percent * 100
            guard b < upper else { continue }
            if let start = experiment.startMs, timeMs < start { return nil }
            if let stop = experiment.stopMs, timeMs >= stop { return nil }
            let v = Double(bucket(userID: userID, salt: experiment.salt))
            var variantUpper = 0.0
            for (k, variant) in experiment.variants.enumerated() {
                variantUpper += variant.percent * 100
                // The last variant also takes what rounding leaves at the top.
                if v < variantUpper || k == experiment.variants.count - 1 {
                    let placement = Placement(
                        layer: layer.name,
                        experiment: experiment.name,
                        variant: variant.name,
                        plannedShare: variant.percent / 100
                    )
                    return (placement, e, k)
                }
            }
        }
        return nil
    }
}

/// A layer ready to assign: times parsed, salts defaulted.
struct ResolvedLayer: Sendable {
    struct Experiment: Sendable {
        let name: String
        let surfaces: Set<String>
        let percent: Double
        let startMs: Int64?
        let stopMs: Int64?
        let salt: String
        let variants: [LayeredVariantConfig]
    }

    let name: String
    let salt: String
    let holdoutPercent: Double
    let experiments: [Experiment]

    init(_ config: ExperimentLayerConfig) {
        name = config.name
        salt = config.salt
        holdoutPercent = max(0, config.holdoutPercent ?? 0)
        experiments = config.experiments.map { experiment in
            let window = experiment.window()
            return Experiment(
                name: experiment.name,
                surfaces: Set(experiment.surfaces),
                percent: experiment.percent,
                startMs: window.start,
                stopMs: window.stop,
                salt: experiment.salt ?? "\(config.salt)/\(experiment.name)",
                variants: experiment.variants
            )
        }
    }
}

/// Every layer of a configuration, and for each surface which of their variants change it.
struct ExperimentPlan: Sendable {
    let layers: [ResolvedLayer]

    init(_ config: PipelineConfig) {
        layers = config.allLayers.map(ResolvedLayer.init)
    }

    /// The user's placements that concern `surface` at `timeMs` (layer order), and the key of the variant
    /// combination that changes the surface ("" when none does): `experiment=variant` pairs joined by "|".
    func assign(
        userID: String,
        surface: String,
        timeMs: Int64
    ) -> (placements: [ExperimentAssignment.Placement], key: String) {
        var placements: [ExperimentAssignment.Placement] = []
        var key = ""
        for layer in layers {
            guard let (placement, e, v) = ExperimentAssignment.place(userID: userID, in: layer, timeMs: timeMs) else {
                continue
            }
            if let e, let v {
                let experiment = layer.experiments[e]
                guard experiment.surfaces.contains(surface) else { continue }
                if experiment.variants[v].changesSurface {
                    key += (key.isEmpty ? "" : "|") + "\(experiment.name)=\(experiment.variants[v].name)"
                }
            } else if !layer.experiments.contains(where: { $0.surfaces.contains(surface) }) {
                continue  // the holdout of a layer with nothing on this surface says nothing about it
            }
            placements.append(placement)
        }
        return (placements, key)
    }

    /// The experiments that split `surface`, each with its variants' names: the answer series of its metrics.
    func experiments(onSurface surface: String) -> [(String, [String])] {
        layers.flatMap { layer in
            layer.experiments.filter { $0.surfaces.contains(surface) }.map { ($0.name, $0.variants.map(\.name)) }
        }
    }

    /// Every combination of variants that changes `surface`, with the variants applied in layer order: what the
    /// engine resolves in advance. Bounded by ``maxCombinations``.
    func combinations(surface: String) -> [(key: String, variants: [LayeredVariantConfig])] {
        var combos: [(key: String, variants: [LayeredVariantConfig])] = [("", [])]
        for layer in layers {
            var options: [(key: String, variant: LayeredVariantConfig)] = []
            for experiment in layer.experiments where experiment.surfaces.contains(surface) {
                for variant in experiment.variants where variant.changesSurface {
                    options.append(("\(experiment.name)=\(variant.name)", variant))
                }
            }
            guard !options.isEmpty else { continue }
            var next = combos
            for combo in combos {
                for option in options {
                    next.append(
                        (combo.key + (combo.key.isEmpty ? "" : "|") + option.key, combo.variants + [option.variant])
                    )
                }
            }
            combos = next
        }
        return combos.filter { !$0.key.isEmpty }
    }

    /// Most variant combinations one surface may have (each is resolved when the configuration loads).
    static let maxCombinations = 256
}
