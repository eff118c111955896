import Testing

@testable import DemoDomains

/// The demo simulator places its sessions at local wall-clock times of its cities, daylight saving included.
@Suite struct DemoLocalTimeTests {
    static let helsinki = MarketplaceVocabulary.cities.first { $0.market == "hel" }!
    static let januaryNoonUTC: Int64 = 1_768_478_400_000  // 2026-01-15 12:00 UTC
    static let julyNoonUTC: Int64 = 1_784_116_800_000  // 2026-07-15 12:00 UTC

    @Test func wallClockTimesMapToTheirInstant() {
        // 15:00 in Helsinki in July is 12:00 UTC; 14:00 in January is 12:00 UTC.
        #expect(Self.helsinki.unixMs(fromLocalMs: 1_784_127_600_000) == Self.julyNoonUTC)
        #expect(Self.helsinki.unixMs(fromLocalMs: 1_768_485_600_000) == Self.januaryNoonUTC)
        // 03:30 on 2026-03-29 does not exist there: it moves forward by the hour to 04:30 (01:30 UTC).
        #expect(Self.helsinki.unixMs(fromLocalMs: 1_774_755_000_000) == 1_774_747_800_000)
        // 03:30 on 2026-10-25 happens twice: standard time, the second one (01:30 UTC).
        #expect(Self.helsinki.unixMs(fromLocalMs: 1_792_899_000_000) == 1_792_891_800_000)
    }
}
