import Foundation
import Testing

@testable import CatalogSnapshot

/// The shop fixture's records as input tables: venues in CSV, items in JSON Lines, users in CSV.
private let venueCSV = """
    id,name,location,radius,hours,cuisine,tags,rating,opened,embedding
    v1,Luigi's,"52.52,13.405",3000,Europe/Berlin; fri 18:00-02:00; sat 10:00-22:00; sun 20:00-01:00; mon 01:00-10:00,\
    pizza,pizza|italian,4.5,2023-04-01T00:00:00Z,0.1|-0.2|0.3|0.4
    v2,"Sushi Go","-33.86 151.2",,,,,,,

    """

private let itemJSONLines = """
    {"id": "i1", "venue": "v1", "price": 9.5}

    {"id": "i2", "venue": "v2", "price": 12}

    """

private let userCSV = """
    id,orders
    u1,i1:order:2024-05-01T19:00:00Z|i2:order:1714600000000
    u2,

    """

private func writeInputs(
    _ directory: TemporaryDirectory,
    venues: String = venueCSV,
    items: String = itemJSONLines,
    users: String = userCSV
) throws {
    try directory.write("in/venue.csv", venues)
    try directory.write("in/item.jsonl", items)
    try directory.write("in/user.csv", users)
}

@Suite("Snapshot build")
struct SnapshotBuilderTests {
    @Test("CSV and JSON Lines tables build into a snapshot that validates and reads back equal to the rows")
    func roundTrip() throws {
        let directory = try TemporaryDirectory()
        try writeInputs(directory)
        let output = directory.file("snapshot").path
        let build = try SnapshotBuilder(schema: ShopFixture.schema).build(
            inputDirectory: directory.file("in").path,
            output: output
        )
        #expect(build.problems.isEmpty, "\(build.text())")
        let manifest = try #require(build.manifest)
        #expect(manifest.recordCounts.map(\.records) == [2, 2, 2])
        #expect(manifest.snapshotID.hasPrefix("shop-"))

        let validation = try SnapshotValidator().validate(directory: output)
        #expect(validation.isValid, "\(validation.text())")

        let reader = try SnapshotReader(directory: output)
        #expect(reader.schema == ShopFixture.schema)
        #expect(reader.manifest == manifest)
        for kind in ["venue", "item", "user"] {
            #expect(try reader.records(of: kind) == ShopFixture.records[kind]!, "\(kind)")
        }
    }

    @Test("Building the same tables twice gives byte-identical record files")
    func deterministic() throws {
        let directory = try TemporaryDirectory()
        try writeInputs(directory)
        let builder = SnapshotBuilder(schema: ShopFixture.schema)
        let first = try #require(
            try builder.build(inputDirectory: directory.file("in").path, output: directory.file("a").path).manifest
        )
        let second = try #require(
            try builder.build(inputDirectory: directory.file("in").path, output: directory.file("b").path).manifest
        )
        #expect(first.files == second.files)
    }

    @Test("Broken rows are each reported with their input file, record, line and field, and nothing is written")
    func brokenRowsAreReported() throws {
        let directory = try TemporaryDirectory()
        let venues = """
            id,name,location,radius,hours,colour
            v1,"A, B","95,13",-1,Europe/Nowhere; mon 10:00-12:00,red
            v1,"multi
            line",abc,10,"Europe/Berlin; mon 09:00-11:00; mon 10:00-12:00",blue
            v3,C,"1,1",10,Europe/Berlin; funday 10:00-11:00,

            """
        let items = """
            {"id": "i1", "venue": "v9", "price": "cheap"}
            not json
            {"id": "i2", "venue": "v1", "price": 3, "extra": 1}

            """
        try writeInputs(directory, venues: venues, items: items)
        let output = directory.file("snapshot").path
        let build = try SnapshotBuilder(schema: ShopFixture.schema).build(
            inputDirectory: directory.file("in").path,
            output: output
        )
        #expect(build.manifest == nil)
        #expect(!FileManager.default.fileExists(atPath: output))
        let found = build.problems.listed.map {
            "\($0.file) \($0.record.map(String.init) ?? "-") \($0.line.map(String.init) ?? "-") "
                + "\($0.field ?? "-") \($0.problemClass.rawValue)"
        }
        #expect(
            found == [
                "venue.csv - 1 colour unknown_attribute",
                "venue.csv 1 2 hours malformed_schedule",
                "venue.csv 1 2 location coordinate_out_of_range",
                "venue.csv 1 2 radius invalid_value",
                "venue.csv 2 3 id duplicate_id",
                "venue.csv 2 3 location wrong_type",
                "venue.csv 2 3 hours malformed_schedule",
                "venue.csv 3 5 hours malformed_schedule",
                "item.jsonl 1 1 price wrong_type",
                "item.jsonl 1 1 venue dangling_reference",
                "item.jsonl 2 2 - malformed_record",
                "item.jsonl 3 3 extra unknown_attribute",
            ],
            "\(build.text())"
        )
        // A value that could not be read is reported once, not again as missing.
        #expect(!found.contains("item.jsonl 1 1 price missing_required"))
    }

    @Test("A kind without an input table, or with two, is reported; references to it are not all reported")
    func missingAndAmbiguousInputs() throws {
        let directory = try TemporaryDirectory()
        try writeInputs(directory)
        try FileManager.default.removeItem(at: directory.file("in/item.jsonl"))
        try directory.write("in/user.jsonl", "")
        let build = try SnapshotBuilder(schema: ShopFixture.schema).build(
            inputDirectory: directory.file("in").path,
            output: directory.file("out").path
        )
        #expect(build.problems.listed.map(\.problemClass) == [.missingFile, .missingFile], "\(build.text())")
        #expect(build.problems.listed.contains { $0.message.contains("no item.csv, item.jsonl or item.parquet") })
        #expect(build.problems.listed.contains { $0.message.contains("user.csv, user.jsonl") })
    }

    @Test("A CSV without an id column, or with a column twice, is reported once and not read")
    func headerProblems() throws {
        let directory = try TemporaryDirectory()
        try writeInputs(directory, venues: "name,location\nA,\"1,1\"\n", users: "id,orders,orders\nu1,,\n")
        let build = try SnapshotBuilder(schema: ShopFixture.schema).build(
            inputDirectory: directory.file("in").path,
            output: directory.file("out").path
        )
        let classes = build.problems.listed.map { "\($0.file) \($0.problemClass.rawValue) \($0.field ?? "-")" }
        #expect(classes.contains("venue.csv missing_required id"))
        #expect(classes.contains("user.csv malformed_record orders"))
    }

    @Test("Input that cannot be read at all throws instead of reporting problems")
    func unreadableInput() throws {
        let directory = try TemporaryDirectory()
        let builder = SnapshotBuilder(schema: ShopFixture.schema)
        #expect(throws: UnreadableInput.self) {
            try builder.build(inputDirectory: directory.file("none").path, output: directory.file("out").path)
        }
        try writeInputs(directory)
        try FileManager.default.createDirectory(at: directory.file("exists"), withIntermediateDirectories: true)
        #expect(throws: UnreadableInput.self) {
            try builder.build(inputDirectory: directory.file("in").path, output: directory.file("exists").path)
        }
        try FileManager.default.removeItem(at: directory.file("in/item.jsonl"))
        try directory.write("in/item.parquet", "not parquet")
        #expect(throws: UnreadableInput.self) {
            try builder.build(inputDirectory: directory.file("in").path, output: directory.file("out").path)
        }
    }

    @Test("JSON Lines values may use JSON types or the CSV text forms")
    func jsonLinesForms() throws {
        let directory = try TemporaryDirectory()
        let venues = """
            {"id": "v1", "name": "Luigi's", "location": {"lat": 52.52, "lon": 13.405}, "radius": 3000, \
            "hours": {"time_zone": "Europe/Berlin", "intervals": [{"weekday": "fri", "open": "18:00", "close": "02:00"}, \
            {"weekday": 6, "open": 600, "close": 1320}, {"weekday": "sun", "open": "20:00", "close": "01:00"}, \
            {"weekday": "mon", "open": "01:00", "close": "10:00"}]}, "cuisine": "pizza", "tags": ["pizza", "italian"], \
            "rating": 4.5, "opened": 1680307200000, "embedding": [0.1, -0.2, 0.3, 0.4]}
            {"id": "v2", "name": "Sushi Go", "location": [-33.86, 151.2], "radius": null}
            """
        try directory.write("in/venue.jsonl", venues)
        try directory.write("in/item.jsonl", itemJSONLines)
        try directory.write(
            "in/user.jsonl",
            """
            {"id": "u1", "orders": [{"entity_id": "i1", "event": "order", "time": "2024-05-01T19:00:00Z"}, \
            {"entity_id": "i2", "event": "order", "unix_ms": 1714600000000}]}
            {"id": "u2"}
            """
        )
        let output = directory.file("snapshot").path
        let build = try SnapshotBuilder(schema: ShopFixture.schema).build(
            inputDirectory: directory.file("in").path,
            output: output
        )
        #expect(build.problems.isEmpty, "\(build.text())")
        let reader = try SnapshotReader(directory: output)
        for kind in ["venue", "item", "user"] {
            #expect(try reader.records(of: kind) == ShopFixture.records[kind]!, "\(kind)")
        }
    }
}

@Suite("docs/data.md examples")
struct DocumentationExampleTests {
    /// The example tables in docs/data.md: each fenced block preceded by `<!-- example: SCHEMA/FILE -->`.
    static func examples() throws -> [String: [String: String]] {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/data.md"), encoding: .utf8)
        var examples: [String: [String: String]] = [:]
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var index = 0
        while index < lines.count {
            let line = lines[index]
            index += 1
            guard line.hasPrefix("<!-- example: "), line.hasSuffix(" -->") else { continue }
            let name = line.dropFirst("<!-- example: ".count).dropLast(" -->".count)
            let parts = name.split(separator: "/")
            guard parts.count == 2, index < lines.count, lines[index].hasPrefix("```") else { continue }
            index += 1
            var body: [String] = []
            while index < lines.count, !lines[index].hasPrefix("```") {
                body.append(lines[index])
                index += 1
            }
            examples[String(parts[0]), default: [:]][String(parts[1])] = body.joined(separator: "\n") + "\n"
        }
        return examples
    }

    @Test(
        "The example tables in docs/data.md build into valid snapshots with the shipped schemas",
        arguments: ["marketplace", "music"]
    )
    func examplesBuild(schemaName: String) throws {
        let tables = try #require(try DocumentationExampleTests.examples()[schemaName], "no examples for \(schemaName)")
        let schema = try CatalogSchema.load(
            path: repositoryRoot.appendingPathComponent("schemas/\(schemaName).json").path
        )
        #expect(Set(tables.keys) == Set(schema.kinds.map { "\($0.name).csv" }))
        let directory = try TemporaryDirectory()
        for (file, text) in tables { try directory.write("in/\(file)", text) }
        let output = directory.file("snapshot").path
        let build = try SnapshotBuilder(schema: schema).build(inputDirectory: directory.file("in").path, output: output)
        #expect(build.problems.isEmpty, "\(build.text())")
        #expect(try SnapshotValidator().validate(directory: output).isValid)
    }
}
