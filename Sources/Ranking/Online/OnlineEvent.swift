/// What a user did with an entry (the contract's `EventKind`, same numbers).
public enum EventKind: Int, CaseIterable, Sendable, Codable {
    case impression = 1
    case view = 2
    case click = 3
    case addToCart = 4
    case order = 5
    case play = 6
    case skip = 7
    case complete = 8

    /// The name configurations and documents use: "impression", "add_to_cart", ...
    public var name: String {
        switch self {
        case .impression: return "impression"
        case .view: return "view"
        case .click: return "click"
        case .addToCart: return "add_to_cart"
        case .order: return "order"
        case .play: return "play"
        case .skip: return "skip"
        case .complete: return "complete"
        }
    }

    /// The kind named `name`, or nil.
    public init?(name: String) {
        guard let kind = EventKind.allCases.first(where: { $0.name == name }) else { return nil }
        self = kind
    }

    public init(from decoder: Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let kind = EventKind(name: name) else {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath,
                    debugDescription: "unknown event kind \"\(name)\" (known: "
                        + EventKind.allCases.map(\.name).joined(separator: ", ") + ")"
                )
            )
        }
        self = kind
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(name)
    }
}

/// One event as it reaches the online store: checked, with its time resolved.
public struct OnlineEvent: Sendable, Equatable {
    /// The producer's id; a repeat within ``OnlineLimits/deduplicationMillis`` is ignored.
    public var eventID: String
    public var userID: String
    /// Empty when the producer has no session.
    public var sessionID: String
    public var kind: EventKind
    /// The venue, item or track acted on.
    public var itemID: String
    /// Empty when not found through rankd.
    public var surface: String
    /// The answer it came from (`Context.request_id`); empty when none.
    public var requestID: String
    /// Zero-based position in that answer; meaningful only with a request id.
    public var position: Int32
    /// Milliseconds since the Unix epoch (never 0 once checked).
    public var timeMs: Int64
    /// An order's total, seconds played; 0 when none.
    public var value: Double

    public init(
        eventID: String,
        userID: String,
        sessionID: String = "",
        kind: EventKind,
        itemID: String,
        surface: String = "",
        requestID: String = "",
        position: Int32 = 0,
        timeMs: Int64,
        value: Double = 0
    ) {
        self.eventID = eventID
        self.userID = userID
        self.sessionID = sessionID
        self.kind = kind
        self.itemID = itemID
        self.surface = surface
        self.requestID = requestID
        self.position = position
        self.timeMs = timeMs
        self.value = value
    }
}

/// The bounds of the online state, one set for every store so that a replica on Redis and one in-process agree on
/// what a feature sees.
public struct OnlineLimits: Sendable, Equatable {
    /// A repeated event id within this long is ignored; events older than this are refused ("timestamp_too_old"),
    /// since a repeat of them could no longer be recognised.
    public var deduplicationMillis: Int64 = 86_400_000
    /// Events more than this far ahead of the server's clock are refused ("timestamp_in_future").
    public var futureToleranceMillis: Int64 = 300_000
    /// Recent interactions kept per user and per session, for each kind (the newest win).
    public var recentPerKind = 32
    /// Interactions older than this are forgotten.
    public var recentMaxAgeMillis: Int64 = 86_400_000
    /// A session's interactions are forgotten this long after its last event.
    public var sessionIdleMillis: Int64 = 3_600_000
    /// Longest id of an event.
    public var maxEventIDBytes = 128
    /// Longest user, session, item, surface or request id.
    public var maxIDBytes = 256
    /// Most events in one Track request.
    public var maxEventsPerRequest = 1_000

    public init() {}
}

/// Why an event was refused; `rawValue` is the reason in `TrackResponse`.
public enum EventRejection: String, CaseIterable, Sendable {
    case missingEventID = "missing_event_id"
    case eventIDTooLong = "event_id_too_long"
    case missingUserID = "missing_user_id"
    case unknownKind = "unknown_kind"
    case missingItemID = "missing_item_id"
    case idTooLong = "id_too_long"
    case timestampInFuture = "timestamp_in_future"
    case timestampTooOld = "timestamp_too_old"
    case valueNotFinite = "value_not_finite"
    case negativePosition = "negative_position"
}

/// An event as the contract carries it, before it is checked.
public struct IncomingEvent: Sendable {
    public var eventID: String
    public var userID: String
    public var sessionID: String
    /// The contract's enum number (0 and unknown numbers are refused).
    public var kind: Int
    public var itemID: String
    public var surface: String
    public var requestID: String
    public var position: Int32
    /// 0: the time it is received.
    public var timestampMs: Int64
    public var value: Double

    public init(
        eventID: String,
        userID: String,
        sessionID: String = "",
        kind: Int,
        itemID: String,
        surface: String = "",
        requestID: String = "",
        position: Int32 = 0,
        timestampMs: Int64 = 0,
        value: Double = 0
    ) {
        self.eventID = eventID
        self.userID = userID
        self.sessionID = sessionID
        self.kind = kind
        self.itemID = itemID
        self.surface = surface
        self.requestID = requestID
        self.position = position
        self.timestampMs = timestampMs
        self.value = value
    }

    /// The checked event, or why it is refused with a sentence for the producer's log.
    public func checked(nowMs: Int64, limits: OnlineLimits) -> Result<OnlineEvent, EventRejectionError> {
        func refuse(_ reason: EventRejection, _ message: String) -> Result<OnlineEvent, EventRejectionError> {
            .failure(EventRejectionError(reason: reason, message: message))
        }
        if eventID.isEmpty { return refuse(.missingEventID, "event_id is empty; every event needs the producer's id") }
        if eventID.utf8.count > limits.maxEventIDBytes {
            return refuse(
                .eventIDTooLong,
                "event_id is \(eventID.utf8.count) bytes; at most \(limits.maxEventIDBytes)"
            )
        }
        if userID.isEmpty { return refuse(.missingUserID, "user_id is empty") }
        guard let kind = EventKind(rawValue: kind) else {
            return refuse(
                .unknownKind,
                kind == 0
                    ? "kind is not set" : "kind \(kind) is not one this server knows (1 to \(EventKind.allCases.count))"
            )
        }
        if itemID.isEmpty { return refuse(.missingItemID, "item_id is empty") }
        for (field, id) in [
            ("user_id", userID), ("session_id", sessionID), ("item_id", itemID), ("surface", surface),
            ("request_id", requestID),
        ] where id.utf8.count > limits.maxIDBytes {
            return refuse(.idTooLong, "\(field) is \(id.utf8.count) bytes; at most \(limits.maxIDBytes)")
        }
        let time = timestampMs == 0 ? nowMs : timestampMs
        if time > nowMs + limits.futureToleranceMillis {
            return refuse(
                .timestampInFuture,
                "timestamp_unix_ms is \(time - nowMs) ms ahead of the server's clock; at most "
                    + "\(limits.futureToleranceMillis) ms"
            )
        }
        if time < nowMs - limits.deduplicationMillis {
            return refuse(
                .timestampTooOld,
                "timestamp_unix_ms is \((nowMs - time) / 1000) s old; events older than "
                    + "\(limits.deduplicationMillis / 1000) s are refused"
            )
        }
        if !value.isFinite { return refuse(.valueNotFinite, "value is \(value); it must be a finite number") }
        if !requestID.isEmpty && position < 0 {
            return refuse(.negativePosition, "position is \(position); positions count from 0")
        }
        return .success(
            OnlineEvent(
                eventID: eventID,
                userID: userID,
                sessionID: sessionID,
                kind: kind,
                itemID: itemID,
                surface: surface,
                requestID: requestID,
                position: requestID.isEmpty ? 0 : position,
                timeMs: time,
                value: value
            )
        )
    }
}

/// An event refused, with its reason and a sentence for a person.
public struct EventRejectionError: Error, Sendable, Equatable {
    public var reason: EventRejection
    public var message: String
}

/// What became of a batch of events.
public struct TrackOutcome: Sendable, Equatable {
    /// Stored events.
    public var accepted = 0
    /// Events whose id was already stored.
    public var duplicates = 0
    /// Refused events by reason.
    public var rejectedByReason: [EventRejection: Int] = [:]
    /// The first ``TrackOutcome/maxListedRejections`` refusals: index in the batch, event id, and why.
    public var rejections: [(index: Int, eventID: String, error: EventRejectionError)] = []

    /// Most refusals listed one by one.
    public static let maxListedRejections = 100

    public init() {}

    /// Counts a refusal of the event at `index`.
    public mutating func reject(index: Int, eventID: String, _ error: EventRejectionError) {
        rejectedByReason[error.reason, default: 0] += 1
        if rejections.count < TrackOutcome.maxListedRejections {
            rejections.append((index, String(eventID.utf8.prefix(128)) ?? "", error))
        }
    }

    /// Adds another batch's outcome (a stream's requests), shifting its indexes by `offset`.
    public mutating func add(_ other: TrackOutcome, indexOffset offset: Int) {
        accepted += other.accepted
        duplicates += other.duplicates
        for (reason, count) in other.rejectedByReason { rejectedByReason[reason, default: 0] += count }
        for r in other.rejections where rejections.count < TrackOutcome.maxListedRejections {
            rejections.append((r.index + offset, r.eventID, r.error))
        }
    }

    public static func == (a: TrackOutcome, b: TrackOutcome) -> Bool {
        a.accepted == b.accepted && a.duplicates == b.duplicates && a.rejectedByReason == b.rejectedByReason
            && a.rejections.map { "\($0.index)|\($0.eventID)|\($0.error.reason.rawValue)" }
                == b.rejections.map { "\($0.index)|\($0.eventID)|\($0.error.reason.rawValue)" }
    }
}
