import CatalogSnapshot
import Foundation
import Ranking

/// Why a valid snapshot still cannot be served: it names a market, cuisine or id the engine has no place for.
public struct CatalogMappingError: Error, CustomStringConvertible, Sendable {
    /// The file, record and field at fault, and why.
    public var description: String

    init(_ file: String, record: String? = nil, field: String? = nil, _ message: String) {
        var at = file
        if let record { at += ": \(record)" }
        if let field { at += ": \(field)" }
        description = "\(at): \(message)"
    }
}

/// Snapshot records of the marketplace schema into the engine's catalog columns. Runs after the validator, so
/// types, references and ranges are already checked; what is checked here is what the engine itself needs.
///
/// The engine's limits, stated once: ids are positional (`v1…vN`, `i1…iN`, `u1…uN`, in any order), items of a
/// venue are contiguous (`i` ids grouped by venue in venue order), markets and cuisines are the engine's own
/// (`Marketplace.cities`, `Marketplace.cuisines`, `Marketplace.itemCategories`), and a venue has one daily opening
/// interval summary, and exact weekly intervals when some venue's hours differ by day or have several intervals a day.
struct MarketplaceImport {
    let referenceDay: Int
    /// Things the mapping simplified, for the load log.
    var notes: [String] = []

    init(referenceDay: Int) {
        self.referenceDay = referenceDay
    }

    static let millisecondsPerDay: Int64 = 86_400_000

    /// The attributes the mapping reads and the type each must have.
    static let expected: [String: [String: AttributeType]] = [
        "venue": [
            "location": .geo, "market": .category, "delivery_radius": .radius, "opening_hours": .schedule,
            "cuisine": .category, "tags": .tags, "brand": .category, "price_level": .number, "rating": .number,
            "prep_minutes": .number, "available": .number, "created_at": .timestamp, "popularity": .number,
            "impressions": .number, "clicks": .number, "embedding": .embedding,
        ],
        "item": [
            "venue": .reference, "category": .category, "price": .number, "popularity": .number,
            "popularity_rank": .number, "available": .number,
        ],
        "user": [
            "home": .geo, "market": .category, "cuisine_affinity": .embedding, "embedding": .embedding,
            "orders": .history, "ordered_items": .history,
        ],
    ]

    /// Problems of a snapshot's schema for this mapping: a missing kind, an attribute of another type, an
    /// embedding of another dimension, a history of another target.
    static func check(schema: CatalogSchema) -> [String] {
        var problems: [String] = []
        if schema.name != "marketplace" {
            problems.append("schema \(schema.name): rankd serves the marketplace schema")
        }
        for (kindName, attributes) in expected.sorted(by: { $0.key < $1.key }) {
            guard let kind = schema.kind(named: kindName) else {
                problems.append("schema \(schema.name): no kind \(kindName)")
                continue
            }
            for (name, type) in attributes.sorted(by: { $0.key < $1.key }) {
                guard let spec = kind.attribute(named: name) else { continue }
                if spec.type != type {
                    problems.append("\(kindName).\(name) is \(spec.type.rawValue), the engine reads \(type.rawValue)")
                }
                if type == .embedding, let dimension = spec.dimension, dimension != Marketplace.embeddingDimension {
                    problems.append(
                        "\(kindName).\(name) has dimension \(dimension), "
                            + "the engine uses \(Marketplace.embeddingDimension)"
                    )
                }
            }
        }
        for (kindName, name, target) in [
            ("item", "venue", "venue"), ("user", "orders", "venue"), ("user", "ordered_items", "item"),
        ] {
            if let spec = schema.kind(named: kindName)?.attribute(named: name), spec.target != target {
                problems.append("\(kindName).\(name) refers to \(spec.target ?? "nothing"), the engine needs \(target)")
            }
        }
        for (kindName, name) in [
            ("venue", "location"), ("venue", "market"), ("venue", "cuisine"), ("item", "venue"), ("user", "home"),
            ("user", "market"),
        ] {
            if schema.kind(named: kindName)?.attribute(named: name) == nil {
                problems.append("\(kindName).\(name) is not declared; the engine needs it")
            }
        }
        return problems
    }

    /// Position of `id` among `count` positional ids with `prefix` ("v12" is 11), or nil.
    static func index(_ id: String, prefix: Character, count: Int) -> Int? {
        guard id.first == prefix else { return nil }
        let digits = id.dropFirst()
        guard !digits.isEmpty, digits.count <= 12, digits.first != "0",
            digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(digits), value >= 1, value <= count
        else { return nil }
        return value - 1
    }

    /// The ids of one kind in position order: nil (numbered, nothing stored) when they are exactly
    /// `<prefix>1 … <prefix>n` in that order, else a stored table.
    static func ids(_ ids: [String], prefix: Character, count: Int, file: String) throws -> EntityIDs? {
        let numbered = EntityIDs.positional(prefix: prefix, count: count)
        if ids.count == count && ids.indices.allSatisfy({ numbered.position(ids[$0]) == $0 }) { return nil }
        guard let table = EntityIDs.explicit(ids) else {
            throw CatalogMappingError(file, "an id appears twice")
        }
        return table
    }

    static func day(_ milliseconds: Int64) -> Int {
        Int(
            milliseconds >= 0
                ? milliseconds / millisecondsPerDay : (milliseconds - millisecondsPerDay + 1) / millisecondsPerDay
        )
    }

    // MARK: Reading

    mutating func columns(from reader: SnapshotReader) throws -> CatalogColumns {
        var c = CatalogColumns()
        c.referenceDay = referenceDay
        let venues = reader.manifest.records(of: "venue") ?? 0
        let items = reader.manifest.records(of: "item") ?? 0
        let users = reader.manifest.records(of: "user") ?? 0
        guard venues > 0 else { throw CatalogMappingError("venue.pb", "the snapshot has no venues") }
        let popularity = try readVenues(reader, count: venues, into: &c)
        let itemPopularity = try readItems(reader, count: items, into: &c)
        try readUsers(reader, count: users, into: &c)
        let derive = !(popularity && itemPopularity)
        if !derive {
            notes.append("popularity taken from the snapshot")
        }
        c.deriveIndexes(popularity: derive)
        return c
    }

    /// Reads every venue; true when every one carries its popularity.
    private mutating func readVenues(
        _ reader: SnapshotReader,
        count n: Int,
        into c: inout CatalogColumns
    ) throws -> Bool {
        let file = "venue.pb"
        let d = Marketplace.embeddingDimension
        c.venueCount = n
        c.venueLatitude = [Double](repeating: 0, count: n)
        c.venueLongitude = [Double](repeating: 0, count: n)
        c.venueCity = [UInt8](repeating: 0, count: n)
        c.venueRadiusKm = [Float](repeating: 0, count: n)
        c.venueOpenMinute = [UInt16](repeating: 0, count: n)
        c.venueCloseMinute = [UInt16](repeating: 0, count: n)
        c.venueClosedDays = [UInt8](repeating: 0, count: n)
        c.venueCuisine = [UInt8](repeating: 0, count: n)
        c.venueTags = [UInt32](repeating: 0, count: n)
        c.venueBrand = [Int32](repeating: -1, count: n)
        c.venuePriceLevel = [UInt8](repeating: 2, count: n)
        c.venueRating = [Float](repeating: .nan, count: n)
        c.venuePrepMinutes = [UInt8](repeating: 20, count: n)
        c.venueAvailable = [Bool](repeating: true, count: n)
        c.venueCreatedDay = [Int32](repeating: -3650, count: n)
        c.venuePopularity = [Float](repeating: 0, count: n)
        c.venueImpressions = [Float](repeating: 0, count: n)
        c.venueClicks = [Float](repeating: 0, count: n)
        c.venueEmbedding = [Float](repeating: 0, count: n * d)
        var brandNames: [String] = []
        var brandOf = [String?](repeating: nil, count: n)
        var allPopular = true
        var weekly = 0
        var hours = [[UInt32]](repeating: [], count: n)
        var unknownTags = 0
        var otherZone = 0
        let referenceDay = self.referenceDay
        var display = DisplayValues(kind: reader.schema.kind(named: "venue"), count: n)
        var positions = FileOrder(file: file, plural: "venues", count: n)
        try reader.forEachRecord(of: "venue") { r in
            // Venues take their positions in file order; the validator has checked the ids are distinct.
            let v = try positions.place(r.id)
            display.add(r, at: v)
            let a = r.attributes
            guard case .geo(let location)? = a["location"] else {
                throw CatalogMappingError(file, record: r.id, field: "location", "no location")
            }
            c.venueLatitude[v] = location.lat
            c.venueLongitude[v] = location.lon
            c.venueCity[v] = UInt8(try MarketplaceImport.city(a["market"], file: file, id: r.id))
            if case .radius(let metres)? = a["delivery_radius"] { c.venueRadiusKm[v] = Float(metres / 1000) }
            if case .schedule(let schedule)? = a["opening_hours"] {
                if schedule.timeZone != Marketplace.cities[Int(c.venueCity[v])].timeZone { otherZone += 1 }
                // The daily summary serves exports and training data; opening and closing follow the exact
                // weekly intervals.
                let (open, close, closed, exact) = MarketplaceImport.daily(schedule)
                c.venueOpenMinute[v] = open
                c.venueCloseMinute[v] = close
                c.venueClosedDays[v] = closed
                if !exact { weekly += 1 }
                hours[v] = schedule.intervals.compactMap {
                    OpeningHours.pack(weekday: $0.weekday - 1, openMinute: $0.openMinute, closeMinute: $0.closeMinute)
                }
            }
            guard case .category(let cuisineName)? = a["cuisine"],
                let cuisine = Marketplace.cuisines.firstIndex(of: cuisineName)
            else {
                throw CatalogMappingError(
                    file,
                    record: r.id,
                    field: "cuisine",
                    "not one of the engine's cuisines (\(Marketplace.cuisines.joined(separator: ", ")))"
                )
            }
            c.venueCuisine[v] = UInt8(cuisine)
            var tags = UInt32(1) << UInt32(cuisine)
            if case .tags(let names)? = a["tags"] {
                for name in names {
                    if let t = Marketplace.cuisines.firstIndex(of: name) {
                        tags |= UInt32(1) << UInt32(t)
                    } else {
                        unknownTags += 1
                    }
                }
            }
            c.venueTags[v] = tags
            if case .category(let brand)? = a["brand"] { brandOf[v] = brand }
            if case .number(let x)? = a["price_level"] { c.venuePriceLevel[v] = UInt8(clamping: Int(x.rounded())) }
            if case .number(let x)? = a["rating"] { c.venueRating[v] = Float(x) }
            if case .number(let x)? = a["prep_minutes"] { c.venuePrepMinutes[v] = UInt8(clamping: Int(x.rounded())) }
            if case .number(let x)? = a["available"] { c.venueAvailable[v] = x != 0 }
            if case .timestamp(let ms)? = a["created_at"] {
                c.venueCreatedDay[v] = Int32(clamping: MarketplaceImport.day(ms) - referenceDay)
            }
            if case .number(let x)? = a["popularity"] { c.venuePopularity[v] = Float(x) } else { allPopular = false }
            if case .number(let x)? = a["impressions"] { c.venueImpressions[v] = Float(x) }
            if case .number(let x)? = a["clicks"] { c.venueClicks[v] = Float(x) }
            if case .embedding(let e)? = a["embedding"], e.count == d {
                c.venueEmbedding.replaceSubrange((v * d)..<((v + 1) * d), with: e)
            }
        }
        let ids = try positions.ids()
        // Brands named b1…bN keep their index (explain shows them); other names are numbered in venue order.
        let names = brandOf.compactMap { $0 }
        let positional = names.allSatisfy { MarketplaceImport.index($0, prefix: "b", count: Int(Int32.max)) != nil }
        var numbered: [String: Int32] = [:]
        for v in 0..<n {
            guard let name = brandOf[v] else { continue }
            if positional {
                c.venueBrand[v] = Int32(MarketplaceImport.index(name, prefix: "b", count: Int(Int32.max))!)
            } else if let b = numbered[name] {
                c.venueBrand[v] = b
            } else {
                let b = Int32(brandNames.count)
                brandNames.append(name)
                numbered[name] = b
                c.venueBrand[v] = b
            }
        }
        c.brandCount = Int(c.venueBrand.max() ?? -1) + 1
        c.venueDisplay = display.columns()
        c.venueIDs = try MarketplaceImport.ids(ids, prefix: "v", count: n, file: file)
        if weekly > 0 {
            // Only when some venue's week is not one interval a day: otherwise the daily columns are exact.
            c.venueHoursStart = [0]
            c.venueHoursStart.reserveCapacity(n + 1)
            for intervals in hours {
                c.venueHours.append(contentsOf: intervals)
                c.venueHoursStart.append(Int32(c.venueHours.count))
            }
            notes.append("\(weekly) venues have different hours on different days or several intervals a day")
        }
        if unknownTags > 0 { notes.append("\(unknownTags) venue tags are not cuisines the engine knows; ignored") }
        if otherZone > 0 {
            notes.append(
                "\(otherZone) venues have opening hours in another time zone than their market's; "
                    + "read in the market's time zone"
            )
        }
        return allPopular
    }

    static func city(_ value: AttributeValue?, file: String, id: String) throws -> Int {
        guard case .category(let market)? = value, let city = Marketplace.cityIndex(market: market) else {
            throw CatalogMappingError(
                file,
                record: id,
                field: "market",
                "not one of the engine's markets (\(Marketplace.cities.map(\.market).joined(separator: ", ")))"
            )
        }
        return city
    }

    /// One daily interval from a weekly schedule: days without an interval are closed days; when the open days'
    /// intervals differ, the latest opening and earliest closing (the time all are open) stand, or the first
    /// interval when they do not overlap. `exact` is false when the schedule had to be narrowed.
    static func daily(_ schedule: WeeklySchedule) -> (open: UInt16, close: UInt16, closedDays: UInt8, exact: Bool) {
        guard let first = schedule.intervals.first else { return (0, 0, 0x7F, true) }
        var closed: UInt8 = 0x7F
        var open = first.openMinute
        var close = first.closeMinute
        var exact = true
        var perDay = [Int](repeating: 0, count: 8)
        for interval in schedule.intervals {
            closed &= ~(UInt8(1) << UInt8(interval.weekday - 1))
            perDay[interval.weekday] += 1
            if interval.openMinute != first.openMinute || interval.closeMinute != first.closeMinute { exact = false }
            open = max(open, interval.openMinute)
            close = min(close, interval.closeMinute)
        }
        if perDay.contains(where: { $0 > 1 }) { exact = false }
        if close <= open {
            open = first.openMinute
            close = first.closeMinute
        }
        return (UInt16(open), UInt16(close), closed, exact)
    }

    /// Reads every item; true when every one carries its popularity and popularity rank.
    private mutating func readItems(_ reader: SnapshotReader, count n: Int, into c: inout CatalogColumns) throws -> Bool
    {
        let file = "item.pb"
        c.itemCount = n
        c.itemVenue = [Int32](repeating: -1, count: n)
        c.itemCategory = [UInt8](repeating: 0, count: n)
        c.itemPrice = [Float](repeating: 0, count: n)
        c.itemPopularity = [Float](repeating: 0, count: n)
        c.itemPopularityRank = [UInt16](repeating: 0, count: n)
        c.itemAvailable = [Bool](repeating: true, count: n)
        var allPopular = true
        let venues = c.venueCount
        var display = DisplayValues(kind: reader.schema.kind(named: "item"), count: n)
        var positions = FileOrder(file: file, plural: "items", count: n)
        let venueIDs = c.venueIDs ?? .positional(prefix: "v", count: c.venueCount)
        try reader.forEachRecord(of: "item") { r in
            // File order first; regrouped by venue below.
            let i = try positions.place(r.id)
            display.add(r, at: i)
            let a = r.attributes
            guard case .reference(let venueID)? = a["venue"], let v = venueIDs.position(venueID), v < venues else {
                throw CatalogMappingError(file, record: r.id, field: "venue", "no venue")
            }
            c.itemVenue[i] = Int32(v)
            if case .category(let name)? = a["category"] {
                guard let category = Marketplace.itemCategories.firstIndex(of: name) else {
                    throw CatalogMappingError(
                        file,
                        record: r.id,
                        field: "category",
                        "not one of the engine's item categories ("
                            + Marketplace.itemCategories.joined(separator: ", ") + ")"
                    )
                }
                c.itemCategory[i] = UInt8(category)
            }
            if case .number(let x)? = a["price"] { c.itemPrice[i] = Float(x) }
            if case .number(let x)? = a["available"] { c.itemAvailable[i] = x != 0 }
            if case .number(let x)? = a["popularity"], case .number(let rank)? = a["popularity_rank"] {
                c.itemPopularity[i] = Float(x)
                c.itemPopularityRank[i] = UInt16(clamping: Int(rank.rounded()))
            } else {
                allPopular = false
            }
        }
        var ids = try positions.ids()
        // A menu is a range of item positions, so items are grouped by venue, in venue order, keeping file order
        // within a venue. Files already in that order (the demo's) are left as they are.
        if zip(c.itemVenue, c.itemVenue.dropFirst()).contains(where: { $0 > $1 }) {
            let order = (0..<n).sorted { (c.itemVenue[$0], $0) < (c.itemVenue[$1], $1) }
            c.itemVenue = order.map { c.itemVenue[$0] }
            c.itemCategory = order.map { c.itemCategory[$0] }
            c.itemPrice = order.map { c.itemPrice[$0] }
            c.itemPopularity = order.map { c.itemPopularity[$0] }
            c.itemPopularityRank = order.map { c.itemPopularityRank[$0] }
            c.itemAvailable = order.map { c.itemAvailable[$0] }
            ids = order.map { ids[$0] }
            display.reorder(order)
            notes.append("items regrouped by venue (the engine keeps each menu together)")
        }
        c.itemDisplay = display.columns()
        c.itemIDs = try MarketplaceImport.ids(ids, prefix: "i", count: n, file: file)
        c.venueItemStart = [Int32](repeating: 0, count: c.venueCount + 1)
        for i in 0..<n { c.venueItemStart[Int(c.itemVenue[i]) + 1] = Int32(i + 1) }
        for v in 0..<c.venueCount where c.venueItemStart[v + 1] < c.venueItemStart[v] {
            c.venueItemStart[v + 1] = c.venueItemStart[v]
        }
        return allPopular
    }

    private mutating func readUsers(_ reader: SnapshotReader, count n: Int, into c: inout CatalogColumns) throws {
        let file = "user.pb"
        let d = Marketplace.embeddingDimension
        let cuisines = Marketplace.cuisines.count
        c.userCount = n
        c.userLatitude = [Double](repeating: 0, count: n)
        c.userLongitude = [Double](repeating: 0, count: n)
        c.userCity = [UInt8](repeating: 0, count: n)
        c.userAffinity = [UInt8](repeating: 0, count: n * cuisines)
        c.userEmbedding = [Float](repeating: 0, count: n * d)
        var orders = [[Interaction]](repeating: [], count: n)
        var items = [[Interaction]](repeating: [], count: n)
        var positions = FileOrder(file: file, plural: "users", count: n)
        try reader.forEachRecord(of: "user") { r in
            let u = try positions.place(r.id)
            let a = r.attributes
            guard case .geo(let home)? = a["home"] else {
                throw CatalogMappingError(file, record: r.id, field: "home", "no home")
            }
            c.userLatitude[u] = home.lat
            c.userLongitude[u] = home.lon
            c.userCity[u] = UInt8(try MarketplaceImport.city(a["market"], file: file, id: r.id))
            if case .embedding(let e)? = a["cuisine_affinity"], e.count == cuisines {
                for k in 0..<cuisines {
                    c.userAffinity[u * cuisines + k] = UInt8((min(max(e[k], 0), 1) * 255).rounded())
                }
            }
            if case .embedding(let e)? = a["embedding"], e.count == d {
                c.userEmbedding.replaceSubrange((u * d)..<((u + 1) * d), with: e)
            }
            if case .history(let h)? = a["orders"] { orders[u] = h }
            if case .history(let h)? = a["ordered_items"] { items[u] = h }
        }
        let ids = try positions.ids()
        c.userIDs = try MarketplaceImport.ids(ids, prefix: "u", count: n, file: file)
        let venueIDs = c.venueIDs ?? .positional(prefix: "v", count: c.venueCount)
        let itemIDs = c.itemIDs ?? .positional(prefix: "i", count: c.itemCount)
        // Orders oldest first; each takes up to two items ordered at its exact time from its venue.
        c.userOrderStart = [Int32](repeating: 0, count: n + 1)
        var unmatchedItems = 0
        for u in 0..<n {
            let venueOrders = orders[u].enumerated().sorted {
                ($0.element.unixMilliseconds, $0.offset) < ($1.element.unixMilliseconds, $1.offset)
            }.map(\.element)
            var itemOrders = items[u].enumerated().sorted {
                ($0.element.unixMilliseconds, $0.offset) < ($1.element.unixMilliseconds, $1.offset)
            }.map {
                (
                    interaction: $0.element,
                    item: itemIDs.position($0.element.entityID) ?? -1,
                    used: false
                )
            }
            var j = 0
            for order in venueOrders {
                guard let v = venueIDs.position(order.entityID) else { continue }
                let time = order.unixMilliseconds
                while j < itemOrders.count && itemOrders[j].interaction.unixMilliseconds < time {
                    if !itemOrders[j].used { unmatchedItems += 1 }
                    j += 1
                }
                var picked: [Int32] = []
                var k = j
                while k < itemOrders.count && itemOrders[k].interaction.unixMilliseconds == time && picked.count < 2 {
                    let item = itemOrders[k].item
                    if !itemOrders[k].used && item >= 0 && Int(c.itemVenue[item]) == v {
                        itemOrders[k].used = true
                        picked.append(Int32(item))
                    }
                    k += 1
                }
                c.orderVenue.append(Int32(v))
                c.orderDay.append(Int16(clamping: MarketplaceImport.day(time) - referenceDay))
                c.orderItem.append(picked.count > 0 ? picked[0] : -1)
                c.orderItem2.append(picked.count > 1 ? picked[1] : -1)
            }
            unmatchedItems += itemOrders[j...].filter { !$0.used }.count
            c.userOrderStart[u + 1] = Int32(c.orderVenue.count)
        }
        if unmatchedItems > 0 {
            notes.append("\(unmatchedItems) ordered items match no venue order at their time; not counted")
        }
    }
}

/// The positions of one kind's records in file order, as they are read: each record takes the next one, and the
/// file must hold exactly as many records as its manifest counts.
private struct FileOrder {
    let file: String
    /// "venues", for the messages.
    let plural: String
    let count: Int
    private var seen: [String] = []

    init(file: String, plural: String, count: Int) {
        self.file = file
        self.plural = plural
        self.count = count
        seen.reserveCapacity(count)
    }

    /// The position of the record with `id`, the next one in file order.
    mutating func place(_ id: String) throws -> Int {
        guard seen.count < count else {
            throw CatalogMappingError(file, record: id, "more \(plural) than the manifest counts")
        }
        seen.append(id)
        return seen.count - 1
    }

    /// Every id, in position order, once the whole file has been read.
    func ids() throws -> [String] {
        guard seen.count == count else {
            throw CatalogMappingError(file, "\(seen.count) \(plural) read, the manifest counts \(count)")
        }
        return seen
    }
}
