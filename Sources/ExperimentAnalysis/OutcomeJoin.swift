import ExposureLog
import Foundation

/// What users did with one exposure, once its events are joined to it.
public struct ExposureOutcome: Sendable, Equatable {
    /// At least one click (or play) on an item of the exposure.
    public var clicked = false
    /// Orders (or completed plays) of items of the exposure.
    public var conversions = 0
    /// NDCG@10 of the realised outcomes; 0 when nothing happened.
    public var ndcg = 0.0

    public init(clicked: Bool = false, conversions: Int = 0, ndcg: Double = 0) {
        self.clicked = clicked
        self.conversions = conversions
        self.ndcg = ndcg
    }
}

/// How many events the join attributed, and why the others were left out.
public struct JoinSummary: Sendable, Equatable, Codable {
    /// Exposure records read.
    public var exposures = 0
    /// Event records read.
    public var events = 0
    /// Outcome events attributed through their request id.
    public var byRequestID = 0
    /// Outcome events without a request id attributed to the user's latest earlier exposure of the item.
    public var byItem = 0
    /// Impressions, views, skips, add-to-carts: not outcomes of any metric.
    public var otherKinds = 0
    /// A repeated event id (counted once).
    public var duplicates = 0
    /// A request id no exposure has, or an exposure of another user.
    public var unknownRequest = 0
    /// The exposure did not show the event's item.
    public var itemNotShown = 0
    /// No request id, and no exposure of the item to the user within the attribution window before it.
    public var noExposureInWindow = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case exposures, events
        case byRequestID = "by_request_id"
        case byItem = "by_item"
        case otherKinds = "other_kinds"
        case duplicates
        case unknownRequest = "unknown_request"
        case itemNotShown = "item_not_shown"
        case noExposureInWindow = "no_exposure_in_window"
    }
}

/// Joins events to the exposures they are outcomes of.
///
/// The rule:
/// 1. An event with a request id belongs to the exposure with that request id, when that exposure is the same
///    user's; otherwise it is left out (`unknown_request`). The attribution window does not apply: the app said
///    which answer the item came from.
/// 2. An event without a request id belongs to the same user's latest exposure that showed the event's item, at or
///    before the event's time (exposure `time_unix_ms` ≤ event `timestamp_unix_ms`), no more than the attribution
///    window earlier. None → left out (`no_exposure_in_window`).
/// 3. An event of an item the exposure did not show is left out (`item_not_shown`).
/// 4. Only outcome kinds count: "click" and "play" are clicks (gain 1); "order" and "complete" are conversions
///    (gain 3). A repeated event id counts once.
public enum OutcomeJoin {
    /// Outcome kinds and their NDCG gains.
    public static let gains: [String: Int] = ["click": 1, "play": 1, "order": 3, "complete": 3]
    /// Kinds counted as conversions.
    public static let conversionKinds: Set<String> = ["order", "complete"]
    /// NDCG's cut-off: positions 0 to 9 count.
    public static let ndcgDepth = 10

    /// One outcome per exposure (in the exposures' order) and the join's counts.
    public static func join(
        exposures: [ExposureRecord],
        events: [EventRecord],
        attributionWindowMs: Int64
    ) -> (outcomes: [ExposureOutcome], summary: JoinSummary) {
        var summary = JoinSummary()
        summary.exposures = exposures.count
        summary.events = events.count

        var byRequest: [String: Int] = [:]
        var byUser: [String: [Int]] = [:]
        for (index, exposure) in exposures.enumerated() {
            if !exposure.requestID.isEmpty, byRequest[exposure.requestID] == nil {
                byRequest[exposure.requestID] = index
            }
            byUser[exposure.userID, default: []].append(index)
        }
        for user in byUser.keys {
            byUser[user]!.sort { (exposures[$0].timeUnixMs, $0) < (exposures[$1].timeUnixMs, $1) }
        }

        // Per attributed exposure, the best gain of each shown position and the conversions.
        var gains: [Int: [Int32: Int]] = [:]
        var outcomes = [ExposureOutcome](repeating: ExposureOutcome(), count: exposures.count)
        var seenEventIDs = Set<String>()

        for event in events {
            guard let gain = Self.gains[event.kind] else {
                summary.otherKinds += 1
                continue
            }
            if !event.eventID.isEmpty, !seenEventIDs.insert(event.eventID).inserted {
                summary.duplicates += 1
                continue
            }
            let target: Int
            if !event.requestID.isEmpty {
                guard let index = byRequest[event.requestID], exposures[index].userID == event.userID else {
                    summary.unknownRequest += 1
                    continue
                }
                target = index
            } else {
                guard
                    let index = latestExposure(
                        of: event,
                        among: byUser[event.userID] ?? [],
                        exposures: exposures,
                        windowMs: attributionWindowMs
                    )
                else {
                    summary.noExposureInWindow += 1
                    continue
                }
                target = index
            }
            guard let position = exposures[target].items.first(where: { $0.itemID == event.itemID })?.position else {
                summary.itemNotShown += 1
                continue
            }
            if event.requestID.isEmpty { summary.byItem += 1 } else { summary.byRequestID += 1 }
            if gain == 1 { outcomes[target].clicked = true }
            if conversionKinds.contains(event.kind) { outcomes[target].conversions += 1 }
            gains[target, default: [:]][position] = max(gains[target]?[position] ?? 0, gain)
        }
        for (index, positions) in gains {
            outcomes[index].ndcg = ndcg(positions)
        }
        return (outcomes, summary)
    }

    /// NDCG@10 of realised gains by zero-based position: DCG = Σ gain / log2(position + 2) over positions below 10,
    /// divided by the DCG of the same gains sorted best first. Gains shown below position 10 still count in the
    /// ideal, so an answer that buried what the user wanted scores low. No gain → 0.
    public static func ndcg(_ gainByPosition: [Int32: Int]) -> Double {
        var dcg = 0.0
        for (position, gain) in gainByPosition where Int(position) < ndcgDepth && position >= 0 {
            dcg += Double(gain) / log2(Double(position) + 2)
        }
        let ideal = gainByPosition.values.sorted(by: >).prefix(ndcgDepth).enumerated().reduce(0.0) {
            $0 + Double($1.element) / log2(Double($1.offset) + 2)
        }
        return ideal > 0 ? dcg / ideal : 0
    }

    private static func latestExposure(
        of event: EventRecord,
        among candidates: [Int],
        exposures: [ExposureRecord],
        windowMs: Int64
    ) -> Int? {
        // The candidates are sorted by time: find the last one at or before the event, then walk back.
        var low = 0
        var high = candidates.count
        while low < high {
            let middle = (low + high) / 2
            if exposures[candidates[middle]].timeUnixMs <= event.timestampUnixMs {
                low = middle + 1
            } else {
                high = middle
            }
        }
        var position = low - 1
        while position >= 0 {
            let exposure = exposures[candidates[position]]
            if event.timestampUnixMs - exposure.timeUnixMs > windowMs { return nil }
            if exposure.items.contains(where: { $0.itemID == event.itemID }) { return candidates[position] }
            position -= 1
        }
        return nil
    }
}
