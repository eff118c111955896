import Foundation

/// The fixed vocabularies of the marketplace demo: cuisines, item categories and the cities it is set in.
///
/// The cuisines and item categories are the values `schemas/marketplace.json` declares, in its order; the markets are
/// the demo's own choice (the engine takes a snapshot's markets from its venues and users).
public enum MarketplaceVocabulary {
    /// Cuisine tags; a venue's primary cuisine is an index into this list.
    public static let cuisines: [String] = [
        "pizza", "burger", "sushi", "indian", "chinese", "thai", "mexican", "italian",
        "middle_eastern", "vietnamese", "healthy", "breakfast", "dessert", "grocery", "korean", "greek",
    ]

    /// Item categories on a menu; an item's category is an index into this list.
    public static let itemCategories: [String] = ["main", "starter", "side", "drink", "dessert"]

    /// Dimension of the user and venue embedding vectors (schemas/marketplace.json).
    public static let embeddingDimension = 16

    /// Venues created fewer than this many days before the snapshot are new.
    public static let newVenueDays = 30

    /// A city of the demo: its centre, its market code and time zone, and its share of venues and users.
    public struct City: Sendable {
        /// Human name.
        public var name: String
        /// Market code, as written in `market` attributes.
        public var market: String
        /// Latitude of the centre.
        public var latitude: Double
        /// Longitude of the centre.
        public var longitude: Double
        /// IANA name of the time zone: opening hours and meal times are local.
        public var timeZone: String
        /// Offset from UTC in winter, used only if the machine has no data for `timeZone`.
        var standardOffsetMinutes: Int
        /// Share of venues and users in this city (and of rank-load's located requests).
        public var weight: Double
        /// The zone itself, looked up once.
        private let zone: TimeZone

        init(
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

        /// Local time's offset from UTC at the instant `unixMs`, in minutes.
        func utcOffsetMinutes(atUnixMs unixMs: Int64) -> Int {
            zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(unixMs) / 1000)) / 60
        }

        /// The UTC instant of a local wall-clock time given as milliseconds since 1970-01-01 00:00 local: the
        /// offset at a guess one standard offset earlier, corrected once (exact except inside a DST gap).
        func unixMs(fromLocalMs localMs: Int64) -> Int64 {
            let guess = localMs - Int64(standardOffsetMinutes) * 60_000
            let first = localMs - Int64(utcOffsetMinutes(atUnixMs: guess)) * 60_000
            return localMs - Int64(utcOffsetMinutes(atUnixMs: first)) * 60_000
        }
    }

    /// The cities, with their shares of venues and users.
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
}

/// Distances on the scale of a city, on an equirectangular projection (accurate to well under 1% there).
enum MarketplaceGeo {
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
