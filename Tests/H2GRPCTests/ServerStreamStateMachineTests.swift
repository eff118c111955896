import CNGHTTP2Shim
import Testing

@testable import H2GRPC

/// Compares header blocks, which are tuple arrays and so not Equatable.
private func pairs(_ headers: [(String, String)]) -> [String] {
    headers.map { "\($0.0): \($0.1)" }
}

private func requestHeaders(
    path: String = "/ranking.v1.RankingService/Rank",
    contentType: String? = "application/grpc",
    method: String = "POST",
    extra: [(String, String)] = []
) -> [(name: String, value: String)] {
    var headers: [(name: String, value: String)] = [
        (":method", method), (":scheme", "http"), (":path", path), (":authority", "rank.example:50051"),
        ("te", "trailers"),
    ]
    if let contentType { headers.append(("content-type", contentType)) }
    for (name, value) in extra { headers.append((name, value)) }
    return headers
}

private func acceptedMachine(
    configuration: ServerStreamStateMachine.Configuration = .init(),
    extra: [(String, String)] = []
) throws -> (ServerStreamStateMachine, ServerStreamStateMachine.RequestHead) {
    var machine = ServerStreamStateMachine(configuration: configuration)
    guard case .accept(let head) = machine.receivedHeaders(requestHeaders(extra: extra), endStream: false) else {
        Issue.record("request was not accepted")
        throw GRPCStatus(.internal, "not accepted")
    }
    return (machine, head)
}

private func messages(_ action: ServerStreamStateMachine.DataAction) -> ([[UInt8]], Bool)? {
    if case .messages(let messages, let end) = action { return (messages, end) }
    return nil
}

private func failure(_ action: ServerStreamStateMachine.DataAction) -> GRPCStatus? {
    if case .fail(let status) = action { return status }
    return nil
}

@Suite struct ServerStreamRequestHeadersTests {
    @Test func acceptsAValidCallAndExtractsItsHead() throws {
        let (machine, head) = try acceptedMachine(extra: [
            ("grpc-timeout", "250m"), ("grpc-encoding", "gzip"), ("grpc-accept-encoding", "gzip, deflate"),
            ("user-agent", "grpc-go/1.60.0"), ("authorization", "Bearer t0k3n"), ("x-trace-bin", "AQID"),
            ("x-tenant", "a"), ("x-tenant", "b"),
        ])
        #expect(head.path == "/ranking.v1.RankingService/Rank")
        #expect(head.service == "ranking.v1.RankingService")
        #expect(head.method == "Rank")
        #expect(head.deadlineNanoseconds == 250_000_000)
        #expect(head.requestEncoding == .gzip)
        #expect(head.acceptedEncodings == [.gzip])
        #expect(head.responseEncoding == .identity)
        #expect(head.authority == "rank.example:50051")
        #expect(head.userAgent == "grpc-go/1.60.0")
        #expect(head.contentType == "application/grpc")
        #expect(
            head.metadata
                == Metadata([
                    ("authorization", "Bearer t0k3n"), ("x-trace-bin", "AQID"), ("x-tenant", "a"),
                    ("x-tenant", "b"),
                ])
        )
        #expect(head.metadata.binaryValues("x-trace-bin") == [[1, 2, 3]])
        #expect(!machine.isClosed)
        #expect(machine.isRequestOpen)
    }

    @Test func noTimeoutMeansNoDeadlineAndTEIsNotRequired() throws {
        var machine = ServerStreamStateMachine(configuration: .init())
        let headers = requestHeaders().filter { $0.name != "te" }
        guard case .accept(let head) = machine.receivedHeaders(headers, endStream: false) else {
            Issue.record("not accepted")
            return
        }
        #expect(head.deadlineNanoseconds == nil)
        #expect(head.requestEncoding == .identity)
    }

    @Test func hostStandsInForAMissingAuthority() {
        var machine = ServerStreamStateMachine(configuration: .init())
        let headers = requestHeaders().filter { $0.name != ":authority" } + [("host", "h:1")]
        guard case .accept(let head) = machine.receivedHeaders(headers, endStream: false) else {
            Issue.record("not accepted")
            return
        }
        #expect(head.authority == "h:1")
        #expect(head.metadata.isEmpty)
    }

    @Test(arguments: [
        "application/grpc", "application/grpc+proto", "application/grpc;charset=utf-8",
        "Application/GRPC+json",
    ])
    func acceptsGRPCContentTypes(contentType: String) {
        var machine = ServerStreamStateMachine(configuration: .init())
        guard case .accept = machine.receivedHeaders(requestHeaders(contentType: contentType), endStream: false) else {
            Issue.record("\(contentType) was not accepted")
            return
        }
    }

    @Test(arguments: [String?.none, "application/json", "text/plain", "application/grpcx", "application/grp"])
    func rejectsOtherContentTypesWith415(contentType: String?) {
        var machine = ServerStreamStateMachine(configuration: .init())
        let action = machine.receivedHeaders(requestHeaders(contentType: contentType), endStream: true)
        guard case .rejectHTTP(let status, let message) = action else {
            Issue.record("expected an HTTP rejection, got \(action)")
            return
        }
        #expect(status == 415)
        #expect(message.contains("content-type"))
        #expect(machine.isClosed)
        #expect(!machine.isRequestOpen)
        let headers = action.responseHeaders.map(pairs) ?? []
        #expect(headers.first == ":status: 415")
        #expect(headers.contains("grpc-status: 13"))
    }

    @Test func rejectsNonPostWith405() {
        var machine = ServerStreamStateMachine(configuration: .init())
        guard case .rejectHTTP(405, _) = machine.receivedHeaders(requestHeaders(method: "GET"), endStream: true) else {
            Issue.record("GET was not rejected with 405")
            return
        }
    }

    @Test(arguments: ["", "/", "//", "/svc", "/svc/", "//m", "svc/m", "/a/b/c"])
    func rejectsMalformedPathsAsUnimplemented(path: String) {
        var machine = ServerStreamStateMachine(configuration: .init())
        guard
            case .rejectTrailersOnly(let status, _) = machine.receivedHeaders(
                requestHeaders(path: path),
                endStream: false
            )
        else {
            Issue.record("path '\(path)' was not rejected")
            return
        }
        #expect(status.code == .unimplemented)
        #expect(machine.isRequestOpen)
    }

    @Test(arguments: ["1", "S", "123456789S", "1s", "abc"])
    func rejectsMalformedTimeoutAsInternal(timeout: String) {
        var machine = ServerStreamStateMachine(configuration: .init())
        let action = machine.receivedHeaders(requestHeaders(extra: [("grpc-timeout", timeout)]), endStream: false)
        guard case .rejectTrailersOnly(let status, _) = action else {
            Issue.record("timeout '\(timeout)' was not rejected")
            return
        }
        #expect(status.code == .internal)
        #expect(status.message.contains("grpc-timeout"))
    }

    @Test(arguments: ["snappy", "deflate", "br"])
    func rejectsUnknownEncodingAsUnimplementedListingSupported(encoding: String) {
        var machine = ServerStreamStateMachine(configuration: .init())
        let action = machine.receivedHeaders(requestHeaders(extra: [("grpc-encoding", encoding)]), endStream: false)
        guard case .rejectTrailersOnly(let status, let extra) = action else {
            Issue.record("encoding \(encoding) was not rejected")
            return
        }
        #expect(status.code == .unimplemented)
        #expect(pairs(extra) == ["grpc-accept-encoding: identity,gzip"])
        let block = pairs(action.responseHeaders ?? [])
        #expect(Array(block.prefix(3)) == [":status: 200", "content-type: application/grpc", "grpc-status: 12"])
        #expect(block.contains("grpc-accept-encoding: identity,gzip"))
        #expect(machine.isClosed)
    }

    @Test func rejectsGzipWhenTheServerDoesNotSupportIt() {
        var machine = ServerStreamStateMachine(configuration: .init(supportedCompression: [.identity]))
        let action = machine.receivedHeaders(requestHeaders(extra: [("grpc-encoding", "gzip")]), endStream: false)
        guard case .rejectTrailersOnly(let status, let extra) = action else {
            Issue.record("gzip was not rejected")
            return
        }
        #expect(status.code == .unimplemented)
        #expect(pairs(extra) == ["grpc-accept-encoding: identity"])
    }

    @Test func rejectsMalformedBinaryMetadataAsInternal() {
        var machine = ServerStreamStateMachine(configuration: .init())
        let action = machine.receivedHeaders(requestHeaders(extra: [("x-trace-bin", "not base64!")]), endStream: false)
        guard case .rejectTrailersOnly(let status, _) = action else {
            Issue.record("malformed -bin value was not rejected")
            return
        }
        #expect(status.code == .internal)
        #expect(status.message.contains("x-trace-bin"))
    }

    @Test func dropsReservedAndInvalidHeadersFromMetadata() throws {
        let (_, head) = try acceptedMachine(extra: [
            ("grpc-trace-bin", "AQID"), ("grpc-status-details-bin", "AQID"), ("x-bad-value", "tab\there"),
            ("x-empty", ""), ("X-Upper", "v"), ("connection", "close"), ("x-ok", "fine"),
        ])
        #expect(head.metadata == Metadata([("grpc-status-details-bin", "AQID"), ("x-empty", ""), ("x-ok", "fine")]))
    }

    @Test func choosesGzipResponsesOnlyWhenConfiguredAndAccepted() throws {
        let gzip = ServerStreamStateMachine.Configuration(responseCompression: .gzip)
        #expect(
            try acceptedMachine(configuration: gzip, extra: [("grpc-accept-encoding", "gzip")]).1
                .responseEncoding == .gzip
        )
        #expect(
            try acceptedMachine(configuration: gzip, extra: [("grpc-accept-encoding", "identity")]).1
                .responseEncoding == .identity
        )
        #expect(try acceptedMachine(configuration: gzip).1.responseEncoding == .identity)
        #expect(try acceptedMachine(extra: [("grpc-accept-encoding", "gzip")]).1.responseEncoding == .identity)
        let unsupported = ServerStreamStateMachine.Configuration(
            supportedCompression: [.identity],
            responseCompression: .gzip
        )
        #expect(
            try acceptedMachine(configuration: unsupported, extra: [("grpc-accept-encoding", "gzip")]).1
                .responseEncoding == .identity
        )
    }

    @Test func aSecondHeadersBlockFailsTheCall() throws {
        var (machine, _) = try acceptedMachine()
        guard case .fail(let status) = machine.receivedHeaders([("x-trailer", "1")], endStream: true) else {
            Issue.record("request trailers did not fail the call")
            return
        }
        #expect(status.code == .internal)
        #expect(!machine.isRequestOpen)
        #expect(messages(machine.receivedData([1, 2, 3], endStream: false))?.0 == [])
        guard case .trailersOnly = machine.sendStatus(status, trailers: Metadata()) else {
            Issue.record("no trailers-only response")
            return
        }
    }
}

@Suite struct ServerStreamRequestDataTests {
    @Test func deliversMessagesAsTheyComplete() throws {
        var (machine, _) = try acceptedMachine()
        let stream = MessageFraming.frame([1, 2]) + MessageFraming.frame([]) + MessageFraming.frame([3])
        let first = try #require(messages(machine.receivedData(Array(stream.prefix(9)), endStream: false)))
        #expect(first.0 == [[1, 2]])
        #expect(first.1 == false)
        let second = try #require(messages(machine.receivedData(Array(stream.dropFirst(9)), endStream: true)))
        #expect(second.0 == [[], [3]])
        #expect(second.1 == true)
        #expect(!machine.isRequestOpen)
    }

    @Test func emptyEndStreamFrameEndsInput() throws {
        var (machine, _) = try acceptedMachine()
        _ = machine.receivedData(MessageFraming.frame([9]), endStream: false)
        let end = try #require(messages(machine.receivedData([], endStream: true)))
        #expect(end.0.isEmpty)
        #expect(end.1)
    }

    @Test func decompressesGzipMessages() throws {
        var (machine, _) = try acceptedMachine(extra: [("grpc-encoding", "gzip")])
        let original = [UInt8](repeating: 42, count: 10_000)
        let framed = MessageFraming.frame(Gzip.compress(original), compressed: true) + MessageFraming.frame([7])
        let result = try #require(messages(machine.receivedData(framed, endStream: true)))
        #expect(result.0 == [original, [7]])
    }

    @Test func truncatedBodyAtEndStreamIsInternal() throws {
        var (machine, _) = try acceptedMachine()
        let framed = MessageFraming.frame([1, 2, 3, 4])
        let status = try #require(failure(machine.receivedData(Array(framed.prefix(7)), endStream: true)))
        #expect(status.code == .internal)
        #expect(status.message.contains("ended inside a message"))
    }

    @Test func truncatedPrefixAtEndStreamIsInternal() throws {
        var (machine, _) = try acceptedMachine()
        let status = try #require(failure(machine.receivedData([0, 0], endStream: true)))
        #expect(status.code == .internal)
    }

    @Test func tooLargeMessageIsResourceExhaustedFromThePrefix() throws {
        var (machine, _) = try acceptedMachine(configuration: .init(maxReceiveMessageSize: 16))
        let status = try #require(failure(machine.receivedData([0, 0, 0, 0, 17], endStream: false)))
        #expect(status.code == .resourceExhausted)
        // Later data for the abandoned request is ignored rather than failing again.
        #expect(messages(machine.receivedData([0, 0, 0, 0, 0], endStream: true))?.0 == [])
    }

    @Test func tooLargeAfterDecompressionIsResourceExhausted() throws {
        var (machine, _) = try acceptedMachine(
            configuration: .init(maxReceiveMessageSize: 1_000),
            extra: [("grpc-encoding", "gzip")]
        )
        let bomb = Gzip.compress([UInt8](repeating: 0, count: 100_000))
        #expect(bomb.count < 1_000)
        let status = try #require(
            failure(
                machine.receivedData(
                    MessageFraming.frame(bomb, compressed: true),
                    endStream: true
                )
            )
        )
        #expect(status.code == .resourceExhausted)
    }

    @Test func compressedFlagWithoutEncodingIsInternal() throws {
        var (machine, _) = try acceptedMachine()
        let framed = MessageFraming.frame(Gzip.compress([1, 2, 3]), compressed: true)
        let status = try #require(failure(machine.receivedData(framed, endStream: true)))
        #expect(status.code == .internal)
        #expect(status.message.contains("grpc-encoding"))
    }

    @Test func compressedFlagWithIdentityEncodingIsInternal() throws {
        var (machine, _) = try acceptedMachine(extra: [("grpc-encoding", "identity")])
        let status = try #require(
            failure(
                machine.receivedData(
                    MessageFraming.frame([1], compressed: true),
                    endStream: true
                )
            )
        )
        #expect(status.code == .internal)
    }

    @Test func uncompressedMessagesAreAllowedUnderGzip() throws {
        var (machine, _) = try acceptedMachine(extra: [("grpc-encoding", "gzip")])
        #expect(messages(machine.receivedData(MessageFraming.frame([5, 6]), endStream: true))?.0 == [[5, 6]])
    }

    @Test func corruptGzipIsInternal() throws {
        var (machine, _) = try acceptedMachine(extra: [("grpc-encoding", "gzip")])
        let status = try #require(
            failure(
                machine.receivedData(
                    MessageFraming.frame([1, 2, 3], compressed: true),
                    endStream: true
                )
            )
        )
        #expect(status.code == .internal)
    }

    @Test func invalidFlagByteIsInternal() throws {
        var (machine, _) = try acceptedMachine()
        let status = try #require(failure(machine.receivedData([2, 0, 0, 0, 0], endStream: false)))
        #expect(status.code == .internal)
    }

    @Test func dataBeforeHeadersFails() {
        var machine = ServerStreamStateMachine(configuration: .init())
        #expect(failure(machine.receivedData([0, 0, 0, 0, 0], endStream: false))?.code == .internal)
    }

    @Test func dataAfterEndStreamFails() throws {
        var (machine, _) = try acceptedMachine()
        _ = machine.receivedData([], endStream: true)
        #expect(failure(machine.receivedData(MessageFraming.frame([1]), endStream: false))?.code == .internal)
    }

    @Test func headersWithEndStreamCloseTheRequestSide() throws {
        var machine = ServerStreamStateMachine(configuration: .init())
        guard case .accept = machine.receivedHeaders(requestHeaders(), endStream: true) else {
            Issue.record("not accepted")
            return
        }
        #expect(!machine.isRequestOpen)
        // Re-signalling the end with an empty buffer is answered with an empty, ended input, repeatedly.
        for _ in 0..<2 {
            let end = try #require(messages(machine.receivedData([], endStream: true)))
            #expect(end.0.isEmpty)
            #expect(end.1)
        }
        #expect(failure(machine.receivedData([0], endStream: true))?.code == .internal)
    }
}

@Suite struct ServerStreamResponseTests {
    @Test func fullResponseIsHeadersMessagesThenTrailers() throws {
        var (machine, _) = try acceptedMachine()
        _ = machine.receivedData(MessageFraming.frame([1]), endStream: true)
        let firstSend = machine.sendHeaders()
        #expect(firstSend)
        let secondSend = machine.sendHeaders()
        #expect(!secondSend)
        #expect(machine.headersSent)
        var metadata = Metadata([("x-served-by", "node-1")])
        metadata.append("content-type", "text/html")
        #expect(
            pairs(machine.responseHeaders(metadata: metadata)) == [
                ":status: 200", "content-type: application/grpc", "grpc-accept-encoding: identity,gzip",
                "x-served-by: node-1",
            ]
        )
        let plain = machine.sendMessage([9, 8], compress: false)
        #expect(plain == MessageFraming.frame([9, 8]))
        // Compression was not negotiated, so the request to compress is ignored.
        let uncompressed = machine.sendMessage([7], compress: true)
        #expect(uncompressed == MessageFraming.frame([7]))

        var trailers = Metadata([("x-cost", "3")])
        trailers.append("grpc-status", "0")
        trailers.appendBinary("grpc-status-details-bin", [1])
        guard case .trailers(let block) = machine.sendStatus(GRPCStatus(.notFound, "no 100% match"), trailers: trailers)
        else {
            Issue.record("expected trailers")
            return
        }
        #expect(
            pairs(block) == [
                "grpc-status: 5", "grpc-message: no 100%25 match", "x-cost: 3", "grpc-status-details-bin: AQ",
            ]
        )
        #expect(machine.isClosed)
        #expect(!machine.isCancelled)
        #expect(!machine.isRequestOpen)
    }

    @Test func statusWithoutHeadersIsTrailersOnly() throws {
        var (machine, _) = try acceptedMachine()
        let action = machine.sendStatus(
            GRPCStatus(.invalidArgument, "bad\nrequest"),
            trailers: Metadata([("x-a", "1")])
        )
        guard case .trailersOnly(let headers) = action else {
            Issue.record("expected trailers-only, got \(action)")
            return
        }
        #expect(
            pairs(headers) == [
                ":status: 200", "content-type: application/grpc", "grpc-status: 3", "grpc-message: bad%0Arequest",
                "x-a: 1",
            ]
        )
        // The client never sent END_STREAM, so the caller must reset the stream after the status.
        #expect(machine.isRequestOpen)
    }

    @Test func okStatusHasNoMessage() throws {
        var (machine, _) = try acceptedMachine()
        _ = machine.sendHeaders()
        guard case .trailers(let block) = machine.sendStatus(.ok, trailers: Metadata()) else {
            Issue.record("expected trailers")
            return
        }
        #expect(pairs(block) == ["grpc-status: 0"])
    }

    @Test func responseContentTypeEchoesTheRequestSubtype() {
        var machine = ServerStreamStateMachine(configuration: .init())
        _ = machine.receivedHeaders(requestHeaders(contentType: "application/grpc+proto; charset=x"), endStream: true)
        guard case .trailersOnly(let headers) = machine.sendStatus(.ok, trailers: Metadata()) else {
            Issue.record("expected trailers-only")
            return
        }
        #expect(pairs(headers).contains("content-type: application/grpc+proto"))
    }

    @Test func gzipResponsesAreAnnouncedAndCompressedWhenAsked() throws {
        var (machine, _) = try acceptedMachine(
            configuration: .init(responseCompression: .gzip),
            extra: [("grpc-accept-encoding", "gzip")]
        )
        let headersResult = machine.sendHeaders(metadata: Metadata())
        let headers = try #require(headersResult)
        #expect(pairs(headers).contains("grpc-encoding: gzip"))
        let original = [UInt8](repeating: 3, count: 5_000)
        let framedResult = machine.sendMessage(original, compress: true)
        let framed = try #require(framedResult)
        #expect(framed[0] == 1)
        var deframer = MessageDeframer(maxMessageSize: 10_000)
        deframer.append(framed)
        let messageResult = try deframer.next()
        let message = try #require(messageResult)
        #expect(try Gzip.decompress(message.bytes, limit: 10_000) == original)
        // A message the caller does not want compressed goes out flagged 0 even under gzip.
        let flaggedZero = machine.sendMessage([1], compress: false)
        #expect(flaggedZero == MessageFraming.frame([1]))
        let secondHeaders = machine.sendHeaders(metadata: Metadata())
        #expect(secondHeaders == nil)
    }

    @Test func sendingAfterTheStatusIsRefused() throws {
        var (machine, _) = try acceptedMachine()
        _ = machine.sendHeaders()
        _ = machine.sendStatus(.ok, trailers: Metadata())
        let afterStatus = machine.sendMessage([1], compress: false)
        #expect(afterStatus == nil)
        let headersAccepted = machine.sendHeaders()
        #expect(!headersAccepted)
        guard case .alreadyClosed = machine.sendStatus(GRPCStatus(.internal), trailers: Metadata()) else {
            Issue.record("a second status was not refused")
            return
        }
        machine.streamClosed()
        #expect(!machine.isCancelled)
        #expect(machine.isClosed)
    }

    @Test func resetBeforeTheStatusCancelsTheCall() throws {
        var (machine, _) = try acceptedMachine()
        _ = machine.sendHeaders()
        let beforeReset = machine.sendMessage([1], compress: false)
        #expect(beforeReset != nil)
        machine.streamClosed()
        #expect(machine.isCancelled)
        #expect(machine.isClosed)
        #expect(!machine.isRequestOpen)
        let afterReset = machine.sendMessage([2], compress: false)
        #expect(afterReset == nil)
        guard case .alreadyClosed = machine.sendStatus(.ok, trailers: Metadata()) else {
            Issue.record("status after a reset was not refused")
            return
        }
        #expect(messages(machine.receivedData(MessageFraming.frame([1]), endStream: false))?.0 == [])
    }

    @Test func resetBeforeHeadersCancels() {
        var machine = ServerStreamStateMachine(configuration: .init())
        machine.streamClosed()
        #expect(machine.isCancelled)
        let headersAccepted = machine.sendHeaders()
        #expect(!headersAccepted)
    }

    @Test func rejectedStreamsSendNothingMore() {
        var machine = ServerStreamStateMachine(configuration: .init())
        _ = machine.receivedHeaders(requestHeaders(contentType: "text/plain"), endStream: false)
        #expect(machine.isRequestOpen)
        #expect(messages(machine.receivedData([1, 2], endStream: true))?.0 == [])
        #expect(!machine.isRequestOpen)
        let headersAccepted = machine.sendHeaders()
        #expect(!headersAccepted)
        let afterRejection = machine.sendMessage([1], compress: false)
        #expect(afterRejection == nil)
        guard case .alreadyClosed = machine.sendStatus(.ok, trailers: Metadata()) else {
            Issue.record("status after a rejection was not refused")
            return
        }
        machine.streamClosed()
        #expect(!machine.isCancelled)
    }

    @Test func failedRequestStillGetsItsStatus() throws {
        var (machine, _) = try acceptedMachine(configuration: .init(maxReceiveMessageSize: 1))
        let status = try #require(failure(machine.receivedData(MessageFraming.frame([1, 2]), endStream: false)))
        guard case .trailersOnly(let headers) = machine.sendStatus(status, trailers: Metadata()) else {
            Issue.record("expected trailers-only")
            return
        }
        #expect(pairs(headers).contains("grpc-status: 8"))
        #expect(machine.isRequestOpen)
    }
}

@Suite struct ResponseHeadersTests {
    @Test func httpRejectionCarriesStatusAndReason() {
        #expect(
            pairs(ResponseHeaders.httpRejection(status: 415, message: "bad type é")) == [
                ":status: 415", "content-type: text/plain; charset=utf-8", "grpc-status: 13",
                "grpc-message: bad type %C3%A9",
            ]
        )
    }

    @Test func plainCallsGetTheSameBlocksAsTheGeneralPath() {
        // The shared blocks for a call with no metadata, no compression and an OK status.
        #expect(
            pairs(ResponseHeaders.initial()) == [
                ":status: 200", "content-type: application/grpc", "grpc-accept-encoding: identity,gzip",
            ]
        )
        #expect(pairs(ResponseHeaders.trailers(status: .ok)) == ["grpc-status: 0"])
        // Anything else still goes through the general path.
        #expect(
            pairs(ResponseHeaders.initial(contentType: "application/grpc+proto")) == [
                ":status: 200", "content-type: application/grpc+proto", "grpc-accept-encoding: identity,gzip",
            ]
        )
        #expect(
            pairs(ResponseHeaders.initial(acceptEncoding: "identity")) == [
                ":status: 200", "content-type: application/grpc", "grpc-accept-encoding: identity",
            ]
        )
        #expect(
            pairs(ResponseHeaders.trailers(status: GRPCStatus(.ok, "fine"))) == [
                "grpc-status: 0", "grpc-message: fine",
            ]
        )
        #expect(
            pairs(ResponseHeaders.trailers(status: .ok, metadata: Metadata([("x-t", "1")]))) == [
                "grpc-status: 0", "x-t: 1",
            ]
        )
    }

    @Test(arguments: [
        (":scheme", true), ("te", true), (":schema", false), ("tx", false), ("t", false), ("x-te", false),
        (":method", false), ("", false),
    ])
    func onlySchemeAndTEAreDroppedOnArrival(name: String, ignored: Bool) {
        let bytes = Array(name.utf8)
        #expect(bytes.withUnsafeBufferPointer { ServerStream.isIgnoredField($0) } == ignored)
    }

    @Test func headerBlockPacksEveryNameAndValue() {
        let long = String(repeating: "v", count: 300)
        let pairs: [(String, String)] = [(":status", "200"), ("x-long", long), ("x-e", ""), ("x-utf8", "é")]
        let decoded = HeaderBlock.withNameValues(pairs) { nva, count in
            (0..<count).map { index in
                let nv = nva[index]
                let name = String(decoding: UnsafeBufferPointer(start: nv.name, count: nv.namelen), as: UTF8.self)
                let value = String(decoding: UnsafeBufferPointer(start: nv.value, count: nv.valuelen), as: UTF8.self)
                return "\(name): \(value)"
            }
        }
        #expect(decoded == [":status: 200", "x-long: \(long)", "x-e: ", "x-utf8: é"])
    }

    @Test func initialHeadersLeaveReservedMetadataOut() {
        let metadata = Metadata([(":status", "500"), ("grpc-status", "1"), ("te", "x"), ("x-ok", "1")])
        #expect(
            pairs(ResponseHeaders.initial(encoding: .gzip, metadata: metadata)) == [
                ":status: 200", "content-type: application/grpc", "grpc-encoding: gzip",
                "grpc-accept-encoding: identity,gzip", "x-ok: 1",
            ]
        )
    }
}
