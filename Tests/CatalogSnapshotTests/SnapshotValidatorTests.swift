import Foundation
import Testing

@testable import CatalogSnapshot

/// One way of breaking the shop snapshot and the problem validate must report for it.
struct BrokenSnapshot: Sendable, CustomTestStringConvertible {
    var name: String
    var problemClass: ProblemClass
    var file: String
    var record: Int?
    var field: String?
    /// Words the message must contain.
    var words: String
    /// The break produces this one problem and no other.
    var alone = true
    var breakRecords: @Sendable (inout [String: [EntityRecord]]) -> Void = { _ in }
    var breakFiles: @Sendable (String) throws -> Void = { _ in }

    /// The shop fixture written into `directory` with this break applied to its records and files.
    func write(in directory: TemporaryDirectory) throws -> String {
        var records = ShopFixture.records
        breakRecords(&records)
        let snapshot = try ShopFixture.write(records, in: directory)
        try breakFiles(snapshot)
        return snapshot
    }

    var testDescription: String { name }
}

private func edit(
    _ kind: String,
    _ index: Int,
    _ change: @escaping @Sendable (inout EntityRecord) -> Void
) -> @Sendable (inout [String: [EntityRecord]]) -> Void {
    { records in change(&records[kind]![index]) }
}

private func editSchedule(
    _ change: @escaping @Sendable (inout WeeklySchedule) -> Void
)
    -> @Sendable (
        inout [String: [EntityRecord]]
    ) -> Void
{
    edit("venue", 0) { record in
        guard case .schedule(var schedule) = record.attributes["hours"] else { return }
        change(&schedule)
        record.attributes["hours"] = .schedule(schedule)
    }
}

let brokenSnapshots: [BrokenSnapshot] = [
    BrokenSnapshot(
        name: "two venues share an id",
        problemClass: .duplicateID,
        file: "venue.pb",
        record: 3,
        field: "id",
        words: "record 1",
        breakRecords: { $0["venue"]!.append(EntityRecord(id: "v1", attributes: $0["venue"]![1].attributes)) }
    ),
    BrokenSnapshot(
        name: "an item refers to a venue that does not exist",
        problemClass: .danglingReference,
        file: "item.pb",
        record: 1,
        field: "venue",
        words: "\"v9\"",
        breakRecords: edit("item", 0) { $0.attributes["venue"] = .reference("v9") }
    ),
    BrokenSnapshot(
        name: "a user's history names an item that does not exist",
        problemClass: .danglingReference,
        file: "user.pb",
        record: 1,
        field: "orders",
        words: "entry 2 names item \"i9\"",
        breakRecords: edit("user", 0) {
            $0.attributes["orders"] = .history([
                Interaction(entityID: "i1", event: "order", unixMilliseconds: 1),
                Interaction(entityID: "i9", event: "order", unixMilliseconds: 2),
            ])
        }
    ),
    BrokenSnapshot(
        name: "a latitude above 90",
        problemClass: .coordinateOutOfRange,
        file: "venue.pb",
        record: 2,
        field: "location",
        words: "latitude 91",
        breakRecords: edit("venue", 1) { $0.attributes["location"] = .geo(GeoPoint(lat: 91, lon: 0)) }
    ),
    BrokenSnapshot(
        name: "a longitude below -180",
        problemClass: .coordinateOutOfRange,
        file: "venue.pb",
        record: 2,
        field: "location",
        words: "longitude -181",
        breakRecords: edit("venue", 1) { $0.attributes["location"] = .geo(GeoPoint(lat: 0, lon: -181)) }
    ),
    BrokenSnapshot(
        name: "a schedule in a time zone that does not exist",
        problemClass: .malformedSchedule,
        file: "venue.pb",
        record: 1,
        field: "hours",
        words: "\"Mars/Olympus_Mons\"",
        breakRecords: editSchedule { $0.timeZone = "Mars/Olympus_Mons" }
    ),
    BrokenSnapshot(
        name: "a schedule opening at minute 1440",
        problemClass: .malformedSchedule,
        file: "venue.pb",
        record: 1,
        field: "hours",
        words: "opens at minute 1440",
        breakRecords: editSchedule { $0.intervals[1].openMinute = 1440 }
    ),
    BrokenSnapshot(
        name: "a schedule closing before it opens",
        problemClass: .malformedSchedule,
        file: "venue.pb",
        record: 1,
        field: "hours",
        words: "closes at minute 500",
        breakRecords: editSchedule { $0.intervals[1].closeMinute = 500 }
    ),
    BrokenSnapshot(
        name: "a schedule on weekday 0",
        problemClass: .malformedSchedule,
        file: "venue.pb",
        record: 1,
        field: "hours",
        words: "weekday 0",
        breakRecords: editSchedule { $0.intervals[1].weekday = 0 }
    ),
    BrokenSnapshot(
        name: "overlapping intervals across midnight",
        problemClass: .malformedSchedule,
        file: "venue.pb",
        record: 1,
        field: "hours",
        words: "intervals 1 (fri 18:00-02:00) and 5 (sat 01:00-03:00) overlap",
        breakRecords: editSchedule { $0.intervals.append(OpenInterval(weekday: 6, openMinute: 60, closeMinute: 180)) }
    ),
    BrokenSnapshot(
        name: "overlapping intervals across the end of the week",
        problemClass: .malformedSchedule,
        file: "venue.pb",
        record: 1,
        field: "hours",
        words: "overlap",
        breakRecords: editSchedule { $0.intervals[3].openMinute = 30 }
    ),
    BrokenSnapshot(
        name: "an embedding of the wrong size",
        problemClass: .embeddingSize,
        file: "venue.pb",
        record: 1,
        field: "embedding",
        words: "3 values, the schema declares 4",
        breakRecords: edit("venue", 0) { $0.attributes["embedding"] = .embedding([1, 2, 3]) }
    ),
    BrokenSnapshot(
        name: "a venue without its required location",
        problemClass: .missingRequired,
        file: "venue.pb",
        record: 2,
        field: "location",
        words: "required geo",
        breakRecords: edit("venue", 1) { $0.attributes["location"] = nil }
    ),
    BrokenSnapshot(
        name: "an entity without an id",
        problemClass: .missingRequired,
        file: "user.pb",
        record: 2,
        field: "id",
        words: "no id",
        breakRecords: edit("user", 1) { $0.id = "" }
    ),
    BrokenSnapshot(
        name: "a price given as a category",
        problemClass: .wrongType,
        file: "item.pb",
        record: 2,
        field: "price",
        words: "expected number, found category",
        breakRecords: edit("item", 1) { $0.attributes["price"] = .category("cheap") }
    ),
    BrokenSnapshot(
        name: "a rating that is not a number",
        problemClass: .invalidValue,
        file: "venue.pb",
        record: 1,
        field: "rating",
        words: "not a finite number",
        breakRecords: edit("venue", 0) { $0.attributes["rating"] = .number(.nan) }
    ),
    BrokenSnapshot(
        name: "a radius of zero",
        problemClass: .invalidValue,
        file: "venue.pb",
        record: 1,
        field: "radius",
        words: "not a positive distance",
        breakRecords: edit("venue", 0) { $0.attributes["radius"] = .radius(metres: 0) }
    ),
    BrokenSnapshot(
        name: "a history event the schema does not allow",
        problemClass: .invalidValue,
        file: "user.pb",
        record: 1,
        field: "orders",
        words: "\"refund\", expected one of order",
        breakRecords: edit("user", 0) {
            $0.attributes["orders"] = .history([Interaction(entityID: "i1", event: "refund", unixMilliseconds: 1)])
        }
    ),
    BrokenSnapshot(
        name: "an attribute the schema does not declare",
        problemClass: .unknownAttribute,
        file: "venue.pb",
        record: 2,
        field: "colour",
        words: "no attribute \"colour\"",
        breakRecords: edit("venue", 1) { $0.attributes["colour"] = .category("red") }
    ),
    BrokenSnapshot(
        name: "a record file whose SHA-256 differs from the manifest",
        problemClass: .checksumMismatch,
        file: "venue.pb",
        words: "the manifest says 00",
        breakFiles: { snapshot in
            try SnapshotSurgery.editManifest(snapshot) { manifest in
                let index = manifest.files.firstIndex { $0.name == "venue.pb" }!
                manifest.files[index].sha256 = String(repeating: "0", count: 64)
            }
        }
    ),
    BrokenSnapshot(
        name: "a schema copy edited after the build",
        problemClass: .checksumMismatch,
        file: "schema.json",
        words: "SHA-256",
        breakFiles: { snapshot in try SnapshotSurgery.append(Array("\n\n".utf8), to: snapshot + "/schema.json") }
    ),
    BrokenSnapshot(
        name: "a manifest counting more records than the file holds",
        problemClass: .recordCountMismatch,
        file: "item.pb",
        words: "2 records read, the manifest says 3",
        breakFiles: { snapshot in
            try SnapshotSurgery.editManifest(snapshot) { manifest in
                let index = manifest.recordCounts.firstIndex { $0.kind == "item" }!
                manifest.recordCounts[index].records = 3
            }
        }
    ),
    BrokenSnapshot(
        name: "a length prefix of a terabyte",
        problemClass: .malformedRecord,
        file: "venue.pb",
        record: 3,
        words: "declares 1099511627776 bytes, over the limit",
        breakFiles: { snapshot in
            try SnapshotSurgery.append(SnapshotSurgery.varint(1 << 40), to: snapshot + "/venue.pb")
            try SnapshotSurgery.refreshChecksums(snapshot)
        }
    ),
    BrokenSnapshot(
        name: "a record cut short by the end of the file",
        problemClass: .malformedRecord,
        file: "item.pb",
        record: 3,
        words: "ends after 3 of the 50 bytes",
        breakFiles: { snapshot in
            try SnapshotSurgery.append([50, 1, 2, 3], to: snapshot + "/item.pb")
            try SnapshotSurgery.refreshChecksums(snapshot)
        }
    ),
    BrokenSnapshot(
        name: "a length prefix longer than ten bytes",
        problemClass: .malformedRecord,
        file: "user.pb",
        record: 3,
        words: "longer than 10 bytes",
        breakFiles: { snapshot in
            try SnapshotSurgery.append([UInt8](repeating: 0xff, count: 11) + [1], to: snapshot + "/user.pb")
            try SnapshotSurgery.refreshChecksums(snapshot)
        }
    ),
    BrokenSnapshot(
        name: "record bytes that are not an Entity",
        problemClass: .malformedRecord,
        file: "user.pb",
        record: 3,
        words: "not a ranking.catalog.v1.Entity",
        breakFiles: { snapshot in
            // Field 1 declared as 5 bytes long with only 1 present inside a 3-byte record.
            try SnapshotSurgery.append([3, 0x0a, 5, 0x41], to: snapshot + "/user.pb")
            try SnapshotSurgery.refreshChecksums(snapshot)
            try SnapshotSurgery.editManifest(snapshot) { manifest in
                let index = manifest.recordCounts.firstIndex { $0.kind == "user" }!
                manifest.recordCounts[index].records = 3
            }
        }
    ),
    BrokenSnapshot(
        name: "an attribute given twice in one record",
        problemClass: .invalidValue,
        file: "item.pb",
        record: 3,
        field: "price",
        words: "given twice",
        breakFiles: { snapshot in
            // Two serialized messages back to back merge into one with both map entries.
            let first = EntityCodec.encode(EntityRecord(id: "i3", attributes: ["price": .number(1)]))
            let second = EntityCodec.encode(
                EntityRecord(id: "i3", attributes: ["price": .number(2), "venue": .reference("v1")])
            )
            try SnapshotSurgery.append(
                SnapshotSurgery.varint(UInt64(first.count + second.count)) + first + second,
                to: snapshot + "/item.pb"
            )
            try SnapshotSurgery.refreshChecksums(snapshot)
            try SnapshotSurgery.editManifest(snapshot) { manifest in
                let index = manifest.recordCounts.firstIndex { $0.kind == "item" }!
                manifest.recordCounts[index].records = 3
            }
        }
    ),
    BrokenSnapshot(
        name: "a value with no type set",
        problemClass: .wrongType,
        file: "venue.pb",
        record: 3,
        field: "rating",
        words: "no type set",
        alone: false,
        breakFiles: { snapshot in
            // Entity { id: "v3", attributes: { "rating": Value {} } }
            let entry: [UInt8] = [0x0a, 6] + Array("rating".utf8) + [0x12, 0]
            let entity: [UInt8] = [0x0a, 2] + Array("v3".utf8) + [0x12, UInt8(entry.count)] + entry
            try SnapshotSurgery.append(
                SnapshotSurgery.varint(UInt64(entity.count)) + entity,
                to: snapshot + "/venue.pb"
            )
            try SnapshotSurgery.refreshChecksums(snapshot)
            try SnapshotSurgery.editManifest(snapshot) { manifest in
                let index = manifest.recordCounts.firstIndex { $0.kind == "venue" }!
                manifest.recordCounts[index].records = 3
            }
        }
    ),
    BrokenSnapshot(
        name: "a record file that is missing",
        problemClass: .missingFile,
        file: "item.pb",
        words: "records of kind item are missing",
        breakFiles: { snapshot in try FileManager.default.removeItem(atPath: snapshot + "/item.pb") }
    ),
    BrokenSnapshot(
        name: "a manifest naming another schema version",
        problemClass: .manifest,
        file: "manifest.json",
        field: "schema",
        words: "shop v1, but schema.json is shop v2",
        breakFiles: { snapshot in try SnapshotSurgery.editManifest(snapshot) { $0.schemaVersion = 1 } }
    ),
    BrokenSnapshot(
        name: "a manifest pointing outside the snapshot folder",
        problemClass: .manifest,
        file: "manifest.json",
        field: "files",
        words: "not a file name inside the snapshot folder",
        breakFiles: { snapshot in
            try SnapshotSurgery.editManifest(snapshot) {
                $0.files.append(.init(name: "../../etc/passwd", bytes: 1, sha256: "00"))
            }
        }
    ),
]

@Suite("Snapshot validation")
struct SnapshotValidatorTests {
    @Test("A snapshot as the writer wrote it is valid")
    func goodSnapshotIsValid() throws {
        let directory = try TemporaryDirectory()
        let snapshot = try ShopFixture.write(in: directory)
        let validation = try SnapshotValidator().validate(directory: snapshot)
        #expect(validation.isValid, "\(validation.text())")
        #expect(validation.recordsRead.map(\.records) == [2, 2, 2])
        #expect(validation.text().hasSuffix("valid, 6 records checked, every checksum matches"))
    }

    @Test("Each broken snapshot is reported with its problem class, file, record and field", arguments: brokenSnapshots)
    func brokenSnapshotIsReported(_ broken: BrokenSnapshot) throws {
        let directory = try TemporaryDirectory()
        let snapshot = try broken.write(in: directory)

        let validation = try SnapshotValidator().validate(directory: snapshot)
        #expect(!validation.isValid)
        let match = validation.problems.listed.first {
            $0.problemClass == broken.problemClass && $0.file == broken.file && $0.record == broken.record
                && $0.field == broken.field
        }
        #expect(match != nil, "expected \(broken.problemClass) in \(broken.file), got:\n\(validation.text())")
        #expect(match?.message.contains(broken.words) == true, "message: \(match?.message ?? "none")")
        if broken.alone {
            #expect(validation.problems.total == 1, "\(validation.text())")
        }
    }

    @Test(
        "Reading each file once reports a broken snapshot exactly as the two passes do",
        arguments: brokenSnapshots
    )
    func onePassReportsAsTwoPasses(_ broken: BrokenSnapshot) throws {
        let directory = try TemporaryDirectory()
        let snapshot = try broken.write(in: directory)
        for limit in [1, 100] {
            var twoPasses = SnapshotValidator(limits: CatalogLimits(maxListedProblems: limit))
            twoPasses.onePass = false
            let expected = try twoPasses.validate(directory: snapshot, keepTables: true)
            let got = try SnapshotValidator(limits: CatalogLimits(maxListedProblems: limit))
                .validate(directory: snapshot, keepTables: true)
            #expect(got.json() == expected.json())
            #expect(got.recordsRead.map(\.records) == expected.recordsRead.map(\.records))
            #expect(got.tables == expected.tables)
        }
    }

    @Test("A valid snapshot read once per file gives the columns of the two passes, whichever path decodes it")
    func onePassReadsAsTwoPasses() throws {
        let directory = try TemporaryDirectory()
        let snapshot = try ShopFixture.write(in: directory)
        for quickPath in [true, false] {
            var twoPasses = SnapshotValidator()
            twoPasses.onePass = false
            twoPasses.quickPath = quickPath
            var onePass = SnapshotValidator()
            onePass.quickPath = quickPath
            let expected = try twoPasses.validate(directory: snapshot, keepTables: true)
            let got = try onePass.validate(directory: snapshot, keepTables: true)
            #expect(got.isValid && expected.isValid)
            #expect(got.tables.count == 3)
            #expect(got.tables == expected.tables)
            #expect(got.generalPathRecords == expected.generalPathRecords)
            #expect(got.text() == expected.text())
        }
    }

    @Test("A manifest counting more records than the file could hold is reported, not allocated")
    func impossibleRecordCount() throws {
        let directory = try TemporaryDirectory()
        let snapshot = try ShopFixture.write(in: directory)
        try SnapshotSurgery.editManifest(snapshot) { manifest in
            manifest.recordCounts = manifest.recordCounts.map {
                (kind: $0.kind, records: $0.kind == "item" ? 1 << 40 : $0.records)
            }
        }
        let validation = try SnapshotValidator().validate(directory: snapshot)
        #expect(validation.problems.listed.contains { $0.problemClass == .recordCountMismatch && $0.file == "item.pb" })
    }

    @Test("Every problem is reported, in file and record order, not just the first")
    func everyProblemIsReported() throws {
        let directory = try TemporaryDirectory()
        var records = ShopFixture.records
        records["user"]![0].attributes["orders"] = .history([
            Interaction(entityID: "i404", event: "order", unixMilliseconds: 1)
        ])
        records["venue"]![1].attributes["location"] = .geo(GeoPoint(lat: 100, lon: 200))
        records["item"]![0].attributes["venue"] = .reference("nowhere")
        records["venue"]![0].attributes["embedding"] = .embedding([])
        let snapshot = try ShopFixture.write(records, in: directory)
        let validation = try SnapshotValidator().validate(directory: snapshot)
        #expect(
            validation.problems.listed.map { "\($0.file):\($0.record ?? 0):\($0.problemClass.rawValue)" } == [
                "venue.pb:1:embedding_size", "venue.pb:2:coordinate_out_of_range", "venue.pb:2:coordinate_out_of_range",
                "item.pb:1:dangling_reference", "user.pb:1:dangling_reference",
            ]
        )
        #expect(validation.text().contains("invalid, 5 problems"))
    }

    @Test("Past the listing limit problems are counted, not kept")
    func problemListIsBounded() throws {
        let directory = try TemporaryDirectory()
        var records = ShopFixture.records
        for _ in 0..<50 { records["venue"]!.append(records["venue"]![0]) }
        let snapshot = try ShopFixture.write(records, in: directory)
        let validation = try SnapshotValidator(limits: CatalogLimits(maxListedProblems: 10)).validate(
            directory: snapshot
        )
        #expect(validation.problems.total == 50)
        #expect(validation.problems.listed.count == 10)
        #expect(validation.problems.counts[.duplicateID] == 50)
        #expect(validation.text().contains("... and 40 more problems not listed"))
        guard case .object = validation.json(), case .integer(40)? = validation.json()["problems_not_listed"] else {
            Issue.record("JSON report lacks problems_not_listed")
            return
        }
    }

    @Test("A record over the size limit is reported without reading it")
    func recordSizeLimit() throws {
        let directory = try TemporaryDirectory()
        let snapshot = try ShopFixture.write(in: directory)
        let validation = try SnapshotValidator(limits: CatalogLimits(maxRecordBytes: 8)).validate(directory: snapshot)
        let problem = validation.problems.listed.first { $0.problemClass == .malformedRecord && $0.file == "venue.pb" }
        #expect(problem?.record == 1)
        #expect(problem?.message.contains("over the limit of 8") == true)
    }

    @Test("The JSON report lists each problem with class, file, record, field and message")
    func jsonReport() throws {
        let directory = try TemporaryDirectory()
        var records = ShopFixture.records
        records["item"]![1].attributes["price"] = nil
        let snapshot = try ShopFixture.write(records, in: directory)
        let report = try SnapshotValidator().validate(directory: snapshot).json()
        #expect(report["valid"] == .bool(false))
        #expect(report["snapshot_id"] == .string("shop-test-1"))
        guard case .array(let problems)? = report["problems"], let first = problems.first else {
            Issue.record("no problems array")
            return
        }
        #expect(first["class"] == .string("missing_required"))
        #expect(first["file"] == .string("item.pb"))
        #expect(first["record"] == .integer(2))
        #expect(first["field"] == .string("price"))
        // The rendered report is JSON that parses back.
        #expect(try JSONValue.parse(Data(report.rendered(pretty: true).utf8)) == report.sortedByKey())
    }

    @Test("A folder that cannot be read as a snapshot at all is unreadable input, not a list of problems")
    func unreadableSnapshots() throws {
        let directory = try TemporaryDirectory()
        #expect(throws: UnreadableInput.self) { try SnapshotValidator().validate(directory: directory.path + "/none") }
        #expect(throws: UnreadableInput.self) { try SnapshotValidator().validate(directory: directory.path) }

        let snapshot = try ShopFixture.write(in: directory)
        try directory.write("snapshot/manifest.json", "{ not json")
        #expect(throws: UnreadableInput.self) { try SnapshotValidator().validate(directory: snapshot) }
        try directory.write("snapshot/manifest.json", #"{"format": "rankd-catalog-snapshot", "format_version": 1}"#)
        #expect(throws: UnreadableInput.self) { try SnapshotValidator().validate(directory: snapshot) }

        let second = try ShopFixture.write(in: directory, name: "second")
        try FileManager.default.removeItem(atPath: second + "/schema.json")
        #expect(throws: UnreadableInput.self) { try SnapshotValidator().validate(directory: second) }
    }
}
