import Testing

@testable import H2GRPC

@Suite struct GzipTests {
    static func pseudoRandomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
    }

    @Test(arguments: [0, 1, 17, 1_000, 65_536, 300_000])
    func roundTrips(size: Int) throws {
        let original = Self.pseudoRandomBytes(size, seed: UInt64(size))
        let compressed = Gzip.compress(original)
        #expect(try Gzip.decompress(compressed, limit: size) == original)
    }

    @Test func producesAGzipStream() {
        let compressed = Gzip.compress(Array("hello".utf8))
        // RFC 1952 magic bytes and the deflate method.
        #expect(Array(compressed.prefix(3)) == [0x1F, 0x8B, 0x08])
    }

    @Test func shrinksRepetitiveInput() throws {
        let original = [UInt8](repeating: 0x41, count: 100_000)
        let compressed = Gzip.compress(original)
        #expect(compressed.count < 1_000)
        #expect(try Gzip.decompress(compressed, limit: 100_000) == original)
    }

    @Test func rejectsABombAsSoonAsTheOutputPassesTheLimit() {
        // 10 MB of zeros compress to about 10 KB.
        let bomb = Gzip.compress([UInt8](repeating: 0, count: 10_000_000))
        #expect(bomb.count < 20_000)
        #expect {
            try Gzip.decompress(bomb, limit: 1_000_000)
        } throws: { error in
            guard case Gzip.Error.tooLarge(let limit) = error else { return false }
            return limit == 1_000_000
        }
    }

    @Test func outputOfExactlyTheLimitIsAccepted() throws {
        let original = Self.pseudoRandomBytes(5_000, seed: 1)
        #expect(try Gzip.decompress(Gzip.compress(original), limit: 5_000) == original)
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(Gzip.compress(original), limit: 4_999) }
    }

    @Test func zeroLimitAcceptsOnlyEmptyOutput() throws {
        #expect(try Gzip.decompress(Gzip.compress([]), limit: 0) == [])
        #expect(throws: Gzip.Error.self) { try Gzip.decompress(Gzip.compress([1]), limit: 0) }
    }

    static func isCorrupt(_ error: any Error) -> Bool {
        if case Gzip.Error.corrupt = error { return true }
        return false
    }

    @Test func rejectsNonGzipInput() {
        #expect { try Gzip.decompress(Array("definitely not gzip".utf8), limit: 1_000) } throws: { Self.isCorrupt($0) }
        #expect { try Gzip.decompress([], limit: 1_000) } throws: { Self.isCorrupt($0) }
    }

    @Test func rejectsATruncatedStream() {
        let compressed = Gzip.compress(Self.pseudoRandomBytes(2_000, seed: 2))
        for cut in [1, 10, compressed.count / 2, compressed.count - 1] {
            #expect { try Gzip.decompress(Array(compressed.prefix(cut)), limit: 10_000) } throws: { Self.isCorrupt($0) }
        }
    }

    @Test func rejectsABadChecksum() {
        var compressed = Gzip.compress(Array("checksummed payload".utf8))
        // The CRC32 sits in the 8-byte trailer.
        compressed[compressed.count - 8] ^= 0xFF
        #expect { try Gzip.decompress(compressed, limit: 1_000) } throws: { Self.isCorrupt($0) }
    }

    @Test func rejectsBytesAfterTheStream() {
        let compressed = Gzip.compress(Array("payload".utf8)) + [0x00, 0x01]
        #expect { try Gzip.decompress(compressed, limit: 1_000) } throws: { Self.isCorrupt($0) }
    }

    @Test func errorDescriptionsExplainTheFailure() {
        #expect(Gzip.Error.tooLarge(limit: 42).description.contains("42"))
        #expect(Gzip.Error.corrupt("bad header").description.contains("bad header"))
    }
}

@Suite struct MessageCompressionTests {
    @Test(arguments: [
        ("gzip", MessageCompression?.some(.gzip)), ("identity", .identity), ("GZIP", .gzip), (" gzip ", .gzip),
        ("deflate", nil), ("snappy", nil), ("", nil), ("gzip,identity", nil),
    ])
    func parsesGrpcEncoding(value: String, expected: MessageCompression?) {
        #expect(MessageCompression(headerValue: value) == expected)
    }

    @Test func advertisesIdentityAndGzip() {
        #expect(MessageCompression.acceptEncodingHeader == "identity,gzip")
        #expect(MessageCompression.acceptEncodingHeader(for: [.identity]) == "identity")
        #expect(MessageCompression.acceptEncodingHeader(for: [.gzip, .gzip]) == "identity,gzip")
    }

    @Test func parsesAcceptEncodingListsKeepingOnlySupported() {
        #expect(MessageCompression.parseAcceptEncoding("deflate, gzip ,snappy,identity,gzip") == [.gzip, .identity])
        #expect(MessageCompression.parseAcceptEncoding("") == [])
        // Case is ignored (ASCII only), spaces and tabs around a token are trimmed, empty tokens are skipped.
        #expect(MessageCompression.parseAcceptEncoding("\tGZip\t,,IDENTITY ,") == [.gzip, .identity])
        #expect(MessageCompression.parseAcceptEncoding("identity,deflate,gzip") == [.identity, .gzip])
        // Near misses name nothing: a dotless ı, a space inside, a longer name, a prefix.
        #expect(MessageCompression.parseAcceptEncoding("gz\u{131}p,g zip,gzips,gzi,x-gzip") == [])
        #expect(MessageCompression.parseAcceptEncoding(" , ,") == [])
    }
}
