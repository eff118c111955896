import CRankingProto
import H2GRPC
import ProtoSupport

/// gRPC server reflection (grpc.reflection.v1 and v1alpha, which share one wire format), so grpcurl-style tools
/// can list rankd's services and fetch their descriptors.
///
/// Serves the descriptor set compiled into CRankingProto: each file once, indexed by file name and by every symbol it
/// defines (packages' messages, enums, services and methods, nested types included).
public final class ReflectionService: Sendable {
    private let serviceNames: [String]
    private let files: [String: File]
    private let symbols: [String: String]

    struct File: Sendable {
        let name: String
        let dependencies: [String]
        let serialized: [UInt8]
    }

    /// Reflection over the embedded descriptor set, listing `services` (the ones the server registers).
    public init(services: [String]) throws {
        let bytes = Array(
            UnsafeBufferPointer(start: crankingproto_descriptor_set(), count: crankingproto_descriptor_set_size()))
        let set = try ProtoC.decode(bytes, as: google__protobuf__file_descriptor_set__init)
        var files: [String: File] = [:]
        var symbols: [String: String] = [:]
        for file in ProtoC.messages(set.message.file, count: set.message.n_file) {
            let name = ProtoC.string(file.pointee.name)
            let package = ProtoC.string(file.pointee.package)
            let prefix = package.isEmpty ? "" : package + "."
            let dependencies = ProtoC.array(file.pointee.dependency, count: file.pointee.n_dependency) {
                ProtoC.string($0)
            }
            files[name] = File(name: name, dependencies: dependencies, serialized: ProtoC.encode(file))
            for message in ProtoC.messages(file.pointee.message_type, count: file.pointee.n_message_type) {
                Self.indexMessage(message, prefix: prefix, file: name, into: &symbols)
            }
            for item in ProtoC.messages(file.pointee.enum_type, count: file.pointee.n_enum_type) {
                symbols[prefix + ProtoC.string(item.pointee.name)] = name
            }
            for service in ProtoC.messages(file.pointee.service, count: file.pointee.n_service) {
                let serviceName = prefix + ProtoC.string(service.pointee.name)
                symbols[serviceName] = name
                for method in ProtoC.messages(service.pointee.method, count: service.pointee.n_method) {
                    symbols[serviceName + "." + ProtoC.string(method.pointee.name)] = name
                }
            }
        }
        self.files = files
        self.symbols = symbols
        self.serviceNames = services
    }

    private static func indexMessage(
        _ message: UnsafeMutablePointer<Google__Protobuf__DescriptorProto>, prefix: String, file: String,
        into symbols: inout [String: String]
    ) {
        let fullName = prefix + ProtoC.string(message.pointee.name)
        symbols[fullName] = file
        for nested in ProtoC.messages(message.pointee.nested_type, count: message.pointee.n_nested_type) {
            indexMessage(nested, prefix: fullName + ".", file: file, into: &symbols)
        }
        for nested in ProtoC.messages(message.pointee.enum_type, count: message.pointee.n_enum_type) {
            symbols[fullName + "." + ProtoC.string(nested.pointee.name)] = file
        }
    }

    /// The v1 and v1alpha service definitions.
    public var definitions: [ServiceDefinition] {
        ["grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"].map { name in
            ServiceDefinition(
                name: name,
                methods: [
                    RPCMethod(
                        name: "ServerReflectionInfo",
                        // One reply per request, computed when it arrives: an open reflection stream holds no thread.
                        handler: .bidirectionalReplies { [self] _, request in try answer(request) })
                ])
        }
    }

    /// The file and everything it imports, the file first, each once.
    func fileWithDependencies(_ name: String) -> [File] {
        var ordered: [File] = []
        var seen = Set<String>()
        var pending = [name]
        while let next = pending.first {
            pending.removeFirst()
            guard seen.insert(next).inserted, let file = files[next] else { continue }
            ordered.append(file)
            pending.append(contentsOf: file.dependencies)
        }
        return ordered
    }

    /// Looks up a symbol, accepting a leading dot as protoc writes type references.
    func file(containingSymbol symbol: String) -> String? {
        let trimmed = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
        return symbols[trimmed]
    }

    private func answer(_ request: [UInt8]) throws -> [UInt8] {
        // v1alpha and v1 messages are identical on the wire, so one decoder serves both.
        let decoded = try ProtoC.decode(request, as: grpc__reflection__v1__server_reflection_request__init)
        let arena = ProtoArena()
        var response = Grpc__Reflection__V1__ServerReflectionResponse()
        grpc__reflection__v1__server_reflection_response__init(&response)
        response.valid_host = decoded.message.host
        response.original_request = decoded.pointer

        func error(_ code: GRPCStatus.Code, _ message: String) {
            var error = Grpc__Reflection__V1__ErrorResponse()
            grpc__reflection__v1__error_response__init(&error)
            error.error_code = Int32(code.rawValue)
            error.error_message = arena.string(message)
            response.message_response_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE
            response.error_response = arena.make(error)
        }
        func files(_ list: [File]) {
            var descriptors = Grpc__Reflection__V1__FileDescriptorResponse()
            grpc__reflection__v1__file_descriptor_response__init(&descriptors)
            descriptors.n_file_descriptor_proto = list.count
            descriptors.file_descriptor_proto = arena.array(list.map { arena.bytes($0.serialized) })
            response.message_response_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE
            response.file_descriptor_response = arena.make(descriptors)
        }

        let request = decoded.message
        switch request.message_request_case {
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES:
            var list = Grpc__Reflection__V1__ListServiceResponse()
            grpc__reflection__v1__list_service_response__init(&list)
            let entries: [UnsafeMutablePointer<Grpc__Reflection__V1__ServiceResponse>?] = serviceNames.map { name in
                var entry = Grpc__Reflection__V1__ServiceResponse()
                grpc__reflection__v1__service_response__init(&entry)
                entry.name = arena.string(name)
                return arena.make(entry)
            }
            list.n_service = entries.count
            list.service = arena.array(entries)
            response.message_response_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE
            response.list_services_response = arena.make(list)
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME:
            let name = ProtoC.string(request.file_by_filename)
            if self.files[name] != nil { files(fileWithDependencies(name)) } else { error(.notFound, "unknown file \(name)") }
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL:
            let symbol = ProtoC.string(request.file_containing_symbol)
            if let name = file(containingSymbol: symbol) {
                files(fileWithDependencies(name))
            } else {
                error(.notFound, "unknown symbol \(symbol)")
            }
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION:
            error(.notFound, "no extensions are registered")
        case GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE:
            let type = ProtoC.string(request.all_extension_numbers_of_type)
            if file(containingSymbol: type) != nil {
                var numbers = Grpc__Reflection__V1__ExtensionNumberResponse()
                grpc__reflection__v1__extension_number_response__init(&numbers)
                numbers.base_type_name = arena.string(type)
                response.message_response_case =
                    GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE
                response.all_extension_numbers_response = arena.make(numbers)
            } else {
                error(.notFound, "unknown type \(type)")
            }
        default:
            error(.invalidArgument, "the request names no reflection query")
        }
        return ProtoC.encode(&response)
    }
}
