/// `EntityRecord` to the bytes of a `ranking.catalog.v1.Entity`, written straight in the wire format.
///
/// The bytes are exactly what protobuf-c writes for the same record (the tests compare the two on every value
/// type and edge), so checksums do not depend on which wrote a snapshot: attributes sorted by name; proto3 defaults
/// (an empty id, a zero coordinate (-0.0 too), minute or time) left out; oneof members always written; repeated floats packed;
/// text cut at a NUL, as protobuf-c's C strings end there.
struct EntityEncoder {
    private(set) var bytes: [UInt8] = []

    /// The serialized Entity.
    static func encode(_ record: EntityRecord) -> [UInt8] {
        var encoder = EntityEncoder()
        encoder.bytes.reserveCapacity(64)
        encoder.string(1, record.id, omitEmpty: true)
        for name in record.attributes.keys.sorted() {
            encoder.message(2) { entry in
                entry.string(1, name, omitEmpty: true)
                entry.message(2) { $0.value(record.attributes[name]!) }
            }
        }
        return encoder.bytes
    }

    private mutating func value(_ value: AttributeValue) {
        switch value {
        case .number(let x): double(1, x, omitZero: false)
        case .category(let text): string(2, text, omitEmpty: false)
        case .tags(let tags):
            message(3) { list in
                for tag in tags { list.string(1, tag, omitEmpty: false) }
            }
        case .geo(let point):
            message(4) { geo in
                geo.double(1, point.lat, omitZero: true)
                geo.double(2, point.lon, omitZero: true)
            }
        case .radius(let metres): double(5, metres, omitZero: false)
        case .schedule(let schedule):
            message(6) { week in
                week.string(1, schedule.timeZone, omitEmpty: true)
                for interval in schedule.intervals {
                    week.message(2) { open in
                        // An enum is an int32 on the wire: out-of-range weekdays clamp as protobuf-c's field does.
                        let weekday = Int32(bitPattern: UInt32(clamping: interval.weekday))
                        if weekday != 0 { open.varint(1, UInt64(bitPattern: Int64(weekday))) }
                        let openMinute = UInt32(clamping: interval.openMinute)
                        if openMinute != 0 { open.varint(2, UInt64(openMinute)) }
                        let closeMinute = UInt32(clamping: interval.closeMinute)
                        if closeMinute != 0 { open.varint(3, UInt64(closeMinute)) }
                    }
                }
            }
        case .timestamp(let milliseconds): varint(7, UInt64(bitPattern: milliseconds))
        case .embedding(let values):
            message(8) { embedding in
                guard !values.isEmpty else { return }
                embedding.key(1, wireType: 2)
                embedding.raw(UInt64(values.count * 4))
                for x in values {
                    let bits = x.bitPattern
                    for shift in stride(from: 0, to: 32, by: 8) {
                        embedding.bytes.append(UInt8(truncatingIfNeeded: bits >> UInt32(shift)))
                    }
                }
            }
        case .reference(let id): string(9, id, omitEmpty: false)
        case .history(let interactions):
            message(10) { history in
                for interaction in interactions {
                    history.message(1) { entry in
                        entry.string(1, interaction.entityID, omitEmpty: true)
                        entry.string(2, interaction.event, omitEmpty: true)
                        if interaction.unixMilliseconds != 0 {
                            entry.varint(3, UInt64(bitPattern: interaction.unixMilliseconds))
                        }
                    }
                }
            }
        case .text(let text): string(11, text, omitEmpty: false)
        }
    }

    // MARK: Wire format

    private mutating func raw(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    private mutating func key(_ field: Int, wireType: Int) { raw(UInt64(field << 3 | wireType)) }

    private mutating func varint(_ field: Int, _ value: UInt64) {
        key(field, wireType: 0)
        raw(value)
    }

    private mutating func double(_ field: Int, _ value: Double, omitZero: Bool) {
        // protobuf-c leaves out a proto3 double equal to zero, -0.0 included.
        if omitZero && value == 0 { return }
        let bits = value.bitPattern
        key(field, wireType: 1)
        for shift in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift))) }
    }

    private mutating func string(_ field: Int, _ text: String, omitEmpty: Bool) {
        var text = text
        text.withUTF8 { utf8 in
            let end = utf8.firstIndex(of: 0) ?? utf8.count
            if omitEmpty && end == 0 { return }
            key(field, wireType: 2)
            raw(UInt64(end))
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[0..<end]))
        }
    }

    /// A length-delimited sub-message written by `body`; its length is written in front once known.
    private mutating func message(_ field: Int, _ body: (inout EntityEncoder) -> Void) {
        key(field, wireType: 2)
        let start = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - start - 1
        if length < 0x80 {
            bytes[start] = UInt8(length)
            return
        }
        var prefix = EntityEncoder()
        prefix.raw(UInt64(length))
        bytes.replaceSubrange(start..<(start + 1), with: prefix.bytes)
    }
}
