import Dispatch

/// Where and when a request is made.
public struct RequestContext: Sendable {
    /// Latitude of the delivery location; latitude = longitude = 0 means "use the user's home".
    public var latitude: Double
    /// Longitude of the delivery location.
    public var longitude: Double
    /// Request time in ms since the Unix epoch; 0 means now on the server's clock.
    public var requestTimeUnixMs: Int64
    /// Market code such as "hel"; empty derives it from the location.
    public var market: String
    /// Client device class.
    public var device: String
    /// BCP 47 locale.
    public var locale: String
    /// Caller's request id: the same id gives the same exploration choices.
    public var requestID: String
    /// The app session; online session features read its events. Empty: none.
    public var sessionID: String

    /// Creates a context; every field defaults to "not given".
    public init(
        latitude: Double = 0,
        longitude: Double = 0,
        requestTimeUnixMs: Int64 = 0,
        market: String = "",
        device: String = "",
        locale: String = "",
        requestID: String = "",
        sessionID: String = ""
    ) {
        self.latitude = latitude
        self.longitude = longitude
        self.requestTimeUnixMs = requestTimeUnixMs
        self.market = market
        self.device = device
        self.locale = locale
        self.requestID = requestID
        self.sessionID = sessionID
    }
}

/// An item the caller wants ranked, with optional feature overrides by model feature name.
public struct CandidateInput: Sendable {
    /// Venue id ("v12") on venue surfaces, item id ("i7") on item surfaces.
    public var itemID: String
    /// Values that replace the joined ones, keyed by feature name.
    public var features: [(String, Double)]

    /// Creates a candidate.
    public init(itemID: String, features: [(String, Double)] = []) {
        self.itemID = itemID
        self.features = features
    }
}

/// A Rank call: order the caller's candidates.
public struct RankQuery: Sendable {
    /// Required.
    public var userID: String
    /// Surface name from the surface configuration, e.g. "discovery".
    public var surface: String
    /// Location and time.
    public var context: RequestContext
    /// What to rank.
    public var candidates: [CandidateInput]
    /// Most items to return; 0 means the surface default.
    public var limit: Int
    /// Return feature vectors, model scores, sources and timings.
    public var explain: Bool
    /// Ids never to return.
    public var excludeItemIDs: [String]
    /// Token from a previous answer's `nextPageToken`.
    public var pageToken: String
    /// Return each entry's display values (names...), for people; off for services, which pay nothing for them.
    public var includeDisplay = false

    /// Creates a query.
    public init(
        userID: String,
        surface: String,
        context: RequestContext = RequestContext(),
        candidates: [CandidateInput],
        limit: Int = 0,
        explain: Bool = false,
        excludeItemIDs: [String] = [],
        pageToken: String = ""
    ) {
        self.userID = userID
        self.surface = surface
        self.context = context
        self.candidates = candidates
        self.limit = limit
        self.explain = explain
        self.excludeItemIDs = excludeItemIDs
        self.pageToken = pageToken
    }
}

/// A Recommend call: generate candidates, rank them and answer in sections.
public struct RecommendQuery: Sendable {
    /// Required.
    public var userID: String
    /// Surface name, e.g. "discovery" or "venue_items".
    public var surface: String
    /// Location and time.
    public var context: RequestContext
    /// Most items per section; 0 means the surface default.
    public var limit: Int
    /// Return feature vectors, model scores, sources and timings.
    public var explain: Bool
    /// Ids never to return.
    public var excludeItemIDs: [String]
    /// The venue, for surfaces that rank inside one venue.
    public var venueID: String
    /// Return each entry's display values (names...), for people; off for services, which pay nothing for them.
    public var includeDisplay = false
    /// Items the user already chose, for surfaces that require `context_items` (the cart: its items, all of one
    /// venue). At most ``maxContextItems``.
    public var contextItemIDs: [String]
    /// The cuisine to rank within, for surfaces that require `category` (e.g. "sushi").
    public var category: String

    /// Most `contextItemIDs` a request may send: a cart is a few items, and every one is looked up.
    public static let maxContextItems = 100

    /// Creates a query.
    public init(
        userID: String,
        surface: String,
        context: RequestContext = RequestContext(),
        limit: Int = 0,
        explain: Bool = false,
        excludeItemIDs: [String] = [],
        venueID: String = "",
        contextItemIDs: [String] = [],
        category: String = ""
    ) {
        self.userID = userID
        self.surface = surface
        self.context = context
        self.limit = limit
        self.explain = explain
        self.excludeItemIDs = excludeItemIDs
        self.venueID = venueID
        self.contextItemIDs = contextItemIDs
        self.category = category
    }
}

/// One ranked venue or item.
public struct RankedEntry: Sendable {
    /// The venue or item id.
    public var itemID: String
    /// Final score after re-ranking; entries are in descending order of it.
    public var score: Double
    /// Raw model output (or the heuristic's, when scoring fell back).
    public var modelScore: Double
    /// The venue (for an item) or the venue itself.
    public var venueID: String
    /// Candidate sources that produced it ("caller" for Rank).
    public var sources: [String]
    /// With explain: the exact feature vector the model saw, in model order.
    public var features: [(String, Double)]
    /// What a person recognises it by: the catalog's display values (name, cuisine...), in schema order.
    public var display: [(name: String, value: String)] = []
    /// The sources that produced it, a bit per name in the answer's `sourceNames` (kept without explain, for the
    /// exposure log).
    public var sourceMask: UInt32 = 0
    /// Placed by the exploration slot rather than by its score.
    public var explored = false
    /// Placed by a configured pin.
    public var pinned = false

    /// The names of the sources in `sourceMask`.
    public func sourceNames(in names: [String]) -> [String] {
        names.enumerated().compactMap { k, name in sourceMask & (UInt32(1) << UInt32(k)) != 0 ? name : nil }
    }
}

/// Time spent in one stage.
public struct StageTiming: Sendable, Equatable {
    /// Stage name, e.g. "candidates", "candidates.nearby", "features", "score", "rerank".
    public var stage: String
    /// Wall time in microseconds.
    public var micros: Int64
}

/// A Rank answer.
public struct RankResult: Sendable {
    /// The page of ranked entries.
    public var items: [RankedEntry]
    /// Version of the model that scored them.
    public var modelVersion: String
    /// Experiment variant of this user.
    public var variant: String
    /// True when a stage overran or failed and the answer was built without it.
    public var degraded: Bool
    /// Which stages were dropped.
    public var degradedStages: [String]
    /// Per-stage timings.
    public var timings: [StageTiming]
    /// Pass back as `pageToken` for the next page; empty on the last page.
    public var nextPageToken: String
    /// How many candidates were scored (before filtering and paging).
    public var candidateCount: Int = 0
    /// The position of the page's first entry in the whole ranking (0 on the first page).
    public var pageOffset = 0
    /// Candidates the filters removed, counted by reason (only reasons with a count, in ``DropReason`` order).
    public var dropped: [(reason: DropReason, count: Int)] = []
    /// The catalog snapshot the answer was computed on.
    public var snapshotID = ""
    /// The surface's candidate sources, named by each entry's `sourceMask`.
    public var sourceNames: [String] = []
    /// The user's place in each experiment layer.
    public var assignments: [ExperimentAssignment.Placement] = []
}

/// Why the re-rank filters removed a candidate. Filters are never optional: a venue that cannot deliver is not
/// shown, whatever its score.
public enum DropReason: String, CaseIterable, Sendable {
    /// The caller excluded it (`exclude_item_ids`).
    case excluded
    /// The venue is not taking orders.
    case venueNotTakingOrders = "venue_not_taking_orders"
    /// The venue is closed at the request's local time.
    case venueClosed = "venue_closed"
    /// The request location is outside the venue's delivery radius.
    case outOfDeliveryRange = "out_of_delivery_range"
    /// The item is not available.
    case itemUnavailable = "item_unavailable"
    /// The venue is not tagged with the category the request names (a source a host added may ignore it).
    case outsideCategory = "outside_category"
    /// The user (or session) just had an event with it that the surface excludes (`online.excludeRecent`: an item
    /// just ordered, a track just skipped).
    case recentlyInteracted = "recently_interacted"

    /// Its place in `allCases`.
    var position: Int {
        switch self {
        case .excluded: return 0
        case .venueNotTakingOrders: return 1
        case .venueClosed: return 2
        case .outOfDeliveryRange: return 3
        case .itemUnavailable: return 4
        case .outsideCategory: return 5
        case .recentlyInteracted: return 6
        }
    }

    /// How a person reads it: "out of delivery range".
    public var phrase: String {
        switch self {
        case .excluded: return "excluded by the caller"
        case .venueNotTakingOrders: return "venue not taking orders"
        case .venueClosed: return "venue closed now"
        case .outOfDeliveryRange: return "out of delivery range"
        case .itemUnavailable: return "item unavailable"
        case .outsideCategory: return "not in the requested category"
        case .recentlyInteracted: return "just ordered or skipped"
        }
    }
}

/// One section of a Recommend answer.
public struct RecommendSection: Sendable {
    /// Stable key such as "for_you".
    public var key: String
    /// Human title such as "For you".
    public var title: String
    /// Ranked entries of this section.
    public var items: [RankedEntry]
    /// Version of the model that scored them.
    public var modelVersion: String
    /// Experiment variant of this user.
    public var variant: String
    /// True when a stage overran or failed.
    public var degraded: Bool
    /// Which stages were dropped.
    public var degradedStages: [String]
    /// Per-stage timings up to this section.
    public var timings: [StageTiming]
    /// The catalog snapshot the answer was computed on.
    public var snapshotID = ""
    /// The surface's candidate sources, named by each entry's `sourceMask`.
    public var sourceNames: [String] = []
    /// The user's place in each experiment layer.
    public var assignments: [ExperimentAssignment.Placement] = []
}

/// Why a request could not be answered; each case maps to one gRPC status.
public enum RankingError: Error, CustomStringConvertible, Equatable {
    /// The caller sent something unusable (INVALID_ARGUMENT).
    case invalidArgument(String)
    /// An unknown surface or venue (NOT_FOUND).
    case notFound(String)
    /// The deadline passed before an answer could be built (DEADLINE_EXCEEDED).
    case deadlineExceeded
    /// The caller cancelled (CANCELLED).
    case cancelled
    /// The engine cannot serve right now, e.g. no valid model (UNAVAILABLE).
    case unavailable(String)

    /// A sentence a person understands.
    public var description: String {
        switch self {
        case .invalidArgument(let message): return "invalid argument: \(message)"
        case .notFound(let message): return "not found: \(message)"
        case .deadlineExceeded: return "deadline exceeded before an answer could be built"
        case .cancelled: return "request cancelled"
        case .unavailable(let message): return "unavailable: \(message)"
        }
    }
}
