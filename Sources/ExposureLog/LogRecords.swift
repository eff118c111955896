/// What rankd showed for one answered Rank or Recommend call (`ranking.exposure.v1.Exposure`).
public struct ExposureRecord: Sendable, Equatable, Codable {
    /// The user's place in one experiment layer.
    public struct Assignment: Sendable, Equatable, Codable {
        public var layer: String
        /// Empty when the user is in no experiment of the layer.
        public var experiment: String
        /// "holdout" for the layer's holdout.
        public var variant: String
        /// The variant's planned share of the experiment's users, in (0, 1]; 0 outside any experiment.
        public var plannedShare: Double

        public init(layer: String, experiment: String, variant: String, plannedShare: Double = 0) {
            self.layer = layer
            self.experiment = experiment
            self.variant = variant
            self.plannedShare = plannedShare
        }

        enum CodingKeys: String, CodingKey {
            case layer, experiment, variant
            case plannedShare = "planned_share"
        }
    }

    /// One entry of the answer.
    public struct Item: Sendable, Equatable, Codable {
        public var itemID: String
        /// Zero-based, across sections (Recommend) and from the page's start (Rank).
        public var position: Int32
        /// Final score after re-ranking.
        public var score: Double
        /// The full model's raw score.
        public var modelScore: Double
        public var sources: [String]
        public var explored: Bool
        public var pinned: Bool
        /// Recommend: the section key.
        public var section: String

        public init(
            itemID: String,
            position: Int32,
            score: Double,
            modelScore: Double,
            sources: [String] = [],
            explored: Bool = false,
            pinned: Bool = false,
            section: String = ""
        ) {
            self.itemID = itemID
            self.position = position
            self.score = score
            self.modelScore = modelScore
            self.sources = sources
            self.explored = explored
            self.pinned = pinned
            self.section = section
        }

        enum CodingKeys: String, CodingKey {
            case itemID = "item_id"
            case position, score
            case modelScore = "model_score"
            case sources, explored, pinned, section
        }
    }

    public var requestID: String
    /// When rankd answered, Unix ms.
    public var timeUnixMs: Int64
    /// The request's own time, Unix ms.
    public var requestTimeUnixMs: Int64
    public var userID: String
    public var sessionID: String
    public var surface: String
    /// "Rank" or "Recommend".
    public var method: String
    public var assignments: [Assignment]
    public var modelVersion: String
    public var snapshotID: String
    public var items: [Item]
    /// From the call's arrival to the answer.
    public var latencyMicros: Int64
    /// Empty for a complete answer.
    public var degradedStages: [String]
    public var candidateCount: Int32

    enum CodingKeys: String, CodingKey {
        case requestID = "request_id"
        case timeUnixMs = "time_unix_ms"
        case requestTimeUnixMs = "request_time_unix_ms"
        case userID = "user_id"
        case sessionID = "session_id"
        case surface
        case method
        case assignments
        case modelVersion = "model_version"
        case snapshotID = "snapshot_id"
        case items
        case latencyMicros = "latency_micros"
        case degradedStages = "degraded_stages"
        case candidateCount = "candidate_count"
    }

    public init(
        requestID: String,
        timeUnixMs: Int64,
        requestTimeUnixMs: Int64,
        userID: String,
        sessionID: String = "",
        surface: String,
        method: String,
        assignments: [Assignment] = [],
        modelVersion: String = "",
        snapshotID: String = "",
        items: [Item] = [],
        latencyMicros: Int64 = 0,
        degradedStages: [String] = [],
        candidateCount: Int32 = 0
    ) {
        self.requestID = requestID
        self.timeUnixMs = timeUnixMs
        self.requestTimeUnixMs = requestTimeUnixMs
        self.userID = userID
        self.sessionID = sessionID
        self.surface = surface
        self.method = method
        self.assignments = assignments
        self.modelVersion = modelVersion
        self.snapshotID = snapshotID
        self.items = items
        self.latencyMicros = latencyMicros
        self.degradedStages = degradedStages
        self.candidateCount = candidateCount
    }

    /// The variant of `experiment` this exposure was served, or nil when the user was not in it.
    public func variant(of experiment: String) -> String? {
        assignments.first { $0.experiment == experiment }?.variant
    }
}

/// One event Track accepted (`ranking.exposure.v1.LoggedEvent`), flattened.
public struct EventRecord: Sendable, Equatable, Codable {
    /// When rankd accepted it, Unix ms.
    public var receivedUnixMs: Int64
    public var eventID: String
    public var userID: String
    public var sessionID: String
    /// The contract's name of the kind: "impression", "click", "add_to_cart", "order", "play", "skip", "complete"...
    public var kind: String
    public var itemID: String
    public var surface: String
    /// The answer the entry came from; empty when none.
    public var requestID: String
    public var position: Int32
    /// When it happened, Unix ms (never 0: rankd fills in its receipt time).
    public var timestampUnixMs: Int64
    public var value: Double

    enum CodingKeys: String, CodingKey {
        case receivedUnixMs = "received_unix_ms"
        case eventID = "event_id"
        case userID = "user_id"
        case sessionID = "session_id"
        case kind
        case itemID = "item_id"
        case surface
        case requestID = "request_id"
        case position
        case timestampUnixMs = "timestamp_unix_ms"
        case value
    }

    public init(
        receivedUnixMs: Int64,
        eventID: String,
        userID: String,
        sessionID: String = "",
        kind: String,
        itemID: String,
        surface: String = "",
        requestID: String = "",
        position: Int32 = 0,
        timestampUnixMs: Int64,
        value: Double = 0
    ) {
        self.receivedUnixMs = receivedUnixMs
        self.eventID = eventID
        self.userID = userID
        self.sessionID = sessionID
        self.kind = kind
        self.itemID = itemID
        self.surface = surface
        self.requestID = requestID
        self.position = position
        self.timestampUnixMs = timestampUnixMs
        self.value = value
    }
}
