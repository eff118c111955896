import CPrefetch
import Foundation

/// Column arrays as the snapshot loader fills them, before they are frozen into a `Catalog`.
public struct CatalogColumns: Sendable {
    /// Empty columns, to be filled by the snapshot loader (or a test).
    public init() {}

    /// UTC day number (days since 1970-01-01) that the snapshot is "as of"; every day column is relative to it.
    public var referenceDay: Int = 0
    /// The snapshot the columns came from (its manifest's id); responses and health name it.
    public var snapshotID = ""
    /// The display attributes of venues and items (names, cuisines...), for answers a person reads; empty when the
    /// data has none.
    public var venueDisplay = DisplayColumns()
    public var itemDisplay = DisplayColumns()
    /// The ids of venues, items and users when they are not numbered (`v1`, `i1`, `u1`...): a team's own ids, in
    /// position order. Nil means numbered.
    public var venueIDs: EntityIDs?
    public var itemIDs: EntityIDs?
    public var userIDs: EntityIDs?
    /// A catalog of another schema, served by that schema's generic surfaces (``DomainConfig``); the marketplace
    /// columns are then empty.
    public var entities: EntityCatalog?

    // MARK: Vocabularies, from the snapshot
    /// The markets, in the order of the codes `venueCity` and `userCity` hold: most venues first, so the first is the
    /// largest (where a request with no location and no known market is placed).
    public var markets: [Market] = []
    /// Cuisine names: `venueCuisine` and the bits of `venueTags` are positions in this list.
    public var cuisines: [String] = []
    /// Menu sections: `itemCategory` holds positions in this list. The first is the main dishes (the cart's
    /// `cart_has_main` feature).
    public var itemCategories: [String] = []
    /// Floats per venue and per user embedding (0 when the snapshot has none).
    public var embeddingDimension = 0
    /// The venues' and items' number attributes the engine does not read itself, by attribute name, one value per
    /// venue (item) in position order, NaN where it has none: what surfaces' attribute features read.
    public var venueNumbers: [String: [Double]] = [:]
    public var itemNumbers: [String: [Double]] = [:]

    // MARK: Venues
    /// Number of venues; venue index `k` has id "v\(k + 1)".
    public var venueCount = 0
    public var venueLatitude: [Double] = []
    public var venueLongitude: [Double] = []
    public var venueCity: [UInt16] = []
    public var venueRadiusKm: [Float] = []
    /// Minute of the local day the venue opens.
    public var venueOpenMinute: [UInt16] = []
    /// Minute it closes; above 1440 means after midnight of the next day.
    public var venueCloseMinute: [UInt16] = []
    /// Bit `d` set: closed all day on weekday `d` (0 = Monday).
    public var venueClosedDays: [UInt8] = []
    /// Exact weekly opening hours, when the data has them (a snapshot's schedules): venue `k`'s intervals are
    /// `venueHours[venueHoursStart[k] ..< venueHoursStart[k + 1]]`, each packed by ``OpeningHours/pack``. Empty means
    /// the daily columns above govern (one interval a day and closed days).
    public var venueHoursStart: [Int32] = []
    public var venueHours: [UInt32] = []
    public var venueCuisine: [UInt8] = []
    /// Bit set of cuisine tags (the primary cuisine and the others it serves), bit `k` for `cuisines[k]`.
    public var venueTags: [UInt64] = []
    /// Brand index, or -1 for an independent venue.
    public var venueBrand: [Int32] = []
    public var venuePriceLevel: [UInt8] = []
    public var venueRating: [Float] = []
    public var venuePrepMinutes: [UInt8] = []
    public var venueAvailable: [Bool] = []
    /// Day the venue joined, relative to `referenceDay` (negative: in the past).
    public var venueCreatedDay: [Int32] = []
    /// log1p of orders in the history: the popularity signal.
    public var venuePopularity: [Float] = []
    /// Impressions and clicks seen by the exploration policy, the prior of Thompson sampling.
    public var venueImpressions: [Float] = []
    public var venueClicks: [Float] = []
    /// `embeddingDimension` floats per venue.
    public var venueEmbedding: [Float] = []
    /// Items of venue `k` are `venueItemStart[k] ..< venueItemStart[k + 1]`.
    public var venueItemStart: [Int32] = []
    /// Co-visitation neighbours of venue `k`: `covisitStart[k] ..< covisitStart[k + 1]` into the two arrays below.
    var covisitStart: [Int32] = []
    var covisitVenue: [Int32] = []
    var covisitWeight: [Float] = []

    // MARK: Brands
    /// Number of chains; brand index `b` has id "b\(b + 1)".
    public var brandCount = 0

    // MARK: Items
    /// Number of menu items; item index `k` has id "i\(k + 1)".
    public var itemCount = 0
    public var itemVenue: [Int32] = []
    public var itemCategory: [UInt8] = []
    public var itemPrice: [Float] = []
    public var itemPopularity: [Float] = []
    /// 0 for the venue's most ordered item, 1 for the next, ...
    public var itemPopularityRank: [UInt16] = []
    public var itemAvailable: [Bool] = []

    // MARK: Users
    /// Number of users; user index `k` has id "u\(k + 1)".
    public var userCount = 0
    public var userLatitude: [Double] = []
    public var userLongitude: [Double] = []
    public var userCity: [UInt16] = []
    /// Declared cuisine affinities, one byte (0-255) per cuisine per user.
    public var userAffinity: [UInt8] = []
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

    // MARK: Indexes
    var spatial = SpatialIndex()
    /// Per market: venue indexes by descending popularity.
    var cityVenuesByPopularity: [[Int32]] = []
    /// Per market: venues created in the last `Catalog.newVenueDays` days, newest first.
    var cityNewVenues: [[Int32]] = []

}

/// The marketplace as column arrays: venues, items, users, their order histories and the indexes built on them.
///
/// Every per-request loop reads these arrays by integer index; there are no per-venue or per-item objects, so a
/// million items cost a few dozen bytes each and scanning them is cache friendly. A catalog is built from
/// `CatalogColumns` and every column is a `let`, so sharing it across threads is safe and reads need no
/// exclusivity checks.
public final class Catalog: Sendable {
    /// UTC day number (days since 1970-01-01) that the snapshot is "as of"; every day column is relative to it.
    public let referenceDay: Int
    /// The snapshot this catalog was loaded from (see `CatalogColumns.snapshotID`).
    public let snapshotID: String
    /// Display values of venues and items (see `CatalogColumns.venueDisplay`).
    public let venueDisplay: DisplayColumns
    public let itemDisplay: DisplayColumns
    /// The ids of venues, items and users, and the position of each id.
    public let venueIDs: EntityIDs
    public let itemIDs: EntityIDs
    public let userIDs: EntityIDs
    /// A catalog of another schema (see `CatalogColumns.entities`), or nil for the marketplace.
    public let entities: EntityCatalog?

    // MARK: Vocabularies (see `CatalogColumns.markets`)
    public let markets: [Market]
    public let cuisines: [String]
    public let itemCategories: [String]
    public let embeddingDimension: Int
    public let venueNumbers: [String: [Double]]
    public let itemNumbers: [String: [Double]]
    /// Each market's position in `markets`, by code.
    private let marketByCode: [String: Int]

    /// Venues created fewer than this many days before a request count as new.
    public static let newVenueDays = 30
    /// Most cuisines a catalog may name: a venue's tags are one bit each.
    public static let maximumCuisines = 64

    // MARK: Venues
    /// Number of venues; venue index `k` has id "v\(k + 1)".
    public let venueCount: Int
    let venueLatitude: [Double]
    let venueLongitude: [Double]
    let venueCity: [UInt16]
    let venueRadiusKm: [Float]
    /// Minute of the local day the venue opens.
    let venueOpenMinute: [UInt16]
    /// Minute it closes; above 1440 means after midnight of the next day.
    let venueCloseMinute: [UInt16]
    /// Bit `d` set: closed all day on weekday `d` (0 = Monday).
    let venueClosedDays: [UInt8]
    /// Exact weekly opening hours (see `CatalogColumns.venueHours`); empty when the daily columns govern.
    let venueHoursStart: [Int32]
    let venueHours: [UInt32]
    let venueCuisine: [UInt8]
    /// Bit set of cuisine tags (the primary cuisine and the others it serves), bit `k` for `cuisines[k]`.
    let venueTags: [UInt64]
    /// Brand index, or -1 for an independent venue.
    let venueBrand: [Int32]
    let venuePriceLevel: [UInt8]
    let venueRating: [Float]
    let venuePrepMinutes: [UInt8]
    let venueAvailable: [Bool]
    /// Day the venue joined, relative to `referenceDay` (negative: in the past).
    let venueCreatedDay: [Int32]
    /// log1p of orders in the history: the popularity signal.
    let venuePopularity: [Float]
    /// Impressions and clicks seen by the exploration policy, the prior of Thompson sampling.
    let venueImpressions: [Float]
    let venueClicks: [Float]
    /// `embeddingDimension` floats per venue.
    let venueEmbedding: [Float]
    /// Items of venue `k` are `venueItemStart[k] ..< venueItemStart[k + 1]`.
    let venueItemStart: [Int32]
    /// Co-visitation neighbours of venue `k`: `covisitStart[k] ..< covisitStart[k + 1]` into the two arrays below.
    let covisitStart: [Int32]
    let covisitVenue: [Int32]
    let covisitWeight: [Float]

    // MARK: Brands
    /// Number of chains; brand index `b` has id "b\(b + 1)".
    public let brandCount: Int

    // MARK: Items
    /// Number of menu items; item index `k` has id "i\(k + 1)".
    public let itemCount: Int
    let itemVenue: [Int32]
    let itemCategory: [UInt8]
    let itemPrice: [Float]
    let itemPopularity: [Float]
    /// 0 for the venue's most ordered item, 1 for the next, ...
    let itemPopularityRank: [UInt16]
    let itemAvailable: [Bool]

    // MARK: Users
    /// Number of users; user index `k` has id "u\(k + 1)".
    public let userCount: Int
    let userLatitude: [Double]
    let userLongitude: [Double]
    let userCity: [UInt16]
    /// Declared cuisine affinities, one byte (0-255) per cuisine per user.
    let userAffinity: [UInt8]
    let userEmbedding: [Float]
    /// Orders of user `k` are `userOrderStart[k] ..< userOrderStart[k + 1]`, oldest first.
    let userOrderStart: [Int32]

    // MARK: Orders
    let orderVenue: [Int32]
    /// Day of the order relative to `referenceDay`.
    let orderDay: [Int16]
    /// Up to two items of the order; -1 when absent.
    let orderItem: [Int32]
    let orderItem2: [Int32]

    // MARK: Indexes
    let spatial: SpatialIndex
    /// Per market: venue indexes by descending popularity.
    let cityVenuesByPopularity: [[Int32]]
    /// Per market: venues created in the last `Catalog.newVenueDays` days, newest first.
    let cityNewVenues: [[Int32]]
    /// Per market, per position of its grid (``SpatialIndex/Grid/cellVenues``): whether the venue takes orders and
    /// its daily opening hours, packed by ``DailyHours``, so that a ring scan tests them in cell order instead of
    /// reading four venue columns at random. Empty when weekly hours govern (``venueHoursStart``) or a venue's minutes
    /// do not fit the packing: the scan then reads the columns.
    let gridHours: [[UInt32]]
    /// Per market, the eligibility columns of ``cityVenuesByPopularity`` and of ``cityNewVenues`` in list order;
    /// empty when ``gridHours`` is (weekly hours, or minutes the word cannot hold): the sources then read the columns.
    let cityPopularEligibility: [ListedEligibility]
    let cityNewEligibility: [ListedEligibility]

    /// Freezes filled columns into a catalog; call `CatalogColumns.deriveIndexes(popularity:)` first.
    public init(_ c: CatalogColumns) {
        referenceDay = c.referenceDay
        snapshotID = c.snapshotID
        venueDisplay = c.venueDisplay
        itemDisplay = c.itemDisplay
        venueIDs = c.venueIDs ?? .positional(prefix: "v", count: c.venueCount)
        itemIDs = c.itemIDs ?? .positional(prefix: "i", count: c.itemCount)
        userIDs = c.userIDs ?? .positional(prefix: "u", count: c.userCount)
        entities = c.entities
        markets = c.markets
        cuisines = c.cuisines
        itemCategories = c.itemCategories
        embeddingDimension = c.embeddingDimension
        venueNumbers = c.venueNumbers
        itemNumbers = c.itemNumbers
        marketByCode = Dictionary(c.markets.enumerated().map { ($1.code, $0) }, uniquingKeysWith: { first, _ in first })
        venueCount = c.venueCount
        venueLatitude = c.venueLatitude
        venueLongitude = c.venueLongitude
        venueCity = c.venueCity
        venueRadiusKm = c.venueRadiusKm
        venueOpenMinute = c.venueOpenMinute
        venueCloseMinute = c.venueCloseMinute
        venueClosedDays = c.venueClosedDays
        venueHoursStart = c.venueHoursStart.count == c.venueCount + 1 ? c.venueHoursStart : []
        venueHours = venueHoursStart.isEmpty ? [] : c.venueHours
        venueCuisine = c.venueCuisine
        venueTags = c.venueTags
        venueBrand = c.venueBrand
        venuePriceLevel = c.venuePriceLevel
        venueRating = c.venueRating
        venuePrepMinutes = c.venuePrepMinutes
        venueAvailable = c.venueAvailable
        venueCreatedDay = c.venueCreatedDay
        venuePopularity = c.venuePopularity
        venueImpressions = c.venueImpressions
        venueClicks = c.venueClicks
        venueEmbedding = c.venueEmbedding
        venueItemStart = c.venueItemStart
        covisitStart = c.covisitStart
        covisitVenue = c.covisitVenue
        covisitWeight = c.covisitWeight
        brandCount = c.brandCount
        itemCount = c.itemCount
        itemVenue = c.itemVenue
        itemCategory = c.itemCategory
        itemPrice = c.itemPrice
        itemPopularity = c.itemPopularity
        itemPopularityRank = c.itemPopularityRank
        itemAvailable = c.itemAvailable
        userCount = c.userCount
        userLatitude = c.userLatitude
        userLongitude = c.userLongitude
        userCity = c.userCity
        userAffinity = c.userAffinity
        userEmbedding = c.userEmbedding
        userOrderStart = c.userOrderStart
        orderVenue = c.orderVenue
        orderDay = c.orderDay
        orderItem = c.orderItem
        orderItem2 = c.orderItem2
        spatial = c.spatial
        cityVenuesByPopularity = c.cityVenuesByPopularity
        cityNewVenues = c.cityNewVenues
        if let words = DailyHours.perVenue(c, weeklyHours: !venueHoursStart.isEmpty) {
            gridHours = DailyHours.perGridPosition(words, c)
            cityPopularEligibility = c.cityVenuesByPopularity.map { ListedEligibility($0, words: words, c) }
            cityNewEligibility = c.cityNewVenues.map { ListedEligibility($0, words: words, c) }
        } else {
            gridHours = []
            cityPopularEligibility = []
            cityNewEligibility = []
        }
    }

    /// The catalog's columns again (the arrays are shared, not copied), e.g. to build a changed catalog from them.
    public var columns: CatalogColumns {
        var c = CatalogColumns()
        c.referenceDay = referenceDay
        c.snapshotID = snapshotID
        c.venueDisplay = venueDisplay
        c.itemDisplay = itemDisplay
        c.venueIDs = venueIDs.isPositional ? nil : venueIDs
        c.itemIDs = itemIDs.isPositional ? nil : itemIDs
        c.userIDs = userIDs.isPositional ? nil : userIDs
        c.entities = entities
        c.markets = markets
        c.cuisines = cuisines
        c.itemCategories = itemCategories
        c.embeddingDimension = embeddingDimension
        c.venueNumbers = venueNumbers
        c.itemNumbers = itemNumbers
        c.venueCount = venueCount
        c.venueLatitude = venueLatitude
        c.venueLongitude = venueLongitude
        c.venueCity = venueCity
        c.venueRadiusKm = venueRadiusKm
        c.venueOpenMinute = venueOpenMinute
        c.venueCloseMinute = venueCloseMinute
        c.venueClosedDays = venueClosedDays
        c.venueHoursStart = venueHoursStart
        c.venueHours = venueHours
        c.venueCuisine = venueCuisine
        c.venueTags = venueTags
        c.venueBrand = venueBrand
        c.venuePriceLevel = venuePriceLevel
        c.venueRating = venueRating
        c.venuePrepMinutes = venuePrepMinutes
        c.venueAvailable = venueAvailable
        c.venueCreatedDay = venueCreatedDay
        c.venuePopularity = venuePopularity
        c.venueImpressions = venueImpressions
        c.venueClicks = venueClicks
        c.venueEmbedding = venueEmbedding
        c.venueItemStart = venueItemStart
        c.covisitStart = covisitStart
        c.covisitVenue = covisitVenue
        c.covisitWeight = covisitWeight
        c.brandCount = brandCount
        c.itemCount = itemCount
        c.itemVenue = itemVenue
        c.itemCategory = itemCategory
        c.itemPrice = itemPrice
        c.itemPopularity = itemPopularity
        c.itemPopularityRank = itemPopularityRank
        c.itemAvailable = itemAvailable
        c.userCount = userCount
        c.userLatitude = userLatitude
        c.userLongitude = userLongitude
        c.userCity = userCity
        c.userAffinity = userAffinity
        c.userEmbedding = userEmbedding
        c.userOrderStart = userOrderStart
        c.orderVenue = orderVenue
        c.orderDay = orderDay
        c.orderItem = orderItem
        c.orderItem2 = orderItem2
        c.spatial = spatial
        c.cityVenuesByPopularity = cityVenuesByPopularity
        c.cityNewVenues = cityNewVenues
        return c
    }

    /// Bytes held by the column arrays and indexes.
    public var memoryBytes: Int {
        func b<T>(_ a: [T]) -> Int { a.count * MemoryLayout<T>.stride }
        let venues = venueBytes
        let items =
            b(itemVenue) + b(itemCategory) + b(itemPrice) + b(itemPopularity) + b(itemPopularityRank)
            + b(itemAvailable) + itemNumbers.values.reduce(0) { $0 + b($1) } + venueDisplay.memoryBytes
            + itemDisplay.memoryBytes + venueIDs.memoryBytes
            + itemIDs.memoryBytes + userIDs.memoryBytes
        return venues + items + userBytes
    }

    var venueBytes: Int {
        func b<T>(_ a: [T]) -> Int { a.count * MemoryLayout<T>.stride }
        return b(venueLatitude) + b(venueLongitude) + b(venueCity) + b(venueRadiusKm) + b(venueOpenMinute)
            + b(venueCloseMinute) + b(venueClosedDays) + b(venueHoursStart) + b(venueHours) + b(venueCuisine)
            + b(venueTags) + b(venueBrand)
            + b(venuePriceLevel) + b(venueRating) + b(venuePrepMinutes) + b(venueAvailable) + b(venueCreatedDay)
            + b(venuePopularity) + b(venueImpressions) + b(venueClicks) + b(venueEmbedding) + b(venueItemStart)
            + b(covisitStart) + b(covisitVenue) + b(covisitWeight) + spatial.memoryBytes
            + cityVenuesByPopularity.reduce(0) { $0 + b($1) } + cityNewVenues.reduce(0) { $0 + b($1) }
            + gridHours.reduce(0) { $0 + b($1) }
            + (cityPopularEligibility + cityNewEligibility).reduce(0) { $0 + $1.memoryBytes }
            + venueNumbers.values.reduce(0) { $0 + b($1) }
    }

    var userBytes: Int {
        func b<T>(_ a: [T]) -> Int { a.count * MemoryLayout<T>.stride }
        return b(userLatitude) + b(userLongitude) + b(userCity) + b(userAffinity) + b(userEmbedding)
            + b(userOrderStart) + b(orderVenue) + b(orderDay) + b(orderItem) + b(orderItem2)
    }

    /// One line for operators: total and per-table memory.
    public var memoryReport: String {
        if let entities { return entities.memoryReport }
        let mb = { (bytes: Int) in String(format: "%.1f MB", Double(bytes) / 1_048_576) }
        let itemBytes = memoryBytes - venueBytes - userBytes
        return "catalog: \(mb(memoryBytes)) (venues \(venueCount): \(mb(venueBytes)), items \(itemCount): "
            + "\(mb(itemBytes)), users \(userCount) with \(orderVenue.count) orders: \(mb(userBytes)))"
    }

    // MARK: Ids

    /// Venue index for an id such as "v12", or nil when it is not a venue of this catalog.
    @inline(__always)
    public func venueIndex(_ id: String) -> Int? { venueIDs.position(id) }
    /// Item index for an id such as "i7".
    @inline(__always)
    public func itemIndex(_ id: String) -> Int? { itemIDs.position(id) }
    /// User index for an id such as "u1".
    @inline(__always)
    public func userIndex(_ id: String) -> Int? { userIDs.position(id) }

    /// The id of venue `index` in this catalog (a team's own, or `v<index + 1>`).
    public func venueID(_ index: Int) -> String { venueIDs.id(index) }
    /// The id of item `index` in this catalog.
    public func itemID(_ index: Int) -> String { itemIDs.id(index) }
    /// The id of user `index` in this catalog.
    public func userID(_ index: Int) -> String { userIDs.id(index) }

    /// The numbered id of venue `index`, `v<index + 1>` (`Catalog.venueID(_:)` on an instance gives the catalog's
    /// own).
    public static func venueID(_ index: Int) -> String { EntityIDs.numbered(prefix: UInt8(ascii: "v"), index + 1) }
    /// The readable id of item `index`.
    public static func itemID(_ index: Int) -> String { EntityIDs.numbered(prefix: UInt8(ascii: "i"), index + 1) }
    /// The readable id of user `index`.
    public static func userID(_ index: Int) -> String { EntityIDs.numbered(prefix: UInt8(ascii: "u"), index + 1) }
    /// The readable id of brand `index`.
    public static func brandID(_ index: Int) -> String { EntityIDs.numbered(prefix: UInt8(ascii: "b"), index + 1) }

    static func parse(_ id: String, prefix: UInt8, count: Int) -> Int? {
        EntityIDs.parse(id, prefix: prefix, count: count)
    }

    // MARK: Venue facts used by more than one stage

    /// Asks for the cache lines of the columns that decide whether venue `v` may be answered (``CandidateRequest``'s
    /// `isEligible`: tags, taking orders, opening hours, location and reach). A source that walks a list of venues
    /// in an order of its own (by popularity, by co-visitation) meets each as a handful of misses in as many
    /// columns; calling this for the venue a few steps ahead overlaps those misses with the current venue's checks.
    /// Only a hint: nothing is read, and any `v` is safe.
    @inline(__always)
    func prefetchEligibility(_ v: Int) {
        guard v >= 0 && v < venueCount else { return }
        venueTags.prefetch(v)
        venueAvailable.prefetch(v)
        venueHoursStart.prefetch(v)
        venueLatitude.prefetch(v)
        venueLongitude.prefetch(v)
        venueRadiusKm.prefetch(v)
    }

    /// How many venues ahead a source walking a venue list asks for the next one's eligibility columns.
    static let eligibilityLookahead = 8

    /// For a source at position `k` of its own venue list: asks for the eligibility columns of the venue
    /// ``eligibilityLookahead`` places on, if the list goes that far.
    @inline(__always)
    func prefetchEligibility(of venues: [Int32], ahead k: Int) {
        let next = k + Catalog.eligibilityLookahead
        if next < venues.count { prefetchEligibility(Int(venues[next])) }
    }

    /// Whether venue `v` takes orders at local `minuteOfDay` on `weekday` (0 = Monday).
    @inline(__always)
    func isOpen(_ v: Int, weekday: Int, minuteOfDay: Int) -> Bool {
        if !venueHoursStart.isEmpty { return weeklyInterval(v, weekday: weekday, minuteOfDay: minuteOfDay) != nil }
        let open = Int(venueOpenMinute[v])
        let close = Int(venueCloseMinute[v])
        let closed = venueClosedDays[v]
        if closed & (1 << UInt8(weekday)) == 0 && minuteOfDay >= open && minuteOfDay < close { return true }
        // The tail of yesterday's opening that runs past midnight.
        let yesterday = (weekday + 6) % 7
        return close > 1440 && minuteOfDay < close - 1440 && closed & (1 << UInt8(yesterday)) == 0
    }

    /// Minutes until venue `v` closes, or 0 when it is closed.
    @inline(__always)
    func minutesToClose(_ v: Int, weekday: Int, minuteOfDay: Int) -> Int {
        if !venueHoursStart.isEmpty {
            return weeklyInterval(v, weekday: weekday, minuteOfDay: minuteOfDay) ?? 0
        }
        guard isOpen(v, weekday: weekday, minuteOfDay: minuteOfDay) else { return 0 }
        let close = Int(venueCloseMinute[v])
        return minuteOfDay >= Int(venueOpenMinute[v]) ? close - minuteOfDay : close - 1440 - minuteOfDay
    }

    /// With weekly hours: the interval of venue `v` open at local `minuteOfDay` on `weekday` (today's, or
    /// yesterday's running past midnight), as the minutes it has left; nil when the venue is closed.
    private func weeklyInterval(_ v: Int, weekday: Int, minuteOfDay: Int) -> Int? {
        let yesterday = (weekday + 6) % 7
        for k in Int(venueHoursStart[v])..<Int(venueHoursStart[v + 1]) {
            let (day, open, close) = OpeningHours.unpack(venueHours[k])
            if day == weekday && minuteOfDay >= open && minuteOfDay < close { return close - minuteOfDay }
            if day == yesterday && close > 1440 && minuteOfDay < close - 1440 { return close - 1440 - minuteOfDay }
        }
        return nil
    }

    /// The position in `markets` of the market with code `code` (e.g. "hel"), if the catalog has it.
    @inline(__always)
    public func marketIndex(_ code: String) -> Int? { code.isEmpty ? nil : marketByCode[code] }

    /// The market whose venues' area holds the location, nearest centre first.
    func city(latitude: Double, longitude: Double) -> Int? { spatial.city(latitude: latitude, longitude: longitude) }
}

extension Array {
    /// Asks for the cache line holding element `i` (``prefetch_read``); an index out of bounds is ignored.
    @inline(__always)
    func prefetch(_ i: Int) {
        withUnsafeBufferPointer { buffer in
            if i >= 0 && i < buffer.count { prefetch_read(buffer.baseAddress! + i) }
        }
    }
}
