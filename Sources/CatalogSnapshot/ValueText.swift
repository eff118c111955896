/// The text forms of attribute values in CSV cells (and in JSON Lines where a value is given as a string).
///
/// | type | text |
/// |---|---|
/// | number, radius | a decimal number: `4.5`, `-3`, `1e3` |
/// | category, reference, text | the text as it is |
/// | tags | values separated by `|`: `pizza|italian` |
/// | geo | latitude and longitude separated by a comma or spaces: `52.52,13.405` |
/// | schedule | `ZONE; DAYS TIMES; ...`: `Europe/Berlin; mon-fri 11:00-22:00; sat,sun 12:00-15:00,18:00-02:00` |
/// | timestamp | Unix milliseconds, or ISO 8601: `2024-05-01`, `2024-05-01T18:30:00Z`, `...+02:00` |
/// | embedding | numbers separated by `|`, commas or spaces, optionally in brackets: `0.1|0.2|-0.3` |
/// | history | entries separated by `|`, each `ENTITY_ID:EVENT:TIME`: `v12:order:2024-05-01T19:00:00Z` |
public enum ValueText {
    /// Parses `text` as a value of `type`; the error says what was expected.
    public static func parse(_ text: String, as type: AttributeType) -> Result<AttributeValue, ValueTextError> {
        switch type {
        case .number:
            guard let number = number(text) else { return .failure(.wrongType("\"\(clip(text))\" is not a number")) }
            return .success(.number(number))
        case .radius:
            guard let metres = number(text) else {
                return .failure(.wrongType("\"\(clip(text))\" is not a distance in metres"))
            }
            return .success(.radius(metres: metres))
        case .category:
            return .success(.category(text))
        case .text:
            return .success(.text(text))
        case .reference:
            return .success(.reference(text))
        case .tags:
            return .success(.tags(text.split(separator: "|", omittingEmptySubsequences: false).map(trimmed)))
        case .geo:
            let parts = text.split(whereSeparator: { $0 == "," || $0 == " " || $0 == "\t" })
            guard parts.count == 2, let lat = number(String(parts[0])), let lon = number(String(parts[1])) else {
                return .failure(.wrongType("\"\(clip(text))\" is not \"latitude,longitude\""))
            }
            return .success(.geo(GeoPoint(lat: lat, lon: lon)))
        case .timestamp:
            guard let milliseconds = timestamp(text) else {
                return .failure(.wrongType("\"\(clip(text))\" is not Unix milliseconds or an ISO 8601 date-time"))
            }
            return .success(.timestamp(unixMilliseconds: milliseconds))
        case .embedding:
            var body = Substring(trimmed(Substring(text)))
            if body.hasPrefix("[") && body.hasSuffix("]") { body = body.dropFirst().dropLast() }
            var values: [Float] = []
            for part in body.split(whereSeparator: { $0 == "|" || $0 == "," || $0 == " " || $0 == "\t" }) {
                guard let value = Float(String(part)) else {
                    return .failure(.wrongType("\"\(clip(String(part)))\" in the embedding is not a number"))
                }
                values.append(value)
            }
            return .success(.embedding(values))
        case .history:
            var entries: [Interaction] = []
            for (index, entry) in text.split(separator: "|").enumerated() {
                let parts = entry.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                guard parts.count == 3, let time = timestamp(String(parts[2])) else {
                    return .failure(
                        .wrongType("entry \(index + 1) \"\(clip(String(entry)))\" is not ENTITY_ID:EVENT:TIME")
                    )
                }
                entries.append(
                    Interaction(entityID: trimmed(parts[0]), event: trimmed(parts[1]), unixMilliseconds: time)
                )
            }
            return .success(.history(entries))
        case .schedule:
            return schedule(text).map { .schedule($0) }
        }
    }

    /// A finite or non-finite decimal number, surrounding spaces allowed.
    static func number(_ text: String) -> Double? {
        let body = trimmed(Substring(text))
        guard !body.isEmpty else { return nil }
        return Double(body)
    }

    /// Unix milliseconds (an integer) or an ISO 8601 date or date-time.
    static func timestamp(_ text: String) -> Int64? {
        let body = trimmed(Substring(text))
        if let milliseconds = Int64(body) { return milliseconds }
        return Timestamps.parseISO8601(body)
    }

    /// Parses the schedule syntax. Zone names and minute ranges are checked later, with every other input's
    /// schedules; this only reads the text.
    public static func schedule(_ text: String) -> Result<WeeklySchedule, ValueTextError> {
        let entries = text.split(separator: ";", omittingEmptySubsequences: false).map(trimmed)
        guard let zone = entries.first, !zone.isEmpty, !zone.contains(" ") else {
            return .failure(
                .malformedSchedule(
                    "expected \"ZONE; DAYS HH:MM-HH:MM; ...\", e.g. "
                        + "\"Europe/Berlin; mon-fri 11:00-22:00\""
                )
            )
        }
        var intervals: [OpenInterval] = []
        for entry in entries.dropFirst() where !entry.isEmpty {
            let words = entry.split(maxSplits: 1, whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count == 2 else {
                return .failure(.malformedSchedule("\"\(clip(entry))\" is not \"DAYS HH:MM-HH:MM[,HH:MM-HH:MM]\""))
            }
            guard let days = weekdays(String(words[0])) else {
                return .failure(
                    .malformedSchedule("\"\(clip(String(words[0])))\" is not a day or day range such as mon-fri")
                )
            }
            let times = trimmed(words[1])
            if times.lowercased() == "closed" { continue }
            for range in times.split(separator: ",").map(trimmed) {
                let ends = range.split(separator: "-", omittingEmptySubsequences: false)
                guard ends.count == 2, let open = clock(String(ends[0])), let close = clock(String(ends[1])) else {
                    return .failure(.malformedSchedule("\"\(clip(range))\" is not HH:MM-HH:MM"))
                }
                // A closing time at or before the opening time is after midnight, on the next day.
                let closeMinute = close <= open ? close + 1440 : close
                for day in days {
                    intervals.append(OpenInterval(weekday: day, openMinute: open, closeMinute: closeMinute))
                }
            }
        }
        return .success(WeeklySchedule(timeZone: zone, intervals: intervals))
    }

    /// `mon`, `mon-fri` (a range may wrap: `fri-mon`), or a comma list of either; 1 = Monday.
    static func weekdays(_ text: String) -> [Int]? {
        var days: [Int] = []
        for part in text.lowercased().split(separator: ",", omittingEmptySubsequences: false) {
            let ends = part.split(separator: "-", omittingEmptySubsequences: false)
            guard ends.count == 1 || ends.count == 2 else { return nil }
            guard let first = weekday(ends[0]), let last = weekday(ends[ends.count - 1]) else { return nil }
            var day = first
            while true {
                if !days.contains(day) { days.append(day) }
                if day == last { break }
                day = day % 7 + 1
            }
        }
        return days
    }

    private static func weekday(_ text: Substring) -> Int? {
        let names = [
            ["mon", "monday"], ["tue", "tuesday"], ["wed", "wednesday"], ["thu", "thursday"], ["fri", "friday"],
            ["sat", "saturday"], ["sun", "sunday"],
        ]
        return names.firstIndex { $0.contains(String(text)) }.map { $0 + 1 }
    }

    /// Minutes since midnight of `H:MM` or `HH:MM`, hours up to 24; ranges are checked later.
    static func clock(_ text: String) -> Int? {
        let parts = trimmed(Substring(text)).split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, (1...2).contains(parts[0].count), parts[1].count == 2,
            let hours = Int(parts[0]), let minutes = Int(parts[1]), hours >= 0, minutes >= 0
        else { return nil }
        return hours * 60 + minutes
    }

    /// The schedule in the text syntax, one entry per interval.
    public static func format(_ schedule: WeeklySchedule) -> String {
        ([schedule.timeZone] + schedule.intervals.map(RecordChecker.describe)).joined(separator: "; ")
    }

    static func trimmed<S: StringProtocol>(_ text: S) -> String {
        var slice = Substring(text)
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }

    /// At most 60 characters of input, for error messages.
    static func clip<S: StringProtocol>(_ text: S) -> String {
        text.count <= 60 ? String(text) : String(text.prefix(57)) + "..."
    }
}

/// Why a text or JSON value cannot be read as its declared type.
public enum ValueTextError: Error, Equatable, Sendable {
    /// Not the declared type.
    case wrongType(String)
    /// A schedule whose text does not follow the syntax.
    case malformedSchedule(String)

    var issue: (ProblemClass, String) {
        switch self {
        case .wrongType(let message): (.wrongType, message)
        case .malformedSchedule(let message): (.malformedSchedule, message)
        }
    }
}
