import CPrefetch
import Foundation

/// An order the user placed after the snapshot, known from an event: its venue, the item when the event named one
/// (else -1), and its day relative to the snapshot's reference day.
struct OnlineOrder: Equatable {
    var venue: Int32
    var item: Int32
    var day: Int16
}

/// Per-request facts the feature join and the candidate sources share, computed once per request.
struct RequestFrame {
    var userIndex: Int?
    var latitude: Double
    var longitude: Double
    var lonScale: Double
    var city: Int?
    var day: Int
    var weekday: Int
    var minuteOfDay: Int
    var hour: Int
    var venueIndex: Int?
    /// User history summaries, sorted by id for binary search.
    var venueHistory: [(venue: Int32, count: Float, lastDay: Int16)] = []
    var brandHistory: [(brand: Int32, count: Float)] = []
    var itemHistory: [(item: Int32, count: Float)] = []
    var covisit: [(venue: Int32, weight: Float)] = []
    var orderCount = 0
    var averagePriceLevel = Double.nan
    var lastOrderDay: Int?
    /// The cart (context items) of an item request, sorted; empty otherwise.
    var cartItems: [Int32] = []
    /// Cart items per item category (`Catalog.itemCategories`).
    var cartCategoryCounts: [Int] = []
    /// Items bought together with the cart (``ItemPairs``), their counts summed over the cart, sorted by item.
    var cartPartners: [(item: Int32, count: Float)] = []
    /// Items two steps from the cart in the bought-together graph (for a main: the mains that take the same sides
    /// and drinks), weighted by the share of pairs each step goes through, sorted by item.
    var cartWalk: [(item: Int32, count: Float)] = []
    /// The bought-together index the cart was read with, for the candidates' own partners.
    var itemPairs: ItemPairs?
    /// Venues of the user's orders that reached rankd as events (``OnlineOrder``), newest first: "Order again" shows
    /// them first, whatever the snapshot knows.
    var recentOrderVenues: [Int32] = []

    /// - Parameter onlineOrders: the user's orders that arrived as events after the snapshot, counted with its
    ///   history (newest first).
    init(
        catalog: Catalog,
        userIndex: Int?,
        latitude: Double,
        longitude: Double,
        timeUnixMs: Int64,
        venueIndex: Int?,
        onlineOrders: [OnlineOrder] = []
    ) {
        self.userIndex = userIndex
        self.latitude = latitude
        self.longitude = longitude
        self.venueIndex = venueIndex
        lonScale = Geo.kmPerDegreeLongitude(atLatitude: latitude)
        city = catalog.city(latitude: latitude, longitude: longitude)
        // Local time follows the market's time zone, daylight saving included (outside every market: the first
        // market's, UTC when the catalog has none).
        let market = catalog.markets.isEmpty ? nil : catalog.markets[city ?? 0]
        let offset = Int64(market?.utcOffsetMinutes(atUnixMs: timeUnixMs) ?? 0) * 60_000
        let localMs = timeUnixMs + offset
        let localDay = Int((Double(localMs) / 86_400_000).rounded(.down))
        let utcDay = Int((Double(timeUnixMs) / 86_400_000).rounded(.down))
        day = utcDay - catalog.referenceDay
        weekday = ((localDay + 3) % 7 + 7) % 7  // 1970-01-01 was a Thursday
        minuteOfDay = Int((localMs - Int64(localDay) * 86_400_000) / 60_000)
        hour = minuteOfDay / 60
        for order in onlineOrders where !recentOrderVenues.contains(order.venue) {
            recentOrderVenues.append(order.venue)
        }
        // A user the snapshot does not know yet has only their events.
        guard userIndex != nil || !onlineOrders.isEmpty else { return }
        var start = 0
        var end = 0
        if let user = userIndex {
            start = Int(catalog.userOrderStart[user])
            end = Int(catalog.userOrderStart[user + 1])
        }
        orderCount = end - start + onlineOrders.count
        var priceSum = 0.0
        let fromSnapshot = end - start
        for k in 0..<orderCount {
            let v: Int32
            let d: Int16
            let items: (Int32, Int32)
            if k < fromSnapshot {
                let o = start + k
                (v, d, items) = (
                    catalog.orderVenue[o], catalog.orderDay[o], (catalog.orderItem[o], catalog.orderItem2[o])
                )
            } else {
                let order = onlineOrders[k - fromSnapshot]
                (v, d, items) = (order.venue, order.day, (order.item, -1))
            }
            priceSum += Double(catalog.venuePriceLevel[Int(v)])
            if let i = venueHistory.firstIndex(where: { $0.venue == v }) {
                venueHistory[i].count += 1
                venueHistory[i].lastDay = max(venueHistory[i].lastDay, d)
            } else {
                venueHistory.append((v, 1, d))
            }
            let brand = catalog.venueBrand[Int(v)]
            if brand >= 0 {
                if let i = brandHistory.firstIndex(where: { $0.brand == brand }) {
                    brandHistory[i].count += 1
                } else {
                    brandHistory.append((brand, 1))
                }
            }
            for item in [items.0, items.1] where item >= 0 {
                if let i = itemHistory.firstIndex(where: { $0.item == item }) {
                    itemHistory[i].count += 1
                } else {
                    itemHistory.append((item, 1))
                }
            }
            lastOrderDay = max(lastOrderDay ?? Int.min, Int(d))
        }
        if orderCount > 0 { averagePriceLevel = priceSum / Double(orderCount) }
        var pairs: [(venue: Int32, weight: Float)] = []
        for entry in venueHistory {
            let v = Int(entry.venue)
            for k in Int(catalog.covisitStart[v])..<Int(catalog.covisitStart[v + 1]) {
                pairs.append((catalog.covisitVenue[k], catalog.covisitWeight[k] * entry.count))
            }
        }
        // Grouped by venue with a stable sort, so each venue's weights are added in the same order as listed.
        var keys = pairs.indices.map { UInt64(UInt32(pairs[$0].venue)) << 32 | UInt64($0) }
        var scratch: [UInt64] = []
        sortByHighWord(&keys, scratch: &scratch)
        for key in keys {
            let p = pairs[Int(key & 0xFFFF_FFFF)]
            if let last = covisit.last, last.venue == p.venue {
                covisit[covisit.count - 1].weight += p.weight
            } else {
                covisit.append(p)
            }
        }
        venueHistory.sort { $0.venue < $1.venue }
        brandHistory.sort { $0.brand < $1.brand }
        itemHistory.sort { $0.item < $1.item }
    }

    /// The user's venues: those ordered through events first (newest first), then the rest, most ordered (then most
    /// recent) first.
    var pastVenuesByFrequency: [Int32] {
        let byFrequency = venueHistory.sorted {
            ($0.count, $0.lastDay, -$0.venue) > ($1.count, $1.lastDay, -$1.venue)
        }.map(\.venue)
        guard !recentOrderVenues.isEmpty else { return byFrequency }
        return recentOrderVenues + byFrequency.filter { !recentOrderVenues.contains($0) }
    }

    /// Co-visited venues the user has not ordered from, best first.
    var covisitedByWeight: [Int32] {
        covisit.filter { c in venueHistoryIndex(c.venue) == nil }
            .sorted { ($0.weight, -$0.venue) > ($1.weight, -$1.venue) }.map(\.venue)
    }

    @inline(__always)
    func venueHistoryIndex(_ v: Int32) -> Int? {
        var lo = 0
        var hi = venueHistory.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if venueHistory[mid].venue < v { lo = mid + 1 } else { hi = mid }
        }
        return lo < venueHistory.count && venueHistory[lo].venue == v ? lo : nil
    }

    @inline(__always)
    func brandCount(_ b: Int32) -> Float {
        var lo = 0
        var hi = brandHistory.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if brandHistory[mid].brand < b { lo = mid + 1 } else { hi = mid }
        }
        return lo < brandHistory.count && brandHistory[lo].brand == b ? brandHistory[lo].count : 0
    }

    @inline(__always)
    func itemCount(_ item: Int32) -> Float {
        var lo = 0
        var hi = itemHistory.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if itemHistory[mid].item < item { lo = mid + 1 } else { hi = mid }
        }
        return lo < itemHistory.count && itemHistory[lo].item == item ? itemHistory[lo].count : 0
    }

    /// Sets the cart of an item request: what is in it by category, and what is bought together with it.
    mutating func setCart(_ items: [Int32], catalog: Catalog, pairs: ItemPairs?) {
        cartItems = items.sorted()
        cartCategoryCounts = [Int](repeating: 0, count: max(catalog.itemCategories.count, 1))
        itemPairs = pairs
        var direct: [(item: Int32, count: Float)] = []
        var walk: [(item: Int32, count: Float)] = []
        for item in cartItems {
            cartCategoryCounts[Int(catalog.itemCategory[Int(item)])] += 1
            guard let pairs else { continue }
            let total = pairs.totalCount(of: Int(item))
            for k in pairs.partners(of: Int(item)) {
                let partner = pairs.partner[k]
                direct.append((partner, pairs.count[k]))
                let share = pairs.count[k] / total
                let partnerTotal = pairs.totalCount(of: Int(partner))
                for j in pairs.partners(of: Int(partner)) {
                    walk.append((pairs.partner[j], share * pairs.count[j] / partnerTotal))
                }
            }
        }
        cartPartners = RequestFrame.summedByItem(direct)
        cartWalk = RequestFrame.summedByItem(walk)
    }

    /// `entries` sorted by item, with the counts of each item added up.
    static func summedByItem(_ entries: [(item: Int32, count: Float)]) -> [(item: Int32, count: Float)] {
        let sorted = entries.sorted { ($0.item, $0.count) < ($1.item, $1.count) }
        var merged: [(item: Int32, count: Float)] = []
        merged.reserveCapacity(sorted.count)
        for entry in sorted {
            if let last = merged.last, last.item == entry.item {
                merged[merged.count - 1].count += entry.count
            } else {
                merged.append(entry)
            }
        }
        return merged
    }

    /// How strongly `item`'s own bought-together partners are reached from the cart in two steps: a side never
    /// ordered with this burger, but often with the burgers that take the same sides, scores high.
    func cartWalkScore(_ item: Int32) -> Float {
        guard let pairs = itemPairs, !cartWalk.isEmpty else { return 0 }
        let total = pairs.totalCount(of: Int(item))
        var score: Float = 0
        for k in pairs.partners(of: Int(item)) {
            score += RequestFrame.count(of: pairs.partner[k], in: cartWalk) * pairs.count[k] / total
        }
        return score
    }

    @inline(__always)
    static func count(of item: Int32, in list: [(item: Int32, count: Float)]) -> Float {
        var lo = 0
        var hi = list.count
        while lo < hi {
            let mid = (lo + hi) >> 1
            if list[mid].item < item { lo = mid + 1 } else { hi = mid }
        }
        return lo < list.count && list[lo].item == item ? list[lo].count : 0
    }

    @inline(__always)
    func cartPartnerCount(_ item: Int32) -> Float { RequestFrame.count(of: item, in: cartPartners) }
}

/// Lower bounds in a list sorted by key (``RequestFrame``'s venue history and co-visited venues), for keys asked for
/// mostly in ascending order, as a generator's candidates come (in venue order): a search walks on from where the last
/// one ended, so a pass over ascending keys reads the list once, in order, with branches that predict well; a key
/// below the last one searches the whole list again. Answers what a binary search answers, whatever the order.
struct AscendingLowerBound {
    private var position = 0
    private var lastKey = Int32.min

    /// The first index of `count` whose key (`keyAt`) is not below `key`.
    @inline(__always)
    mutating func callAsFunction(_ key: Int32, count: Int, keyAt: (Int) -> Int32) -> Int {
        if key < lastKey {
            var (lo, hi) = (0, count)
            while lo < hi {
                let mid = (lo + hi) >> 1
                if keyAt(mid) < key { lo = mid + 1 } else { hi = mid }
            }
            position = lo
        } else {
            while position < count && keyAt(position) < key { position += 1 }
        }
        lastKey = key
        return position
    }
}

/// Builds feature rows for candidates: item, user, user x item and context features, by the names models use.
///
/// The joiner computes features in its own fixed ("native") order; a `FeatureLayout` maps them into a model's
/// order once, when the model is activated, so the per-candidate loop does no name lookups.
public enum FeatureJoiner {
    /// Feature names for venue surfaces, in native order.
    public static let venueFeatures: [String] = [
        "distance_km", "delivery_margin_km", "eta_minutes", "venue_rating", "venue_price_level",
        "venue_popularity", "venue_age_days", "venue_is_chain", "venue_cuisine", "venue_minutes_to_close",
        "user_order_count", "user_avg_price_level", "user_days_since_last_order", "user_venue_orders",
        "user_venue_days_since_last_order", "user_brand_orders", "cuisine_affinity", "price_level_gap",
        "embedding_dot", "covisit_score", "hour", "weekday",
    ]

    /// Feature names for item surfaces, in native order.
    public static let itemFeatures: [String] = [
        "item_price", "item_category", "item_popularity", "item_popularity_rank", "item_relative_price",
        "venue_price_level", "venue_cuisine", "venue_rating", "user_item_orders", "user_venue_orders",
        "user_order_count", "user_avg_price_level", "cuisine_affinity", "hour", "weekday",
        "item_category_popularity_rank", "cart_size", "cart_same_category", "cart_has_main", "cart_pair_count",
        "cart_pair_share", "cart_pair_walk",
    ]

    /// The native feature names of a surface kind.
    public static func featureNames(for kind: SurfaceKind) -> [String] {
        kind == .venues ? venueFeatures : itemFeatures
    }

    /// Writes the joined features of each candidate (index -1: unknown to the catalog, all NaN) into `out`: the
    /// first `featureNames(for: kind).count` of every `stride` values (the rest are the surface's online features;
    /// nil: none).
    static func join(
        kind: SurfaceKind,
        catalog: Catalog,
        frame: RequestFrame,
        candidates: [Int32],
        stride: Int? = nil,
        into out: UnsafeMutableBufferPointer<Double>
    ) {
        let stride = stride ?? featureNames(for: kind).count
        switch kind {
        case .venues: joinVenues(catalog: catalog, frame: frame, candidates: candidates, stride: stride, into: out)
        case .venueItems: joinItems(catalog: catalog, frame: frame, candidates: candidates, stride: stride, into: out)
        }
    }

    /// How many candidates ahead the venue join asks for a vector.
    private static let prefetchDistance = 4

    private static func joinVenues(
        catalog: Catalog,
        frame: RequestFrame,
        candidates: [Int32],
        stride: Int,
        into out: UnsafeMutableBufferPointer<Double>
    ) {
        let width = venueFeatures.count
        let nan = Double.nan
        let d = catalog.embeddingDimension
        let user = frame.userIndex
        let known = user != nil
        let hasOrders = frame.orderCount > 0
        let userDaysSince = frame.lastOrderDay.map { Double(frame.day - $0) } ?? nan
        var historyAt = AscendingLowerBound()
        var covisitAt = AscendingLowerBound()
        let (history, covisit) = (frame.venueHistory, frame.covisit)
        catalog.venueEmbedding.withUnsafeBufferPointer { venueEmbedding in
            catalog.userEmbedding.withUnsafeBufferPointer { userEmbedding in
                for (row, v32) in candidates.enumerated() {
                    // The venues' vectors are read in candidate order, at random places in a large column: the
                    // vector a few rows ahead is asked for now, so its misses overlap this row's work. (Asking for
                    // the other columns too measured slower: they are narrow and more often cached.)
                    if known && d > 0 && row + prefetchDistance < candidates.count {
                        let ahead = Int(candidates[row + prefetchDistance])
                        if ahead >= 0 {
                            let start = venueEmbedding.baseAddress! + ahead * d
                            prefetch_read(start)
                            prefetch_read(start + (d - 1))
                        }
                    }
                    let o = row * stride
                    let v = Int(v32)
                    guard v >= 0 else {
                        for j in 0..<width { out[o + j] = nan }
                        out[o + 20] = Double(frame.hour)
                        out[o + 21] = Double(frame.weekday)
                        if let user {
                            out[o + 10] = Double(frame.orderCount)
                            _ = user
                        }
                        continue
                    }
                    let km = Geo.distanceKm(
                        frame.latitude,
                        frame.longitude,
                        catalog.venueLatitude[v],
                        catalog.venueLongitude[v],
                        lonScale: frame.lonScale
                    )
                    let price = Double(catalog.venuePriceLevel[v])
                    out[o + 0] = km
                    out[o + 1] = Double(catalog.venueRadiusKm[v]) - km
                    out[o + 2] = Double(catalog.venuePrepMinutes[v]) + 4 * km
                    out[o + 3] = Double(catalog.venueRating[v])
                    out[o + 4] = price
                    out[o + 5] = Double(catalog.venuePopularity[v])
                    out[o + 6] = Double(frame.day - Int(catalog.venueCreatedDay[v]))
                    let brand = catalog.venueBrand[v]
                    out[o + 7] = brand >= 0 ? 1 : 0
                    let cuisine = Int(catalog.venueCuisine[v])
                    out[o + 8] = Double(cuisine)
                    out[o + 9] = Double(
                        catalog.minutesToClose(
                            v,
                            weekday: frame.weekday,
                            minuteOfDay: frame.minuteOfDay
                        )
                    )
                    if let user {
                        out[o + 10] = Double(frame.orderCount)
                        out[o + 11] = frame.averagePriceLevel
                        out[o + 12] = userDaysSince
                        let h = historyAt(v32, count: history.count) { history[$0].venue }
                        if h < history.count && history[h].venue == v32 {
                            out[o + 13] = Double(history[h].count)
                            out[o + 14] = Double(frame.day - Int(history[h].lastDay))
                        } else {
                            out[o + 13] = 0
                            out[o + 14] = nan
                        }
                        out[o + 15] = brand >= 0 ? Double(frame.brandCount(brand)) : 0
                        out[o + 16] = Double(catalog.userAffinity[user * catalog.cuisines.count + cuisine]) / 255
                        out[o + 17] = hasOrders ? price - frame.averagePriceLevel : nan
                        let dot =
                            d > 0
                            ? embeddingDot(
                                userEmbedding.baseAddress! + user * d,
                                venueEmbedding.baseAddress! + v * d,
                                count: d
                            )
                            : 0
                        out[o + 18] = Double(dot)
                        let c = covisitAt(v32, count: covisit.count) { covisit[$0].venue }
                        out[o + 19] = c < covisit.count && covisit[c].venue == v32 ? Double(covisit[c].weight) : 0
                    } else {
                        for j in 10...19 { out[o + j] = nan }
                    }
                    _ = known
                    out[o + 20] = Double(frame.hour)
                    out[o + 21] = Double(frame.weekday)
                }
            }
        }
    }

    private static func joinItems(
        catalog: Catalog,
        frame: RequestFrame,
        candidates: [Int32],
        stride: Int,
        into out: UnsafeMutableBufferPointer<Double>
    ) {
        let width = itemFeatures.count
        let nan = Double.nan
        let cartSize = frame.cartItems.count
        let cartHasMain: Double = cartSize == 0 ? 0 : frame.cartCategoryCounts[0] > 0 ? 1 : 0
        for (row, i32) in candidates.enumerated() {
            let o = row * stride
            let item = Int(i32)
            guard item >= 0 else {
                for j in 0..<width { out[o + j] = nan }
                out[o + 13] = Double(frame.hour)
                out[o + 14] = Double(frame.weekday)
                out[o + 16] = Double(cartSize)
                continue
            }
            let v = Int(catalog.itemVenue[item])
            let level = Double(catalog.venuePriceLevel[v])
            let cuisine = Int(catalog.venueCuisine[v])
            out[o + 0] = Double(catalog.itemPrice[item])
            out[o + 1] = Double(catalog.itemCategory[item])
            out[o + 2] = Double(catalog.itemPopularity[item])
            out[o + 3] = Double(catalog.itemPopularityRank[item])
            out[o + 4] = Double(catalog.itemPrice[item]) / (4 + 4 * level)
            out[o + 5] = level
            out[o + 6] = Double(cuisine)
            out[o + 7] = Double(catalog.venueRating[v])
            if let user = frame.userIndex {
                out[o + 8] = Double(frame.itemCount(i32))
                out[o + 9] = frame.venueHistoryIndex(Int32(v)).map { Double(frame.venueHistory[$0].count) } ?? 0
                out[o + 10] = Double(frame.orderCount)
                out[o + 11] = frame.averagePriceLevel
                out[o + 12] = Double(catalog.userAffinity[user * catalog.cuisines.count + cuisine]) / 255
            } else {
                for j in 8...12 { out[o + j] = nan }
            }
            out[o + 13] = Double(frame.hour)
            out[o + 14] = Double(frame.weekday)
            // Among the venue's items of its category (the best drink, not the best item): a cart wants courses.
            let category = catalog.itemCategory[item]
            let popularity = catalog.itemPopularity[item]
            var categoryRank = 0
            for other in Int(catalog.venueItemStart[v])..<Int(catalog.venueItemStart[v + 1])
            where catalog.itemCategory[other] == category {
                let p = catalog.itemPopularity[other]
                if p > popularity || (p == popularity && other < item) { categoryRank += 1 }
            }
            out[o + 15] = Double(categoryRank)
            // The cart (zero without one): what it already holds of this category, whether it holds a main, how
            // often this item was ordered with it (also as a share of the item's orders), and how strongly its
            // partners are bought with the cart's partners.
            out[o + 16] = Double(cartSize)
            if cartSize > 0 {
                let pairs = Double(frame.cartPartnerCount(i32))
                out[o + 17] = Double(frame.cartCategoryCounts[Int(category)])
                out[o + 18] = cartHasMain
                out[o + 19] = pairs
                out[o + 20] = pairs / max(1, Double(expm1(popularity)).rounded())
                out[o + 21] = Double(frame.cartWalkScore(i32))
            } else {
                for j in 17...21 { out[o + j] = 0 }
            }
        }
    }
}
