/// The state needed to reproduce a ranking for its next page: the same request time and exploration seed give
/// the same order, so pages neither repeat nor skip entries.
struct PageToken: Equatable {
    var offset: Int
    var requestTimeUnixMs: Int64
    var seed: UInt64
    /// Ties the token to the user, surface and candidate list it was issued for.
    var check: UInt64

    var encoded: String {
        "p1.\(offset).\(requestTimeUnixMs).\(String(seed, radix: 16)).\(String(check, radix: 16))"
    }

    init(offset: Int, requestTimeUnixMs: Int64, seed: UInt64, check: UInt64) {
        self.offset = offset
        self.requestTimeUnixMs = requestTimeUnixMs
        self.seed = seed
        self.check = check
    }

    init(decoding text: String) throws {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "p1", let offset = Int(parts[1]), offset >= 0,
            let time = Int64(parts[2]), let seed = UInt64(parts[3], radix: 16),
            let check = UInt64(parts[4], radix: 16)
        else {
            throw RankingError.invalidArgument("page_token is not a token this server issued")
        }
        self.init(offset: offset, requestTimeUnixMs: time, seed: seed, check: check)
    }
}
