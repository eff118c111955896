import Foundation

extension SettingKind {
    /// Parses `text` (a flag's or environment variable's value, or a YAML scalar); on failure returns a message
    /// saying what was expected and what was found. `quoted` marks a YAML string, which never counts as a number.
    func parse(_ text: String, quoted: Bool = false) -> Result<SettingValue, SettingParseError> {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch self {
        case .string:
            return .success(.string(text))
        case .choice(let choices):
            var word = trimmed.lowercased()
            if word == "warn", choices.contains("warning") { word = "warning" }
            guard choices.contains(word) else {
                return .failure(.init("must be one of \(choices.joined(separator: ", ")), got \(shown(text))"))
            }
            return .success(.string(word))
        case .integer(let range):
            guard !quoted, let value = Int(trimmed) else { return .failure(.init(expectation(range, text))) }
            guard range.contains(value) else { return .failure(.init(expectation(range, text))) }
            return .success(.integer(value))
        case .unsigned:
            guard !quoted, let value = UInt64(trimmed) else {
                return .failure(.init("must be a non-negative integer, got \(shown(text))"))
            }
            return .success(.unsigned(value))
        case .number(let minimum, let exclusive, let maximum):
            let message = numberExpectation(minimum: minimum, exclusive: exclusive, maximum: maximum, text: text)
            guard !quoted, let value = Double(trimmed), value.isFinite else { return .failure(.init(message)) }
            guard exclusive ? value > minimum : value >= minimum else { return .failure(.init(message)) }
            if let maximum, value > maximum { return .failure(.init(message)) }
            return .success(.number(value))
        case .cpuList:
            var cpus: [Int] = []
            for part in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
                let piece = part.trimmingCharacters(in: .whitespaces)
                guard let cpu = Int(piece), (0...4095).contains(cpu) else {
                    return .failure(.init("must be CPU numbers 0...4095 separated by commas, got \(shown(text))"))
                }
                cpus.append(cpu)
            }
            return .success(.integers(cpus))
        }
    }

    /// What a person should write, for a problem found elsewhere (e.g. a YAML value of the wrong shape).
    func expectation(found: String) -> String {
        switch self {
        case .string: return "must be text, got \(found)"
        case .choice(let choices): return "must be one of \(choices.joined(separator: ", ")), got \(found)"
        case .integer(let range): return expectation(range, found, alreadyShown: true)
        case .unsigned: return "must be a non-negative integer, got \(found)"
        case .number(let minimum, let exclusive, let maximum):
            return numberExpectation(minimum: minimum, exclusive: exclusive, maximum: maximum, text: found, shown: true)
        case .cpuList: return "must be a list of CPU numbers, got \(found)"
        }
    }

    private func expectation(_ range: ClosedRange<Int>, _ text: String, alreadyShown: Bool = false) -> String {
        let found = alreadyShown ? text : shown(text)
        if range.upperBound >= Int(Int32.max) {
            if range.lowerBound == 0 { return "must be a non-negative integer, got \(found)" }
            if range.lowerBound == 1 { return "must be a positive integer, got \(found)" }
            return "must be an integer of at least \(range.lowerBound), got \(found)"
        }
        return "must be an integer in \(range.lowerBound)...\(range.upperBound), got \(found)"
    }

    private func numberExpectation(
        minimum: Double,
        exclusive: Bool,
        maximum: Double?,
        text: String,
        shown alreadyShown: Bool = false
    ) -> String {
        let found = alreadyShown ? text : shown(text)
        let low = SettingValue.number(minimum).description
        if let maximum {
            let high = SettingValue.number(maximum).description
            return exclusive
                ? "must be a number above \(low) and at most \(high), got \(found)"
                : "must be a number in \(low)...\(high), got \(found)"
        }
        if minimum == 0 {
            return exclusive ? "must be a positive number, got \(found)" : "must be a non-negative number, got \(found)"
        }
        return "must be a number \(exclusive ? "above" : "of at least") \(low), got \(found)"
    }
}

/// Why a value was refused.
struct SettingParseError: Error, Sendable {
    let message: String
    init(_ message: String) { self.message = message }
}

/// How a found value is quoted in a message: numbers bare, anything else in double quotes.
func shown(_ text: String) -> String {
    if Double(text.trimmingCharacters(in: .whitespaces)) != nil, !text.isEmpty { return text }
    return "\"\(text)\""
}
