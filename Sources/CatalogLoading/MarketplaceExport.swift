import CatalogSnapshot
import Foundation
import Ranking

/// The marketplace catalog as snapshot records: the inverse of `MarketplaceImport`.
///
/// Only facts are written. What the engine derives from them (co-visitation, popularity, the spatial grid, per-city
/// lists) is rebuilt at load time exactly as the generator builds it, so it never goes stale against the histories.
public enum MarketplaceExport {

    static let millisecondsPerDay: Int64 = 86_400_000

    /// Writes `catalog` as a snapshot of `schema` (the marketplace schema) into `directory`, which must not exist.
    @discardableResult
    public static func write(
        _ catalog: Catalog,
        schema: CatalogSchema,
        directory: String,
        snapshotID: String? = nil
    ) throws -> SnapshotManifest {
        let writer = try SnapshotWriter(schema: schema, directory: directory)
        do {
            let c = catalog.columns
            for v in 0..<c.venueCount { try writer.append(venue(v, c), kind: "venue") }
            for i in 0..<c.itemCount { try writer.append(item(i, c), kind: "item") }
            for u in 0..<c.userCount { try writer.append(user(u, c), kind: "user") }
            return try writer.finish(snapshotID: snapshotID)
        } catch {
            writer.abandon()
            throw error
        }
    }

    static func venue(_ v: Int, _ c: CatalogColumns) -> EntityRecord {
        let city = Int(c.venueCity[v])
        let cuisine = Marketplace.cuisines[Int(c.venueCuisine[v])]
        var intervals: [OpenInterval] = []
        if c.venueHoursStart.count == c.venueCount + 1 {
            for k in Int(c.venueHoursStart[v])..<Int(c.venueHoursStart[v + 1]) {
                let (day, open, close) = OpeningHours.unpack(c.venueHours[k])
                intervals.append(OpenInterval(weekday: day + 1, openMinute: open, closeMinute: close))
            }
        } else {
            for day in 0..<7 where c.venueClosedDays[v] & (1 << UInt8(day)) == 0 {
                intervals.append(
                    OpenInterval(
                        weekday: day + 1,
                        openMinute: Int(c.venueOpenMinute[v]),
                        closeMinute: Int(c.venueCloseMinute[v])
                    )
                )
            }
        }
        let tags = Marketplace.cuisines.indices.filter { c.venueTags[v] & (UInt32(1) << UInt32($0)) != 0 }
        let d = Marketplace.embeddingDimension
        var attributes: [String: AttributeValue] = [
            "name": .text("\(cuisine.replacingOccurrences(of: "_", with: " ").capitalized) \(c.venueID(v))"),
            "location": .geo(GeoPoint(lat: c.venueLatitude[v], lon: c.venueLongitude[v])),
            "market": .category(Marketplace.cities[city].market),
            "delivery_radius": .radius(metres: Double(c.venueRadiusKm[v]) * 1000),
            "opening_hours": .schedule(
                WeeklySchedule(timeZone: Marketplace.cities[city].timeZone, intervals: intervals)
            ),
            "cuisine": .category(cuisine),
            "tags": .tags(tags.map { Marketplace.cuisines[$0] }),
            "price_level": .number(Double(c.venuePriceLevel[v])),
            "rating": .number(Double(c.venueRating[v])),
            "prep_minutes": .number(Double(c.venuePrepMinutes[v])),
            "available": .number(c.venueAvailable[v] ? 1 : 0),
            "created_at": .timestamp(
                unixMilliseconds: Int64(c.referenceDay + Int(c.venueCreatedDay[v])) * millisecondsPerDay
            ),
            "impressions": .number(Double(c.venueImpressions[v])),
            "clicks": .number(Double(c.venueClicks[v])),
            "embedding": .embedding(Array(c.venueEmbedding[(v * d)..<((v + 1) * d)])),
        ]
        if c.venueBrand[v] >= 0 { attributes["brand"] = .category(Catalog.brandID(Int(c.venueBrand[v]))) }
        return EntityRecord(id: c.venueID(v), attributes: attributes)
    }

    static func item(_ i: Int, _ c: CatalogColumns) -> EntityRecord {
        let category = Marketplace.itemCategories[Int(c.itemCategory[i])]
        return EntityRecord(
            id: c.itemID(i),
            attributes: [
                "name": .text("\(category.capitalized) \(c.itemID(i))"),
                "venue": .reference(c.venueID(Int(c.itemVenue[i]))),
                "category": .category(category),
                "price": .number(Double(c.itemPrice[i])),
                "available": .number(c.itemAvailable[i] ? 1 : 0),
            ]
        )
    }

    /// A user's orders become two histories: the venues, and the items with the time of their order. Each order
    /// gets its own time (noon of its day plus one second per earlier order of the user), so the loader can give
    /// every item back to its order.
    static func user(_ u: Int, _ c: CatalogColumns) -> EntityRecord {
        let d = Marketplace.embeddingDimension
        let cuisines = Marketplace.cuisines.count
        var attributes: [String: AttributeValue] = [
            "home": .geo(GeoPoint(lat: c.userLatitude[u], lon: c.userLongitude[u])),
            "market": .category(Marketplace.cities[Int(c.userCity[u])].market),
            "cuisine_affinity": .embedding(
                c.userAffinity[(u * cuisines)..<((u + 1) * cuisines)].map { Float($0) / 255 }
            ),
            "embedding": .embedding(Array(c.userEmbedding[(u * d)..<((u + 1) * d)])),
        ]
        var orders: [Interaction] = []
        var items: [Interaction] = []
        let range = Int(c.userOrderStart[u])..<Int(c.userOrderStart[u + 1])
        for (position, o) in range.enumerated() {
            let time =
                Int64(c.referenceDay + Int(c.orderDay[o])) * millisecondsPerDay + 12 * 3_600_000
                + Int64(position) * 1000
            orders.append(
                Interaction(entityID: c.venueID(Int(c.orderVenue[o])), event: "order", unixMilliseconds: time)
            )
            for item in [c.orderItem[o], c.orderItem2[o]] where item >= 0 {
                items.append(Interaction(entityID: c.itemID(Int(item)), event: "order", unixMilliseconds: time))
            }
        }
        if !orders.isEmpty { attributes["orders"] = .history(orders) }
        if !items.isEmpty { attributes["ordered_items"] = .history(items) }
        return EntityRecord(id: c.userID(u), attributes: attributes)
    }
}
