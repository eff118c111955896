import H2GRPC
import Testing

@Suite("W3C traceparent")
struct TraceParentTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test("a version-00 header is read into its trace id, parent id and flags")
    func parsesVersion00() throws {
        let parent = try #require(TraceParent.parse(Self.valid))
        #expect(parent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(parent.parentID == "00f067aa0ba902b7")
        #expect(parent.flags == "01")
    }

    @Test(
        "headers W3C says to ignore are ignored",
        arguments: [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01",
        ]
    )
    func ignoresInvalid(_ value: String) {
        #expect(TraceParent.parse(value) == nil)
    }

    @Test("a later version is read by its first four fields")
    func readsLaterVersions() throws {
        let parent = try #require(
            TraceParent.parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-whatever")
        )
        #expect(parent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test("the answer names the same trace and flags with the server's span")
    func child() throws {
        let parent = try #require(TraceParent.parse(Self.valid))
        let span = TraceParent.newSpanID()
        let answer = parent.child(spanID: span)
        #expect(answer == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(span)-01")
        #expect(TraceParent.parse(answer)?.parentID == span)
    }

    @Test("new span ids are 16 hex digits, never zero, and distinct")
    func spanIDs() {
        var seen = Set<String>()
        for _ in 0..<10_000 {
            let id = TraceParent.newSpanID()
            #expect(id.count == 16)
            #expect(id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
            #expect(id != "0000000000000000")
            seen.insert(id)
        }
        #expect(seen.count == 10_000)
    }
}
