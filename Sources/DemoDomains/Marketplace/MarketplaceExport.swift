import CatalogSnapshot
import Foundation

/// The marketplace demo as snapshot records of `schemas/marketplace.json`.
///
/// Only facts are written. What a loader derives from them (popularity, co-visitation, spatial and per-city indexes)
/// is rebuilt at load time, so it never goes stale against the histories; the hidden truth is not written.
extension MarketplaceDemo {
    /// The marketplace schema shipped with rankd (a copy of `schemas/marketplace.json`, kept equal by a test).
    public static func schema() throws -> CatalogSchema { try DemoSnapshots.schema("marketplace") }

    static var schemaURL: URL? { DemoSnapshots.schemaURL("marketplace") }

    static let millisecondsPerDay: Int64 = 86_400_000

    /// Writes the marketplace as a snapshot into `directory`, which must not exist, with the embedded schema unless
    /// given another; the id defaults to the writer's `marketplace-<UTC time>-<content hash>`. Record files depend
    /// on the seed, the scale and the reference day.
    @discardableResult
    public func writeSnapshot(
        to directory: String,
        snapshotID: String? = nil,
        schema: CatalogSchema? = nil
    ) throws -> SnapshotManifest {
        let schema = try schema ?? Self.schema()
        return try DemoSnapshots.write(schema: schema, directory: directory, snapshotID: snapshotID) { writer in
            for v in 0..<catalog.venueCount { try writer.append(venueRecord(v), kind: "venue") }
            for i in 0..<catalog.itemCount { try writer.append(itemRecord(i), kind: "item") }
            for u in 0..<catalog.userCount { try writer.append(userRecord(u), kind: "user") }
        }
    }

    func venueRecord(_ v: Int) -> EntityRecord {
        let c = catalog
        let city = MarketplaceVocabulary.cities[Int(c.venueCity[v])]
        let cuisine = MarketplaceVocabulary.cuisines[Int(c.venueCuisine[v])]
        let intervals = (0..<7).filter { c.venueClosedDays[v] & (1 << UInt8($0)) == 0 }.map {
            OpenInterval(
                weekday: $0 + 1,
                openMinute: Int(c.venueOpenMinute[v]),
                closeMinute: Int(c.venueCloseMinute[v])
            )
        }
        let tags = MarketplaceVocabulary.cuisines.indices.filter { c.venueTags[v] & (UInt32(1) << UInt32($0)) != 0 }
        let d = MarketplaceVocabulary.embeddingDimension
        let id = MarketplaceCatalog.venueID(v)
        var attributes: [String: AttributeValue] = [
            "name": .text("\(cuisine.replacingOccurrences(of: "_", with: " ").capitalized) \(id)"),
            "location": .geo(GeoPoint(lat: c.venueLatitude[v], lon: c.venueLongitude[v])),
            "market": .category(city.market),
            "delivery_radius": .radius(metres: Double(c.venueRadiusKm[v]) * 1000),
            "opening_hours": .schedule(WeeklySchedule(timeZone: city.timeZone, intervals: intervals)),
            "cuisine": .category(cuisine),
            "tags": .tags(tags.map { MarketplaceVocabulary.cuisines[$0] }),
            "price_level": .number(Double(c.venuePriceLevel[v])),
            "rating": .number(Double(c.venueRating[v])),
            "prep_minutes": .number(Double(c.venuePrepMinutes[v])),
            "available": .number(c.venueAvailable[v] ? 1 : 0),
            "created_at": .timestamp(
                unixMilliseconds: Int64(c.referenceDay + Int(c.venueCreatedDay[v])) * Self.millisecondsPerDay
            ),
            "impressions": .number(Double(c.venueImpressions[v])),
            "clicks": .number(Double(c.venueClicks[v])),
            "embedding": .embedding(Array(c.venueEmbedding[(v * d)..<((v + 1) * d)])),
        ]
        if c.venueBrand[v] >= 0 {
            attributes["brand"] = .category(MarketplaceCatalog.brandID(Int(c.venueBrand[v])))
        }
        return EntityRecord(id: id, attributes: attributes)
    }

    func itemRecord(_ i: Int) -> EntityRecord {
        let c = catalog
        let category = MarketplaceVocabulary.itemCategories[Int(c.itemCategory[i])]
        let id = MarketplaceCatalog.itemID(i)
        return EntityRecord(
            id: id,
            attributes: [
                "name": .text("\(category.capitalized) \(id)"),
                "venue": .reference(MarketplaceCatalog.venueID(Int(c.itemVenue[i]))),
                "category": .category(category),
                "price": .number(Double(c.itemPrice[i])),
                "available": .number(c.itemAvailable[i] ? 1 : 0),
            ]
        )
    }

    /// A user's orders become two histories: the venues, and the items with the time of their order. Each order
    /// gets its own time (noon of its day plus one second per earlier order of the user), so a loader can give
    /// every item back to its order.
    func userRecord(_ u: Int) -> EntityRecord {
        let c = catalog
        let d = MarketplaceVocabulary.embeddingDimension
        let cuisines = MarketplaceVocabulary.cuisines.count
        var attributes: [String: AttributeValue] = [
            "home": .geo(GeoPoint(lat: c.userLatitude[u], lon: c.userLongitude[u])),
            "market": .category(MarketplaceVocabulary.cities[Int(c.userCity[u])].market),
            "cuisine_affinity": .embedding(
                c.userAffinity[(u * cuisines)..<((u + 1) * cuisines)].map { Float($0) / 255 }
            ),
            "embedding": .embedding(Array(c.userEmbedding[(u * d)..<((u + 1) * d)])),
        ]
        var orders: [Interaction] = []
        var items: [Interaction] = []
        for (position, o) in c.orders(of: u).enumerated() {
            let time =
                Int64(c.referenceDay + Int(c.orderDay[o])) * Self.millisecondsPerDay + 12 * 3_600_000
                + Int64(position) * 1000
            orders.append(
                Interaction(
                    entityID: MarketplaceCatalog.venueID(Int(c.orderVenue[o])),
                    event: "order",
                    unixMilliseconds: time
                )
            )
            for item in [c.orderItem[o], c.orderItem2[o]] where item >= 0 {
                items.append(
                    Interaction(entityID: MarketplaceCatalog.itemID(Int(item)), event: "order", unixMilliseconds: time)
                )
            }
        }
        if !orders.isEmpty { attributes["orders"] = .history(orders) }
        if !items.isEmpty { attributes["ordered_items"] = .history(items) }
        return EntityRecord(id: MarketplaceCatalog.userID(u), attributes: attributes)
    }
}
