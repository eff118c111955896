/// What generated the marketplace demo's orders and drives its simulated sessions; never written to the snapshot.
///
/// Orders are drawn from a hidden utility (cuisine taste, a latent embedding match, venue quality, distance, price
/// fit, time of day and habit) that a ranker never sees directly; it sees only noisy, observable traces of it
/// (declared affinities, embeddings, ratings, order histories). That gap is what makes a learned model beat
/// popularity.
public struct MarketplaceTruth: Sendable {
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

    static let cuisineCount = MarketplaceVocabulary.cuisines.count
    static let dimension = MarketplaceVocabulary.embeddingDimension

    /// The user's utility of ordering from `venue` at local `hour`, before habit and noise.
    func utility(catalog: MarketplaceCatalog, user: Int, venue: Int, distanceKm: Double, hour: Int) -> Double {
        let d = MarketplaceTruth.dimension
        let cuisine = Int(catalog.venueCuisine[venue])
        var dot: Float = 0
        for k in 0..<d { dot += userTaste[user * d + k] * venueLatent[venue * d + k] }
        let priceGap = abs(Float(catalog.venuePriceLevel[venue]) - userPricePreference[user])
        var u = 3.0 * Double(userTrueAffinity[user * MarketplaceTruth.cuisineCount + cuisine])
        u += 1.5 * Double(dot)
        u += 0.7 * Double(venueQuality[venue])
        u -= 0.35 * distanceKm
        u -= 0.6 * Double(priceGap)
        u -= 0.03 * Double(catalog.venuePrepMinutes[venue])
        u += MarketplaceTruth.timeOfDayTable[cuisine * 24 + min(max(hour, 0), 23)]
        return u
    }

    /// `timeOfDayEffect` for every cuisine and hour, so the generator's inner loop compares no strings.
    static let timeOfDayTable: [Double] = (0..<cuisineCount).flatMap { c in
        (0..<24).map { timeOfDayEffect(cuisine: c, hour: $0) }
    }

    /// Category effect on item utility by category and hour.
    static let itemCategoryTable: [Double] = MarketplaceVocabulary.itemCategories.flatMap { category in
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
        switch MarketplaceVocabulary.cuisines[cuisine] {
        case "breakfast": return hour < 11 ? 1.5 : -1.0
        case "dessert": return hour >= 19 ? 0.8 : -0.4
        case "grocery": return hour >= 17 && hour < 20 ? 0.5 : -0.3
        case "pizza", "burger": return hour >= 21 || hour < 3 ? 0.6 : 0
        case "healthy": return hour >= 11 && hour < 15 ? 0.5 : -0.2
        default: return 0
        }
    }

    /// The user's utility of an item inside a venue at local `hour`, before habit and noise.
    func itemUtility(catalog: MarketplaceCatalog, user: Int, item: Int, hour: Int) -> Double {
        var u = 1.0 * Double(itemQuality[item])
        u += MarketplaceTruth.itemCategoryTable[Int(catalog.itemCategory[item]) * 24 + min(max(hour, 0), 23)]
        let venuePrice = Double(catalog.venuePriceLevel[Int(catalog.itemVenue[item])])
        let relativePrice = Double(catalog.itemPrice[item]) / (4 + 4 * venuePrice)
        u -= (1.2 - 0.25 * Double(userPricePreference[user])) * relativePrice
        return u
    }

    /// Pairing groups per venue: few enough that every group holds a main and some sides, drinks or desserts.
    static let pairingGroups = 3

    /// Lost by an item whose category (index into `MarketplaceVocabulary.itemCategories`) the cart already holds,
    /// per item of it: a second main or a second drink is rarely wanted.
    static let repeatedCategoryPenalty: [Double] = [3.0, 2.0, 1.5, 2.5, 2.0]
    /// Gained by a course the cart lacks when it holds a main: a main wants a side, a drink, maybe a dessert.
    static let completesMealBonus: [Double] = [0, 1.0, 1.5, 1.6, 1.2]
    /// Gained per cart item of another category in the item's pairing group.
    static let pairingBonus = 2.0

    /// What `item` is worth on top of ``itemUtility(catalog:user:item:hour:)`` to a user whose cart (items of the
    /// same venue) already holds `cart`. Zero for an empty cart, so a first item is chosen on its own merits.
    func complement(catalog: MarketplaceCatalog, item: Int, cart: [Int]) -> Double {
        guard !cart.isEmpty else { return 0 }
        let category = Int(catalog.itemCategory[item])
        var u = 0.0
        var hasMain = false
        for other in cart {
            let otherCategory = Int(catalog.itemCategory[other])
            if otherCategory == 0 { hasMain = true }
            if otherCategory == category {
                u -= MarketplaceTruth.repeatedCategoryPenalty[category]
            } else if itemPairing[other] == itemPairing[item] {
                u += MarketplaceTruth.pairingBonus
            }
        }
        if hasMain && category != 0 { u += MarketplaceTruth.completesMealBonus[category] }
        return u
    }

    /// The user's utility of adding `item` to `cart`, before habit and noise.
    func itemUtility(catalog: MarketplaceCatalog, user: Int, item: Int, hour: Int, cart: [Int]) -> Double {
        itemUtility(catalog: catalog, user: user, item: item, hour: hour)
            + complement(catalog: catalog, item: item, cart: cart)
    }
}
