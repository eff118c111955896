import Testing

@testable import H2GRPC

@Suite struct GRPCTimeoutTests {
    @Test(arguments: [
        ("1n", Int64(1)), ("1u", 1_000), ("1m", 1_000_000), ("1S", 1_000_000_000), ("1M", 60_000_000_000),
        ("1H", 3_600_000_000_000), ("250m", 250_000_000), ("0S", 0), ("00000007S", 7_000_000_000),
    ])
    func parsesEveryUnit(value: String, nanoseconds: Int64) {
        #expect(GRPCTimeout.parseNanoseconds(value) == nanoseconds)
    }

    @Test func acceptsEightDigits() {
        #expect(GRPCTimeout.parseNanoseconds("99999999n") == 99_999_999)
        #expect(GRPCTimeout.parseNanoseconds("99999999S") == 99_999_999_000_000_000)
    }

    @Test func rejectsNineDigits() {
        #expect(GRPCTimeout.parseNanoseconds("100000000n") == nil)
        #expect(GRPCTimeout.parseNanoseconds("000000001S") == nil)
    }

    @Test func saturatesHoursBeyondInt64() {
        #expect(GRPCTimeout.parseNanoseconds("99999999H") == Int64.max)
        // 2,562,047 hours still fits; one more hour does not.
        #expect(GRPCTimeout.parseNanoseconds("2562047H") == Int64(2_562_047) * 3_600_000_000_000)
        #expect(GRPCTimeout.parseNanoseconds("2562048H") == Int64.max)
    }

    @Test(arguments: ["", "S", "10", "10s", "10X", "1.5S", "-1S", "+1S", " 1S", "1S ", "1 S", "1SS", "١S", "0x1S"])
    func rejectsGarbage(value: String) {
        #expect(GRPCTimeout.parseNanoseconds(value) == nil)
    }

    @Test(arguments: [
        (Int64(1), "1n"), (99_999_999, "99999999n"), (100_000_000, "100000u"), (100_000_001, "100001u"),
        (1_000_000_000, "1000000u"), (3_600_000_000_000, "3600000m"), (0, "0n"), (-5, "0n"),
    ])
    func encodesInTheFinestUnitThatFits(nanoseconds: Int64, expected: String) {
        #expect(GRPCTimeout.encode(nanoseconds: nanoseconds) == expected)
    }

    @Test func encodesInt64MaxInHours() {
        #expect(GRPCTimeout.encode(nanoseconds: Int64.max) == "2562048H")
    }

    @Test(arguments: [
        Int64(1), 999, 1_000, 123_456_789, 99_999_999_999, 1_234_567_890_123, 86_400_000_000_000,
        987_654_321_987_654_321, Int64.max / 3, Int64.max,
    ])
    func encodeRoundsUpAndStaysWithinEightDigits(nanoseconds: Int64) throws {
        let encoded = GRPCTimeout.encode(nanoseconds: nanoseconds)
        #expect(encoded.count <= 9)
        let parsed = try #require(GRPCTimeout.parseNanoseconds(encoded))
        // Never shorter than asked, and never longer by a whole unit of the chosen precision.
        #expect(parsed >= nanoseconds)
        let unitNanoseconds: Int64 = [
            "n": 1, "u": 1_000, "m": 1_000_000, "S": 1_000_000_000, "M": 60_000_000_000,
            "H": 3_600_000_000_000,
        ][encoded.last!]!
        #expect(parsed - nanoseconds < unitNanoseconds || parsed == Int64.max)
    }
}
