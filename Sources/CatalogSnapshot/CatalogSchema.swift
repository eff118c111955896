import Foundation

/// The type of an attribute, as a schema file names it.
public enum AttributeType: String, CaseIterable, Sendable {
    /// A finite number.
    case number
    /// One value of a vocabulary, dictionary-encoded when loaded.
    case category
    /// Several values of a vocabulary.
    case tags
    /// A latitude and longitude in degrees.
    case geo
    /// A positive distance in metres.
    case radius
    /// Weekly opening intervals in the local time of an IANA time zone.
    case schedule
    /// An instant, Unix milliseconds.
    case timestamp
    /// A vector of `dimension` finite floats.
    case embedding
    /// The id of an entity of the `target` kind.
    case reference
    /// Interactions with entities of the `target` kind, each with an event and a time.
    case history
    /// Free text for people: names and titles.
    case text
}

/// One attribute of an entity kind.
public struct AttributeSpec: Equatable, Sendable {
    /// Name: lowercase letters, digits and underscores, starting with a letter; the CSV column and the key in a record.
    public var name: String
    /// Its type.
    public var type: AttributeType
    /// Every entity of the kind must have a value.
    public var required: Bool
    /// For an embedding: how many values.
    public var dimension: Int?
    /// For a reference or history: the kind its ids name.
    public var target: String?
    /// For a history: the events allowed; nil allows any non-empty event.
    public var events: [String]?
    /// For a category or tags: the values allowed, in the order their codes follow (a cuisine's position in this list
    /// is its code, and an embedding "per cuisine" is in this order); nil allows any non-empty value.
    public var values: [String]?
    /// rankctl shows it in tables beside the id.
    public var display: Bool
    /// What the attribute means, for people.
    public var description: String?

    /// An attribute; see the properties for what each argument means.
    public init(
        name: String,
        type: AttributeType,
        required: Bool = false,
        dimension: Int? = nil,
        target: String? = nil,
        events: [String]? = nil,
        values: [String]? = nil,
        display: Bool = false,
        description: String? = nil
    ) {
        self.name = name
        self.type = type
        self.required = required
        self.dimension = dimension
        self.target = target
        self.events = events
        self.values = values
        self.display = display
        self.description = description
    }
}

/// One kind of entity: its name (which is also its file name in a snapshot and in an input folder) and attributes.
public struct EntityKindSpec: Equatable, Sendable {
    /// Name: lowercase letters, digits and underscores, starting with a letter.
    public var name: String
    /// What an entity of this kind is, for people.
    public var description: String?
    /// Its attributes, in declaration order (the column order of example CSVs and of tables).
    public var attributes: [AttributeSpec]

    /// A kind.
    public init(name: String, description: String? = nil, attributes: [AttributeSpec]) {
        self.name = name
        self.description = description
        self.attributes = attributes
    }

    /// The attribute called `name`.
    public func attribute(named name: String) -> AttributeSpec? {
        attributes.first { $0.name == name }
    }

    /// The attributes flagged for display.
    public var displayAttributes: [AttributeSpec] { attributes.filter(\.display) }
}

/// A catalog schema: which entity kinds a snapshot holds and the typed attributes of each, read from a JSON file.
public struct CatalogSchema: Equatable, Sendable {
    /// Longest embedding a schema may declare; bounds the work per record of every reader.
    public static let maximumEmbeddingDimension = 4096

    /// Schema name, e.g. "marketplace"; written into each snapshot's manifest.
    public var name: String
    /// Schema version, a positive integer raised when kinds or attributes change.
    public var version: Int
    /// What the schema describes, for people.
    public var description: String?
    /// The entity kinds, in declaration order.
    public var kinds: [EntityKindSpec]

    /// A schema; `validated()` checks it as loading does.
    public init(name: String, version: Int, description: String? = nil, kinds: [EntityKindSpec]) {
        self.name = name
        self.version = version
        self.description = description
        self.kinds = kinds
    }

    /// The kind called `name`.
    public func kind(named name: String) -> EntityKindSpec? {
        kinds.first { $0.name == name }
    }
}

/// Why a schema file cannot be used. `field` is the path to the offending member, e.g.
/// `kinds[venue].attributes[embedding].dimension`.
public struct SchemaError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file, or "<schema>" when parsed from memory.
    public var file: String
    /// Where in the document.
    public var field: String
    /// What is wrong.
    public var message: String

    public var description: String {
        field.isEmpty ? "\(file): \(message)" : "\(file): \(field): \(message)"
    }
}

extension CatalogSchema {
    /// Reads and checks a schema file.
    public static func load(path: String) throws -> CatalogSchema {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SchemaError(file: path, field: "", message: "cannot read: \(error.localizedDescription)")
        }
        return try parse(data, file: path)
    }

    /// Parses and checks a schema document.
    public static func parse(_ data: Data, file: String = "<schema>") throws -> CatalogSchema {
        guard data.count <= 4 << 20 else {
            throw SchemaError(file: file, field: "", message: "schema file is over 4 MiB")
        }
        let document: JSONValue
        do {
            document = try JSONValue.parse(data)
        } catch {
            throw SchemaError(file: file, field: "", message: "not valid JSON")
        }
        return try SchemaParser(file: file).schema(document)
    }

    /// The schema as a JSON document that `parse` reads back equal.
    public func json() -> JSONValue {
        var members: [(key: String, value: JSONValue)] = [
            ("name", .string(name)), ("version", .integer(Int64(version))),
        ]
        if let description { members.append(("description", .string(description))) }
        members.append(
            (
                "kinds",
                .array(
                    kinds.map { kind in
                        var kindMembers: [(key: String, value: JSONValue)] = [("name", .string(kind.name))]
                        if let description = kind.description {
                            kindMembers.append(("description", .string(description)))
                        }
                        kindMembers.append(("attributes", .array(kind.attributes.map(\.json))))
                        return .object(kindMembers)
                    }
                )
            )
        )
        return .object(members)
    }
}

extension AttributeSpec {
    var json: JSONValue {
        var members: [(key: String, value: JSONValue)] = [("name", .string(name)), ("type", .string(type.rawValue))]
        if required { members.append(("required", .bool(true))) }
        if let dimension { members.append(("dimension", .integer(Int64(dimension)))) }
        if let target { members.append(("target", .string(target))) }
        if let events { members.append(("events", .array(events.map { .string($0) }))) }
        if let values { members.append(("values", .array(values.map { .string($0) }))) }
        if display { members.append(("display", .bool(true))) }
        if let description { members.append(("description", .string(description))) }
        return .object(members)
    }
}

/// Walks a schema document, naming the member at fault in every error.
private struct SchemaParser {
    let file: String

    func fail(_ field: String, _ message: String) -> SchemaError {
        SchemaError(file: file, field: field, message: message)
    }

    func members(_ value: JSONValue, at field: String, allowed: [String]) throws -> [(key: String, value: JSONValue)] {
        guard case .object(let members) = value else {
            throw fail(field, "expected an object, found \(value.typeName)")
        }
        for member in members where !allowed.contains(member.key) {
            let prefix = field.isEmpty ? "" : field + "."
            throw fail(
                prefix + member.key,
                "unknown member (expected one of: \(allowed.joined(separator: ", ")))"
            )
        }
        return members
    }

    func string(_ value: JSONValue?, at field: String, required: Bool) throws -> String? {
        guard let value else {
            if required { throw fail(field, "missing") }
            return nil
        }
        guard case .string(let text) = value else { throw fail(field, "expected a string, found \(value.typeName)") }
        return text
    }

    func bool(_ value: JSONValue?, at field: String) throws -> Bool {
        guard let value else { return false }
        guard case .bool(let flag) = value else { throw fail(field, "expected true or false, found \(value.typeName)") }
        return flag
    }

    func integer(_ value: JSONValue?, at field: String) throws -> Int? {
        guard let value else { return nil }
        guard case .integer(let number) = value, let result = Int(exactly: number) else {
            throw fail(field, "expected an integer, found \(value.typeName)")
        }
        return result
    }

    func identifier(_ value: JSONValue?, at field: String) throws -> String {
        let name = try string(value, at: field, required: true)!
        guard SchemaParser.isIdentifier(name) else {
            throw fail(
                field,
                "\"\(name)\" is not a valid name (lowercase letters, digits and _, starting with a letter, "
                    + "at most 64 characters)"
            )
        }
        return name
    }

    static func isIdentifier(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first)
        else { return false }
        return bytes.allSatisfy {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                || $0 == UInt8(ascii: "_")
        }
    }

    func schema(_ document: JSONValue) throws -> CatalogSchema {
        let top = try members(document, at: "", allowed: ["name", "version", "description", "kinds"])
        let value: (String) -> JSONValue? = { key in top.first { $0.key == key }?.value }
        let name = try identifier(value("name"), at: "name")
        guard let version = try integer(value("version"), at: "version") else { throw fail("version", "missing") }
        guard version > 0 else { throw fail("version", "must be a positive integer, found \(version)") }
        let description = try string(value("description"), at: "description", required: false)
        guard let kindsValue = value("kinds") else { throw fail("kinds", "missing") }
        guard case .array(let kindValues) = kindsValue else {
            throw fail("kinds", "expected an array of kinds, found \(kindsValue.typeName)")
        }
        guard !kindValues.isEmpty else { throw fail("kinds", "a schema needs at least one kind") }
        var kinds: [EntityKindSpec] = []
        for (index, kindValue) in kindValues.enumerated() {
            let kind = try self.kind(kindValue, at: "kinds[\(index)]")
            if kinds.contains(where: { $0.name == kind.name }) {
                throw fail("kinds[\(kind.name)].name", "kind \"\(kind.name)\" is declared twice")
            }
            kinds.append(kind)
        }
        // Targets can only be checked once every kind is known.
        let names = Set(kinds.map(\.name))
        for kind in kinds {
            for attribute in kind.attributes {
                if let target = attribute.target, !names.contains(target) {
                    throw fail(
                        "kinds[\(kind.name)].attributes[\(attribute.name)].target",
                        "no kind is called \"\(target)\" (kinds: \(kinds.map(\.name).joined(separator: ", ")))"
                    )
                }
            }
        }
        return CatalogSchema(name: name, version: version, description: description, kinds: kinds)
    }

    func kind(_ value: JSONValue, at position: String) throws -> EntityKindSpec {
        let kindMembers = try members(value, at: position, allowed: ["name", "description", "attributes"])
        let member: (String) -> JSONValue? = { key in kindMembers.first { $0.key == key }?.value }
        let name = try identifier(member("name"), at: position + ".name")
        let field = "kinds[\(name)]"
        let description = try string(member("description"), at: field + ".description", required: false)
        guard let attributesValue = member("attributes") else { throw fail(field + ".attributes", "missing") }
        guard case .array(let attributeValues) = attributesValue else {
            throw fail(field + ".attributes", "expected an array of attributes, found \(attributesValue.typeName)")
        }
        var attributes: [AttributeSpec] = []
        for (index, attributeValue) in attributeValues.enumerated() {
            let attribute = try self.attribute(attributeValue, at: "\(field).attributes[\(index)]", kind: field)
            if attributes.contains(where: { $0.name == attribute.name }) {
                throw fail(
                    "\(field).attributes[\(attribute.name)].name",
                    "attribute \"\(attribute.name)\" is declared twice"
                )
            }
            attributes.append(attribute)
        }
        return EntityKindSpec(name: name, description: description, attributes: attributes)
    }

    func attribute(_ value: JSONValue, at position: String, kind: String) throws -> AttributeSpec {
        let attributeMembers = try members(
            value,
            at: position,
            allowed: [
                "name", "type", "required", "dimension", "target", "events", "values", "display", "description",
            ]
        )
        let member: (String) -> JSONValue? = { key in attributeMembers.first { $0.key == key }?.value }
        let name = try identifier(member("name"), at: position + ".name")
        let field = "\(kind).attributes[\(name)]"
        guard name != "id" else {
            throw fail(field + ".name", "\"id\" is every entity's identifier and cannot be an attribute")
        }
        let typeName = try string(member("type"), at: field + ".type", required: true)!
        guard let type = AttributeType(rawValue: typeName) else {
            throw fail(
                field + ".type",
                "unknown type \"\(typeName)\" (expected one of: "
                    + AttributeType.allCases.map(\.rawValue).joined(separator: ", ") + ")"
            )
        }
        var spec = AttributeSpec(name: name, type: type)
        spec.required = try bool(member("required"), at: field + ".required")
        spec.display = try bool(member("display"), at: field + ".display")
        spec.description = try string(member("description"), at: field + ".description", required: false)

        spec.dimension = try integer(member("dimension"), at: field + ".dimension")
        if type == .embedding {
            guard let dimension = spec.dimension else {
                throw fail(field + ".dimension", "an embedding needs its dimension")
            }
            guard (1...CatalogSchema.maximumEmbeddingDimension).contains(dimension) else {
                throw fail(
                    field + ".dimension",
                    "must be between 1 and \(CatalogSchema.maximumEmbeddingDimension), found \(dimension)"
                )
            }
        } else if spec.dimension != nil {
            throw fail(field + ".dimension", "only an embedding has a dimension")
        }

        spec.target = try string(member("target"), at: field + ".target", required: false)
        if type == .reference || type == .history {
            guard spec.target != nil else {
                throw fail(field + ".target", "a \(type.rawValue) needs the kind it refers to")
            }
        } else if spec.target != nil {
            throw fail(field + ".target", "only a reference or a history has a target")
        }

        if let eventsValue = member("events") {
            guard type == .history else { throw fail(field + ".events", "only a history has events") }
            guard case .array(let elements) = eventsValue, !elements.isEmpty else {
                throw fail(field + ".events", "expected a non-empty array of event names")
            }
            spec.events = try elements.enumerated().map { index, element in
                let event = try string(element, at: "\(field).events[\(index)]", required: true)!
                guard !event.isEmpty else { throw fail("\(field).events[\(index)]", "an event name cannot be empty") }
                return event
            }
        }

        if let valuesValue = member("values") {
            guard type == .category || type == .tags else {
                throw fail(field + ".values", "only a category or tags attribute has values")
            }
            guard case .array(let elements) = valuesValue, !elements.isEmpty else {
                throw fail(field + ".values", "expected a non-empty array of the values allowed")
            }
            var seen = Set<String>()
            spec.values = try elements.enumerated().map { index, element in
                let value = try string(element, at: "\(field).values[\(index)]", required: true)!
                guard !value.isEmpty else { throw fail("\(field).values[\(index)]", "a value cannot be empty") }
                guard seen.insert(value).inserted else {
                    throw fail("\(field).values[\(index)]", "\"\(value)\" is listed twice")
                }
                return value
            }
        }
        return spec
    }
}
