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

    @Test(arguments: [(0.2, UInt64(1)), (3.0, 2), (25.0, 3)])
    func aRingScanFindsExactlyTheVenuesInReach(spreadDegrees: Double, seed: UInt64) {
        let centre = (40.7, -74.0)
        let v = Self.venues(count: 3_000, centre: centre, spreadDegrees: spreadDegrees, seed: seed)
        let market = Market(code: "m", timeZone: "America/New_York", latitude: centre.0, longitude: centre.1)
        let index = SpatialIndex(
            markets: [market],
            venueCity: [UInt16](repeating: 0, count: v.lat.count),
            latitude: v.lat,
            longitude: v.lon,
            radiusKm: v.radius,
            embedding: [],
            embeddingDimension: 0
        )
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

    @Test func venuesAtTheEdgeOfTheirRadiusAreInReachExactlyWhenTheirDistanceSaysSo() {
        // Venues placed at their own delivery radius from the request, give or take a few units in the last place,
        // where the scan's squared-distance test hands over to the square root; and a few further off, at zero
        // radius and at a negative one.
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
        let index = SpatialIndex(
            markets: [Market(code: "ber", timeZone: "Europe/Berlin", latitude: lat0, longitude: lon0)],
            venueCity: [UInt16](repeating: 0, count: lat.count),
            latitude: lat,
            longitude: lon,
            radiusKm: radius,
            embedding: [],
            embeddingDimension: 0
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
}
