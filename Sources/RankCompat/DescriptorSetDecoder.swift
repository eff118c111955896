import CRankingProto

/// Why a serialized descriptor set could not be turned into `FileDescriptor` values.
public enum DescriptorSetDecodingError: Error, Equatable, CustomStringConvertible {
    /// protobuf-c rejected the bytes: they are not a serialized google.protobuf.FileDescriptorSet.
    case notADescriptorSet
    /// A file uses a syntax this checker does not model (editions need feature resolution it does not do).
    case unsupportedSyntax(file: String, syntax: String)
    /// A required part of a descriptor is missing, e.g. a field without a number.
    case malformed(String)

    /// A one-line explanation for the user.
    public var description: String {
        switch self {
        case .notADescriptorSet:
            "not a serialized google.protobuf.FileDescriptorSet"
        case .unsupportedSyntax(let file, let syntax):
            "\(file) uses syntax \"\(syntax)\"; only proto2 and proto3 are supported"
        case .malformed(let detail):
            "malformed descriptor: \(detail)"
        }
    }
}

/// Decodes a serialized FileDescriptorSet with the protobuf-c code in CRankingProto.
///
/// The C message tree is owned by this decoder only for the duration of `decode(_:)`: it is converted into Swift
/// values and freed with `free_unpacked` before the call returns, so nothing outlives the C allocation.
public enum DescriptorSetDecoder {
    /// Decodes `bytes` into the files it describes, in the order they appear.
    public static func decode(_ bytes: [UInt8]) throws -> [FileDescriptor] {
        let unpacked: UnsafeMutablePointer<Google__Protobuf__FileDescriptorSet>? = bytes.withUnsafeBufferPointer {
            google__protobuf__file_descriptor_set__unpack(nil, $0.count, $0.baseAddress)
        }
        guard let set = unpacked else { throw DescriptorSetDecodingError.notADescriptorSet }
        defer { google__protobuf__file_descriptor_set__free_unpacked(set, nil) }
        return try buffer(set.pointee.file, set.pointee.n_file).map { try convertFile($0) }
    }

    // MARK: C to Swift

    /// Positions by source path (`[4, 0, 2, 1]` = message 0, field 1), as recorded by `--include_source_info`.
    private typealias LocationTable = [[Int32]: SourcePosition]

    private static func convertFile(
        _ file: UnsafeMutablePointer<Google__Protobuf__FileDescriptorProto>
    ) throws
        -> FileDescriptor
    {
        let name = string(file.pointee.name)
        guard !name.isEmpty else { throw DescriptorSetDecodingError.malformed("a file has no name") }
        let syntaxText = string(file.pointee.syntax)
        let syntax: ProtoSyntax
        switch syntaxText {
        case "", "proto2": syntax = .proto2
        case "proto3": syntax = .proto3
        default: throw DescriptorSetDecodingError.unsupportedSyntax(file: name, syntax: syntaxText)
        }
        let locations = locationTable(file.pointee.source_code_info)
        let package = string(file.pointee.package)
        let scope = package.isEmpty ? "" : package + "."

        var result = FileDescriptor(
            name: name,
            package: package,
            syntax: syntax,
            packagePosition: locations[[2]]
        )
        for (index, message) in buffer(file.pointee.message_type, file.pointee.n_message_type).enumerated() {
            try collectMessage(
                message,
                scope: scope,
                path: [4, Int32(index)],
                fileName: name,
                locations: locations,
                into: &result
            )
        }
        for (index, enumType) in buffer(file.pointee.enum_type, file.pointee.n_enum_type).enumerated() {
            result.enums.append(
                try convertEnum(
                    enumType,
                    scope: scope,
                    path: [5, Int32(index)],
                    fileName: name,
                    locations: locations
                )
            )
        }
        for (index, service) in buffer(file.pointee.service, file.pointee.n_service).enumerated() {
            result.services.append(
                convertService(
                    service,
                    scope: scope,
                    path: [6, Int32(index)],
                    fileName: name,
                    locations: locations
                )
            )
        }
        return result
    }

    private static func collectMessage(
        _ message: UnsafeMutablePointer<Google__Protobuf__DescriptorProto>,
        scope: String,
        path: [Int32],
        fileName: String,
        locations: LocationTable,
        fallbackPosition: SourcePosition? = nil,
        into file: inout FileDescriptor
    ) throws {
        let fullName = scope + string(message.pointee.name)
        var fields: [FieldDescriptor] = []
        for (index, field) in buffer(message.pointee.field, message.pointee.n_field).enumerated() {
            fields.append(try convertField(field, owner: fullName, position: locations[path + [2, Int32(index)]]))
        }
        let oneofs = buffer(message.pointee.oneof_decl, message.pointee.n_oneof_decl).map {
            OneofDescriptor(name: string($0.pointee.name))
        }
        // DescriptorProto.ReservedRange has an exclusive end; store it inclusive like enum ranges.
        let reserved = buffer(message.pointee.reserved_range, message.pointee.n_reserved_range).map {
            ReservedRange(start: Int($0.pointee.start), end: Int($0.pointee.end) - 1)
        }
        let reservedNames = stringArray(message.pointee.reserved_name, message.pointee.n_reserved_name)
        var isMapEntry = false
        if let options = message.pointee.options {
            isMapEntry = options.pointee.has_map_entry != 0 && options.pointee.map_entry != 0
        }
        file.messages.append(
            MessageDescriptor(
                fullName: fullName,
                fileName: fileName,
                fields: fields,
                oneofs: oneofs,
                reservedRanges: reserved,
                reservedNames: reservedNames,
                isMapEntry: isMapEntry,
                position: locations[path] ?? fallbackPosition
            )
        )

        // A map's entry message is generated and has no source location; findings on it point at the map field.
        let fieldPositions = Dictionary(
            fields.compactMap { field in field.position.map { (field.typeName, $0) } },
            uniquingKeysWith: { first, _ in first }
        )
        for (index, nested) in buffer(message.pointee.nested_type, message.pointee.n_nested_type).enumerated() {
            try collectMessage(
                nested,
                scope: fullName + ".",
                path: path + [3, Int32(index)],
                fileName: fileName,
                locations: locations,
                fallbackPosition: fieldPositions[fullName + "." + string(nested.pointee.name)],
                into: &file
            )
        }
        for (index, enumType) in buffer(message.pointee.enum_type, message.pointee.n_enum_type).enumerated() {
            file.enums.append(
                try convertEnum(
                    enumType,
                    scope: fullName + ".",
                    path: path + [4, Int32(index)],
                    fileName: fileName,
                    locations: locations
                )
            )
        }
    }

    private static func convertField(
        _ field: UnsafeMutablePointer<Google__Protobuf__FieldDescriptorProto>,
        owner: String,
        position: SourcePosition?
    ) throws -> FieldDescriptor {
        let name = string(field.pointee.name)
        guard field.pointee.has_number != 0 else {
            throw DescriptorSetDecodingError.malformed("field \"\(name)\" on \"\(owner)\" has no number")
        }
        let typeName = trimLeadingDot(string(field.pointee.type_name))
        let type: FieldType
        if field.pointee.has_type != 0 {
            guard let decoded = FieldType(rawValue: Int(field.pointee.type.rawValue)) else {
                throw DescriptorSetDecodingError.malformed("field \"\(name)\" on \"\(owner)\" has an unknown type")
            }
            type = decoded
        } else if !typeName.isEmpty {
            // Unlinked descriptors may leave the type out for named types; protoc's output never does, but
            // without a resolver the honest answer is that the kind is unknown.
            throw DescriptorSetDecodingError.malformed(
                "field \"\(name)\" on \"\(owner)\" names type \(typeName) without saying if it is a message or enum"
            )
        } else {
            throw DescriptorSetDecodingError.malformed("field \"\(name)\" on \"\(owner)\" has no type")
        }
        let label = FieldLabel(rawValue: Int(field.pointee.label.rawValue)) ?? .optional
        let jsonName = field.pointee.json_name.map { String(cString: $0) }
        return FieldDescriptor(
            name: name,
            number: Int(field.pointee.number),
            label: field.pointee.has_label != 0 ? label : .optional,
            type: type,
            typeName: typeName,
            defaultValue: field.pointee.default_value.map { String(cString: $0) },
            oneofIndex: field.pointee.has_oneof_index != 0 ? Int(field.pointee.oneof_index) : nil,
            jsonName: jsonName,
            isProto3Optional: field.pointee.has_proto3_optional != 0
                && field.pointee.proto3_optional != 0,
            position: position
        )
    }

    private static func convertEnum(
        _ enumType: UnsafeMutablePointer<Google__Protobuf__EnumDescriptorProto>,
        scope: String,
        path: [Int32],
        fileName: String,
        locations: LocationTable
    ) throws -> EnumDescriptor {
        let fullName = scope + string(enumType.pointee.name)
        var values: [EnumValueDescriptor] = []
        for (index, value) in buffer(enumType.pointee.value, enumType.pointee.n_value).enumerated() {
            guard value.pointee.has_number != 0 else {
                throw DescriptorSetDecodingError.malformed(
                    "enum value \"\(string(value.pointee.name))\" on \"\(fullName)\" has no number"
                )
            }
            values.append(
                EnumValueDescriptor(
                    name: string(value.pointee.name),
                    number: Int(value.pointee.number),
                    position: locations[path + [2, Int32(index)]]
                )
            )
        }
        let reserved = buffer(enumType.pointee.reserved_range, enumType.pointee.n_reserved_range).map {
            ReservedRange(start: Int($0.pointee.start), end: Int($0.pointee.end))
        }
        return EnumDescriptor(
            fullName: fullName,
            fileName: fileName,
            values: values,
            reservedRanges: reserved,
            reservedNames: stringArray(enumType.pointee.reserved_name, enumType.pointee.n_reserved_name),
            position: locations[path]
        )
    }

    private static func convertService(
        _ service: UnsafeMutablePointer<Google__Protobuf__ServiceDescriptorProto>,
        scope: String,
        path: [Int32],
        fileName: String,
        locations: LocationTable
    ) -> ServiceDescriptor {
        let methods = buffer(service.pointee.method, service.pointee.n_method).enumerated().map {
            index,
            method in
            var level = IdempotencyLevel.unknown
            if let options = method.pointee.options, options.pointee.has_idempotency_level != 0 {
                level = IdempotencyLevel(rawValue: Int(options.pointee.idempotency_level.rawValue)) ?? .unknown
            }
            return MethodDescriptor(
                name: string(method.pointee.name),
                inputType: trimLeadingDot(string(method.pointee.input_type)),
                outputType: trimLeadingDot(string(method.pointee.output_type)),
                clientStreaming: method.pointee.has_client_streaming != 0 && method.pointee.client_streaming != 0,
                serverStreaming: method.pointee.has_server_streaming != 0 && method.pointee.server_streaming != 0,
                idempotencyLevel: level,
                position: locations[path + [2, Int32(index)]]
            )
        }
        return ServiceDescriptor(
            fullName: scope + string(service.pointee.name),
            fileName: fileName,
            methods: methods,
            position: locations[path]
        )
    }

    private static func locationTable(
        _ info: UnsafeMutablePointer<Google__Protobuf__SourceCodeInfo>?
    )
        -> LocationTable
    {
        guard let info else { return [:] }
        var table: LocationTable = [:]
        for location in buffer(info.pointee.location, info.pointee.n_location) {
            guard location.pointee.n_span >= 3, let span = location.pointee.span else { continue }
            let path = Array(UnsafeBufferPointer(start: location.pointee.path, count: location.pointee.n_path))
            // Spans are 0-based; the first location recorded for a path is the whole declaration.
            if table[path] == nil {
                table[path] = SourcePosition(line: Int(span[0]) + 1, column: Int(span[1]) + 1)
            }
        }
        return table
    }

    // MARK: C helpers

    private static func buffer<T>(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<T>?>?,
        _ count: Int
    )
        -> [UnsafeMutablePointer<T>]
    {
        guard let pointer, count > 0 else { return [] }
        return UnsafeBufferPointer(start: pointer, count: count).compactMap { $0 }
    }

    private static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        pointer.map { String(cString: $0) } ?? ""
    }

    private static func stringArray(
        _ pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        _ count: Int
    )
        -> [String]
    {
        guard let pointer, count > 0 else { return [] }
        return UnsafeBufferPointer(start: pointer, count: count).compactMap { $0.map { String(cString: $0) } }
    }

    private static func trimLeadingDot(_ name: String) -> String {
        name.hasPrefix(".") ? String(name.dropFirst()) : name
    }
}
