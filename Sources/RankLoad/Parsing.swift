import Foundation

/// Parsing of the human units rank-load's options take: durations ("10s", "250ms"), rates ("2000", "2k") and
/// SLO specifications ("p99=10ms,errors=0.1%").
public enum LoadParsing {
    /// An option value that cannot be understood; the message says what was expected.
    public struct InvalidValue: Error, CustomStringConvertible, Equatable {
        /// What was wrong and what would be accepted.
        public let description: String
    }

    /// Parses a duration such as "10s", "1.5s", "250ms", "800us", "2m" or "1h" into nanoseconds. A bare number is
    /// seconds. Negative, non-finite or unit-less garbage values are rejected.
    public static func nanoseconds(_ text: String) throws -> UInt64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [
            ("ns", 1), ("us", 1e3), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("m", 60e9), ("h", 3600e9),
        ]
        var number = trimmed
        var scale = 1e9
        // Longest suffix first so that "ms" is not read as "m" + "s".
        for (suffix, factor) in units.sorted(by: { $0.0.count > $1.0.count }) where trimmed.hasSuffix(suffix) {
            number = String(trimmed.dropLast(suffix.count))
            scale = factor
            break
        }
        guard let value = Double(number), value.isFinite, value >= 0, value * scale < 1e18 else {
            throw InvalidValue(description: "\"\(text)\" is not a duration; use e.g. 10s, 250ms, 800us, 2m")
        }
        return UInt64((value * scale).rounded())
    }

    /// Parses a request rate such as "2000", "2.5k" or "1m" (per second). Must be positive.
    public static func rate(_ text: String) throws -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        var number = trimmed
        var scale = 1.0
        if trimmed.hasSuffix("k") {
            number = String(trimmed.dropLast())
            scale = 1e3
        } else if trimmed.hasSuffix("m") {
            number = String(trimmed.dropLast())
            scale = 1e6
        }
        guard let value = Double(number), value.isFinite, value > 0 else {
            throw InvalidValue(
                description: "\"\(text)\" is not a positive rate in requests per second (e.g. 2000, 2.5k)"
            )
        }
        return value * scale
    }

    /// Parses a piecewise schedule "RATExDURATION,...", e.g. "600x2s,2400x10s,600x5s": 600 req/s for 2 s, then
    /// 2,400 for 10 s, then 600 for 5 s. Rates and durations take the units of ``rate(_:)`` and ``nanoseconds(_:)``;
    /// both must be positive.
    public static func schedule(_ text: String) throws -> [(rate: Double, durationNanoseconds: UInt64)] {
        let steps = try text.split(separator: ",", omittingEmptySubsequences: false).map {
            part -> (rate: Double, durationNanoseconds: UInt64) in
            let pair = part.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            guard pair.count == 2 else {
                throw InvalidValue(
                    description: "\"\(part)\" is not RATExDURATION; use e.g. 600x2s,2400x10s,600x5s"
                )
            }
            let duration = try nanoseconds(String(pair[1]))
            guard duration > 0 else {
                throw InvalidValue(description: "\"\(part)\": a step of a schedule lasts longer than 0 s")
            }
            return (try rate(String(pair[0])), duration)
        }
        guard !steps.isEmpty else {
            throw InvalidValue(description: "a schedule needs at least one step, e.g. 600x2s,2400x10s,600x5s")
        }
        return steps
    }

    /// Parses a fraction given as "0.1%" or "0.001". Must lie in 0...1.
    public static func fraction(_ text: String) throws -> Double {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let value: Double?
        if trimmed.hasSuffix("%") {
            value = Double(trimmed.dropLast()).map { $0 / 100 }
        } else {
            value = Double(trimmed)
        }
        guard let value, value.isFinite, value >= 0, value <= 1 else {
            throw InvalidValue(description: "\"\(text)\" is not a fraction; use e.g. 0.1% or 0.001")
        }
        return value
    }

    /// Parses "host:port" (IPv6 as "[::1]:port").
    public static func target(_ text: String) throws -> (host: String, port: Int) {
        let bad = InvalidValue(description: "\"\(text)\" is not host:port (e.g. 127.0.0.1:50051)")
        guard let colon = text.lastIndex(of: ":") else { throw bad }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
            throw bad
        }
        return (host, port)
    }
}
