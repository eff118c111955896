import CRankingProto
import Foundation
import ProtoSupport
import Ranking

/// How log files hold their records.
public enum LogFormat: String, Sendable, CaseIterable {
    /// Length-delimited protobuf: each record's size as a varint, then its bytes (`.pb` files).
    case protobuf
    /// One JSON object per line, for people (`.jsonl` files).
    case jsonl

    /// The file name extension, without the dot.
    public var fileExtension: String { self == .protobuf ? "pb" : "jsonl" }
}

/// A record the log can hold: encoded as its proto message or as a JSON line.
public protocol LogRecord: Sendable, Codable {
    /// Writes the record's fields as its proto message.
    func write(to writer: inout ProtoWriter)
    /// Decodes one record's protobuf bytes; nil when they do not parse.
    static func decode(protobuf bytes: [UInt8]) -> Self?
}

extension LogRecord {
    /// The record's protobuf bytes (without the length prefix).
    public func protobuf() -> [UInt8] {
        var writer = ProtoWriter()
        write(to: &writer)
        return writer.bytes
    }
}

/// Why a log file could not be read.
public struct LogReadError: Error, CustomStringConvertible {
    public var description: String
}

enum LogCoding {
    static let jsonEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "Infinity",
            negativeInfinity: "-Infinity",
            nan: "NaN"
        )
        return encoder
    }()

    static let jsonDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "Infinity",
            negativeInfinity: "-Infinity",
            nan: "NaN"
        )
        return decoder
    }()

    /// Appends `record` to `out` in `format`: a varint length and the bytes, or a JSON line.
    static func append<Record: LogRecord>(_ record: Record, format: LogFormat, to out: inout [UInt8]) {
        switch format {
        case .protobuf:
            var writer = ProtoWriter()
            swap(&writer.bytes, &out)
            writer.delimited { record.write(to: &$0) }
            swap(&writer.bytes, &out)
        case .jsonl:
            // Encoding plain strings and numbers cannot fail; a record that somehow does is skipped, not half-written.
            guard let line = try? jsonEncoder.encode(record) else { return }
            out += line
            out.append(0x0A)
        }
    }

    /// Every record of one file's contents. A truncated last record (a file cut short by a crash while writing) is
    /// left out; anything else that does not parse is an error naming the record.
    static func records<Record: LogRecord>(
        _ data: [UInt8],
        format: LogFormat,
        file: String
    ) throws -> [Record] {
        var records: [Record] = []
        switch format {
        case .protobuf:
            var at = 0
            while at < data.count {
                var size: UInt64 = 0
                var shift: UInt64 = 0
                var end = at
                while true {
                    guard end < data.count else { return records }  // truncated length: an interrupted write
                    let byte = data[end]
                    end += 1
                    guard shift < 64 else {
                        throw LogReadError(description: "\(file): record \(records.count + 1) has a malformed length")
                    }
                    size |= UInt64(byte & 0x7F) << shift
                    shift += 7
                    if byte < 0x80 { break }
                }
                guard size <= UInt64(data.count - end) else { return records }  // truncated body
                let bytes = Array(data[end..<(end + Int(size))])
                guard let record = Record.decode(protobuf: bytes) else {
                    throw LogReadError(
                        description: "\(file): record \(records.count + 1) is not a valid \(Record.self)"
                    )
                }
                records.append(record)
                at = end + Int(size)
            }
        case .jsonl:
            var lineStart = 0
            var line = 0
            while lineStart < data.count {
                guard let newline = data[lineStart...].firstIndex(of: 0x0A) else { break }  // unterminated: interrupted
                line += 1
                if newline > lineStart {
                    do {
                        records.append(try jsonDecoder.decode(Record.self, from: Data(data[lineStart..<newline])))
                    } catch {
                        throw LogReadError(description: "\(file): line \(line) is not a valid \(Record.self): \(error)")
                    }
                }
                lineStart = newline + 1
            }
        }
        return records
    }
}

extension ExposureRecord: LogRecord {
    public func write(to writer: inout ProtoWriter) {
        writer.string(1, requestID)
        writer.int64(2, timeUnixMs)
        writer.int64(3, requestTimeUnixMs)
        writer.string(4, userID)
        writer.string(5, sessionID)
        writer.string(6, surface)
        writer.string(7, method)
        for assignment in assignments {
            writer.message(8) { w in
                w.string(1, assignment.layer)
                w.string(2, assignment.experiment)
                w.string(3, assignment.variant)
                w.double(4, assignment.plannedShare)
            }
        }
        writer.string(9, modelVersion)
        writer.string(10, snapshotID)
        for item in items {
            writer.message(11) { w in
                w.string(1, item.itemID)
                w.int32(2, item.position)
                w.double(3, item.score)
                w.double(4, item.modelScore)
                w.strings(5, item.sources)
                w.bool(6, item.explored)
                w.bool(7, item.pinned)
                w.string(8, item.section)
            }
        }
        writer.int64(12, latencyMicros)
        writer.strings(13, degradedStages)
        writer.int32(14, candidateCount)
    }

    public static func decode(protobuf bytes: [UInt8]) -> ExposureRecord? {
        guard let decoded = try? ProtoC.decode(bytes, as: ranking__exposure__v1__exposure__init) else { return nil }
        let m = decoded.message
        return ExposureRecord(
            requestID: ProtoC.string(m.request_id),
            timeUnixMs: m.time_unix_ms,
            requestTimeUnixMs: m.request_time_unix_ms,
            userID: ProtoC.string(m.user_id),
            sessionID: ProtoC.string(m.session_id),
            surface: ProtoC.string(m.surface),
            method: ProtoC.string(m.method),
            assignments: ProtoC.messages(m.assignments, count: m.n_assignments).map {
                Assignment(
                    layer: ProtoC.string($0.pointee.layer),
                    experiment: ProtoC.string($0.pointee.experiment),
                    variant: ProtoC.string($0.pointee.variant),
                    plannedShare: $0.pointee.planned_share
                )
            },
            modelVersion: ProtoC.string(m.model_version),
            snapshotID: ProtoC.string(m.snapshot_id),
            items: ProtoC.messages(m.items, count: m.n_items).map { pointer in
                let item = pointer.pointee
                return Item(
                    itemID: ProtoC.string(item.item_id),
                    position: item.position,
                    score: item.score,
                    modelScore: item.model_score,
                    sources: ProtoC.array(item.sources, count: item.n_sources) { ProtoC.string($0) },
                    explored: item.explored != 0,
                    pinned: item.pinned != 0,
                    section: ProtoC.string(item.section)
                )
            },
            latencyMicros: m.latency_micros,
            degradedStages: ProtoC.array(m.degraded_stages, count: m.n_degraded_stages) { ProtoC.string($0) },
            candidateCount: m.candidate_count
        )
    }
}

extension EventRecord: LogRecord {
    /// The record of an event as the online store accepted it.
    public init(_ event: OnlineEvent, receivedUnixMs: Int64) {
        self.init(
            receivedUnixMs: receivedUnixMs,
            eventID: event.eventID,
            userID: event.userID,
            sessionID: event.sessionID,
            kind: event.kind.name,
            itemID: event.itemID,
            surface: event.surface,
            requestID: event.requestID,
            position: event.position,
            timestampUnixMs: event.timeMs,
            value: event.value
        )
    }

    public func write(to writer: inout ProtoWriter) {
        writer.int64(1, receivedUnixMs)
        writer.message(2) { w in
            w.string(1, eventID)
            w.string(2, userID)
            w.string(3, sessionID)
            w.enumeration(4, EventKind(name: kind)?.rawValue ?? 0)
            w.string(5, itemID)
            w.string(6, surface)
            w.string(7, requestID)
            w.int32(8, position)
            w.int64(9, timestampUnixMs)
            w.double(10, value)
        }
    }

    public static func decode(protobuf bytes: [UInt8]) -> EventRecord? {
        guard let decoded = try? ProtoC.decode(bytes, as: ranking__exposure__v1__logged_event__init),
            let event = decoded.message.event?.pointee
        else { return nil }
        let kind = EventKind(rawValue: Int(event.kind.rawValue))?.name ?? "unknown_\(event.kind.rawValue)"
        return EventRecord(
            receivedUnixMs: decoded.message.received_unix_ms,
            eventID: ProtoC.string(event.event_id),
            userID: ProtoC.string(event.user_id),
            sessionID: ProtoC.string(event.session_id),
            kind: kind,
            itemID: ProtoC.string(event.item_id),
            surface: ProtoC.string(event.surface),
            requestID: ProtoC.string(event.request_id),
            position: event.position,
            timestampUnixMs: event.timestamp_unix_ms,
            value: event.value
        )
    }
}
