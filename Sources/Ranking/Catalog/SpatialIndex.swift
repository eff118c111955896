import Foundation

/// A uniform grid per market: venues bucketed by square cells (1 km, larger for a market spread over a very large
/// area), so "who delivers here" visits a few hundred cells around the request instead of every venue. Each grid
/// covers its market's venues exactly: it spans their bounding box, wherever the market is.
struct SpatialIndex {
    /// Most cells in one market's grid (500 x 500 at 1 km); a wider market gets larger cells instead.
    static let maximumCells = 250_000
    /// A location this far beyond the farthest venue of a market (or its widest delivery radius, if larger) still
    /// belongs to the market.
    static let marketMarginKm = 10.0

    struct Grid {
        var originLatitude = 0.0
        var originLongitude = 0.0
        var lonScale = 1.0
        /// Side of a cell.
        var cellKm = 1.0
        var columns = 0
        var rows = 0
        /// The area that belongs to the market: its venues' bounding box widened by the margin, in grid km.
        var reachKm: (minX: Double, maxX: Double, minY: Double, maxY: Double) = (0, 0, 0, 0)
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

    /// Builds one grid per market from the venue columns. `embedding` holds `embeddingDimension` floats per venue,
    /// or is empty.
    init(
        markets: [Market],
        venueCity: [UInt16],
        latitude: [Double],
        longitude: [Double],
        radiusKm: [Float],
        embedding: [Float],
        embeddingDimension: Int
    ) {
        let hasEmbeddings = embeddingDimension > 0 && embedding.count == venueCity.count * embeddingDimension
        self.embeddingDimension = hasEmbeddings ? embeddingDimension : 0
        var byMarket = [[Int32]](repeating: [], count: markets.count)
        for v in venueCity.indices where Int(venueCity[v]) < markets.count {
            byMarket[Int(venueCity[v])].append(Int32(v))
        }
        for (c, market) in markets.enumerated() {
            var grid = Grid()
            grid.lonScale = Geo.kmPerDegreeLongitude(atLatitude: market.latitude)
            // The venues' bounding box, in km east and north of the centre (the origin until the box is known).
            grid.originLatitude = market.latitude
            grid.originLongitude = market.longitude
            var box = (minX: Double.infinity, maxX: -Double.infinity, minY: Double.infinity, maxY: -Double.infinity)
            var widest = 0.0
            for v in byMarket[c] {
                let (x, y) = SpatialIndex.offsetKm(grid, latitude[Int(v)], longitude[Int(v)])
                box = (min(box.minX, x), max(box.maxX, x), min(box.minY, y), max(box.maxY, y))
                widest = max(widest, Double(radiusKm[Int(v)]))
            }
            if byMarket[c].isEmpty { box = (0, 0, 0, 0) }
            grid.originLatitude = market.latitude + box.minY / Geo.kmPerDegreeLatitude
            grid.originLongitude = market.longitude + box.minX / grid.lonScale
            let width = box.maxX - box.minX
            let height = box.maxY - box.minY
            while true {
                grid.columns = Int((width / grid.cellKm).rounded(.down)) + 1
                grid.rows = Int((height / grid.cellKm).rounded(.down)) + 1
                if grid.columns * grid.rows <= SpatialIndex.maximumCells { break }
                grid.cellKm *= 2
            }
            let margin = max(widest, SpatialIndex.marketMarginKm)
            grid.reachKm = (-margin, width + margin, -margin, height + margin)
            let cells = grid.columns * grid.rows
            var counts = [Int32](repeating: 0, count: cells + 1)
            var cellOf = [Int32](repeating: -1, count: byMarket[c].count)
            for (k, v) in byMarket[c].enumerated() {
                guard let cell = SpatialIndex.cell(grid, latitude[Int(v)], longitude[Int(v)]) else { continue }
                cellOf[k] = Int32(cell)
                counts[cell + 1] += 1
            }
            for i in 1..<counts.count { counts[i] += counts[i - 1] }
            var fill = counts
            grid.cellVenues = [Int32](repeating: 0, count: Int(counts[cells]))
            for (k, v) in byMarket[c].enumerated() where cellOf[k] >= 0 {
                let cell = Int(cellOf[k])
                grid.cellVenues[Int(fill[cell])] = v
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
            cityLatitude.append(market.latitude)
            cityLongitude.append(market.longitude)
        }
    }

    init() {}

    @inline(__always)
    static func cell(_ grid: Grid, _ latitude: Double, _ longitude: Double) -> Int? {
        let (x, y) = cellXY(grid, latitude, longitude)
        guard x >= 0, y >= 0, x < grid.columns, y < grid.rows else { return nil }
        return y * grid.columns + x
    }

    /// Km east and north of the grid's origin.
    @inline(__always)
    static func offsetKm(_ grid: Grid, _ latitude: Double, _ longitude: Double) -> (x: Double, y: Double) {
        ((longitude - grid.originLongitude) * grid.lonScale, (latitude - grid.originLatitude) * Geo.kmPerDegreeLatitude)
    }

    @inline(__always)
    static func cellXY(_ grid: Grid, _ latitude: Double, _ longitude: Double) -> (Int, Int) {
        let (xKm, yKm) = offsetKm(grid, latitude, longitude)
        let x = xKm / grid.cellKm
        let y = yKm / grid.cellKm
        guard x.isFinite, y.isFinite, abs(x) < 1e6, abs(y) < 1e6 else { return (-1, -1) }
        return (Int(x.rounded(.down)), Int(y.rounded(.down)))
    }

    /// The market whose area (its venues' bounding box widened by the margin) holds the location, the nearest
    /// centre first when several do.
    func city(latitude: Double, longitude: Double) -> Int? {
        var best: Int?
        var bestKm = Double.infinity
        for c in cityLatitude.indices {
            let (x, y) = SpatialIndex.offsetKm(grids[c], latitude, longitude)
            let reach = grids[c].reachKm
            guard x >= reach.minX, x <= reach.maxX, y >= reach.minY, y <= reach.maxY else { continue }
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
        return best
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
    /// location only, each with its position in the city's grid (for ``Grid/embeddings``). The test is
    /// ``Geo/isWithin(_:_:_:_:lonScale:radiusKm:)`` with the request's `lonScale`, the same as
    /// `CandidateRequest.isOrderable`'s, on the grid's copies read in cell order.
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
                            guard
                                Geo.isWithin(
                                    latitude,
                                    longitude,
                                    lat[p],
                                    lon[p],
                                    lonScale: lonScale,
                                    radiusKm: radius[p]
                                )
                            else { return true }
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
        let columns = grid.columns
        let rows = grid.rows
        guard maxKm.isFinite, maxKm >= 0 else { return }
        // Rings past the farthest grid edge hold no cells.
        let farthest = max(cx, columns - 1 - cx, cy, rows - 1 - cy)
        let maxRing = min(Int((min(maxKm, 1e5) / grid.cellKm).rounded(.up)), farthest)
        guard maxRing >= 0, cx > -maxRing - 1, cy > -maxRing - 1, cx < columns + maxRing, cy < rows + maxRing
        else { return }
        grid.cellStart.withUnsafeBufferPointer { starts in
            do {
                for ring in 0...maxRing {
                    for y in (cy - ring)...(cy + ring) where y >= 0 && y < rows {
                        let edgeRow = y == cy - ring || y == cy + ring
                        var x = cx - ring
                        while x <= cx + ring {
                            if x >= 0 && x < columns {
                                let cell = y * columns + x
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
