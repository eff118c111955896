import Testing

@testable import CatalogSnapshot

/// The first pass reads ids straight from the wire format; it must agree with a full decode.
@Suite("Reading only the id of an Entity")
struct EntityIDReadTests {
    static let records: [EntityRecord] = [
        EntityRecord(
            id: "v1",
            attributes: ["name": .text("Luigi's"), "location": .geo(GeoPoint(lat: 52.5, lon: 13.4))]
        ),
        EntityRecord(id: "venue-7f3a-ünïcode", attributes: ["rating": .number(4.5), "tags": .tags(["a", "b"])]),
        EntityRecord(id: String(repeating: "x", count: 300), attributes: ["embedding": .embedding([1, 2, 3])]),
        EntityRecord(id: "", attributes: ["price": .number(1)]),
        EntityRecord(
            id: "u9",
            attributes: ["orders": .history([Interaction(entityID: "v1", event: "order", unixMilliseconds: 5)])]
        ),
    ]

    @Test func theIdMatchesTheFullDecode() throws {
        for record in Self.records {
            let bytes = EntityCodec.encode(record)
            #expect(EntityCodec.id(of: bytes) == record.id)
            #expect(EntityCodec.id(of: bytes) == EntityCodec.decode(bytes)?.record.id)
        }
    }

    @Test func theLastIdWinsAsInAFullDecode() {
        // Two id fields (field 1, length-delimited): protobuf keeps the last.
        let bytes: [UInt8] = [0x0A, 0x02, 0x76, 0x31, 0x0A, 0x02, 0x76, 0x32]
        #expect(EntityCodec.id(of: bytes) == "v2")
        #expect(EntityCodec.decode(bytes)?.record.id == "v2")
    }

    @Test func bytesThatAreNotProtobufGiveNilNotACrash() {
        let cases: [[UInt8]] = [
            [0x0A, 0x05, 0x76],  // length past the end
            [0x0A],  // key without a length
            [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],  // endless varint
            [0x00, 0x01],  // field number 0
            [0x0B, 0x0C],  // a group
            [0x09, 0x01, 0x02],  // fixed64 cut short
            [0x0D, 0x01],  // fixed32 cut short
        ]
        for bytes in cases { #expect(EntityCodec.id(of: bytes) == nil, "\(bytes)") }
        #expect(EntityCodec.id(of: []) == "")
    }

    @Test func unknownFieldsOfEveryWireTypeAreSkipped() {
        // field 9 varint, field 10 fixed64, field 11 fixed32, field 12 bytes, then the id.
        let bytes: [UInt8] =
            [0x48, 0x96, 0x01, 0x51, 1, 2, 3, 4, 5, 6, 7, 8, 0x5D, 1, 2, 3, 4, 0x62, 0x01, 0x00]
            + [0x0A, 0x03, 0x61, 0x62, 0x63]
        #expect(EntityCodec.id(of: bytes) == "abc")
    }
}
