/// Compares a current schema with a baseline and reports every breaking change the category's rules see.
///
/// Elements are paired the way buf pairs them: messages, enums and services by full name, fields and enum values by
/// number, RPCs by name. An element that exists only in the current schema is an addition and never breaks.
public struct BreakingChangeChecker: Sendable {
    /// Which rules run.
    public var category: CompatibilityCategory

    /// Creates a checker; WIRE_JSON, the stricter category, is the default.
    public init(category: CompatibilityCategory = .wireJSON) {
        self.category = category
    }

    /// Every breaking change from `baseline` to `current`, sorted by file, position, rule and message.
    public func check(current: Schema, against baseline: Schema) -> [Finding] {
        var comparison = Comparison(
            current: SchemaIndex(current),
            baseline: SchemaIndex(baseline),
            rules: Set(Rule.rules(for: category))
        )
        comparison.compareFiles()
        comparison.compareMessages()
        comparison.compareEnums()
        comparison.compareServices()
        return comparison.findings.sorted()
    }
}

/// Lookup tables over one schema: checked elements for pairing, every element for resolving type names.
struct SchemaIndex {
    let checkedFiles: [FileDescriptor]
    let files: [String: FileDescriptor]
    let messages: [String: MessageDescriptor]
    let enums: [String: EnumDescriptor]
    let services: [String: ServiceDescriptor]
    let allMessages: [String: MessageDescriptor]
    let allEnums: [String: EnumDescriptor]
    let syntaxByFile: [String: ProtoSyntax]

    init(_ schema: Schema) {
        checkedFiles = schema.checkedFiles
        // protoc never emits duplicate names; a hand-made set might, and the first definition wins.
        files = Dictionary(checkedFiles.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        messages = Dictionary(
            checkedFiles.flatMap(\.messages).map { ($0.fullName, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        enums = Dictionary(
            checkedFiles.flatMap(\.enums).map { ($0.fullName, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        services = Dictionary(
            checkedFiles.flatMap(\.services).map { ($0.fullName, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        allMessages = Dictionary(
            schema.files.flatMap(\.messages).map { ($0.fullName, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        allEnums = Dictionary(
            schema.files.flatMap(\.enums).map { ($0.fullName, $0) },
            uniquingKeysWith: { first, _ in first }
        )
        syntaxByFile = Dictionary(schema.files.map { ($0.name, $0.syntax) }, uniquingKeysWith: { first, _ in first })
    }

    /// How a field is present on the wire and in JSON, as buf classifies it.
    func cardinality(of field: FieldDescriptor, in message: MessageDescriptor) -> Cardinality {
        switch field.label {
        case .repeated:
            let isMap = field.type == .message && allMessages[field.typeName]?.isMapEntry == true
            return isMap ? .map : .repeated
        case .required:
            return .required
        case .optional:
            // proto2 singular fields always track presence; in proto3 only messages, oneof members and
            // `optional` fields (which sit in a synthetic oneof) do.
            if syntaxByFile[message.fileName] != .proto3 || field.type == .message || field.type == .group
                || field.oneofIndex != nil
            {
                return .explicitPresence
            }
            return .implicitPresence
        }
    }
}

/// A field's cardinality, named as in buf's messages.
enum Cardinality: String {
    case explicitPresence = "optional with explicit presence"
    case implicitPresence = "optional with implicit presence"
    case required = "required"
    case repeated = "repeated"
    case map = "map"

    /// Cardinalities in one group encode the same on the wire: presence is not encoded, and a map is a repeated
    /// field of entry messages.
    var wireGroup: Int {
        switch self {
        case .explicitPresence, .implicitPresence: 1
        case .required: 2
        case .repeated, .map: 3
        }
    }

    /// JSON writes a map as an object and a repeated field as an array, so those two part ways here.
    var wireJSONGroup: Int {
        switch self {
        case .explicitPresence, .implicitPresence: 1
        case .required: 2
        case .repeated: 3
        case .map: 4
        }
    }
}

extension FieldType {
    /// Types in one group decode each other's wire encoding (buf's groups, after the protobuf language guide).
    /// string and bytes are kept apart so that only string -> bytes can be let through: bytes may not be UTF-8.
    /// A message is kept apart from bytes because nothing proves the bytes hold that message.
    var wireGroup: Int {
        switch self {
        case .int32, .int64, .uint32, .uint64, .bool: 1
        case .sint32, .sint64: 2
        case .string: 3
        case .bytes: 4
        case .fixed32, .sfixed32: 5
        case .fixed64, .sfixed64: 6
        case .double: 7
        case .float: 8
        case .group: 9
        case .message: 10
        case .enumeration: 11
        }
    }

    /// Groups that are wire-compatible and also read each other's JSON: JSON writes 64-bit integers as strings,
    /// bools as true/false, bytes as base64, so far fewer types mix.
    var wireJSONGroup: Int {
        switch self {
        case .int32, .uint32: 1
        case .int64, .uint64: 2
        case .fixed32, .sfixed32: 3
        case .fixed64, .sfixed64: 4
        case .bool: 5
        case .sint32: 6
        case .sint64: 7
        case .string: 8
        case .bytes: 9
        case .double: 10
        case .float: 11
        case .group: 12
        case .message: 13
        case .enumeration: 14
        }
    }
}

/// One run of the rules over a pair of schemas, accumulating findings.
struct Comparison {
    let current: SchemaIndex
    let baseline: SchemaIndex
    let rules: Set<Rule>
    var findings: [Finding] = []

    /// The largest field number protobuf allows (2^29 - 1), which `reserved N to max` extends to.
    static let maximumFieldNumber = 536_870_911

    init(current: SchemaIndex, baseline: SchemaIndex, rules: Set<Rule>) {
        self.current = current
        self.baseline = baseline
        self.rules = rules
    }

    private mutating func report(_ rule: Rule, _ file: String, _ position: SourcePosition?, _ message: String) {
        guard rules.contains(rule) else { return }
        findings.append(Finding(rule: rule, file: file, position: position ?? .startOfFile, message: message))
    }

    // MARK: Files

    mutating func compareFiles() {
        for previous in baseline.checkedFiles {
            guard let file = current.files[previous.name], file.package != previous.package else { continue }
            report(
                .fileSamePackage,
                file.name,
                file.packagePosition,
                "File \"\(file.name)\" changed package from \"\(previous.package)\" to \"\(file.package)\"."
            )
        }
    }

    // MARK: Messages and fields

    mutating func compareMessages() {
        for previous in baseline.checkedFiles.flatMap(\.messages) {
            guard let message = current.messages[previous.fullName] else { continue }
            let fieldsByNumber = Dictionary(message.fields.map { ($0.number, $0) }, uniquingKeysWith: { a, _ in a })
            for previousField in previous.fields {
                if let field = fieldsByNumber[previousField.number] {
                    compareField(previousField, in: previous, with: field, in: message)
                } else {
                    reportDeletedField(previousField, from: message)
                }
            }
            compareRequiredFields(previous, message)
            compareReserved(
                ranges: previous.reservedRanges,
                names: previous.reservedNames,
                with: message.reservedRanges,
                message.reservedNames,
                rule: .reservedMessageNoDelete,
                kind: "message",
                name: message.fullName,
                maximum: Comparison.maximumFieldNumber,
                file: message.fileName,
                position: message.position
            )
        }
    }

    private mutating func reportDeletedField(_ field: FieldDescriptor, from message: MessageDescriptor) {
        let what = "Field \(field.number) \"\(field.name)\" was deleted from message \"\(message.fullName)\""
        if !message.reservedRanges.contains(where: { $0.contains(field.number) }) {
            report(
                .fieldNoDeleteUnlessNumberReserved,
                message.fileName,
                message.position,
                "\(what) without reserving its number \(field.number)."
            )
        }
        if !message.reservedNames.contains(field.name) {
            report(
                .fieldNoDeleteUnlessNameReserved,
                message.fileName,
                message.position,
                "\(what) without reserving its name \"\(field.name)\"."
            )
        }
    }

    private mutating func compareRequiredFields(_ previous: MessageDescriptor, _ message: MessageDescriptor) {
        let previousRequired = Set(previous.fields.filter { $0.label == .required }.map(\.number))
        let required = message.fields.filter { $0.label == .required }
        let requiredNumbers = Set(required.map(\.number))
        for number in previousRequired.subtracting(requiredNumbers).sorted() {
            report(
                .messageSameRequiredFields,
                message.fileName,
                message.position,
                "Message \"\(message.fullName)\" no longer requires field \(number); peers that still require it "
                    + "reject messages without it."
            )
        }
        for field in required where !previousRequired.contains(field.number) {
            report(
                .messageSameRequiredFields,
                message.fileName,
                field.position ?? message.position,
                "Message \"\(message.fullName)\" now requires field \(field.number) \"\(field.name)\"; messages "
                    + "from peers that do not set it are rejected."
            )
        }
    }

    private mutating func compareField(
        _ previous: FieldDescriptor,
        in previousMessage: MessageDescriptor,
        with field: FieldDescriptor,
        in message: MessageDescriptor
    ) {
        let file = message.fileName
        let position = field.position ?? message.position
        let subject = "Field \(field.number) \"\(field.name)\" on message \"\(message.fullName)\""

        if previous.name != field.name {
            report(
                .fieldSameName,
                file,
                position,
                "Field \(field.number) on message \"\(message.fullName)\" changed name from \"\(previous.name)\" "
                    + "to \"\(field.name)\"."
            )
        }
        if previous.jsonName != field.jsonName {
            report(
                .fieldSameJSONName,
                file,
                position,
                "\(subject) changed JSON name from \"\(previous.jsonName)\" to \"\(field.jsonName)\"."
            )
        }

        if let problem = typeChange(previous, field, group: \.wireGroup, allowStringToBytes: true) {
            report(.fieldWireCompatibleType, file, position, "\(subject) \(problem)")
        }
        if let problem = typeChange(previous, field, group: \.wireJSONGroup, allowStringToBytes: false) {
            report(.fieldWireJSONCompatibleType, file, position, "\(subject) \(problem)")
        }

        // Map entry fields are generated; their presence is an artefact, so buf leaves them alone and so do we.
        if !(previousMessage.isMapEntry && message.isMapEntry) {
            let before = baseline.cardinality(of: previous, in: previousMessage)
            let after = current.cardinality(of: field, in: message)
            let change = "\(subject) changed cardinality from \"\(before.rawValue)\" to \"\(after.rawValue)\"."
            if before.wireGroup != after.wireGroup {
                report(.fieldWireCompatibleCardinality, file, position, change)
            }
            if before.wireJSONGroup != after.wireJSONGroup {
                report(.fieldWireJSONCompatibleCardinality, file, position, change)
            }
        }

        let previousOneof = realOneof(of: previous, in: previousMessage)
        let oneof = realOneof(of: field, in: message)
        switch (previousOneof, oneof) {
        case (let before?, let after?) where before != after:
            report(.fieldSameOneof, file, position, "\(subject) moved from oneof \"\(before)\" to oneof \"\(after)\".")
        case (nil, let after?):
            report(.fieldSameOneof, file, position, "\(subject) moved into oneof \"\(after)\".")
        case (let before?, nil):
            report(.fieldSameOneof, file, position, "\(subject) moved out of oneof \"\(before)\".")
        default:
            break
        }

        let enumValues = { (index: SchemaIndex) in { (name: String) in index.allEnums[name]?.values } }
        if let before = FieldDefault.of(previous, enumValues: enumValues(baseline)),
            let after = FieldDefault.of(field, enumValues: enumValues(current)),
            !(before.isZero && after.isZero), !FieldDefault.sameValue(before, after)
        {
            report(
                .fieldSameDefault,
                file,
                position,
                "\(subject) changed default value from \(before.printable) to \(after.printable)."
            )
        }
    }

    /// The name of the oneof a field really belongs to; the synthetic oneof of a proto3 `optional` is not one.
    private func realOneof(of field: FieldDescriptor, in message: MessageDescriptor) -> String? {
        guard !field.isProto3Optional, let index = field.oneofIndex, message.oneofs.indices.contains(index) else {
            return nil
        }
        return message.oneofs[index].name
    }

    /// Describes an incompatible type change under the given compatibility groups, or nil when there is none.
    private func typeChange(
        _ previous: FieldDescriptor,
        _ field: FieldDescriptor,
        group: KeyPath<FieldType, Int>,
        allowStringToBytes: Bool
    ) -> String? {
        let before = typeDescription(previous)
        let after = typeDescription(field)
        if previous.type[keyPath: group] != field.type[keyPath: group] {
            if allowStringToBytes && previous.type == .string && field.type == .bytes { return nil }
            var text = "changed type from \"\(before)\" to \"\(after)\"."
            if allowStringToBytes && previous.type == .bytes && field.type == .string {
                text += " Existing bytes values need not be valid UTF-8, which a string field requires."
            }
            return text
        }
        guard field.type.isNamed, previous.typeName != field.typeName else { return nil }
        if field.type == .enumeration, enumIsCompatible(previous.typeName, field.typeName) { return nil }
        return "changed type from \"\(before)\" to \"\(after)\"."
    }

    /// A field may switch to another enum only when it has the same short name and keeps every old value by name
    /// and number (so an enum can move, or gain values, in the same change).
    private func enumIsCompatible(_ previousName: String, _ name: String) -> Bool {
        guard let previous = baseline.allEnums[previousName], let updated = current.allEnums[name],
            previous.shortName == updated.shortName
        else { return false }
        struct Entry: Hashable {
            let name: String
            let number: Int
        }
        let values = Set(updated.values.map { Entry(name: $0.name, number: $0.number) })
        return previous.values.allSatisfy { values.contains(Entry(name: $0.name, number: $0.number)) }
    }

    private func typeDescription(_ field: FieldDescriptor) -> String {
        field.type.isNamed ? "\(field.type.keyword) \(field.typeName)" : field.type.keyword
    }

    // MARK: Enums

    mutating func compareEnums() {
        for previous in baseline.checkedFiles.flatMap(\.enums) {
            guard let enumType = current.enums[previous.fullName] else { continue }
            let previousNames = Dictionary(grouping: previous.values, by: \.number).mapValues { $0.map(\.name) }
            let valuesByNumber = Dictionary(grouping: enumType.values, by: \.number)
            for number in previousNames.keys.sorted() {
                let names = previousNames[number] ?? []
                if let values = valuesByNumber[number] {
                    // Aliases: the new names must still include every old one.
                    let currentNames = values.map(\.name)
                    if !Set(names).isSubset(of: currentNames) {
                        report(
                            .enumValueSameName,
                            enumType.fileName,
                            values[0].position ?? enumType.position,
                            "Enum value \(number) on enum \"\(enumType.fullName)\" changed name from "
                                + "\(quotedList(names)) to \(quotedList(currentNames))."
                        )
                    }
                    continue
                }
                let what = "Enum value \(number) \(quotedList(names)) was deleted from enum \"\(enumType.fullName)\""
                if !enumType.reservedRanges.contains(where: { $0.contains(number) }) {
                    report(
                        .enumValueNoDeleteUnlessNumberReserved,
                        enumType.fileName,
                        enumType.position,
                        "\(what) without reserving its number \(number)."
                    )
                }
                let unreserved = names.filter { !enumType.reservedNames.contains($0) }
                if !unreserved.isEmpty {
                    report(
                        .enumValueNoDeleteUnlessNameReserved,
                        enumType.fileName,
                        enumType.position,
                        "\(what) without reserving its name\(unreserved.count > 1 ? "s" : "") "
                            + "\(quotedList(unreserved))."
                    )
                }
            }
            compareReserved(
                ranges: previous.reservedRanges,
                names: previous.reservedNames,
                with: enumType.reservedRanges,
                enumType.reservedNames,
                rule: .reservedEnumNoDelete,
                kind: "enum",
                name: enumType.fullName,
                maximum: Int(Int32.max),
                file: enumType.fileName,
                position: enumType.position
            )
        }
    }

    private func quotedList(_ names: [String]) -> String {
        names.map { "\"\($0)\"" }.joined(separator: ", ")
    }

    // MARK: Reserved ranges and names

    private mutating func compareReserved(
        ranges previousRanges: [ReservedRange],
        names previousNames: [String],
        with ranges: [ReservedRange],
        _ names: [String],
        rule: Rule,
        kind: String,
        name: String,
        maximum: Int,
        file: String,
        position: SourcePosition?
    ) {
        let kept = ReservedRanges.collapse(ranges)
        for previous in previousRanges {
            let missing = ReservedRanges.missing(previous, from: kept)
            guard !missing.isEmpty else { continue }
            let lost = missing.map { ReservedRanges.describe($0, maximum: maximum) }.joined(separator: ", ")
            report(
                rule,
                file,
                position,
                "Reserved range \(ReservedRanges.describe(previous, maximum: maximum)) on \(kind) \"\(name)\" "
                    + "no longer reserves \(lost)."
            )
        }
        for reservedName in previousNames where !names.contains(reservedName) {
            report(rule, file, position, "Reserved name \"\(reservedName)\" on \(kind) \"\(name)\" was deleted.")
        }
    }

    // MARK: Services and RPCs

    mutating func compareServices() {
        for previous in baseline.checkedFiles.flatMap(\.services) {
            guard let service = current.services[previous.fullName] else {
                // A service's parent is its file, which has no position of its own (buf also reports line 1).
                report(
                    .serviceNoDelete,
                    previous.fileName,
                    nil,
                    "Service \"\(previous.fullName)\" was deleted; its callers would get UNIMPLEMENTED."
                )
                continue
            }
            let methods = Dictionary(service.methods.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            for previousMethod in previous.methods {
                guard let method = methods[previousMethod.name] else {
                    report(
                        .rpcNoDelete,
                        service.fileName,
                        service.position,
                        "RPC \"\(previousMethod.name)\" was deleted from service \"\(service.fullName)\"; its callers "
                            + "would get UNIMPLEMENTED."
                    )
                    continue
                }
                compareMethod(previousMethod, method, in: service)
            }
        }
    }

    private mutating func compareMethod(
        _ previous: MethodDescriptor,
        _ method: MethodDescriptor,
        in service: ServiceDescriptor
    ) {
        let file = service.fileName
        let position = method.position ?? service.position
        let subject = "RPC \"\(method.name)\" on service \"\(service.fullName)\""
        if previous.inputType != method.inputType {
            report(
                .rpcSameRequestType,
                file,
                position,
                "\(subject) changed request type from \"\(previous.inputType)\" to \"\(method.inputType)\"."
            )
        }
        if previous.outputType != method.outputType {
            report(
                .rpcSameResponseType,
                file,
                position,
                "\(subject) changed response type from \"\(previous.outputType)\" to \"\(method.outputType)\"."
            )
        }
        let shape = { (streaming: Bool) in streaming ? "streaming" : "unary" }
        if previous.clientStreaming != method.clientStreaming {
            report(
                .rpcSameClientStreaming,
                file,
                position,
                "\(subject) changed from \(shape(previous.clientStreaming)) to \(shape(method.clientStreaming)) "
                    + "requests."
            )
        }
        if previous.serverStreaming != method.serverStreaming {
            report(
                .rpcSameServerStreaming,
                file,
                position,
                "\(subject) changed from \(shape(previous.serverStreaming)) to \(shape(method.serverStreaming)) "
                    + "responses."
            )
        }
        if previous.idempotencyLevel != method.idempotencyLevel {
            report(
                .rpcSameIdempotencyLevel,
                file,
                position,
                "\(subject) changed idempotency_level from \"\(previous.idempotencyLevel.protoName)\" to "
                    + "\"\(method.idempotencyLevel.protoName)\"."
            )
        }
    }
}

/// Set arithmetic on inclusive reserved ranges.
enum ReservedRanges {
    /// Sorted, non-overlapping, non-adjacent ranges covering the same numbers.
    static func collapse(_ ranges: [ReservedRange]) -> [ReservedRange] {
        var merged: [ReservedRange] = []
        for range in ranges.sorted(by: { ($0.start, $0.end) < ($1.start, $1.end) }) {
            if let last = merged.last, range.start <= last.end + 1 {
                merged[merged.count - 1].end = max(last.end, range.end)
            } else {
                merged.append(range)
            }
        }
        return merged
    }

    /// The parts of `range` that `collapsed` (from `collapse`) does not cover.
    static func missing(_ range: ReservedRange, from collapsed: [ReservedRange]) -> [ReservedRange] {
        var gaps: [ReservedRange] = []
        var next = range.start
        for kept in collapsed where kept.end >= next {
            if kept.start > range.end { break }
            if kept.start > next { gaps.append(ReservedRange(start: next, end: kept.start - 1)) }
            next = kept.end + 1
            if next > range.end { return gaps }
        }
        if next <= range.end { gaps.append(ReservedRange(start: next, end: range.end)) }
        return gaps
    }

    /// `5`, `5 to 9` or `5 to max`, as reserved statements read.
    static func describe(_ range: ReservedRange, maximum: Int) -> String {
        if range.start == range.end { return "\(range.start)" }
        return "\(range.start) to \(range.end == maximum ? "max" : String(range.end))"
    }
}
