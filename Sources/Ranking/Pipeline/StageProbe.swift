import Dispatch

/// One Recommend request taken apart, for micro benchmarks (the Benchmarks package) that time the pipeline's stages
/// one at a time: each candidate source, the feature join and the model's two-phase scoring, each on the inputs the
/// request itself gives them. Built by ``RankingEngine/stageProbe(_:)``; not for serving.
@_spi(Benchmarks)
public final class StageProbe: @unchecked Sendable {
    /// The surface's candidate sources, in configuration order.
    public let sourceNames: [String]
    /// The merged candidates of every source, as the request generated them.
    public let candidates: [Int32]
    /// Values per feature row (the joined features and the online ones).
    public let featureWidth: Int

    private let prepared: RankingEngine.PreparedRequest
    private let catalog: Catalog
    private let rows: [Double]

    init(prepared: RankingEngine.PreparedRequest, catalog: Catalog) {
        self.prepared = prepared
        self.catalog = catalog
        let surface = prepared.surface
        sourceNames = surface.generator.names
        var degraded: [String] = []
        var timings: [StageTiming] = []
        let candidates =
            surface.generator.run(prepared.request, deadline: .distantFuture, degraded: &degraded, timings: &timings)
            .indexes
        let featureWidth = surface.featureNames.count
        self.candidates = candidates
        self.featureWidth = featureWidth
        let rows = Self.join(prepared, catalog: catalog, candidates: candidates)
        // In the model's column order, as the pipeline hands rows to it.
        let model = surface.model
        if model.isNativeOrder {
            self.rows = rows
        } else {
            var permuted = [Double](repeating: 0, count: candidates.count * model.width)
            for r in 0..<candidates.count {
                for (j, f) in model.layout.enumerated() { permuted[r * model.width + j] = rows[r * featureWidth + f] }
            }
            self.rows = permuted
        }
    }

    /// Runs source `index` (a position in ``sourceNames``) with its configured quota; returns how many candidates it
    /// gave.
    public func runSource(_ index: Int) throws -> Int {
        let (source, quota) = prepared.surface.generator.sources[index]
        var out: [Int32] = []
        try source.generate(prepared.request, quota: quota, deadline: .distantFuture, into: &out)
        return out.count
    }

    /// Joins the catalog's and the request's features for every candidate, as the pipeline's feature stage does
    /// (the online features are left missing); returns the first value, so the work cannot be optimised away.
    public func joinFeatures() -> Double {
        Self.join(prepared, catalog: catalog, candidates: candidates).first ?? 0
    }

    /// The feature rows of `candidates` in the surface's row order, the online features missing.
    private static func join(
        _ prepared: RankingEngine.PreparedRequest,
        catalog: Catalog,
        candidates: [Int32]
    ) -> [Double] {
        prepared.surface.joinedRows(catalog: catalog, frame: prepared.frame, candidates: candidates)
    }

    /// Scores every candidate with the surface's model in its two phases (the first trees on all, every tree on the
    /// leaders), on rows joined once when the probe was built (the online features missing); returns the best
    /// score.
    public func score() -> Double {
        let surface = prepared.surface
        var scores: [Double] = []
        var fullyScored: [Bool] = []
        var scratch: [Double] = []
        _ = rows.withUnsafeBufferPointer {
            TwoPhaseScorer.score(
                model: surface.model.model,
                width: surface.model.width,
                rows: $0,
                rowCount: candidates.count,
                config: surface.config.scoring,
                scores: &scores,
                fullyScored: &fullyScored,
                scratch: &scratch,
                deadlinePassed: { false }
            )
        }
        return scores.max() ?? 0
    }
}

extension RankingEngine {
    /// A ``StageProbe`` for `query` (a Recommend on a marketplace surface), prepared as the pipeline prepares the
    /// request.
    @_spi(Benchmarks)
    public func stageProbe(_ query: RecommendQuery) throws -> StageProbe {
        let state = current
        guard state.generic == nil else {
            throw RankingError.unavailable("stage probes cover the marketplace surfaces only")
        }
        guard !query.userID.isEmpty else { throw RankingError.invalidArgument("user_id is required") }
        let prepared = try prepare(
            state: state,
            surface: try surface(named: query.surface, in: state),
            userID: query.userID,
            context: query.context,
            takesInputs: true,
            venueID: query.venueID,
            category: query.category,
            contextItemIDs: query.contextItemIDs,
            deadline: nil,
            started: .now()
        )
        return StageProbe(prepared: prepared, catalog: state.catalog)
    }
}
