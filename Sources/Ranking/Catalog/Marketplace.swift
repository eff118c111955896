import Foundation

/// Fixed vocabularies of the demo marketplace: cuisines, item categories and cities.
public enum Marketplace {
    /// Cuisine tags; a venue's primary cuisine is an index into this list.
    public static let cuisines: [String] = [
        "pizza", "burger", "sushi", "indian", "chinese", "thai", "mexican", "italian",
        "middle_eastern", "vietnamese", "healthy", "breakfast", "dessert", "grocery", "korean", "greek",
    ]

    /// Item categories on a menu; an item's category is an index into this list.
    public static let itemCategories: [String] = ["main", "starter", "side", "drink", "dessert"]

    /// Dimension of the user and venue embedding vectors.
    public static let embeddingDimension = 16

    /// Venues created fewer than this many days before a request count as new.
    public static let newVenueDays = 30

    /// The cities of the marketplace.
    public static let cities: [City] = [
        City(name: "Berlin", market: "ber", latitude: 52.5200, longitude: 13.4050, utcOffsetMinutes: 60, weight: 0.20),
        City(name: "Warsaw", market: "waw", latitude: 52.2297, longitude: 21.0122, utcOffsetMinutes: 60, weight: 0.15),
        City(
            name: "Stockholm",
            market: "sto",
            latitude: 59.3293,
            longitude: 18.0686,
            utcOffsetMinutes: 60,
            weight: 0.15
        ),
        City(name: "Prague", market: "prg", latitude: 50.0755, longitude: 14.4378, utcOffsetMinutes: 60, weight: 0.10),
        City(
            name: "Copenhagen",
            market: "cph",
            latitude: 55.6761,
            longitude: 12.5683,
            utcOffsetMinutes: 60,
            weight: 0.10
        ),
        City(
            name: "Helsinki",
            market: "hel",
            latitude: 60.1699,
            longitude: 24.9384,
            utcOffsetMinutes: 120,
            weight: 0.10
        ),
        City(name: "Oslo", market: "osl", latitude: 59.9139, longitude: 10.7522, utcOffsetMinutes: 60, weight: 0.10),
        City(
            name: "Tallinn",
            market: "tll",
            latitude: 59.4370,
            longitude: 24.7536,
            utcOffsetMinutes: 120,
            weight: 0.10
        ),
    ]

    /// The index of the city whose market code is `market`, if any.
    public static func cityIndex(market: String) -> Int? {
        cities.firstIndex { $0.market == market }
    }
}

/// A city of the marketplace: its centre anchors the spatial index and its UTC offset gives local time.
public struct City: Sendable, Equatable {
    /// Human name.
    public var name: String
    /// Market code, as in `RequestContext.market`.
    public var market: String
    /// Latitude of the centre.
    public var latitude: Double
    /// Longitude of the centre.
    public var longitude: Double
    /// Fixed offset of local time from UTC (the demo ignores daylight saving).
    public var utcOffsetMinutes: Int
    /// Share of venues and users in this city.
    public var weight: Double
}

/// Distances on the scale of a city, where an equirectangular projection is accurate to well under 1%.
enum Geo {
    static let kmPerDegreeLatitude = 110.574
    static let kmPerDegreeLongitudeAtEquator = 111.320

    /// Kilometres per degree of longitude at `latitude`.
    @inline(__always)
    static func kmPerDegreeLongitude(atLatitude latitude: Double) -> Double {
        kmPerDegreeLongitudeAtEquator * cos(latitude * .pi / 180)
    }

    @inline(__always)
    static func distanceKm(_ lat1: Double, _ lon1: Double, _ lat2: Double, _ lon2: Double, lonScale: Double) -> Double {
        let dy = (lat2 - lat1) * kmPerDegreeLatitude
        let dx = (lon2 - lon1) * lonScale
        return (dx * dx + dy * dy).squareRoot()
    }
}
