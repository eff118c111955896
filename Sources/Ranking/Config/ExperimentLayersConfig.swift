import Foundation

/// Experiments in independent layers (docs/experiments.md). Each layer splits every user, by a salted hash of the
/// user id, into its holdout, its experiments' allocations and the rest; so a user is in at most one experiment of a
/// layer and in one of each layer independently. Within an experiment, a second salted hash picks the variant.
public struct ExperimentLayerConfig: Codable, Sendable {
    /// Unique among layers; logged with every assignment.
    public var name: String
    /// Mixed into the user's hash: layers with different salts split users independently.
    public var salt: String
    /// Percent of the layer's users served the defaults and logged as variant "holdout" (to measure what the
    /// layer's launches add up to). Default 0.
    public var holdoutPercent: Double?
    /// The layer's experiments; their `percent`s and the holdout add up to at most 100.
    public var experiments: [LayeredExperimentConfig]
}

/// One experiment of a layer.
public struct LayeredExperimentConfig: Codable, Sendable {
    /// Unique across layers; the exposure log and the analysis name it.
    public var name: String
    /// The surfaces it changes and is logged on.
    public var surfaces: [String]
    /// Percent of the layer's users in the experiment.
    public var percent: Double
    /// When it starts and stops, ISO 8601 ("2026-12-01T00:00:00Z"), compared with the request's time; absent: always.
    /// Outside that time its users are served the defaults and logged in no experiment.
    public var start: String?
    public var stop: String?
    /// The variant split's salt; default: the layer's salt and the experiment's name.
    public var salt: String?
    /// Its arms; one must be named "control" (the analysis compares the others with it). `percent`s add up to 100.
    public var variants: [LayeredVariantConfig]
}

/// One arm: what it changes on every surface of its experiment. Absent fields keep the surface's own.
public struct LayeredVariantConfig: Codable, Sendable {
    public var name: String
    /// Percent of the experiment's users.
    public var percent: Double
    /// A model key replacing the surface's model.
    public var model: String?
    /// Candidate sources replacing the surface's (venue surfaces may use the venue sources, item surfaces the item
    /// sources).
    public var sources: [SourceConfig]?
    /// Re-ranking parameters replacing the surface's.
    public var rerank: RerankConfig?
    /// Online features and rules replacing the surface's (a variant whose model reads new online features).
    public var online: SurfaceOnlineConfig?

    /// Whether it changes anything about a surface.
    var changesSurface: Bool { model != nil || sources != nil || rerank != nil || online != nil }
}

extension LayeredExperimentConfig {
    /// The start and stop as Unix milliseconds (nil: open), or the first one that does not parse.
    func window() -> (start: Int64?, stop: Int64?, bad: (field: String, text: String)?) {
        func parse(_ text: String?) -> Int64?? {
            guard let text else { return .some(nil) }
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime]
            if let date = formatter.date(from: text) { return .some(Int64(date.timeIntervalSince1970 * 1000)) }
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let date = formatter.date(from: text) { return .some(Int64(date.timeIntervalSince1970 * 1000)) }
            return nil
        }
        guard let start = parse(start) else { return (nil, nil, ("start", start ?? "")) }
        guard let stop = parse(stop) else { return (nil, nil, ("stop", stop ?? "")) }
        return (start, stop, nil)
    }
}

extension PipelineConfig {
    /// The layers served: `experiments`, then each surface's own `experiment` as a layer of its own (the older form:
    /// one experiment on one surface, `buckets` of 100, the remainder to the first variant).
    public var allLayers: [ExperimentLayerConfig] {
        var layers = experiments ?? []
        for (name, surface) in surfaces.sorted(by: { $0.key < $1.key }) {
            guard let experiment = surface.experiment, !experiment.variants.isEmpty else { continue }
            var variants = experiment.variants.map { variant in
                LayeredVariantConfig(
                    name: variant.name,
                    percent: Double(max(0, variant.buckets)),
                    model: variant.model,
                    sources: nil,
                    rerank: variant.rerank,
                    online: nil
                )
            }
            let total = variants.reduce(0) { $0 + $1.percent }
            if total < 100 { variants[0].percent += 100 - total }
            layers.append(
                ExperimentLayerConfig(
                    name: "surface:\(name)",
                    salt: experiment.salt,
                    holdoutPercent: nil,
                    experiments: [
                        LayeredExperimentConfig(
                            name: experiment.name,
                            surfaces: [name],
                            percent: 100,
                            start: nil,
                            stop: nil,
                            salt: experiment.salt,
                            variants: variants
                        )
                    ]
                )
            )
        }
        return layers
    }

    /// The problems of `experiments`, reported as ``problems(additionalSources:)`` does.
    func layerProblems(
        additionalSources: [String],
        genericSurfaces: [String],
        checkModel: (String?, SurfaceKind, String, [String]) -> Void,
        report: ([String], String) -> Void
    ) {
        var layerNames = Set<String>()
        var experimentNames = Set(surfaces.values.compactMap { $0.experiment?.name })
        for (l, layer) in (experiments ?? []).enumerated() {
            let at = ["experiments", "\(l)"]
            let title = "layer \(layer.name)"
            if layer.name.isEmpty { report(at + ["name"], "a layer needs a name") }
            if !layerNames.insert(layer.name).inserted { report(at + ["name"], "\(title) is named twice") }
            if layer.salt.isEmpty { report(at + ["salt"], "\(title) needs a salt") }
            let holdout = layer.holdoutPercent ?? 0
            if !(holdout >= 0 && holdout < 100) {
                report(at + ["holdoutPercent"], "\(title): must be in [0, 100) (got \(holdout))")
            }
            var allocated = max(0, holdout)
            for (e, experiment) in layer.experiments.enumerated() {
                let path = at + ["experiments", "\(e)"]
                let name = "experiment \(experiment.name)"
                if experiment.name.isEmpty { report(path + ["name"], "an experiment needs a name") }
                if !experimentNames.insert(experiment.name).inserted {
                    report(path + ["name"], "\(name) is named twice (experiment names are unique across layers)")
                }
                if !(experiment.percent > 0 && experiment.percent <= 100) {
                    report(path + ["percent"], "\(name): must be in (0, 100] (got \(experiment.percent))")
                }
                allocated += max(0, experiment.percent)
                let window = experiment.window()
                if let bad = window.bad {
                    report(
                        path + [bad.field],
                        "\(name): \"\(bad.text)\" is not an ISO 8601 time such as 2026-12-01T00:00:00Z"
                    )
                } else if let start = window.start, let stop = window.stop, stop <= start {
                    report(path + ["stop"], "\(name): stops at or before it starts")
                }
                if experiment.surfaces.isEmpty { report(path + ["surfaces"], "\(name) names no surface") }
                for (s, surface) in experiment.surfaces.enumerated() {
                    if surfaces[surface] == nil && !genericSurfaces.contains(surface) {
                        let known = (surfaces.keys.sorted() + genericSurfaces.sorted()).joined(separator: ", ")
                        report(path + ["surfaces", "\(s)"], "\(name): unknown surface \(surface) (known: \(known))")
                    }
                }
                if experiment.variants.count < 2 {
                    report(path + ["variants"], "\(name) needs at least two variants, one named control")
                } else if !experiment.variants.contains(where: { $0.name == "control" }) {
                    report(path + ["variants"], "\(name) has no variant named control to compare the others with")
                }
                var variantNames = Set<String>()
                var total = 0.0
                for (v, variant) in experiment.variants.enumerated() {
                    let vpath = path + ["variants", "\(v)"]
                    let vname = "\(name) variant \(variant.name)"
                    if variant.name.isEmpty || variant.name == "holdout" {
                        report(vpath + ["name"], "\(name): a variant needs a name other than holdout")
                    }
                    if !variantNames.insert(variant.name).inserted {
                        report(vpath + ["name"], "\(vname) is named twice")
                    }
                    if !(variant.percent > 0 && variant.percent <= 100) {
                        report(vpath + ["percent"], "\(vname): must be in (0, 100] (got \(variant.percent))")
                    }
                    total += variant.percent
                    for surfaceName in experiment.surfaces {
                        guard let surface = surfaces[surfaceName] else {
                            if genericSurfaces.contains(surfaceName) && variant.changesSurface {
                                report(
                                    vpath,
                                    "\(vname): variants on \(surfaceName) (a generic surface) cannot change its "
                                        + "model, sources, rerank or online features yet; only an A/A split is served"
                                )
                            }
                            continue
                        }
                        checkModel(variant.model, surface.kind, surfaceName, vpath + ["model"])
                        variant.rerank?.problems(at: vpath + ["rerank"], report: report)
                        variant.online?.problems(kind: surface.kind, at: vpath + ["online"], report: report)
                        for (i, source) in (variant.sources ?? []).enumerated() {
                            if source.quota < 0 {
                                report(
                                    vpath + ["sources", "\(i)", "quota"],
                                    "\(vname): source \(source.name) has a negative quota"
                                )
                            }
                            if !additionalSources.contains(source.name)
                                && BuiltinSources.named(source.name, kind: surface.kind) == nil
                            {
                                report(
                                    vpath + ["sources", "\(i)", "name"],
                                    "\(vname): unknown candidate source \(source.name) for surface \(surfaceName)"
                                )
                            }
                        }
                        if let sources = variant.sources {
                            let names = Set(sources.map(\.name))
                            for section in surface.sections {
                                if let source = section.source, !names.contains(source) {
                                    report(
                                        vpath + ["sources"],
                                        "\(vname): section \(section.key) of surface \(surfaceName) takes from "
                                            + "source \(source), which the variant drops"
                                    )
                                }
                            }
                        }
                    }
                }
                if experiment.variants.count >= 2 && abs(total - 100) > 1e-9 {
                    report(path + ["variants"], "\(name): variant percents add up to \(total), not 100")
                }
            }
            if allocated > 100 + 1e-9 {
                report(at + ["experiments"], "\(title): holdout and experiments take \(allocated)% of users, over 100")
            }
        }
    }
}
