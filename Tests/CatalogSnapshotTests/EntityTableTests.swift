import Foundation
import Testing

@testable import CatalogSnapshot

/// Validation reads a snapshot's records into columns: the quick path straight from the wire format, the general
/// path (protobuf-c and `RecordChecker`) for anything unusual. Both must give the same columns.
@Suite("Snapshot records into columns")
struct EntityTableTests {
    static func tables(_ path: String, quickPath: Bool = true) throws -> SnapshotValidation {
        var validator = SnapshotValidator()
        validator.quickPath = quickPath
        return try validator.validate(directory: path, keepTables: true)
    }

    @Test func theQuickPathTakesEveryCleanRecordAndAgreesWithTheGeneralPath() throws {
        let directory = try TemporaryDirectory()
        let path = try ShopFixture.write(in: directory)
        let quick = try Self.tables(path)
        let general = try Self.tables(path, quickPath: false)
        #expect(quick.isValid && general.isValid)
        #expect(quick.generalPathRecords == 0)
        #expect(general.generalPathRecords == 6)
        #expect(quick.tables.map(\.kind.name) == ["venue", "item", "user"])
        #expect(quick.tables == general.tables)
    }

    /// The shop schema with the values of `cuisine` and `tags` declared, "pizza" last.
    static let declaredSchema = try! CatalogSchema.parse(
        Data(
            ShopFixture.schemaText
                .replacingOccurrences(
                    of: #"{"name": "cuisine", "type": "category"}"#,
                    with: #"{"name": "cuisine", "type": "category", "values": ["sushi", "italian", "pizza"]}"#
                )
                .replacingOccurrences(
                    of: #"{"name": "tags", "type": "tags"}"#,
                    with: #"{"name": "tags", "type": "tags", "values": ["sushi", "italian", "pizza"]}"#
                ).utf8
        ),
        file: "shop.json"
    )

    @Test func declaredValuesTakeTheCodesOfTheirOrderOnBothPaths() throws {
        let directory = try TemporaryDirectory()
        let path = try ShopFixture.write(in: directory, schema: Self.declaredSchema)
        let quick = try Self.tables(path)
        let general = try Self.tables(path, quickPath: false)
        #expect(quick.isValid && general.isValid)
        #expect(quick.generalPathRecords == 0)
        #expect(quick.tables == general.tables)
        let venues = try #require(quick.table("venue"))
        let cuisine = try #require(venues.column("cuisine"))
        #expect(cuisine.codes[0] == 2)
        let tags = try #require(venues.column("tags"))
        #expect(tags.entries(0).map { tags.codes[$0] } == [2, 1])
    }

    @Test func aValueTheSchemaDoesNotDeclareIsReportedWithItsRecordOnBothPaths() throws {
        var records = ShopFixture.records
        records["venue"]![1].attributes["cuisine"] = .category("ramen")
        records["venue"]![1].attributes["tags"] = .tags(["sushi", "tacos", ""])
        let directory = try TemporaryDirectory()
        let path = try ShopFixture.write(records, in: directory, schema: Self.declaredSchema)
        for quickPath in [true, false] {
            let validation = try Self.tables(path, quickPath: quickPath)
            #expect(!validation.isValid)
            let lines = validation.problems.listed.map(\.description)
            #expect(
                lines.contains(
                    "venue.pb: record 2: field cuisine: invalid_value: \"ramen\" is not one of the declared values "
                        + "(sushi, italian, pizza)"
                ),
                "\(lines)"
            )
            #expect(
                lines.contains { $0.hasPrefix("venue.pb: record 2: field tags: invalid_value: tag 3 of 3 is empty") }
            )
            #expect(
                lines.contains {
                    $0.hasSuffix(
                        "field tags: invalid_value: tag 2 of 3, \"tacos\", is not one of the declared values "
                            + "(sushi, italian, pizza)"
                    )
                }
            )
        }
    }

    @Test func everyAttributeTypeLandsInItsColumns() throws {
        let directory = try TemporaryDirectory()
        let validation = try Self.tables(try ShopFixture.write(in: directory))
        let venues = try #require(validation.table("venue"))
        #expect(venues.count == 2 && venues.ids[0] == "v1" && venues.ids[1] == "v2")
        let name = try #require(venues.column("name"))
        #expect(name.text[0] == "Luigi's" && name.text[1] == "Sushi Go")
        let location = try #require(venues.column("location"))
        #expect(location.latitudes == [52.52, -33.86] && location.longitudes == [13.405, 151.2])
        let radius = try #require(venues.column("radius"))
        #expect(radius.present == [true, false] && radius.numbers[0] == 3000)
        let hours = try #require(venues.column("hours"))
        #expect(hours.names[Int(hours.codes[0])] == "Europe/Berlin" && hours.codes[1] == -1)
        #expect(hours.entries(0) == 0..<4 && hours.entries(1) == 4..<4)
        #expect(hours.intervals[0] == OpenInterval(weekday: 5, openMinute: 1080, closeMinute: 1560))
        let cuisine = try #require(venues.column("cuisine"))
        #expect(cuisine.names[Int(cuisine.codes[0])] == "pizza" && !cuisine.present[1])
        let tags = try #require(venues.column("tags"))
        #expect(tags.entries(0).map { tags.names[Int(tags.codes[$0])] } == ["pizza", "italian"])
        #expect(venues.column("rating")?.numbers[0] == 4.5)
        #expect(venues.column("opened")?.integers[0] == 1_680_307_200_000)
        #expect(venues.column("embedding")?.floats[0..<4] == [0.1, -0.2, 0.3, 0.4])
        #expect(venues.column("embedding")?.floats[4..<8] == [0, 0, 0, 0])

        let items = try #require(validation.table("item"))
        #expect(items.column("venue")?.codes == [0, 1])
        let users = try #require(validation.table("user"))
        let orders = try #require(users.column("orders"))
        #expect(orders.entries(0) == 0..<2 && orders.entries(1) == 2..<2)
        #expect(orders.codes == [0, 1] && orders.integers == [1_714_590_000_000, 1_714_600_000_000])
        #expect(orders.events == [0, 0] && orders.names[0] == "order")
    }

    @Test func displayTextFromColumnsMatchesTheValuesOwn() throws {
        let directory = try TemporaryDirectory()
        let validation = try Self.tables(try ShopFixture.write(in: directory))
        let venues = try #require(validation.table("venue"))
        let record = ShopFixture.records["venue"]![0]
        for (a, spec) in venues.kind.attributes.enumerated() {
            var bytes: [UInt8] = []
            venues.appendDisplayText(of: 0, attribute: a, targetIDs: nil, to: &bytes)
            #expect(
                String(decoding: bytes, as: UTF8.self) == record.attributes[spec.name]?.displayText ?? "",
                "\(spec.name)"
            )
        }
        let items = try #require(validation.table("item"))
        var bytes: [UInt8] = []
        items.appendDisplayText(of: 1, attribute: 0, targetIDs: venues.ids, to: &bytes)
        #expect(String(decoding: bytes, as: UTF8.self) == "v2")
    }

    /// A column's display texts, gathered a column at a time, are each entity's own, in the order asked for: every
    /// attribute type, entities with and without a value, references with and without their targets' ids.
    @Test func displayTextsOfAColumnAreEachEntitysOwnInTheOrderAsked() throws {
        let directory = try TemporaryDirectory()
        let validation = try Self.tables(try ShopFixture.write(in: directory))
        let venues = try #require(validation.table("venue"))
        for table in validation.tables {
            for a in table.kind.attributes.indices {
                for order in [nil, Array((0..<table.count).reversed())] {
                    for targetIDs in [nil, venues.ids] {
                        let texts = table.displayTexts(attribute: a, order: order, targetIDs: targetIDs)
                        let expected = (0..<table.count).map { n in
                            var bytes: [UInt8] = []
                            table.appendDisplayText(of: order?[n] ?? n, attribute: a, targetIDs: targetIDs, to: &bytes)
                            return String(decoding: bytes, as: UTF8.self)
                        }
                        #expect(
                            (0..<texts.count).map { texts[$0] } == expected,
                            "\(table.kind.name).\(table.kind.attributes[a].name)"
                        )
                    }
                }
            }
        }
        let items = try #require(validation.table("item"))
        let reversed = items.displayTexts(attribute: 0, order: [1, 0], targetIDs: venues.ids)
        #expect(reversed[0] == "v2" && reversed[1] == "v1")
        let names = venues.displayTexts(attribute: 0, order: nil, targetIDs: nil)
        #expect(names[0] == "Luigi's" && names[1] == "Sushi Go")
    }

    /// Gathering strings by index: a negative or unknown index gives an empty string, empty strings stay empty,
    /// and the same string may be taken several times.
    @Test func gatheringStringsTakesEachIndexOrNothing() {
        var source = PackedStrings()
        for text in ["alpha", "", "γδ", "z"] { source.append(text) }
        let picks = [2, -1, 0, 4, 1, 3, 2, Int.max]
        let gathered = PackedStrings(gathering: picks.count, from: source) { picks[$0] }
        #expect((0..<gathered.count).map { gathered[$0] } == ["γδ", "", "alpha", "", "", "z", "γδ", ""])
        #expect(gathered.bytes.count == 2 * "γδ".utf8.count + 5 + 1)
        let none = PackedStrings(gathering: 3, from: PackedStrings()) { $0 }
        #expect(none.count == 3 && none.bytes.isEmpty)
        #expect(PackedStrings(gathering: 0, from: source) { $0 }.count == 0)
    }

    /// Valid but unusual encodings go down the general path and still load, with the same values.
    @Test(arguments: [
        ("an unknown field after the attributes", [UInt8]([0x78, 0x01])),
        ("the id given twice, the last one counting", [UInt8]([0x0A, 0x02, 0x69, 0x32])),
    ])
    func unusualEncodingsTakeTheGeneralPath(_ name: String, _ suffix: [UInt8]) throws {
        let directory = try TemporaryDirectory()
        let path = try ShopFixture.write(in: directory)
        let clean = try Self.tables(path)
        // Rewrite item.pb with its second record extended by `suffix`.
        let items = ShopFixture.records["item"]!.map { EntityCodec.encode($0) }
        var file: [UInt8] = []
        for (index, var bytes) in items.enumerated() {
            if index == 1 { bytes += suffix }
            file += SnapshotSurgery.varint(UInt64(bytes.count)) + bytes
        }
        try Data(file).write(to: URL(fileURLWithPath: path + "/item.pb"))
        try SnapshotSurgery.refreshChecksums(path)
        let unusual = try Self.tables(path)
        #expect(unusual.isValid, "\(unusual.text())")
        #expect(unusual.generalPathRecords == 1)
        #expect(unusual.tables == clean.tables)
    }

    @Test func textThatIsNotASCIIStaysOnTheQuickPath() throws {
        let directory = try TemporaryDirectory()
        var records = ShopFixture.records
        records["venue"]![1].attributes["name"] = .text("Café Zoë 寿司")
        records["venue"]![1].attributes["cuisine"] = .category("café")
        let validation = try Self.tables(try ShopFixture.write(records, in: directory))
        #expect(validation.isValid && validation.generalPathRecords == 0)
        #expect(validation.table("venue")?.column("name")?.text[1] == "Café Zoë 寿司")
    }

    @Test func anInvalidSnapshotKeepsNoTables() throws {
        let directory = try TemporaryDirectory()
        var records = ShopFixture.records
        records["item"]![0].attributes["venue"] = .reference("v9")
        let validation = try Self.tables(try ShopFixture.write(records, in: directory))
        #expect(!validation.isValid && validation.tables.isEmpty)
        #expect(validation.problems.listed.map(\.problemClass) == [.danglingReference])
    }

    /// Long histories whose events change from entry to entry, and embeddings, which the quick path reads in bulk:
    /// the same columns as the general path, entry for entry.
    @Test func longHistoriesAndEmbeddingsReadTheSameOnBothPaths() throws {
        let schema = try CatalogSchema.parse(
            Data(
                """
                {"name": "plays", "version": 1, "kinds": [
                  {"name": "track", "attributes": [{"name": "vector", "type": "embedding", "dimension": 3}]},
                  {"name": "user", "attributes": [{"name": "heard", "type": "history", "target": "track"}]}
                ]}
                """.utf8
            )
        )
        let directory = try TemporaryDirectory()
        let path = directory.file("snapshot").path
        let writer = try SnapshotWriter(schema: schema, directory: path)
        for t in 1...50 {
            let vector: [Float] = [Float(t), -0.5 / Float(t), 1e-30]
            try writer.append(EntityRecord(id: "t\(t)", attributes: ["vector": .embedding(vector)]), kind: "track")
        }
        let events = ["play", "skip", "play", "complete", "complete"]
        for (u, length) in [0, 1, 2, 7, 300, 1].enumerated() {
            let history = (0..<length).map {
                Interaction(
                    entityID: "t\($0 * 7 % 50 + 1)",
                    event: events[$0 % events.count],
                    unixMilliseconds: 1_714_586_400_000 + Int64($0) * 86_400_123
                )
            }
            try writer.append(EntityRecord(id: "u\(u + 1)", attributes: ["heard": .history(history)]), kind: "user")
        }
        try writer.finish(snapshotID: "plays-1")
        let quick = try Self.tables(path)
        let general = try Self.tables(path, quickPath: false)
        #expect(quick.isValid && general.isValid)
        #expect(quick.generalPathRecords == 0)
        #expect(quick.tables == general.tables)
        let heard = try #require(quick.table("user")?.column("heard"))
        #expect(heard.entries(4).count == 300)
        #expect(Array(heard.entries(4).map { heard.names[Int(heard.events[$0])] }.prefix(6)) == events + ["play"])
        let vector = try #require(quick.table("track")?.column("vector"))
        #expect(Array(vector.floats[3..<6]) == [2, -0.25, 1e-30])
    }

    @Test func historiesWithMoreDistinctEventsThanTheColumnsHoldAreRefused() throws {
        let schema = try CatalogSchema.parse(
            Data(
                """
                {"name": "plays", "version": 1, "kinds": [
                  {"name": "track", "attributes": []},
                  {"name": "user", "attributes": [{"name": "heard", "type": "history", "target": "track"}]}
                ]}
                """.utf8
            )
        )
        let directory = try TemporaryDirectory()
        let path = directory.file("snapshot").path
        let writer = try SnapshotWriter(schema: schema, directory: path)
        try writer.append(EntityRecord(id: "t1"), kind: "track")
        let events = (0...EntityTableDecoder.maximumEvents).map {
            Interaction(entityID: "t1", event: "e\($0)", unixMilliseconds: Int64($0))
        }
        try writer.append(EntityRecord(id: "u1", attributes: ["heard": .history(events)]), kind: "user")
        try writer.finish(snapshotID: "plays-1")
        let validation = try Self.tables(path)
        #expect(!validation.isValid)
        let problem = try #require(validation.problems.listed.first)
        #expect(problem.problemClass == .invalidValue && problem.field == "heard" && problem.file == "user.pb")
        #expect(problem.message.contains("more than 256 distinct events"))
    }

    @Test func shortNumbersMatchPrintfRounding() {
        func printf(_ x: Double) -> String {
            var text = String(format: "%.4f", x)
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
            return text
        }
        var state: UInt64 = 12345
        var values: [Double] = [0.00005, 0.00015, 1.23455, -0.00001, -0.5, 2.5e-5, 12.34565, 9.99995, 0.1, 1e13 + 0.5]
        for _ in 0..<20_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let unit = Double(state >> 11) / Double(1 << 53)
            let scale = [1.0, 10, 1000, 1e6, 0.001][Int(state & 3)]
            values.append((unit - 0.3) * scale)
            values.append(((unit * 20_000).rounded() + 0.5) / 10_000)  // exact ties in decimal, near ties in binary
        }
        for x in values where x != x.rounded() {
            #expect(AttributeValue.shortNumber(x) == printf(x), "\(x)")
        }
        // Whole numbers take the digits alone, up to 1e15 and past it (printf there); -0 reads as 0.
        let wholes: [Double] = [0, 1, -1, 7, 10, -120, 99_999, 1e14, 999_999_999_999_999, 1e15, -1e15 - 2, 3e17]
        for x in wholes {
            #expect(AttributeValue.shortNumber(x) == printf(x), "\(x)")
        }
        #expect(AttributeValue.shortNumber(-0.0) == "0")
        #expect(AttributeValue.shortNumber(0.00001) == "0" && AttributeValue.shortNumber(-0.00001) == "-0")
        #expect(AttributeValue.shortNumber(.infinity) == "inf" && AttributeValue.shortNumber(-.infinity) == "-inf")
    }
}
