/// A venue's daily opening rule and whether it takes orders, in one word: bits 0-11 the minute it opens, bits 12-23
/// the minute it closes (above 1440: after midnight), bits 24-30 the weekdays it is closed (bit 24 + d for weekday d,
/// 0 = Monday), bit 31 set when it takes orders. ``Catalog/gridHours`` holds one per grid position.
enum DailyHours {
    /// The largest minute the packing holds.
    static let maxMinute = 0xFFF

    /// The word for a venue, or nil when a minute does not fit.
    static func pack(open: UInt16, close: UInt16, closedDays: UInt8, available: Bool) -> UInt32? {
        guard open <= maxMinute, close <= maxMinute else { return nil }
        return UInt32(open) | UInt32(close) << 12 | UInt32(closedDays & 0x7F) << 24 | (available ? 1 << 31 : 0)
    }

    /// Whether the venue of `word` takes orders and is open at local `minuteOfDay` on `weekday`: the same test as
    /// `venueAvailable[v] && isOpen(v, weekday:minuteOfDay:)` on the daily columns.
    @inline(__always)
    static func isOrderableNow(_ word: UInt32, weekday: Int, minuteOfDay: Int) -> Bool {
        guard word & (1 << 31) != 0 else { return false }
        let open = Int(word & 0xFFF)
        let close = Int(word >> 12 & 0xFFF)
        let closed = word >> 24 & 0x7F
        if closed & (1 << UInt32(weekday)) == 0 && minuteOfDay >= open && minuteOfDay < close { return true }
        let yesterday = (weekday + 6) % 7
        return close > 1440 && minuteOfDay < close - 1440 && closed & (1 << UInt32(yesterday)) == 0
    }

    /// One word per venue of the columns `c`, or nil when weekly hours govern or any venue's minutes do not fit.
    static func perVenue(_ c: CatalogColumns, weeklyHours: Bool) -> [UInt32]? {
        guard !weeklyHours, c.venueOpenMinute.count == c.venueCount, c.venueCloseMinute.count == c.venueCount,
            c.venueClosedDays.count == c.venueCount, c.venueAvailable.count == c.venueCount
        else { return nil }
        var words = [UInt32](repeating: 0, count: c.venueCount)
        for v in 0..<c.venueCount {
            guard
                let word = pack(
                    open: c.venueOpenMinute[v],
                    close: c.venueCloseMinute[v],
                    closedDays: c.venueClosedDays[v],
                    available: c.venueAvailable[v]
                )
            else { return nil }
            words[v] = word
        }
        return words
    }

    /// The venues' words (``perVenue(_:weeklyHours:)``) per market in the grid order of the spatial index of `c`.
    static func perGridPosition(_ words: [UInt32], _ c: CatalogColumns) -> [[UInt32]] {
        c.spatial.grids.map { grid in grid.cellVenues.map { words[Int($0)] } }
    }
}

/// What deciding a listed venue's eligibility reads (location, delivery radius and its ``DailyHours`` word), and the
/// day it joined, copied in the order of a venue list that sources walk from the start: a market's venues by
/// popularity, its new venues. A walk then reads these one after another instead of seven venue columns at random
/// (``CandidateRequest/isEligible(listed:at:copies:)``).
struct ListedEligibility: Sendable {
    let latitude: [Double]
    let longitude: [Double]
    let radiusKm: [Float]
    let hours: [UInt32]
    let createdDay: [Int32]

    /// The copies for `venues`, from the columns `c` and the venues' words.
    init(_ venues: [Int32], words: [UInt32], _ c: CatalogColumns) {
        latitude = venues.map { c.venueLatitude[Int($0)] }
        longitude = venues.map { c.venueLongitude[Int($0)] }
        radiusKm = venues.map { c.venueRadiusKm[Int($0)] }
        hours = venues.map { words[Int($0)] }
        createdDay = venues.map { c.venueCreatedDay[Int($0)] }
    }

    var memoryBytes: Int {
        latitude.count * 8 + longitude.count * 8 + radiusKm.count * 4 + hours.count * 4 + createdDay.count * 4
    }
}
