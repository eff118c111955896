import Testing

@testable import H2GRPC

@Suite struct Base64Tests {
    /// RFC 4648 §10 test vectors.
    static let vectors: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ]

    @Test func encodesTheRFCVectorsPadded() {
        for (plain, encoded) in Self.vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
        }
    }

    @Test func encodesUnpaddedWithoutEqualsSigns() {
        for (plain, encoded) in Self.vectors {
            let unpadded = String(encoded.filter { $0 != "=" })
            #expect(Base64.encode(Array(plain.utf8), padded: false) == unpadded)
        }
    }

    @Test func decodesPaddedAndUnpadded() {
        for (plain, encoded) in Self.vectors {
            #expect(Base64.decode(encoded) == Array(plain.utf8))
            #expect(Base64.decode(String(encoded.filter { $0 != "=" })) == Array(plain.utf8))
        }
    }

    @Test func roundTripsEveryByteValueAndAllTailLengths() {
        let all = (0...255).map { UInt8($0) }
        for length in 0...all.count {
            let bytes = Array(all.prefix(length))
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
            #expect(Base64.decode(Base64.encode(bytes, padded: false)) == bytes)
        }
    }

    @Test(arguments: [
        "Zm9v!", "Zm 9v", "Zm9v\n", "Z", "Zm9vY", "Zg=", "Zg===", "Zm8==", "Z===", "=", "==", "====", "Zg==Zg==",
        "Zm=v", "Zm9v-_", "é",
    ])
    func rejectsGarbage(text: String) {
        #expect(Base64.decode(text) == nil)
    }
}
