import Dispatch
import ExposureLog
import Foundation
import Ranking
import RedisClient
import RedisTestSupport
import Testing

/// The exposure and event logs: records survive both file formats, files rotate and hold whole records, a full
/// queue drops and counts instead of waiting, a failing folder counts failures, and the Redis Stream copy is real.
@Suite struct ExposureLogTests {
    static func exposure(_ n: Int, user: String = "u1", variant: String = "control") -> ExposureRecord {
        ExposureRecord(
            requestID: "r\(n)",
            timeUnixMs: 1_780_000_000_000 + Int64(n),
            requestTimeUnixMs: 1_780_000_000_000,
            userID: user,
            sessionID: "s1",
            surface: "discovery",
            method: "Recommend",
            assignments: [.init(layer: "ranking", experiment: "discovery-model", variant: variant, plannedShare: 0.5)],
            modelVersion: "lgbm-1",
            snapshotID: "snap-1",
            items: [
                .init(
                    itemID: "v1",
                    position: 0,
                    score: 1.5,
                    modelScore: 1.25,
                    sources: ["nearby", "popular"],
                    section: "for_you"
                ),
                .init(itemID: "v9", position: 1, score: 1.0, modelScore: -0.5, explored: true, section: "for_you"),
            ],
            latencyMicros: 812,
            degradedStages: n % 2 == 0 ? [] : ["score.full"],
            candidateCount: 240
        )
    }

    static let event = EventRecord(
        receivedUnixMs: 1_780_000_000_500,
        eventID: "e1",
        userID: "u1",
        sessionID: "s1",
        kind: "click",
        itemID: "v9",
        surface: "discovery",
        requestID: "r1",
        position: 1,
        timestampUnixMs: 1_780_000_000_400,
        value: 0
    )

    static func folder() -> String {
        let path = NSTemporaryDirectory() + "exposure-log-\(UUID().uuidString)"
        return path
    }

    @Test(arguments: LogFormat.allCases) func recordsComeBackAsWritten(format: LogFormat) throws {
        let path = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var settings = LogSettings()
        settings.format = format
        let exposures = try RecordLog<ExposureRecord>(
            name: "exposure",
            directory: LogDirectory(path: path, prefix: "exposures"),
            settings: settings
        )
        let events = try RecordLog<EventRecord>(
            name: "event",
            directory: LogDirectory(path: path, prefix: "events"),
            settings: settings
        )
        for n in 0..<10 { #expect(exposures.offer(Self.exposure(n))) }
        #expect(events.offer(Self.event))
        exposures.stop()
        events.stop()
        let read: [ExposureRecord] = try LogDirectory(path: path, prefix: "exposures").read()
        #expect(read == (0..<10).map { Self.exposure($0) })
        let readEvents: [EventRecord] = try LogDirectory(path: path, prefix: "events").read()
        #expect(readEvents == [Self.event])
        #expect(exposures.totalsSoFar == .init(written: 10, dropped: 0, failed: 0))
        let names = try FileManager.default.contentsOfDirectory(atPath: path)
        #expect(names.allSatisfy { $0.hasSuffix("." + format.fileExtension) })
    }

    @Test func theWritersBytesAreWhatProtobufCReads() throws {
        // Edge cases of the wire format: negative numbers (ten-byte varints), -0.0 and NaN, text beyond ASCII, empty
        // elements of repeated fields, messages longer than 127 bytes (a wider length) and a record over 16 KiB.
        var record = Self.exposure(3)
        record.userID = "ü-ß-東京-🙂"
        record.latencyMicros = -5
        record.candidateCount = -1
        record.degradedStages = ["", "score.full", ""]
        record.items[0].position = -3
        record.items[0].score = -0.0
        record.items[0].modelScore = .nan
        record.items[0].sources = [String(repeating: "s", count: 300), ""]
        record.items += (0..<700).map {
            .init(itemID: "v\($0)", position: Int32($0), score: 1e300, modelScore: -1e-300)
        }
        let bytes = record.protobuf()
        #expect(bytes.count > 16 << 10)
        let back = try #require(ExposureRecord.decode(protobuf: bytes))
        #expect(back.items[0].modelScore.isNaN)
        #expect(back.items[0].score == 0)
        var comparable = back
        comparable.items[0].modelScore = 0
        record.items[0].modelScore = 0
        #expect(comparable == record)
        // An event of each kind, and one whose kind this build does not know (written as 0, read back as unknown).
        for kind in EventKind.allCases {
            var event = Self.event
            event.kind = kind.name
            event.position = -1
            event.value = -2.5
            #expect(EventRecord.decode(protobuf: event.protobuf()) == event)
        }
        var unknown = Self.event
        unknown.kind = "teleport"
        #expect(EventRecord.decode(protobuf: unknown.protobuf())?.kind == "unknown_0")
    }

    @Test func jsonLinesNameFieldsAsTheProtoDoes() throws {
        let path = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var settings = LogSettings()
        settings.format = .jsonl
        let log = try RecordLog<ExposureRecord>(
            name: "exposure",
            directory: LogDirectory(path: path, prefix: "exposures"),
            settings: settings
        )
        log.offer(Self.exposure(1))
        log.stop()
        let file = try #require(try LogDirectory(path: path, prefix: "exposures").files().first)
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text.hasSuffix("}\n"))
        for key in ["\"request_id\":\"r1\"", "\"model_score\":1.25", "\"latency_micros\":812", "\"explored\":true"] {
            #expect(text.contains(key), "missing \(key) in \(text)")
        }
    }

    @Test func filesRotateBySizeAndHoldWholeRecords() throws {
        let path = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var settings = LogSettings()
        settings.maxFileBytes = 2_000
        settings.flushIntervalSeconds = 0.01
        let log = try RecordLog<ExposureRecord>(
            name: "exposure",
            directory: LogDirectory(path: path, prefix: "exposures"),
            settings: settings
        )
        for n in 0..<200 {
            log.offer(Self.exposure(n))
            if n % 10 == 9 { log.flush() }
        }
        log.stop()
        let directory = LogDirectory(path: path, prefix: "exposures")
        #expect(try directory.files().count > 5)
        let read: [ExposureRecord] = try directory.read()
        #expect(read.map(\.requestID) == (0..<200).map { "r\($0)" })
        // A reader's bound: more records than it may hold is an error, not an out-of-memory.
        #expect {
            let _: [ExposureRecord] = try directory.read(limit: 150)
        } throws: { error in
            "\(error)".hasPrefix("more than 150 exposures records in \(path)")
        }
    }

    @Test func aTruncatedLastRecordIsLeftOutAndACorruptOneIsNamed() throws {
        let path = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try RecordLog<ExposureRecord>(
            name: "exposure",
            directory: LogDirectory(path: path, prefix: "exposures"),
        )
        for n in 0..<3 { log.offer(Self.exposure(n)) }
        log.stop()
        let directory = LogDirectory(path: path, prefix: "exposures")
        let file = try #require(try directory.files().first).path
        let whole = try Data(contentsOf: URL(fileURLWithPath: file))
        // Cut short by a crash in the middle of the last record: the first two are read.
        try whole.prefix(whole.count - 7).write(to: URL(fileURLWithPath: file))
        #expect(try (directory.read() as [ExposureRecord]).count == 2)
        // A record whose bytes are not an Exposure is an error naming the file and the record.
        var corrupt = Data([5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
        corrupt.append(whole)
        try corrupt.write(to: URL(fileURLWithPath: file))
        #expect {
            let _: [ExposureRecord] = try directory.read()
        } throws: { error in
            "\(error)".contains("record 1 is not a valid ExposureRecord") && "\(error)".contains(file)
        }
        // A JSON line that is not a record names its line.
        let lines = (path as NSString).appendingPathComponent("exposures-20990101T000000Z-000001.jsonl")
        try Data("{\"oops\":1}\n".utf8).write(to: URL(fileURLWithPath: lines))
        try FileManager.default.removeItem(atPath: file)
        #expect {
            let _: [ExposureRecord] = try directory.read()
        } throws: { error in
            "\(error)".contains("line 1 is not a valid ExposureRecord")
        }
    }

    @Test func aFullQueueDropsAndCountsWithoutWaiting() throws {
        let path = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        var settings = LogSettings()
        settings.queueCapacity = 8
        // The writer takes the first record and is held in the sink: nothing else leaves the queue until released.
        let sink = HeldSink()
        let log = try RecordLog<ExposureRecord>(
            name: "exposure",
            directory: LogDirectory(path: path, prefix: "exposures"),
            sinks: [sink],
            settings: settings
        )
        #expect(log.offer(Self.exposure(0)))
        sink.entered.wait()
        var accepted = 0
        for n in 1...20 where log.offer(Self.exposure(n)) { accepted += 1 }
        #expect(accepted == 8)
        #expect(log.totalsSoFar.dropped == 12)
        sink.release.signal()
        log.stop()
        #expect(log.totalsSoFar == .init(written: 9, dropped: 12, failed: 0))
        // After stop, records are dropped and counted, never written half.
        #expect(!log.offer(Self.exposure(99)))
        #expect(log.totalsSoFar.dropped == 13)
        let read: [ExposureRecord] = try LogDirectory(path: path, prefix: "exposures").read()
        #expect(read.map(\.requestID) == (0...8).map { "r\($0)" })
    }

    @Test func aFolderThatCannotBeUsedIsRefusedAtStart() throws {
        let file = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: file) }
        _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        #expect {
            _ = try RecordLog<ExposureRecord>(
                name: "exposure",
                directory: LogDirectory(path: file, prefix: "exposures")
            )
        } throws: { error in
            "\(error)".contains("is a file, not a folder")
        }
    }

    @Test func writesThatFailAreCountedAsFailed() throws {
        let path = Self.folder()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let log = try RecordLog<ExposureRecord>(
            name: "exposure",
            directory: LogDirectory(path: path, prefix: "exposures"),
            sinks: [FailingSink()]
        )
        log.offer(Self.exposure(1))
        log.stop()
        #expect(log.totalsSoFar == .init(written: 0, dropped: 0, failed: 1))
    }

    @Test func theRedisStreamHoldsEveryRecordAndStaysBounded() throws {
        try withRedisServer { server in
            let pool = RedisPool(endpoint: server.endpoint)
            defer { pool.close() }
            let log = try RecordLog<ExposureRecord>(
                name: "exposure",
                directory: nil,
                sinks: [RedisStreamSink(pool: pool, key: "rankd:exposures", maxLength: 100)]
            )
            for n in 0..<50 { log.offer(Self.exposure(n)) }
            log.stop()
            #expect(log.totalsSoFar.written == 50)
            let reply = try pool.send(["XRANGE", "rankd:exposures", "-", "+"], deadline: .now() + .seconds(5))
            let entries = try #require(reply.arrayValue)
            #expect(entries.count == 50)
            let fields = try #require(entries.first?.arrayValue?.last?.arrayValue)
            #expect(fields.first?.stringValue == "r")
            let bytes = try #require(fields.last?.bytesValue)
            #expect(ExposureRecord.decode(protobuf: bytes) == Self.exposure(0))

            // Trimmed to about maxLength (Redis trims whole nodes with "~", so a little over is allowed).
            let bounded = try RecordLog<ExposureRecord>(
                name: "exposure",
                directory: nil,
                sinks: [RedisStreamSink(pool: pool, key: "rankd:bounded", maxLength: 100)]
            )
            for n in 0..<2_000 { bounded.offer(Self.exposure(n)) }
            bounded.stop()
            let length = try pool.send(["XLEN", "rankd:bounded"], deadline: .now() + .seconds(5)).integerValue ?? 0
            #expect(length >= 100 && length < 400)

            // Redis gone: the records are counted as failed, and the log goes on.
            server.kill()
            let orphan = try RecordLog<ExposureRecord>(
                name: "exposure",
                directory: nil,
                sinks: [RedisStreamSink(pool: pool, key: "rankd:exposures", timeout: .milliseconds(300))]
            )
            orphan.offer(Self.exposure(1))
            orphan.stop()
            #expect(orphan.totalsSoFar == .init(written: 0, dropped: 0, failed: 1))
        }
    }
}

/// Holds the writer in its first write until released.
private final class HeldSink: LogSink, @unchecked Sendable {
    let name = "held"
    let entered = DispatchSemaphore(value: 0)
    let release = DispatchSemaphore(value: 0)
    private var first = true

    func write(_ records: [[UInt8]]) throws {
        // Only the writer thread calls write, one batch at a time.
        guard first else { return }
        first = false
        entered.signal()
        release.wait()
    }
}

private struct FailingSink: LogSink {
    let name = "failing"
    struct Refused: Error {}
    func write(_ records: [[UInt8]]) throws { throw Refused() }
}
