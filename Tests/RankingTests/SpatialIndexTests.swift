import Foundation
import Testing

@testable import Ranking

/// The grid per market spans its venues' bounding box, whatever the market's size, and a ring scan finds exactly
/// the venues a brute-force distance check finds.
@Suite struct SpatialIndexTests {
    /// `count` venues spread over `spreadDegrees` around a centre, with radii of 1-8 km.
    static func venues(
        count: Int,
        centre: (Double, Double),
        spreadDegrees: Double,
        seed: UInt64
    ) -> (
        lat: [Double], lon: [Double], radius: [Float]
    ) {
        var rng = SplitMix64(seed: seed)
        var lat: [Double] = []
        var lon: [Double] = []
        var radius: [Float] = []
        for _ in 0..<count {
            lat.append(centre.0 + Double.random(in: -spreadDegrees...spreadDegrees, using: &rng))
            lon.append(centre.1 + Double.random(in: -spreadDegrees...spreadDegrees, using: &rng))
            radius.append(Float.random(in: 1...8, using: &rng))
        }
        return (lat, lon, radius)
    }

    /// One market's index of the venues at `lat`, `lon` with delivery radius `radius`, without embeddings.
    static func index(_ market: Market, _ lat: [Double], _ lon: [Double], _ radius: [Float]) -> SpatialIndex {
        SpatialIndex(
            markets: [market],
            venueCity: [UInt16](repeating: 0, count: lat.count),
            latitude: lat,
            longitude: lon,
            radiusKm: radius,
            embedding: [],
            embeddingDimension: 0
        )
    }

    @Test(arguments: [(0.2, UInt64(1)), (3.0, 2), (25.0, 3)])
    func aRingScanFindsExactlyTheVenuesInReach(spreadDegrees: Double, seed: UInt64) {
        let centre = (40.7, -74.0)
        let v = Self.venues(count: 3_000, centre: centre, spreadDegrees: spreadDegrees, seed: seed)
        let market = Market(code: "m", timeZone: "America/New_York", latitude: centre.0, longitude: centre.1)
        let index = Self.index(market, v.lat, v.lon, v.radius)
        let grid = index.grids[0]
        #expect(grid.columns * grid.rows <= SpatialIndex.maximumCells)
        #expect(grid.cellVenues.count == v.lat.count, "every venue is in a cell")
        if spreadDegrees > 10 { #expect(grid.cellKm > 1) }
        var rng = SplitMix64(seed: seed + 100)
        for _ in 0..<50 {
            // A venue's own location, nudged: somewhere venues deliver.
            let k = Int.random(in: 0..<v.lat.count, using: &rng)
            let lat = v.lat[k] + Double.random(in: -0.02...0.02, using: &rng)
            let lon = v.lon[k] + Double.random(in: -0.02...0.02, using: &rng)
            let lonScale = Geo.kmPerDegreeLongitude(atLatitude: lat)
            #expect(index.city(latitude: lat, longitude: lon) == 0)
            var found: [Int] = []
            index.forEachVenueInReach(city: 0, latitude: lat, longitude: lon, lonScale: lonScale, maxKm: 8) {
                venue,
                _ in
                found.append(venue)
                return true
            }
            let expected = (0..<v.lat.count).filter {
                Geo.distanceKm(lat, lon, v.lat[$0], v.lon[$0], lonScale: lonScale) <= Double(v.radius[$0])
            }
            #expect(found.sorted() == expected)
        }
        // Far outside the market's venues and margin: no market.
        #expect(index.city(latitude: centre.0 - spreadDegrees - 5, longitude: centre.1) == nil)
    }

    /// With the market's centre at the request's latitude and two degrees either side of it, where the grid scales
    /// longitude differently from the request's distance: the scan still decides by the request's own measure.
    @Test(arguments: [0.0, -2.0, 2.0])
    func venuesAtTheEdgeOfTheirRadiusAreInReachExactlyWhenTheirDistanceSaysSo(marketOffsetDegrees: Double) {
        // Venues placed at their own delivery radius from the request, give or take a few units in the last place,
        // in every direction; and a few further off, at zero radius and at a negative one.
        let (lat0, lon0) = (52.52, 13.405)
        let lonScale = Geo.kmPerDegreeLongitude(atLatitude: lat0)
        var rng = SplitMix64(seed: 77)
        var (lat, lon, radius): ([Double], [Double], [Float]) = ([], [], [])
        for k in 0..<2_000 {
            let r = k % 50 == 0 ? 0 : k % 50 == 1 ? -1 : Float.random(in: 0.5...6, using: &rng)
            let nudge = [-1e-9, -4e-16, -2e-16, 0, 2e-16, 4e-16, 1e-9][k % 7]
            let d = Double(max(r, 0)) * (1 + nudge)
            let angle = Double.random(in: 0..<(2 * Double.pi), using: &rng)
            lat.append(lat0 + d * sin(angle) / Geo.kmPerDegreeLatitude)
            lon.append(lon0 + d * cos(angle) / lonScale)
            radius.append(r)
        }
        let index = Self.index(
            Market(code: "ber", timeZone: "Europe/Berlin", latitude: lat0 + marketOffsetDegrees, longitude: lon0),
            lat,
            lon,
            radius
        )
        var found: [Int] = []
        index.forEachVenueInReach(city: 0, latitude: lat0, longitude: lon0, lonScale: lonScale, maxKm: 8) { v, _ in
            found.append(v)
            return true
        }
        let expected = lat.indices.filter {
            Geo.distanceKm(lat0, lon0, lat[$0], lon[$0], lonScale: lonScale) <= Double(radius[$0])
        }
        #expect(found.sorted() == expected)
        // Both outcomes occur right at the edge, so the exact test decided some venues each way.
        let atEdge = lat.indices.filter { $0 % 7 >= 1 && $0 % 7 <= 5 && radius[$0] > 0 }
        #expect(atEdge.contains { expected.contains($0) })
        #expect(atEdge.contains { !expected.contains($0) })
        #expect(!expected.contains { radius[$0] < 0 })
    }

    /// A few wide-reaching venues among many that deliver only close by: each is found from far off, whatever its
    /// neighbours' radii, and the scan gives the venues in reach in the ring order of a scan of every venue.
    @Test func wideReachingVenuesAmongNarrowOnesAreFoundInRingOrder() {
        let (lat0, lon0) = (60.17, 24.94)
        let lonScale = Geo.kmPerDegreeLongitude(atLatitude: lat0)
        var rng = SplitMix64(seed: 5)
        var (lat, lon, radius): ([Double], [Double], [Float]) = ([], [], [])
        for k in 0..<4_000 {
            lat.append(lat0 + Double.random(in: -0.1...0.1, using: &rng))
            lon.append(lon0 + Double.random(in: -0.2...0.2, using: &rng))
            radius.append(k % 400 == 0 ? 9 : Float.random(in: 0.2...0.8, using: &rng))
        }
        let index = Self.index(
            Market(code: "hel", timeZone: "Europe/Helsinki", latitude: lat0, longitude: lon0),
            lat,
            lon,
            radius
        )
        var wideFound = 0
        for _ in 0..<40 {
            let pointLat = lat0 + Double.random(in: -0.1...0.1, using: &rng)
            let pointLon = lon0 + Double.random(in: -0.2...0.2, using: &rng)
            var found: [Int] = []
            index.forEachVenueInReach(city: 0, latitude: pointLat, longitude: pointLon, lonScale: lonScale, maxKm: 10) {
                v,
                _ in
                found.append(v)
                return true
            }
            // Every venue of every cell the ring visits, kept when in reach by its distance.
            var unskipped: [Int] = []
            index.forEachVenueByRing(city: 0, latitude: pointLat, longitude: pointLon, maxKm: 10) { v in
                if Geo.distanceKm(pointLat, pointLon, lat[v], lon[v], lonScale: lonScale) <= Double(radius[v]) {
                    unskipped.append(v)
                }
                return true
            }
            #expect(found == unskipped)
            wideFound += found.filter { radius[$0] > 1 }.count
        }
        #expect(wideFound > 40)
    }
}

/// The delivery test without the square root (`Geo.isWithin`) answers exactly what comparing the distance does.
@Suite struct DeliveryDistanceTests {
    static func byRoot(_ squared: Double, _ radius: Float) -> Bool { squared.squareRoot() <= Double(radius) }

    @Test func squaresAtTheBoundaryAnswerAsTheRootDoes() {
        // Squares a few steps either side of each radius's square and of the squares of its neighbouring doubles,
        // where rounding the root could decide; and radii of every size, including 0, the smallest and NaN.
        var rng = SplitMix64(seed: 7)
        var radii: [Float] = [
            0, .leastNonzeroMagnitude, .leastNormalMagnitude, 1, 2.5, 6, 100, .greatestFiniteMagnitude,
        ]
        radii += (0..<400).map { _ in Float.random(in: 0.01...50, using: &rng) }
        var within = 0
        var outside = 0
        for radius in radii {
            let r = Double(radius)
            for base in [r * r, r.nextUp * r.nextUp, r.nextDown * r.nextDown, (r * (1 + 1e-9)) * (r * (1 + 1e-9))] {
                var below = base
                var above = base
                for _ in 0..<6 {
                    for squared in [below, above] {
                        let expected = Self.byRoot(squared, radius)
                        #expect(Geo.isWithin(squaredKm: squared, radiusKm: radius) == expected, "\(radius) \(squared)")
                        if expected { within += 1 } else { outside += 1 }
                    }
                    below = below.nextDown
                    above = above.nextUp
                }
            }
        }
        #expect(within > 0 && outside > 0)
        for radius: Float in [-1, -0.0, .nan, .infinity] {
            for squared in [0, 0.25, 1, 4, .infinity, .nan] {
                #expect(Geo.isWithin(squaredKm: squared, radiusKm: radius) == Self.byRoot(squared, radius))
            }
        }
    }

    @Test func placesAroundAVenueAnswerAsTheirDistanceDoes() {
        // Points on rays from a venue, at distances stepping across its radius by a few nanometres and by metres.
        var rng = SplitMix64(seed: 11)
        let (lat, lon) = (60.17, 24.94)
        let lonScale = Geo.kmPerDegreeLongitude(atLatitude: lat)
        for _ in 0..<200 {
            let radius = Float.random(in: 1...8, using: &rng)
            let angle = Double.random(in: 0..<(2 * .pi), using: &rng)
            for scale in [1e-12, 1e-9, 1e-6, 1e-3] {
                for step in -3...3 {
                    let km = Double(radius) * (1 + Double(step) * scale)
                    let pLat = lat + km * sin(angle) / Geo.kmPerDegreeLatitude
                    let pLon = lon + km * cos(angle) / lonScale
                    let expected = Geo.distanceKm(pLat, pLon, lat, lon, lonScale: lonScale) <= Double(radius)
                    #expect(Geo.isWithin(pLat, pLon, lat, lon, lonScale: lonScale, radiusKm: radius) == expected)
                }
            }
        }
    }
}
