/// A parsed JSON value that keeps numbers as their source text.
///
/// Foundation's JSON parser hands numbers over as `Double`; XGBoost writes float32 values, and parsing their
/// shortest decimal form straight to `Float` differs from parsing it to `Double` first in rare double-rounding cases.
/// Keeping the text lets each field be converted once, correctly, to the type it has in the library.
enum JSONValue {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
}

/// A strict, bounded JSON parser over bytes. It accepts `NaN`, `Infinity` and `-Infinity` as numbers because
/// XGBoost's own writer emits them for non-finite floats; everything else follows RFC 8259.
struct JSONParser {
    /// Deeper nesting is refused rather than risking the stack on hostile input; model files need about 6.
    static let maximumDepth = 64

    private let bytes: [UInt8]
    private let format: String
    private var position = 0

    /// Parses a whole document; `format` names the file kind in error messages.
    static func parse(_ bytes: [UInt8], format: String) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, format: format)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else {
            throw parser.error("unexpected data after the JSON document")
        }
        return value
    }

    private init(bytes: [UInt8], format: String) {
        self.bytes = bytes
        self.format = format
    }

    private func error(_ reason: String) -> ModelLoadError {
        .malformed(format: format, location: "byte \(position)", reason: reason)
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                position += 1
            default:
                return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < Self.maximumDepth else { throw error("JSON nested deeper than \(Self.maximumDepth) levels") }
        guard position < bytes.count else { throw error("unexpected end of file") }
        switch bytes[position] {
        case UInt8(ascii: "{"):
            return try parseObject(depth: depth)
        case UInt8(ascii: "["):
            return try parseArray(depth: depth)
        case UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "N"):
            try expectLiteral("NaN")
            return .number("nan")
        case UInt8(ascii: "I"):
            try expectLiteral("Infinity")
            return .number("inf")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .number(try parseNumber())
        default:
            throw error("unexpected character '\(Unicode.Scalar(bytes[position]))'")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        let matches = literal.withUTF8Buffer { expected -> Bool in
            guard bytes.count - position >= count else { return false }
            for i in 0..<count where bytes[position + i] != expected[i] { return false }
            return true
        }
        guard matches else { throw error("invalid literal") }
        position += count
    }

    private mutating func parseObject(depth: Int) throws -> JSONValue {
        position += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
                throw error("expected a member name")
            }
            let key = try parseString()
            skipWhitespace()
            guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            let value = try parseValue(depth: depth + 1)
            guard members.updateValue(value, forKey: key) == nil else { throw error("duplicate member '\(key)'") }
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of file in an object") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            } else {
                throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws -> JSONValue {
        position += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < bytes.count, bytes[position] == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            guard position < bytes.count else { throw error("unexpected end of file in an array") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
            } else if bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            } else {
                throw error("expected ',' or ']'")
            }
        }
    }

    private mutating func parseNumber() throws -> String {
        let start = position
        func digits() -> Int {
            let begin = position
            while position < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position]) {
                position += 1
            }
            return position - begin
        }
        if bytes[position] == UInt8(ascii: "-") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "I") {
                try expectLiteral("Infinity")
                return "-inf"
            }
        }
        guard position < bytes.count else { throw error("unexpected end of file in a number") }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else if digits() == 0 {
            throw error("invalid number")
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            guard digits() > 0 else { throw error("invalid number: no digits after '.'") }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard digits() > 0 else { throw error("invalid number: no exponent digits") }
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func parseString() throws -> String {
        position += 1
        var scalars = String.UnicodeScalarView()
        var runStart = position
        func flushRun() {
            if runStart < position {
                scalars.append(contentsOf: String(decoding: bytes[runStart..<position], as: UTF8.self).unicodeScalars)
            }
        }
        while true {
            guard position < bytes.count else { throw error("unexpected end of file in a string") }
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                flushRun()
                position += 1
                return String(scalars)
            }
            if byte < 0x20 { throw error("control character in a string") }
            if byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            flushRun()
            position += 1
            guard position < bytes.count else { throw error("unexpected end of file in a string escape") }
            let escape = bytes[position]
            position += 1
            switch escape {
            case UInt8(ascii: "\""): scalars.append("\"")
            case UInt8(ascii: "\\"): scalars.append("\\")
            case UInt8(ascii: "/"): scalars.append("/")
            case UInt8(ascii: "b"): scalars.append("\u{08}")
            case UInt8(ascii: "f"): scalars.append("\u{0C}")
            case UInt8(ascii: "n"): scalars.append("\n")
            case UInt8(ascii: "r"): scalars.append("\r")
            case UInt8(ascii: "t"): scalars.append("\t")
            case UInt8(ascii: "u"):
                var code = try parseHex4()
                if (0xD800..<0xDC00).contains(code) {
                    guard bytes.count - position >= 6, bytes[position] == UInt8(ascii: "\\"),
                        bytes[position + 1] == UInt8(ascii: "u")
                    else { throw error("unpaired surrogate in a string") }
                    position += 2
                    let low = try parseHex4()
                    guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate in a string") }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                }
                guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
                scalars.append(scalar)
            default:
                throw error("invalid escape in a string")
            }
            runStart = position
        }
    }

    private mutating func parseHex4() throws -> UInt32 {
        guard bytes.count - position >= 4 else { throw error("unexpected end of file in a \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}

/// Typed access to a `JSONValue` with errors that name the JSON path, so a bad model file says which field is wrong.
struct JSONCursor {
    let value: JSONValue
    let path: String
    let format: String

    init(_ value: JSONValue, path: String = "$", format: String) {
        self.value = value
        self.path = path
        self.format = format
    }

    func error(_ reason: String) -> ModelLoadError {
        .malformed(format: format, location: path, reason: reason)
    }

    /// The member `key`, which must exist.
    subscript(key: String) -> JSONCursor {
        get throws {
            guard case .object(let members) = value else { throw error("expected an object") }
            guard let member = members[key] else {
                throw ModelLoadError.malformed(format: format, location: path, reason: "missing member '\(key)'")
            }
            return JSONCursor(member, path: path + "." + key, format: format)
        }
    }

    /// The member `key`, or nil when absent or null.
    func optional(_ key: String) throws -> JSONCursor? {
        guard case .object(let members) = value else { throw error("expected an object") }
        guard let member = members[key] else { return nil }
        if case .null = member { return nil }
        return JSONCursor(member, path: path + "." + key, format: format)
    }

    var isNull: Bool {
        if case .null = value { return true }
        return false
    }

    func array() throws -> [JSONCursor] {
        guard case .array(let elements) = value else { throw error("expected an array") }
        return elements.enumerated().map { JSONCursor($1, path: "\(path)[\($0)]", format: format) }
    }

    func string() throws -> String {
        guard case .string(let text) = value else { throw error("expected a string") }
        return text
    }

    /// The number's source text; XGBoost writes many integers as strings, so a string holding a number is accepted.
    func numberText() throws -> String {
        switch value {
        case .number(let text): return text
        case .string(let text): return text
        default: throw error("expected a number")
        }
    }

    func int() throws -> Int {
        let text = try numberText()
        guard let result = Int(text) else { throw error("expected an integer, found '\(text)'") }
        return result
    }

    func double() throws -> Double {
        let text = try numberText()
        guard let result = Double(text) else { throw error("expected a number, found '\(text)'") }
        return result
    }

    func float() throws -> Float {
        let text = try numberText()
        guard let result = Float(text) else { throw error("expected a number, found '\(text)'") }
        return result
    }

    func intArray() throws -> [Int] {
        guard case .array(let elements) = value else { throw error("expected an array") }
        var result: [Int] = []
        result.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .number(let text) = element, let number = Int(text) else {
                throw ModelLoadError.malformed(
                    format: format,
                    location: "\(path)[\(index)]",
                    reason: "expected an integer"
                )
            }
            result.append(number)
        }
        return result
    }

    func floatArray() throws -> [Float] {
        guard case .array(let elements) = value else { throw error("expected an array") }
        var result: [Float] = []
        result.reserveCapacity(elements.count)
        for (index, element) in elements.enumerated() {
            guard case .number(let text) = element, let number = Float(text) else {
                throw ModelLoadError.malformed(
                    format: format,
                    location: "\(path)[\(index)]",
                    reason: "expected a number"
                )
            }
            result.append(number)
        }
        return result
    }
}
