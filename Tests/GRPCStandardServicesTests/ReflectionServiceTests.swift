import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport
import Testing

@testable import GRPCStandardServices

/// Server reflection (v1 and v1alpha) over loopback. The H2GRPC client sends one request message per call and then
/// ends its side, so each call here is one question and one answer on a bidirectional stream, closed with OK.
@Suite("Reflection over loopback")
struct ReflectionServiceTests {
    typealias Request = Grpc__Reflection__V1__ServerReflectionRequest
    typealias Response = Grpc__Reflection__V1__ServerReflectionResponse

    static let paths = [
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ]

    static func request(host: String = "", _ fill: (inout Request, ProtoArena) -> Void) -> [UInt8] {
        let arena = ProtoArena()
        var request = Request()
        grpc__reflection__v1__server_reflection_request__init(&request)
        request.host = arena.string(host)
        fill(&request, arena)
        return ProtoC.encode(&request)
    }

    static func listServices() -> [UInt8] {
        request {
            $0.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_LIST_SERVICES
            $0.list_services = $1.string("*")
        }
    }

    static func fileContainingSymbol(_ symbol: String) -> [UInt8] {
        request {
            $0.message_request_case =
                GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_SYMBOL
            $0.file_containing_symbol = $1.string(symbol)
        }
    }

    static func fileByName(_ name: String) -> [UInt8] {
        request {
            $0.message_request_case = GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME
            $0.file_by_filename = $1.string(name)
        }
    }

    /// Sends one request on a new reflection stream and returns the one reply; the stream must end with OK.
    static func ask(_ loopback: Loopback, _ path: String, _ request: [UInt8]) throws -> DecodedMessage<Response> {
        let inbox = loopback.start(path, request)
        let result = try #require(inbox.waitForEnd())
        #expect(result.status.code == .ok, "\(result.status)")
        let replies = inbox.received
        try #require(replies.count == 1)
        return try ProtoC.decode(replies[0], as: grpc__reflection__v1__server_reflection_response__init)
    }

    /// The names of the files in a file-descriptor reply, in the order sent.
    static func fileNames(_ reply: DecodedMessage<Response>) throws -> [String] {
        try #require(
            reply.message.message_response_case
                == GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_FILE_DESCRIPTOR_RESPONSE
        )
        let files = try #require(reply.message.file_descriptor_response).pointee
        return try ProtoC.array(files.file_descriptor_proto, count: files.n_file_descriptor_proto) { data in
            let file = try ProtoC.decode(ProtoC.bytes(data), as: google__protobuf__file_descriptor_proto__init)
            return ProtoC.string(file.message.name)
        }
    }

    /// The error code and message of an error reply.
    static func error(_ reply: DecodedMessage<Response>) throws -> (Int32, String) {
        try #require(
            reply.message.message_response_case
                == GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ERROR_RESPONSE
        )
        let error = try #require(reply.message.error_response).pointee
        return (error.error_code, ProtoC.string(error.error_message))
    }

    @Test("list services names exactly the services the server was given", arguments: paths)
    func listsServices(path: String) throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let reply = try Self.ask(loopback, path, Self.listServices())
        try #require(
            reply.message.message_response_case
                == GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_LIST_SERVICES_RESPONSE
        )
        let list = try #require(reply.message.list_services_response).pointee
        let names = ProtoC.messages(list.service, count: list.n_service).map { ProtoC.string($0.pointee.name) }
        #expect(names == Loopback.listedServices)
    }

    @Test("a reply echoes the host and the original request")
    func echoesTheRequest() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let reply = try Self.ask(
            loopback,
            Self.paths[0],
            Self.request(host: "rankd.internal") {
                $0.message_request_case =
                    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_BY_FILENAME
                $0.file_by_filename = $1.string("grpc/health/v1/health.proto")
            }
        )
        #expect(ProtoC.string(reply.message.valid_host) == "rankd.internal")
        let original = try #require(reply.message.original_request).pointee
        #expect(ProtoC.string(original.file_by_filename) == "grpc/health/v1/health.proto")
    }

    @Test("file containing a service symbol sends its file first, then each file it imports, once", arguments: paths)
    func fileContainingService(path: String) throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let names = try Self.fileNames(Self.ask(loopback, path, Self.fileContainingSymbol("grpc.testing.TestService")))
        #expect(names.first == "grpc/testing/test.proto")
        #expect(Set(names) == ["grpc/testing/test.proto", "grpc/testing/empty.proto", "grpc/testing/messages.proto"])
        #expect(names.count == 3)
    }

    @Test(
        "methods, messages, nested types and protoc's leading-dot references all resolve to their file",
        arguments: [
            ("ranking.v1.RankingService.Rank", "ranking/v1/ranking.proto"),
            (".ranking.v1.RankRequest", "ranking/v1/ranking.proto"),
            ("grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"),
            ("grpc.reflection.v1.ServerReflection", "grpc/reflection/v1/reflection.proto"),
        ]
    )
    func symbolsResolve(symbol: String, file: String) throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let names = try Self.fileNames(Self.ask(loopback, Self.paths[0], Self.fileContainingSymbol(symbol)))
        #expect(names == [file])
    }

    @Test("file by name sends that file")
    func fileByName() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let names = try Self.fileNames(Self.ask(loopback, Self.paths[1], Self.fileByName("ranking/v1/ranking.proto")))
        #expect(names == ["ranking/v1/ranking.proto"])
    }

    @Test(
        "an unknown file, symbol or extension is an error reply with NOT_FOUND, and the stream still ends OK",
        arguments: [
            ReflectionServiceTests.fileByName("no/such.proto"),
            ReflectionServiceTests.fileContainingSymbol("no.such.Symbol"),
            ReflectionServiceTests.request {
                $0.message_request_case =
                    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE
                $0.all_extension_numbers_of_type = $1.string("no.such.Type")
            },
            ReflectionServiceTests.request {
                var extensionRequest = Grpc__Reflection__V1__ExtensionRequest()
                grpc__reflection__v1__extension_request__init(&extensionRequest)
                extensionRequest.containing_type = $1.string("ranking.v1.RankRequest")
                extensionRequest.extension_number = 100
                $0.message_request_case =
                    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_FILE_CONTAINING_EXTENSION
                $0.file_containing_extension = $1.make(extensionRequest)
            },
        ]
    )
    func unknownIsNotFound(request: [UInt8]) throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let (code, _) = try Self.error(Self.ask(loopback, Self.paths[0], request))
        #expect(code == Int32(GRPCStatus.Code.notFound.rawValue))
    }

    @Test("extension numbers of a known type are an empty list naming the type")
    func extensionNumbersOfKnownType() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let reply = try Self.ask(
            loopback,
            Self.paths[0],
            Self.request {
                $0.message_request_case =
                    GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_ALL_EXTENSION_NUMBERS_OF_TYPE
                $0.all_extension_numbers_of_type = $1.string("ranking.v1.RankRequest")
            }
        )
        try #require(
            reply.message.message_response_case
                == GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_ALL_EXTENSION_NUMBERS_RESPONSE
        )
        let numbers = try #require(reply.message.all_extension_numbers_response).pointee
        #expect(ProtoC.string(numbers.base_type_name) == "ranking.v1.RankRequest")
        #expect(numbers.n_extension_number == 0)
    }

    @Test("a request that names no query is an error reply with INVALID_ARGUMENT")
    func emptyRequest() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let (code, message) = try Self.error(Self.ask(loopback, Self.paths[0], Self.request { _, _ in }))
        #expect(code == Int32(GRPCStatus.Code.invalidArgument.rawValue))
        #expect(!message.isEmpty)
    }

    @Test("a request that does not parse ends the stream with INTERNAL")
    func garbageRequest() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let inbox = loopback.start(Self.paths[0], [0xff, 0xff, 0xff, 0x07])
        let result = try #require(inbox.waitForEnd())
        #expect(result.status.code == .internal)
        #expect(inbox.received.isEmpty)
    }

    @Test("many reflection streams at once each get their own answer")
    func concurrentStreams() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let symbols = [
            ("grpc.testing.TestService", "grpc/testing/test.proto"),
            ("ranking.v1.RankingService", "ranking/v1/ranking.proto"),
            ("grpc.health.v1.Health", "grpc/health/v1/health.proto"),
        ]
        let calls = (0..<60).map { index in
            let (symbol, file) = symbols[index % symbols.count]
            return (loopback.start(Self.paths[index % 2], Self.fileContainingSymbol(symbol)), file)
        }
        for (inbox, file) in calls {
            let result = try #require(inbox.waitForEnd())
            #expect(result.status.code == .ok)
            let replies = inbox.received
            try #require(replies.count == 1)
            let reply = try ProtoC.decode(replies[0], as: grpc__reflection__v1__server_reflection_response__init)
            #expect(try Self.fileNames(reply).first == file)
        }
    }

    // MARK: The descriptor index, without a server

    @Test("the index follows imports transitively, each file once, the asked-for file first")
    func dependencyOrder() throws {
        let reflection = try ReflectionService(services: [])
        let names = reflection.fileWithDependencies("grpc/testing/test.proto").map(\.name)
        #expect(names.first == "grpc/testing/test.proto")
        #expect(Set(names).count == names.count)
        #expect(Set(names) == ["grpc/testing/test.proto", "grpc/testing/empty.proto", "grpc/testing/messages.proto"])
        #expect(reflection.fileWithDependencies("no/such.proto").isEmpty)
    }

    @Test("symbol lookup accepts a leading dot and knows nested enums and methods")
    func symbolLookup() throws {
        let reflection = try ReflectionService(services: [])
        #expect(reflection.file(containingSymbol: "ranking.v1.RankRequest") == "ranking/v1/ranking.proto")
        #expect(reflection.file(containingSymbol: ".ranking.v1.RankRequest") == "ranking/v1/ranking.proto")
        #expect(
            reflection.file(containingSymbol: "grpc.health.v1.HealthCheckResponse.ServingStatus")
                == "grpc/health/v1/health.proto"
        )
        #expect(reflection.file(containingSymbol: "grpc.health.v1.Health.Watch") == "grpc/health/v1/health.proto")
        #expect(reflection.file(containingSymbol: "ranking.v1") == nil)
    }
}
