import Foundation

/// What one request knows of the online state, resolved into the positions of the entities a surface ranks:
/// events on entities the catalog does not have are -1.
struct OnlineRequestState {
    /// One interaction, on a candidate-space position.
    struct Event {
        var item: Int32
        var kind: EventKind
        var timeMs: Int64
    }

    /// The request's time, ms since the Unix epoch.
    var nowMs: Int64 = 0
    /// The user's and the session's recent events, newest first.
    var user: [Event] = []
    var session: [Event] = []
    /// Per-item counters over sliding windows (nil: no online store).
    var counters: ItemWindowCounters?

    init(nowMs: Int64 = 0) { self.nowMs = nowMs }

    /// `state`'s interactions with each item id resolved by `position` (nil: not in the catalog).
    init(
        _ state: UserOnlineState,
        nowMs: Int64,
        counters: ItemWindowCounters?,
        position: (String) -> Int?
    ) {
        self.nowMs = nowMs
        self.counters = counters
        func resolve(_ list: [OnlineInteraction]) -> [Event] {
            list.map { Event(item: position($0.itemID).map(Int32.init) ?? -1, kind: $0.kind, timeMs: $0.timeMs) }
        }
        user = resolve(state.user)
        session = resolve(state.session)
    }

    /// The user's or the session's recent events on known items, of `kinds` (every kind when empty), within
    /// `withinMs` (`Int64.max`: all kept).
    func recent(session: Bool, kinds: [EventKind], withinMs: Int64) -> [Event] {
        let oldest = withinMs == Int64.max ? Int64.min : nowMs - withinMs
        return (session ? self.session : user).filter {
            $0.item >= 0 && $0.timeMs >= oldest && (kinds.isEmpty || kinds.contains($0.kind))
        }
    }
}

/// A feature computed from the online state, bound to a surface: generic surfaces and the marketplace's compute it
/// with the same code (``fill(column:candidates:state:ids:set:)``). docs/events.md lists the kinds.
enum OnlineFeature: Sendable {
    case windowCount(kind: EventKind, windowMs: Int64)
    case rate(kind: EventKind, over: EventKind, windowMs: Int64, prior: Double, weight: Double)
    /// `groups[item]`: the group of each candidate-space position (nil: the item itself).
    case timeSince(kind: EventKind?, session: Bool, groups: [Int32]?)
    case sessionAffinity(kind: EventKind?, groups: [Int32])
    case interacted(kind: EventKind?, session: Bool, windowMs: Int64)
    /// `values[item]`: a number attribute of each candidate-space position (NaN: unset).
    case sessionDifference(kind: EventKind?, values: [Float], signed: Bool)
    case sessionCosine(kind: EventKind?, unit: UnitEmbeddings)
    /// `groups`: every group of each candidate-space position.
    case sessionRate(kind: EventKind, over: EventKind, groups: TagColumn, prior: Double, weight: Double)

    /// How a surface resolves the item attributes that the session kinds read (`attribute`, `via`); each throws,
    /// naming `what`, when the attribute is not of the kind needed. A surface without them (the marketplace's)
    /// refuses those kinds.
    struct ItemAttributes {
        /// A number attribute of each candidate-space position.
        var numbers: (String?, String) throws -> [Float]
        /// An embedding attribute, rows at unit length.
        var embeddings: (String?, String) throws -> UnitEmbeddings
        /// Every group of each position: a reference's target (none when unset), or all tags of a tags attribute.
        var memberships: (String?, String) throws -> TagColumn
    }

    /// Binds `config` when its kind is an online one (else nil). `groups` resolves a `via` attribute into the group of
    /// each candidate-space position, `attributes` the attributes the session kinds read (nil: those kinds are
    /// refused); `fail` makes the error that names the surface.
    static func bind(
        _ config: GenericFeatureConfig,
        groups: (String?, String) throws -> [Int32],
        attributes: ItemAttributes? = nil,
        fail: (String) -> Error
    ) throws -> OnlineFeature? {
        let what = "feature \(config.name)"
        func itemAttributes() throws -> ItemAttributes {
            guard let attributes else { throw fail("\(what): \(config.kind) is for generic surfaces") }
            return attributes
        }
        switch GenericFeatureKind(rawValue: config.kind) {
        case .onlineWindowCount:
            return .windowCount(
                kind: try eventKind(config.event, what, fail: fail)!,
                windowMs: try window(config.windowSeconds, what, fail: fail)
            )
        case .onlineRate:
            let (prior, weight) = try rateSettings(config, what, fail: fail)
            return .rate(
                kind: try eventKind(config.event, what, fail: fail)!,
                over: try eventKind(config.over, what + " (over)", fail: fail)!,
                windowMs: try window(config.windowSeconds, what, fail: fail),
                prior: prior,
                weight: weight
            )
        case .onlineTimeSince:
            return .timeSince(
                kind: try eventKind(config.event, what, required: false, fail: fail),
                session: try isSession(config.scope, what, fail: fail),
                groups: try config.via.map { try groups($0, what) }
            )
        case .onlineSessionAffinity:
            return .sessionAffinity(
                kind: try eventKind(config.event, what, required: false, fail: fail),
                groups: try groups(config.via, what)
            )
        case .onlineInteracted:
            let within = try config.windowSeconds.map { seconds -> Int64 in
                guard seconds > 0 && seconds.isFinite else { throw fail("\(what): windowSeconds must be positive") }
                return Int64(min(seconds, 86_400 * 365) * 1000)
            }
            return .interacted(
                kind: try eventKind(config.event, what, required: false, fail: fail),
                session: try isSession(config.scope, what, fail: fail),
                windowMs: within ?? Int64.max
            )
        case .onlineSessionDifference:
            return .sessionDifference(
                kind: try eventKind(config.event, what, required: false, fail: fail),
                values: try itemAttributes().numbers(config.attribute, what),
                signed: config.signed ?? false
            )
        case .onlineSessionCosine:
            return .sessionCosine(
                kind: try eventKind(config.event, what, required: false, fail: fail),
                unit: try itemAttributes().embeddings(config.attribute, what)
            )
        case .onlineSessionRate:
            let (prior, weight) = try rateSettings(config, what, fail: fail)
            return .sessionRate(
                kind: try eventKind(config.event, what, fail: fail)!,
                over: try eventKind(config.over, what + " (over)", fail: fail)!,
                groups: try itemAttributes().memberships(config.via, what),
                prior: prior,
                weight: weight
            )
        default:
            return nil
        }
    }

    /// The prior rate of `online_rate` and `online_session_rate`, and how many events it weighs as.
    static func rateSettings(
        _ config: GenericFeatureConfig,
        _ what: String,
        fail: (String) -> Error
    ) throws -> (prior: Double, weight: Double) {
        let prior = config.prior ?? 0
        let weight = config.priorWeight ?? 1
        guard prior >= 0 && prior.isFinite, weight > 0 && weight.isFinite else {
            throw fail("\(what): prior must be a non-negative number and priorWeight a positive one")
        }
        return (prior, weight)
    }

    /// The event kind named `name`; nil when unset and not `required`.
    static func eventKind(
        _ name: String?,
        _ what: String,
        required: Bool = true,
        fail: (String) -> Error
    ) throws
        -> EventKind?
    {
        guard let name else {
            if required { throw fail("\(what) needs an event kind") }
            return nil
        }
        guard let kind = EventKind(name: name) else {
            throw fail(
                "\(what): unknown event kind \(name) (known: "
                    + EventKind.allCases.map(\.name).joined(separator: ", ") + ")"
            )
        }
        return kind
    }

    static func window(_ seconds: Double?, _ what: String, fail: (String) -> Error) throws -> Int64 {
        guard let seconds else { throw fail("\(what) needs windowSeconds") }
        let ms = Int64(exactly: (seconds * 1000).rounded()) ?? -1
        guard ItemWindowCounters.isSupportedWindow(ms) else {
            throw fail(
                "\(what): windowSeconds \(seconds) is not a window the counters keep (300 to 3600 in steps of "
                    + "300, or 7200 to 86400 in steps of 3600)"
            )
        }
        return ms
    }

    static func isSession(_ scope: String?, _ what: String, fail: (String) -> Error) throws -> Bool {
        switch scope {
        case nil, "user": return false
        case "session": return true
        case let other?: throw fail("\(what): scope must be user or session (got \(other))")
        }
    }

    /// Computes the feature for every candidate: `set(row, value)` (rows left unset read as missing). `ids` gives the
    /// candidates' ids, made only when item counters are read.
    func fill(
        candidates: [Int32],
        state: OnlineRequestState,
        ids: () -> [String],
        set: (Int, Double) -> Void
    ) {
        switch self {
        case .windowCount(let kind, let windowMs):
            guard let counters = state.counters else { return }
            let counts = counters.counts(itemIDs: ids(), queries: [(kind, windowMs)], nowMs: state.nowMs)
            for r in candidates.indices { set(r, Double(counts[r])) }
        case .rate(let kind, let over, let windowMs, let prior, let weight):
            guard let counters = state.counters else { return }
            let counts = counters.counts(
                itemIDs: ids(),
                queries: [(kind, windowMs), (over, windowMs)],
                nowMs: state.nowMs
            )
            for r in candidates.indices {
                set(r, (Double(counts[2 * r]) + prior * weight) / (Double(counts[2 * r + 1]) + weight))
            }
        case .timeSince(let kind, let session, let groups):
            func group(_ item: Int32) -> Int32 { groups.map { $0[Int(item)] } ?? item }
            // Newest first, so the first event of each group is its last time.
            var last: [Int32: Int64] = [:]
            for event in state.recent(session: session, kinds: kind.map { [$0] } ?? [], withinMs: .max) {
                let key = group(event.item)
                if key >= 0 && last[key] == nil { last[key] = event.timeMs }
            }
            guard !last.isEmpty else { return }
            for (r, c) in candidates.enumerated() where c >= 0 {
                if let time = last[group(c)] { set(r, Double(max(0, state.nowMs - time)) / 1000) }
            }
        case .sessionAffinity(let kind, let groups):
            let events = state.recent(session: true, kinds: kind.map { [$0] } ?? [], withinMs: .max)
            var perGroup: [Int32: Int] = [:]
            for event in events { perGroup[groups[Int(event.item)], default: 0] += 1 }
            for (r, c) in candidates.enumerated() {
                let key = c >= 0 ? groups[Int(c)] : -1
                set(r, events.isEmpty || key < 0 ? 0 : Double(perGroup[key] ?? 0) / Double(events.count))
            }
        case .interacted(let kind, let session, let windowMs):
            let items = Set(
                state.recent(session: session, kinds: kind.map { [$0] } ?? [], withinMs: windowMs).map(\.item)
            )
            for (r, c) in candidates.enumerated() { set(r, items.contains(c) ? 1 : 0) }
        case .sessionDifference(let kind, let values, let signed):
            var sum: Float = 0
            var count: Float = 0
            for event in state.recent(session: true, kinds: kind.map { [$0] } ?? [], withinMs: .max)
            where !values[Int(event.item)].isNaN {
                sum += values[Int(event.item)]
                count += 1
            }
            guard count > 0 else { return }
            let mean = sum / count
            for (r, c) in candidates.enumerated() where c >= 0 {
                let difference = values[Int(c)] - mean
                set(r, Double(signed ? difference : abs(difference)))
            }
        case .sessionCosine(let kind, let unit):
            let d = unit.dimension
            var centroid = [Float](repeating: 0, count: d)
            for event in state.recent(session: true, kinds: kind.map { [$0] } ?? [], withinMs: .max) {
                let base = Int(event.item) * d
                for k in 0..<d { centroid[k] += unit.values[base + k] }
            }
            var norm: Float = 0
            for k in 0..<d { norm += centroid[k] * centroid[k] }
            // No events, or items without a vector: nothing to be alike.
            guard norm > 0 else { return }
            let scale = 1 / norm.squareRoot()
            for k in 0..<d { centroid[k] *= scale }
            centroid.withUnsafeBufferPointer { q in
                for (r, c) in candidates.enumerated() where c >= 0 { set(r, Double(unit.dot(Int(c), q))) }
            }
        case .sessionRate(let kind, let over, let groups, let prior, let weight):
            // Counts per group over the session's events, then each candidate's best group.
            var counts: [Int32: (hits: Double, base: Double)] = [:]
            for event in state.recent(session: true, kinds: [kind, over], withinMs: .max) {
                for k in groups.range(Int(event.item)) {
                    if event.kind == kind { counts[groups.codes[k], default: (0, 0)].hits += 1 }
                    if event.kind == over { counts[groups.codes[k], default: (0, 0)].base += 1 }
                }
            }
            for (r, c) in candidates.enumerated() {
                var best = -Double.infinity
                if c >= 0 {
                    for k in groups.range(Int(c)) {
                        let n = counts[groups.codes[k]] ?? (0, 0)
                        best = max(best, (n.hits + prior * weight) / (n.base + weight))
                    }
                }
                set(r, best.isFinite ? best : prior)
            }
        }
    }
}

/// A bound ``RecentEventRule``.
struct RecentRule: Sendable {
    var kinds: [EventKind]
    var withinMs: Int64
    var session: Bool

    init(_ rule: RecentEventRule, _ what: String, fail: (String) -> Error) throws {
        guard !rule.events.isEmpty else { throw fail("\(what) needs at least one event kind") }
        guard rule.withinSeconds > 0 && rule.withinSeconds.isFinite else {
            throw fail("\(what): withinSeconds must be a positive number")
        }
        kinds = try rule.events.map { try OnlineFeature.eventKind($0, what, fail: fail)! }
        withinMs = Int64(min(rule.withinSeconds, 86_400 * 365) * 1000)
        session = try OnlineFeature.isSession(rule.scope, what, fail: fail)
    }

    /// The candidate-space positions the rule names in `state`.
    func items(in state: OnlineRequestState) -> [Int32] {
        state.recent(session: session, kinds: kinds, withinMs: withinMs).map(\.item)
    }
}
