import Foundation

/// A uniform grid per city: venues bucketed by 1 km cells, so "who delivers here" visits a few hundred cells around
/// the request instead of every venue.
struct SpatialIndex {
    /// Half the side of the square each city's grid covers; venues are placed inside it.
    static let cityRadiusKm = 30.0
    static let cellKm = 1.0
    static var cellsPerSide: Int { Int((2 * cityRadiusKm / cellKm).rounded(.up)) }

    struct Grid {
        var originLatitude = 0.0
        var originLongitude = 0.0
        var lonScale = 1.0
        /// Venues of cell `c` are `cellVenues[cellStart[c] ..< cellStart[c + 1]]`.
        var cellStart: [Int32] = []
        var cellVenues: [Int32] = []
        /// Per position of `cellVenues`: the venue's location and delivery radius, copied in cell order so that a
        /// ring scan reads them one after another instead of at random across the venue columns.
        var latitude: [Double] = []
        var longitude: [Double] = []
        var radiusKm: [Float] = []
        /// Per position, the venue's embedding (`embeddingDimension` floats each), in cell order likewise; empty
        /// when the catalog has no venue embeddings.
        var embeddings: [Float] = []
    }

    var grids: [Grid] = []
    var cityLatitude: [Double] = []
    var cityLongitude: [Double] = []

    /// Floats per venue in ``Grid/embeddings``.
    private(set) var embeddingDimension = 0

    var memoryBytes: Int {
        grids.reduce(0) {
            $0 + $1.cellStart.count * 4 + $1.cellVenues.count * (4 + 8 + 8 + 4) + $1.embeddings.count * 4
        }
    }

    /// Builds one grid per city from the venue columns. `embedding` holds `embeddingDimension` floats per venue, or
    /// is empty.
    init(
        cities: [City],
        venueCity: [UInt8],
        latitude: [Double],
        longitude: [Double],
        radiusKm: [Float],
        embedding: [Float],
        embeddingDimension: Int
    ) {
        let hasEmbeddings = embeddingDimension > 0 && embedding.count == venueCity.count * embeddingDimension
        self.embeddingDimension = hasEmbeddings ? embeddingDimension : 0
        let side = SpatialIndex.cellsPerSide
        for (c, city) in cities.enumerated() {
            var grid = Grid()
            grid.lonScale = Geo.kmPerDegreeLongitude(atLatitude: city.latitude)
            grid.originLatitude = city.latitude - SpatialIndex.cityRadiusKm / Geo.kmPerDegreeLatitude
            grid.originLongitude = city.longitude - SpatialIndex.cityRadiusKm / grid.lonScale
            var counts = [Int32](repeating: 0, count: side * side + 1)
            var cellOf = [Int32](repeating: -1, count: venueCity.count)
            for v in venueCity.indices where Int(venueCity[v]) == c {
                guard let cell = SpatialIndex.cell(grid, latitude[v], longitude[v]) else { continue }
                cellOf[v] = Int32(cell)
                counts[cell + 1] += 1
            }
            for i in 1..<counts.count { counts[i] += counts[i - 1] }
            var fill = counts
            grid.cellVenues = [Int32](repeating: 0, count: Int(counts[side * side]))
            for v in cellOf.indices where cellOf[v] >= 0 {
                let cell = Int(cellOf[v])
                grid.cellVenues[Int(fill[cell])] = Int32(v)
                fill[cell] += 1
            }
            grid.cellStart = counts
            grid.latitude = grid.cellVenues.map { latitude[Int($0)] }
            grid.longitude = grid.cellVenues.map { longitude[Int($0)] }
            grid.radiusKm = grid.cellVenues.map { radiusKm[Int($0)] }
            if hasEmbeddings {
                grid.embeddings.reserveCapacity(grid.cellVenues.count * embeddingDimension)
                for v in grid.cellVenues {
                    let start = Int(v) * embeddingDimension
                    grid.embeddings.append(contentsOf: embedding[start..<(start + embeddingDimension)])
                }
            }
            grids.append(grid)
            cityLatitude.append(city.latitude)
            cityLongitude.append(city.longitude)
        }
    }

    init() {}

    @inline(__always)
    static func cell(_ grid: Grid, _ latitude: Double, _ longitude: Double) -> Int? {
        let (x, y) = cellXY(grid, latitude, longitude)
        let side = cellsPerSide
        guard x >= 0, y >= 0, x < side, y < side else { return nil }
        return y * side + x
    }

    @inline(__always)
    static func cellXY(_ grid: Grid, _ latitude: Double, _ longitude: Double) -> (Int, Int) {
        let y = ((latitude - grid.originLatitude) * Geo.kmPerDegreeLatitude / cellKm)
        let x = ((longitude - grid.originLongitude) * grid.lonScale / cellKm)
        guard x.isFinite, y.isFinite, abs(x) < 1e6, abs(y) < 1e6 else { return (-1, -1) }
        return (Int(x.rounded(.down)), Int(y.rounded(.down)))
    }

    /// The city whose grid contains the location, nearest centre first.
    func city(latitude: Double, longitude: Double) -> Int? {
        var best: Int?
        var bestKm = Double.infinity
        for c in cityLatitude.indices {
            let km = Geo.distanceKm(
                latitude,
                longitude,
                cityLatitude[c],
                cityLongitude[c],
                lonScale: grids[c].lonScale
            )
            if km < bestKm {
                bestKm = km
                best = c
            }
        }
        guard let city = best, bestKm <= SpatialIndex.cityRadiusKm * 1.5 else { return nil }
        return city
    }

    /// Visits the venues in cells at Chebyshev ring distance 0, 1, 2, ... from the location's cell, up to
    /// `maxKm`, so nearer venues come first; `visit` returns false to stop.
    func forEachVenueByRing(
        city: Int,
        latitude: Double,
        longitude: Double,
        maxKm: Double,
        _ visit: (Int) -> Bool
    ) {
        let venues = grids[city].cellVenues
        forEachPositionByRing(city: city, latitude: latitude, longitude: longitude, maxKm: maxKm) {
            visit(Int(venues[$0]))
        }
    }

    /// ``forEachVenueByRing(city:latitude:longitude:maxKm:_:)`` over the venues whose delivery radius reaches the
    /// location only, each with its position in the city's grid (for ``Grid/embeddings``). The distance is
    /// ``Geo/distanceKm(_:_:_:_:lonScale:)`` with the request's `lonScale`, the same test as
    /// `CandidateRequest.isOrderable`, read from the grid's copies in cell order.
    @inline(__always)
    func forEachVenueInReach(
        city: Int,
        latitude: Double,
        longitude: Double,
        lonScale: Double,
        maxKm: Double,
        _ visit: (_ venue: Int, _ position: Int) -> Bool
    ) {
        let grid = grids[city]
        grid.latitude.withUnsafeBufferPointer { lat in
            grid.longitude.withUnsafeBufferPointer { lon in
                grid.radiusKm.withUnsafeBufferPointer { radius in
                    grid.cellVenues.withUnsafeBufferPointer { venues in
                        forEachPositionByRing(city: city, latitude: latitude, longitude: longitude, maxKm: maxKm) {
                            p in
                            let km = Geo.distanceKm(latitude, longitude, lat[p], lon[p], lonScale: lonScale)
                            guard km <= Double(radius[p]) else { return true }
                            return visit(Int(venues[p]), p)
                        }
                    }
                }
            }
        }
    }

    /// Visits the grid positions (indexes into ``Grid/cellVenues``) of the cells at Chebyshev ring distance 0, 1,
    /// 2, ... from the location's cell, up to `maxKm`; `visit` returns false to stop.

    @inline(__always)
    private func forEachPositionByRing(
        city: Int,
        latitude: Double,
        longitude: Double,
        maxKm: Double,
        _ visit: (Int) -> Bool
    ) {
        let grid = grids[city]
        let (cx, cy) = SpatialIndex.cellXY(grid, latitude, longitude)
        let side = SpatialIndex.cellsPerSide
        let maxRing = Int((maxKm / SpatialIndex.cellKm).rounded(.up))
        guard cx > -maxRing - 1, cy > -maxRing - 1, cx < side + maxRing, cy < side + maxRing else { return }
        grid.cellStart.withUnsafeBufferPointer { starts in
            do {
                for ring in 0...maxRing {
                    for y in (cy - ring)...(cy + ring) where y >= 0 && y < side {
                        let edgeRow = y == cy - ring || y == cy + ring
                        var x = cx - ring
                        while x <= cx + ring {
                            if x >= 0 && x < side {
                                let cell = y * side + x
                                for i in Int(starts[cell])..<Int(starts[cell + 1]) where !visit(i) { return }
                            }
                            // Inside rows only the two edge cells belong to this ring.
                            x += edgeRow || ring == 0 ? 1 : 2 * ring
                        }
                    }
                }
            }
        }
    }
}
