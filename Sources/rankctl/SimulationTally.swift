import Foundation
import H2GRPC

/// What a simulation did, summed over its workers under one lock, and its report.
final class SimulationTally: @unchecked Sendable {
    private let lock = NSLock()
    private var counts = Counts()

    struct Counts {
        var visits = 0
        var recommendCalls = 0
        var recommendStatus: [String: Int] = [:]
        var trackCalls = 0
        /// Calls repeated because rankd shed them or could not be reached (each call is counted once above).
        var retries = 0
        var trackStatus: [String: Int] = [:]
        var eventsSent = 0
        var accepted = 0
        var duplicates = 0
        var rejected: [String: Int] = [:]
        var impressions = 0
        var clicks = 0
        var orders = 0
        var orderValue = 0.0
        var menus = 0
        var addedToCart = 0
        var plays = 0
        var completes = 0
        var skips = 0
        /// The first failure message of each status, for the report.
        var firstFailure: [String: String] = [:]
    }

    func update(_ change: (inout Counts) -> Void) { lock.withLock { change(&counts) } }
    var snapshot: Counts { lock.withLock { counts } }

    func recommended(_ answer: SimulationClient.Answer) {
        update {
            $0.recommendCalls += 1
            $0.retries += answer.retries
            $0.recommendStatus[answer.status.name, default: 0] += 1
            if answer.status != .ok, $0.firstFailure[answer.status.name] == nil {
                $0.firstFailure[answer.status.name] = answer.message
            }
        }
    }

    func tracked(_ events: [SimulationClient.Event], _ outcome: SimulationClient.TrackOutcome) {
        update {
            $0.trackCalls += 1
            $0.retries += outcome.retries
            $0.trackStatus[outcome.status.name, default: 0] += 1
            $0.eventsSent += events.count
            $0.accepted += outcome.accepted
            $0.duplicates += outcome.duplicates
            for (reason, count) in outcome.rejected { $0.rejected[reason, default: 0] += count }
        }
    }
}

/// The end of a simulation as `rankctl simulate` prints it.
struct SimulationReport {
    var domain: String
    var target: String
    var snapshotID: String
    var seed: UInt64
    var users: Int
    var concurrency: Int
    var elapsedSeconds: Double
    var stoppedBy: String
    var counts: SimulationTally.Counts

    private static func ratio(_ a: Int, _ b: Int) -> Double { b == 0 ? 0 : Double(a) / Double(b) }

    var clickThrough: Double { Self.ratio(counts.clicks, counts.impressions) }
    var conversion: Double { Self.ratio(counts.orders, counts.visits) }
    var completionRate: Double { Self.ratio(counts.completes, counts.plays) }
    var recommendOK: Int { counts.recommendStatus["OK"] ?? 0 }

    var json: String {
        var object: [String: Any] = [
            "domain": domain, "target": target, "snapshot_id": snapshotID, "seed": seed, "users": users,
            "concurrency": concurrency, "elapsed_s": (elapsedSeconds * 1000).rounded() / 1000, "stopped_by": stoppedBy,
            "visits": counts.visits, "retries": counts.retries,
            "recommend": ["calls": counts.recommendCalls, "status": counts.recommendStatus],
            "track": ["calls": counts.trackCalls, "status": counts.trackStatus],
            "events": [
                "sent": counts.eventsSent, "accepted": counts.accepted, "duplicates": counts.duplicates,
                "rejected": counts.rejected,
            ] as [String: Any],
            "impressions": counts.impressions,
        ]
        if !counts.firstFailure.isEmpty { object["first_failures"] = counts.firstFailure }
        if domain == "music" {
            object["plays"] = counts.plays
            object["completes"] = counts.completes
            object["skips"] = counts.skips
            object["completion_rate"] = completionRate
        } else {
            object["clicks"] = counts.clicks
            object["orders"] = counts.orders
            object["order_value"] = (counts.orderValue * 100).rounded() / 100
            object["menus"] = counts.menus
            object["added_to_cart"] = counts.addedToCart
            object["click_through"] = clickThrough
            object["conversion"] = conversion
        }
        let data =
            (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    var text: String {
        func statuses(_ tally: [String: Int]) -> String {
            tally.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { "\($0.value) \($0.key)" }
                .joined(separator: ", ")
        }
        func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
        var lines = [
            "simulated \(users) \(domain) users against \(target) (snapshot \(snapshotID), seed \(seed), "
                + "concurrency \(concurrency)): " + String(format: "%.1f s", elapsedSeconds)
                + ", stopped by \(stoppedBy)",
            "visits \(counts.visits) · Recommend \(counts.recommendCalls) calls: \(statuses(counts.recommendStatus)) · "
                + "Track \(counts.trackCalls) calls: \(statuses(counts.trackStatus))"
                + (counts.retries > 0 ? " · \(counts.retries) retries" : ""),
            "events sent \(counts.eventsSent): \(counts.accepted) accepted, \(counts.duplicates) duplicates, "
                + "\(counts.rejected.values.reduce(0, +)) rejected"
                + (counts.rejected.isEmpty ? "" : " (\(statuses(counts.rejected)))"),
        ]
        if domain == "music" {
            lines.append(
                "impressions \(counts.impressions) · plays \(counts.plays) · completes \(counts.completes) "
                    + "(\(percent(completionRate)) of plays) · skips \(counts.skips)"
            )
        } else {
            lines.append(
                "impressions \(counts.impressions) · clicks \(counts.clicks) (CTR \(percent(clickThrough))) · "
                    + "orders \(counts.orders) (\(percent(conversion)) of visits, "
                    + String(format: "value %.2f", counts.orderValue) + ") · menus \(counts.menus), "
                    + "\(counts.addedToCart) added to cart"
            )
        }
        for (status, message) in counts.firstFailure.sorted(by: { $0.key < $1.key }) {
            lines.append("first \(status): \(message)")
        }
        return lines.joined(separator: "\n")
    }
}
