/// A point on the earth, degrees.
public struct GeoPoint: Equatable, Sendable {
    /// Latitude, -90 to 90.
    public var lat: Double
    /// Longitude, -180 to 180.
    public var lon: Double

    /// A point.
    public init(lat: Double, lon: Double) {
        self.lat = lat
        self.lon = lon
    }
}

/// One open interval of a weekly schedule.
public struct OpenInterval: Equatable, Sendable {
    /// The weekday it opens, 1 = Monday ... 7 = Sunday (ISO 8601); anything else is malformed.
    public var weekday: Int
    /// Local minute of that day it opens, 0 to 1439.
    public var openMinute: Int
    /// Local minute it closes, from the same midnight; above 1440 is after midnight on the next day.
    public var closeMinute: Int

    /// An interval.
    public init(weekday: Int, openMinute: Int, closeMinute: Int) {
        self.weekday = weekday
        self.openMinute = openMinute
        self.closeMinute = closeMinute
    }
}

/// Weekly opening hours in the local time of an IANA time zone.
public struct WeeklySchedule: Equatable, Sendable {
    /// IANA time zone name, e.g. "Europe/Berlin".
    public var timeZone: String
    /// The open intervals; a weekday without any is closed.
    public var intervals: [OpenInterval]

    /// A schedule.
    public init(timeZone: String, intervals: [OpenInterval]) {
        self.timeZone = timeZone
        self.intervals = intervals
    }
}

/// One entry of an interaction history.
public struct Interaction: Equatable, Sendable {
    /// The entity interacted with, of the history's target kind.
    public var entityID: String
    /// What happened: "order", "play", "skip"...
    public var event: String
    /// When, Unix milliseconds.
    public var unixMilliseconds: Int64

    /// An interaction.
    public init(entityID: String, event: String, unixMilliseconds: Int64) {
        self.entityID = entityID
        self.event = event
        self.unixMilliseconds = unixMilliseconds
    }
}

/// The value of one attribute of one entity.
public enum AttributeValue: Equatable, Sendable {
    case number(Double)
    case category(String)
    case tags([String])
    case geo(GeoPoint)
    case radius(metres: Double)
    case schedule(WeeklySchedule)
    case timestamp(unixMilliseconds: Int64)
    case embedding([Float])
    case reference(String)
    case history([Interaction])
    case text(String)

    /// The attribute type this value is of.
    public var type: AttributeType {
        switch self {
        case .number: .number
        case .category: .category
        case .tags: .tags
        case .geo: .geo
        case .radius: .radius
        case .schedule: .schedule
        case .timestamp: .timestamp
        case .embedding: .embedding
        case .reference: .reference
        case .history: .history
        case .text: .text
        }
    }

    /// The value as a person reads it in a table, or nil for types that have no short text form (schedules,
    /// embeddings, histories). Numbers lose trailing zeros (`4.5`, `2`), tags are joined with `, `, a radius is
    /// in km, a timestamp is its ISO 8601 date-time, and a point is `lat,lon`.
    public var displayText: String? {
        switch self {
        case .text(let text), .category(let text), .reference(let text): return text
        case .number(let number): return Self.shortNumber(number)
        case .tags(let tags): return tags.joined(separator: ", ")
        case .radius(let metres): return Self.shortNumber(metres / 1000) + " km"
        case .timestamp(let milliseconds): return Timestamps.formatISO8601(milliseconds)
        case .geo(let point): return Self.shortNumber(point.lat) + "," + Self.shortNumber(point.lon)
        case .schedule, .embedding, .history: return nil
        }
    }

    /// At most 4 decimals, without trailing zeros; integers without a point.
    static func shortNumber(_ number: Double) -> String {
        var bytes: [UInt8] = []
        appendShortNumber(number, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `shortNumber(number)` to `out` without making a string for the usual cases: integers, and values
    /// whose ten-thousandths round the same whatever printf's exact binary rounding does. Values within a hair of a
    /// rounding tie take printf.
    static func appendShortNumber(_ number: Double, to out: inout [UInt8]) {
        guard number.isFinite else { return out.append(contentsOf: "\(number)".utf8) }
        // The value is `units` / 10^`decimals`, written right to left into a few bytes of stack and appended once.
        var units: UInt64
        var decimals = 0
        if number == number.rounded(), abs(number) < 1e15 {
            units = UInt64(abs(number))
        } else {
            let scaled = number * 10_000
            guard abs(scaled) < 1e14, abs(abs(scaled - scaled.rounded(.towardZero)) - 0.5) > 1e-6 else {
                return out.append(contentsOf: printfShortNumber(number).utf8)
            }
            units = UInt64(abs(scaled.rounded()))
            decimals = 4
            while decimals > 0 && units % 10 == 0 {
                units /= 10
                decimals -= 1
            }
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { digits in
            var i = digits.count
            func put(_ byte: UInt8) {
                i -= 1
                digits[i] = byte
            }
            for _ in 0..<decimals {
                put(UInt8(ascii: "0") + UInt8(units % 10))
                units /= 10
            }
            if decimals > 0 { put(UInt8(ascii: ".")) }
            repeat {
                put(UInt8(ascii: "0") + UInt8(units % 10))
                units /= 10
            } while units > 0
            if number < 0 { put(UInt8(ascii: "-")) }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[i...]))
        }
    }

    private static func printfShortNumber(_ number: Double) -> String {
        var text = String(format: "%.4f", number)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}

/// One entity: its id and its attribute values by attribute name. The Swift form of `ranking.catalog.v1.Entity`.
public struct EntityRecord: Equatable, Sendable {
    /// Unique within its kind.
    public var id: String
    /// Values by attribute name; an attribute without a value is absent.
    public var attributes: [String: AttributeValue]

    /// A record.
    public init(id: String, attributes: [String: AttributeValue] = [:]) {
        self.id = id
        self.attributes = attributes
    }
}
