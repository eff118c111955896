import Dispatch

/// What a candidate source may know about a request.
public struct CandidateRequest: @unchecked Sendable {
    /// The catalog snapshot the request runs on.
    public let catalog: Catalog
    /// The user, or nil for an unknown (cold-start) user.
    public let userIndex: Int?
    /// Delivery location (the user's home when the caller sent none).
    public let latitude: Double
    /// Delivery location.
    public let longitude: Double
    /// City of the location, or nil outside every city.
    public let city: Int?
    /// Local weekday, 0 = Monday.
    public let weekday: Int
    /// Local minute of the day.
    public let minuteOfDay: Int
    /// Request day relative to the catalog's reference day.
    public let day: Int
    /// For item surfaces: the venue.
    public let venueIndex: Int?
    /// Kilometres per degree of longitude at the location.
    let lonScale: Double
    /// The user's venues, most ordered first.
    let pastVenues: [Int32]
    /// Co-visited venues of the user's past venues, best first.
    let covisited: [Int32]
    /// Cuisine tags a venue must carry one of (``Catalog``'s `venueTags` bits); 0 when the request names no
    /// category.
    public internal(set) var categoryTags: UInt64 = 0
    /// Items the request gives as context (the cart), sorted; empty when it gives none.
    public internal(set) var contextItems: [Int32] = []
    /// Items bought together, when a source of the surface reads them.
    var itemPairs: ItemPairs?
    /// Items of the user's orders that reached rankd as events (``EventIngest``), newest first.
    var recentOrderItems: [Int32] = []

    /// The eligible venues in reach, shared by the sources that read them; set by ``CandidateGenerator`` to the most
    /// any of the surface's sources reads.
    var sharedVenuesInReach: VenuesInReach?

    /// The shared list when it holds at least `count` venues, else one of `count` for this caller alone (a source run
    /// outside a generator, or the list's limit below what this source reads).
    func venuesInReach(reading count: Int) -> VenuesInReach {
        if let shared = sharedVenuesInReach, shared.limit >= count { return shared }
        return VenuesInReach(limit: count)
    }

    /// Whether venue `v` is in the request's scope: tagged with its category, when it names one.
    @inline(__always)
    public func isInScope(_ v: Int) -> Bool {
        categoryTags == 0 || catalog.venueTags[v] & categoryTags != 0
    }

    /// Whether venue `v` is in scope and orderable: what a venue source may answer.
    @inline(__always)
    public func isEligible(_ v: Int) -> Bool { isInScope(v) && isOrderable(v) }

    /// ``isEligible(_:)`` for a venue already known to deliver to the request location
    /// (``SpatialIndex/forEachVenueInReach(city:latitude:longitude:lonScale:maxKm:_:)``): in scope, taking orders
    /// and open now.
    @inline(__always)
    func isEligibleInReach(_ v: Int) -> Bool {
        isInScope(v) && catalog.venueAvailable[v] && catalog.isOpen(v, weekday: weekday, minuteOfDay: minuteOfDay)
    }

    /// ``isEligible(_:)`` for the venue at position `k` of `venues`, a list sources walk from its start. With the
    /// list's copies of the eligibility columns (``ListedEligibility``) it reads those, in list order; without, it
    /// reads the venue columns and asks for those of a venue further down the list.
    @inline(__always)
    func isEligible(listed venues: [Int32], at k: Int, copies: ListedEligibility?) -> Bool {
        let v = Int(venues[k])
        guard let list = copies else {
            catalog.prefetchEligibility(of: venues, ahead: k)
            return isEligible(v)
        }
        return DailyHours.isOrderableNow(list.hours[k], weekday: weekday, minuteOfDay: minuteOfDay) && isInScope(v)
            && Geo.isWithin(
                latitude,
                longitude,
                list.latitude[k],
                list.longitude[k],
                lonScale: lonScale,
                radiusKm: list.radiusKm[k]
            )
    }

    /// Whether venue `v` delivers to the request location, is open now and is taking orders.
    @inline(__always)
    public func isOrderable(_ v: Int) -> Bool {
        guard catalog.venueAvailable[v], catalog.isOpen(v, weekday: weekday, minuteOfDay: minuteOfDay) else {
            return false
        }
        return Geo.isWithin(
            latitude,
            longitude,
            catalog.venueLatitude[v],
            catalog.venueLongitude[v],
            lonScale: lonScale,
            radiusKm: catalog.venueRadiusKm[v]
        )
    }

    /// Why venue `v` cannot be ordered from for this request, or nil when it can (``isOrderable(_:)``).
    public func unorderableReason(_ v: Int) -> DropReason? {
        if !catalog.venueAvailable[v] { return .venueNotTakingOrders }
        if !catalog.isOpen(v, weekday: weekday, minuteOfDay: minuteOfDay) { return .venueClosed }
        if distanceKm(v) > Double(catalog.venueRadiusKm[v]) { return .outOfDeliveryRange }
        return nil
    }

    /// Distance from the request location to venue `v`.
    @inline(__always)
    public func distanceKm(_ v: Int) -> Double {
        Geo.distanceKm(latitude, longitude, catalog.venueLatitude[v], catalog.venueLongitude[v], lonScale: lonScale)
    }
}

/// The sources that ship with the engine: pure computation on the catalog, microseconds each, so the generator
/// runs them on the calling thread.
protocol BuiltinCandidateSource: CandidateSource {
    /// How many of the eligible venues in reach (``VenuesInReach``) the source reads at `quota`; 0 when it reads
    /// none.
    func venuesInReachRead(quota: Int) -> Int
    /// Whether every venue the source answers passed ``CandidateRequest/isEligible(_:)`` for the request (in scope,
    /// taking orders, open, delivering here): the re-rank then need not check it again.
    var answersOnlyEligibleVenues: Bool { get }
    /// Whether the source answers the user's orders that arrived as events first (Order again): a section of its
    /// candidates then shows those first, newest first, whatever their scores.
    var answersRecentOrdersFirst: Bool { get }
}

extension BuiltinCandidateSource {
    func venuesInReachRead(quota: Int) -> Int { 0 }
    var answersOnlyEligibleVenues: Bool { false }
    var answersRecentOrdersFirst: Bool { false }
}

/// The eligible venues whose delivery radius reaches a request's location, in ring order, with their positions in the
/// city's grid, up to `limit`: scanned once per request for every source that reads them (nearby, embedding), by the
/// first one that asks. Built-in sources run on the request's thread (``CandidateGenerator``), one after another,
/// so the first scan needs no lock.
final class VenuesInReach {
    let limit: Int
    private(set) var venues: [Int32] = []
    private(set) var positions: [Int32] = []
    private var scanned = false

    init(limit: Int) {
        self.limit = limit
    }

    /// The list for `request` in `city`, scanned on the first call.
    func scan(_ request: CandidateRequest, city: Int) -> VenuesInReach {
        guard !scanned else { return self }
        scanned = true
        guard limit > 0 else { return self }
        // Filled as locals: appending to the properties inside the closure would check exclusive access each time.
        var venues: [Int32] = []
        var positions: [Int32] = []
        venues.reserveCapacity(min(limit, 1024))
        positions.reserveCapacity(min(limit, 1024))
        let limit = limit
        let catalog = request.catalog
        // The lists pass in and out: captured by the function, every append would check exclusive access.
        func collect(
            _ venues: inout [Int32],
            _ positions: inout [Int32],
            where eligible: (_ venue: Int, _ position: Int) -> Bool
        ) {
            catalog.spatial.forEachVenueInReach(
                city: city,
                latitude: request.latitude,
                longitude: request.longitude,
                lonScale: request.lonScale,
                maxKm: NearbySource.maxDeliveryKm
            ) { v, position in
                guard eligible(v, position) else { return true }
                venues.append(Int32(v))
                positions.append(Int32(position))
                return venues.count < limit
            }
        }
        if city < catalog.gridHours.count {
            // Taking orders and open now, tested on the words in grid order (the scan's order), not the columns.
            let (weekday, minuteOfDay) = (request.weekday, request.minuteOfDay)
            catalog.gridHours[city].withUnsafeBufferPointer { hours in
                collect(&venues, &positions) { v, position in
                    DailyHours.isOrderableNow(hours[position], weekday: weekday, minuteOfDay: minuteOfDay)
                        && request.isInScope(v)
                }
            }
        } else {
            collect(&venues, &positions) { v, _ in request.isEligibleInReach(v) }
        }
        self.venues = venues
        self.positions = positions
        return self
    }
}

/// A way of finding candidates. Sources run concurrently, so an implementation must not share mutable state; it
/// should stop at `quota` and give up once `deadline` has passed (the engine drops late answers anyway).
public protocol CandidateSource: Sendable {
    /// Name used in configuration and reported in each candidate's sources.
    var name: String { get }
    /// Appends venue indexes (venue surfaces) or item indexes (item surfaces) to `out`.
    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws
}

/// Venues that deliver to the location and are open, nearest first, found through the spatial index.
struct NearbySource: BuiltinCandidateSource {
    let name = "nearby"
    var answersOnlyEligibleVenues: Bool { true }
    static let maxDeliveryKm = 6.0

    func venuesInReachRead(quota: Int) -> Int { quota }

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        guard let city = request.city, quota > 0 else { return }
        let reach = request.venuesInReach(reading: quota).scan(request, city: city)
        out.append(contentsOf: reach.venues.prefix(quota))
    }
}

/// The user's past venues: "order again".
struct ReorderSource: BuiltinCandidateSource {
    let name = "reorder"
    var answersRecentOrdersFirst: Bool { true }

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        if request.categoryTags == 0 {
            out.append(contentsOf: request.pastVenues.prefix(quota))
            return
        }
        var added = 0
        for v in request.pastVenues where added < quota && request.isInScope(Int(v)) {
            out.append(v)
            added += 1
        }
    }
}

/// Venues often ordered by people who ordered from the user's venues.
struct CovisitSource: BuiltinCandidateSource {
    let name = "covisit"
    var answersOnlyEligibleVenues: Bool { true }

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        var added = 0
        let venues = request.covisited
        for k in venues.indices {
            guard added < quota else { break }
            guard request.isEligible(listed: venues, at: k, copies: nil) else { continue }
            out.append(venues[k])
            added += 1
        }
    }
}

/// Top venues by user embedding . venue embedding among those delivering here.
struct EmbeddingSource: BuiltinCandidateSource {
    let name = "embedding"
    var answersOnlyEligibleVenues: Bool { true }
    /// Most venues in reach scored.
    static let scoredVenues = 4096

    func venuesInReachRead(quota: Int) -> Int { quota > 0 ? Self.scoredVenues : 0 }

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        guard let user = request.userIndex, let city = request.city, quota > 0 else { return }
        let catalog = request.catalog
        let d = catalog.embeddingDimension
        // The grid holds the venues' vectors in cell order, so the ring order reads them one after another.
        guard d > 0, catalog.spatial.embeddingDimension == d, catalog.userEmbedding.count >= (user + 1) * d else {
            return
        }
        let reach = request.venuesInReach(reading: Self.scoredVenues).scan(request, city: city)
        let (inReach, positions) = (reach.venues, reach.positions)
        let count = min(inReach.count, Self.scoredVenues)
        var scored: [(Float, Int32)] = []
        scored.reserveCapacity(count)
        catalog.userEmbedding.withUnsafeBufferPointer { users in
            catalog.spatial.grids[city].embeddings.withUnsafeBufferPointer { vectors in
                let userStart = users.baseAddress! + user * d
                for k in 0..<count {
                    let vector = vectors.baseAddress! + Int(positions[k]) * d
                    scored.append((embeddingDot(userStart, vector, count: d), inReach[k]))
                }
            }
        }
        if scored.count > quota {
            selectTop(&scored, quota) { ($0.0, -$0.1) > ($1.0, -$1.1) }
            scored.removeLast(scored.count - quota)
        }
        for (_, v) in scored { out.append(v) }
    }
}

/// The city's most ordered venues that deliver here.
struct PopularSource: BuiltinCandidateSource {
    let name = "popular"
    var answersOnlyEligibleVenues: Bool { true }

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        guard let city = request.city else { return }
        let catalog = request.catalog
        let venues = catalog.cityVenuesByPopularity[city]
        let copies = city < catalog.cityPopularEligibility.count ? catalog.cityPopularEligibility[city] : nil
        // The most popular venues only: at most 40 per wanted one are looked at.
        var added = 0
        for k in 0..<min(venues.count, 40 * max(quota, 1)) {
            guard added < quota else { break }
            if request.isEligible(listed: venues, at: k, copies: copies) {
                out.append(venues[k])
                added += 1
            }
        }
    }
}

/// Venues that joined recently and deliver here.
struct NewVenuesSource: BuiltinCandidateSource {
    let name = "new"
    var answersOnlyEligibleVenues: Bool { true }

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        guard let city = request.city else { return }
        let catalog = request.catalog
        let venues = catalog.cityNewVenues[city]
        let copies = city < catalog.cityNewEligibility.count ? catalog.cityNewEligibility[city] : nil
        var added = 0
        for k in venues.indices {
            guard added < quota else { break }
            let created: Int32
            if let copies { created = copies.createdDay[k] } else { created = catalog.venueCreatedDay[Int(venues[k])] }
            guard Int(created) > request.day - Catalog.newVenueDays else { continue }
            if request.isEligible(listed: venues, at: k, copies: copies) {
                out.append(venues[k])
                added += 1
            }
        }
    }
}

/// Every available item on the venue's menu.
struct MenuSource: BuiltinCandidateSource {
    let name = "menu"

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        guard let venue = request.venueIndex else { return }
        let catalog = request.catalog
        var added = 0
        for item in Int(catalog.venueItemStart[venue])..<Int(catalog.venueItemStart[venue + 1]) where added < quota {
            if catalog.itemAvailable[item] {
                out.append(Int32(item))
                added += 1
            }
        }
    }
}

/// Items of this venue the user ordered before.
struct ItemReorderSource: BuiltinCandidateSource {
    let name = "reorder"
    var answersRecentOrdersFirst: Bool { true }

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        guard let venue = request.venueIndex else { return }
        let catalog = request.catalog
        var added = 0
        // What the user ordered here since the snapshot comes first, newest first.
        for item in request.recentOrderItems
        where added < quota && Int(catalog.itemVenue[Int(item)]) == venue && !out.contains(item) {
            out.append(item)
            added += 1
        }
        guard let user = request.userIndex else { return }
        for o in stride(
            from: Int(catalog.userOrderStart[user + 1]) - 1,
            through: Int(catalog.userOrderStart[user]),
            by: -1
        ) where added < quota && Int(catalog.orderVenue[o]) == venue {
            for item in [catalog.orderItem[o], catalog.orderItem2[o]] where item >= 0 && !out.contains(item) {
                out.append(item)
                added += 1
            }
        }
    }
}

/// The venue's most ordered items.
struct ItemPopularSource: BuiltinCandidateSource {
    let name = "popular"

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        guard let venue = request.venueIndex else { return }
        let catalog = request.catalog
        for item in Int(catalog.venueItemStart[venue])..<Int(catalog.venueItemStart[venue + 1])
        where Int(catalog.itemPopularityRank[item]) < quota {
            out.append(Int32(item))
        }
    }
}

/// Items most often ordered together with the request's context items (the cart), from the same venue and
/// available now: complements. Items in the context are never answered.
struct BoughtTogetherSource: BuiltinCandidateSource {
    let name = "bought_together"

    func generate(_ request: CandidateRequest, quota: Int, deadline: DispatchTime, into out: inout [Int32]) throws {
        guard let pairs = request.itemPairs, !request.contextItems.isEmpty, quota > 0 else { return }
        let catalog = request.catalog
        // A cart holds at most `RecommendQuery.maxContextItems` items with `ItemPairs.partnersPerItem` partners
        // each, so this list stays small and a linear search beats a dictionary.
        var found: [(item: Int32, count: Float)] = []
        for item in request.contextItems {
            for k in pairs.partners(of: Int(item)) {
                let partner = pairs.partner[k]
                guard !request.contextItems.binarySearchContains(partner), catalog.itemAvailable[Int(partner)],
                    request.venueIndex.map({ Int(catalog.itemVenue[Int(partner)]) == $0 }) ?? true
                else { continue }
                if let i = found.firstIndex(where: { $0.item == partner }) {
                    found[i].count += pairs.count[k]
                } else {
                    found.append((partner, pairs.count[k]))
                }
            }
        }
        found.sort { ($0.count, -$0.item) > ($1.count, -$1.item) }
        for entry in found.prefix(quota) { out.append(entry.item) }
    }
}

/// The built-in sources for a surface kind, by name.
enum BuiltinSources {
    /// The names ``named(_:kind:)`` knows for `kind`.
    static func names(kind: SurfaceKind) -> [String] {
        switch kind {
        case .venues: return ["nearby", "reorder", "covisit", "embedding", "popular", "new"]
        case .venueItems: return ["menu", "reorder", "popular", "bought_together"]
        }
    }

    static func named(_ name: String, kind: SurfaceKind) -> (any CandidateSource)? {
        switch (kind, name) {
        case (.venues, "nearby"): return NearbySource()
        case (.venues, "reorder"): return ReorderSource()
        case (.venues, "covisit"): return CovisitSource()
        case (.venues, "embedding"): return EmbeddingSource()
        case (.venues, "popular"): return PopularSource()
        case (.venues, "new"): return NewVenuesSource()
        case (.venueItems, "menu"): return MenuSource()
        case (.venueItems, "reorder"): return ItemReorderSource()
        case (.venueItems, "popular"): return ItemPopularSource()
        case (.venueItems, "bought_together"): return BoughtTogetherSource()
        default: return nil
        }
    }
}
