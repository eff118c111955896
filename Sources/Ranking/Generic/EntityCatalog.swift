/// A catalog of any schema: per entity kind, the ids and one named column per attribute the generic surfaces can
/// read. It knows no domain: a music snapshot (tracks, artists, listeners) and any other schema with a surface
/// configuration (``DomainConfig``) load into it the same way (`CatalogLoading`'s generic mapping).
///
/// Every column is a `let` array indexed by entity position, as in the marketplace ``Catalog``; indexes the
/// configured sources need are derived from it once per engine state (``GenericIndexes``), never per request.
public final class EntityCatalog: Sendable {
    /// The schema's name (`music`): which ``DomainConfig`` serves it.
    public let schema: String
    /// The entity kinds by name.
    public let kinds: [String: EntityKindColumns]

    /// A catalog of `kinds` (each named by its `name`).
    public init(schema: String, kinds: [EntityKindColumns]) {
        self.schema = schema
        var byName: [String: EntityKindColumns] = [:]
        for kind in kinds { byName[kind.name] = kind }
        self.kinds = byName
    }

    /// The kind `name`, or nil.
    public func kind(_ name: String) -> EntityKindColumns? { kinds[name] }

    /// Bytes held by the columns.
    public var memoryBytes: Int { kinds.values.reduce(0) { $0 + $1.memoryBytes } }

    /// One line for operators.
    public var memoryReport: String {
        let parts = kinds.keys.sorted().map { name in
            let kind = kinds[name]!
            return "\(kind.count) \(name) " + String(format: "%.1f MB", Double(kind.memoryBytes) / 1_048_576)
        }
        return "catalog (\(schema)): " + String(format: "%.1f MB", Double(memoryBytes) / 1_048_576) + " ("
            + parts.joined(separator: ", ") + ")"
    }
}

/// One entity kind's ids and columns, by attribute name. Only the attribute types generic surfaces read are kept:
/// numbers (and timestamps) as `Float`, categories, tags, references, embeddings and histories.
public struct EntityKindColumns: Sendable {
    /// The kind's name (`track`).
    public let name: String
    /// Ids and the position of each id.
    public let ids: EntityIDs
    /// Number columns; a missing value is NaN.
    public let numbers: [String: [Float]]
    /// Category columns.
    public let categories: [String: CategoryColumn]
    /// Tag columns.
    public let tags: [String: TagColumn]
    /// Reference columns.
    public let references: [String: ReferenceColumn]
    /// Embedding columns.
    public let embeddings: [String: EmbeddingColumn]
    /// History columns.
    public let histories: [String: HistoryColumn]
    /// What a person recognises an entity by (the schema's display attributes), for answers with display values.
    public let display: DisplayColumns

    /// A kind with its columns.
    public init(
        name: String,
        ids: EntityIDs,
        numbers: [String: [Float]] = [:],
        categories: [String: CategoryColumn] = [:],
        tags: [String: TagColumn] = [:],
        references: [String: ReferenceColumn] = [:],
        embeddings: [String: EmbeddingColumn] = [:],
        histories: [String: HistoryColumn] = [:],
        display: DisplayColumns = DisplayColumns()
    ) {
        for (attribute, values) in numbers {
            precondition(values.count == ids.count, "\(name).\(attribute): one number per entity")
        }
        for (attribute, column) in references {
            precondition(column.positions.count == ids.count, "\(name).\(attribute): one reference per entity")
        }
        for (attribute, column) in tags {
            precondition(column.starts.count == ids.count + 1, "\(name).\(attribute): tag ranges per entity")
        }
        for (attribute, column) in histories {
            precondition(column.starts.count == ids.count + 1, "\(name).\(attribute): history ranges per entity")
        }
        for (attribute, column) in embeddings {
            precondition(column.values.count == ids.count * column.dimension, "\(name).\(attribute): dimension")
        }
        self.name = name
        self.ids = ids
        self.numbers = numbers
        self.categories = categories
        self.tags = tags
        self.references = references
        self.embeddings = embeddings
        self.histories = histories
        self.display = display
    }

    /// Number of entities.
    public var count: Int { ids.count }

    /// Bytes held.
    public var memoryBytes: Int {
        ids.memoryBytes + numbers.values.reduce(0) { $0 + $1.count * 4 }
            + categories.values.reduce(0) { $0 + $1.codes.count * 4 }
            + tags.values.reduce(0) { $0 + ($1.starts.count + $1.codes.count) * 4 }
            + references.values.reduce(0) { $0 + $1.positions.count * 4 }
            + embeddings.values.reduce(0) { $0 + $1.values.count * 4 + $1.present.count }
            + histories.values.reduce(0) { $0 + $1.memoryBytes } + display.memoryBytes
    }
}

/// A category per entity: `codes[k]` indexes `names`, -1 when absent.
public struct CategoryColumn: Sendable {
    /// Per entity.
    public let codes: [Int32]
    /// The vocabulary.
    public let names: [String]

    /// A category column.
    public init(codes: [Int32], names: [String]) {
        self.codes = codes
        self.names = names
    }
}

/// Tags per entity, CSR: entity `k`'s are `codes[starts[k] ..< starts[k + 1]]`, the first being its main tag.
public struct TagColumn: Sendable {
    /// `count + 1` offsets.
    public let starts: [Int32]
    /// Tag codes into `names`.
    public let codes: [Int32]
    /// The vocabulary.
    public let names: [String]

    /// A tag column.
    public init(starts: [Int32], codes: [Int32], names: [String]) {
        self.starts = starts
        self.codes = codes
        self.names = names
    }

    /// Entity `k`'s tags, as a range of `codes`.
    @inline(__always)
    public func range(_ k: Int) -> Range<Int> { Int(starts[k])..<Int(starts[k + 1]) }

    /// Entity `k`'s main (first) tag, or -1.
    @inline(__always)
    public func first(_ k: Int) -> Int32 { starts[k] < starts[k + 1] ? codes[Int(starts[k])] : -1 }
}

/// A reference per entity: the target kind's position, -1 when absent.
public struct ReferenceColumn: Sendable {
    /// The kind referred to.
    public let target: String
    /// Per entity.
    public let positions: [Int32]

    /// A reference column.
    public init(target: String, positions: [Int32]) {
        self.target = target
        self.positions = positions
    }
}

/// An embedding per entity, `dimension` floats each (zeros when absent).
public struct EmbeddingColumn: Sendable {
    /// Floats per entity.
    public let dimension: Int
    /// Row-major values.
    public let values: [Float]
    /// Whether entity `k` has one.
    public let present: [Bool]

    /// An embedding column.
    public init(dimension: Int, values: [Float], present: [Bool]) {
        self.dimension = dimension
        self.values = values
        self.present = present
    }
}

/// Events per entity (a user's listens), CSR: entity `k`'s are `starts[k] ..< starts[k + 1]`, each a target
/// position, an event code into `eventNames` and a time (Unix ms), in the snapshot's order (oldest first).
public struct HistoryColumn: Sendable {
    /// The kind the events are about.
    public let target: String
    /// `count + 1` offsets.
    public let starts: [Int32]
    /// Target positions.
    public let targets: [Int32]
    /// Event codes.
    public let events: [UInt8]
    /// The event vocabulary (`play`, `skip`, `complete`).
    public let eventNames: [String]
    /// Unix milliseconds.
    public let times: [Int64]

    /// A history column.
    public init(
        target: String,
        starts: [Int32],
        targets: [Int32],
        events: [UInt8],
        eventNames: [String],
        times: [Int64]
    ) {
        precondition(targets.count == events.count && targets.count == times.count, "one event, target and time each")
        self.target = target
        self.starts = starts
        self.targets = targets
        self.events = events
        self.eventNames = eventNames
        self.times = times
    }

    /// Entity `k`'s entries.
    @inline(__always)
    public func range(_ k: Int) -> Range<Int> { Int(starts[k])..<Int(starts[k + 1]) }

    /// The code of event `name`, or nil.
    public func eventCode(_ name: String) -> UInt8? { eventNames.firstIndex(of: name).map { UInt8($0) } }

    var memoryBytes: Int { starts.count * 4 + targets.count * 4 + events.count + times.count * 8 }
}

extension Catalog {
    /// A catalog of another schema: no marketplace columns, `entities` served by that schema's generic surfaces.
    public static func generic(_ entities: EntityCatalog, snapshotID: String) -> Catalog {
        var columns = CatalogColumns()
        columns.snapshotID = snapshotID
        columns.entities = entities
        return Catalog(columns)
    }
}
