import CatalogSnapshot
import Ranking

/// Collects the display values of one entity kind (the attributes its schema marks `display`) as records go by, for
/// `DisplayColumns`. The snapshot loader and the generated demo both fill display columns through here, from the
/// same records, so the two can never show different text.
struct DisplayValues {
    let fields: [String]
    private var rows: [[String]]

    /// Room for `count` positional entities of `kind`.
    init(kind: EntityKindSpec?, count: Int) {
        fields = kind?.displayAttributes.map(\.name) ?? []
        rows = fields.isEmpty ? [] : [[String]](repeating: [], count: count)
    }

    /// Records the display values of `record`, entity number `index`.
    mutating func add(_ record: EntityRecord, at index: Int) {
        guard !fields.isEmpty, rows.indices.contains(index) else { return }
        rows[index] = fields.map { record.attributes[$0]?.displayText ?? "" }
    }

    /// Puts the rows in `order` (row `k` becomes the one at `order[k]`), when entities change position.
    mutating func reorder(_ order: [Int]) {
        guard !rows.isEmpty else { return }
        rows = order.map { rows[$0] }
    }

    /// The columns; none at all when the kind declares no display attribute.
    func columns() -> DisplayColumns {
        fields.isEmpty ? DisplayColumns() : DisplayColumns(fields: fields, values: rows)
    }
}
