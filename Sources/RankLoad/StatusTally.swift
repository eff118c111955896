import H2GRPC

/// Counts of how calls ended: per grpc-status (read from trailers), per HTTP status, and per kind of ending
/// (trailers, HTTP error, RST_STREAM, refused by GOAWAY, deadline, transport failure).
///
/// A call that ends without trailers is still counted under the status a gRPC client would derive for it (e.g. a
/// reset becomes INTERNAL or UNAVAILABLE), so no failure hides as success the way it does in tools that read only
/// `:status`.
public struct StatusTally: Sendable, Equatable {
    /// Calls per grpc-status code, indexed by the code's wire value.
    public private(set) var byCode = [UInt64](repeating: 0, count: GRPCStatus.Code.allCases.count)
    /// Calls per HTTP `:status` of the response (calls that got no response headers are not here).
    public private(set) var byHTTPStatus: [Int: UInt64] = [:]
    /// Calls that ended with trailers carrying a grpc-status (other than DEADLINE_EXCEEDED, counted as a timeout).
    public private(set) var trailers: UInt64 = 0
    /// Calls answered with a non-200 HTTP status or a non-gRPC response.
    public private(set) var httpErrors: UInt64 = 0
    /// Calls the server reset with RST_STREAM, by HTTP/2 error code.
    public private(set) var resets: [UInt32: UInt64] = [:]
    /// Calls the server refused with GOAWAY before processing them.
    public private(set) var goAways: UInt64 = 0
    /// Calls whose deadline passed: noticed by the generator first (on the wire or still waiting for a free stream),
    /// or reported by the server as DEADLINE_EXCEEDED in its trailers. The two race by design, since the server
    /// enforces the same deadline from grpc-timeout; either way the call timed out.
    public private(set) var timeouts: UInt64 = 0
    /// Calls lost to a failed or closed connection, by reason.
    public private(set) var transportErrors: [String: UInt64] = [:]

    /// An empty tally.
    public init() {}

    /// Counts one call.
    public mutating func record(code: GRPCStatus.Code, ending: ClientCallResult.Ending, httpStatus: Int?) {
        byCode[code.rawValue] += 1
        if let httpStatus { byHTTPStatus[httpStatus, default: 0] += 1 }
        switch ending {
        case .status:
            // A server's DEADLINE_EXCEEDED is a timeout; counting it once keeps the endings summing to the calls.
            if code == .deadlineExceeded { timeouts += 1 } else { trailers += 1 }
        case .httpError: httpErrors += 1
        case .reset(let errorCode): resets[errorCode, default: 0] += 1
        case .refusedByGoAway: goAways += 1
        case .timeout: timeouts += 1
        case .transportError(let reason):
            // Bounded so that a storm of distinct messages cannot grow the tally without limit.
            if transportErrors[reason] != nil || transportErrors.count < 16 {
                transportErrors[reason, default: 0] += 1
            } else {
                transportErrors["(other)", default: 0] += 1
            }
        }
    }

    /// Adds another tally's counts.
    public mutating func add(_ other: StatusTally) {
        for index in byCode.indices { byCode[index] += other.byCode[index] }
        byHTTPStatus.merge(other.byHTTPStatus, uniquingKeysWith: +)
        trailers += other.trailers
        httpErrors += other.httpErrors
        resets.merge(other.resets, uniquingKeysWith: +)
        goAways += other.goAways
        timeouts += other.timeouts
        transportErrors.merge(other.transportErrors, uniquingKeysWith: +)
    }

    /// Every call counted.
    public var total: UInt64 { byCode.reduce(0, +) }
    /// Calls that ended with OK.
    public var ok: UInt64 { byCode[GRPCStatus.Code.ok.rawValue] }
    /// Calls that did not end with OK.
    public var failed: UInt64 { total - ok }
    /// Share of calls that did not end with OK (0 when nothing was counted).
    public var errorFraction: Double { total == 0 ? 0 : Double(failed) / Double(total) }

    /// Calls per grpc-status name ("OK", "UNAVAILABLE", ...), only the codes that occurred.
    public var countsByName: [String: UInt64] {
        var result: [String: UInt64] = [:]
        for code in GRPCStatus.Code.allCases where byCode[code.rawValue] > 0 {
            result[code.name] = byCode[code.rawValue]
        }
        return result
    }

    /// Calls per kind of ending, every kind present (zeros included) so reports always show them.
    public var countsByEnding: [String: UInt64] {
        [
            "trailers": trailers, "http_error": httpErrors, "rst_stream": resets.values.reduce(0, +),
            "goaway": goAways, "timeout": timeouts, "transport_error": transportErrors.values.reduce(0, +),
        ]
    }
}
