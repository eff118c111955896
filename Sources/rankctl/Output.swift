import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport
import Ranking

/// A ranked list as rankctl prints it.
struct Printable {
    struct Item {
        var itemID: String
        var venueID: String
        var score: Double
        var modelScore: Double
        var sources: [String]
        var features: [(String, Double)]
        /// The catalog's display values, in schema order.
        var display: [(String, String)] = []

        /// What the table shows as the name: the `name` or `title` value, else the first display value.
        var name: String {
            display.first { $0.0 == "name" || $0.0 == "title" }?.1 ?? display.first?.1 ?? ""
        }

        /// The other display values, e.g. "cuisine pizza · rating 4.3".
        var details: String {
            let nameField = display.first { $0.0 == "name" || $0.0 == "title" }?.0 ?? display.first?.0
            return display.filter { $0.0 != nameField }.map { "\($0.0) \($0.1)" }.joined(separator: " · ")
        }
    }

    var section: String
    var title: String
    var items: [Item]
    var modelVersion: String
    var variant: String
    var degraded: Bool
    var degradedStages: [String]
    var timings: [(String, Int64)]
    var nextPageToken: String = ""
    /// Rank only: candidates the filters removed, by reason, and how many distinct candidates were sent.
    var dropped: [(reason: String, count: Int)] = []
    var candidatesSent: Int?

    static func section(_ bytes: [UInt8]) throws -> Printable {
        let decoded = try ProtoC.decode(bytes, as: ranking__v1__recommend_response__init)
        let message = decoded.message
        return Printable(
            section: ProtoC.string(message.section),
            title: ProtoC.string(message.title),
            items: items(message.items, count: message.n_items),
            modelVersion: ProtoC.string(message.model_version),
            variant: ProtoC.string(message.variant),
            degraded: message.degraded != 0,
            degradedStages: ProtoC.array(message.degraded_stages, count: message.n_degraded_stages) {
                ProtoC.string($0)
            },
            timings: ProtoC.messages(message.timings, count: message.n_timings).map {
                (ProtoC.string($0.pointee.stage), $0.pointee.micros)
            }
        )
    }

    static func rankResponse(_ bytes: [UInt8]) throws -> Printable {
        let decoded = try ProtoC.decode(bytes, as: ranking__v1__rank_response__init)
        let message = decoded.message
        return Printable(
            section: "rank",
            title: "Ranked",
            items: items(message.items, count: message.n_items),
            modelVersion: ProtoC.string(message.model_version),
            variant: ProtoC.string(message.variant),
            degraded: message.degraded != 0,
            degradedStages: ProtoC.array(message.degraded_stages, count: message.n_degraded_stages) {
                ProtoC.string($0)
            },
            timings: ProtoC.messages(message.timings, count: message.n_timings).map {
                (ProtoC.string($0.pointee.stage), $0.pointee.micros)
            },
            nextPageToken: ProtoC.string(message.next_page_token),
            dropped: ProtoC.messages(message.dropped, count: message.n_dropped).map {
                (reason: ProtoC.string($0.pointee.reason), count: Int($0.pointee.count))
            }
        )
    }

    /// "4 of 4 candidates dropped: 3 out of delivery range, 1 venue closed now", or nil when none was dropped.
    var droppedLine: String? {
        let total = dropped.map(\.count).reduce(0, +)
        guard total > 0 else { return nil }
        let reasons = dropped.map { "\($0.count) \(DropReason(rawValue: $0.reason)?.phrase ?? $0.reason)" }
        let of = candidatesSent.map { "\(total) of \($0)" } ?? "\(total)"
        return "\(of) candidate\(total == 1 && candidatesSent == nil ? "" : "s") dropped: "
            + reasons.joined(separator: ", ")
    }

    private static func items(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<Ranking__V1__RankedItem>?>?,
        count: Int
    )
        -> [Item]
    {
        ProtoC.messages(pointer, count: count).map { item in
            let value = item.pointee
            return Item(
                itemID: ProtoC.string(value.item_id),
                venueID: ProtoC.string(value.venue_id),
                score: value.score,
                modelScore: value.model_score,
                sources: ProtoC.array(value.sources, count: value.n_sources) { ProtoC.string($0) },
                features: ProtoC.messages(value.features, count: value.n_features).map {
                    (ProtoC.string($0.pointee.key), $0.pointee.value)
                }.sorted { $0.0 < $1.0 },
                display: ProtoC.messages(value.display, count: value.n_display).map {
                    (ProtoC.string($0.pointee.name), ProtoC.string($0.pointee.value))
                }
            )
        }
    }
}

enum Output {
    /// Prints the answer; a non-OK status goes to stderr and becomes a non-zero exit.
    static func print(sections: [Printable], status: GRPCStatus, json: Bool) throws {
        if json {
            Swift.print(try jsonText(sections: sections, status: status))
        } else {
            for section in sections { table(section) }
        }
        if status.code != .ok {
            FileHandle.standardError.write("rankctl: \(status.code.name): \(status.message)\n".data(using: .utf8)!)
            throw RankCtlError.exit(status)
        }
    }

    private static func table(_ section: Printable) {
        var header = "== \(section.title) (\(section.section)) · model \(section.modelVersion)"
        if !section.variant.isEmpty { header += " · variant \(section.variant)" }
        if section.degraded { header += " · DEGRADED: \(section.degradedStages.joined(separator: ", "))" }
        Swift.print(header)
        if section.items.isEmpty {
            Swift.print(section.droppedLine.map { "no items: \($0)" } ?? "no items")
        } else {
            table(items: section.items)
            if let dropped = section.droppedLine { Swift.print(dropped) }
        }
        if !section.timings.isEmpty {
            Swift.print("timings: " + section.timings.map { "\($0.0) \($0.1) µs" }.joined(separator: ", "))
        }
        if !section.nextPageToken.isEmpty { Swift.print("next page: --page-token \(section.nextPageToken)") }
        Swift.print("")
    }

    private static func table(items: [Printable.Item]) {
        // The name column appears when the data has display values; it is cut to fit, the JSON keeps it whole.
        let nameWidth = min(28, items.map { $0.name.count }.max() ?? 0)
        let named = nameWidth > 0
        let last = items.contains { !$0.sources.isEmpty } ? "sources" : "details"
        Swift.print(
            pad("#", 4) + pad("item", 12) + (named ? pad("name", nameWidth + 1) : "") + pad("venue", 10)
                + pad("score", 12) + pad("model", 12) + (named || last == "sources" ? last : "")
        )
        for (index, item) in items.enumerated() {
            let tail = item.sources.isEmpty ? item.details : item.sources.joined(separator: ",")
            Swift.print(
                pad(String(index + 1), 4) + pad(item.itemID, 12)
                    + (named ? pad(clip(item.name, nameWidth), nameWidth + 1) : "")
                    + pad(item.venueID, 10)
                    + pad(String(format: "%.5f", item.score), 12) + pad(String(format: "%.5f", item.modelScore), 12)
                    + tail
            )
            if !item.sources.isEmpty && !item.details.isEmpty { Swift.print("      " + item.details) }
            if !item.features.isEmpty {
                Swift.print(
                    "      " + item.features.map { "\($0.0)=\(String(format: "%.4g", $0.1))" }.joined(separator: " ")
                )
            }
        }
    }

    private static func clip(_ text: String, _ width: Int) -> String {
        text.count <= width ? text : String(text.prefix(width - 1)) + "…"
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    /// A JSON number, or null for NaN and infinities (a missing feature), which JSON has no number for.
    private static func number<T: BinaryFloatingPoint>(_ value: T) -> Any {
        value.isFinite ? Double(value) : NSNull()
    }

    private static func jsonText(sections: [Printable], status: GRPCStatus) throws -> String {
        let object: [String: Any] = [
            "status": status.code.name,
            "message": status.message,
            "sections": sections.map { section -> [String: Any] in
                [
                    "section": section.section, "title": section.title, "model_version": section.modelVersion,
                    "variant": section.variant, "degraded": section.degraded,
                    "degraded_stages": section.degradedStages, "next_page_token": section.nextPageToken,
                    "timings_us": Dictionary(section.timings, uniquingKeysWith: { first, _ in first }),
                    "dropped": Dictionary(section.dropped.map { ($0.reason, $0.count) }, uniquingKeysWith: +),
                    "items": section.items.map { item -> [String: Any] in
                        var entry: [String: Any] = [
                            "item_id": item.itemID, "venue_id": item.venueID, "score": number(item.score),
                            "model_score": number(item.modelScore),
                        ]
                        if !item.sources.isEmpty { entry["sources"] = item.sources }
                        if !item.display.isEmpty {
                            entry["display"] = Dictionary(item.display, uniquingKeysWith: { first, _ in first })
                        }
                        if !item.features.isEmpty {
                            // A feature the join could not provide is NaN, which JSON cannot hold: it is null.
                            entry["features"] = Dictionary(
                                item.features.map { ($0.0, number($0.1)) },
                                uniquingKeysWith: { first, _ in first }
                            )
                        }
                        return entry
                    },
                ]
            },
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}

extension RankCtlError {
    static func exit(_ status: GRPCStatus) -> RankCtlError {
        RankCtlError("call failed with \(status.code.name)")
    }
}
