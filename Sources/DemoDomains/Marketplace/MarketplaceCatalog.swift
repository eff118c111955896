import Foundation

/// What the marketplace demo's snapshot holds, as column arrays: venues, their menus, and users with their order
/// histories, plus the popularity counted from those orders. Nothing here is hidden; ``MarketplaceTruth`` holds what
/// drives the users.
///
/// Entities are numbered from 0; their ids are `v1…vN`, `i1…iN`, `u1…uN` and, for chains, `b1…bN`.
public struct MarketplaceCatalog: Sendable {
    /// UTC day number (days since 1970-01-01) the data is "as of"; every day column is relative to it.
    public var referenceDay = 0

    // MARK: Venues
    /// Number of venues.
    public var venueCount = 0
    /// Location of each venue.
    public var venueLatitude: [Double] = []
    public var venueLongitude: [Double] = []
    /// The city of each venue (an index into ``MarketplaceVocabulary/cities``).
    public var venueCity: [UInt8] = []
    /// How far each venue delivers.
    public var venueRadiusKm: [Float] = []
    /// Minute of the local day the venue opens.
    public var venueOpenMinute: [UInt16] = []
    /// Minute it closes; above 1440 means after midnight of the next day.
    public var venueCloseMinute: [UInt16] = []
    /// Bit `d` set: closed all day on weekday `d` (0 = Monday).
    public var venueClosedDays: [UInt8] = []
    /// The primary cuisine (an index into ``MarketplaceVocabulary/cuisines``).
    public var venueCuisine: [UInt8] = []
    /// Bit set of cuisine tags (the primary cuisine and an optional secondary one).
    public var venueTags: [UInt32] = []
    /// Brand index, or -1 for an independent venue.
    public var venueBrand: [Int32] = []
    /// 1 (cheap) to 4.
    public var venuePriceLevel: [UInt8] = []
    /// Shown rating, 2.5 to 5.
    public var venueRating: [Float] = []
    /// Minutes to prepare an order.
    public var venuePrepMinutes: [UInt8] = []
    /// Whether the venue takes orders at all.
    public var venueAvailable: [Bool] = []
    /// Day the venue joined, relative to `referenceDay` (negative: in the past).
    public var venueCreatedDay: [Int32] = []
    /// log1p of the venue's orders in the histories.
    public var venuePopularity: [Float] = []
    /// Impressions and clicks seen so far, the prior of an exploration policy.
    public var venueImpressions: [Float] = []
    public var venueClicks: [Float] = []
    /// `embeddingDimension` floats per venue.
    public var venueEmbedding: [Float] = []
    /// Items of venue `k` are `venueItemStart[k] ..< venueItemStart[k + 1]`.
    public var venueItemStart: [Int32] = []

    // MARK: Brands
    /// Number of chains.
    public var brandCount = 0

    // MARK: Items
    /// Number of menu items.
    public var itemCount = 0
    /// The venue of each item.
    public var itemVenue: [Int32] = []
    /// The category of each item (an index into ``MarketplaceVocabulary/itemCategories``).
    public var itemCategory: [UInt8] = []
    public var itemPrice: [Float] = []
    public var itemAvailable: [Bool] = []
    /// log1p of the item's orders in the histories.
    public var itemPopularity: [Float] = []

    // MARK: Users
    /// Number of users.
    public var userCount = 0
    /// Home of each user.
    public var userLatitude: [Double] = []
    public var userLongitude: [Double] = []
    public var userCity: [UInt8] = []
    /// Declared cuisine affinities, one byte (0-255) per cuisine per user.
    public var userAffinity: [UInt8] = []
    /// `embeddingDimension` floats per user.
    public var userEmbedding: [Float] = []
    /// Orders of user `k` are `userOrderStart[k] ..< userOrderStart[k + 1]`, oldest first.
    public var userOrderStart: [Int32] = []

    // MARK: Orders
    public var orderVenue: [Int32] = []
    /// Day of the order relative to `referenceDay`.
    public var orderDay: [Int16] = []
    /// Up to two items of the order; -1 when absent.
    public var orderItem: [Int32] = []
    public var orderItem2: [Int32] = []

    /// Creates an empty catalog; ``MarketplaceDemo`` fills it.
    public init() {}

    /// The id of venue `v`.
    public static func venueID(_ v: Int) -> String { "v\(v + 1)" }
    /// The id of item `i`.
    public static func itemID(_ i: Int) -> String { "i\(i + 1)" }
    /// The id of user `u`.
    public static func userID(_ u: Int) -> String { "u\(u + 1)" }
    /// The id of brand `b`.
    public static func brandID(_ b: Int) -> String { "b\(b + 1)" }

    /// The index of a venue id of this catalog, or nil.
    public func venueIndex(_ id: String) -> Int? { DemoIDs.index(id, prefix: "v", count: venueCount) }
    /// The index of an item id of this catalog, or nil.
    public func itemIndex(_ id: String) -> Int? { DemoIDs.index(id, prefix: "i", count: itemCount) }

    /// The items of venue `v`, as a range of the item columns.
    public func menu(of v: Int) -> Range<Int> { Int(venueItemStart[v])..<Int(venueItemStart[v + 1]) }

    /// The orders of user `u`, as a range of the order columns.
    public func orders(of u: Int) -> Range<Int> { Int(userOrderStart[u])..<Int(userOrderStart[u + 1]) }

    /// Whether venue `v` takes orders at local `minuteOfDay` on `weekday` (0 = Monday).
    @inline(__always)
    func isOpen(_ v: Int, weekday: Int, minuteOfDay: Int) -> Bool {
        let open = Int(venueOpenMinute[v])
        let close = Int(venueCloseMinute[v])
        let closed = venueClosedDays[v]
        if closed & (1 << UInt8(weekday)) == 0 && minuteOfDay >= open && minuteOfDay < close { return true }
        // The tail of yesterday's opening that runs past midnight.
        let yesterday = (weekday + 6) % 7
        return close > 1440 && minuteOfDay < close - 1440 && closed & (1 << UInt8(yesterday)) == 0
    }

    /// Counts venue and item popularity from the orders.
    mutating func countPopularity() {
        var venueOrders = [Float](repeating: 0, count: venueCount)
        var itemOrders = [Float](repeating: 0, count: itemCount)
        for o in orderVenue.indices {
            venueOrders[Int(orderVenue[o])] += 1
            if orderItem[o] >= 0 { itemOrders[Int(orderItem[o])] += 1 }
            if orderItem2[o] >= 0 { itemOrders[Int(orderItem2[o])] += 1 }
        }
        venuePopularity = venueOrders.map { log1p($0) }
        itemPopularity = itemOrders.map { log1p($0) }
    }

    /// Sizes, for reports: venues, items, users and orders.
    public var summary: String {
        "\(venueCount) venues, \(itemCount) items, \(userCount) users with \(orderVenue.count) orders"
    }
}

/// A uniform 1 km grid per city over the venues: how the generator samples venues near a user, and how the
/// simulator finds the venues that can deliver to a session.
///
/// It is part of the demo's definition, not a copy of any engine index: the cells and their order decide which
/// venues the generator draws, so changing them would change the generated world.
struct MarketplaceGrid: Sendable {
    /// Half the side of the square each city's grid covers.
    static let cityRadiusKm = 30.0
    static let cellKm = 1.0
    static var cellsPerSide: Int { Int((2 * cityRadiusKm / cellKm).rounded(.up)) }

    struct City: Sendable {
        var originLatitude = 0.0
        var originLongitude = 0.0
        var lonScale = 1.0
        /// Venues of cell `c` are `cellVenues[cellStart[c] ..< cellStart[c + 1]]`, in venue order.
        var cellStart: [Int32] = []
        var cellVenues: [Int32] = []
    }

    var cities: [City] = []

    /// One grid per city of the vocabulary, over the catalog's venues.
    init(_ catalog: MarketplaceCatalog) {
        let side = MarketplaceGrid.cellsPerSide
        for (c, city) in MarketplaceVocabulary.cities.enumerated() {
            var grid = City()
            grid.lonScale = MarketplaceGeo.kmPerDegreeLongitude(atLatitude: city.latitude)
            grid.originLatitude = city.latitude - MarketplaceGrid.cityRadiusKm / MarketplaceGeo.kmPerDegreeLatitude
            grid.originLongitude = city.longitude - MarketplaceGrid.cityRadiusKm / grid.lonScale
            var counts = [Int32](repeating: 0, count: side * side + 1)
            var cellOf = [Int32](repeating: -1, count: catalog.venueCount)
            for v in 0..<catalog.venueCount where Int(catalog.venueCity[v]) == c {
                let (x, y) = MarketplaceGrid.cellXY(grid, catalog.venueLatitude[v], catalog.venueLongitude[v])
                guard x >= 0, y >= 0, x < side, y < side else { continue }
                cellOf[v] = Int32(y * side + x)
                counts[y * side + x + 1] += 1
            }
            for i in 1..<counts.count { counts[i] += counts[i - 1] }
            var fill = counts
            grid.cellVenues = [Int32](repeating: 0, count: Int(counts[side * side]))
            for v in cellOf.indices where cellOf[v] >= 0 {
                let cell = Int(cellOf[v])
                grid.cellVenues[Int(fill[cell])] = Int32(v)
                fill[cell] += 1
            }
            grid.cellStart = counts
            cities.append(grid)
        }
    }

    @inline(__always)
    static func cellXY(_ grid: City, _ latitude: Double, _ longitude: Double) -> (Int, Int) {
        let y = ((latitude - grid.originLatitude) * MarketplaceGeo.kmPerDegreeLatitude / cellKm)
        let x = ((longitude - grid.originLongitude) * grid.lonScale / cellKm)
        guard x.isFinite, y.isFinite, abs(x) < 1e6, abs(y) < 1e6 else { return (-1, -1) }
        return (Int(x.rounded(.down)), Int(y.rounded(.down)))
    }

    /// The city whose centre is nearest the location, if it is within one and a half grid radii.
    func city(latitude: Double, longitude: Double) -> Int? {
        var best: Int?
        var bestKm = Double.infinity
        for (c, city) in MarketplaceVocabulary.cities.enumerated() {
            let km = MarketplaceGeo.distanceKm(
                latitude,
                longitude,
                city.latitude,
                city.longitude,
                lonScale: cities[c].lonScale
            )
            if km < bestKm {
                bestKm = km
                best = c
            }
        }
        guard let city = best, bestKm <= MarketplaceGrid.cityRadiusKm * 1.5 else { return nil }
        return city
    }

    /// Calls `visit` with every venue of `city` in the cells within `maxKm` (in cells, rounded up) of the location's
    /// cell on either axis: a superset of the venues within `maxKm`, in no particular order.
    func forEachVenue(city: Int, latitude: Double, longitude: Double, maxKm: Double, _ visit: (Int) -> Void) {
        let grid = cities[city]
        let (cx, cy) = MarketplaceGrid.cellXY(grid, latitude, longitude)
        let side = MarketplaceGrid.cellsPerSide
        let reach = Int((maxKm / MarketplaceGrid.cellKm).rounded(.up))
        let (x0, x1) = (max(0, cx - reach), min(side - 1, cx + reach))
        let (y0, y1) = (max(0, cy - reach), min(side - 1, cy + reach))
        guard x0 <= x1, y0 <= y1 else { return }
        for y in y0...y1 {
            for x in x0...x1 {
                let cell = y * side + x
                for i in Int(grid.cellStart[cell])..<Int(grid.cellStart[cell + 1]) { visit(Int(grid.cellVenues[i])) }
            }
        }
    }
}
