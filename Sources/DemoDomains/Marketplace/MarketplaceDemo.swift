import Foundation

/// The marketplace demo: venues, their menus and users with order histories, generated from a fixed seed and
/// written as a snapshot of `schemas/marketplace.json`, plus the hidden truth that produced the orders
/// (``MarketplaceTruth``), which ``MarketplaceSessionSimulator`` uses for sessions after the snapshot.
///
/// At scale 1 there are 20,000 venues, about 400,000 items and 200,000 users; the scale multiplies all three.
public struct MarketplaceDemo: Sendable {
    /// What the snapshot holds.
    public let catalog: MarketplaceCatalog
    /// The truth behind it, for simulating sessions.
    let truth: MarketplaceTruth
    /// The venues of each city by 1 km cell, as the orders were drawn from them.
    let grid: MarketplaceGrid
    /// Seed the marketplace was generated from.
    public let seed: UInt64
    /// The generator's name for the data, `generated-demo-marketplace-seed<seed>-scale<scale>`: the snapshot id of
    /// the embedded demo.
    public let snapshotID: String

    /// Default number of venues at scale 1.
    public static let defaultVenues = 20_000
    /// Default number of users at scale 1.
    public static let defaultUsers = 200_000
    static let meanItemsPerVenue = 20

    /// Venues and users at `scale`: the defaults times the scale, at least 50 venues and 100 users.
    public static func counts(scale: Double) -> (venues: Int, users: Int) {
        (max(50, Int(Double(defaultVenues) * scale)), max(100, Int(Double(defaultUsers) * scale)))
    }

    /// Generates the marketplace; the same seed and scale always give the same data.
    /// - Parameters:
    ///   - scale: multiplies the default 20k venues, ~400k items and 200k users (`scale: 5` gives 1M+ of each).
    ///   - referenceDay: the UTC day the snapshot is "as of"; defaults to today so ages and recencies stay
    ///     meaningful for live requests (the data itself does not depend on it).
    public static func generate(seed: UInt64 = 42, scale: Double = 1.0, referenceDay: Int? = nil) -> MarketplaceDemo {
        precondition(scale > 0 && scale.isFinite, "scale must be positive")
        var generator = Generator(seed: seed, scale: scale)
        let today = Int((Date().timeIntervalSince1970 / 86_400).rounded(.down))
        generator.catalog.referenceDay = referenceDay ?? today
        generator.run()
        return MarketplaceDemo(
            catalog: generator.catalog,
            truth: generator.truth,
            grid: generator.grid,
            seed: seed,
            snapshotID: "generated-demo-marketplace-seed\(seed)-scale\(scale)"
        )
    }
}

/// The generation steps, in order; each step only reads what earlier ones wrote.
private struct Generator {
    var rng: DemoRandom
    /// A stream of its own for item pairings and the second item of orders, so everything drawn from `rng` (venues,
    /// users, the venue, day and first item of every order) is exactly what it was before items had complements.
    var pairRNG: DemoRandom
    let scale: Double
    var catalog = MarketplaceCatalog()
    /// A copy of the venue and item columns (sharing their storage), for the read-only queries order generation
    /// makes while the user and order columns grow.
    var view = MarketplaceCatalog()
    /// The venues of each city by 1 km cell, which users' orders are drawn from.
    var grid: MarketplaceGrid!
    var truth = MarketplaceTruth()
    var brandCuisine: [UInt8] = []
    var brandPrice: [UInt8] = []
    var brandQuality: [Float] = []

    init(seed: UInt64, scale: Double) {
        rng = DemoRandom(seed: seed)
        pairRNG = DemoRandom(seed: seed ^ 0xC0A7_5EC0_9D17_E5A1)
        self.scale = scale
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
        grid = MarketplaceGrid(catalog)
        view = catalog
        step("spatial index")
        makeUsers()
        step("users")
        makeOrders()
        step("orders")
        catalog.countPopularity()
        step("popularity")
    }

    mutating func makeCentroids() {
        let d = MarketplaceTruth.dimension
        truth.cuisineCentroids = (0..<(MarketplaceTruth.cuisineCount * d)).map { _ in
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
        let total = MarketplaceDemo.counts(scale: scale).venues
        catalog.venueCount = total
        let d = MarketplaceTruth.dimension
        // Zipf-like chain sizes: a few brands have hundreds of venues.
        var brandCumulative: [Double] = []
        var acc = 0.0
        for b in 0..<catalog.brandCount {
            acc += 1 / pow(Double(b + 1), 0.9)
            brandCumulative.append(acc)
        }
        var cityEnds: [Int] = []
        var cumulative = 0.0
        for city in MarketplaceVocabulary.cities {
            cumulative += city.weight
            cityEnds.append(Int((Double(total) * cumulative).rounded()))
        }
        cityEnds[cityEnds.count - 1] = total
        var city = 0
        for v in 0..<total {
            while v >= cityEnds[city] { city += 1 }
            let cityInfo = MarketplaceVocabulary.cities[city]
            let sigma = rng.unit() < 0.7 ? 3.0 : 7.0
            let (dx, dy) = offset(sigmaKm: sigma, maxKm: 24)
            let lonScale = MarketplaceGeo.kmPerDegreeLongitude(atLatitude: cityInfo.latitude)
            catalog.venueCity.append(UInt8(city))
            catalog.venueLatitude.append(cityInfo.latitude + dy / MarketplaceGeo.kmPerDegreeLatitude)
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
            let name = MarketplaceVocabulary.cuisines[cuisine]
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
                Int32(isNew ? -rng.below(MarketplaceVocabulary.newVenueDays) : -(30 + rng.below(2500)))
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
            let count = MarketplaceDemo.meanItemsPerVenue - 10 + rng.below(21)
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
        truth.itemPairing = (0..<catalog.itemCount).map { _ in UInt8(pairRNG.below(MarketplaceTruth.pairingGroups)) }
    }

    mutating func makeUsers() {
        let total = MarketplaceDemo.counts(scale: scale).users
        catalog.userCount = total
        let d = MarketplaceTruth.dimension
        let cc = MarketplaceTruth.cuisineCount
        catalog.userAffinity.reserveCapacity(total * cc)
        var affinity = [Float](repeating: 0, count: cc)
        var taste = [Float](repeating: 0, count: d)
        var weights: [Double] = []
        var favourites: [Int] = []
        for _ in 0..<total {
            var r = rng.unit()
            var city = 0
            for (i, c) in MarketplaceVocabulary.cities.enumerated() {
                r -= c.weight
                if r < 0 {
                    city = i
                    break
                }
            }
            let info = MarketplaceVocabulary.cities[city]
            let (dx, dy) = offset(sigmaKm: 5, maxKm: 20)
            catalog.userCity.append(UInt8(city))
            catalog.userLatitude.append(info.latitude + dy / MarketplaceGeo.kmPerDegreeLatitude)
            catalog.userLongitude.append(
                info.longitude + dx / MarketplaceGeo.kmPerDegreeLongitude(atLatitude: info.latitude)
            )
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
        // Locals, so the loops below pass them to the utility without copying them out of `self` each time.
        let (view, truth) = (self.view, self.truth)
        let lat = catalog.userLatitude[user]
        let lon = catalog.userLongitude[user]
        let city = Int(catalog.userCity[user])
        let lonScale = grid.cities[city].lonScale
        let weekday = ((view.referenceDay + day) % 7 + 7 + 3) % 7  // 1970-01-01 was a Thursday
        let minute = hour * 60 + 30
        func km(_ v: Int) -> Double {
            MarketplaceGeo.distanceKm(lat, lon, view.venueLatitude[v], view.venueLongitude[v], lonScale: lonScale)
        }
        if !visited.isEmpty && rng.unit() < 0.4 {
            var best = -1
            var bestU = -Double.infinity
            for v32 in visited {
                let v = Int(v32)
                guard view.isOpen(v, weekday: weekday, minuteOfDay: minute) else { continue }
                let u =
                    truth.utility(catalog: view, user: user, venue: v, distanceKm: km(v), hour: hour) + rng.gumbel()
                if u > bestU {
                    bestU = u
                    best = v
                }
            }
            if best >= 0 { return best }
        }
        let grid = self.grid.cities[city]
        let (cx, cy) = MarketplaceGrid.cellXY(grid, lat, lon)
        let side = MarketplaceGrid.cellsPerSide
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
            let distance = km(v)
            guard distance <= Double(view.venueRadiusKm[v]) else { continue }
            // log(count) corrects for sampling one venue per cell, so dense cells are not under-represented.
            let u =
                truth.utility(catalog: view, user: user, venue: v, distanceKm: distance, hour: hour)
                + log(Double(count)) + rng.gumbel()
            if u > bestU {
                bestU = u
                best = v
            }
        }
        return best >= 0 ? best : nil
    }

    /// The items of an order: the first by the user's noisy item utility, and in half the orders a second, chosen
    /// given the first (``MarketplaceTruth/complement(catalog:item:cart:)``). The first item and whether there is a
    /// second use the same draws from `rng` as before complements; the second is drawn from `pairRNG`.
    mutating func chooseItems(user: Int, venue: Int, hour: Int) -> (Int, Int) {
        let (view, truth) = (self.view, self.truth)
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
