import Testing

@testable import Ranking

/// Local time comes from each market's IANA zone, taken from its venues' opening hours in the snapshot, so opening
/// hours hold across daylight-saving changes.
@Suite struct LocalTimeTests {
    static let helsinki = Fixture.catalog.markets[Fixture.catalog.marketIndex("hel")!]
    static let berlin = Fixture.catalog.markets[Fixture.catalog.marketIndex("ber")!]

    @Test func eachMarketTakesTheZoneOfItsVenuesOpeningHours() {
        #expect(Self.helsinki.timeZone == "Europe/Helsinki")
        #expect(Self.berlin.timeZone == "Europe/Berlin")
        #expect(
            Fixture.catalog.markets.map(\.code).sorted() == ["ber", "cph", "hel", "osl", "prg", "sto", "tll", "waw"]
        )
    }
    static let januaryNoonUTC: Int64 = 1_768_478_400_000  // 2026-01-15 12:00 UTC
    static let julyNoonUTC: Int64 = 1_784_116_800_000  // 2026-07-15 12:00 UTC

    @Test func offsetsFollowDaylightSaving() {
        #expect(Self.helsinki.utcOffsetMinutes(atUnixMs: Self.januaryNoonUTC) == 120)
        #expect(Self.helsinki.utcOffsetMinutes(atUnixMs: Self.julyNoonUTC) == 180)
        #expect(Self.berlin.utcOffsetMinutes(atUnixMs: Self.januaryNoonUTC) == 60)
        #expect(Self.berlin.utcOffsetMinutes(atUnixMs: Self.julyNoonUTC) == 120)
        // Helsinki's clocks go from 03:00 to 04:00 at 01:00 UTC on 2026-03-29, and back at 01:00 UTC on 2026-10-25.
        #expect(Self.helsinki.utcOffsetMinutes(atUnixMs: 1_774_745_940_000) == 120)
        #expect(Self.helsinki.utcOffsetMinutes(atUnixMs: 1_774_746_000_000) == 180)
        #expect(Self.helsinki.utcOffsetMinutes(atUnixMs: 1_792_889_940_000) == 180)
        #expect(Self.helsinki.utcOffsetMinutes(atUnixMs: 1_792_890_000_000) == 120)
    }

    @Test func theRequestFrameSeesSummerTime() {
        func frame(_ time: Int64) -> RequestFrame {
            RequestFrame(
                catalog: Fixture.catalog,
                userIndex: nil,
                latitude: Self.helsinki.latitude,
                longitude: Self.helsinki.longitude,
                timeUnixMs: time,
                venueIndex: nil
            )
        }
        let july = frame(Self.julyNoonUTC)
        #expect(july.city == Fixture.catalog.marketIndex("hel"))
        #expect(july.hour == 15 && july.minuteOfDay == 900)
        #expect(july.weekday == 2)  // Wednesday, 0 = Monday
        let january = frame(Self.januaryNoonUTC)
        #expect(january.hour == 14 && january.minuteOfDay == 840)
    }

    @Test func aVenueIsClosedAMinuteAfterClosingInSummerTime() throws {
        // A Helsinki venue open every day and closing before midnight: one minute after its closing time in July,
        // local summer time, it is closed; read with the winter offset the same instant would be an hour earlier,
        // while it is still open.
        let c = Fixture.catalog
        let hel = try #require(Fixture.catalog.marketIndex("hel"))
        let venue = try #require(
            (0..<c.venueCount).first {
                Int(c.venueCity[$0]) == hel && c.venueClosedDays[$0] == 0 && c.venueCloseMinute[$0] < 1439
                    && Int(c.venueCloseMinute[$0]) - 59 >= Int(c.venueOpenMinute[$0])
            },
            "the fixture needs a Helsinki venue open every day and closing before midnight"
        )
        let close = Int(c.venueCloseMinute[venue])
        // Local summer time one minute after closing, and the same instant read with winter's offset (open).
        let afterClose = Self.julyNoonUTC + Int64(close + 1 - 15 * 60) * 60_000
        let local = Self.helsinki.utcOffsetMinutes(atUnixMs: afterClose)
        #expect(local == 180)
        let summer = RequestFrame(
            catalog: c,
            userIndex: nil,
            latitude: c.venueLatitude[venue],
            longitude: c.venueLongitude[venue],
            timeUnixMs: afterClose,
            venueIndex: nil
        )
        #expect(!c.isOpen(venue, weekday: summer.weekday, minuteOfDay: summer.minuteOfDay))
        #expect(c.isOpen(venue, weekday: summer.weekday, minuteOfDay: summer.minuteOfDay - 60))
    }
}
