import Foundation

/// What a catalog derives from its facts: the spatial grid, popularity, co-visitation and per-city lists. The
/// snapshot loader builds them here from the snapshot's facts, so they never go stale against the histories.
extension CatalogColumns {
    /// Builds every index from the venue, item, user and order columns. With `popularity` true, venue and item
    /// popularity and item popularity ranks are counted from the orders too (a snapshot may carry its own).
    public mutating func deriveIndexes(popularity: Bool) {
        deriveSpatialIndex()
        if popularity { derivePopularity() }
        deriveCovisitation()
        deriveCityLists()
    }

    /// The grid per market over the venues' locations.
    mutating func deriveSpatialIndex() {
        spatial = SpatialIndex(
            markets: markets,
            venueCity: venueCity,
            latitude: venueLatitude,
            longitude: venueLongitude,
            radiusKm: venueRadiusKm,
            embedding: venueEmbedding,
            embeddingDimension: embeddingDimension
        )
    }

    /// log1p of order counts per venue and item, and each item's popularity rank within its venue.
    mutating func derivePopularity() {
        var venueOrders = [Float](repeating: 0, count: venueCount)
        var itemOrders = [Float](repeating: 0, count: itemCount)
        for o in orderVenue.indices {
            venueOrders[Int(orderVenue[o])] += 1
            if orderItem[o] >= 0 { itemOrders[Int(orderItem[o])] += 1 }
            if orderItem2[o] >= 0 { itemOrders[Int(orderItem2[o])] += 1 }
        }
        venuePopularity = venueOrders.map { log1p($0) }
        itemPopularity = itemOrders.map { log1p($0) }
        itemPopularityRank = [UInt16](repeating: 0, count: itemCount)
        for v in 0..<venueCount {
            let range = Int(venueItemStart[v])..<Int(venueItemStart[v + 1])
            let sorted = range.sorted { (itemOrders[$0], -$0) > (itemOrders[$1], -$1) }
            for (rank, item) in sorted.enumerated() { itemPopularityRank[item] = UInt16(rank) }
        }
    }

    /// "People who ordered here also ordered there": venue pairs close together in users' histories (each order
    /// with the next three of the same user, when the venues differ), the ten most frequent per venue.
    mutating func deriveCovisitation() {
        let users = userCount
        let (start, venue, weight) = userOrderStart.withUnsafeBufferPointer { starts in
            orderVenue.withUnsafeBufferPointer { venues in
                topPartners(keys: venueCount, perKey: 10) { pair in
                    for u in 0..<users {
                        let end = Int(starts[u + 1])
                        for i in Int(starts[u])..<end {
                            let a = venues[i]
                            for j in (i + 1)..<min(end, i + 4) {
                                let b = venues[j]
                                guard a != b else { continue }
                                pair(a, b)
                                pair(b, a)
                            }
                        }
                    }
                }
            }
        }
        covisitStart = start
        covisitVenue = venue
        covisitWeight = weight
    }

    /// Per market: venues by descending popularity, and venues created in the last `Catalog.newVenueDays` days.
    mutating func deriveCityLists() {
        let cities = markets.count
        var byCity = [[Int32]](repeating: [], count: cities)
        var newByCity = [[Int32]](repeating: [], count: cities)
        for v in 0..<venueCount {
            byCity[Int(venueCity[v])].append(Int32(v))
            if Int(venueCreatedDay[v]) > -Catalog.newVenueDays {
                newByCity[Int(venueCity[v])].append(Int32(v))
            }
        }
        let popularity = venuePopularity
        let created = venueCreatedDay
        cityVenuesByPopularity = byCity.map { list in
            list.sorted { (popularity[Int($0)], -$0) > (popularity[Int($1)], -$1) }
        }
        cityNewVenues = newByCity.map { list in
            list.sorted { (created[Int($0)], -$0) > (created[Int($1)], -$1) }
        }
    }
}
