import ExperimentAnalysis
import ExposureLog
import Foundation
import Ranking

/// Simulated users of one experiment, made from a seeded generator: each user has a click propensity of their
/// own (so exposures of one user are correlated, as in real logs), a few exposures of ten items, clicks with the
/// request id, and orders of clicked items. Variants can be given a conversion lift, slower answers or lost users.
struct SyntheticExperiment {
    var experiment = "ranking-v2"
    var variants: [(name: String, share: Double)] = [("control", 0.5), ("treatment", 0.5)]
    var users = 4_000
    var seed: UInt64 = 1
    /// Hashed with the user id to choose the variant; nil assigns users to variants in turn (an exact split).
    var salt: String? = "salt"
    /// Multiplies a variant's chance of an order after a click.
    var conversionLift: [String: Double] = [:]
    /// Multiplies a variant's latencies.
    var latencyFactor: [String: Double] = [:]
    /// Every nth user of the variant never shows up in the log (lost exposures).
    var dropEveryNth: [String: Int] = [:]
    var baseTime: Int64 = 1_780_000_000_000

    func variant(of user: Int) -> Int {
        guard let salt else { return user % variants.count }
        let unit = Double(Self.hash("\(salt):u\(user)") >> 11) / Double(1 << 53)
        var cumulative = 0.0
        for (index, variant) in variants.enumerated() {
            cumulative += variant.share
            if unit < cumulative { return index }
        }
        return variants.count - 1
    }

    /// 64 well-mixed bits of text: FNV-1a alone leaves similar ids with similar bits, so it is put through the
    /// generator's mixing once.
    static func hash(_ text: String) -> UInt64 {
        var generator = SplitMix64(seed: StableHash.hash(text))
        return generator.next()
    }

    func records() -> (exposures: [ExposureRecord], events: [EventRecord]) {
        var generator = SplitMix64(seed: seed)
        var exposures: [ExposureRecord] = []
        var events: [EventRecord] = []
        var seenInVariant: [Int: Int] = [:]
        for user in 0..<users {
            let variantIndex = variant(of: user)
            let (name, share) = variants[variantIndex]
            let order = seenInVariant[variantIndex, default: 0]
            seenInVariant[variantIndex] = order + 1
            // Draw the user's behaviour even when the user is dropped, so the other users stay the same.
            let propensity = 0.05 + 0.5 * pow(Double.random(in: 0..<1, using: &generator), 2)
            let count = 1 + Int(generator.next() % 4)
            if let nth = dropEveryNth[name], order % nth == nth - 1 { continue }
            let userID = "u\(user)"
            for request in 0..<count {
                let requestID = "\(userID)-r\(request)"
                let time = baseTime + Int64(request) * 600_000 + Int64(user)
                let latency = (20_000 + Double.random(in: 0..<2_000, using: &generator)) * (latencyFactor[name] ?? 1)
                exposures.append(
                    ExposureRecord(
                        requestID: requestID,
                        timeUnixMs: time,
                        requestTimeUnixMs: time,
                        userID: userID,
                        surface: "discovery",
                        method: "Recommend",
                        assignments: [
                            .init(layer: "ranking", experiment: experiment, variant: name, plannedShare: share)
                        ],
                        items: (0..<10).map { position in
                            .init(
                                itemID: "i\((user + position * 7) % 500)",
                                position: Int32(position),
                                score: 1,
                                modelScore: 1
                            )
                        },
                        latencyMicros: Int64(latency)
                    )
                )
                guard Double.random(in: 0..<1, using: &generator) < propensity else { continue }
                let position = min(9, Int(-log(1 - Double.random(in: 0..<1, using: &generator)) * 2.5))
                let item = "i\((user + position * 7) % 500)"
                events.append(
                    event("click", user: userID, item: item, request: requestID, position: position, time: time + 5_000)
                )
                if Double.random(in: 0..<1, using: &generator) < 0.4 * (conversionLift[name] ?? 1) {
                    events.append(
                        event(
                            "order",
                            user: userID,
                            item: item,
                            request: requestID,
                            position: position,
                            time: time + 60_000
                        )
                    )
                }
            }
        }
        return (exposures, events)
    }

    private func event(
        _ kind: String,
        user: String,
        item: String,
        request: String,
        position: Int,
        time: Int64
    )
        -> EventRecord
    {
        EventRecord(
            receivedUnixMs: time,
            eventID: "\(request)-\(kind)",
            userID: user,
            kind: kind,
            itemID: item,
            requestID: request,
            position: Int32(position),
            timestampUnixMs: time
        )
    }
}
