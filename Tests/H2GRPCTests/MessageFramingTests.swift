import Testing

@testable import H2GRPC

@Suite struct MessageFramingTests {
    @Test func framesWithFlagAndBigEndianLength() {
        #expect(MessageFraming.frame([0xAA, 0xBB, 0xCC]) == [0, 0, 0, 0, 3, 0xAA, 0xBB, 0xCC])
        #expect(MessageFraming.frame([0x01], compressed: true) == [1, 0, 0, 0, 1, 0x01])
        #expect(MessageFraming.frame([]) == [0, 0, 0, 0, 0])
    }

    @Test func encodesLengthsAboveOneByteInNetworkOrder() {
        let message = [UInt8](repeating: 7, count: 0x01_02_03)
        let framed = MessageFraming.frame(message)
        #expect(Array(framed.prefix(5)) == [0, 0x00, 0x01, 0x02, 0x03])
        #expect(framed.count == MessageFraming.headerSize + message.count)
    }

    @Test func appendAddsAfterExistingBytes() {
        var out: [UInt8] = [9, 9]
        [UInt8]([1, 2]).withUnsafeBytes { MessageFraming.append(message: $0, compressed: false, to: &out) }
        [UInt8]([3]).withUnsafeBytes { MessageFraming.append(message: $0, compressed: true, to: &out) }
        #expect(out == [9, 9, 0, 0, 0, 0, 2, 1, 2, 1, 0, 0, 0, 1, 3])
    }
}

@Suite struct MessageDeframerTests {
    /// Three messages, one empty and one compressed-flagged, framed back to back.
    static let messages: [MessageDeframer.Message] = [
        .init(compressed: false, bytes: Array("hello".utf8)),
        .init(compressed: false, bytes: []),
        .init(compressed: true, bytes: (0..<40).map { UInt8($0) }),
    ]
    static let stream: [UInt8] = messages.flatMap { MessageFraming.frame($0.bytes, compressed: $0.compressed) }

    private static func drain(_ deframer: inout MessageDeframer) throws -> [MessageDeframer.Message] {
        var out: [MessageDeframer.Message] = []
        while let message = try deframer.next() { out.append(message) }
        return out
    }

    @Test(arguments: 0...stream.count)
    func reassemblesWhenSplitAtAnyByte(split: Int) throws {
        var deframer = MessageDeframer(maxMessageSize: 1024)
        deframer.append(Array(Self.stream[..<split]))
        var received = try Self.drain(&deframer)
        deframer.append(Array(Self.stream[split...]))
        received += try Self.drain(&deframer)
        #expect(received == Self.messages)
        #expect(!deframer.hasPartialMessage)
    }

    @Test func reassemblesWhenFedOneByteAtATime() throws {
        var deframer = MessageDeframer(maxMessageSize: 1024)
        var received: [MessageDeframer.Message] = []
        for byte in Self.stream {
            deframer.append([byte])
            received += try Self.drain(&deframer)
        }
        #expect(received == Self.messages)
    }

    @Test func reportsPartialMessageUntilItCompletes() throws {
        var deframer = MessageDeframer(maxMessageSize: 1024)
        #expect(!deframer.hasPartialMessage)
        let framed = MessageFraming.frame([1, 2, 3])
        deframer.append(Array(framed.prefix(2)))
        #expect(try deframer.next() == nil)
        #expect(deframer.hasPartialMessage)
        deframer.append(Array(framed[2..<7]))
        #expect(try deframer.next() == nil)
        #expect(deframer.hasPartialMessage)
        deframer.append(Array(framed[7...]))
        #expect(try deframer.next() == .init(compressed: false, bytes: [1, 2, 3]))
        #expect(!deframer.hasPartialMessage)
    }

    @Test func zeroLengthMessagesAreDeliveredOnePerPrefix() throws {
        var deframer = MessageDeframer(maxMessageSize: 0)
        deframer.append(MessageFraming.frame([]) + MessageFraming.frame([]))
        #expect(
            try Self.drain(&deframer) == [.init(compressed: false, bytes: []), .init(compressed: false, bytes: [])]
        )
    }

    @Test func acceptsAMessageOfExactlyTheLimit() throws {
        var deframer = MessageDeframer(maxMessageSize: 4)
        deframer.append(MessageFraming.frame([1, 2, 3, 4]))
        #expect(try deframer.next()?.bytes == [1, 2, 3, 4])
    }

    @Test func rejectsATooLargeMessageFromItsPrefixAlone() {
        var deframer = MessageDeframer(maxMessageSize: 4)
        // Only the 5-byte prefix announcing 5 bytes: the error must come before any payload is buffered.
        deframer.append([0, 0, 0, 0, 5])
        #expect(throws: MessageDeframer.Error.messageTooLarge(length: 5, limit: 4)) { try deframer.next() }
    }

    @Test func rejectsTheLargestAnnouncedLength() {
        var deframer = MessageDeframer(maxMessageSize: 4 * 1024 * 1024)
        deframer.append([0, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(throws: MessageDeframer.Error.messageTooLarge(length: 0xFFFF_FFFF, limit: 4 * 1024 * 1024)) {
            try deframer.next()
        }
    }

    @Test(arguments: [UInt8(2), 0x80, 0xFF])
    func rejectsCompressionFlagsOtherThanZeroOrOne(flag: UInt8) {
        var deframer = MessageDeframer(maxMessageSize: 1024)
        deframer.append([flag, 0, 0, 0, 0])
        #expect(throws: MessageDeframer.Error.invalidCompressionFlag(flag)) { try deframer.next() }
    }

    @Test func keepsCompressedFlagForTheCallerToInterpret() throws {
        var deframer = MessageDeframer(maxMessageSize: 1024)
        deframer.append(MessageFraming.frame([5], compressed: true))
        #expect(try deframer.next() == .init(compressed: true, bytes: [5]))
    }

    @Test func manyMessagesThroughOneDeframerStayBounded() throws {
        var deframer = MessageDeframer(maxMessageSize: 1024)
        let framed = MessageFraming.frame([UInt8](repeating: 1, count: 100))
        // Append a message and a half each round so the buffer always holds a partial message while compacting.
        var pending = framed + Array(framed.prefix(50))
        var count = 0
        for _ in 0..<1_000 {
            deframer.append(pending)
            count += try Self.drain(&deframer).count
            pending = Array(framed.suffix(from: 50)) + framed + Array(framed.prefix(50))
            #expect(deframer.bufferedByteCount == 50)
        }
        #expect(count == 1_999)
    }

    @Test func errorDescriptionsNameTheNumbers() {
        #expect(MessageDeframer.Error.messageTooLarge(length: 10, limit: 4).description.contains("10"))
        #expect(MessageDeframer.Error.invalidCompressionFlag(7).description.contains("7"))
    }
}
