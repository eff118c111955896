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
/// Markets, cuisines and menu sections are the snapshot's own: the markets its venues and users name (each with the
/// time zone its venues' opening hours are written in and the mean of their locations as its centre), and the values
/// the schema declares for `cuisine` and item `category` (without them, the order the schema implied before it could
/// declare them when every value fits it, else the distinct values found, in alphabetical order).
/// Items are regrouped by venue, so a menu is a range of item positions.
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
            }
        }
        let venueEmbedding = schema.kind(named: "venue")?.attribute(named: "embedding")
        let userEmbedding = schema.kind(named: "user")?.attribute(named: "embedding")
        if let venue = venueEmbedding?.dimension, let user = userEmbedding?.dimension, venue != user {
            problems.append(
                "venue.embedding has dimension \(venue) and user.embedding \(user); the engine scores their dot product"
            )
        }
        if let affinity = schema.kind(named: "user")?.attribute(named: "cuisine_affinity"), affinity.type == .embedding,
            let values = schema.kind(named: "venue")?.attribute(named: "cuisine")?.values,
            affinity.dimension != values.count
        {
            problems.append(
                "user.cuisine_affinity has dimension \(affinity.dimension ?? 0), one per cuisine needs "
                    + "\(values.count) (the values venue.cuisine declares)"
            )
        }
        if let values = schema.kind(named: "venue")?.attribute(named: "cuisine")?.values,
            values.count > Catalog.maximumCuisines
        {
            problems.append(
                "venue.cuisine declares \(values.count) values; the engine keeps at most \(Catalog.maximumCuisines) "
                    + "cuisines (a venue's tags are one bit each)"
            )
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
    /// `<prefix>1 … <prefix>n` in that order, else a stored table. `order[k]` is the table entry at position `k`.
    static func ids(_ table: StringTable, prefix: Character, order: [Int]? = nil, file: String) throws -> EntityIDs? {
        let count = table.count
        let prefixBytes = Array(String(prefix).utf8)
        var positional = true
        for k in 0..<count where positional {
            let entry = order?[k] ?? k
            positional = table.strings.withBytes(entry) { StringTable.number($0, after: prefixBytes) == k + 1 }
        }
        if positional { return nil }
        let ids = (0..<count).map { table[order?[$0] ?? $0] }
        guard let explicit = EntityIDs.explicit(ids) else {
            throw CatalogMappingError(file, "an id appears twice")
        }
        return explicit
    }

    static func day(_ milliseconds: Int64) -> Int {
        Int(
            milliseconds >= 0
                ? milliseconds / millisecondsPerDay : (milliseconds - millisecondsPerDay + 1) / millisecondsPerDay
        )
    }

    // MARK: Reading

    /// The engine's columns from a valid snapshot's tables (`SnapshotValidation.tables`, checked by `check(schema:)`).
    mutating func columns(from tables: [EntityTable]) throws -> CatalogColumns {
        guard let venues = tables.first(where: { $0.kind.name == "venue" }),
            let items = tables.first(where: { $0.kind.name == "item" }),
            let users = tables.first(where: { $0.kind.name == "user" })
        else { throw CatalogMappingError("schema.json", "the snapshot lacks a venue, item or user kind") }
        var c = CatalogColumns()
        c.referenceDay = referenceDay
        guard venues.count > 0 else { throw CatalogMappingError("venue.pb", "the snapshot has no venues") }
        try readMarkets(venues: venues, users: users, into: &c)
        c.embeddingDimension =
            venues.kind.attribute(named: "embedding")?.dimension ?? users.kind.attribute(named: "embedding")?.dimension
            ?? 0
        let targets = ["venue": venues.ids, "item": items.ids, "user": users.ids]
        let popularity = try readVenues(
            venues,
            targets: targets,
            affinity: users.kind.attribute(named: "cuisine_affinity") != nil,
            into: &c
        )
        let (itemPopularity, itemPosition) = try readItems(items, targets: targets, into: &c)
        try readUsers(users, itemPosition: itemPosition, into: &c)
        let derive = !(popularity && itemPopularity)
        if !derive {
            notes.append("popularity taken from the snapshot")
        }
        c.deriveIndexes(popularity: derive)
        return c
    }

    /// Per entry of a category column's vocabulary, its index in `known`, or nil for a name the engine lacks.
    static func lookup(_ column: AttributeColumn, in known: [String]) -> [Int?] {
        let position = Dictionary(known.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        return (0..<column.names.count).map { position[column.names[$0]] }
    }

    /// The cuisines and menu sections, in order, that the marketplace schema implied before it could declare
    /// `values`: snapshots written then still load, their codes and cuisine affinities read as they were meant.
    static let undeclaredCuisines = [
        "pizza", "burger", "sushi", "indian", "chinese", "thai", "mexican", "italian", "middle_eastern", "vietnamese",
        "healthy", "breakfast", "dessert", "grocery", "korean", "greek",
    ]
    static let undeclaredItemCategories = ["main", "starter", "side", "drink", "dessert"]

    /// The vocabulary of a category attribute: the values its schema declares, in their order; without them, the
    /// order of `undeclared` when every value found is in it (a snapshot from before `values`), else the distinct
    /// values found, in alphabetical order. `declared` is false for the last.
    static func vocabulary(_ column: AttributeColumn, undeclared: [String]) -> (values: [String], declared: Bool) {
        if let values = column.spec.values { return (values, true) }
        var used = [Bool](repeating: false, count: column.names.count)
        for k in column.present.indices where column.present[k] && column.codes[k] >= 0 {
            used[Int(column.codes[k])] = true
        }
        let found = used.indices.filter { used[$0] }.map { column.names[$0] }
        if Set(found).isSubset(of: undeclared) { return (undeclared, true) }
        return (found.sorted(), false)
    }

    /// The markets the venues and users name: most venues first (then by code), each with the time zone most of
    /// its venues' opening hours are written in and the mean of its venues' locations (of its users' homes, for a
    /// market without venues) as its centre. Sets `venueCity` and `userCity` to positions in it.
    private mutating func readMarkets(venues: EntityTable, users: EntityTable, into c: inout CatalogColumns) throws {
        guard let venueMarket = venues.column("market"), let venueLocation = venues.column("location") else {
            throw CatalogMappingError("venue.pb", "venues need a location and a market")
        }
        guard let userMarket = users.column("market"), let home = users.column("home") else {
            throw CatalogMappingError("user.pb", "users need a home and a market")
        }
        // Every code some venue or user carries (a value the schema declares but nobody uses is no market), then
        // each entity's.
        var codeOf: [String: Int] = [:]
        var codes: [String] = []
        func positions(_ market: AttributeColumn, _ table: EntityTable, file: String) throws -> [Int] {
            var entry = [Int](repeating: -1, count: market.names.count)
            return try (0..<table.count).map { k in
                guard market.present[k], market.codes[k] >= 0 else {
                    throw CatalogMappingError(
                        file,
                        record: table.ids[k],
                        field: "market",
                        "no market (the engine needs one per venue and user)"
                    )
                }
                let code = Int(market.codes[k])
                if entry[code] < 0 {
                    let name = market.names[code]
                    if let known = codeOf[name] {
                        entry[code] = known
                    } else {
                        codeOf[name] = codes.count
                        entry[code] = codes.count
                        codes.append(name)
                    }
                }
                return entry[code]
            }
        }
        let venueCodes = try positions(venueMarket, venues, file: "venue.pb")
        let userCodes = try positions(userMarket, users, file: "user.pb")
        guard codes.count <= Int(UInt16.max) else {
            throw CatalogMappingError("venue.pb", "\(codes.count) markets; the engine keeps at most \(UInt16.max)")
        }
        var venueCount = [Int](repeating: 0, count: codes.count)
        var sums = [(lat: Double, lon: Double, n: Int)](repeating: (0, 0, 0), count: codes.count)
        for (v, m) in venueCodes.enumerated() {
            venueCount[m] += 1
            sums[m] = (
                sums[m].lat + venueLocation.latitudes[v], sums[m].lon + venueLocation.longitudes[v], sums[m].n + 1
            )
        }
        for (u, m) in userCodes.enumerated() where venueCount[m] == 0 && home.present[u] {
            sums[m] = (sums[m].lat + home.latitudes[u], sums[m].lon + home.longitudes[u], sums[m].n + 1)
        }
        // Zones written per market, counted.
        var zoneCounts = [[Int: Int]](repeating: [:], count: codes.count)
        let schedule = venues.column("opening_hours")
        if let schedule {
            for (v, m) in venueCodes.enumerated() where schedule.present[v] && schedule.codes[v] >= 0 {
                zoneCounts[m][Int(schedule.codes[v]), default: 0] += 1
            }
        }
        let order = codes.indices.sorted { (-venueCount[$0], codes[$0]) < (-venueCount[$1], codes[$1]) }
        var position = [Int](repeating: 0, count: codes.count)
        var withoutZone: [String] = []
        c.markets = order.enumerated().map { k, m in
            position[m] = k
            let zone = zoneCounts[m].max { ($0.value, -$0.key) < ($1.value, -$1.key) }?.key
            let timeZone = zone.flatMap { z in schedule.map { $0.names[z] } } ?? "UTC"
            if zone == nil { withoutZone.append(codes[m]) }
            let n = Double(max(sums[m].n, 1))
            return Market(code: codes[m], timeZone: timeZone, latitude: sums[m].lat / n, longitude: sums[m].lon / n)
        }
        c.venueCity = venueCodes.map { UInt16(position[$0]) }
        c.userCity = userCodes.map { UInt16(position[$0]) }
        if !withoutZone.isEmpty {
            notes.append(
                "\(withoutZone.count) markets have no opening hours to take a time zone from; UTC for them ("
                    + withoutZone.prefix(10).joined(separator: ", ") + ")"
            )
        }
    }

    /// Reads every venue; true when every one carries its popularity.
    private mutating func readVenues(
        _ t: EntityTable,
        targets: [String: StringTable],
        affinity: Bool,
        into c: inout CatalogColumns
    ) throws -> Bool {
        let file = "venue.pb"
        let d = c.embeddingDimension
        let n = t.count
        c.venueCount = n
        guard let location = t.column("location"), let cuisine = t.column("cuisine")
        else { throw CatalogMappingError(file, "venues need a location, a market and a cuisine") }
        c.venueLatitude = location.latitudes
        c.venueLongitude = location.longitudes
        c.venueRadiusKm = [Float](repeating: 0, count: n)
        if let radius = t.column("delivery_radius") {
            for v in 0..<n where radius.present[v] { c.venueRadiusKm[v] = Float(radius.numbers[v] / 1000) }
        }
        c.venueOpenMinute = [UInt16](repeating: 0, count: n)
        c.venueCloseMinute = [UInt16](repeating: 0, count: n)
        c.venueClosedDays = [UInt8](repeating: 0, count: n)
        var weekly = 0
        var otherZone = 0
        var hoursStart: [Int32] = [0]
        var hours: [UInt32] = []
        if let schedule = t.column("opening_hours") {
            hoursStart.reserveCapacity(n + 1)
            // Whether each zone is its market's, per (zone, city) pair seen.
            var sameZone: [Int: Bool] = [:]
            for v in 0..<n {
                defer { hoursStart.append(Int32(hours.count)) }
                guard schedule.present[v] else { continue }
                let zone = Int(schedule.codes[v])
                let city = Int(c.venueCity[v])
                let key = zone << 16 | city
                if sameZone[key] == nil { sameZone[key] = schedule.names[zone] == c.markets[city].timeZone }
                if sameZone[key] == false { otherZone += 1 }
                let intervals = schedule.intervals[schedule.entries(v)]
                // The daily summary serves exports and training data; opening and closing follow the exact
                // weekly intervals.
                let (open, close, closed, exact) = MarketplaceImport.daily(intervals)
                c.venueOpenMinute[v] = open
                c.venueCloseMinute[v] = close
                c.venueClosedDays[v] = closed
                if !exact { weekly += 1 }
                for interval in intervals {
                    if let packed = OpeningHours.pack(
                        weekday: interval.weekday - 1,
                        openMinute: interval.openMinute,
                        closeMinute: interval.closeMinute
                    ) {
                        hours.append(packed)
                    }
                }
            }
        }
        let cuisines = MarketplaceImport.vocabulary(cuisine, undeclared: MarketplaceImport.undeclaredCuisines)
        c.cuisines = cuisines.values
        if !cuisines.declared && affinity {
            throw CatalogMappingError(
                "schema.json",
                "user.cuisine_affinity holds one value per cuisine, so venue.cuisine must declare its values "
                    + "(their order is the affinity's)"
            )
        }
        guard c.cuisines.count <= Catalog.maximumCuisines else {
            throw CatalogMappingError(
                file,
                field: "cuisine",
                "\(c.cuisines.count) distinct cuisines; the engine keeps at most \(Catalog.maximumCuisines) (a venue's "
                    + "tags are one bit each)"
            )
        }
        let cuisineOf = MarketplaceImport.lookup(cuisine, in: c.cuisines)
        c.venueCuisine = [UInt8](repeating: 0, count: n)
        c.venueTags = [UInt64](repeating: 0, count: n)
        let tags = t.column("tags")
        let tagOf = tags.map { MarketplaceImport.lookup($0, in: c.cuisines) } ?? []
        var unknownTags = 0
        for v in 0..<n {
            guard cuisine.present[v], cuisine.codes[v] >= 0, let index = cuisineOf[Int(cuisine.codes[v])] else {
                throw CatalogMappingError(
                    file,
                    record: t.ids[v],
                    field: "cuisine",
                    "no cuisine (the engine needs one per venue)"
                )
            }
            c.venueCuisine[v] = UInt8(index)
            var bits = UInt64(1) << UInt64(index)
            if let tags, tags.present[v] {
                for entry in tags.entries(v) {
                    if let tag = tagOf[Int(tags.codes[entry])] {
                        bits |= UInt64(1) << UInt64(tag)
                    } else {
                        unknownTags += 1
                    }
                }
            }
            c.venueTags[v] = bits
        }
        c.venuePriceLevel = MarketplaceImport.numbers(t.column("price_level"), n, default: 2) {
            UInt8(clamping: Int($0.rounded()))
        }
        c.venueRating = MarketplaceImport.numbers(t.column("rating"), n, default: .nan) { Float($0) }
        c.venuePrepMinutes = MarketplaceImport.numbers(t.column("prep_minutes"), n, default: 20) {
            UInt8(clamping: Int($0.rounded()))
        }
        c.venueAvailable = MarketplaceImport.numbers(t.column("available"), n, default: true) { $0 != 0 }
        c.venueCreatedDay = [Int32](repeating: -3650, count: n)
        if let created = t.column("created_at") {
            let referenceDay = self.referenceDay
            for v in 0..<n where created.present[v] {
                c.venueCreatedDay[v] = Int32(clamping: MarketplaceImport.day(created.integers[v]) - referenceDay)
            }
        }
        c.venuePopularity = MarketplaceImport.numbers(t.column("popularity"), n, default: 0) { Float($0) }
        let allPopular = t.column("popularity")?.present.allSatisfy { $0 } ?? false
        c.venueImpressions = MarketplaceImport.numbers(t.column("impressions"), n, default: 0) { Float($0) }
        c.venueClicks = MarketplaceImport.numbers(t.column("clicks"), n, default: 0) { Float($0) }
        c.venueEmbedding = MarketplaceImport.embeddings(t.column("embedding"), n, dimension: d)
        c.venueBrand = [Int32](repeating: -1, count: n)
        if let brand = t.column("brand") {
            // Brands named b1…bN keep their index (explain shows them); other names are numbered in order of first
            // appearance, which is venue order.
            let names = (0..<brand.names.count).map { brand.names[$0] }
            let positional = names.allSatisfy {
                MarketplaceImport.index($0, prefix: "b", count: Int(Int32.max)) != nil
            }
            let codes = names.enumerated().map { entry, name in
                positional ? Int32(MarketplaceImport.index(name, prefix: "b", count: Int(Int32.max))!) : Int32(entry)
            }
            for v in 0..<n where brand.present[v] { c.venueBrand[v] = codes[Int(brand.codes[v])] }
        }
        c.brandCount = Int(c.venueBrand.max() ?? -1) + 1
        c.venueDisplay = DisplayValues.columns(t, targets: targets)
        c.venueIDs = try MarketplaceImport.ids(t.ids, prefix: "v", file: file)
        c.venueNumbers = MarketplaceImport.otherNumbers(t)
        if weekly > 0 {
            // Only when some venue's week is not one interval a day: otherwise the daily columns are exact.
            c.venueHoursStart = hoursStart
            c.venueHours = hours
            notes.append("\(weekly) venues have different hours on different days or several intervals a day")
        }
        if unknownTags > 0 { notes.append("\(unknownTags) venue tags are not cuisines of any venue; ignored") }
        if otherZone > 0 {
            notes.append(
                "\(otherZone) venues have opening hours in another time zone than their market's; "
                    + "read in the market's time zone"
            )
        }
        return allPopular
    }

    /// The number attributes of a kind that the mapping does not read (`expected`), NaN where an entity has none: the
    /// columns surfaces may name as attribute features.
    static func otherNumbers(_ t: EntityTable) -> [String: [Double]] {
        let mapped = expected[t.kind.name] ?? [:]
        var out: [String: [Double]] = [:]
        for spec in t.kind.attributes where spec.type == .number && mapped[spec.name] == nil {
            guard let column = t.column(spec.name) else { continue }
            out[spec.name] = numbers(column, t.count, default: .nan) { $0 }
        }
        return out
    }

    /// A number column converted per entity, `fallback` where an entity has no value.
    static func numbers<T>(_ column: AttributeColumn?, _ n: Int, default fallback: T, _ convert: (Double) -> T) -> [T] {
        guard let column else { return [T](repeating: fallback, count: n) }
        return (0..<n).map { column.present[$0] ? convert(column.numbers[$0]) : fallback }
    }

    /// `dimension` floats per entity, zeros where an entity has none.
    static func embeddings(_ column: AttributeColumn?, _ n: Int, dimension d: Int) -> [Float] {
        guard let column, column.dimension == d else { return [Float](repeating: 0, count: n * d) }
        return column.floats
    }

    /// One daily interval from a weekly schedule: days without an interval are closed days; when the open days'
    /// intervals differ, the latest opening and earliest closing (the time all are open) stand, or the first
    /// interval when they do not overlap. `exact` is false when the schedule had to be narrowed.
    static func daily(
        _ intervals: ArraySlice<OpenInterval>
    ) -> (open: UInt16, close: UInt16, closedDays: UInt8, exact: Bool) {
        guard let first = intervals.first else { return (0, 0, 0x7F, true) }
        var closed: UInt8 = 0x7F
        var open = first.openMinute
        var close = first.closeMinute
        var exact = true
        var days = 0
        var repeatedDay = false
        for interval in intervals {
            closed &= ~(UInt8(1) << UInt8(interval.weekday - 1))
            let bit = 1 << interval.weekday
            if days & bit != 0 { repeatedDay = true }
            days |= bit
            if interval.openMinute != first.openMinute || interval.closeMinute != first.closeMinute { exact = false }
            open = max(open, interval.openMinute)
            close = min(close, interval.closeMinute)
        }
        if repeatedDay { exact = false }
        if close <= open {
            open = first.openMinute
            close = first.closeMinute
        }
        return (UInt16(open), UInt16(close), closed, exact)
    }

    /// Reads every item, grouped by venue; true when every one carries its popularity and popularity rank, and each
    /// table entry's position in the catalog (nil when the file was already grouped).
    private mutating func readItems(
        _ t: EntityTable,
        targets: [String: StringTable],
        into c: inout CatalogColumns
    ) throws -> (Bool, [Int32]?) {
        let file = "item.pb"
        let n = t.count
        c.itemCount = n
        guard let venue = t.column("venue") else { throw CatalogMappingError(file, "items need a venue") }
        for i in 0..<n where !venue.present[i] || venue.codes[i] < 0 || Int(venue.codes[i]) >= c.venueCount {
            throw CatalogMappingError(file, record: t.ids[i], field: "venue", "no venue")
        }
        // A menu is a range of item positions, so items are grouped by venue, in venue order, keeping file order
        // within a venue. Files already in that order (the demo's) are left as they are.
        var order: [Int]?
        if zip(venue.codes, venue.codes.dropFirst()).contains(where: { $0 > $1 }) {
            order = (0..<n).sorted { (venue.codes[$0], $0) < (venue.codes[$1], $1) }
            notes.append("items regrouped by venue (the engine keeps each menu together)")
        }
        func ordered<T>(_ values: [T]) -> [T] { order.map { $0.map { values[$0] } } ?? values }
        c.itemVenue = ordered(venue.codes)
        c.itemCategory = [UInt8](repeating: 0, count: n)
        if let category = t.column("category") {
            c.itemCategories =
                MarketplaceImport.vocabulary(category, undeclared: MarketplaceImport.undeclaredItemCategories).values
            guard c.itemCategories.count <= 256 else {
                throw CatalogMappingError(
                    file,
                    field: "category",
                    "\(c.itemCategories.count) distinct item categories; the engine keeps at most 256"
                )
            }
            let categoryOf = MarketplaceImport.lookup(category, in: c.itemCategories)
            for i in 0..<n where category.present[i] && category.codes[i] >= 0 {
                c.itemCategory[i] = UInt8(categoryOf[Int(category.codes[i])] ?? 0)
            }
            c.itemCategory = ordered(c.itemCategory)
        }
        c.itemPrice = ordered(MarketplaceImport.numbers(t.column("price"), n, default: 0) { Float($0) })
        c.itemAvailable = ordered(MarketplaceImport.numbers(t.column("available"), n, default: true) { $0 != 0 })
        var allPopular = false
        c.itemPopularity = [Float](repeating: 0, count: n)
        c.itemPopularityRank = [UInt16](repeating: 0, count: n)
        if let popularity = t.column("popularity"), let rank = t.column("popularity_rank") {
            allPopular = true
            for i in 0..<n {
                if popularity.present[i] && rank.present[i] {
                    c.itemPopularity[i] = Float(popularity.numbers[i])
                    c.itemPopularityRank[i] = UInt16(clamping: Int(rank.numbers[i].rounded()))
                } else {
                    allPopular = false
                }
            }
            c.itemPopularity = ordered(c.itemPopularity)
            c.itemPopularityRank = ordered(c.itemPopularityRank)
        }
        c.itemDisplay = DisplayValues.columns(t, targets: targets, order: order)
        c.itemIDs = try MarketplaceImport.ids(t.ids, prefix: "i", order: order, file: file)
        c.itemNumbers = MarketplaceImport.otherNumbers(t).mapValues { ordered($0) }
        c.venueItemStart = [Int32](repeating: 0, count: c.venueCount + 1)
        for i in 0..<n { c.venueItemStart[Int(c.itemVenue[i]) + 1] = Int32(i + 1) }
        for v in 0..<c.venueCount where c.venueItemStart[v + 1] < c.venueItemStart[v] {
            c.venueItemStart[v + 1] = c.venueItemStart[v]
        }
        var position: [Int32]?
        if let order {
            var inverse = [Int32](repeating: 0, count: n)
            for (k, entry) in order.enumerated() { inverse[entry] = Int32(k) }
            position = inverse
        }
        return (allPopular, position)
    }

    private mutating func readUsers(_ t: EntityTable, itemPosition: [Int32]?, into c: inout CatalogColumns) throws {
        let file = "user.pb"
        let d = c.embeddingDimension
        let cuisines = c.cuisines.count
        let n = t.count
        c.userCount = n
        guard let home = t.column("home") else { throw CatalogMappingError(file, "users need a home and a market") }
        for u in 0..<n where !home.present[u] {
            throw CatalogMappingError(file, record: t.ids[u], field: "home", "no home")
        }
        c.userLatitude = home.latitudes
        c.userLongitude = home.longitudes
        c.userAffinity = [UInt8](repeating: 0, count: n * cuisines)
        if let affinity = t.column("cuisine_affinity"), affinity.dimension == cuisines {
            for u in 0..<n where affinity.present[u] {
                for k in 0..<cuisines {
                    c.userAffinity[u * cuisines + k] = UInt8(
                        (min(max(affinity.floats[u * cuisines + k], 0), 1) * 255).rounded()
                    )
                }
            }
        }
        c.userEmbedding = MarketplaceImport.embeddings(t.column("embedding"), n, dimension: d)
        c.userIDs = try MarketplaceImport.ids(t.ids, prefix: "u", file: file)
        // The history columns' arrays, bound once: binding an optional column inside the loop would copy the whole
        // column (a dozen arrays' reference counts) per user.
        let empty = HistoryArrays(present: [], codes: [], times: [], starts: [])
        let orders = t.column("orders").map(HistoryArrays.init) ?? empty
        let items = t.column("ordered_items").map(HistoryArrays.init) ?? empty
        // Orders oldest first; each takes up to two items ordered at its exact time from its venue.
        c.userOrderStart = [Int32](repeating: 0, count: n + 1)
        let total = orders.starts.isEmpty ? 0 : Int(orders.starts[n])
        c.orderVenue.reserveCapacity(total)
        c.orderDay.reserveCapacity(total)
        c.orderItem.reserveCapacity(total)
        c.orderItem2.reserveCapacity(total)
        var unmatchedItems = 0
        var venueOrders: [Int] = []
        var itemOrders: [Int] = []
        var used: [Bool] = []
        let referenceDay = self.referenceDay
        // Each ordered item's engine position and venue, per history entry, gathered before the matching: the
        // items sit at random places in a large column, and a plain loop of independent reads overlaps their cache
        // misses, where the matching's branches would wait for each one.
        let itemVenue = c.itemVenue
        let byFilePosition: [(position: Int32, venue: Int32)] = (0..<itemVenue.count).map { raw in
            let item = itemPosition.map { $0[raw] } ?? Int32(raw)
            return (item, itemVenue[Int(item)])
        }
        let orderedItem = items.codes.map { byFilePosition[Int($0)] }
        for u in 0..<n {
            venueOrders.removeAll(keepingCapacity: true)
            itemOrders.removeAll(keepingCapacity: true)
            if orders.has(u) { venueOrders.append(contentsOf: orders.entries(u)) }
            if items.has(u) { itemOrders.append(contentsOf: items.entries(u)) }
            // Stable by time: entries are numbered in history order, so ties keep it.
            if !MarketplaceImport.isSorted(venueOrders, orders.times) {
                venueOrders.sort { (orders.times[$0], $0) < (orders.times[$1], $1) }
            }
            if !MarketplaceImport.isSorted(itemOrders, items.times) {
                itemOrders.sort { (items.times[$0], $0) < (items.times[$1], $1) }
            }
            used.removeAll(keepingCapacity: true)
            used.append(contentsOf: repeatElement(false, count: itemOrders.count))
            var j = 0
            for entry in venueOrders {
                let v = orders.codes[entry]
                let time = orders.times[entry]
                while j < itemOrders.count && items.times[itemOrders[j]] < time {
                    if !used[j] { unmatchedItems += 1 }
                    j += 1
                }
                var picked = (Int32(-1), Int32(-1))
                var pickedCount = 0
                var k = j
                while k < itemOrders.count && items.times[itemOrders[k]] == time && pickedCount < 2 {
                    let item = orderedItem[itemOrders[k]]
                    if !used[k] && item.venue == v {
                        used[k] = true
                        if pickedCount == 0 { picked.0 = item.position } else { picked.1 = item.position }
                        pickedCount += 1
                    }
                    k += 1
                }
                c.orderVenue.append(v)
                c.orderDay.append(Int16(clamping: MarketplaceImport.day(time) - referenceDay))
                c.orderItem.append(picked.0)
                c.orderItem2.append(picked.1)
            }
            for k in j..<itemOrders.count where !used[k] { unmatchedItems += 1 }
            c.userOrderStart[u + 1] = Int32(c.orderVenue.count)
        }
        if unmatchedItems > 0 {
            notes.append("\(unmatchedItems) ordered items match no venue order at their time; not counted")
        }
    }

    /// The arrays of a history column that the order matching reads (empty when the schema has no such column).
    struct HistoryArrays {
        let present: [Bool]
        /// Target positions, per entry.
        let codes: [Int32]
        /// Unix milliseconds, per entry.
        let times: [Int64]
        let starts: [Int32]

        init(present: [Bool], codes: [Int32], times: [Int64], starts: [Int32]) {
            self.present = present
            self.codes = codes
            self.times = times
            self.starts = starts
        }

        init(_ column: AttributeColumn) {
            self.init(present: column.present, codes: column.codes, times: column.integers, starts: column.starts)
        }

        func has(_ k: Int) -> Bool { k < present.count && present[k] }
        func entries(_ k: Int) -> Range<Int> { Int(starts[k])..<Int(starts[k + 1]) }
    }

    /// Whether the entries are in time order already (the demo writes them so).
    static func isSorted(_ entries: [Int], _ times: [Int64]) -> Bool {
        zip(entries, entries.dropFirst()).allSatisfy { times[$0] <= times[$1] }
    }
}
