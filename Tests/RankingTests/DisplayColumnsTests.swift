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
