// libFuzzer target: H2GRPC's parsers of peer-supplied header values, each checked against an independent reading of
// its specification or a round trip, not just for crashes.
//
// Input layout (see docs/testing.md, "Fuzzing"): byte 0 picks the parser (mod 8), the rest is its input.
//   0  GRPCTimeout.parseNanoseconds against the grammar (1-8 digits, one of H M S m u n), then encode/parse
//   1  GRPCTimeout.encode of a big-endian Int64: parses back, never shorter, at most 1e-5 longer
//   2  PercentEncoding: decode against a reference, encode output printable, decode(encode(s)) == s
//   3  Base64.decode against the padding/length/alphabet rules, and re-encoding what it returned
//   4  Base64.encode then decode of arbitrary bytes, padded and unpadded
//   5  grpc-encoding / grpc-accept-encoding parsing, and GRPCStatus.code(fromHeaderValue:)
//   6  request header validation (ServerStreamStateMachine.receivedHeaders) of `name=value` lines: whatever it
//      answers, every header it would write is printable ASCII, and what it accepts follows the rules
//   7  Metadata: name/value grammar and binaryValues
import H2GRPC

/// An invariant of the code under test; unlike `precondition`, the message survives -O, so the crash report says
/// which one broke.
private func check(_ condition: Bool, _ message: @autoclosure () -> String = "invariant violated") {
    if !condition { fail(message()) }
}

private func fail(_ message: String) -> Never {
    fatalError("fuzz invariant: \(message)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    let text = String(decoding: bytes, as: UTF8.self)
    switch data[0] % 8 {
    case 0: checkTimeoutParse(text)
    case 1: checkTimeoutEncode(bytes)
    case 2: checkPercentEncoding(text)
    case 3: checkBase64Decode(text)
    case 4: checkBase64RoundTrip(bytes)
    case 5: checkEncodingHeaders(text)
    case 6: checkRequestHeaders(bytes)
    default: checkMetadata(bytes)
    }
    return 0
}

// MARK: grpc-timeout

private let timeoutUnits: [UInt8: Int64] = [
    UInt8(ascii: "H"): 3_600_000_000_000, UInt8(ascii: "M"): 60_000_000_000, UInt8(ascii: "S"): 1_000_000_000,
    UInt8(ascii: "m"): 1_000_000, UInt8(ascii: "u"): 1_000, UInt8(ascii: "n"): 1,
]

/// The spec's grammar, `TimeoutValue TimeoutUnit` with 1 to 8 digits, saturating past Int64.max nanoseconds.
private func referenceTimeout(_ value: String) -> Int64? {
    let utf8 = Array(value.utf8)
    guard (2...9).contains(utf8.count), let unit = timeoutUnits[utf8[utf8.count - 1]] else { return nil }
    let digits = utf8.dropLast()
    guard digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
    let amount = digits.reduce(Int64(0)) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
    let (product, overflow) = amount.multipliedReportingOverflow(by: unit)
    return overflow ? Int64.max : product
}

private func checkTimeoutParse(_ value: String) {
    let parsed = GRPCTimeout.parseNanoseconds(value)
    let expected = referenceTimeout(value)
    check(
        parsed == expected,
        "parseNanoseconds(\(value.debugDescription)) = \(String(describing: parsed)), "
            + "grammar says \(String(describing: expected))"
    )
    guard let parsed else { return }
    check(parsed >= 0, "negative timeout \(parsed)")
    // Every unit is a multiple of the finer ones, so a parsed value re-encodes exactly (Int64.max stays saturated).
    let encoded = GRPCTimeout.encode(nanoseconds: parsed)
    check(GRPCTimeout.parseNanoseconds(encoded) == parsed, "\(value) -> \(parsed) ns -> \(encoded) does not round-trip")
}

private func checkTimeoutEncode(_ bytes: [UInt8]) {
    let nanoseconds = bytes.prefix(8).reduce(Int64(0)) { $0 << 8 | Int64($1) }
    let encoded = GRPCTimeout.encode(nanoseconds: nanoseconds)
    check(encoded.utf8.count <= 9, "encode(\(nanoseconds)) = \(encoded) is longer than 8 digits and a unit")
    guard let back = GRPCTimeout.parseNanoseconds(encoded) else {
        fail("encode(\(nanoseconds)) = \(encoded) does not parse")
    }
    guard nanoseconds > 0 else {
        check(encoded == "0n", "encode(\(nanoseconds)) = \(encoded), expected 0n")
        return
    }
    // Rounded up to the finest unit that fits in 8 digits: never shorter, and longer by less than one such unit,
    // which is at most 1000 times the previous (too fine) unit, i.e. about 1e-5 of the value.
    check(back >= nanoseconds, "encode(\(nanoseconds)) = \(encoded) shortens the deadline to \(back)")
    check(
        back == Int64.max || back - nanoseconds <= nanoseconds / 99_999 + 1,
        "encode(\(nanoseconds)) = \(encoded) lengthens the deadline to \(back)"
    )
}

// MARK: grpc-message

private func isHexDigit(_ byte: UInt8) -> Bool {
    (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
        || (UInt8(ascii: "A")...UInt8(ascii: "F")).contains(byte)
}

/// Decoding as the spec words it: `%XX` with two hex digits is a byte, anything else is kept.
private func referencePercentDecode(_ value: String) -> String {
    let bytes = Array(value.utf8)
    var out: [UInt8] = []
    var index = 0
    while index < bytes.count {
        if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count, isHexDigit(bytes[index + 1]),
            isHexDigit(bytes[index + 2]),
            let byte = UInt8(String(decoding: bytes[(index + 1)...(index + 2)], as: UTF8.self), radix: 16)
        {
            out.append(byte)
            index += 3
        } else {
            out.append(bytes[index])
            index += 1
        }
    }
    return String(decoding: out, as: UTF8.self)
}

private func checkPercentEncoding(_ text: String) {
    let encoded = PercentEncoding.encode(text)
    check(
        encoded.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E },
        "PercentEncoding.encode(\(text.debugDescription)) is not printable ASCII: \(encoded.debugDescription)"
    )
    check(
        PercentEncoding.decode(encoded) == text,
        "PercentEncoding does not round-trip \(text.debugDescription) (encoded \(encoded.debugDescription))"
    )
    check(
        encoded.utf8.first != UInt8(ascii: " ") && encoded.utf8.last != UInt8(ascii: " "),
        "PercentEncoding.encode(\(text.debugDescription)) starts or ends with a space, which HTTP/2 forbids"
    )
    if text.utf8.allSatisfy({ $0 >= 0x20 && $0 <= 0x7E && $0 != UInt8(ascii: "%") }), text.utf8.first != 0x20,
        text.utf8.last != 0x20
    {
        check(encoded == text, "PercentEncoding.encode changed plain text \(text.debugDescription)")
    }
    let decoded = PercentEncoding.decode(text)
    let expected = referencePercentDecode(text)
    check(
        decoded == expected,
        "PercentEncoding.decode(\(text.debugDescription)) = \(decoded.debugDescription), "
            + "expected \(expected.debugDescription)"
    )
}

// MARK: Base64

private let base64Alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

private func checkBase64Decode(_ text: String) {
    let decoded = Base64.decode(text)
    var symbols = Array(text.utf8)
    var padding = 0
    while symbols.last == UInt8(ascii: "=") {
        symbols.removeLast()
        padding += 1
    }
    let remainder = symbols.count % 4
    let valid =
        symbols.allSatisfy { base64Alphabet.contains($0) } && remainder != 1
        && (padding == 0 || (padding <= 2 && padding == 4 - remainder))
    check(
        (decoded != nil) == valid,
        "Base64.decode(\(text.debugDescription)) \(decoded == nil ? "rejected" : "accepted") it; "
            + "the rules say \(valid ? "valid" : "invalid")"
    )
    guard let decoded else { return }
    check(decoded.count == symbols.count * 6 / 8, "Base64.decode(\(text.debugDescription)) gave \(decoded.count) bytes")
    // Re-encoding gives the same text, except that the last symbol may have carried non-zero unused bits.
    let again = Array(Base64.encode(decoded, padded: padding > 0).utf8)
    let original = Array(text.utf8)
    check(again.count == original.count, "re-encoding \(text.debugDescription) changed its length")
    let lastSymbol = symbols.count - 1
    for index in again.indices where index != lastSymbol || remainder == 0 {
        check(again[index] == original[index], "re-encoding \(text.debugDescription) changed symbol \(index)")
    }
    check(Base64.decode(String(decoding: again, as: UTF8.self)) == decoded, "canonical re-encoding decodes differently")
}

private func checkBase64RoundTrip(_ bytes: [UInt8]) {
    let padded = Base64.encode(bytes)
    let unpadded = Base64.encode(bytes, padded: false)
    check(padded.utf8.count == (bytes.count + 2) / 3 * 4, "padded length \(padded.utf8.count) for \(bytes.count) bytes")
    check(
        unpadded.utf8.count == (bytes.count * 8 + 5) / 6,
        "unpadded length \(unpadded.utf8.count) for \(bytes.count) bytes"
    )
    check(padded.hasPrefix(unpadded), "unpadded text is not the padded text without '='")
    check(Base64.decode(padded) == bytes, "padded Base64 does not round-trip \(bytes)")
    check(Base64.decode(unpadded) == bytes, "unpadded Base64 does not round-trip \(bytes)")
}

// MARK: grpc-encoding, grpc-accept-encoding, grpc-status

private func checkEncodingHeaders(_ text: String) {
    let token = text.utf8.drop { $0 == 0x20 || $0 == 0x09 }
    let trimmed = String(decoding: token.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed(), as: UTF8.self)
    let encoding = MessageCompression(headerValue: text)
    let expected = MessageCompression.allCases.first { $0.rawValue == trimmed.lowercased() }
    check(encoding == expected, "grpc-encoding \(text.debugDescription) parsed as \(String(describing: encoding))")

    let accepted = MessageCompression.parseAcceptEncoding(text)
    check(Set(accepted).count == accepted.count, "parseAcceptEncoding(\(text.debugDescription)) repeats an encoding")
    let listed = text.split(separator: ",").compactMap { MessageCompression(headerValue: String($0)) }
    var firstSeen: [MessageCompression] = []
    for entry in listed where !firstSeen.contains(entry) { firstSeen.append(entry) }
    check(accepted == firstSeen, "parseAcceptEncoding(\(text.debugDescription)) = \(accepted), expected \(firstSeen)")
    let header = MessageCompression.acceptEncodingHeader(for: accepted)
    check(header.hasPrefix("identity"), "grpc-accept-encoding \(header) does not start with identity")
    check(
        Set(MessageCompression.parseAcceptEncoding(header)) == Set(accepted + [.identity]),
        "grpc-accept-encoding \(header) does not list \(accepted)"
    )

    let code = GRPCStatus.code(fromHeaderValue: text)
    let utf8 = Array(text.utf8)
    var expectedCode = GRPCStatus.Code.unknown
    if !utf8.isEmpty, utf8.count <= 4, utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) {
        let number = utf8.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        expectedCode = GRPCStatus.Code(rawValue: number) ?? .unknown
    }
    check(code == expectedCode, "grpc-status \(text.debugDescription) parsed as \(code), expected \(expectedCode)")
}

// MARK: Request headers and metadata

/// A field value nghttp2 lets through to the server (RFC 9113 validation, on in H2GRPC's sessions): HTAB, visible
/// ASCII, space and obs-text (0x80-0xFF), with no leading or trailing space or tab.
private func nghttp2AcceptsValue<C: Collection>(_ value: C) -> Bool where C.Element == UInt8 {
    let allowed = value.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    let edges = [value.first, value.reversed().first].compactMap { $0 }
    return allowed && !edges.contains { $0 == 0x20 || $0 == 0x09 }
}

/// A field name nghttp2 lets through: a lower-case token, or one of the request pseudo-headers.
private func nghttp2AcceptsName<C: Collection>(_ name: C) -> Bool where C.Element == UInt8 {
    let pseudo = [":method", ":scheme", ":path", ":authority", ":protocol"].map { Array($0.utf8) }
    if pseudo.contains(Array(name)) { return true }
    let token = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    return !name.isEmpty && name.allSatisfy { token.contains($0) }
}

private let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8)

/// Pseudo-header values as nghttp2 checks them: never empty, no space or tab (nghttp2_check_path and friends), and
/// `:method` a token (nghttp2_check_method).
private func nghttp2AcceptsPseudoValue<C: Collection>(_ name: C, _ value: C) -> Bool where C.Element == UInt8 {
    guard !value.isEmpty, !value.contains(0x20), !value.contains(0x09) else { return false }
    return Array(name) != Array(":method".utf8) || value.allSatisfy { tokenCharacters.contains($0) }
}

/// Splits `name=value` lines, as they would reach the state machine: through nghttp2's field checks (lines it would
/// refuse are left out) and ServerStream's UTF-8 decoding. A line without `=` is a name with an empty value.
private func headerList(_ bytes: [UInt8]) -> [(name: String, value: String)] {
    bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).compactMap { line in
        // Search from the second byte, so that a pseudo-header's ':' is part of the name.
        let equals = line.dropFirst().firstIndex(of: UInt8(ascii: "=")) ?? line.endIndex
        let name = line[..<equals]
        let value = equals < line.endIndex ? line[(equals + 1)...] : line[line.endIndex...]
        guard nghttp2AcceptsName(name), nghttp2AcceptsValue(value) else { return nil }
        guard name.first != UInt8(ascii: ":") || nghttp2AcceptsPseudoValue(name, value) else { return nil }
        return (String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
    }
}

/// What a peer's HTTP/2 stack accepts in a header value the server writes (see `nghttp2AcceptsValue`).
private func isSafeHeaderValue(_ value: String) -> Bool {
    nghttp2AcceptsValue(Array(value.utf8))
}

private func checkRequestHeaders(_ bytes: [UInt8]) {
    let headers = headerList(bytes)
    var machine = ServerStreamStateMachine(configuration: .init(responseCompression: .gzip))
    let action = machine.receivedHeaders(headers, endStream: bytes.first.map { $0 & 1 == 1 } ?? false)
    let first = { (name: String) in headers.first { $0.name == name }?.value }

    if let block = action.responseHeaders {
        checkResponseBlock(block)
        check(machine.isClosed, "a rejected request left the stream open")
    }

    switch action {
    case .accept(let head):
        check(first(":method") == "POST", "accepted :method \(String(describing: first(":method")))")
        check(head.path == first(":path"), "accepted path \(head.path) is not the first :path")
        check(
            head.path == "/\(head.service)/\(head.method)" && !head.service.isEmpty && !head.method.isEmpty
                && !head.service.contains("/") && !head.method.contains("/"),
            "accepted malformed path \(head.path.debugDescription)"
        )
        check(
            head.deadlineNanoseconds == first("grpc-timeout").flatMap(referenceTimeout),
            "deadline \(String(describing: head.deadlineNanoseconds)) from grpc-timeout "
                + String(describing: first("grpc-timeout"))
        )
        for entry in head.metadata {
            check(!Metadata.isReserved(entry.name), "reserved header \(entry.name) kept as metadata")
            check(Metadata.isValidName(entry.name), "invalid metadata name \(entry.name.debugDescription) kept")
            if entry.name.hasSuffix("-bin") {
                check(
                    isSafeHeaderValue(entry.value),
                    "binary metadata \(entry.name) = \(entry.value.debugDescription) kept"
                )
            } else {
                check(
                    entry.value.isEmpty || Metadata.isValidASCIIValue(entry.value),
                    "metadata \(entry.name) = \(entry.value.debugDescription) kept"
                )
            }
        }
        check(!machine.isClosed, "an accepted request closed the stream")
        // What the server would write back: headers echoing the metadata, and trailers whose status message names
        // the path (percent-encoded).
        checkResponseBlock(machine.responseHeaders(metadata: head.metadata))
        check(machine.sendHeaders(), "response headers refused on an accepted stream")
        guard
            case .trailers(let trailers) = machine.sendStatus(GRPCStatus(.unknown, head.path), trailers: head.metadata)
        else { fail("no trailers after the response headers") }
        checkResponseBlock(trailers)
    case .rejectHTTP(let status, _):
        check(status == 405 || status == 415, "HTTP rejection with status \(status)")
        check(
            status == 405 ? first(":method") != "POST" : first(":method") == "POST",
            "HTTP \(status) for :method \(String(describing: first(":method")))"
        )
    case .rejectTrailersOnly(let status, _):
        check(status.code == .unimplemented || status.code == .internal, "Trailers-Only rejection with \(status)")
    case .fail(let status):
        fail("the first HEADERS block failed the stream: \(status)")
    }
}

/// Every header the server would write is one a peer accepts; the status message is percent-encoded ASCII.
private func checkResponseBlock(_ block: [(String, String)]) {
    for (name, value) in block {
        check(
            nghttp2AcceptsName(Array(name.utf8)) && !name.hasPrefix(":") || name == ":status",
            "response header name \(name.debugDescription) is not a lower-case token"
        )
        check(isSafeHeaderValue(value), "response header \(name) = \(value.debugDescription) would be refused")
        if name == "grpc-message" {
            check(
                value.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E },
                "grpc-message \(value.debugDescription) is not ASCII"
            )
        }
    }
}

private func checkMetadata(_ bytes: [UInt8]) {
    let text = String(decoding: bytes, as: UTF8.self)
    let validName =
        !bytes.isEmpty
        && bytes.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
        }
    check(Metadata.isValidName(text) == validName, "isValidName(\(text.debugDescription))")
    let validValue = !text.utf8.isEmpty && text.utf8.allSatisfy { $0 >= 0x20 && $0 <= 0x7E }
    check(Metadata.isValidASCIIValue(text) == validValue, "isValidASCIIValue(\(text.debugDescription))")

    var metadata = Metadata()
    metadata.append("x-fuzz-bin", text)
    metadata.appendBinary("x-fuzz-bin", bytes)
    let values = metadata.binaryValues("X-Fuzz-Bin")
    check(values.last == bytes, "appendBinary then binaryValues does not round-trip")
    let pieces = text.split(separator: ",", omittingEmptySubsequences: false)
    let decodable = pieces.compactMap { piece -> [UInt8]? in
        let trimmed = String(
            decoding: piece.utf8.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }
                .reversed(),
            as: UTF8.self
        )
        return Base64.decode(trimmed)
    }
    check(Array(values.dropLast()) == decodable, "binaryValues(\(text.debugDescription)) = \(values.dropLast())")
    metadata.removeAll("X-FUZZ-BIN")
    check(metadata.isEmpty, "removeAll left entries")
}
