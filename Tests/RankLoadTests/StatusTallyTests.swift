import H2GRPC
import Testing

@testable import RankLoad

@Suite("StatusTally")
struct StatusTallyTests {
    @Test("every kind of ending is counted apart, and under the grpc-status a client derives for it")
    func endingsAreCountedApart() {
        var tally = StatusTally()
        tally.record(code: .ok, ending: .status, httpStatus: 200)
        tally.record(code: .notFound, ending: .status, httpStatus: 200)
        tally.record(code: .unavailable, ending: .httpError(503), httpStatus: 503)
        tally.record(code: .internal, ending: .reset(2), httpStatus: nil)
        tally.record(code: .cancelled, ending: .reset(8), httpStatus: 200)
        tally.record(code: .unavailable, ending: .refusedByGoAway, httpStatus: nil)
        tally.record(code: .deadlineExceeded, ending: .timeout, httpStatus: nil)
        tally.record(code: .unavailable, ending: .transportError("server closed the connection"), httpStatus: nil)
        #expect(tally.total == 8)
        #expect(tally.ok == 1)
        #expect(tally.failed == 7)
        #expect(
            tally.countsByName == [
                "OK": 1, "NOT_FOUND": 1, "UNAVAILABLE": 3, "INTERNAL": 1, "CANCELLED": 1,
                "DEADLINE_EXCEEDED": 1,
            ]
        )
        #expect(
            tally.countsByEnding == [
                "trailers": 2, "http_error": 1, "rst_stream": 2, "goaway": 1, "timeout": 1,
                "transport_error": 1,
            ]
        )
        #expect(tally.byHTTPStatus == [200: 3, 503: 1])
        #expect(tally.resets == [2: 1, 8: 1])
        #expect(tally.transportErrors == ["server closed the connection": 1])
    }

    @Test("an HTTP 200 with a non-OK grpc-status is an error, unlike in tools that read only :status")
    func http200IsNotSuccess() {
        var tally = StatusTally()
        tally.record(code: .resourceExhausted, ending: .status, httpStatus: 200)
        #expect(tally.ok == 0)
        #expect(tally.errorFraction == 1)
    }

    @Test("tallies add up when per-thread tallies are merged")
    func merge() {
        var first = StatusTally()
        var second = StatusTally()
        first.record(code: .ok, ending: .status, httpStatus: 200)
        second.record(code: .ok, ending: .status, httpStatus: 200)
        second.record(code: .deadlineExceeded, ending: .timeout, httpStatus: nil)
        first.add(second)
        #expect(first.countsByName == ["OK": 2, "DEADLINE_EXCEEDED": 1])
        #expect(first.timeouts == 1)
        #expect(first.byHTTPStatus == [200: 2])
    }

    @Test("distinct transport error messages are capped so a storm cannot grow the tally")
    func transportErrorsAreBounded() {
        var tally = StatusTally()
        for index in 0..<100 { tally.record(code: .unavailable, ending: .transportError("e\(index)"), httpStatus: nil) }
        #expect(tally.transportErrors.count <= 17)
        #expect(tally.transportErrors.values.reduce(0, +) == 100)
    }
}
