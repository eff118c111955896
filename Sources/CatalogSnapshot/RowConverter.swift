/// One cell of an input row: CSV text or a JSON value from a JSON Lines object.
enum Cell {
    case text(String)
    case json(JSONValue)
}

/// Turns an input row (cells by column name) into an `EntityRecord` of one kind, with an issue for each cell it
/// cannot read. An empty CSV cell or a JSON null is no value.
struct RowConverter {
    let kind: EntityKindSpec

    func record(_ cells: [(name: String, cell: Cell)]) -> (EntityRecord, [RecordIssue]) {
        var record = EntityRecord(id: "")
        var issues: [RecordIssue] = []
        for (name, cell) in cells {
            if name == "id" {
                switch cell {
                case .text(let text): record.id = text
                case .json(.string(let text)): record.id = text
                case .json(.integer(let number)): record.id = String(number)
                case .json(.null): break
                case .json(let other):
                    issues.append(
                        RecordIssue(problemClass: .wrongType, field: "id", message: "id is \(other.typeName)")
                    )
                }
                continue
            }
            guard let spec = kind.attribute(named: name) else {
                // Unknown columns are reported once per file by the reader, unknown JSON members once per record.
                if case .json(let value) = cell, value != .null {
                    issues.append(
                        RecordIssue(
                            problemClass: .unknownAttribute,
                            field: name,
                            message: "kind \(kind.name) declares no attribute \"\(name)\""
                        )
                    )
                }
                continue
            }
            let parsed: Result<AttributeValue, ValueTextError>?
            switch cell {
            case .text(let text): parsed = text.isEmpty ? nil : ValueText.parse(text, as: spec.type)
            case .json(let value): parsed = RowConverter.value(value, as: spec)
            }
            switch parsed {
            case .none: break
            case .success(let value)?: record.attributes[name] = value
            case .failure(let error)?:
                let (problemClass, message) = error.issue
                issues.append(RecordIssue(problemClass: problemClass, field: name, message: message))
            }
        }
        return (record, issues)
    }

    /// A JSON value as a value of the attribute's type; nil for null. A string is read with the text syntax of
    /// `ValueText`, so exports may write any value as text.
    static func value(_ json: JSONValue, as spec: AttributeSpec) -> Result<AttributeValue, ValueTextError>? {
        if case .null = json { return nil }
        if case .string(let text) = json {
            if text.isEmpty && spec.type != .text { return nil }
            return ValueText.parse(text, as: spec.type)
        }
        func wrong(_ expected: String) -> Result<AttributeValue, ValueTextError> {
            .failure(.wrongType("expected \(expected), found \(json.typeName)"))
        }
        switch spec.type {
        case .number:
            guard let number = json.doubleValue else { return wrong("a number") }
            return .success(.number(number))
        case .radius:
            guard let metres = json.doubleValue else { return wrong("a distance in metres") }
            return .success(.radius(metres: metres))
        case .category, .reference, .text:
            guard case .integer(let number) = json else { return wrong("a string") }
            let text = String(number)
            switch spec.type {
            case .category: return .success(.category(text))
            case .reference: return .success(.reference(text))
            default: return .success(.text(text))
            }
        case .tags:
            guard case .array(let elements) = json else { return wrong("an array of strings") }
            var tags: [String] = []
            for element in elements {
                guard let tag = element.stringValue else { return wrong("an array of strings") }
                tags.append(tag)
            }
            return .success(.tags(tags))
        case .geo:
            if case .array(let pair) = json, pair.count == 2, let lat = pair[0].doubleValue,
                let lon = pair[1].doubleValue
            {
                return .success(.geo(GeoPoint(lat: lat, lon: lon)))
            }
            if let lat = json["lat"]?.doubleValue, let lon = json["lon"]?.doubleValue {
                return .success(.geo(GeoPoint(lat: lat, lon: lon)))
            }
            return wrong("{\"lat\": ..., \"lon\": ...} or [lat, lon]")
        case .timestamp:
            guard case .integer(let milliseconds) = json else { return wrong("Unix milliseconds") }
            return .success(.timestamp(unixMilliseconds: milliseconds))
        case .embedding:
            guard case .array(let elements) = json else { return wrong("an array of numbers") }
            var values: [Float] = []
            values.reserveCapacity(elements.count)
            for element in elements {
                guard let value = element.doubleValue else { return wrong("an array of numbers") }
                values.append(Float(value))
            }
            return .success(.embedding(values))
        case .history:
            guard case .array(let elements) = json else {
                return wrong("an array of {\"entity_id\", \"event\", \"time\"}")
            }
            var entries: [Interaction] = []
            for (index, element) in elements.enumerated() {
                guard let id = element["entity_id"]?.stringValue, let event = element["event"]?.stringValue else {
                    return .failure(.wrongType("entry \(index + 1) lacks entity_id or event"))
                }
                let time: Int64?
                switch element["time"] ?? element["unix_ms"] {
                case .integer(let milliseconds)?: time = milliseconds
                case .string(let text)?: time = ValueText.timestamp(text)
                default: time = nil
                }
                guard let time else {
                    return .failure(.wrongType("entry \(index + 1) has no time (Unix milliseconds or ISO 8601)"))
                }
                entries.append(Interaction(entityID: id, event: event, unixMilliseconds: time))
            }
            return .success(.history(entries))
        case .schedule:
            guard let zone = json["time_zone"]?.stringValue, case .array(let elements)? = json["intervals"] else {
                return wrong("a schedule string or {\"time_zone\", \"intervals\"}")
            }
            var intervals: [OpenInterval] = []
            for (index, element) in elements.enumerated() {
                let day: Int?
                switch element["weekday"] {
                case .integer(let number)?: day = Int(exactly: number)
                case .string(let name)?: day = ValueText.weekdays(name).flatMap { $0.count == 1 ? $0[0] : nil }
                default: day = nil
                }
                guard let day, let open = minute(element["open"]), var close = minute(element["close"]) else {
                    return .failure(
                        .malformedSchedule(
                            "interval \(index + 1) needs weekday, open and close (minutes or \"HH:MM\")"
                        )
                    )
                }
                // As in the text syntax, an "HH:MM" close at or before the opening is on the next day.
                if case .string? = element["close"], close <= open { close += 1440 }
                intervals.append(OpenInterval(weekday: day, openMinute: open, closeMinute: close))
            }
            return .success(.schedule(WeeklySchedule(timeZone: zone, intervals: intervals)))
        }
    }

    /// A minute of a schedule interval: an integer (a close above 1440 is after midnight), or `HH:MM`.
    private static func minute(_ value: JSONValue?) -> Int? {
        switch value {
        case .integer(let number)?: return Int(exactly: number)
        case .string(let text)?: return ValueText.clock(text)
        default: return nil
        }
    }
}
