import Dispatch
import Foundation

/// The ranking pipeline behind Rank and Recommend: candidate generation, feature join, two-phase model scoring
/// and re-ranking, over a catalog snapshot and a set of models that can both be swapped while serving.
///
/// Every method may be called from many threads at once. A request takes the current snapshot when it starts
/// and keeps it to the end, so a swap never mixes two models or two catalogs in one answer.
public final class RankingEngine: @unchecked Sendable {
    let lock = NSLock()
    /// Held by every swap from reading the state it replaces to installing the next one, so two swaps never lose
    /// each other's change (EngineReload.swift).
    let swapLock = NSLock()
    var state: EngineState
    let loader: ModelLoader?
    private let resourceDirectory: String?
    let additionalSources: [any CandidateSource]
    private var _onlineStore: (any OnlineStore)?

    /// Where what users do since the snapshot is read from (``EventIngest`` writes it); nil: the snapshot only. Set
    /// once when the engine is installed, and carried over by every engine that replaces this one.
    public var onlineStore: (any OnlineStore)? {
        get { lock.withLock { _onlineStore } }
        set { lock.withLock { _onlineStore = newValue } }
    }

    /// Share of a request's budget the online state may take to read; past it the answer is built without it.
    static let onlineReadShare = 0.25

    init(
        state: EngineState,
        loader: ModelLoader?,
        resourceDirectory: String?,
        additionalSources: [any CandidateSource]
    ) {
        self.state = state
        self.loader = loader
        self.resourceDirectory = resourceDirectory
        self.additionalSources = additionalSources
    }

    /// Builds an engine over `catalog` with the configuration `config`, loading (and validating against golden
    /// files) every model the configuration names from `resourceDirectory`.
    /// - Parameter additionalSources: candidate sources the configuration may name besides the built-in ones.
    public convenience init(
        catalog: Catalog,
        config: PipelineConfig,
        resourceDirectory: String?,
        additionalSources: [any CandidateSource] = []
    ) throws {
        try self.init(
            catalog: catalog,
            config: config,
            resourceDirectory: resourceDirectory,
            additionalSources: additionalSources,
            loader: RankingEngine.defaultLoader
        )
    }

    convenience init(
        catalog: Catalog,
        config: PipelineConfig,
        resourceDirectory: String?,
        additionalSources: [any CandidateSource],
        loader: ModelLoader?
    ) throws {
        let models = try RankingEngine.loadModels(config: config, resourceDirectory: resourceDirectory, loader: loader)
        let state = try EngineState(
            catalog: catalog,
            config: config,
            models: models,
            additionalSources: additionalSources
        )
        self.init(
            state: state,
            loader: loader,
            resourceDirectory: resourceDirectory,
            additionalSources: additionalSources
        )
    }

    static func loadModels(
        config: PipelineConfig,
        resourceDirectory: String?,
        loader: ModelLoader?
    ) throws -> [String: any ScoringModel] {
        var models: [String: any ScoringModel] = [:]
        for (key, model) in config.models {
            guard let loader else { throw RankingError.unavailable("no model loader to load \(key)") }
            models[key] = try loader(
                resolve(model.file, in: resourceDirectory),
                resolve(model.golden, in: resourceDirectory),
                config.featureNames(ofModel: key)
            )
        }
        return models
    }

    static func resolve(_ path: String, in directory: String?) -> String {
        guard !path.hasPrefix("/"), let directory else { return path }
        return (directory as NSString).appendingPathComponent(path)
    }

    /// An engine over a given catalog with the embedded configuration and models, validated against their golden
    /// files; `adjust` may change the configuration first (benchmarks turn parallel sources off, evaluations pin a
    /// variant).
    public static func demo(
        catalog: Catalog,
        adjust: (inout PipelineConfig) -> Void = { _ in }
    ) throws
        -> RankingEngine
    {
        var config = try embeddedConfig()
        adjust(&config)
        try config.validate()
        return try RankingEngine(catalog: catalog, config: config, resourceDirectory: try EmbeddedResources.directory())
    }

    /// The embedded surface configuration.
    public static func embeddedConfig() throws -> PipelineConfig {
        let directory = try EmbeddedResources.directory()
        let data = try Data(
            contentsOf: URL(
                fileURLWithPath: (directory as NSString)
                    .appendingPathComponent("surfaces.json")
            )
        )
        return try PipelineConfig.decode(data)
    }

    var current: EngineState {
        lock.lock()
        defer { lock.unlock() }
        return state
    }

    /// The catalog being served.
    public var catalog: Catalog { current.catalog }

    /// Version of the model the `discovery` surface's control group is scored with.
    public var modelVersion: String {
        let state = current
        if let generic = state.generic {
            return generic.surfaces.keys.sorted().first.map { generic.surfaces[$0]!.modelVersion } ?? "none"
        }
        return (state.surfaces["discovery"] ?? state.surfaces.values.first)?.model.version ?? "none"
    }

    /// Names of the configured surfaces.
    public var surfaceNames: [String] {
        let state = current
        return (state.generic.map { Array($0.surfaces.keys) } ?? Array(state.surfaces.keys)).sorted()
    }

    /// Memory used by the catalog, for operators.
    public var memoryReport: String { current.catalog.memoryReport }

    // MARK: Swapping

    /// Loads the model at `path`, checks it against its golden file (`<path without extension>.golden.json`)
    /// and against the feature join, and only then makes it the model of `key` (by default the discovery
    /// surface's model). Requests in flight finish on the model they started with.
    public func swapModel(contentsOf path: String, key: String? = nil) throws {
        guard let loader else { throw RankingError.unavailable("this engine has no model loader") }
        swapLock.lock()
        defer { swapLock.unlock() }
        let old = current
        guard let key = key ?? old.config.primaryModelKey else {
            throw RankingError.invalidArgument("no configured model to replace")
        }
        guard old.config.models[key] != nil else {
            throw RankingError.notFound("no model key \(key); known: \(old.config.models.keys.sorted())")
        }
        let golden = RankingEngine.goldenPath(forModel: path)
        let model = try loader(path, golden, old.config.featureNames(ofModel: key))
        var config = old.config
        config.models[key] = ModelConfig(file: path, golden: golden)
        var models: [String: any ScoringModel] = old.models.mapValues { $0.model }
        models[key] = model
        try install(catalog: old.catalog, config: config, models: models)
    }

    /// Replaces the catalog snapshot after checking that the configured surfaces can serve it.
    public func swapCatalog(_ catalog: Catalog) throws {
        swapLock.lock()
        defer { swapLock.unlock() }
        let old = current
        try install(catalog: catalog, config: old.config, models: old.models.mapValues { $0.model })
    }

    /// Builds the state every swap ends in (checking that the surfaces can serve the catalog with the models) and
    /// makes it current. Callers hold `swapLock`; on an error nothing changes.
    func install(catalog: Catalog, config: PipelineConfig, models: [String: any ScoringModel]) throws {
        let next = try EngineState(
            catalog: catalog,
            config: config,
            models: models,
            additionalSources: additionalSources
        )
        lock.lock()
        state = next
        lock.unlock()
    }

    /// The golden file that belongs to a model file: same name, extension replaced by `.golden.json`.
    public static func goldenPath(forModel path: String) -> String {
        ((path as NSString).deletingPathExtension) + ".golden.json"
    }

    // MARK: Requests

    /// Ranks the caller's candidates. Without a deadline the surface's default budget applies, counted from `arrival`
    /// (when the request reached the server; now when nil), so time spent queued is part of it.
    public func rank(
        _ query: RankQuery,
        deadline: DispatchTime?,
        arrival: DispatchTime? = nil,
        isCancelled: () -> Bool
    ) throws -> RankResult {
        let state = current
        let surface = try surface(named: query.surface, in: state)
        let limit = try validateLimit(query.limit, surface: surface)
        guard query.candidates.count <= surface.config.maxCandidates else {
            throw RankingError.invalidArgument(
                "\(query.candidates.count) candidates is more than the "
                    + "\(surface.config.maxCandidates) surface \(surface.name) accepts"
            )
        }
        var token: PageToken?
        if !query.pageToken.isEmpty { token = try PageToken(decoding: query.pageToken) }
        var context = query.context
        if let token { context.requestTimeUnixMs = token.requestTimeUnixMs }
        var run = try execute(
            state: state,
            surface: surface,
            userID: query.userID,
            context: context,
            callerCandidates: query.candidates,
            venueID: "",
            category: "",
            contextItemIDs: [],
            explain: query.explain,
            display: query.includeDisplay,
            exclude: query.excludeItemIDs,
            seed: token?.seed,
            deadline: deadline,
            arrival: arrival,
            isCancelled: isCancelled
        )
        let check = StableHash.hash(
            query.userID,
            surface.name,
            String(query.candidates.count),
            query.candidates.first?.itemID ?? "",
            query.candidates.last?.itemID ?? ""
        )
        if let token, token.check != check {
            throw RankingError.invalidArgument("page_token belongs to a different request")
        }
        let offset = token?.offset ?? 0
        let page = Array(run.order.dropFirst(offset).prefix(limit))
        run.completeModelScores(page)
        let items = page.map { run.entry(at: $0) }
        var next = ""
        if offset + page.count < run.order.count && !page.isEmpty {
            next =
                PageToken(
                    offset: offset + page.count,
                    requestTimeUnixMs: run.requestTimeUnixMs,
                    seed: run.seed,
                    check: check
                ).encoded
        }
        var result = RankResult(
            items: items,
            modelVersion: run.modelVersion,
            variant: run.variant,
            degraded: !run.degradedStages.isEmpty,
            degradedStages: run.degradedStages,
            timings: run.timings,
            nextPageToken: next,
            candidateCount: run.candidates.count,
            dropped: run.dropped,
            snapshotID: run.catalog?.snapshotID ?? "",
            sourceNames: run.sourceNames,
            assignments: run.assignments
        )
        result.pageOffset = offset
        return result
    }

    /// Generates, ranks and sections a recommendation, calling `emit` once per section from the calling thread as
    /// soon as that section is ready. Sections never share an entry. `arrival` as for ``rank(_:deadline:arrival:isCancelled:)``.
    public func recommend(
        _ query: RecommendQuery,
        deadline: DispatchTime?,
        arrival: DispatchTime? = nil,
        isCancelled: () -> Bool,
        emit: (RecommendSection) throws -> Void
    ) throws {
        _ = try recommendCountingCandidates(
            query,
            deadline: deadline,
            arrival: arrival,
            isCancelled: isCancelled,
            emit: emit
        )
    }

    /// `recommend`, returning how many candidates were scored (for benchmarks' per-candidate cost).
    @discardableResult
    public func recommendCountingCandidates(
        _ query: RecommendQuery,
        deadline: DispatchTime?,
        arrival: DispatchTime? = nil,
        isCancelled: () -> Bool,
        emit: (RecommendSection) throws -> Void
    ) throws -> Int {
        let state = current
        if let generic = state.generic {
            return try recommendGeneric(
                query,
                state: state,
                generic: generic,
                deadline: deadline,
                arrival: arrival,
                isCancelled: isCancelled,
                emit: emit
            )
        }
        var (run, surface, limit) = try generateAndRank(
            query,
            deadline: deadline,
            arrival: arrival,
            isCancelled: isCancelled
        )
        let sections = surface.config.sections
        var claimed = [Bool](repeating: false, count: run.candidates.count)
        var assigned = [[Int]](repeating: [], count: sections.count)
        let claimOrder = sections.indices.sorted {
            (sections[$0].priority ?? $0, $0) < (sections[$1].priority ?? $1, $1)
        }
        // The user's orders that arrived as events lead the section of a source that answers them first (Order
        // again), newest first, whatever the model scores them (docs/events.md); only those still in the order.
        let leadBits = surface.generator.recentOrdersFirstBits
        var ranked: [Bool] = []
        if leadBits != 0 && !run.recentOrders.isEmpty {
            ranked = [Bool](repeating: false, count: run.candidates.count)
            for i in run.order { ranked[i] = true }
        }
        for s in claimOrder {
            var bit: UInt32 = 0
            if let source = sections[s].source {
                guard let i = surface.generator.names.firstIndex(of: source) else { continue }
                bit = UInt32(1) << UInt32(i)
            }
            if bit & leadBits != 0 && !ranked.isEmpty {
                for v in run.recentOrders where assigned[s].count < limit {
                    guard let i = run.candidates.firstIndex(of: v), ranked[i], !claimed[i], run.sourceMask[i] & bit != 0
                    else { continue }
                    assigned[s].append(i)
                    claimed[i] = true
                }
            }
            for i in run.order where !claimed[i] && (bit == 0 || run.sourceMask[i] & bit != 0) {
                guard assigned[s].count < limit else { break }
                assigned[s].append(i)
                claimed[i] = true
            }
        }
        run.completeModelScores(assigned.joined())
        var emitted = 0
        for (s, section) in sections.enumerated() {
            if isCancelled() { throw RankingError.cancelled }
            guard !assigned[s].isEmpty || (emitted == 0 && s == sections.count - 1) else { continue }
            // An entry placed ahead of the model's order reports the score of the best entry after it, so a
            // section stays sorted by score.
            var items = assigned[s].map { run.entry(at: $0) }
            for k in stride(from: items.count - 2, through: 0, by: -1) where items[k].score < items[k + 1].score {
                items[k].score = items[k + 1].score
            }
            try emit(
                RecommendSection(
                    key: section.key,
                    title: section.title,
                    items: items,
                    modelVersion: run.modelVersion,
                    variant: run.variant,
                    degraded: !run.degradedStages.isEmpty,
                    degradedStages: run.degradedStages,
                    timings: run.timings,
                    snapshotID: run.catalog?.snapshotID ?? "",
                    sourceNames: run.sourceNames,
                    assignments: run.assignments
                )
            )
            emitted += 1
        }
        return run.candidates.count
    }

    /// The generated and ranked list behind Recommend, unsectioned: the top `limit` entries. Used to replay
    /// held-out users in evaluation and by benchmarks.
    public func recommendList(
        _ query: RecommendQuery,
        deadline: DispatchTime?,
        isCancelled: () -> Bool
    ) throws -> RankResult {
        let state = current
        if let generic = state.generic {
            return try recommendGenericList(
                query,
                state: state,
                generic: generic,
                deadline: deadline,
                arrival: nil,
                isCancelled: isCancelled
            )
        }
        var (run, _, limit) = try generateAndRank(query, deadline: deadline, isCancelled: isCancelled)
        run.completeModelScores(run.order.prefix(limit))
        return RankResult(
            items: run.order.prefix(limit).map { run.entry(at: $0) },
            modelVersion: run.modelVersion,
            variant: run.variant,
            degraded: !run.degradedStages.isEmpty,
            degradedStages: run.degradedStages,
            timings: run.timings,
            nextPageToken: "",
            candidateCount: run.candidates.count,
            dropped: run.dropped,
            snapshotID: run.catalog?.snapshotID ?? "",
            sourceNames: run.sourceNames,
            assignments: run.assignments
        )
    }

    /// The pipeline run behind Recommend (candidate generation through re-rank), with the surface and the validated
    /// per-section limit; shared by the sectioned and the list forms.
    private func generateAndRank(
        _ query: RecommendQuery,
        deadline: DispatchTime?,
        arrival: DispatchTime? = nil,
        isCancelled: () -> Bool
    ) throws -> (run: PipelineRun, surface: ResolvedSurface, limit: Int) {
        let state = current
        let surface = try surface(named: query.surface, in: state)
        let limit = try validateLimit(query.limit, surface: surface)
        let run = try execute(
            state: state,
            surface: surface,
            userID: query.userID,
            context: query.context,
            callerCandidates: nil,
            venueID: query.venueID,
            category: query.category,
            contextItemIDs: query.contextItemIDs,
            explain: query.explain,
            display: query.includeDisplay,
            exclude: query.excludeItemIDs,
            seed: nil,
            deadline: deadline,
            arrival: arrival,
            isCancelled: isCancelled
        )
        return (run, surface, limit)
    }

    // MARK: Validation

    func surface(named name: String, in state: EngineState) throws -> ResolvedSurface {
        if let generic = state.generic {
            // Generic surfaces generate their own candidates: Rank has nothing to rank with them.
            let surface = try generic.surface(named: name)
            throw RankingError.invalidArgument(
                "surface \(surface.name) answers Recommend only (context_item_ids: the \(surface.config.kind) playing, "
                    + "then the session's recent ones)"
            )
        }
        guard !name.isEmpty else {
            throw RankingError.invalidArgument(
                "surface is required; known surfaces: "
                    + state.surfaces.keys.sorted().joined(separator: ", ")
            )
        }
        guard let surface = state.surfaces[name] else {
            throw RankingError.notFound(
                "unknown surface \"\(name)\"; known surfaces: "
                    + state.surfaces.keys.sorted().joined(separator: ", ")
            )
        }
        return surface
    }

    private func validateLimit(_ limit: Int, surface: ResolvedSurface) throws -> Int {
        guard limit >= 0 else { throw RankingError.invalidArgument("limit must not be negative (got \(limit))") }
        guard limit <= surface.config.maxLimit else {
            throw RankingError.invalidArgument(
                "limit \(limit) is above the maximum \(surface.config.maxLimit) "
                    + "for surface \(surface.name)"
            )
        }
        return limit == 0 ? surface.config.defaultLimit : limit
    }

    // MARK: The pipeline

    private func execute(
        state: EngineState,
        surface: ResolvedSurface,
        userID: String,
        context: RequestContext,
        callerCandidates: [CandidateInput]?,
        venueID: String,
        category: String,
        contextItemIDs: [String],
        explain: Bool,
        display: Bool,
        exclude: [String],
        seed: UInt64?,
        deadline: DispatchTime?,
        arrival: DispatchTime?,
        isCancelled: () -> Bool
    ) throws -> PipelineRun {
        guard !userID.isEmpty else { throw RankingError.invalidArgument("user_id is required") }
        let catalog = state.catalog
        let kind = surface.config.kind
        let started = DispatchTime.now()
        if let deadline, deadline <= started { throw RankingError.deadlineExceeded }
        if isCancelled() { throw RankingError.cancelled }
        let prepared = try prepare(
            state: state,
            surface: surface,
            userID: userID,
            context: context,
            takesInputs: callerCandidates == nil,
            venueID: venueID,
            category: category,
            contextItemIDs: contextItemIDs,
            deadline: deadline,
            started: started
        )
        let surface = prepared.surface
        let (inputs, frame, request) = (prepared.inputs, prepared.frame, prepared.request)
        let (onlineState, onlineDegraded) = (prepared.onlineState, prepared.onlineDegraded)
        let (assignments, timeMs) = (prepared.assignments, prepared.timeMs)

        let model = surface.model
        let rerankConfig = surface.config.rerank

        // Capped at a day so a distant-future deadline cannot overflow the stage arithmetic. The default budget
        // counts from the request's arrival: time it spent queued is spent.
        var queuedNanos = 0.0
        if let arrival, started.uptimeNanoseconds > arrival.uptimeNanoseconds {
            queuedNanos = Double(started.uptimeNanoseconds - arrival.uptimeNanoseconds)
        }
        let budgetNanos = min(
            deadline.map { Double($0.uptimeNanoseconds - started.uptimeNanoseconds) }
                ?? max(0, surface.config.defaultBudgetMillis * 1e6 - queuedNanos),
            86_400e9
        )
        let overall = DispatchTime(uptimeNanoseconds: started.uptimeNanoseconds + UInt64(max(0, budgetNanos)))
        func stageDeadline(_ fraction: Double) -> DispatchTime {
            let d = DispatchTime(
                uptimeNanoseconds: DispatchTime.now().uptimeNanoseconds + UInt64(max(0, budgetNanos * fraction))
            )
            return min(d, overall)
        }
        var run = PipelineRun()
        if onlineDegraded { run.degradedStages.append("features.online") }
        run.assignments = assignments
        run.variant = assignments.first { !$0.experiment.isEmpty }?.variant ?? "control"
        run.requestTimeUnixMs = timeMs
        run.seed =
            seed
            ?? (context.requestID.isEmpty
                ? StableHash.hash(userID, String(timeMs / 60_000)) : StableHash.hash(context.requestID, userID))
        run.explain = explain
        run.display = display
        run.kind = kind
        var timer = StageTimer()

        // 1. Candidates.
        var sourceCounts: [Int] = []
        var overrides: [(row: Int, feature: Int, value: Double)] = []
        if let callerCandidates {
            let native = surface.featureIndex
            var seen = Set<String>()
            run.candidates.reserveCapacity(callerCandidates.count)
            for candidate in callerCandidates {
                guard seen.insert(candidate.itemID).inserted else { continue }
                let index = try RankingEngine.candidateIndex(
                    candidate.itemID,
                    kind: kind,
                    catalog: catalog,
                    surface: surface.name
                )
                let row = run.candidates.count
                for (name, value) in candidate.features {
                    guard let feature = native[name] else {
                        throw RankingError.invalidArgument(
                            "candidate \(candidate.itemID): unknown feature "
                                + "\"\(name)\"; surface \(surface.name) knows "
                                + surface.featureNames.joined(separator: ", ")
                        )
                    }
                    guard value.isFinite else {
                        throw RankingError.invalidArgument(
                            "candidate \(candidate.itemID): feature \(name) "
                                + "must be finite (got \(value))"
                        )
                    }
                    overrides.append((row, feature, value))
                }
                run.candidates.append(Int32(index))
                run.sourceMask.append(0)
                run.callerIDs.append(candidate.itemID)
            }
            run.sourceNames = ["caller"]
            for i in run.sourceMask.indices { run.sourceMask[i] = 1 }
        } else {
            var degraded: [String] = []
            let set = surface.generator.run(
                request,
                deadline: stageDeadline(surface.config.stageBudgets.candidates),
                degraded: &degraded,
                timings: &run.timings
            )
            run.candidates = set.indexes
            run.sourceMask = set.sourceMask
            sourceCounts = set.sourceCounts
            run.sourceNames = surface.generator.names
            run.degradedStages.append(contentsOf: degraded)
            run.recentOrders = kind == .venues ? frame.recentOrderVenues : request.recentOrderItems
        }
        timer.lap("candidates", into: &run.timings)
        if isCancelled() { throw RankingError.cancelled }
        if DispatchTime.now() >= overall && run.candidates.isEmpty { throw RankingError.deadlineExceeded }

        // 2. Features.
        let n = run.candidates.count
        let nativeWidth = surface.featureNames.count
        let joinedWidth = nativeWidth - surface.online.count - surface.attributeColumns.count
        let featuresDeadline = stageDeadline(surface.config.stageBudgets.features)
        var nativeRows = surface.joinedRows(catalog: catalog, frame: frame, candidates: run.candidates)
        if !surface.online.isEmpty {
            // Copies, not `run` itself: a closure that captures `run` would make every later access to it checked
            // at run time as a whole, and `run.order.removeAll { run.candidates… }` below would then trap.
            let candidates = run.candidates
            let callerIDs = run.callerIDs
            var ids: [String]?
            let candidateIDs = { () -> [String] in
                if let ids { return ids }
                let made = candidates.enumerated().map { r, c in
                    c >= 0 ? (kind == .venues ? catalog.venueID(Int(c)) : catalog.itemID(Int(c))) : callerIDs[r]
                }
                ids = made
                return made
            }
            for (k, feature) in surface.online.enumerated() {
                let column = joinedWidth + surface.attributeColumns.count + k
                feature.fill(candidates: candidates, state: onlineState, ids: candidateIDs) { r, value in
                    nativeRows[r * nativeWidth + column] = value
                }
            }
        }
        for o in overrides { nativeRows[o.row * nativeWidth + o.feature] = o.value }
        surface.metrics.recordFeatures(nativeRows, count: n, width: nativeWidth)
        if DispatchTime.now() > featuresDeadline { run.degradedStages.append("features") }
        timer.lap("features", into: &run.timings)
        if isCancelled() { throw RankingError.cancelled }

        // 3. Score.
        let scoreDeadline = stageDeadline(surface.config.stageBudgets.score)
        var scoring = model
        if DispatchTime.now() >= scoreDeadline && n > 0 {
            run.degradedStages.append("score")
            scoring = surface.heuristic
        }
        /// The rows in `model`'s column order.
        func rowsFor(_ model: ActiveModel) -> [Double] {
            guard !model.isNativeOrder else { return nativeRows }
            var rows = [Double](repeating: 0, count: n * model.width)
            for r in 0..<n {
                for (j, f) in model.layout.enumerated() {
                    rows[r * model.width + j] = nativeRows[r * nativeWidth + f]
                }
            }
            return rows
        }
        var rows = rowsFor(scoring)
        var scores: [Double] = []
        var fullyScored: [Bool] = []
        var scratch: [Double] = []
        var complete = rows.withUnsafeBufferPointer {
            TwoPhaseScorer.score(
                model: scoring.model,
                width: scoring.width,
                rows: $0,
                rowCount: n,
                config: surface.config.scoring,
                scores: &scores,
                fullyScored: &fullyScored,
                scratch: &scratch,
                deadlinePassed: { DispatchTime.now() >= scoreDeadline }
            )
        }
        if scores.contains(where: { !$0.isFinite }) {
            // A model that produces non-finite scores cannot order anything: fall back to the heuristic.
            run.degradedStages.append("score")
            scoring = surface.heuristic
            rows = rowsFor(scoring)
            complete = rows.withUnsafeBufferPointer {
                TwoPhaseScorer.score(
                    model: scoring.model,
                    width: scoring.width,
                    rows: $0,
                    rowCount: n,
                    config: surface.config.scoring,
                    scores: &scores,
                    fullyScored: &fullyScored,
                    scratch: &scratch,
                    deadlinePassed: { false }
                )
            }
        }
        if !complete { run.degradedStages.append("score.full") }
        run.modelVersion = scoring.version
        run.modelScores = scores
        if fullyScored.contains(false) {
            // Kept so that the entries answered can be given the full model's score (``PipelineRun/completeModelScores``).
            run.partial = PipelineRun.PartialScores(
                model: scoring,
                rows: rows,
                fullyScored: fullyScored,
                firstTrees: surface.config.scoring.firstPhaseTrees
            )
        }
        if explain {
            // What the model read, in its order, then what else the surface computed (online features a model is
            // not trained on yet), so a person sees every value the answer had.
            let read = Set(scoring.layout)
            let extra = (0..<nativeWidth).filter { !read.contains($0) }
            run.featureNames = scoring.model.featureNames + extra.map { surface.featureNames[$0] }
            run.featureWidth = scoring.width + extra.count
            if extra.isEmpty {
                run.featureRows = rows
            } else {
                run.featureRows.reserveCapacity(n * run.featureWidth)
                for r in 0..<n {
                    run.featureRows += rows[(r * scoring.width)..<((r + 1) * scoring.width)]
                    for f in extra { run.featureRows.append(nativeRows[r * nativeWidth + f]) }
                }
            }
        }
        timer.lap("score", into: &run.timings)
        if isCancelled() { throw RankingError.cancelled }

        // 4. Re-rank.
        var excluded: [Int32] = []
        var excludedUnknown = Set<String>()
        for id in exclude {
            if let index = kind == .venues ? catalog.venueIndex(id) : catalog.itemIndex(id) {
                excluded.append(Int32(index))
            } else {
                excludedUnknown.insert(id)
            }
        }
        if rerankConfig.excludeContextItems == true { excluded.append(contentsOf: inputs.contextItems) }
        excluded.sort()
        let recent = surface.excludeRecent.map { $0.items(in: onlineState).sorted() } ?? []
        var pinned: [(Int32, Int)] = []
        for (id, position) in rerankConfig.pins {
            if let index = kind == .venues ? catalog.venueIndex(id) : catalog.itemIndex(id) {
                pinned.append((Int32(index), position))
            }
        }
        let buried = rerankConfig.buries.compactMap { kind == .venues ? catalog.venueIndex($0) : catalog.itemIndex($0) }
            .map { Int32($0) }
        var effective = rerankConfig
        if DispatchTime.now() >= overall {
            // Out of time: keep the filters (they are never optional), skip the optional passes.
            run.degradedStages.append("rerank")
            effective.diversityPenalty = 0
            effective.diversityWindow = 0
            effective.explorationPolicy = "none"
        }
        let reranker = Reranker(config: effective, kind: kind)
        let output = reranker.rerank(
            candidates: run.candidates,
            scores: scores,
            fullyScored: fullyScored,
            request: request,
            excluded: excluded,
            recent: recent,
            explorationSeed: run.seed,
            pinned: pinned,
            buried: buried,
            sourceMask: callerCandidates == nil ? run.sourceMask : [],
            eligibleSourceBits: callerCandidates == nil ? surface.generator.eligibleSourceBits : 0
        )
        run.order = output.order
        var dropped = output
        if !excludedUnknown.isEmpty {
            let before = run.order.count
            let (candidates, callerIDs) = (run.candidates, run.callerIDs)
            run.order.removeAll { candidates[$0] < 0 && excludedUnknown.contains(callerIDs[$0]) }
            for _ in run.order.count..<before { dropped.drop(.excluded) }
        }
        run.dropped = dropped.droppedByReason
        run.finalScores = [Double](repeating: 0, count: n)
        for (k, i) in output.order.enumerated() { run.finalScores[i] = output.finalScores[k] }
        run.explored = output.explored
        run.pinned = output.pinned
        timer.lap("rerank", into: &run.timings)
        run.timings.append(
            StageTiming(
                stage: "total",
                micros: Int64((DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1000)
            )
        )
        run.catalog = catalog
        surface.metrics.record(run, sourceCounts: sourceCounts)
        return run
    }

    /// What a request works out before its stages run: the surface's inputs resolved, the location and time, the
    /// surface as the user's experiments change it, the online state read, and the facts the stages share.
    struct PreparedRequest {
        let surface: ResolvedSurface
        let inputs: SurfaceInputs
        let frame: RequestFrame
        let request: CandidateRequest
        let onlineState: OnlineRequestState
        let onlineDegraded: Bool
        let assignments: [ExperimentAssignment.Placement]
        let timeMs: Int64
    }

    /// Validates the request's context and works out what its stages share (``PreparedRequest``). `takesInputs` is
    /// false for Rank, whose candidates come from the caller.
    func prepare(
        state: EngineState,
        surface: ResolvedSurface,
        userID: String,
        context: RequestContext,
        takesInputs: Bool,
        venueID: String,
        category: String,
        contextItemIDs: [String],
        deadline: DispatchTime?,
        started: DispatchTime
    ) throws -> PreparedRequest {
        let catalog = state.catalog
        let kind = surface.config.kind
        guard context.latitude.isFinite, context.longitude.isFinite, abs(context.latitude) <= 90,
            abs(context.longitude) <= 180
        else {
            throw RankingError.invalidArgument(
                "context latitude/longitude must be finite and within range "
                    + "(got \(context.latitude), \(context.longitude))"
            )
        }
        // Year 2100: far beyond any real request, and small enough that local-time arithmetic cannot overflow.
        guard context.requestTimeUnixMs >= 0, context.requestTimeUnixMs <= 4_102_444_800_000 else {
            throw RankingError.invalidArgument(
                "context request_time_unix_ms must be between 0 and 4102444800000 (got \(context.requestTimeUnixMs))"
            )
        }
        // Rank takes the caller's candidates and no inputs; Recommend's are what the surface requires.
        var inputs = SurfaceInputs()
        if takesInputs {
            inputs = try SurfaceInputs.resolve(
                venueID: venueID,
                category: category,
                contextItemIDs: contextItemIDs,
                surface: surface,
                catalog: catalog,
                surfacesTaking: { input in
                    state.surfaces.filter { $0.value.config.inputs.contains(input) }.keys.sorted()
                }
            )
        }
        let venueIndex = inputs.venueIndex
        let userIndex = catalog.userIndex(userID)
        // Location: the caller's, else the user's home, else the market's centre, else the largest market's.
        var latitude = context.latitude
        var longitude = context.longitude
        if latitude == 0 && longitude == 0 {
            if let user = userIndex {
                latitude = catalog.userLatitude[user]
                longitude = catalog.userLongitude[user]
            } else if let v = venueIndex {
                latitude = catalog.venueLatitude[v]
                longitude = catalog.venueLongitude[v]
            } else if !catalog.markets.isEmpty {
                let market = catalog.markets[catalog.marketIndex(context.market) ?? 0]
                latitude = market.latitude
                longitude = market.longitude
            }
        }
        let timeMs =
            context.requestTimeUnixMs != 0
            ? context.requestTimeUnixMs : Int64(Date().timeIntervalSince1970 * 1000)
        // The user's experiments on this surface, and the surface as their variants change it (model, sources,
        // re-rank, online features).
        let (assignments, variantKey) = state.plan.assign(userID: userID, surface: surface.name, timeMs: timeMs)
        let surface = variantKey.isEmpty ? surface : (surface.variants[variantKey] ?? surface)
        var onlineDegraded = false
        let online = readOnline(
            userID: userID,
            sessionID: context.sessionID,
            nowMs: timeMs,
            budgetMillis: surface.config.defaultBudgetMillis,
            deadline: deadline,
            started: started,
            degraded: &onlineDegraded
        )
        let onlineOrders = RankingEngine.onlineOrders(online.user, catalog: catalog, requestTimeMs: timeMs)
        var frame = RequestFrame(
            catalog: catalog,
            userIndex: userIndex,
            latitude: latitude,
            longitude: longitude,
            timeUnixMs: timeMs,
            venueIndex: venueIndex,
            onlineOrders: onlineOrders
        )
        // The online state in the positions this surface ranks (an item's event counts for its venue on venue
        // surfaces), for its online features and rules.
        var onlineState = OnlineRequestState(nowMs: timeMs)
        if !surface.online.isEmpty || surface.excludeRecent != nil {
            onlineState = OnlineRequestState(online, nowMs: timeMs, counters: onlineStore?.itemCounters) { id in
                if kind == .venueItems { return catalog.itemIndex(id) }
                return catalog.venueIndex(id) ?? catalog.itemIndex(id).map { Int(catalog.itemVenue[$0]) }
            }
        }
        if frame.city == nil, let market = catalog.marketIndex(context.market) { frame.city = market }
        if !inputs.contextItems.isEmpty { frame.setCart(inputs.contextItems, catalog: catalog, pairs: state.itemPairs) }
        var request = CandidateRequest(
            catalog: catalog,
            userIndex: userIndex,
            latitude: latitude,
            longitude: longitude,
            city: frame.city,
            weekday: frame.weekday,
            minuteOfDay: frame.minuteOfDay,
            day: frame.day,
            venueIndex: venueIndex,
            lonScale: frame.lonScale,
            pastVenues: kind == .venues ? frame.pastVenuesByFrequency : [],
            covisited: kind == .venues ? frame.covisitedByWeight : [],
            categoryTags: inputs.categoryTags,
            contextItems: inputs.contextItems,
            itemPairs: state.itemPairs
        )
        request.recentOrderItems = onlineOrders.compactMap { $0.item >= 0 ? $0.item : nil }
        return PreparedRequest(
            surface: surface,
            inputs: inputs,
            frame: frame,
            request: request,
            onlineState: onlineState,
            onlineDegraded: onlineDegraded,
            assignments: assignments,
            timeMs: timeMs
        )
    }

    /// The user's online state, or empty when there is no store, it fails, or it does not answer within its share of
    /// the request's budget (then `degraded` is set and the answer is built from the snapshot alone).
    private func readOnline(
        userID: String,
        sessionID: String,
        nowMs: Int64,
        budgetMillis: Double,
        deadline: DispatchTime?,
        started: DispatchTime,
        degraded: inout Bool
    ) -> UserOnlineState {
        guard let store = onlineStore else { return .empty }
        var budget = budgetMillis * 1e6
        if let deadline { budget = min(budget, Double(deadline.uptimeNanoseconds &- started.uptimeNanoseconds)) }
        let until = DispatchTime(
            uptimeNanoseconds: started.uptimeNanoseconds + UInt64(max(0, min(budget, 86_400e9)) * Self.onlineReadShare)
        )
        do {
            return try store.read(userID: userID, sessionID: sessionID, nowMs: nowMs, deadline: until)
        } catch {
            degraded = true
            return .empty
        }
    }

    /// The orders among `interactions` (newest first) whose venue or item the catalog knows, newest first. An order
    /// stamped after the request's time (a client clock ahead of the server's, by up to the 5 minutes events allow,
    /// or a request that names an earlier time) counts as made at the request's time: never a day after the
    /// request's day, which would make its days-since features negative.
    static func onlineOrders(
        _ interactions: [OnlineInteraction],
        catalog: Catalog,
        requestTimeMs: Int64
    ) -> [OnlineOrder] {
        var orders: [OnlineOrder] = []
        for interaction in interactions where interaction.kind == .order {
            let timeMs = min(interaction.timeMs, requestTimeMs)
            let day = Int16(clamping: Int((Double(timeMs) / 86_400_000).rounded(.down)) - catalog.referenceDay)
            if let v = catalog.venueIndex(interaction.itemID) {
                orders.append(OnlineOrder(venue: Int32(v), item: -1, day: day))
            } else if let i = catalog.itemIndex(interaction.itemID) {
                orders.append(OnlineOrder(venue: catalog.itemVenue[i], item: Int32(i), day: day))
            }
        }
        return orders
    }

    private static func candidateIndex(
        _ id: String,
        kind: SurfaceKind,
        catalog: Catalog,
        surface: String
    ) throws -> Int {
        let ids = kind == .venues ? catalog.venueIDs : catalog.itemIDs
        if let index = ids.position(id) { return index }
        // An id of the right form that the catalog does not have is a venue or item newer than the snapshot: rank
        // it on the caller's features alone.
        if ids.couldName(id) { return -1 }
        let example = ids.count > 0 ? "\(ids.id(0)), ..." : "none in this catalog"
        throw RankingError.invalidArgument(
            "candidate \"\(id)\" is not a \(kind == .venues ? "venue" : "item") id; "
                + "surface \(surface) ranks \(kind == .venues ? "venues" : "items") (\(example))"
        )
    }
}

/// Measures consecutive stages, and reports each as a span to the process's tracer (swift-distributed-tracing)
/// under the caller's current context, when a tracer other than the no-op one is bootstrapped.
struct StageTimer {
    private var last = DispatchTime.now()
    private let tracing: StageTracing?

    init() {
        tracing = StageTracing.current()
    }

    mutating func lap(_ stage: String, into timings: inout [StageTiming]) {
        let now = DispatchTime.now()
        timings.append(
            StageTiming(stage: stage, micros: Int64((now.uptimeNanoseconds - last.uptimeNanoseconds) / 1000))
        )
        last = now
        tracing?.lap(stage)
    }
}

/// Everything one request produced, indexed by candidate position.
struct PipelineRun {
    var catalog: Catalog?
    var kind: SurfaceKind = .venues
    var candidates: [Int32] = []
    /// The user's orders that arrived as events (venues, or items on item surfaces), newest first: they lead the
    /// section of a source that answers them first.
    var recentOrders: [Int32] = []
    var callerIDs: [String] = []
    var sourceMask: [UInt32] = []
    var sourceNames: [String] = []
    var modelScores: [Double] = []
    var finalScores: [Double] = []
    var order: [Int] = []
    var explored: Int?
    /// Candidates a pin placed.
    var pinned: Set<Int> = []
    /// What finishing a first-phase score needs, when some candidates got only the first trees.
    var partial: PartialScores?
    /// Candidates the re-rank filters removed, by reason.
    var dropped: [(reason: DropReason, count: Int)] = []
    var modelVersion = ""
    var variant = ""
    /// The user's place in each experiment layer that concerns the surface.
    var assignments: [ExperimentAssignment.Placement] = []
    var degradedStages: [String] = []
    var timings: [StageTiming] = []
    var requestTimeUnixMs: Int64 = 0
    var seed: UInt64 = 0
    var explain = false
    /// Fill each entry's display values.
    var display = false
    var featureNames: [String] = []
    var featureRows: [Double] = []
    var featureWidth = 0

    /// The model, its rows and which candidates it scored fully, for candidates scored by the first trees only.
    struct PartialScores {
        let model: ActiveModel
        let rows: [Double]
        var fullyScored: [Bool]
        let firstTrees: Int
    }

    /// Gives each of `indices` that has a first-phase score the full model's: an answered entry always reports the
    /// score every tree gives (one placed by exploration or a pin may have been ranked on the first trees alone).
    mutating func completeModelScores(_ indices: some Collection<Int>) {
        guard var partial else { return }
        let pending = indices.filter { !partial.fullyScored[$0] }
        guard !pending.isEmpty else { return }
        var scratch: [Double] = []
        partial.rows.withUnsafeBufferPointer { rows in
            TwoPhaseScorer.finish(
                model: partial.model.model,
                width: partial.model.width,
                rows: rows,
                pending: pending,
                firstTrees: partial.firstTrees,
                scores: &modelScores,
                fullyScored: &partial.fullyScored,
                scratch: &scratch
            )
        }
        self.partial = partial
    }

    func entry(at i: Int) -> RankedEntry {
        let index = Int(candidates[i])
        let id: String
        var venue = ""
        var display: [(name: String, value: String)] = []
        if !callerIDs.isEmpty {
            id = callerIDs[i]
        } else {
            id = (kind == .venues ? catalog?.venueID(index) : catalog?.itemID(index)) ?? ""
        }
        if index >= 0, let catalog {
            if kind == .venueItems {
                venue = catalog.venueID(Int(catalog.itemVenue[index]))
            } else {
                venue = callerIDs.isEmpty ? id : catalog.venueID(index)
            }
            if self.display {
                display =
                    kind == .venues ? catalog.venueDisplay.values(of: index) : catalog.itemDisplay.values(of: index)
            }
        } else if kind == .venues {
            venue = id
        }
        var sources: [String] = []
        var features: [(String, Double)] = []
        if explain {
            for (k, name) in sourceNames.enumerated() where sourceMask[i] & (UInt32(1) << UInt32(k)) != 0 {
                sources.append(name)
            }
            if explored == i { sources.append("exploration") }
            features.reserveCapacity(featureWidth)
            for (j, name) in featureNames.enumerated() { features.append((name, featureRows[i * featureWidth + j])) }
        }
        var entry = RankedEntry(
            itemID: id,
            score: finalScores[i],
            modelScore: modelScores[i],
            venueID: venue,
            sources: sources,
            features: features,
            display: display
        )
        entry.sourceMask = sourceMask[i]
        entry.explored = explored == i
        entry.pinned = pinned.contains(i)
        return entry
    }
}
