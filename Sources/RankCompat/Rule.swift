/// How strict a comparison is, named after buf's breaking-change categories.
public enum CompatibilityCategory: String, CaseIterable, Sendable {
    /// Binary (wire) encoding must keep working.
    case wire = "WIRE"
    /// Binary and JSON encodings must keep working. Every change that breaks WIRE also breaks WIRE_JSON.
    case wireJSON = "WIRE_JSON"
}

/// A breaking-change rule, identified by the same id buf uses for it.
public enum Rule: String, CaseIterable, Sendable, Comparable {
    case fieldNoDeleteUnlessNumberReserved = "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"
    case fieldNoDeleteUnlessNameReserved = "FIELD_NO_DELETE_UNLESS_NAME_RESERVED"
    case fieldWireCompatibleType = "FIELD_WIRE_COMPATIBLE_TYPE"
    case fieldWireJSONCompatibleType = "FIELD_WIRE_JSON_COMPATIBLE_TYPE"
    case fieldWireCompatibleCardinality = "FIELD_WIRE_COMPATIBLE_CARDINALITY"
    case fieldWireJSONCompatibleCardinality = "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY"
    case fieldSameOneof = "FIELD_SAME_ONEOF"
    case fieldSameName = "FIELD_SAME_NAME"
    case fieldSameJSONName = "FIELD_SAME_JSON_NAME"
    case fieldSameDefault = "FIELD_SAME_DEFAULT"
    case enumValueNoDeleteUnlessNumberReserved = "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED"
    case enumValueNoDeleteUnlessNameReserved = "ENUM_VALUE_NO_DELETE_UNLESS_NAME_RESERVED"
    case enumValueSameName = "ENUM_VALUE_SAME_NAME"
    case messageSameRequiredFields = "MESSAGE_SAME_REQUIRED_FIELDS"
    case reservedMessageNoDelete = "RESERVED_MESSAGE_NO_DELETE"
    case reservedEnumNoDelete = "RESERVED_ENUM_NO_DELETE"
    case fileSamePackage = "FILE_SAME_PACKAGE"
    case rpcSameRequestType = "RPC_SAME_REQUEST_TYPE"
    case rpcSameResponseType = "RPC_SAME_RESPONSE_TYPE"
    case rpcSameClientStreaming = "RPC_SAME_CLIENT_STREAMING"
    case rpcSameServerStreaming = "RPC_SAME_SERVER_STREAMING"
    case rpcSameIdempotencyLevel = "RPC_SAME_IDEMPOTENCY_LEVEL"
    case serviceNoDelete = "SERVICE_NO_DELETE"
    case rpcNoDelete = "RPC_NO_DELETE"

    /// The rule id as printed in findings, e.g. `FIELD_SAME_NAME`.
    public var id: String { rawValue }

    /// The categories that run this rule.
    ///
    /// As in buf, WIRE_JSON swaps the two WIRE type and cardinality rules for their stricter JSON twins (whose
    /// compatible groups are subsets of the wire ones) and adds the name rules, since JSON keys are names.
    /// SERVICE_NO_DELETE and RPC_NO_DELETE are in both: for a gRPC contract a vanished RPC fails every caller
    /// with UNIMPLEMENTED, which is a wire break even though buf files it under FILE.
    public var categories: Set<CompatibilityCategory> {
        switch self {
        case .fieldWireCompatibleType, .fieldWireCompatibleCardinality:
            [.wire]
        case .fieldWireJSONCompatibleType, .fieldWireJSONCompatibleCardinality, .fieldNoDeleteUnlessNameReserved,
            .enumValueNoDeleteUnlessNameReserved, .enumValueSameName, .fieldSameName, .fieldSameJSONName:
            [.wireJSON]
        default:
            [.wire, .wireJSON]
        }
    }

    /// The rules a category runs, in declaration order.
    public static func rules(for category: CompatibilityCategory) -> [Rule] {
        allCases.filter { $0.categories.contains(category) }
    }

    /// Orders by rule id.
    public static func < (lhs: Rule, rhs: Rule) -> Bool { lhs.rawValue < rhs.rawValue }
}
