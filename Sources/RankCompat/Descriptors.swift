// Plain Swift value types for the parts of a FileDescriptorSet that breaking-change rules look at.
// They are built once from protobuf-c's decoded structs (see DescriptorSetDecoder.swift) so that the rules never
// touch C memory and can be tested on hand-built values.

/// A position in a .proto source file, 1-based as editors and compilers print it.
public struct SourcePosition: Hashable, Comparable, Sendable {
    /// 1-based line.
    public var line: Int
    /// 1-based column.
    public var column: Int

    /// Creates a position from 1-based line and column.
    public init(line: Int, column: Int) {
        self.line = line
        self.column = column
    }

    /// The start of a file, used when a descriptor set carries no source info for an element.
    public static let startOfFile = SourcePosition(line: 1, column: 1)

    /// Orders by line, then column.
    public static func < (lhs: SourcePosition, rhs: SourcePosition) -> Bool {
        (lhs.line, lhs.column) < (rhs.line, rhs.column)
    }
}

/// A field's scalar or composite type, numbered as in descriptor.proto.
public enum FieldType: Int, Sendable, CaseIterable {
    case double = 1
    case float, int64, uint64, int32, fixed64, fixed32, bool, string, group, message, bytes, uint32,
        enumeration, sfixed32, sfixed64, sint32, sint64

    /// The keyword used in .proto source ("int32", "message", "enum", ...).
    public var keyword: String {
        switch self {
        case .double: "double"
        case .float: "float"
        case .int64: "int64"
        case .uint64: "uint64"
        case .int32: "int32"
        case .fixed64: "fixed64"
        case .fixed32: "fixed32"
        case .bool: "bool"
        case .string: "string"
        case .group: "group"
        case .message: "message"
        case .bytes: "bytes"
        case .uint32: "uint32"
        case .enumeration: "enum"
        case .sfixed32: "sfixed32"
        case .sfixed64: "sfixed64"
        case .sint32: "sint32"
        case .sint64: "sint64"
        }
    }

    /// True for types whose fields name another type (`type_name` is meaningful).
    public var isNamed: Bool { self == .message || self == .group || self == .enumeration }
}

/// A field's label as written in the descriptor (proto3 singular fields are `optional` here too).
public enum FieldLabel: Int, Sendable {
    case optional = 1
    case required, repeated
}

/// The `idempotency_level` method option.
public enum IdempotencyLevel: Int, Sendable {
    case unknown = 0
    case noSideEffects, idempotent

    /// The enum value name as written in descriptor.proto.
    public var protoName: String {
        switch self {
        case .unknown: "IDEMPOTENCY_UNKNOWN"
        case .noSideEffects: "NO_SIDE_EFFECTS"
        case .idempotent: "IDEMPOTENT"
        }
    }
}

/// An inclusive range of reserved numbers. Message ranges (exclusive end on the wire) are normalised on decoding.
public struct ReservedRange: Hashable, Sendable {
    /// First reserved number.
    public var start: Int
    /// Last reserved number, inclusive.
    public var end: Int

    /// Creates an inclusive range.
    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// True when `number` lies in the range.
    public func contains(_ number: Int) -> Bool { number >= start && number <= end }
}

/// A message field (extensions are not modelled: no rule this tool implements looks at them).
public struct FieldDescriptor: Sendable {
    /// Short name, e.g. `user_id`.
    public var name: String
    /// Field number.
    public var number: Int
    /// Declared label.
    public var label: FieldLabel
    /// Declared type.
    public var type: FieldType
    /// Full name of the message or enum type without the leading dot; empty for scalars.
    public var typeName: String
    /// The `default` option's text as protoc stores it (C-escaped for bytes), or nil when none was given.
    public var defaultValue: String?
    /// Index into the containing message's `oneofs`, for real and synthetic (proto3 `optional`) oneofs alike.
    public var oneofIndex: Int?
    /// The JSON name protoc recorded, or the camel-case name protoc would derive when the descriptor has none.
    public var jsonName: String
    /// True for a proto3 field declared `optional`.
    public var isProto3Optional: Bool
    /// Where the field is declared, if the descriptor set carries source info.
    public var position: SourcePosition?

    /// Creates a field.
    public init(
        name: String,
        number: Int,
        label: FieldLabel,
        type: FieldType,
        typeName: String = "",
        defaultValue: String? = nil,
        oneofIndex: Int? = nil,
        jsonName: String? = nil,
        isProto3Optional: Bool = false,
        position: SourcePosition? = nil
    ) {
        self.name = name
        self.number = number
        self.label = label
        self.type = type
        self.typeName = typeName
        self.defaultValue = defaultValue
        self.oneofIndex = oneofIndex
        self.jsonName = jsonName ?? FieldDescriptor.defaultJSONName(for: name)
        self.isProto3Optional = isProto3Optional
        self.position = position
    }

    /// The JSON name protoc derives from a field name: underscores dropped, the letter after each capitalised.
    public static func defaultJSONName(for name: String) -> String {
        var result = ""
        var capitalizeNext = false
        for character in name {
            if character == "_" {
                capitalizeNext = true
            } else if capitalizeNext {
                result += character.uppercased()
                capitalizeNext = false
            } else {
                result.append(character)
            }
        }
        return result
    }
}

/// A oneof declaration inside a message.
public struct OneofDescriptor: Sendable {
    /// Short name.
    public var name: String

    /// Creates a oneof.
    public init(name: String) { self.name = name }
}

/// A message type, flattened: nested messages are separate values with dotted full names.
public struct MessageDescriptor: Sendable {
    /// Full name without the leading dot, e.g. `ranking.v1.RankRequest`.
    public var fullName: String
    /// The .proto file that declares it.
    public var fileName: String
    /// Declared fields, in declaration order.
    public var fields: [FieldDescriptor]
    /// Declared oneofs, real and synthetic, in declaration order.
    public var oneofs: [OneofDescriptor]
    /// Reserved field numbers.
    public var reservedRanges: [ReservedRange]
    /// Reserved field names.
    public var reservedNames: [String]
    /// True for the synthetic entry message protoc generates for a `map<K, V>` field.
    public var isMapEntry: Bool
    /// Where the message is declared.
    public var position: SourcePosition?

    /// Creates a message.
    public init(
        fullName: String,
        fileName: String,
        fields: [FieldDescriptor] = [],
        oneofs: [OneofDescriptor] = [],
        reservedRanges: [ReservedRange] = [],
        reservedNames: [String] = [],
        isMapEntry: Bool = false,
        position: SourcePosition? = nil
    ) {
        self.fullName = fullName
        self.fileName = fileName
        self.fields = fields
        self.oneofs = oneofs
        self.reservedRanges = reservedRanges
        self.reservedNames = reservedNames
        self.isMapEntry = isMapEntry
        self.position = position
    }
}

/// One value of an enum.
public struct EnumValueDescriptor: Sendable {
    /// Value name, e.g. `SURFACE_DISCOVERY`.
    public var name: String
    /// Value number.
    public var number: Int
    /// Where the value is declared.
    public var position: SourcePosition?

    /// Creates an enum value.
    public init(name: String, number: Int, position: SourcePosition? = nil) {
        self.name = name
        self.number = number
        self.position = position
    }
}

/// An enum type, top-level or nested (flattened like messages).
public struct EnumDescriptor: Sendable {
    /// Full name without the leading dot.
    public var fullName: String
    /// The .proto file that declares it.
    public var fileName: String
    /// Values in declaration order; aliases share a number.
    public var values: [EnumValueDescriptor]
    /// Reserved value numbers (inclusive ranges, as enums declare them).
    public var reservedRanges: [ReservedRange]
    /// Reserved value names.
    public var reservedNames: [String]
    /// Where the enum is declared.
    public var position: SourcePosition?

    /// Creates an enum.
    public init(
        fullName: String,
        fileName: String,
        values: [EnumValueDescriptor],
        reservedRanges: [ReservedRange] = [],
        reservedNames: [String] = [],
        position: SourcePosition? = nil
    ) {
        self.fullName = fullName
        self.fileName = fileName
        self.values = values
        self.reservedRanges = reservedRanges
        self.reservedNames = reservedNames
        self.position = position
    }

    /// The last component of the full name.
    public var shortName: String { String(fullName.split(separator: ".").last ?? Substring(fullName)) }
}

/// One RPC of a service.
public struct MethodDescriptor: Sendable {
    /// RPC name, e.g. `Rank`.
    public var name: String
    /// Full name of the request message, without the leading dot.
    public var inputType: String
    /// Full name of the response message, without the leading dot.
    public var outputType: String
    /// True when the client sends a stream.
    public var clientStreaming: Bool
    /// True when the server sends a stream.
    public var serverStreaming: Bool
    /// The `idempotency_level` option.
    public var idempotencyLevel: IdempotencyLevel
    /// Where the RPC is declared.
    public var position: SourcePosition?

    /// Creates an RPC.
    public init(
        name: String,
        inputType: String,
        outputType: String,
        clientStreaming: Bool = false,
        serverStreaming: Bool = false,
        idempotencyLevel: IdempotencyLevel = .unknown,
        position: SourcePosition? = nil
    ) {
        self.name = name
        self.inputType = inputType
        self.outputType = outputType
        self.clientStreaming = clientStreaming
        self.serverStreaming = serverStreaming
        self.idempotencyLevel = idempotencyLevel
        self.position = position
    }
}

/// A gRPC service.
public struct ServiceDescriptor: Sendable {
    /// Full name without the leading dot, e.g. `ranking.v1.RankingService`.
    public var fullName: String
    /// The .proto file that declares it.
    public var fileName: String
    /// RPCs in declaration order.
    public var methods: [MethodDescriptor]
    /// Where the service is declared.
    public var position: SourcePosition?

    /// Creates a service.
    public init(fullName: String, fileName: String, methods: [MethodDescriptor], position: SourcePosition? = nil) {
        self.fullName = fullName
        self.fileName = fileName
        self.methods = methods
        self.position = position
    }
}

/// The syntax a .proto file declares.
public enum ProtoSyntax: String, Sendable {
    case proto2, proto3
}

/// One .proto file with every type it declares, nested ones included.
public struct FileDescriptor: Sendable {
    /// Path relative to the proto root, e.g. `ranking/v1/ranking.proto`.
    public var name: String
    /// The `package` statement, empty when there is none.
    public var package: String
    /// Declared syntax (an absent syntax statement means proto2).
    public var syntax: ProtoSyntax
    /// Every message, outermost first, nested ones after their parent.
    public var messages: [MessageDescriptor]
    /// Every enum, top-level and nested.
    public var enums: [EnumDescriptor]
    /// Services in declaration order.
    public var services: [ServiceDescriptor]
    /// Where the `package` statement is.
    public var packagePosition: SourcePosition?

    /// Creates a file.
    public init(
        name: String,
        package: String,
        syntax: ProtoSyntax,
        messages: [MessageDescriptor] = [],
        enums: [EnumDescriptor] = [],
        services: [ServiceDescriptor] = [],
        packagePosition: SourcePosition? = nil
    ) {
        self.name = name
        self.package = package
        self.syntax = syntax
        self.messages = messages
        self.enums = enums
        self.services = services
        self.packagePosition = packagePosition
    }
}
