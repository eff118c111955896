import CatalogSnapshot
import Ranking

/// Any schema's validated tables into the generic ``EntityCatalog``: per kind, the ids and one column per attribute
/// of a type the generic surfaces read. It names no schema, kind or attribute; which ones a domain's surfaces read
/// is their configuration's business (``DomainConfig``).
///
/// | attribute type | column |
/// |---|---|
/// | number, radius | `numbers` (Float, NaN when absent) |
/// | timestamp | `numbers`: days since 1970-01-01 (Float cannot hold milliseconds) |
/// | category | `categories` |
/// | tags | `tags` |
/// | reference | `references` (target positions, -1 when absent) |
/// | embedding | `embeddings` |
/// | history | `histories` (target positions, event codes, Unix ms) |
///
/// Text, geo and schedule attributes are not kept as columns; the schema's display attributes are kept as text for
/// answers a person reads (`include_display`).
public enum GenericImport {
    /// The catalog of `tables`, a validated snapshot's (``SnapshotValidation/tables``) of schema `schema`.
    public static func catalog(schema: String, tables: [EntityTable]) -> EntityCatalog {
        var targets: [String: StringTable] = [:]
        for table in tables { targets[table.kind.name] = table.ids }
        return EntityCatalog(schema: schema, kinds: tables.map { kind($0, targets: targets) })
    }

    /// One table's ids and columns; `targets` holds every kind's ids, so a displayed reference shows the target's id.
    static func kind(_ table: EntityTable, targets: [String: StringTable] = [:]) -> EntityKindColumns {
        var numbers: [String: [Float]] = [:]
        var categories: [String: CategoryColumn] = [:]
        var tags: [String: TagColumn] = [:]
        var references: [String: ReferenceColumn] = [:]
        var embeddings: [String: EmbeddingColumn] = [:]
        var histories: [String: HistoryColumn] = [:]
        for column in table.columns {
            let name = column.spec.name
            switch column.spec.type {
            case .number, .radius:
                numbers[name] = column.numbers.indices.map { column.present[$0] ? Float(column.numbers[$0]) : .nan }
            case .timestamp:
                numbers[name] = column.integers.indices.map {
                    column.present[$0] ? Float(Double(column.integers[$0]) / 86_400_000) : .nan
                }
            case .category:
                categories[name] = CategoryColumn(codes: column.codes, names: strings(column.names))
            case .tags:
                tags[name] = TagColumn(starts: column.starts, codes: column.codes, names: strings(column.names))
            case .reference:
                references[name] = ReferenceColumn(target: column.spec.target ?? "", positions: column.codes)
            case .embedding:
                embeddings[name] = EmbeddingColumn(
                    dimension: column.dimension,
                    values: column.floats,
                    present: column.present
                )
            case .history:
                histories[name] = HistoryColumn(
                    target: column.spec.target ?? "",
                    starts: column.starts,
                    targets: column.codes,
                    events: column.events,
                    eventNames: strings(column.names),
                    times: column.integers
                )
            case .text, .geo, .schedule:
                continue
            }
        }
        return EntityKindColumns(
            name: table.kind.name,
            ids: ids(table.ids),
            numbers: numbers,
            categories: categories,
            tags: tags,
            references: references,
            embeddings: embeddings,
            histories: histories,
            display: DisplayValues.columns(table, targets: targets)
        )
    }

    /// Numbered ids with a one-letter prefix (`t1…tN`) store nothing; any others are kept with a table from id to
    /// position (the validator has already refused repeats).
    static func ids(_ table: StringTable) -> EntityIDs {
        if let prefix = table.numberedPrefix, prefix.count == 1, let letter = prefix.first, letter.isASCII {
            return .positional(prefix: letter, count: table.count)
        }
        let ids = (0..<table.count).map { table[$0] }
        return EntityIDs.explicit(ids) ?? .positional(prefix: "?", count: 0)
    }

    static func strings(_ table: StringTable) -> [String] { (0..<table.count).map { table[$0] } }
}
