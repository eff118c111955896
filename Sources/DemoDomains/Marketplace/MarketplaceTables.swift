import Foundation

/// The marketplace demo's catalog as CSV tables (`venues.csv`, `users.csv`, `orders.csv`): what
/// `Scripts/train-demo-model.py` and the Python reference server (`Benchmarks/python-reference`) read beside the
/// training rows.
extension MarketplaceDemo {
    /// Writes the three tables into `directory` (created if missing); returns each file's name and row count.
    public func writeTables(to directory: String) throws -> [(file: String, rows: Int)] {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { (directory as NSString).appendingPathComponent(name) }
        return [
            ("venues.csv", try writeVenues(to: path("venues.csv"))),
            ("users.csv", try writeUsers(to: path("users.csv"))),
            ("orders.csv", try writeOrders(to: path("orders.csv"))),
        ]
    }

    func writeVenues(to path: String) throws -> Int {
        let c = catalog
        let out = try CSVLineWriter(path: path)
        let header = [
            "venue_id", "city", "latitude", "longitude", "delivery_radius_km", "open_minute", "close_minute",
            "closed_days_mask", "cuisine", "tags_mask", "brand_id", "price_level", "rating", "prep_minutes",
            "available", "created_day", "popularity", "item_count",
        ]
        out.line(header.joined(separator: ","))
        for v in 0..<c.venueCount {
            let brand = c.venueBrand[v] >= 0 ? MarketplaceCatalog.brandID(Int(c.venueBrand[v])) : ""
            let fields: [String] = [
                MarketplaceCatalog.venueID(v), MarketplaceVocabulary.cities[Int(c.venueCity[v])].market,
                "\(c.venueLatitude[v])", "\(c.venueLongitude[v])", "\(c.venueRadiusKm[v])", "\(c.venueOpenMinute[v])",
                "\(c.venueCloseMinute[v])", "\(c.venueClosedDays[v])",
                MarketplaceVocabulary.cuisines[Int(c.venueCuisine[v])], "\(c.venueTags[v])", brand,
                "\(c.venuePriceLevel[v])", "\(c.venueRating[v])", "\(c.venuePrepMinutes[v])",
                c.venueAvailable[v] ? "1" : "0", "\(c.venueCreatedDay[v])", "\(c.venuePopularity[v])",
                "\(c.venueItemStart[v + 1] - c.venueItemStart[v])",
            ]
            out.line(fields.joined(separator: ","))
        }
        try out.close()
        return c.venueCount
    }

    func writeUsers(to path: String) throws -> Int {
        let c = catalog
        let out = try CSVLineWriter(path: path)
        out.line("user_id,city,home_latitude,home_longitude,order_count,top_cuisine")
        let cc = MarketplaceVocabulary.cuisines.count
        for u in 0..<c.userCount {
            var top = 0
            for k in 0..<cc where c.userAffinity[u * cc + k] > c.userAffinity[u * cc + top] { top = k }
            let fields: [String] = [
                MarketplaceCatalog.userID(u), MarketplaceVocabulary.cities[Int(c.userCity[u])].market,
                "\(c.userLatitude[u])", "\(c.userLongitude[u])", "\(c.userOrderStart[u + 1] - c.userOrderStart[u])",
                MarketplaceVocabulary.cuisines[top],
            ]
            out.line(fields.joined(separator: ","))
        }
        try out.close()
        return c.userCount
    }

    func writeOrders(to path: String) throws -> Int {
        let c = catalog
        let out = try CSVLineWriter(path: path)
        out.line("user_id,venue_id,day,item_id,item2_id")
        for u in 0..<c.userCount {
            let user = MarketplaceCatalog.userID(u)
            for o in c.orders(of: u) {
                let i1 = c.orderItem[o] >= 0 ? MarketplaceCatalog.itemID(Int(c.orderItem[o])) : ""
                let i2 = c.orderItem2[o] >= 0 ? MarketplaceCatalog.itemID(Int(c.orderItem2[o])) : ""
                out.line("\(user),\(MarketplaceCatalog.venueID(Int(c.orderVenue[o]))),\(c.orderDay[o]),\(i1),\(i2)")
            }
        }
        try out.close()
        return c.orderVenue.count
    }
}

/// A buffered writer of text lines to a new file; `close()` flushes and reports any write error.
public final class CSVLineWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []

    /// Creates (or truncates) the file at `path`.
    public init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        buffer.reserveCapacity(1 << 20)
    }

    /// Appends `text` and a newline.
    public func line(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        buffer.append(10)
        if buffer.count >= 1 << 20 { try? flush() }
    }

    private func flush() throws {
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Writes what is buffered and closes the file.
    public func close() throws {
        try flush()
        try handle.close()
    }
}
