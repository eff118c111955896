import Foundation

/// A market of the catalog, such as a city: the code its venues and users carry in their `market` attribute, the
/// IANA time zone its local time follows, and its centre. All three come from the snapshot: the zone is the one its
/// venues' opening hours are written in, the centre the mean of its venues' locations (of its users' homes when it
/// has no venues).
public struct Market: Sendable, Equatable {
    /// Market code, as in `RequestContext.market` (e.g. "hel").
    public let code: String
    /// IANA name of the time zone, e.g. "Europe/Helsinki": opening hours and the hour of day follow its
    /// daylight-saving rules.
    public let timeZone: String
    /// Latitude of the centre, where a request naming the market but no location is placed.
    public let latitude: Double
    /// Longitude of the centre.
    public let longitude: Double
    /// The zone itself, looked up once.
    private let zone: TimeZone

    /// A market; a `timeZone` the machine does not know is read as UTC (snapshots are validated, so a loaded
    /// catalog's zones are known).
    public init(code: String, timeZone: String, latitude: Double, longitude: Double) {
        self.code = code
        self.timeZone = timeZone
        self.latitude = latitude
        self.longitude = longitude
        zone = TimeZone(identifier: timeZone) ?? .gmt
    }

    /// Local time's offset from UTC at the instant `unixMs`, in minutes (e.g. 180 in Helsinki in summer, 120 in
    /// winter).
    public func utcOffsetMinutes(atUnixMs unixMs: Int64) -> Int {
        zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(unixMs) / 1000)) / 60
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
        squaredDistanceKm(lat1, lon1, lat2, lon2, lonScale: lonScale).squareRoot()
    }

    /// The square of ``distanceKm(_:_:_:_:lonScale:)``, before the root: the one expression both it and
    /// ``isWithin(_:_:_:_:lonScale:radiusKm:)`` take, so that they agree to the last bit.
    @inline(__always)
    static func squaredDistanceKm(
        _ lat1: Double,
        _ lon1: Double,
        _ lat2: Double,
        _ lon2: Double,
        lonScale: Double
    )
        -> Double
    {
        let dy = (lat2 - lat1) * kmPerDegreeLatitude
        let dx = (lon2 - lon1) * lonScale
        return dx * dx + dy * dy
    }

    /// Whether ``distanceKm(_:_:_:_:lonScale:)`` is at most `radiusKm`, with the same answer, mostly without taking
    /// the square root (``isWithin(squaredKm:radiusKm:)``): the delivery test of every venue a scan looks at.
    @inline(__always)
    static func isWithin(
        _ lat1: Double,
        _ lon1: Double,
        _ lat2: Double,
        _ lon2: Double,
        lonScale: Double,
        radiusKm: Float
    ) -> Bool {
        isWithin(squaredKm: squaredDistanceKm(lat1, lon1, lat2, lon2, lonScale: lonScale), radiusKm: radiusKm)
    }

    /// Whether `squaredKm.squareRoot() <= Double(radiusKm)`. A float's square is exact in a double, and a correctly
    /// rounded square root never passes a root that is exact, so a square at or below the radius's is within. A
    /// square more than a billionth above it has a root whose excess over the radius is millions of times its
    /// rounding step, so it is not. Only squares in that sliver, NaN and negative values take the root.
    @inline(__always)
    static func isWithin(squaredKm: Double, radiusKm: Float) -> Bool {
        let radius = Double(radiusKm)
        if radius >= 0 && squaredKm >= 0 {
            let square = radius * radius
            if squaredKm <= square { return true }
            if squaredKm > square * (1 + 1e-9) { return false }
        }
        return squaredKm.squareRoot() <= radius
    }
}
