import CatalogLoading
import DemoDomains
import Dispatch
import Foundation
import Ranking

/// Writes the marketplace demo's interaction log and the training tables `Scripts/train-demo-model.py` reads.
///
/// Training rows are built by the live pipeline itself (Recommend for discovery, Rank with explain for menus),
/// so the feature names and values a model is trained on are exactly the ones it is served with; labels come from
/// the demo's simulator. Candidates come from an engine scored by the heuristic, so the exported data does not
/// depend on which model is embedded.
enum TrainingExport {
    /// What was written.
    struct Summary: Sendable {
        /// File name to row count.
        var files: [(String, Int)]
    }

    /// Writes `venues.csv`, `users.csv`, `orders.csv`, `interactions.csv`, `discovery_train.csv`,
    /// `discovery_valid.csv`, `items_train.csv`, `items_valid.csv`, `cart_train.csv` and `cart_valid.csv` into
    /// `directory`.
    static func write(
        demo: MarketplaceDemo,
        directory: String,
        trainSessions: Int,
        validSessions: Int,
        impressionsPerSession: Int = 30,
        progress: (String) -> Void = { _ in }
    ) throws -> Summary {
        var summary = Summary(files: try demo.writeTables(to: directory).map { ($0.file, $0.rows) })
        progress("catalog tables written")
        // The engine serves the catalog as rankd does: written as a snapshot and loaded back through the loader.
        let engine = try RankingEngine.heuristicDemo(catalog: DemoSnapshot.loadThroughSnapshot(demo).catalog)
        let simulator = MarketplaceSessionSimulator(demo: demo)
        // Every request gets a deadline no busy machine reaches (a surface's default budget is tens of
        // milliseconds): a stage cut short by load would change the rows, and they must depend on the seed alone.
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }

        let log = try CSVLineWriter(path: path("interactions.csv"))
        log.line("session_id,user_id,venue_id,position,label,request_time_unix_ms,latitude,longitude,split")
        var logRows = 0
        // Venue rows carry the discovery surface's online features too, computed from the session's earlier events
        // replayed into a store of its own (``MarketplaceSessionSimulator/Session/withOnlineState(engine:withEvents:_:)``),
        // as evaluation asks: a model is trained on the online state it is evaluated and served with.
        let venueFeatures = engine.pipelineConfig.surfaces["discovery"]?.featureNames ?? FeatureJoiner.venueFeatures
        for (split, count, seed) in [("train", trainSessions, UInt64(1)), ("valid", validSessions, UInt64(2))] {
            let venueTable = try CSVLineWriter(path: path("discovery_\(split).csv"))
            let itemTable = try CSVLineWriter(path: path("items_\(split).csv"))
            let cartTable = try CSVLineWriter(path: path("cart_\(split).csv"))
            venueTable.line(
                (["session_id", "user_id", "venue_id", "label"] + venueFeatures).joined(separator: ",")
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
                let user = session.userID
                let context = RequestContext(session)
                let list = try session.withOnlineState(engine: engine, withEvents: true) {
                    try engine.recommendList(
                        RecommendQuery(
                            userID: user,
                            surface: "discovery",
                            context: context,
                            limit: 200,
                            explain: true
                        ),
                        deadline: .now() + .seconds(3600),
                        isCancelled: { false }
                    )
                }
                guard !list.items.isEmpty else { continue }
                // The logging policy shows a uniform sample of the candidates, so labels are not biased by any
                // earlier ranker's order.
                var rng = SplitMix64(seed: StableHash.hash("impressions", sid))
                var shown = Array(list.items.indices)
                for i in stride(from: shown.count - 1, to: 0, by: -1) { shown.swapAt(i, rng.below(i + 1)) }
                shown = Array(shown.prefix(impressionsPerSession))
                let venues = shown.map { list.items[$0].itemID }
                let labels = simulator.labels(session, shown: venues)
                for (position, k) in shown.enumerated() {
                    let entry = list.items[k]
                    venueTable.line(
                        "\(sid),\(user),\(entry.itemID),\(labels[position]),"
                            + nativeRow(entry.features, names: venueFeatures)
                    )
                    log.line(
                        "\(sid),\(user),\(entry.itemID),\(position),\(labels[position]),"
                            + "\(context.requestTimeUnixMs),\(context.latitude),"
                            + "\(context.longitude),\(split)"
                    )
                    venueRows += 1
                    logRows += 1
                }
                // The menu of the venue the user ordered from becomes one item-ranking group.
                guard let ordered = labels.firstIndex(of: 2) else { continue }
                let venue = venues[ordered]
                let menu = simulator.itemLabels(session, venueID: venue)
                guard menu.count > 1 else { continue }
                let ranked = try engine.rank(
                    RankQuery(
                        userID: user,
                        surface: "venue_items",
                        context: context,
                        candidates: menu.map { CandidateInput(itemID: $0.itemID) },
                        limit: 100,
                        explain: true
                    ),
                    deadline: .now() + .seconds(3600),
                    isCancelled: { false }
                )
                var labelOf: [String: UInt8] = [:]
                for m in menu { labelOf[m.itemID] = m.label }
                for entry in ranked.items {
                    itemTable.line(
                        "\(sid),\(user),\(entry.itemID),\(labelOf[entry.itemID] ?? 0),"
                            + nativeRow(entry.features, names: FeatureJoiner.itemFeatures)
                    )
                    itemRows += 1
                }
                // The same visit with a cart: the cart surface's whole answer, labelled by what the user adds.
                if let (cart, truth) = simulator.cartTruth(session, venueID: venue) {
                    let answer = try engine.recommendList(
                        RecommendQuery(
                            userID: user,
                            surface: "cart",
                            context: context,
                            limit: 50,
                            explain: true,
                            contextItemIDs: cart
                        ),
                        deadline: .now() + .seconds(3600),
                        isCancelled: { false }
                    )
                    for entry in answer.items {
                        let grade = truth.first { $0.itemID == entry.itemID }?.grade ?? 0
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
