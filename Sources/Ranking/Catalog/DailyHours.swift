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

    /// The words per market in grid order for the columns `c` (whose spatial index is built), or empty when weekly
    /// hours govern or any venue's minutes do not fit.
    static func perGridPosition(_ c: CatalogColumns, weeklyHours: Bool) -> [[UInt32]] {
        guard !weeklyHours, c.venueOpenMinute.count == c.venueCount, c.venueCloseMinute.count == c.venueCount,
            c.venueClosedDays.count == c.venueCount, c.venueAvailable.count == c.venueCount
        else { return [] }
        var words = [UInt32](repeating: 0, count: c.venueCount)
        for v in 0..<c.venueCount {
            guard
                let word = pack(
                    open: c.venueOpenMinute[v],
                    close: c.venueCloseMinute[v],
                    closedDays: c.venueClosedDays[v],
                    available: c.venueAvailable[v]
                )
            else { return [] }
            words[v] = word
        }
        return c.spatial.grids.map { grid in grid.cellVenues.map { words[Int($0)] } }
    }
}
