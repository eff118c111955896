import Testing

@testable import CatalogSnapshot

@Suite("Display text of attribute values")
struct DisplayTextTests {
    @Test func eachShortTypeReadsAsAPersonWouldWriteIt() {
        #expect(AttributeValue.text("Pizza Roma").displayText == "Pizza Roma")
        #expect(AttributeValue.category("pizza").displayText == "pizza")
        #expect(AttributeValue.reference("v12").displayText == "v12")
        #expect(AttributeValue.number(4).displayText == "4")
        #expect(AttributeValue.number(4.5).displayText == "4.5")
        #expect(AttributeValue.number(12.3456789).displayText == "12.3457")
        #expect(AttributeValue.number(-0.25).displayText == "-0.25")
        #expect(AttributeValue.number(.nan).displayText == "nan")
        #expect(AttributeValue.tags(["pizza", "vegan"]).displayText == "pizza, vegan")
        #expect(AttributeValue.radius(metres: 3500).displayText == "3.5 km")
        #expect(AttributeValue.timestamp(unixMilliseconds: 0).displayText == "1970-01-01T00:00:00.000Z")
        #expect(AttributeValue.geo(GeoPoint(lat: 60.17, lon: 24.94)).displayText == "60.17,24.94")
    }

    @Test func longFormsHaveNoDisplayText() {
        #expect(AttributeValue.embedding([1, 2]).displayText == nil)
        #expect(AttributeValue.history([]).displayText == nil)
        #expect(AttributeValue.schedule(WeeklySchedule(timeZone: "Europe/Helsinki", intervals: [])).displayText == nil)
    }
}
