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
        // A column at a time: each field's texts for every entity in one pass, then joined per entity.
        let values = attributes.map { a in
            let texts = table.displayTexts(
                attribute: a,
                order: order,
                targetIDs: table.kind.attributes[a].target.flatMap { targets[$0] }
            )
            return (bytes: texts.bytes, ends: texts.ends)
        }
        return DisplayColumns(
            fields: attributes.map { table.kind.attributes[$0].name },
            count: table.count,
            values: values
        )
    }
}
