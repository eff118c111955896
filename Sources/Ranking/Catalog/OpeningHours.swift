/// One opening interval of a venue's week, packed into 32 bits for `CatalogColumns.venueHours`: the weekday
/// (0 = Monday), the opening minute of that day (0...1439) and the closing minute (after opening, at most 24 hours
/// later, so up to 2879: past 1440 it closes the next day).
public enum OpeningHours {
    /// The packed interval; nil for values outside the ranges above.
    public static func pack(weekday: Int, openMinute: Int, closeMinute: Int) -> UInt32? {
        guard (0..<7).contains(weekday), (0..<1440).contains(openMinute), closeMinute > openMinute,
            closeMinute <= openMinute + 1440
        else { return nil }
        return UInt32(weekday) << 24 | UInt32(openMinute) << 12 | UInt32(closeMinute)
    }

    /// The weekday (0 = Monday), opening minute and closing minute of a packed interval.
    @inline(__always)
    public static func unpack(_ packed: UInt32) -> (weekday: Int, open: Int, close: Int) {
        (Int(packed >> 24), Int((packed >> 12) & 0xFFF), Int(packed & 0xFFF))
    }
}
