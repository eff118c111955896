import Foundation
import Yams

/// The shape a YAML value must have. The pipeline's schema is written in it (`PipelineSchema`), so every value is
/// checked where it stands, with its line and column, before `JSONDecoder` builds `PipelineConfig` from it.
indirect enum Shape {
    /// A whole number; `minimum` when given (the message says "non-negative" for 0).
    case integer(minimum: Int?)
    /// A real number.
    case number
    /// Text.
    case string
    /// One of these words.
    case oneOf([String])
    /// true or false.
    case bool
    /// A mapping with these keys; others are problems.
    case object([Field])
    /// A sequence of one shape.
    case list(Shape)
    /// A mapping with free keys (names chosen by the operator) and values of one shape.
    case map(Shape)

    var noun: String {
        switch self {
        case .integer(let minimum?) where minimum == 0: return "a non-negative integer"
        case .integer(let minimum?) where minimum == 1: return "a positive integer"
        case .integer(let minimum?): return "an integer of at least \(minimum)"
        case .integer: return "an integer"
        case .number: return "a number"
        case .string: return "text"
        case .oneOf(let words): return "one of \(words.joined(separator: ", "))"
        case .bool: return "true or false"
        case .object, .map: return "a mapping"
        case .list: return "a sequence"
        }
    }

    /// A stand-in for a value that was refused, so decoding can go on and find the file's other problems. It is
    /// neutral: the pipeline's own checks find nothing wrong with it (and their findings under a refused key are
    /// dropped anyway).
    var placeholder: Any {
        switch self {
        case .integer(let minimum): return max(minimum ?? 0, 0)
        case .number: return 1.0
        case .string: return ""
        case .oneOf(let words): return words.first ?? ""
        case .bool: return false
        case .object(let fields):
            var object: [String: Any] = [:]
            for field in fields where field.required { object[field.name] = field.shape.placeholder }
            return object
        case .list: return [Any]()
        case .map: return [String: Any]()
        }
    }
}

/// A key of an object shape.
struct Field {
    let name: String
    let shape: Shape
    let required: Bool

    init(_ name: String, _ shape: Shape, required: Bool = true) {
        self.name = name
        self.shape = shape
        self.required = required
    }
}

/// Walks a composed YAML tree, collecting every problem with its location instead of stopping at the first, and
/// remembering where each key path is so later checks can point at it too.
struct YAMLWalker {
    /// The file as it is named in messages.
    let file: String
    private(set) var problems: [ConfigProblem] = []
    /// Where each key path was found (the key's mark, or the value's for sequence elements).
    private(set) var marks: [String: Mark] = [:]
    /// Key paths whose value was refused or missing; later checks say nothing at or under them.
    private(set) var refused: Set<String> = []

    init(file: String) { self.file = file }

    func origin(_ mark: Mark?) -> SettingOrigin {
        .file(path: file, line: mark?.line ?? 0, column: mark?.column ?? 0)
    }

    mutating func report(_ mark: Mark?, _ keyPath: String, _ message: String) {
        problems.append(ConfigProblem(origin: origin(mark), keyPath: keyPath, message: message))
    }

    mutating func refuse(_ mark: Mark?, _ keyPath: String, _ message: String) {
        report(mark, keyPath, message)
        refused.insert(keyPath)
    }

    mutating func remember(_ keyPath: String, _ mark: Mark?) {
        if let mark, marks[keyPath] == nil { marks[keyPath] = mark }
    }

    /// The mark of `keyPath` or of its nearest ancestor that has one.
    func mark(for keyPath: String) -> Mark? {
        var path = keyPath
        while true {
            if let mark = marks[path] { return mark }
            guard let dot = path.lastIndex(of: ".") else { return marks[""] }
            path = String(path[..<dot])
        }
    }

    /// Whether `keyPath` or an ancestor was refused.
    func isRefused(_ keyPath: String) -> Bool {
        var path = keyPath
        while true {
            if refused.contains(path) { return true }
            guard let dot = path.lastIndex(of: ".") else { return false }
            path = String(path[..<dot])
        }
    }

    static func join(_ parent: String, _ key: String) -> String { parent.isEmpty ? key : parent + "." + key }

    /// The entries of a mapping node, in file order, with unknown keys reported (with a suggestion when one is
    /// close) and left out. Returns nil, reporting why, when the node is not a mapping.
    mutating func entries(
        of node: Node,
        at keyPath: String,
        keyMark: Mark?,
        known: [String]?
    ) -> [(key: String, mark: Mark?, value: Node)]? {
        guard case .mapping(let mapping) = node else {
            refuse(keyMark ?? node.mark, keyPath, "must be a mapping, got \(describe(node))")
            return nil
        }
        var result: [(key: String, mark: Mark?, value: Node)] = []
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                report(keyNode.mark, keyPath, "keys must be text, got \(describe(keyNode))")
                continue
            }
            let key = scalar.string
            if let known, !known.contains(key) {
                var message = "unknown key \(key)"
                if let suggestion = KeySuggestion.nearest(to: key, in: known) {
                    message += " (did you mean \(suggestion)?)"
                } else {
                    message += " (known: \(known.joined(separator: ", ")))"
                }
                report(keyNode.mark, YAMLWalker.join(keyPath, key), message)
                continue
            }
            result.append((key, keyNode.mark, value))
        }
        return result
    }

    /// Checks `node` against `shape` and returns it as a JSON value (`Int`, `Double`, `String`, `Bool`, arrays,
    /// dictionaries); a refused value comes back as the shape's placeholder.
    mutating func convert(_ node: Node, shape: Shape, at keyPath: String, keyMark: Mark?) -> Any {
        remember(keyPath, keyMark ?? node.mark)
        let mark = keyMark ?? node.mark
        switch shape {
        case .integer(let minimum):
            if let text = plainScalar(node), let value = Int(text), value >= (minimum ?? Int.min) { return value }
            refuse(mark, keyPath, "must be \(shape.noun), got \(describe(node))")
        case .number:
            if let text = plainScalar(node), let value = Double(text), value.isFinite { return value }
            refuse(mark, keyPath, "must be a finite number, got \(describe(node))")
        case .string:
            if case .scalar(let scalar) = node, !isNull(scalar) { return scalar.string }
            refuse(mark, keyPath, "must be text, got \(describe(node))")
        case .oneOf(let words):
            if case .scalar(let scalar) = node, words.contains(scalar.string) { return scalar.string }
            refuse(mark, keyPath, "must be \(shape.noun), got \(describe(node))")
        case .bool:
            if let text = plainScalar(node) {
                switch text.lowercased() {
                case "true": return true
                case "false": return false
                default: break
                }
            }
            refuse(mark, keyPath, "must be true or false, got \(describe(node))")
        case .object(let fields):
            guard let entries = entries(of: node, at: keyPath, keyMark: keyMark, known: fields.map(\.name)) else {
                return shape.placeholder
            }
            var object: [String: Any] = [:]
            for (key, keyMark, value) in entries {
                guard let field = fields.first(where: { $0.name == key }) else { continue }
                if !field.required, case .scalar(let scalar) = value, isNull(scalar) { continue }
                object[key] = convert(value, shape: field.shape, at: YAMLWalker.join(keyPath, key), keyMark: keyMark)
            }
            for field in fields where field.required && object[field.name] == nil {
                let path = YAMLWalker.join(keyPath, field.name)
                refuse(mark, path, "missing (must be \(field.shape.noun))")
                object[field.name] = field.shape.placeholder
            }
            return object
        case .list(let element):
            guard case .sequence(let sequence) = node else {
                refuse(mark, keyPath, "must be a sequence, got \(describe(node))")
                return shape.placeholder
            }
            return sequence.enumerated().map { index, item in
                convert(item, shape: element, at: YAMLWalker.join(keyPath, String(index)), keyMark: item.mark)
            }
        case .map(let element):
            guard let entries = entries(of: node, at: keyPath, keyMark: keyMark, known: nil) else {
                return shape.placeholder
            }
            var object: [String: Any] = [:]
            for (key, keyMark, value) in entries {
                object[key] = convert(value, shape: element, at: YAMLWalker.join(keyPath, key), keyMark: keyMark)
            }
            return object
        }
        return shape.placeholder
    }

    /// The text of a plain (unquoted) scalar, the only kind that may be a number or a boolean.
    func plainScalar(_ node: Node) -> String? {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any, !isNull(scalar) else {
            return nil
        }
        return scalar.string
    }

    func isNull(_ scalar: Node.Scalar) -> Bool {
        guard scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// A found value for a message: `"two"`, `3.5`, `null`, `a sequence`, `a mapping`.
    func describe(_ node: Node) -> String {
        switch node {
        case .scalar(let scalar):
            if isNull(scalar) { return "null" }
            let quoted = !(scalar.style == .plain || scalar.style == .any)
            return quoted ? "\"\(scalar.string)\"" : shown(scalar.string)
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .alias: return "an alias"
        }
    }
}
