import H2GRPC

/// Corrected latency kept apart per grpc-status, so that an overloaded server's fast refusals and its slow answers
/// are read separately: a run at twice a server's capacity that sheds half its calls in 0.2 ms and answers the
/// rest in 8 ms has a blended p99 that describes neither.
///
/// A histogram is created the first time its status occurs (a run sees a few of the 17 codes), so the record of a
/// run that only succeeds costs one histogram.
public struct StatusLatencies: Sendable {
    private var histograms = [LatencyHistogram?](repeating: nil, count: GRPCStatus.Code.allCases.count)

    /// An empty record.
    public init() {}

    /// Records one call's latency under its status.
    @inline(__always)
    public mutating func record(code: GRPCStatus.Code, nanoseconds: UInt64) {
        if histograms[code.rawValue] == nil { histograms[code.rawValue] = LatencyHistogram() }
        histograms[code.rawValue]!.record(nanoseconds: nanoseconds)
    }

    /// Adds every count of `other`, status by status.
    public mutating func add(_ other: StatusLatencies) {
        for index in histograms.indices {
            guard let theirs = other.histograms[index] else { continue }
            if histograms[index] == nil {
                histograms[index] = theirs
            } else {
                histograms[index]!.add(theirs)
            }
        }
    }

    /// The latency of the calls that ended with `code`; nil when none did.
    public subscript(code: GRPCStatus.Code) -> LatencyHistogram? { histograms[code.rawValue] }

    /// Calls recorded, every status together.
    public var count: UInt64 { histograms.reduce(0) { $0 + ($1?.count ?? 0) } }

    /// Per grpc-status name ("OK", "RESOURCE_EXHAUSTED", ...), only the statuses that occurred.
    public var byName: [String: LatencyHistogram] {
        var result: [String: LatencyHistogram] = [:]
        for code in GRPCStatus.Code.allCases {
            if let histogram = histograms[code.rawValue], histogram.count > 0 { result[code.name] = histogram }
        }
        return result
    }
}
