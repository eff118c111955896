import Foundation
import Synchronization

/// W3C Trace Context's `traceparent` header: `00-<trace id, 32 hex>-<parent span id, 16 hex>-<flags, 2 hex>`.
///
/// A call that arrives with one is logged with its trace id, and its response headers carry a `traceparent` of the
/// same trace naming the server's own span, so a caller can find the server's side of its trace.
public struct TraceParent: Sendable, Equatable {
    /// 32 lower-case hex digits, not all zero.
    public var traceID: String
    /// 16 lower-case hex digits, not all zero: the caller's span.
    public var parentID: String
    /// Two hex digits; bit 0 is "sampled".
    public var flags: String

    /// The header name (lower case, as HTTP/2 sends it).
    public static let header = "traceparent"

    /// Parses a header value; nil for anything W3C says to ignore (wrong lengths, upper case, all-zero ids,
    /// version ff). Versions above 00 are read by their first four fields, as the specification asks.
    public static func parse(_ value: String) -> TraceParent? {
        let bytes = Array(value.utf8)
        guard bytes.count >= 55, bytes[2] == 0x2D, bytes[35] == 0x2D, bytes[52] == 0x2D else { return nil }
        let version = bytes[0..<2]
        guard isHex(version), !(version.elementsEqual("ff".utf8)) else { return nil }
        if version.elementsEqual("00".utf8) {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 && bytes[55] != 0x2D {
            return nil
        }
        let trace = bytes[3..<35]
        let parent = bytes[36..<52]
        let flags = bytes[53..<55]
        guard isHex(trace), isHex(parent), isHex(flags), trace.contains(where: { $0 != 0x30 }),
            parent.contains(where: { $0 != 0x30 })
        else { return nil }
        return TraceParent(
            traceID: String(decoding: trace, as: UTF8.self),
            parentID: String(decoding: parent, as: UTF8.self),
            flags: String(decoding: flags, as: UTF8.self)
        )
    }

    private static func isHex(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// The header value for a child span `spanID` of the same trace and flags.
    public func child(spanID: String) -> String {
        "00-\(traceID)-\(spanID)-\(flags)"
    }

    /// A new span id: 16 hex digits, never all zero, distinct for every call of the process (a counter through a
    /// bijective mix, seeded once from the clock), with no system call per id.
    public static func newSpanID() -> String {
        let n = SpanIDs.next.add(1, ordering: .relaxed).newValue
        var z = n &+ SpanIDs.seed
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        if z == 0 { z = 1 }
        let hex = String(z, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

private enum SpanIDs {
    static let next = Atomic<UInt64>(0)
    static let seed: UInt64 = {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return UInt64(bitPattern: Int64(time.tv_sec)) &* 1_000_000_007 &+ UInt64(time.tv_nsec)
    }()
}
