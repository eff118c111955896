/// A field's effective default (explicit `[default = ...]` or the type's implicit one), comparable across type
/// changes the way FIELD_SAME_DEFAULT needs: string and bytes compare by their bytes, bool, enum and numbers by value.
struct FieldDefault: Equatable {
    enum Value: Equatable {
        /// String or bytes contents.
        case bytes([UInt8])
        /// An integer (bool, enum and integral types) as sign and magnitude, so int64 and uint64 both fit.
        case integer(negative: Bool, magnitude: UInt64)
        /// A float or double; `isSinglePrecision` makes float-vs-double compare at float precision.
        case floating(Double, isSinglePrecision: Bool)
    }

    var value: Value
    /// How the default is shown in a message, e.g. `"abc"`, `42`, `Color.RED`.
    var printable: String

    /// True for the type's zero value: an empty string, 0, false, 0.0 (not -0.0).
    var isZero: Bool {
        switch value {
        case .bytes(let bytes): bytes.isEmpty
        case .integer(_, let magnitude): magnitude == 0
        case .floating(let number, _): number.bitPattern == 0
        }
    }

    /// Equality by meaning rather than spelling: `1` and `1.0`, or `"a"` as string and as bytes, are the same.
    static func sameValue(_ lhs: FieldDefault, _ rhs: FieldDefault) -> Bool {
        switch (lhs.value, rhs.value) {
        case (.bytes(let a), .bytes(let b)):
            return a == b
        case (.bytes, _), (_, .bytes):
            return false
        case (.integer(let aNegative, let a), .integer(let bNegative, let b)):
            return a == b && (aNegative == bNegative || a == 0)
        case (.floating(let a, let aSingle), .floating(let b, let bSingle)):
            if a.isNaN || b.isNaN { return a.isNaN && b.isNaN }
            return aSingle || bSingle ? Float(a) == Float(b) : a == b
        case (.integer(let negative, let magnitude), .floating(let number, _)),
            (.floating(let number, _), .integer(let negative, let magnitude)):
            return integer(negative: negative, magnitude: magnitude, equals: number)
        }
    }

    private static func integer(negative: Bool, magnitude: UInt64, equals number: Double) -> Bool {
        guard number.isFinite, number.rounded(.towardZero) == number else { return false }
        let absolute = number.magnitude
        // 2^64 is exactly representable; anything at or above it cannot equal a UInt64 magnitude.
        guard absolute < 18_446_744_073_709_551_616.0 else { return false }
        if magnitude == 0 { return absolute == 0 }
        return UInt64(absolute) == magnitude && (number < 0) == negative
    }

    /// The default of `field`, or nil when the field cannot have one (repeated, map, message, group).
    ///
    /// `enumValues` returns the values of a named enum in declaration order; an enum field's implicit default is
    /// its first value.
    static func of(_ field: FieldDescriptor, enumValues: (String) -> [EnumValueDescriptor]?) -> FieldDefault? {
        guard field.label != .repeated, field.type != .message, field.type != .group else { return nil }
        let text = field.defaultValue
        switch field.type {
        case .string:
            let contents = text ?? ""
            return FieldDefault(value: .bytes(Array(contents.utf8)), printable: quoted(contents))
        case .bytes:
            let contents = text ?? ""
            return FieldDefault(value: .bytes(unescapeC(contents)), printable: quoted(contents))
        case .bool:
            let isTrue = text == "true"
            return FieldDefault(value: .integer(negative: false, magnitude: isTrue ? 1 : 0), printable: "\(isTrue)")
        case .enumeration:
            let values = enumValues(field.typeName) ?? []
            let shortName = field.typeName.split(separator: ".").last.map(String.init) ?? field.typeName
            let chosen: EnumValueDescriptor? =
                if let text { values.first { $0.name == text } } else { values.first }
            guard let chosen else {
                // Without the enum the value is unknown; comparing its spelling is the best that can be done.
                let spelling = text ?? ""
                return FieldDefault(value: .bytes(Array(spelling.utf8)), printable: "\(shortName).\(spelling)")
            }
            return FieldDefault(
                value: .integer(negative: chosen.number < 0, magnitude: UInt64(chosen.number.magnitude)),
                printable: "\(shortName).\(chosen.name)"
            )
        case .float, .double:
            let spelling = text ?? "0"
            let number: Double
            switch spelling {
            case "inf": number = .infinity
            case "-inf": number = -.infinity
            case "nan", "-nan": number = .nan
            default: number = Double(spelling) ?? 0
            }
            return FieldDefault(value: .floating(number, isSinglePrecision: field.type == .float), printable: spelling)
        default:
            let spelling = text ?? "0"
            return FieldDefault(value: integerValue(spelling), printable: spelling)
        }
    }

    private static func integerValue(_ spelling: String) -> Value {
        var digits = Substring(spelling)
        var negative = false
        if digits.hasPrefix("-") {
            negative = true
            digits = digits.dropFirst()
        }
        var magnitude: UInt64?
        if digits.hasPrefix("0x") || digits.hasPrefix("0X") {
            magnitude = UInt64(digits.dropFirst(2), radix: 16)
        } else if digits.count > 1 && digits.hasPrefix("0") {
            magnitude = UInt64(digits.dropFirst(), radix: 8)
        } else {
            magnitude = UInt64(digits)
        }
        if let magnitude { return .integer(negative: negative && magnitude != 0, magnitude: magnitude) }
        // protoc only writes valid numbers; keep anything else comparable by spelling rather than guessing.
        return .bytes(Array(spelling.utf8))
    }

    private static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    /// Undoes protoc's C escaping of bytes defaults (`\n`, `\"`, `\\`, octal `\123`, hex `\x7f`).
    static func unescapeC(_ text: String) -> [UInt8] {
        let input = Array(text.utf8)
        var output: [UInt8] = []
        output.reserveCapacity(input.count)
        var index = 0
        func isOctal(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "7") }
        func hexValue(_ byte: UInt8) -> UInt8? {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        while index < input.count {
            let byte = input[index]
            index += 1
            guard byte == UInt8(ascii: "\\"), index < input.count else {
                output.append(byte)
                continue
            }
            let escape = input[index]
            index += 1
            switch escape {
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "a"): output.append(0x07)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "v"): output.append(0x0B)
            case UInt8(ascii: "x"):
                var value: UInt8 = 0
                var count = 0
                while count < 2, index < input.count, let digit = hexValue(input[index]) {
                    value = value &* 16 &+ digit
                    index += 1
                    count += 1
                }
                output.append(value)
            case _ where isOctal(escape):
                var value = escape - UInt8(ascii: "0")
                var count = 1
                while count < 3, index < input.count, isOctal(input[index]) {
                    value = value &* 8 &+ (input[index] - UInt8(ascii: "0"))
                    index += 1
                    count += 1
                }
                output.append(value)
            default:
                // \\, \", \', \? stand for themselves.
                output.append(escape)
            }
        }
        return output
    }
}
