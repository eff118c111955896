import ExperimentAnalysis
import ExposureLog
import Foundation
import Testing

/// The join rule: request id first (same user), else the user's latest earlier exposure of the item within the
/// window; items not shown and other kinds are left out.
@Suite struct OutcomeJoinTests {
    static let hour: Int64 = 3_600_000

    static func exposure(_ request: String, user: String, time: Int64, items: [String]) -> ExposureRecord {
        ExposureRecord(
            requestID: request,
            timeUnixMs: time,
            requestTimeUnixMs: time,
            userID: user,
            surface: "discovery",
            method: "Recommend",
            assignments: [.init(layer: "l", experiment: "e", variant: "control", plannedShare: 0.5)],
            items: items.enumerated().map { .init(itemID: $1, position: Int32($0), score: 0, modelScore: 0) }
        )
    }

    static func event(
        _ id: String,
        _ kind: String,
        user: String,
        item: String,
        request: String = "",
        time: Int64
    )
        -> EventRecord
    {
        EventRecord(
            receivedUnixMs: time,
            eventID: id,
            userID: user,
            kind: kind,
            itemID: item,
            requestID: request,
            timestampUnixMs: time
        )
    }

    @Test func eventsJoinByRequestIDThenByItemWithinTheWindow() {
        let exposures = [
            Self.exposure("r1", user: "u1", time: 1_000, items: ["a", "b"]),
            Self.exposure("r2", user: "u1", time: 5_000, items: ["c", "b"]),
            Self.exposure("r3", user: "u2", time: 2_000, items: ["a"]),
        ]
        let events = [
            // Request id: to r1 although r2 is later and shows b too.
            Self.event("e1", "click", user: "u1", item: "b", request: "r1", time: 9_000),
            // Request id of an exposure that did not show the item.
            Self.event("e2", "click", user: "u1", item: "c", request: "r1", time: 9_000),
            // Request id of another user's exposure.
            Self.event("e3", "click", user: "u1", item: "a", request: "r3", time: 9_000),
            // No request id: the latest earlier exposure showing b is r2.
            Self.event("e4", "order", user: "u1", item: "b", time: 6_000),
            // No request id: r2 does not show a, so r1.
            Self.event("e5", "order", user: "u1", item: "a", time: 6_000),
            // No request id, before any exposure of the user.
            Self.event("e6", "click", user: "u1", item: "a", time: 500),
            // No request id, just outside the window after r3.
            Self.event("e7", "click", user: "u2", item: "a", time: 2_000 + 24 * Self.hour + 1),
            // Not an outcome.
            Self.event("e8", "impression", user: "u2", item: "a", request: "r3", time: 2_100),
            // A repeat of e1.
            Self.event("e1", "click", user: "u1", item: "b", request: "r1", time: 9_000),
            // Inside the window: to r3.
            Self.event("e9", "click", user: "u2", item: "a", time: 2_000 + 24 * Self.hour),
        ]
        let (outcomes, summary) = OutcomeJoin.join(
            exposures: exposures,
            events: events,
            attributionWindowMs: 24 * Self.hour
        )
        #expect(summary.byRequestID == 1)
        #expect(summary.byItem == 3)
        #expect(summary.itemNotShown == 1)
        #expect(summary.unknownRequest == 1)
        #expect(summary.noExposureInWindow == 2)
        #expect(summary.otherKinds == 1)
        #expect(summary.duplicates == 1)
        // r1: click on b (position 1) and order of a (position 0): best order already, NDCG 1.
        #expect(outcomes[0] == ExposureOutcome(clicked: true, conversions: 1, ndcg: 1))
        // r2: an order of b at position 1 alone: (3 / log2 3) / 3.
        #expect(outcomes[1].clicked == false)
        #expect(outcomes[1].conversions == 1)
        #expect(abs(outcomes[1].ndcg - 1 / log2(3)) < 1e-12)
        #expect(outcomes[2] == ExposureOutcome(clicked: true, conversions: 0, ndcg: 1))
    }

    @Test func aShorterWindowDropsWhatTheDefaultKeeps() {
        let exposures = [Self.exposure("r1", user: "u1", time: 0, items: ["a"])]
        let events = [Self.event("e1", "click", user: "u1", item: "a", time: 2 * Self.hour)]
        #expect(
            OutcomeJoin.join(exposures: exposures, events: events, attributionWindowMs: Self.hour).summary.byItem == 0
        )
        #expect(
            OutcomeJoin.join(exposures: exposures, events: events, attributionWindowMs: 3 * Self.hour).summary.byItem
                == 1
        )
    }

    @Test func ndcgCountsBuriedOutcomesInTheIdealOnly() {
        #expect(OutcomeJoin.ndcg([:]) == 0)
        #expect(OutcomeJoin.ndcg([0: 3]) == 1)
        // An order at position 12 is outside the top 10: nothing in DCG, all of it in the ideal.
        #expect(OutcomeJoin.ndcg([12: 3]) == 0)
        // A click first and an order third: (1 + 3/2) / (3 + 1/log2 3).
        let expected = (1 + 3 / 2.0) / (3 + 1 / log2(3))
        #expect(abs(OutcomeJoin.ndcg([0: 1, 2: 3]) - expected) < 1e-12)
    }
}
