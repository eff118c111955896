import Testing

@testable import H2GRPC

@Suite struct GRPCStatusTests {
    @Test func codesHaveTheirWireValuesAndCanonicalNames() {
        let expected = [
            "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
            "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
            "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
        ]
        #expect(GRPCStatus.Code.allCases.map(\.rawValue) == Array(0...16))
        #expect(GRPCStatus.Code.allCases.map(\.name) == expected)
    }

    @Test func descriptionShowsNameAndMessage() {
        #expect(GRPCStatus.ok.description == "OK")
        #expect(GRPCStatus(.notFound, "no such user").description == "NOT_FOUND: no such user")
    }

    @Test(arguments: [
        (400, GRPCStatus.Code.internal), (401, .unauthenticated), (403, .permissionDenied), (404, .unimplemented),
        (429, .unavailable), (502, .unavailable), (503, .unavailable), (504, .unavailable), (200, .unknown),
        (415, .unknown), (500, .unknown), (302, .unknown),
    ])
    func httpStatusMapsPerTheSpecTable(http: Int, code: GRPCStatus.Code) {
        let status = GRPCStatus.fromHTTPStatus(http)
        #expect(status.code == code)
        #expect(status.message.contains(String(http)))
    }

    @Test(arguments: [
        (UInt32(0), GRPCStatus.Code.internal), (1, .internal), (2, .internal), (3, .internal), (4, .internal),
        (6, .internal), (7, .unavailable), (8, .cancelled), (9, .internal), (10, .internal),
        (11, .resourceExhausted), (12, .permissionDenied), (13, .internal), (0xFFFF, .internal),
    ])
    func resetCodesMapPerTheSpecTable(errorCode: UInt32, code: GRPCStatus.Code) {
        let status = GRPCStatus.fromHTTP2ErrorCode(errorCode)
        #expect(status.code == code)
        #expect(status.message.contains("HTTP/2 error \(errorCode)"))
    }

    @Test(arguments: [
        ("0", GRPCStatus.Code.ok), ("5", .notFound), ("16", .unauthenticated), ("13", .internal),
        ("007", .permissionDenied),
        ("17", .unknown), ("-1", .unknown), ("", .unknown), ("abc", .unknown), ("1 ", .unknown), ("+1", .unknown),
        ("99999999999999999999999", .unknown),
    ])
    func grpcStatusHeaderParsesLeniently(value: String, code: GRPCStatus.Code) {
        #expect(GRPCStatus.code(fromHeaderValue: value) == code)
    }
}
