/// The `grpc-timeout` header: 1 to 8 ASCII digits followed by one unit letter (H M S m u n).
public enum GRPCTimeout {
    /// The largest value the spec allows before the unit.
    public static let maxValue: Int64 = 99_999_999

    /// Nanoseconds per unit, finest first, so `encode` can stop at the first unit that fits.
    private static let units: [(letter: UInt8, nanoseconds: Int64)] = [
        (UInt8(ascii: "n"), 1),
        (UInt8(ascii: "u"), 1_000),
        (UInt8(ascii: "m"), 1_000_000),
        (UInt8(ascii: "S"), 1_000_000_000),
        (UInt8(ascii: "M"), 60_000_000_000),
        (UInt8(ascii: "H"), 3_600_000_000_000),
    ]

    /// Parses a header value into nanoseconds. Returns nil for an empty value, a missing or unknown unit, more than
    /// 8 digits, or any non-digit. Durations beyond `Int64.max` nanoseconds (about 292 years; only hour values above
    /// 2,562,047 get there) saturate to `Int64.max`. A zero value is accepted and means the deadline has already
    /// passed.
    public static func parseNanoseconds(_ value: String) -> Int64? {
        let utf8 = value.utf8
        guard utf8.count >= 2, utf8.count <= 9, let unitLetter = utf8.last else { return nil }
        guard let unit = units.first(where: { $0.letter == unitLetter }) else { return nil }
        var amount: Int64 = 0
        for byte in utf8.dropLast() {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            amount = amount * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: unit.nanoseconds)
        return overflow ? Int64.max : product
    }

    /// Encodes a duration in the finest unit whose value fits in 8 digits, rounding up so the peer never sees a
    /// shorter deadline than the caller asked for. Zero or negative durations encode as `0n` (already expired).
    public static func encode(nanoseconds: Int64) -> String {
        guard nanoseconds > 0 else { return "0n" }
        for unit in units {
            // Ceiling division without overflow: nanoseconds is positive.
            let amount = (nanoseconds - 1) / unit.nanoseconds + 1
            if amount <= maxValue {
                return "\(amount)\(Character(Unicode.Scalar(unit.letter)))"
            }
        }
        // Int64.max nanoseconds is about 2.6 million hours, which always fits in the hour unit.
        preconditionFailure("unreachable: \(nanoseconds)ns does not fit in 8 digits of hours")
    }
}
