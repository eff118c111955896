import Testing

@testable import Ranking

/// Exact weekly hours: several intervals a day, different hours per day, and nights past midnight.
@Suite struct OpeningHoursTests {
    static func pack(_ weekday: Int, _ open: Int, _ close: Int) -> UInt32 {
        OpeningHours.pack(weekday: weekday, openMinute: open, closeMinute: close)!
    }

    /// The fixture catalog with venue 0 open Monday 11:00-14:00 and 17:00-22:00 and Saturday 18:00-02:00, venue 1
    /// never open, and every other venue keeping its daily hours as weekly intervals.
    static let catalog: Catalog = {
        var c = Fixture.catalog.columns
        var start: [Int32] = [0]
        var hours: [UInt32] = []
        for v in 0..<c.venueCount {
            if v == 0 {
                hours += [pack(0, 660, 840), pack(0, 1020, 1320), pack(5, 1080, 1560)]
            } else if v > 1 {
                for day in 0..<7 where c.venueClosedDays[v] & (1 << UInt8(day)) == 0 {
                    hours.append(pack(day, Int(c.venueOpenMinute[v]), Int(c.venueCloseMinute[v])))
                }
            }
            start.append(Int32(hours.count))
        }
        c.venueHoursStart = start
        c.venueHours = hours
        return Catalog(c)
    }()

    @Test func packingKeepsTheIntervalAndRefusesImpossibleOnes() {
        #expect(OpeningHours.unpack(Self.pack(5, 1080, 1560)) == (5, 1080, 1560))
        #expect(OpeningHours.pack(weekday: 7, openMinute: 0, closeMinute: 60) == nil)
        #expect(OpeningHours.pack(weekday: 0, openMinute: 1440, closeMinute: 1500) == nil)
        #expect(OpeningHours.pack(weekday: 0, openMinute: 600, closeMinute: 600) == nil)
        #expect(OpeningHours.pack(weekday: 0, openMinute: 600, closeMinute: 2041) == nil)
    }

    @Test(arguments: [
        (0, 10 * 60 + 59, false, 0), (0, 11 * 60, true, 180), (0, 13 * 60 + 59, true, 1), (0, 15 * 60, false, 0),
        (0, 17 * 60, true, 300), (0, 22 * 60, false, 0), (1, 12 * 60, false, 0), (5, 18 * 60, true, 480),
        (6, 60, true, 60), (6, 2 * 60, false, 0), (4, 18 * 60, false, 0),
    ])
    func aVenueWithLunchAndDinnerAndALateSaturday(weekday: Int, minute: Int, open: Bool, minutesLeft: Int) {
        #expect(Self.catalog.isOpen(0, weekday: weekday, minuteOfDay: minute) == open)
        #expect(Self.catalog.minutesToClose(0, weekday: weekday, minuteOfDay: minute) == minutesLeft)
    }

    @Test func aVenueWithNoIntervalsIsNeverOpen() {
        for weekday in 0..<7 {
            for minute in stride(from: 0, to: 1440, by: 30) {
                #expect(!Self.catalog.isOpen(1, weekday: weekday, minuteOfDay: minute))
            }
        }
    }

    @Test func dailyHoursWrittenAsWeeklyIntervalsGiveTheSameAnswers() {
        let daily = Fixture.catalog
        for v in 2..<min(daily.venueCount, 60) {
            for weekday in 0..<7 {
                for minute in stride(from: 0, to: 1440, by: 17) {
                    #expect(
                        Self.catalog.isOpen(v, weekday: weekday, minuteOfDay: minute)
                            == daily.isOpen(v, weekday: weekday, minuteOfDay: minute)
                    )
                    #expect(
                        Self.catalog.minutesToClose(v, weekday: weekday, minuteOfDay: minute)
                            == daily.minutesToClose(v, weekday: weekday, minuteOfDay: minute)
                    )
                }
            }
        }
    }
}

/// The daily hours and whether a venue takes orders, packed per grid position for the ring scan
/// (``Catalog/gridHours``).
@Suite struct DailyHoursTests {
    @Test func thePackedWordAnswersAsTheColumnsDo() throws {
        let c = Fixture.catalog
        #expect(c.venueHoursStart.isEmpty)
        #expect(c.gridHours.count == c.spatial.grids.count)
        var open = 0
        var closed = 0
        for (city, grid) in c.spatial.grids.enumerated() {
            #expect(c.gridHours[city].count == grid.cellVenues.count)
            for (position, v32) in grid.cellVenues.enumerated() {
                let v = Int(v32)
                for weekday in 0..<7 {
                    for minute in stride(from: weekday, to: 1440, by: 13) {
                        let expected = c.venueAvailable[v] && c.isOpen(v, weekday: weekday, minuteOfDay: minute)
                        let word = c.gridHours[city][position]
                        #expect(DailyHours.isOrderableNow(word, weekday: weekday, minuteOfDay: minute) == expected)
                        if expected { open += 1 } else { closed += 1 }
                    }
                }
            }
        }
        // Both answers, past-midnight tails and venues not taking orders among them.
        #expect(open > 0 && closed > 0)
        #expect(c.venueCloseMinute.contains { $0 > 1440 })
        #expect(c.venueAvailable.contains(false))
    }

    @Test func aMinuteTheWordCannotHoldOrWeeklyHoursLeaveTheColumnsToTheScan() throws {
        #expect(DailyHours.pack(open: 600, close: 4095, closedDays: 0xFF, available: true) != nil)
        #expect(DailyHours.pack(open: 4096, close: 4100, closedDays: 0, available: true) == nil)
        #expect(DailyHours.pack(open: 0, close: 4096, closedDays: 0, available: true) == nil)
        // Bit 7 of the closed days names no weekday and is dropped.
        let word = try #require(DailyHours.pack(open: 0, close: 1440, closedDays: 0x80, available: true))
        #expect((0..<7).allSatisfy { DailyHours.isOrderableNow(word, weekday: $0, minuteOfDay: 600) })
        #expect(OpeningHoursTests.catalog.gridHours.isEmpty)
        var columns = Fixture.catalog.columns
        columns.venueCloseMinute[3] = 5000
        let unpackable = Catalog(columns)
        #expect(unpackable.gridHours.isEmpty)
        // Without the words the scan reads the columns, and finds what the words find where both apply.
        let fast = FastPathTests()
        var found = 0
        for spot in fast.spots {
            var viaColumns: [Int32] = []
            try NearbySource().generate(
                fast.request(spot, catalog: unpackable),
                quota: 10_000,
                deadline: fast.far,
                into: &viaColumns
            )
            var viaWords: [Int32] = []
            try NearbySource().generate(fast.request(spot), quota: 10_000, deadline: fast.far, into: &viaWords)
            #expect(viaColumns.filter { $0 != 3 } == viaWords.filter { $0 != 3 })
            found += viaWords.count
        }
        #expect(found > 0)
    }
}
