import Testing

@testable import CatalogSnapshot

/// `EntityEncoder` writes the wire format itself; its bytes must be protobuf-c's, byte for byte, so a snapshot's
/// checksums do not depend on which wrote it.
@Suite("Entity records into the wire format")
struct EntityEncoderTests {
    static let records: [EntityRecord] = [
        EntityRecord(id: ""),
        EntityRecord(id: "v1"),
        EntityRecord(
            id: "venue-7f3a-ünïcode",
            attributes: [
                "name": .text("Luigi's"), "empty_text": .text(""), "nul_text": .text("a\u{0}b"),
                "location": .geo(GeoPoint(lat: 52.52, lon: 13.405)), "origin": .geo(GeoPoint(lat: 0, lon: -0.0)),
                "radius": .radius(metres: 3000), "zero_radius": .radius(metres: 0),
                "cuisine": .category("pizza"), "empty_category": .category(""),
                "tags": .tags(["pizza", "", "italian"]), "no_tags": .tags([]),
                "rating": .number(4.5), "zero": .number(0), "negative_zero": .number(-0.0),
                "opened": .timestamp(unixMilliseconds: 1_680_307_200_000),
                "epoch": .timestamp(unixMilliseconds: 0), "before_epoch": .timestamp(unixMilliseconds: -1),
                "embedding": .embedding([0.1, -0.2, 0, .infinity]), "no_embedding": .embedding([]),
                "big_embedding": .embedding((0..<300).map { Float($0) / 7 }),
                "venue": .reference("v9"), "empty_reference": .reference(""),
            ]
        ),
        EntityRecord(
            id: "v2",
            attributes: [
                "hours": .schedule(
                    WeeklySchedule(
                        timeZone: "Europe/Berlin",
                        intervals: [
                            OpenInterval(weekday: 5, openMinute: 1080, closeMinute: 1560),
                            OpenInterval(weekday: 0, openMinute: 0, closeMinute: 0),
                            OpenInterval(weekday: -3, openMinute: -1, closeMinute: 5_000_000_000),
                            OpenInterval(weekday: 9_000_000_000, openMinute: 1, closeMinute: 2),
                        ]
                    )
                ),
                "closed": .schedule(WeeklySchedule(timeZone: "", intervals: [])),
            ]
        ),
        EntityRecord(
            id: "u1",
            attributes: [
                "orders": .history(
                    (0..<200).map {
                        Interaction(
                            entityID: "i\($0)",
                            event: $0 % 3 == 0 ? "" : "order",
                            unixMilliseconds: Int64($0 - 1)
                        )
                    }
                ),
                "nothing": .history([]),
                "blank": .history([Interaction(entityID: "", event: "", unixMilliseconds: 0)]),
            ]
        ),
    ]

    @Test(arguments: records.indices)
    func theBytesAreProtobufCs(_ index: Int) {
        let record = Self.records[index]
        #expect(EntityCodec.encode(record) == EntityCodec.encodeThroughProtobufC(record))
    }

    @Test func theBytesDecodeBackToTheRecord() throws {
        let record = Self.records[2]
        let decoded = try #require(EntityCodec.decode(EntityCodec.encode(record)))
        #expect(decoded.record.attributes["rating"] == .number(4.5))
        #expect(decoded.record.attributes["tags"] == .tags(["pizza", "", "italian"]))
        #expect(decoded.record.attributes["nul_text"] == .text("a"))
        #expect(decoded.record.id == record.id)
    }
}
