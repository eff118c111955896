import Testing

@testable import H2GRPC

@Suite struct PercentEncodingTests {
    @Test func printableASCIIPassesThroughUnchanged() {
        // From "!" on: a space at the start would be escaped (see edgeSpacesAreEscaped).
        let printable = String(decoding: (0x21...0x7E).filter { $0 != 0x25 }.map { UInt8($0) }, as: UTF8.self) + " x"
        #expect(PercentEncoding.encode(printable) == printable)
        #expect(PercentEncoding.decode(printable) == printable)
    }

    @Test func percentSignIsEscaped() {
        #expect(PercentEncoding.encode("100% done") == "100%25 done")
        #expect(PercentEncoding.decode("100%25 done") == "100% done")
    }

    @Test func unicodeIsEscapedAsUTF8Bytes() {
        #expect(PercentEncoding.encode("héllo") == "h%C3%A9llo")
        #expect(PercentEncoding.encode("日本") == "%E6%97%A5%E6%9C%AC")
        #expect(PercentEncoding.encode("🙂") == "%F0%9F%99%82")
        #expect(PercentEncoding.decode("%F0%9F%99%82 ok") == "🙂 ok")
    }

    @Test func controlCharactersAndDeleteAreEscaped() {
        #expect(PercentEncoding.encode("a\nb\tc\r\u{0}") == "a%0Ab%09c%0D%00")
        #expect(PercentEncoding.encode("\u{7F}") == "%7F")
    }

    @Test func decodesLowercaseHexToo() {
        #expect(PercentEncoding.decode("h%c3%a9llo") == "héllo")
    }

    @Test(arguments: [
        ("%", "%"), ("%4", "%4"), ("abc%", "abc%"), ("%zz", "%zz"), ("%G1x", "%G1x"), ("50%-ok", "50%-ok"),
        ("%%41", "%A"), ("%4%41", "%4A"),
    ])
    func keepsInvalidSequencesLiterally(encoded: String, decoded: String) {
        #expect(PercentEncoding.decode(encoded) == decoded)
    }

    @Test func invalidUTF8AfterDecodingBecomesReplacementCharacters() {
        #expect(PercentEncoding.decode("a%FFb") == "a\u{FFFD}b")
        #expect(PercentEncoding.decode("%C3") == "\u{FFFD}")
    }

    @Test(arguments: ["", "plain", "tab\there", "50% of 日本 🙂\n", "%41 literal", String(repeating: "é%", count: 100)])
    func roundTrips(message: String) {
        let encoded = PercentEncoding.encode(message)
        #expect(encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E })
        #expect(PercentEncoding.decode(encoded) == message)
    }

    @Test("a space at either end is escaped, since HTTP/2 forbids a header value that starts or ends with one")
    func edgeSpacesAreEscaped() {
        #expect(PercentEncoding.encode("x ") == "x%20")
        #expect(PercentEncoding.encode(" x") == "%20x")
        #expect(PercentEncoding.encode(" ") == "%20")
        #expect(PercentEncoding.encode("a b") == "a b")
        for message in ["got ", " leading", "  both  ", " "] {
            #expect(PercentEncoding.decode(PercentEncoding.encode(message)) == message)
        }
    }
}
