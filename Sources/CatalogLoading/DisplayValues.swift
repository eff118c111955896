import CatalogSnapshot
import Ranking

/// The display columns of one kind (the attributes its schema marks `display`: a venue's name, cuisine and rating)
/// from its snapshot table, as text a person reads.
enum DisplayValues {
    /// Entity `order[k]` of `table` becomes entity `k` (file order when `order` is nil). `targets` holds the ids of
    /// the kinds its references name, so a reference shows the target's id. No columns at all when the kind declares
    /// no display attribute.
    static func columns(_ table: EntityTable, targets: [String: StringTable], order: [Int]? = nil) -> DisplayColumns {
        let attributes = table.kind.attributes.indices.filter { table.kind.attributes[$0].display }
        guard !attributes.isEmpty else { return DisplayColumns() }
        var columns = DisplayColumns(fields: attributes.map { table.kind.attributes[$0].name })
        let targetIDs = attributes.map { a in table.kind.attributes[a].target.flatMap { targets[$0] } }
        // Text values are as long as in the table; a number, name or id takes a few bytes.
        let textBytes = attributes.reduce(0) { $0 + table.columns[$1].text.bytes.count }
        columns.reserveCapacity(entities: table.count, bytes: textBytes + table.count * 8 * attributes.count)
        var entity: [UInt8] = []
        for n in 0..<table.count {
            let k = order?[n] ?? n
            entity.removeAll(keepingCapacity: true)
            for (f, a) in attributes.enumerated() {
                if f > 0 { entity.append(DisplayColumns.fieldSeparator) }
                let start = entity.count
                table.appendDisplayText(of: k, attribute: a, targetIDs: targetIDs[f], to: &entity)
                for i in start..<entity.count where entity[i] == DisplayColumns.fieldSeparator {
                    entity[i] = UInt8(ascii: " ")
                }
            }
            columns.append(joined: entity[...])
        }
        return columns
    }
}
