import Foundation

/// The demo marketplace: a catalog generated from a fixed seed, plus the hidden truth that produced its order
/// histories.
///
/// Orders are drawn from a hidden utility (cuisine taste, a latent embedding match, venue quality, distance, price
/// fit, time of day and habit) that the ranking never sees directly; it sees only noisy, observable traces of it
/// (declared affinities, embeddings, ratings, order histories). That gap is what makes a learned model beat
/// popularity, and it is kept here so the interaction log and the evaluation can ask "what would this user order".
public struct DemoMarketplace: Sendable {
    /// The observable catalog the engine serves.
    public let catalog: Catalog
    /// The truth behind it, for simulating sessions.
    let truth: HiddenTruth
    /// Seed the marketplace was generated from.
    public let seed: UInt64

    /// Default number of venues at scale 1.
    public static let defaultVenues = 20_000
    /// Default number of users at scale 1.
    public static let defaultUsers = 200_000
    static let meanItemsPerVenue = 20

    /// Generates the marketplace; the same seed and scale always give the same data.
    /// - Parameters:
    ///   - scale: multiplies the default 20k venues, ~400k items and 200k users (`scale: 5` gives 1M+ of each).
    ///   - referenceDay: the UTC day the snapshot is "as of"; defaults to today so ages and recencies stay
    ///     meaningful for live requests (the data itself does not depend on it).
    public static func generate(seed: UInt64 = 42, scale: Double = 1.0, referenceDay: Int? = nil) -> DemoMarketplace {
        precondition(scale > 0 && scale.isFinite, "scale must be positive")
        var generator = Generator(seed: seed, scale: scale)
        let today = Int((Date().timeIntervalSince1970 / 86_400).rounded(.down))
        generator.catalog.referenceDay = referenceDay ?? today
        generator.run()
        return DemoMarketplace(catalog: Catalog(generator.catalog), truth: generator.truth, seed: seed)
    }
}

/// What generated the orders; never read by the serving pipeline.
struct HiddenTruth: Sendable {
    var venueQuality: [Float] = []
    var venueLatent: [Float] = []
    var itemQuality: [Float] = []
    /// Each item's pairing group within its venue (`0..<pairingGroups`): a dish goes best with the other courses
    /// of its group (this burger with these fries and that shake), which only orders of two items reveal.
    var itemPairing: [UInt8] = []
    var userTaste: [Float] = []
    /// Per user per cuisine, 0...1.
    var userTrueAffinity: [Float] = []
    var userPricePreference: [Float] = []
    var cuisineCentroids: [Float] = []

    static let cuisineCount = Marketplace.cuisines.count
    static let dimension = Marketplace.embeddingDimension

    /// The user's utility of ordering from `venue` at local `hour`, before habit and noise.
    func utility(catalog: Catalog, user: Int, venue: Int, distanceKm: Double, hour: Int) -> Double {
        let d = HiddenTruth.dimension
        let cuisine = Int(catalog.venueCuisine[venue])
        var dot: Float = 0
        for k in 0..<d { dot += userTaste[user * d + k] * venueLatent[venue * d + k] }
        let priceGap = abs(Float(catalog.venuePriceLevel[venue]) - userPricePreference[user])
        var u = 3.0 * Double(userTrueAffinity[user * HiddenTruth.cuisineCount + cuisine])
        u += 1.5 * Double(dot)
        u += 0.7 * Double(venueQuality[venue])
        u -= 0.35 * distanceKm
        u -= 0.6 * Double(priceGap)
        u -= 0.03 * Double(catalog.venuePrepMinutes[venue])
        u += HiddenTruth.timeOfDayTable[cuisine * 24 + min(max(hour, 0), 23)]
        return u
    }

    /// `timeOfDayEffect` for every cuisine and hour, so the generator's inner loop compares no strings.
    static let timeOfDayTable: [Double] = (0..<cuisineCount).flatMap { c in
        (0..<24).map { timeOfDayEffect(cuisine: c, hour: $0) }
    }

    /// Category effect on item utility by category and hour.
    static let itemCategoryTable: [Double] = Marketplace.itemCategories.flatMap { category in
        (0..<24).map { hour -> Double in
            switch category {
            case "main": return 1.2
            case "starter": return hour >= 17 ? 0.3 : -0.3
            case "drink": return 0.0
            case "dessert": return hour >= 19 ? 0.4 : -0.5
            default: return -0.2
            }
        }
    }

    static func timeOfDayEffect(cuisine: Int, hour: Int) -> Double {
        switch Marketplace.cuisines[cuisine] {
        case "breakfast": return hour < 11 ? 1.5 : -1.0
        case "dessert": return hour >= 19 ? 0.8 : -0.4
        case "grocery": return hour >= 17 && hour < 20 ? 0.5 : -0.3
        case "pizza", "burger": return hour >= 21 || hour < 3 ? 0.6 : 0
        case "healthy": return hour >= 11 && hour < 15 ? 0.5 : -0.2
        default: return 0
        }
    }

    /// The user's utility of an item inside a venue at local `hour`, before habit and noise.
    func itemUtility(catalog: Catalog, user: Int, item: Int, hour: Int) -> Double {
        var u = 1.0 * Double(itemQuality[item])
        u += HiddenTruth.itemCategoryTable[Int(catalog.itemCategory[item]) * 24 + min(max(hour, 0), 23)]
        let venuePrice = Double(catalog.venuePriceLevel[Int(catalog.itemVenue[item])])
        let relativePrice = Double(catalog.itemPrice[item]) / (4 + 4 * venuePrice)
        u -= (1.2 - 0.25 * Double(userPricePreference[user])) * relativePrice
        return u
    }

    /// Pairing groups per venue: few enough that every group holds a main and some sides, drinks or desserts.
    static let pairingGroups = 3

    /// Lost by an item whose category (index into `Marketplace.itemCategories`) the cart already holds, per item
    /// of it: a second main or a second drink is rarely wanted.
    static let repeatedCategoryPenalty: [Double] = [3.0, 2.0, 1.5, 2.5, 2.0]
    /// Gained by a course the cart lacks when it holds a main: a main wants a side, a drink, maybe a dessert.
    static let completesMealBonus: [Double] = [0, 1.0, 1.5, 1.6, 1.2]
    /// Gained per cart item of another category in the item's pairing group.
    static let pairingBonus = 2.0

    /// What `item` is worth on top of ``itemUtility(catalog:user:item:hour:)`` to a user whose cart (items of the
    /// same venue) already holds `cart`. Zero for an empty cart, so a first item is chosen on its own merits.
    func complement(catalog: Catalog, item: Int, cart: [Int]) -> Double {
        guard !cart.isEmpty else { return 0 }
        let category = Int(catalog.itemCategory[item])
        var u = 0.0
        var hasMain = false
        for other in cart {
            let otherCategory = Int(catalog.itemCategory[other])
            if otherCategory == 0 { hasMain = true }
            if otherCategory == category {
                u -= HiddenTruth.repeatedCategoryPenalty[category]
            } else if itemPairing[other] == itemPairing[item] {
                u += HiddenTruth.pairingBonus
            }
        }
        if hasMain && category != 0 { u += HiddenTruth.completesMealBonus[category] }
        return u
    }

    /// The user's utility of adding `item` to `cart`, before habit and noise.
    func itemUtility(catalog: Catalog, user: Int, item: Int, hour: Int, cart: [Int]) -> Double {
        itemUtility(catalog: catalog, user: user, item: item, hour: hour)
            + complement(catalog: catalog, item: item, cart: cart)
    }
}

/// The generation steps, in order; each step only reads what earlier ones wrote.
private struct Generator {
    var rng: SplitMix64
    /// A stream of its own for item pairings and the second item of orders, so everything drawn from `rng` (venues,
    /// users, the venue, day and first item of every order) is exactly what it was before items had complements.
    var pairRNG: SplitMix64
    let scale: Double
    var catalog = CatalogColumns()
    /// A frozen copy of the venue and item columns, for the read-only queries order generation makes.
    var view: Catalog!
    var truth = HiddenTruth()
    var brandCuisine: [UInt8] = []
    var brandPrice: [UInt8] = []
    var brandQuality: [Float] = []

    init(seed: UInt64, scale: Double) {
        rng = SplitMix64(seed: seed)
        pairRNG = SplitMix64(seed: seed ^ 0xC0A7_5EC0_9D17_E5A1)
        self.scale = scale
        catalog.snapshotID = "generated-demo-marketplace-seed\(seed)-scale\(scale)"
    }

    mutating func run() {
        let timing = ProcessInfo.processInfo.environment["RANKD_GENERATOR_TIMING"] != nil
        var last = Date()
        func step(_ name: String) {
            guard timing else { return }
            print(String(format: "  %@: %.2f s", name, Date().timeIntervalSince(last)))
            last = Date()
        }
        makeCentroids()
        makeBrands()
        makeVenues()
        step("venues")
        makeItems()
        step("items")
        catalog.deriveSpatialIndex()
        view = Catalog(catalog)
        step("spatial index")
        makeUsers()
        step("users")
        makeOrders()
        step("orders")
        catalog.derivePopularity()
        step("popularity")
        catalog.deriveCovisitation()
        step("co-visitation")
        catalog.deriveCityLists()
        step("city lists")
    }

    mutating func makeCentroids() {
        let d = HiddenTruth.dimension
        truth.cuisineCentroids = (0..<(HiddenTruth.cuisineCount * d)).map { _ in
            Float(rng.normal()) / Float(d).squareRoot() * 1.6
        }
    }

    mutating func makeBrands() {
        let count = max(3, Int(300 * scale))
        catalog.brandCount = count
        for _ in 0..<count {
            brandCuisine.append(UInt8(pickCuisine()))
            brandPrice.append(UInt8(1 + rng.below(3)))
            brandQuality.append(Float(rng.normal() * 0.8))
        }
    }

    /// Cuisines are not equally common: pizza and burgers outnumber Greek places.
    mutating func pickCuisine() -> Int {
        let weights: [Double] = [14, 12, 8, 8, 8, 6, 5, 8, 6, 4, 6, 3, 3, 3, 3, 3]
        var r = rng.unit() * 100
        for (i, w) in weights.enumerated() {
            r -= w
            if r < 0 { return i }
        }
        return 0
    }

    mutating func offset(sigmaKm: Double, maxKm: Double) -> (Double, Double) {
        var dx = rng.normal() * sigmaKm
        var dy = rng.normal() * sigmaKm
        let r = (dx * dx + dy * dy).squareRoot()
        if r > maxKm {
            dx *= maxKm / r
            dy *= maxKm / r
        }
        return (dx, dy)
    }

    mutating func makeVenues() {
        let total = max(50, Int(Double(DemoMarketplace.defaultVenues) * scale))
        catalog.venueCount = total
        let d = HiddenTruth.dimension
        // Zipf-like chain sizes: a few brands have hundreds of venues.
        var brandCumulative: [Double] = []
        var acc = 0.0
        for b in 0..<catalog.brandCount {
            acc += 1 / pow(Double(b + 1), 0.9)
            brandCumulative.append(acc)
        }
        var cityEnds: [Int] = []
        var cumulative = 0.0
        for city in Marketplace.cities {
            cumulative += city.weight
            cityEnds.append(Int((Double(total) * cumulative).rounded()))
        }
        cityEnds[cityEnds.count - 1] = total
        var city = 0
        for v in 0..<total {
            while v >= cityEnds[city] { city += 1 }
            let cityInfo = Marketplace.cities[city]
            let sigma = rng.unit() < 0.7 ? 3.0 : 7.0
            let (dx, dy) = offset(sigmaKm: sigma, maxKm: 24)
            let lonScale = Geo.kmPerDegreeLongitude(atLatitude: cityInfo.latitude)
            catalog.venueCity.append(UInt8(city))
            catalog.venueLatitude.append(cityInfo.latitude + dy / Geo.kmPerDegreeLatitude)
            catalog.venueLongitude.append(cityInfo.longitude + dx / lonScale)

            var cuisine: Int
            var price: Int
            var quality: Float
            if rng.unit() < 0.25 {
                let r = rng.unit() * acc
                var lo = 0
                var hi = brandCumulative.count - 1
                while lo < hi {
                    let mid = (lo + hi) / 2
                    if brandCumulative[mid] < r { lo = mid + 1 } else { hi = mid }
                }
                catalog.venueBrand.append(Int32(lo))
                cuisine = Int(brandCuisine[lo])
                price = Int(brandPrice[lo])
                quality = brandQuality[lo] + Float(rng.normal() * 0.3)
            } else {
                catalog.venueBrand.append(-1)
                cuisine = pickCuisine()
                let p = rng.unit()
                price = p < 0.25 ? 1 : p < 0.65 ? 2 : p < 0.9 ? 3 : 4
                quality = Float(rng.normal())
            }
            truth.venueQuality.append(quality)
            catalog.venueCuisine.append(UInt8(cuisine))
            var tags = UInt32(1) << UInt32(cuisine)
            if rng.unit() < 0.3 { tags |= UInt32(1) << UInt32(pickCuisine()) }
            catalog.venueTags.append(tags)
            catalog.venuePriceLevel.append(UInt8(price))
            let rating = min(5.0, max(2.5, 4.2 + 0.3 * Double(quality) + 0.15 * rng.normal()))
            catalog.venueRating.append(Float((rating * 10).rounded() / 10))
            let prep = min(45, max(8, 18 + 6 * rng.normal() + (cuisine == 13 ? -8 : 0)))
            catalog.venuePrepMinutes.append(UInt8(prep))
            catalog.venueRadiusKm.append(Float(2.5 + 3.5 * rng.unit()))
            let name = Marketplace.cuisines[cuisine]
            let open: Int
            var close: Int
            if name == "breakfast" {
                open = 6 * 60 + rng.below(3) * 30
                close = 14 * 60 + rng.below(5) * 60
            } else if name == "grocery" {
                open = 8 * 60
                close = 22 * 60
            } else {
                open = 10 * 60 + rng.below(5) * 30
                close = 20 * 60 + rng.below(7) * 30
                if (name == "pizza" || name == "burger") && rng.unit() < 0.3 {
                    close = 24 * 60 + 60 + rng.below(3) * 30
                }
            }
            catalog.venueOpenMinute.append(UInt16(open))
            catalog.venueCloseMinute.append(UInt16(close))
            catalog.venueClosedDays.append(rng.unit() < 0.12 ? UInt8(1 << rng.below(7)) : 0)
            catalog.venueAvailable.append(rng.unit() < 0.97)
            let isNew = rng.unit() < 0.08
            catalog.venueCreatedDay.append(
                Int32(isNew ? -rng.below(Marketplace.newVenueDays) : -(30 + rng.below(2500)))
            )
            for k in 0..<d {
                let latent =
                    0.8 * truth.cuisineCentroids[cuisine * d + k] + Float(0.6 * rng.normal() / Double(d).squareRoot())
                truth.venueLatent.append(latent)
                catalog.venueEmbedding.append(latent + Float(0.3 * rng.normal() / Double(d).squareRoot()))
            }
            // Exploration prior: what the venue's impressions and clicks have been so far.
            let impressions = isNew ? Float(rng.below(40)) : Float(200 + rng.below(2000))
            let clickRate = 1 / (1 + exp(-(Double(quality) - 2)))
            catalog.venueImpressions.append(impressions)
            catalog.venueClicks.append((impressions * Float(clickRate) * Float(0.8 + 0.4 * rng.unit())).rounded())
        }
    }

    mutating func makeItems() {
        let v = catalog.venueCount
        catalog.venueItemStart.reserveCapacity(v + 1)
        catalog.venueItemStart.append(0)
        let basePrice: [Float] = [12, 6, 4, 3, 5]
        for venue in 0..<v {
            let count = DemoMarketplace.meanItemsPerVenue - 10 + rng.below(21)
            let grocery = catalog.venueCuisine[venue] == 13
            let level = Float(catalog.venuePriceLevel[venue])
            for _ in 0..<count {
                let r = rng.unit()
                let category = grocery ? (r < 0.8 ? 0 : 3) : r < 0.45 ? 0 : r < 0.6 ? 1 : r < 0.75 ? 2 : r < 0.9 ? 3 : 4
                catalog.itemVenue.append(Int32(venue))
                catalog.itemCategory.append(UInt8(category))
                let price = basePrice[category] * (0.6 + 0.35 * level) * Float(0.8 + 0.4 * rng.unit())
                catalog.itemPrice.append((price * 10).rounded() / 10)
                catalog.itemAvailable.append(rng.unit() < 0.98)
                truth.itemQuality.append(Float(rng.normal()))
            }
            catalog.venueItemStart.append(Int32(catalog.itemVenue.count))
        }
        catalog.itemCount = catalog.itemVenue.count
        truth.itemPairing = (0..<catalog.itemCount).map { _ in UInt8(pairRNG.below(HiddenTruth.pairingGroups)) }
    }

    mutating func makeUsers() {
        let total = max(100, Int(Double(DemoMarketplace.defaultUsers) * scale))
        catalog.userCount = total
        let d = HiddenTruth.dimension
        let cc = HiddenTruth.cuisineCount
        catalog.userAffinity.reserveCapacity(total * cc)
        var affinity = [Float](repeating: 0, count: cc)
        var taste = [Float](repeating: 0, count: d)
        var weights: [Double] = []
        var favourites: [Int] = []
        for _ in 0..<total {
            var r = rng.unit()
            var city = 0
            for (i, c) in Marketplace.cities.enumerated() {
                r -= c.weight
                if r < 0 {
                    city = i
                    break
                }
            }
            let info = Marketplace.cities[city]
            let (dx, dy) = offset(sigmaKm: 5, maxKm: 20)
            catalog.userCity.append(UInt8(city))
            catalog.userLatitude.append(info.latitude + dy / Geo.kmPerDegreeLatitude)
            catalog.userLongitude.append(info.longitude + dx / Geo.kmPerDegreeLongitude(atLatitude: info.latitude))
            for c in 0..<cc { affinity[c] = 0.05 }
            for k in 0..<d { taste[k] = 0 }
            weights.removeAll(keepingCapacity: true)
            favourites.removeAll(keepingCapacity: true)
            while favourites.count < 3 {
                let c = pickCuisine()
                if !favourites.contains(c) {
                    favourites.append(c)
                    weights.append(rng.gamma(shape: 1.5))
                }
            }
            let sum = weights.reduce(0, +)
            for (c, w) in zip(favourites, weights) { affinity[c] += Float(w / sum) }
            for c in 0..<cc where affinity[c] > 0.1 {
                for k in 0..<d { taste[k] += affinity[c] * truth.cuisineCentroids[c * d + k] }
            }
            for k in 0..<d {
                taste[k] += Float(0.5 * rng.normal() / Double(d).squareRoot())
                truth.userTaste.append(taste[k])
                catalog.userEmbedding.append(taste[k] + Float(0.35 * rng.normal() / Double(d).squareRoot()))
            }
            for c in 0..<cc {
                truth.userTrueAffinity.append(affinity[c])
                // What the user declared in the app: their taste, blurred.
                let declared = min(1, max(0, Double(affinity[c]) + 0.12 * rng.normal()))
                catalog.userAffinity.append(UInt8((declared * 255).rounded()))
            }
            truth.userPricePreference.append(Float(min(4, max(1, 2.2 + 0.8 * rng.normal()))))
        }
    }

    /// A meal-time local hour: most orders are lunch or dinner.
    mutating func mealHour() -> Int {
        let r = rng.unit()
        if r < 0.4 { return 11 + rng.below(3) }
        if r < 0.9 { return 17 + rng.below(5) }
        return [8, 9, 15, 16, 22, 23][rng.below(6)]
    }

    mutating func makeOrders() {
        let users = catalog.userCount
        catalog.userOrderStart.reserveCapacity(users + 1)
        catalog.userOrderStart.append(0)
        var visited: [Int32] = []
        var days: [Int] = []
        for u in 0..<users {
            let zero = rng.unit() < 0.15
            var n = zero ? 0 : 1
            if !zero { while n < 40 && rng.unit() < 0.85 { n += 1 } }
            days.removeAll(keepingCapacity: true)
            for _ in 0..<n { days.append(-1 - rng.below(180)) }
            days.sort()
            visited.removeAll(keepingCapacity: true)
            for day in days {
                let hour = mealHour()
                guard let venue = chooseVenue(user: u, hour: hour, day: day, visited: visited) else { continue }
                if !visited.contains(Int32(venue)) { visited.append(Int32(venue)) }
                catalog.orderVenue.append(Int32(venue))
                catalog.orderDay.append(Int16(day))
                let (first, second) = chooseItems(user: u, venue: venue, hour: hour)
                catalog.orderItem.append(Int32(first))
                catalog.orderItem2.append(Int32(second))
            }
            catalog.userOrderStart.append(Int32(catalog.orderVenue.count))
        }
    }

    /// Samples a venue the user orders from: habit among past venues, or a softmax over a sample of nearby venues
    /// that deliver home and are open then.
    mutating func chooseVenue(user: Int, hour: Int, day: Int, visited: [Int32]) -> Int? {
        let lat = catalog.userLatitude[user]
        let lon = catalog.userLongitude[user]
        let city = Int(catalog.userCity[user])
        let lonScale = view.spatial.grids[city].lonScale
        let weekday = ((view.referenceDay + day) % 7 + 7 + 3) % 7  // 1970-01-01 was a Thursday
        let minute = hour * 60 + 30
        if !visited.isEmpty && rng.unit() < 0.4 {
            var best = -1
            var bestU = -Double.infinity
            for v32 in visited {
                let v = Int(v32)
                guard view.isOpen(v, weekday: weekday, minuteOfDay: minute) else { continue }
                let km = Geo.distanceKm(lat, lon, view.venueLatitude[v], view.venueLongitude[v], lonScale: lonScale)
                let u = truth.utility(catalog: view, user: user, venue: v, distanceKm: km, hour: hour) + rng.gumbel()
                if u > bestU {
                    bestU = u
                    best = v
                }
            }
            if best >= 0 { return best }
        }
        let grid = view.spatial.grids[city]
        let (cx, cy) = SpatialIndex.cellXY(grid, lat, lon)
        let side = SpatialIndex.cellsPerSide
        var best = -1
        var bestU = -Double.infinity
        for _ in 0..<16 {
            let x = cx + rng.below(13) - 6
            let y = cy + rng.below(13) - 6
            guard x >= 0, y >= 0, x < side, y < side else { continue }
            let cell = y * side + x
            let start = Int(grid.cellStart[cell])
            let count = Int(grid.cellStart[cell + 1]) - start
            guard count > 0 else { continue }
            let v = Int(grid.cellVenues[start + rng.below(count)])
            guard view.venueAvailable[v], view.isOpen(v, weekday: weekday, minuteOfDay: minute),
                Int(view.venueCreatedDay[v]) <= day
            else { continue }
            let km = Geo.distanceKm(lat, lon, view.venueLatitude[v], view.venueLongitude[v], lonScale: lonScale)
            guard km <= Double(view.venueRadiusKm[v]) else { continue }
            // log(count) corrects for sampling one venue per cell, so dense cells are not under-represented.
            let u =
                truth.utility(catalog: view, user: user, venue: v, distanceKm: km, hour: hour)
                + log(Double(count)) + rng.gumbel()
            if u > bestU {
                bestU = u
                best = v
            }
        }
        return best >= 0 ? best : nil
    }

    /// The items of an order: the first by the user's noisy item utility, and in half the orders a second, chosen
    /// given the first (``HiddenTruth/complement(catalog:item:cart:)``). The first item and whether there is a
    /// second use the same draws from `rng` as before complements; the second is drawn from `pairRNG`.
    mutating func chooseItems(user: Int, venue: Int, hour: Int) -> (Int, Int) {
        let items = Int(view.venueItemStart[venue])..<Int(view.venueItemStart[venue + 1])
        var first = -1
        var bestU = -Double.infinity
        for item in items {
            guard view.itemAvailable[item] else { continue }
            let u = truth.itemUtility(catalog: view, user: user, item: item, hour: hour) + rng.gumbel()
            if u > bestU {
                first = item
                bestU = u
            }
        }
        guard rng.unit() < 0.5, first >= 0 else { return (first, -1) }
        let cart = [first]
        var second = -1
        var secondU = -Double.infinity
        for item in items where item != first && view.itemAvailable[item] {
            let u = truth.itemUtility(catalog: view, user: user, item: item, hour: hour, cart: cart) + pairRNG.gumbel()
            if u > secondU {
                second = item
                secondU = u
            }
        }
        return (first, second)
    }
}
