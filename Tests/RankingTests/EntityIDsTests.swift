import Testing

@testable import Ranking

@Suite struct EntityIDsTests {
    @Test func numberedIDsAreThePrefixAndThePositionPlusOne() {
        let ids = EntityIDs.positional(prefix: "v", count: Int(Int32.max))
        for position in [0, 8, 9, 10, 98, 99, 100, 12_345, 999_999, Int(Int32.max) - 1] {
            #expect(ids.id(position) == "v" + String(position + 1))
            #expect(ids.position(ids.id(position)) == position)
        }
        #expect(Catalog.venueID(0) == "v1")
        #expect(Catalog.itemID(41) == "i42")
        #expect(Catalog.userID(9) == "u10")
        #expect(Catalog.brandID(99) == "b100")
        // Not an entity's position, but still written the way interpolation would.
        #expect(Catalog.venueID(-1) == "v0")
        #expect(Catalog.venueID(-11) == "v-10")
        #expect(EntityIDs.numbered(prefix: UInt8(ascii: "t"), Int.max) == "t" + String(Int.max))
    }
}
