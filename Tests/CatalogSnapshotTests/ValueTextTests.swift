import Testing

@testable import CatalogSnapshot

@Suite("Value text forms")
struct ValueTextTests {
    @Test("A schedule's text names the zone, then days and times; a close before the open is after midnight")
    func scheduleSyntax() throws {
        let schedule = try ValueText.schedule("Europe/Berlin; mon-tue 11:00-14:30,17:00-22:00; sun 18:00-02:00").get()
        #expect(schedule.timeZone == "Europe/Berlin")
        #expect(
            schedule.intervals == [
                OpenInterval(weekday: 1, openMinute: 660, closeMinute: 870),
                OpenInterval(weekday: 2, openMinute: 660, closeMinute: 870),
                OpenInterval(weekday: 1, openMinute: 1020, closeMinute: 1320),
                OpenInterval(weekday: 2, openMinute: 1020, closeMinute: 1320),
                OpenInterval(weekday: 7, openMinute: 1080, closeMinute: 1560),
            ]
        )
    }

    @Test("Day ranges may wrap the week, lists mix days and ranges, and closed days add nothing")
    func dayRanges() throws {
        #expect(ValueText.weekdays("fri-mon") == [5, 6, 7, 1])
        #expect(ValueText.weekdays("mon,wed-thu") == [1, 3, 4])
        #expect(ValueText.weekdays("Sunday") == [7])
        #expect(ValueText.weekdays("funday") == nil)
        let closed = try ValueText.schedule("Asia/Tokyo; mon-sun closed").get()
        #expect(closed.intervals.isEmpty)
        #expect(try ValueText.schedule("Europe/Oslo; mon 00:00-24:00").get().intervals.first?.closeMinute == 1440)
    }

    @Test("Schedule text that does not follow the syntax is a malformed schedule, not a crash")
    func badScheduleSyntax() {
        for text in [
            "", "; mon 10:00-11:00", "Europe/Berlin; mon", "Europe/Berlin; xyz 10:00-11:00",
            "Europe/Berlin; mon 10-11", "Europe/Berlin; mon 10:00",
        ] {
            guard case .failure(.malformedSchedule) = ValueText.schedule(text) else {
                Issue.record("accepted \"\(text)\"")
                continue
            }
        }
    }

    @Test("A schedule formats to text that parses back to the same schedule")
    func scheduleFormatRoundTrip() throws {
        let schedule = WeeklySchedule(
            timeZone: "America/New_York",
            intervals: [
                OpenInterval(weekday: 6, openMinute: 1200, closeMinute: 1680),
                OpenInterval(weekday: 3, openMinute: 0, closeMinute: 1440),
                OpenInterval(weekday: 2, openMinute: 600, closeMinute: 2040),
            ]
        )
        #expect(try ValueText.schedule(ValueText.format(schedule)).get() == schedule)
    }

    @Test(
        "Timestamps read as Unix milliseconds or ISO 8601 dates and times with offsets",
        arguments: [
            ("1714590000000", Int64(1_714_590_000_000)),
            ("1970-01-01", 0),
            ("2024-02-29", 1_709_164_800_000),
            ("2024-05-01T19:00:00Z", 1_714_590_000_000),
            ("2024-05-01T21:00:00+02:00", 1_714_590_000_000),
            ("2024-05-01 19:00:00.250Z", 1_714_590_000_250),
            ("1969-12-31T23:59:59Z", -1000),
            ("1901-06-01", -2_164_406_400_000),
        ]
    )
    func timestamps(text: String, milliseconds: Int64) {
        #expect(ValueText.timestamp(text) == milliseconds)
    }

    @Test("Impossible dates and stray text are not timestamps")
    func badTimestamps() {
        for text in ["2023-02-29", "2024-13-01", "2024-05-01T25:00:00Z", "2024-05-01T10:00:00", "yesterday", "12abc"] {
            #expect(ValueText.timestamp(text) == nil, "\(text)")
        }
    }

    @Test("Formatting milliseconds as ISO 8601 and parsing them back is exact, before and after 1970")
    func timestampFormatRoundTrip() {
        for milliseconds: Int64 in [0, 1, -1, 1_714_590_000_123, -2_132_870_400_001, 253_402_300_799_999] {
            #expect(Timestamps.parseISO8601(Timestamps.formatISO8601(milliseconds)) == milliseconds)
        }
    }

    @Test("Embeddings, geo points, tags and histories read from their CSV forms")
    func listForms() throws {
        #expect(try ValueText.parse("0.5|-1|2e-3", as: .embedding).get() == .embedding([0.5, -1, 0.002]))
        #expect(try ValueText.parse("[0.5, -1, 2]", as: .embedding).get() == .embedding([0.5, -1, 2]))
        #expect(try ValueText.parse("52.5, 13.4", as: .geo).get() == .geo(GeoPoint(lat: 52.5, lon: 13.4)))
        #expect(try ValueText.parse("pizza| italian", as: .tags).get() == .tags(["pizza", "italian"]))
        #expect(
            try ValueText.parse("t1:play:2024-05-01T19:00:00Z|t2:skip:5", as: .history).get()
                == .history([
                    Interaction(entityID: "t1", event: "play", unixMilliseconds: 1_714_590_000_000),
                    Interaction(entityID: "t2", event: "skip", unixMilliseconds: 5),
                ])
        )
        guard case .failure(.wrongType) = ValueText.parse("t1:play", as: .history) else {
            Issue.record("a history entry without a time was accepted")
            return
        }
        guard case .failure(.wrongType) = ValueText.parse("12,x", as: .geo) else {
            Issue.record("a geo point with text was accepted")
            return
        }
    }
}
