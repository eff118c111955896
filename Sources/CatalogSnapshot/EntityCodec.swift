import CRankingProto
import Foundation
import ProtoSupport

/// A problem found while turning record bytes into an `EntityRecord`, before its file and record number are known.
struct RecordIssue: Equatable {
    var problemClass: ProblemClass
    var field: String?
    var message: String
}

/// `EntityRecord` to and from the bytes of a `ranking.catalog.v1.Entity`, through protobuf-c.
public enum EntityCodec {
    /// The protobuf-c descriptor of `ranking.catalog.v1.Entity`.
    static let descriptor = ProtoC.descriptor(of: ranking__catalog__v1__entity__init)

    /// The serialized Entity. Attributes are written sorted by name, so equal records give equal bytes and a
    /// snapshot's checksums depend only on its content. Written straight in the wire format by `EntityEncoder`.
    public static func encode(_ record: EntityRecord) -> [UInt8] { EntityEncoder.encode(record) }

    /// The same bytes through protobuf-c: the reference the tests hold `EntityEncoder` to.
    static func encodeThroughProtobufC(_ record: EntityRecord) -> [UInt8] {
        let arena = ProtoArena()
        var entity = Ranking__Catalog__V1__Entity()
        ranking__catalog__v1__entity__init(&entity)
        entity.id = arena.string(record.id)
        let entries: [UnsafeMutablePointer<Ranking__Catalog__V1__Entity__AttributesEntry>?] =
            record.attributes.keys.sorted().map { name in
                var entry = Ranking__Catalog__V1__Entity__AttributesEntry()
                ranking__catalog__v1__entity__attributes_entry__init(&entry)
                entry.key = arena.string(name)
                entry.value = arena.make(value(record.attributes[name]!, arena: arena))
                return arena.make(entry)
            }
        entity.n_attributes = entries.count
        entity.attributes = arena.array(entries)
        return ProtoC.encode(&entity)
    }

    private static func value(_ value: AttributeValue, arena: ProtoArena) -> Ranking__Catalog__V1__Value {
        var message = Ranking__Catalog__V1__Value()
        ranking__catalog__v1__value__init(&message)
        switch value {
        case .number(let number):
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_NUMBER
            message.number = number
        case .category(let text):
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_CATEGORY
            message.category = arena.string(text)
        case .tags(let tags):
            var list = Ranking__Catalog__V1__Tags()
            ranking__catalog__v1__tags__init(&list)
            list.n_values = tags.count
            list.values = arena.array(tags.map { Optional(arena.string($0)) })
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_TAGS
            message.tags = arena.make(list)
        case .geo(let point):
            var geo = Ranking__Catalog__V1__GeoPoint()
            ranking__catalog__v1__geo_point__init(&geo)
            geo.lat = point.lat
            geo.lon = point.lon
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_GEO
            message.geo = arena.make(geo)
        case .radius(let metres):
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_RADIUS_M
            message.radius_m = metres
        case .schedule(let schedule):
            var week = Ranking__Catalog__V1__WeeklySchedule()
            ranking__catalog__v1__weekly_schedule__init(&week)
            week.time_zone = arena.string(schedule.timeZone)
            let intervals: [UnsafeMutablePointer<Ranking__Catalog__V1__OpenInterval>?] = schedule.intervals.map {
                var interval = Ranking__Catalog__V1__OpenInterval()
                ranking__catalog__v1__open_interval__init(&interval)
                interval.weekday = Ranking__Catalog__V1__Weekday(rawValue: numericCast(UInt32(clamping: $0.weekday)))
                interval.open_minute = UInt32(clamping: $0.openMinute)
                interval.close_minute = UInt32(clamping: $0.closeMinute)
                return arena.make(interval)
            }
            week.n_intervals = intervals.count
            week.intervals = arena.array(intervals)
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_SCHEDULE
            message.schedule = arena.make(week)
        case .timestamp(let milliseconds):
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_TIMESTAMP_UNIX_MS
            message.timestamp_unix_ms = milliseconds
        case .embedding(let values):
            var embedding = Ranking__Catalog__V1__Embedding()
            ranking__catalog__v1__embedding__init(&embedding)
            embedding.n_values = values.count
            embedding.values = arena.array(values)
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_EMBEDDING
            message.embedding = arena.make(embedding)
        case .reference(let id):
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_REFERENCE
            message.reference = arena.string(id)
        case .history(let interactions):
            var history = Ranking__Catalog__V1__InteractionHistory()
            ranking__catalog__v1__interaction_history__init(&history)
            let entries: [UnsafeMutablePointer<Ranking__Catalog__V1__Interaction>?] = interactions.map {
                var interaction = Ranking__Catalog__V1__Interaction()
                ranking__catalog__v1__interaction__init(&interaction)
                interaction.entity_id = arena.string($0.entityID)
                interaction.event = arena.string($0.event)
                interaction.unix_ms = $0.unixMilliseconds
                return arena.make(interaction)
            }
            history.n_interactions = entries.count
            history.interactions = arena.array(entries)
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_HISTORY
            message.history = arena.make(history)
        case .text(let text):
            message.kind_case = RANKING__CATALOG__V1__VALUE__KIND_TEXT
            message.text = arena.string(text)
        }
        return message
    }

    /// Where the id of the Entity in `bytes` is (field 1, the last occurrence, as a full decode keeps), read straight
    /// from the wire format without decoding the attributes: the first pass of a check needs nothing else. Nil when
    /// the bytes do not parse as protobuf (a full decode then decides), an empty range when the entity has no id.
    static func idRange(of bytes: UnsafeRawBufferPointer) -> Range<Int>? {
        var wire = WireCursor(bytes)
        var id = 0..<0
        while !wire.atEnd {
            guard let key = wire.varint(), key >> 3 != 0 else { return nil }
            switch key & 7 {
            case 0:
                guard wire.varint() != nil else { return nil }
            case 1:
                guard wire.skip(8) else { return nil }
            case 2:
                guard let range = wire.lengthDelimited() else { return nil }
                if key >> 3 == 1 { id = range }
            case 5:
                guard wire.skip(4) else { return nil }
            default:
                return nil  // groups, which Entity never uses: let the full decode judge
            }
        }
        return id
    }

    /// The id `idRange(of:)` finds, as text (not UTF-8 is repaired here; the second pass reports it); nil when the
    /// bytes do not parse as protobuf, "" when the entity has no id.
    static func id(of bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { raw in
            idRange(of: raw).map { String(decoding: UnsafeRawBufferPointer(rebasing: raw[$0]), as: UTF8.self) }
        }
    }

    /// The record in `bytes`, or nil when they are not a serialized Entity. Problems the bytes carry that an
    /// `EntityRecord` cannot hold (an attribute given twice, a value with no type, text that is not UTF-8) come back
    /// as issues; the record keeps the first value of a repeated attribute.
    static func decode(_ bytes: [UInt8]) -> (record: EntityRecord, issues: [RecordIssue])? {
        let decoded: DecodedMessage<Ranking__Catalog__V1__Entity>
        do {
            decoded = try ProtoC.decode(bytes, descriptor: descriptor)
        } catch {
            return nil
        }
        var issues: [RecordIssue] = []
        var decoder = StringDecoder()
        let entity = decoded.message
        let id = decoder.string(entity.id, field: "id")
        var attributes: [String: AttributeValue] = [:]
        for entry in ProtoC.messages(entity.attributes, count: entity.n_attributes) {
            let name = decoder.string(entry.pointee.key, field: "attributes")
            guard attributes[name] == nil else {
                issues.append(RecordIssue(problemClass: .invalidValue, field: name, message: "attribute given twice"))
                continue
            }
            guard let value = entry.pointee.value else {
                issues.append(RecordIssue(problemClass: .wrongType, field: name, message: "value has no type set"))
                continue
            }
            guard let converted = self.value(value.pointee, field: name, decoder: &decoder) else {
                issues.append(RecordIssue(problemClass: .wrongType, field: name, message: "value has no type set"))
                continue
            }
            attributes[name] = converted
        }
        issues.append(contentsOf: decoder.issues)
        return (EntityRecord(id: id, attributes: attributes), issues)
    }

    private static func value(
        _ message: Ranking__Catalog__V1__Value,
        field: String,
        decoder: inout StringDecoder
    ) -> AttributeValue? {
        switch message.kind_case {
        case RANKING__CATALOG__V1__VALUE__KIND_NUMBER:
            return .number(message.number)
        case RANKING__CATALOG__V1__VALUE__KIND_CATEGORY:
            return .category(decoder.string(message.category, field: field))
        case RANKING__CATALOG__V1__VALUE__KIND_TAGS:
            let tags = message.tags.map { list in
                ProtoC.array(list.pointee.values, count: list.pointee.n_values) { decoder.string($0, field: field) }
            }
            return .tags(tags ?? [])
        case RANKING__CATALOG__V1__VALUE__KIND_GEO:
            return .geo(GeoPoint(lat: message.geo?.pointee.lat ?? 0, lon: message.geo?.pointee.lon ?? 0))
        case RANKING__CATALOG__V1__VALUE__KIND_RADIUS_M:
            return .radius(metres: message.radius_m)
        case RANKING__CATALOG__V1__VALUE__KIND_SCHEDULE:
            guard let week = message.schedule?.pointee else {
                return .schedule(WeeklySchedule(timeZone: "", intervals: []))
            }
            let intervals = ProtoC.messages(week.intervals, count: week.n_intervals).map {
                OpenInterval(
                    weekday: Int(truncatingIfNeeded: Int64($0.pointee.weekday.rawValue)),
                    openMinute: Int($0.pointee.open_minute),
                    closeMinute: Int($0.pointee.close_minute)
                )
            }
            return .schedule(
                WeeklySchedule(timeZone: decoder.string(week.time_zone, field: field), intervals: intervals)
            )
        case RANKING__CATALOG__V1__VALUE__KIND_TIMESTAMP_UNIX_MS:
            return .timestamp(unixMilliseconds: message.timestamp_unix_ms)
        case RANKING__CATALOG__V1__VALUE__KIND_EMBEDDING:
            let values = message.embedding.map { ProtoC.array($0.pointee.values, count: $0.pointee.n_values) { $0 } }
            return .embedding(values ?? [])
        case RANKING__CATALOG__V1__VALUE__KIND_REFERENCE:
            return .reference(decoder.string(message.reference, field: field))
        case RANKING__CATALOG__V1__VALUE__KIND_HISTORY:
            let interactions = message.history.map { history in
                ProtoC.messages(history.pointee.interactions, count: history.pointee.n_interactions).map {
                    Interaction(
                        entityID: decoder.string($0.pointee.entity_id, field: field),
                        event: decoder.string($0.pointee.event, field: field),
                        unixMilliseconds: $0.pointee.unix_ms
                    )
                }
            }
            return .history(interactions ?? [])
        case RANKING__CATALOG__V1__VALUE__KIND_TEXT:
            return .text(decoder.string(message.text, field: field))
        default:
            return nil
        }
    }
}

/// Reads protobuf-c strings, noting each field whose bytes are not UTF-8 (protobuf requires it of `string`).
private struct StringDecoder {
    var issues: [RecordIssue] = []

    mutating func string(_ pointer: UnsafeMutablePointer<CChar>?, field: String) -> String {
        guard let pointer else { return "" }
        if let text = String(validatingCString: pointer) { return text }
        if !issues.contains(where: { $0.field == field }) {
            issues.append(RecordIssue(problemClass: .invalidValue, field: field, message: "text is not valid UTF-8"))
        }
        return String(cString: pointer)
    }
}
