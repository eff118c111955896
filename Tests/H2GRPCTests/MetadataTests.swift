import Testing

@testable import H2GRPC

@Suite struct MetadataTests {
    @Test func keepsOrderAndRepeatedNames() {
        var metadata = Metadata()
        metadata.append("X-Trace", "a")
        metadata.append("x-user", "u1")
        metadata.append("x-trace", "b")
        #expect(metadata.count == 3)
        #expect(metadata.first("x-trace") == "a")
        #expect(metadata.values("X-TRACE") == ["a", "b"])
        #expect(metadata.map { "\($0.name)=\($0.value)" } == ["x-trace=a", "x-user=u1", "x-trace=b"])
        #expect(metadata.first("missing") == nil)
        #expect(metadata.values("missing") == [])
    }

    @Test func initLowercasesNamesAndCompareByContent() {
        let metadata = Metadata([("A", "1"), ("b", "2")])
        #expect(metadata == Metadata([("a", "1"), ("B", "2")]))
        #expect(metadata != Metadata([("b", "2"), ("a", "1")]))
        #expect(Metadata().isEmpty)
    }

    @Test func removeAllDropsEveryValueOfAName() {
        var metadata = Metadata([("a", "1"), ("b", "2"), ("a", "3")])
        metadata.removeAll("A")
        #expect(metadata == Metadata([("b", "2")]))
    }

    @Test func binaryValuesAreStoredAsUnpaddedBase64AndDecoded() {
        var metadata = Metadata()
        metadata.appendBinary("Trace-Bin", [0xDE, 0xAD, 0xBE, 0xEF])
        metadata.appendBinary("trace-bin", [])
        #expect(metadata.values("trace-bin") == ["3q2+7w", ""])
        #expect(metadata.binaryValues("trace-bin") == [[0xDE, 0xAD, 0xBE, 0xEF], []])
    }

    @Test func binaryValuesSplitCommaJoinedValuesAndSkipInvalidPieces() {
        let metadata = Metadata([("k-bin", "AQI=, AwQ"), ("k-bin", "!!!,BQ==")])
        #expect(metadata.binaryValues("k-bin") == [[1, 2], [3, 4], [5]])
    }

    @Test(arguments: [
        ":path", ":authority", "content-type", "te", "user-agent", "host", "connection", "keep-alive",
        "proxy-connection", "transfer-encoding", "upgrade", "grpc-timeout", "grpc-encoding", "grpc-accept-encoding",
        "grpc-status", "grpc-message", "grpc-message-type", "grpc-future-thing", "GRPC-STATUS", "Content-Type",
    ])
    func reservedNamesAreReserved(name: String) {
        #expect(Metadata.isReserved(name))
    }

    @Test(arguments: ["authorization", "x-request-id", "grpc-status-details-bin", "trace-proto-bin", "grpcx", "tee"])
    func customNamesAreNotReserved(name: String) {
        #expect(!Metadata.isReserved(name))
    }

    @Test func lookupsMatchNamesWhateverTheirCase() {
        let metadata = Metadata([("x-request-criticality", "critical"), ("Ünïcode", "1")])
        #expect(metadata.first("X-Request-Criticality") == "critical")
        #expect(metadata.first("x-request-criticality") == "critical")
        #expect(metadata.first("ÜNÏCODE") == "1")
        #expect(Metadata.lowercasedName("already-lower") == "already-lower")
        #expect(Metadata.lowercasedName("Mixed-Case") == "mixed-case")
        #expect(Metadata.lowercasedName("ÉTÉ") == "été")
    }

    @Test func namesFollowTheSpecGrammar() {
        #expect(Metadata.isValidName("x-request_id.v2"))
        #expect(Metadata.isValidName("0"))
        #expect(!Metadata.isValidName(""))
        #expect(!Metadata.isValidName("X-Upper"))
        #expect(!Metadata.isValidName("has space"))
        #expect(!Metadata.isValidName("colon:"))
        #expect(!Metadata.isValidName("é"))
    }

    @Test func asciiValuesFollowTheSpecGrammar() {
        #expect(Metadata.isValidASCIIValue("Bearer abc.DEF ~!"))
        #expect(!Metadata.isValidASCIIValue(""))
        #expect(!Metadata.isValidASCIIValue("tab\there"))
        #expect(!Metadata.isValidASCIIValue("new\nline"))
        #expect(!Metadata.isValidASCIIValue("del\u{7F}"))
        #expect(!Metadata.isValidASCIIValue("héllo"))
    }
}
