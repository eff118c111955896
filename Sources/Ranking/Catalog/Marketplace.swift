import Foundation

/// Fixed vocabularies of the marketplace the engine serves: cuisines, item categories and cities.
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
        City(
            name: "Berlin",
            market: "ber",
            latitude: 52.5200,
            longitude: 13.4050,
            timeZone: "Europe/Berlin",
            standardOffsetMinutes: 60,
            weight: 0.20
        ),
        City(
            name: "Warsaw",
            market: "waw",
            latitude: 52.2297,
            longitude: 21.0122,
            timeZone: "Europe/Warsaw",
            standardOffsetMinutes: 60,
            weight: 0.15
        ),
        City(
            name: "Stockholm",
            market: "sto",
            latitude: 59.3293,
            longitude: 18.0686,
            timeZone: "Europe/Stockholm",
            standardOffsetMinutes: 60,
            weight: 0.15
        ),
        City(
            name: "Prague",
            market: "prg",
            latitude: 50.0755,
            longitude: 14.4378,
            timeZone: "Europe/Prague",
            standardOffsetMinutes: 60,
            weight: 0.10
        ),
        City(
            name: "Copenhagen",
            market: "cph",
            latitude: 55.6761,
            longitude: 12.5683,
            timeZone: "Europe/Copenhagen",
            standardOffsetMinutes: 60,
            weight: 0.10
        ),
        City(
            name: "Helsinki",
            market: "hel",
            latitude: 60.1699,
            longitude: 24.9384,
            timeZone: "Europe/Helsinki",
            standardOffsetMinutes: 120,
            weight: 0.10
        ),
        City(
            name: "Oslo",
            market: "osl",
            latitude: 59.9139,
            longitude: 10.7522,
            timeZone: "Europe/Oslo",
            standardOffsetMinutes: 60,
            weight: 0.10
        ),
        City(
            name: "Tallinn",
            market: "tll",
            latitude: 59.4370,
            longitude: 24.7536,
            timeZone: "Europe/Tallinn",
            standardOffsetMinutes: 120,
            weight: 0.10
        ),
    ]

    /// The index of the city whose market code is `market`, if any.
    public static func cityIndex(market: String) -> Int? {
        cities.firstIndex { $0.market == market }
    }
}

/// A city of the marketplace: its centre anchors the spatial index and its IANA time zone gives local time.
public struct City: Sendable, Equatable {
    /// Human name.
    public var name: String
    /// Market code, as in `RequestContext.market`.
    public var market: String
    /// Latitude of the centre.
    public var latitude: Double
    /// Longitude of the centre.
    public var longitude: Double
    /// IANA name of the city's time zone, e.g. "Europe/Helsinki": opening hours and the hour of day follow its
    /// daylight-saving rules.
    public var timeZone: String
    /// Offset from UTC in winter, used only if the machine has no data for `timeZone`.
    public var standardOffsetMinutes: Int
    /// Share of venues and users in this city.
    public var weight: Double
    /// The zone itself, looked up once.
    private let zone: TimeZone

    public init(
        name: String,
        market: String,
        latitude: Double,
        longitude: Double,
        timeZone: String,
        standardOffsetMinutes: Int,
        weight: Double
    ) {
        self.name = name
        self.market = market
        self.latitude = latitude
        self.longitude = longitude
        self.timeZone = timeZone
        self.standardOffsetMinutes = standardOffsetMinutes
        self.weight = weight
        zone = TimeZone(identifier: timeZone) ?? TimeZone(secondsFromGMT: standardOffsetMinutes * 60) ?? .gmt
    }

    /// Local time's offset from UTC at the instant `unixMs`, in minutes (e.g. 180 in Helsinki in summer, 120 in
    /// winter).
    public func utcOffsetMinutes(atUnixMs unixMs: Int64) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(unixMs) / 1000)) / 60
    }

    /// The UTC instant of a local wall-clock time given as milliseconds since 1970-01-01 00:00 local. A time that
    /// does not exist (skipped when clocks go forward) moves forward by the gap; one that happens twice (when clocks
    /// go back) is taken in standard time, the second time round.
    public func unixMs(fromLocalMs localMs: Int64) -> Int64 {
        // The offset at a guess one standard offset earlier, then corrected once: exact except inside a DST gap.
        let guess = localMs - Int64(standardOffsetMinutes) * 60_000
        let first = localMs - Int64(utcOffsetMinutes(atUnixMs: guess)) * 60_000
        return localMs - Int64(utcOffsetMinutes(atUnixMs: first)) * 60_000
    }
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
