import Foundation

/// Writes the demo interaction log and the training tables `Scripts/train-demo-model.py` reads.
///
/// Training rows are built by the live pipeline itself (Recommend for discovery, Rank with explain for menus),
/// so the feature names and values a model is trained on are exactly the ones it is served with. Candidates
/// come from an engine scored by the heuristic, so the exported data does not depend on which model is embedded.
public enum TrainingExport {
    /// What was written.
    public struct Summary: Sendable {
        /// File name to row count.
        public var files: [(String, Int)]
    }

    /// Writes `venues.csv`, `users.csv`, `orders.csv`, `interactions.csv`, `discovery_train.csv`,
    /// `discovery_valid.csv`, `items_train.csv`, `items_valid.csv`, `cart_train.csv` and `cart_valid.csv` into
    /// `directory`.
    public static func write(
        market: DemoMarketplace,
        directory: String,
        trainSessions: Int,
        validSessions: Int,
        impressionsPerSession: Int = 30,
        progress: (String) -> Void = { _ in }
    ) throws -> Summary {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let engine = try RankingEngine.heuristicDemo(catalog: market.catalog)
        let simulator = SessionSimulator(market: market)
        var summary = Summary(files: [])
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        summary.files.append(("venues.csv", try writeVenues(market.catalog, to: path("venues.csv"))))
        summary.files.append(("users.csv", try writeUsers(market.catalog, to: path("users.csv"))))
        summary.files.append(("orders.csv", try writeOrders(market.catalog, to: path("orders.csv"))))
        progress("catalog tables written")

        let log = try CSVWriter(path: path("interactions.csv"))
        log.line("session_id,user_id,venue_id,position,label,request_time_unix_ms,latitude,longitude,split")
        var logRows = 0
        for (split, count, seed) in [("train", trainSessions, UInt64(1)), ("valid", validSessions, UInt64(2))] {
            let venueTable = try CSVWriter(path: path("discovery_\(split).csv"))
            let itemTable = try CSVWriter(path: path("items_\(split).csv"))
            let cartTable = try CSVWriter(path: path("cart_\(split).csv"))
            venueTable.line(
                (["session_id", "user_id", "venue_id", "label"] + FeatureJoiner.venueFeatures)
                    .joined(separator: ",")
            )
            for table in [itemTable, cartTable] {
                table.line(
                    (["session_id", "user_id", "item_id", "label"] + FeatureJoiner.itemFeatures)
                        .joined(separator: ",")
                )
            }
            var venueRows = 0
            var itemRows = 0
            var cartRows = 0
            let sessions = simulator.sessions(count: count, heldOut: false, seed: seed)
            for session in sessions {
                let sid = "\(split)\(session.id)"
                let user = Catalog.userID(session.user)
                let list = try engine.recommendList(
                    RecommendQuery(
                        userID: user,
                        surface: "discovery",
                        context: session.context,
                        limit: 200,
                        explain: true
                    ),
                    deadline: nil,
                    isCancelled: { false }
                )
                guard !list.items.isEmpty else { continue }
                // The logging policy shows a uniform sample of the candidates, so labels are not biased by any
                // earlier ranker's order.
                var rng = SplitMix64(seed: StableHash.hash("impressions", sid))
                var shown = Array(list.items.indices)
                for i in stride(from: shown.count - 1, to: 0, by: -1) { shown.swapAt(i, rng.below(i + 1)) }
                shown = Array(shown.prefix(impressionsPerSession))
                let venues = shown.map { market.catalog.venueIndex(list.items[$0].itemID)! }
                let labels = simulator.labels(session, shown: venues)
                for (position, k) in shown.enumerated() {
                    let entry = list.items[k]
                    venueTable.line(
                        "\(sid),\(user),\(entry.itemID),\(labels[position]),"
                            + nativeRow(entry.features, names: FeatureJoiner.venueFeatures)
                    )
                    log.line(
                        "\(sid),\(user),\(entry.itemID),\(position),\(labels[position]),"
                            + "\(session.context.requestTimeUnixMs),\(session.context.latitude),"
                            + "\(session.context.longitude),\(split)"
                    )
                    venueRows += 1
                    logRows += 1
                }
                // The menu of the venue the user ordered from becomes one item-ranking group.
                guard let ordered = labels.firstIndex(of: 2) else { continue }
                let venue = venues[ordered]
                let menu = simulator.itemLabels(session, venue: venue)
                guard menu.count > 1 else { continue }
                let ranked = try engine.rank(
                    RankQuery(
                        userID: user,
                        surface: "venue_items",
                        context: session.context,
                        candidates: menu.map { CandidateInput(itemID: Catalog.itemID($0.item)) },
                        limit: 100,
                        explain: true
                    ),
                    deadline: nil,
                    isCancelled: { false }
                )
                var labelOf: [String: UInt8] = [:]
                for m in menu { labelOf[Catalog.itemID(m.item)] = m.label }
                for entry in ranked.items {
                    itemTable.line(
                        "\(sid),\(user),\(entry.itemID),\(labelOf[entry.itemID] ?? 0),"
                            + nativeRow(entry.features, names: FeatureJoiner.itemFeatures)
                    )
                    itemRows += 1
                }
                // The same visit with a cart: the cart surface's whole answer, labelled by what the user adds.
                if let (cart, truth) = simulator.cartTruth(session, venue: venue) {
                    let answer = try engine.recommendList(
                        RecommendQuery(
                            userID: user,
                            surface: "cart",
                            context: session.context,
                            limit: 50,
                            explain: true,
                            contextItemIDs: cart.map { Catalog.itemID($0) }
                        ),
                        deadline: nil,
                        isCancelled: { false }
                    )
                    for entry in answer.items {
                        let item = market.catalog.itemIndex(entry.itemID)
                        let grade = truth.first { $0.venue == item }?.grade ?? 0
                        cartTable.line(
                            "\(sid),\(user),\(entry.itemID),\(grade),"
                                + nativeRow(entry.features, names: FeatureJoiner.itemFeatures)
                        )
                        cartRows += 1
                    }
                }
                if session.id % 5000 == 4999 { progress("\(split): \(session.id + 1) sessions") }
            }
            try venueTable.close()
            try itemTable.close()
            try cartTable.close()
            summary.files.append(("discovery_\(split).csv", venueRows))
            summary.files.append(("items_\(split).csv", itemRows))
            summary.files.append(("cart_\(split).csv", cartRows))
        }
        try log.close()
        summary.files.append(("interactions.csv", logRows))
        return summary
    }

    /// Values in native order; NaN (missing) is written as an empty cell.
    static func nativeRow(_ features: [(String, Double)], names: [String]) -> String {
        var byName: [String: Double] = [:]
        for (name, value) in features { byName[name] = value }
        return names.map { name in
            guard let value = byName[name], !value.isNaN else { return "" }
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
        }.joined(separator: ",")
    }

    static func writeVenues(_ c: Catalog, to path: String) throws -> Int {
        let out = try CSVWriter(path: path)
        let header = [
            "venue_id", "city", "latitude", "longitude", "delivery_radius_km", "open_minute", "close_minute",
            "closed_days_mask", "cuisine", "tags_mask", "brand_id", "price_level", "rating", "prep_minutes",
            "available", "created_day", "popularity", "item_count",
        ]
        out.line(header.joined(separator: ","))
        for v in 0..<c.venueCount {
            let brand = c.venueBrand[v] >= 0 ? Catalog.brandID(Int(c.venueBrand[v])) : ""
            let fields: [String] = [
                Catalog.venueID(v), Marketplace.cities[Int(c.venueCity[v])].market, "\(c.venueLatitude[v])",
                "\(c.venueLongitude[v])", "\(c.venueRadiusKm[v])", "\(c.venueOpenMinute[v])",
                "\(c.venueCloseMinute[v])", "\(c.venueClosedDays[v])", Marketplace.cuisines[Int(c.venueCuisine[v])],
                "\(c.venueTags[v])", brand, "\(c.venuePriceLevel[v])", "\(c.venueRating[v])",
                "\(c.venuePrepMinutes[v])", c.venueAvailable[v] ? "1" : "0", "\(c.venueCreatedDay[v])",
                "\(c.venuePopularity[v])", "\(c.venueItemStart[v + 1] - c.venueItemStart[v])",
            ]
            out.line(fields.joined(separator: ","))
        }
        try out.close()
        return c.venueCount
    }

    static func writeUsers(_ c: Catalog, to path: String) throws -> Int {
        let out = try CSVWriter(path: path)
        out.line("user_id,city,home_latitude,home_longitude,order_count,top_cuisine")
        let cc = Marketplace.cuisines.count
        for u in 0..<c.userCount {
            var top = 0
            for k in 0..<cc where c.userAffinity[u * cc + k] > c.userAffinity[u * cc + top] { top = k }
            let orders = c.userOrderStart[u + 1] - c.userOrderStart[u]
            let fields: [String] = [
                Catalog.userID(u), Marketplace.cities[Int(c.userCity[u])].market, "\(c.userLatitude[u])",
                "\(c.userLongitude[u])", "\(orders)", Marketplace.cuisines[top],
            ]
            out.line(fields.joined(separator: ","))
        }
        try out.close()
        return c.userCount
    }

    static func writeOrders(_ c: Catalog, to path: String) throws -> Int {
        let out = try CSVWriter(path: path)
        out.line("user_id,venue_id,day,item_id,item2_id")
        for u in 0..<c.userCount {
            for o in Int(c.userOrderStart[u])..<Int(c.userOrderStart[u + 1]) {
                let i1 = c.orderItem[o] >= 0 ? Catalog.itemID(Int(c.orderItem[o])) : ""
                let i2 = c.orderItem2[o] >= 0 ? Catalog.itemID(Int(c.orderItem2[o])) : ""
                out.line("\(Catalog.userID(u)),\(Catalog.venueID(Int(c.orderVenue[o]))),\(c.orderDay[o]),\(i1),\(i2)")
            }
        }
        try out.close()
        return c.orderVenue.count
    }
}

/// A buffered line writer; `close()` flushes and reports any write error.
final class CSVWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw RankingError.unavailable("cannot create \(path)")
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        buffer.reserveCapacity(1 << 20)
    }

    func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(10)
        if buffer.count >= 1 << 20 { try? flush() }
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        try handle.close()
    }
}

extension RankingEngine {
    /// The embedded configuration with every model removed: the heuristic scores everything.
    static func heuristicDemo(catalog: Catalog) throws -> RankingEngine {
        try demo(catalog: catalog) { config in
            config.models = [:]
            for name in config.surfaces.keys {
                config.surfaces[name]?.model = nil
                config.surfaces[name]?.experiment = nil
                // Exploration would move venues between the logged candidates; the log wants plain candidates.
                config.surfaces[name]?.rerank.explorationPolicy = "none"
            }
        }
    }
}
