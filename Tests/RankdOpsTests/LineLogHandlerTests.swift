import Foundation
import Logging
import Testing

@testable import RankdOps

@Suite("Log lines")
struct LineLogHandlerTests {
    static let date = Date(timeIntervalSince1970: 1_764_905_400.123)

    @Test("a JSON line is one object with time, level, logger, message and the metadata at the top level")
    func jsonLine() throws {
        let handler = LineLogHandler(label: "rankd", format: .json)
        let bytes = handler.render(
            level: .info,
            message: "refused \"snap-b\":\n    checksum_mismatch\tat item.pb",
            metadata: ["request_id": "r1", "trace_id": "abc", "sizes": .array(["1", "2"])],
            at: Self.date
        )
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasSuffix("}\n"))
        #expect(text.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["time"] as? String == "2025-12-05T03:30:00.123Z")
        #expect(object["level"] as? String == "info")
        #expect(object["logger"] as? String == "rankd")
        #expect(object["message"] as? String == "refused \"snap-b\":\n    checksum_mismatch\tat item.pb")
        #expect(object["request_id"] as? String == "r1")
        #expect(object["sizes"] as? [String] == ["1", "2"])
    }

    @Test("control characters and non-ASCII text survive the round trip")
    func escaping() throws {
        let handler = LineLogHandler(label: "rankd", format: .json)
        let message = "bell\u{07} nul\u{00} del\u{7F} café 東京 \\ end"
        let bytes = handler.render(level: .error, message: message, metadata: [:], at: Self.date)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["message"] as? String == message)
    }

    @Test("metadata cannot overwrite the fixed fields")
    func fixedFieldsWin() throws {
        let handler = LineLogHandler(label: "rankd", format: .json)
        let bytes = handler.render(level: .warning, message: "m", metadata: ["level": "forged"], at: Self.date)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["level"] as? String == "warning")
    }

    @Test("a text line reads as time, level, message, then key=value pairs")
    func textLine() {
        let handler = LineLogHandler(label: "rankd", format: .text)
        let text = String(
            decoding: handler.render(level: .debug, message: "hello", metadata: ["b": "2", "a": "1"], at: Self.date),
            as: UTF8.self
        )
        #expect(text == "2025-12-05T03:30:00.123Z debug hello a=1 b=2\n")
    }
}
