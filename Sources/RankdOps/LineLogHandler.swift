import Foundation
import Logging
import Synchronization

/// swift-log's handler for rankd: one line per event on stderr, as a JSON object (the default, for log shippers) or
/// as text for a person at a terminal. Lines from many threads never interleave.
///
/// A JSON line holds `time` (UTC, milliseconds), `level`, `logger`, `message` and every metadata key at the top
/// level, e.g. `{"time":"2026-12-05T03:40:00.123Z","level":"info","logger":"rankd","message":"serving: ...",
/// "request_id":"..."}`.
public struct LineLogHandler: LogHandler {
    /// How lines look.
    public enum Format: String, Sendable, CaseIterable {
        /// One JSON object per line.
        case json
        /// `2026-12-05T03:40:00.123Z info message key=value`.
        case text
    }

    /// Where every handler writes, one lock for all of them.
    final class Sink: @unchecked Sendable {
        let lock = NSLock()
        let write: @Sendable ([UInt8]) -> Void

        init(write: @escaping @Sendable ([UInt8]) -> Void) { self.write = write }

        static let standardError = Sink { bytes in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                    if n <= 0 { return }
                    offset += n
                }
            }
        }
    }

    private let label: String
    /// A fixed format, or nil to follow the process-wide one (``setFormat(_:)``, changed by a configuration reload).
    private let fixedFormat: Format?
    private let sink: Sink
    private static let processFormat = Atomic<Int>(0)
    /// Handler-level metadata.
    public var metadata: Logger.Metadata = [:]
    /// The level below which the logger drops events before they reach the handler.
    public var logLevel: Logger.Level = .trace

    /// A handler writing to stderr.
    public init(label: String, format: Format) {
        self.init(label: label, format: format, sink: .standardError)
    }

    init(label: String, format: Format?, sink: Sink) {
        self.label = label
        self.fixedFormat = format
        self.sink = sink
    }

    /// Bootstraps swift-log with this handler for every logger in the process, writing `format` until
    /// ``setFormat(_:)`` changes it.
    public static func bootstrap(format: Format) {
        setFormat(format)
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: nil, sink: .standardError) }
    }

    /// Changes the format of every bootstrapped handler, from any thread.
    public static func setFormat(_ format: Format) {
        processFormat.store(format == .json ? 0 : 1, ordering: .relaxed)
    }

    private var format: Format {
        fixedFormat ?? (Self.processFormat.load(ordering: .relaxed) == 0 ? .json : .text)
    }

    /// Handler metadata by key.
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes one event as one line.
    public func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        let line = render(level: event.level, message: event.message.description, metadata: merged, at: Date())
        sink.lock.withLock { sink.write(line) }
    }

    func render(level: Logger.Level, message: String, metadata: Logger.Metadata, at date: Date) -> [UInt8] {
        let time = Self.timestamp(date)
        switch format {
        case .json:
            var out = "{\"time\":\"\(time)\",\"level\":\"\(level.rawValue)\",\"logger\":"
            Self.appendJSONString(label, to: &out)
            out += ",\"message\":"
            Self.appendJSONString(message, to: &out)
            for key in metadata.keys.sorted() where !["time", "level", "logger", "message"].contains(key) {
                out += ","
                Self.appendJSONString(key, to: &out)
                out += ":"
                Self.appendJSON(metadata[key]!, to: &out)
            }
            out += "}\n"
            return Array(out.utf8)
        case .text:
            var out = "\(time) \(level.rawValue) \(message)"
            for key in metadata.keys.sorted() { out += " \(key)=\(metadata[key]!)" }
            out += "\n"
            return Array(out.utf8)
        }
    }

    static func appendJSON(_ value: Logger.Metadata.Value, to out: inout String) {
        switch value {
        case .string(let string): appendJSONString(string, to: &out)
        case .stringConvertible(let convertible): appendJSONString(convertible.description, to: &out)
        case .array(let values):
            out += "["
            for (k, element) in values.enumerated() {
                if k > 0 { out += "," }
                appendJSON(element, to: &out)
            }
            out += "]"
        case .dictionary(let dictionary):
            out += "{"
            for (k, key) in dictionary.keys.sorted().enumerated() {
                if k > 0 { out += "," }
                appendJSONString(key, to: &out)
                out += ":"
                appendJSON(dictionary[key]!, to: &out)
            }
            out += "}"
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, everything else as is (UTF-8).
    static func appendJSONString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    out += String(format: "\\u%04x", scalar.value)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        let millis = Int(((date.timeIntervalSince1970 - Double(seconds)) * 1000).rounded())
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            parts.tm_year + 1900,
            parts.tm_mon + 1,
            parts.tm_mday,
            parts.tm_hour,
            parts.tm_min,
            parts.tm_sec,
            min(999, max(0, millis))
        )
    }
}
