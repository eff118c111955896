// libFuzzer target: the request data path of a server stream. Feeds fuzzer-chosen chunks of a gRPC request body
// through ServerStreamStateMachine (MessageDeframer plus gzip inflate with a size limit) and checks the result
// against a one-shot reference reading of the same bytes; a second mode fuzzes Gzip.decompress on its own.
//
// Input layout (see docs/testing.md, "Fuzzing"):
//   byte 0        configuration (bit 6 chooses the gzip-only mode)
//                   bits 0-1  grpc-encoding header: 0 none, 1 gzip, 2 identity, 3 gzip with gzip responses
//                   bits 2-3  receive limit: 64 B, 1 KiB, 64 KiB, 4 MiB
//                   bit 4     END_STREAM on the last DATA chunk
//                   bit 5     END_STREAM on the HEADERS frame
//   byte 1        number of split points (mod 32); gzip mode: the size limit (low 3 bits)
//   2 bytes each  split points (big-endian, mod payload length + 1)
//   the rest      the request body (gzip mode: the compressed stream)
import H2GRPC

/// An invariant of the code under test; unlike `precondition`, the message survives -O, so the crash report says
/// which one broke.
private func check(_ condition: Bool, _ message: @autoclosure () -> String = "invariant violated") {
    if !condition { fail(message()) }
}

private func fail(_ message: String) -> Never {
    fatalError("fuzz invariant: \(message)")
}

private let receiveLimits = [64, 1024, 64 << 10, 4 << 20]
private let gzipLimits = [0, 1, 10, 64, 1024, 64 << 10, 1 << 20, 4 << 20]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 2 else { return 0 }
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    if input[0] & 0x40 != 0 {
        checkGzip(Array(input[2...]), limit: gzipLimits[Int(input[1] & 7)])
    } else {
        checkStream(input)
    }
    return 0
}

// MARK: Stream mode

/// What the state machine must report for `payload`, worked out in one pass without the deframer's buffering.
private func reference(
    payload: [UInt8],
    limit: Int,
    encoding: MessageCompression,
    endStream: Bool,
    endOnHeaders: Bool
) -> (messages: [[UInt8]], failure: GRPCStatus.Code?) {
    if endOnHeaders {
        return ([], payload.isEmpty ? nil : .internal)
    }
    var messages: [[UInt8]] = []
    var index = 0
    while payload.count - index >= 5 {
        let flag = payload[index]
        guard flag <= 1 else { return (messages, .internal) }
        let length =
            Int(payload[index + 1]) << 24 | Int(payload[index + 2]) << 16 | Int(payload[index + 3]) << 8
            | Int(payload[index + 4])
        guard length <= limit else { return (messages, .resourceExhausted) }
        guard payload.count - index - 5 >= length else { break }
        let body = Array(payload[(index + 5)..<(index + 5 + length)])
        index += 5 + length
        if flag == 0 {
            messages.append(body)
            continue
        }
        guard encoding == .gzip else { return (messages, .internal) }
        do {
            messages.append(try Gzip.decompress(body, limit: limit))
        } catch Gzip.Error.tooLarge {
            return (messages, .resourceExhausted)
        } catch {
            return (messages, .internal)
        }
    }
    if endStream && index < payload.count { return (messages, .internal) }
    return (messages, nil)
}

private func checkStream(_ input: [UInt8]) {
    let config = input[0]
    let splitCount = Int(input[1] & 31)
    let headerEnd = min(input.count, 2 + 2 * splitCount)
    let payload = Array(input[headerEnd...])
    var splits: [Int] = []
    var offset = 2
    while offset + 1 < headerEnd {
        splits.append((Int(input[offset]) << 8 | Int(input[offset + 1])) % (payload.count + 1))
        offset += 2
    }
    splits.sort()
    var chunks: [ArraySlice<UInt8>] = []
    var start = 0
    for split in splits {
        chunks.append(payload[start..<split])
        start = split
    }
    chunks.append(payload[start...])

    let limit = receiveLimits[Int(config >> 2 & 3)]
    let endStream = config & 0x10 != 0
    let endOnHeaders = config & 0x20 != 0
    var headers: [(name: String, value: String)] = [
        (":method", "POST"), (":scheme", "http"), (":path", "/fuzz.Service/Method"), (":authority", "localhost"),
        ("content-type", "application/grpc"), ("te", "trailers"),
    ]
    let encoding: MessageCompression
    switch config & 3 {
    case 1:
        encoding = .gzip
        headers.append(("grpc-encoding", "gzip"))
    case 2:
        encoding = .identity
        headers.append(("grpc-encoding", "identity"))
    case 3:
        encoding = .gzip
        headers.append(("grpc-encoding", "gzip"))
        headers.append(("grpc-accept-encoding", "gzip"))
    default:
        encoding = .identity
    }

    var machine = ServerStreamStateMachine(
        configuration: .init(
            maxReceiveMessageSize: limit,
            responseCompression: config & 3 == 3 ? .gzip : .identity
        )
    )
    guard case .accept(let head) = machine.receivedHeaders(headers, endStream: endOnHeaders) else {
        fail("a well-formed request was not accepted")
    }
    check(head.requestEncoding == encoding, "request encoding \(head.requestEncoding), expected \(encoding)")
    check(machine.isRequestOpen == !endOnHeaders)

    var received: [[UInt8]] = []
    var failure: GRPCStatus.Code?
    var sawEnd = false
    for (index, chunk) in chunks.enumerated() {
        let last = index == chunks.count - 1
        let action = chunk.withUnsafeBytes { machine.receivedData($0, endStream: last && endStream) }
        switch action {
        case .messages(let messages, let endOfInput):
            if failure != nil {
                check(messages.isEmpty, "messages delivered after the stream failed")
            } else {
                received.append(contentsOf: messages)
            }
            if endOfInput {
                check(
                    (last && endStream) || endOnHeaders,
                    "endOfInput before the client ended the request"
                )
                sawEnd = true
            }
        case .fail(let status):
            check(failure == nil, "a second failure after \(failure!): \(status)")
            check(status.code != .ok, "a failure with status OK")
            failure = status.code
        }
    }

    let expected = reference(
        payload: payload,
        limit: limit,
        encoding: encoding,
        endStream: endStream,
        endOnHeaders: endOnHeaders
    )
    check(
        failure == expected.failure,
        "chunked delivery failed with \(String(describing: failure)), one-shot reading with "
            + "\(String(describing: expected.failure))"
    )
    // A failing DATA frame drops the messages it completed before the failure (the call fails anyway), so with a
    // failure only a prefix of the reference's messages arrives.
    check(
        failure == nil
            ? received == expected.messages
            : received.count <= expected.messages.count
                && Array(expected.messages.prefix(received.count)) == received,
        "chunked delivery gave \(received.count) message(s), one-shot reading \(expected.messages.count)"
    )
    for message in received { check(message.count <= limit, "a message over the receive limit") }
    if failure == nil && endStream && !endOnHeaders { check(sawEnd, "END_STREAM was not reported") }
    check(!machine.isClosed, "the stream closed before the status was sent")

    // The response side: headers once, a message framed (and gzipped when negotiated), the status once.
    check(machine.sendHeaders(), "response headers refused on an open stream")
    check(!machine.sendHeaders(), "response headers sent twice")
    let reply = received.first ?? payload
    guard let framed = machine.sendMessage(reply, compress: true) else {
        fail("sendMessage refused on an open stream")
    }
    var deframer = MessageDeframer(maxMessageSize: Int(UInt32.max))
    deframer.append(framed)
    guard let echoed = try? deframer.next() else { fail("the framed response does not deframe") }
    check(!deframer.hasPartialMessage, "bytes left after the framed response")
    let echoedBytes = echoed.compressed ? (try? Gzip.decompress(echoed.bytes, limit: reply.count)) : echoed.bytes
    check(echoedBytes == reply, "the framed response does not round-trip")
    check(echoed.compressed == (config & 3 == 3), "response compression does not match the negotiation")

    let status = GRPCStatus(failure ?? .ok, failure == nil ? "" : "fuzz failure")
    guard case .trailers = machine.sendStatus(status, trailers: Metadata()) else {
        fail("no trailers after response headers")
    }
    guard case .alreadyClosed = machine.sendStatus(status, trailers: Metadata()) else {
        fail("a second status was accepted")
    }
    check(machine.isClosed)
    let after = machine.receivedData([0, 0, 0, 0, 1, 7], endStream: true)
    guard case .messages(let late, _) = after, late.isEmpty else {
        fail("DATA after the status produced messages or a failure")
    }
    machine.streamClosed()
    check(!machine.isRequestOpen && machine.isClosed && !machine.isCancelled)
}

// MARK: Gzip mode

private func checkGzip(_ compressed: [UInt8], limit: Int) {
    let maxLimit = 4 << 20
    do {
        let output = try Gzip.decompress(compressed, limit: limit)
        check(output.count <= limit, "inflated \(output.count) bytes past the limit \(limit)")
        let again = try? Gzip.decompress(Gzip.compress(output), limit: output.count)
        check(again == output, "compress then decompress does not round-trip")
        if !output.isEmpty {
            do {
                _ = try Gzip.decompress(compressed, limit: output.count - 1)
                fail("a limit one byte short of the output was not enforced")
            } catch Gzip.Error.tooLarge {
            } catch {
                fail("a limit one byte short of the output gave \(error)")
            }
        }
    } catch Gzip.Error.tooLarge(let reported) {
        check(reported == limit, "tooLarge reported limit \(reported), asked \(limit)")
        if limit < maxLimit, let output = try? Gzip.decompress(compressed, limit: maxLimit) {
            check(output.count > limit, "tooLarge at \(limit) but the stream inflates to \(output.count)")
        }
    } catch Gzip.Error.corrupt {
        // The corruption was found before the output passed the limit, so a larger limit must find it too.
        if limit < maxLimit {
            do {
                _ = try Gzip.decompress(compressed, limit: maxLimit)
                fail("corrupt at limit \(limit) but valid at \(maxLimit)")
            } catch Gzip.Error.corrupt {
            } catch {
                fail("corrupt at limit \(limit) but \(error) at \(maxLimit)")
            }
        }
    } catch {
        fail("Gzip.decompress threw an undocumented error: \(error)")
    }

    // Any bytes survive a compression round trip.
    let packed = Gzip.compress(compressed)
    guard let unpacked = try? Gzip.decompress(packed, limit: compressed.count) else {
        fail("Gzip.compress output does not decompress within its own size")
    }
    check(unpacked == compressed, "Gzip.compress does not round-trip")
}
