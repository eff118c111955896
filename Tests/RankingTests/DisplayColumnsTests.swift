import Testing

@testable import Ranking

@Suite struct DisplayColumnsTests {
    @Test func valuesComeBackPerEntityInFieldOrderWithoutEmptyOnes() {
        let columns = DisplayColumns(
            fields: ["name", "cuisine", "rating"],
            values: [["Pizza Roma", "pizza", "4.5"], ["", "sushi", ""], ["Ünïcode café", "", "3"]]
        )
        #expect(columns.count == 3)
        #expect(
            columns.values(of: 0).map { "\($0.name)=\($0.value)" } == [
                "name=Pizza Roma", "cuisine=pizza", "rating=4.5",
            ]
        )
        #expect(columns.values(of: 1).map { "\($0.name)=\($0.value)" } == ["cuisine=sushi"])
        #expect(columns.values(of: 2).map { "\($0.name)=\($0.value)" } == ["name=Ünïcode café", "rating=3"])
    }

    @Test func outOfRangeAndEmptyColumnsGiveNothing() {
        let columns = DisplayColumns(fields: ["name"], values: [["a"]])
        #expect(columns.values(of: -1).isEmpty)
        #expect(columns.values(of: 1).isEmpty)
        #expect(DisplayColumns().count == 0)
        #expect(DisplayColumns().values(of: 0).isEmpty)
    }

    @Test func theSeparatorInsideAValueCannotShiftTheFields() {
        let columns = DisplayColumns(fields: ["name", "cuisine"], values: [["a\u{1F}b", "pizza"]])
        #expect(columns.values(of: 0).map(\.value) == ["a b", "pizza"])
    }

    /// Joining columns of values: each field's value for an entity, a range outside its bytes or an entity past its
    /// field's ends empty, the separator inside a value a space, fields without values still separated.
    @Test func columnsOfValuesJoinPerEntity() {
        let names: (bytes: [UInt8], ends: [UInt32]) = (Array("Roma\u{1F}XSushiÜ".utf8), [6, 6, 11, 13])
        let cuisines: (bytes: [UInt8], ends: [UInt32]) = (Array("pizzasushi".utf8), [5, 10, 99])
        let columns = DisplayColumns(fields: ["name", "cuisine"], count: 5, values: [names, cuisines])
        #expect(columns.count == 5)
        func shown(_ k: Int) -> [String] { columns.values(of: k).map { "\($0.name)=\($0.value)" } }
        #expect(shown(0) == ["name=Roma X", "cuisine=pizza"])
        #expect(shown(1) == ["cuisine=sushi"])
        #expect(shown(2) == ["name=Sushi"])
        #expect(shown(3) == ["name=Ü"])
        #expect(shown(4).isEmpty)
        // Ends that go backwards give an empty value, not a crash.
        let backwards = DisplayColumns(fields: ["name"], count: 2, values: [(Array("abc".utf8), [3, 1])])
        #expect(backwards.values(of: 0).map(\.value) == ["abc"] && backwards.values(of: 1).isEmpty)
        // Fewer columns than fields: the missing fields are empty, the ones after them still in their place.
        let short = DisplayColumns(fields: ["name", "cuisine", "rating"], count: 1, values: [(Array("a".utf8), [1])])
        #expect(short.values(of: 0).map(\.name) == ["name"])
        #expect(DisplayColumns(fields: ["name"], count: 0, values: [names]).count == 0)
        #expect(DisplayColumns(fields: [], count: 2, values: []).values(of: 1).isEmpty)
    }

    @Test func extraValuesBeyondTheFieldsAreIgnored() {
        let columns = DisplayColumns(fields: ["name"], values: [["a", "b", "c"]])
        #expect(columns.values(of: 0).map(\.value) == ["a"])
    }
}

@Suite struct DropReasonTests {
    @Test func positionsFollowAllCases() {
        #expect(DropReason.allCases.map(\.position) == Array(DropReason.allCases.indices))
    }
}
