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
