import Foundation

/// `manifest.json`: what a snapshot is and what it holds, written last so a snapshot with a manifest is complete.
public struct SnapshotManifest: Equatable, Sendable {
    /// The file name inside a snapshot folder.
    public static let fileName = "manifest.json"
    /// The schema's copy inside a snapshot folder: a snapshot carries the schema it was built with.
    public static let schemaFileName = "schema.json"
    /// The format version this code writes and reads.
    public static let formatVersion = 1
    /// A manifest larger than this is not read.
    static let maximumBytes = 4 << 20

    /// One file of the snapshot.
    public struct FileEntry: Equatable, Sendable {
        /// Its name inside the snapshot folder.
        public var name: String
        /// Its size in bytes.
        public var bytes: Int
        /// Its SHA-256, 64 lowercase hex digits.
        public var sha256: String

        /// An entry.
        public init(name: String, bytes: Int, sha256: String) {
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    /// Names this snapshot in logs, health and responses: letters, digits, `.`, `_` and `-`, at most 128.
    public var snapshotID: String
    /// When the snapshot was built, Unix milliseconds.
    public var createdUnixMilliseconds: Int64
    /// The schema's name.
    public var schemaName: String
    /// The schema's version.
    public var schemaVersion: Int
    /// Records per entity kind, in the schema's kind order.
    public var recordCounts: [(kind: String, records: Int)]
    /// Every file except the manifest itself: schema.json and each `<kind>.pb`.
    public var files: [FileEntry]

    /// A manifest.
    public init(
        snapshotID: String,
        createdUnixMilliseconds: Int64,
        schemaName: String,
        schemaVersion: Int,
        recordCounts: [(kind: String, records: Int)],
        files: [FileEntry]
    ) {
        self.snapshotID = snapshotID
        self.createdUnixMilliseconds = createdUnixMilliseconds
        self.schemaName = schemaName
        self.schemaVersion = schemaVersion
        self.recordCounts = recordCounts
        self.files = files
    }

    /// The file name of a kind's records.
    public static func recordFileName(kind: String) -> String { kind + ".pb" }

    /// The records of `kind`, if the manifest lists it.
    public func records(of kind: String) -> Int? { recordCounts.first { $0.kind == kind }?.records }

    /// The entry of the file `name`, if listed.
    public func file(named name: String) -> FileEntry? { files.first { $0.name == name } }

    /// Equal content: the order of counts and files does not matter (JSON objects have none).
    public static func == (lhs: SnapshotManifest, rhs: SnapshotManifest) -> Bool {
        let counts = { (manifest: SnapshotManifest) in
            manifest.recordCounts.sorted { $0.kind < $1.kind }.map { "\($0.kind)=\($0.records)" }
        }
        return lhs.snapshotID == rhs.snapshotID && lhs.createdUnixMilliseconds == rhs.createdUnixMilliseconds
            && lhs.schemaName == rhs.schemaName && lhs.schemaVersion == rhs.schemaVersion
            && counts(lhs) == counts(rhs)
            && lhs.files.sorted { $0.name < $1.name } == rhs.files.sorted { $0.name < $1.name }
    }

    /// Whether `id` may name a snapshot: it ends up in file names, log lines and gRPC metadata.
    public static func isValidSnapshotID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard !bytes.isEmpty, bytes.count <= 128, bytes[0] != UInt8(ascii: ".") else { return false }
        return bytes.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5a).contains(byte) || (0x61...0x7a).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// Whether `name` is a plain file name inside the snapshot folder (no path, nothing hidden), so a manifest
    /// cannot point a reader outside its folder.
    public static func isPlainFileName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.hasPrefix(".") && !name.contains("/")
            && !name.contains("\\") && !name.utf8.contains(0)
    }

    /// The manifest as JSON.
    public func json() -> JSONValue {
        .object([
            ("format", .string("rankd-catalog-snapshot")),
            ("format_version", .integer(Int64(SnapshotManifest.formatVersion))),
            ("snapshot_id", .string(snapshotID)),
            ("created_at", .string(Timestamps.formatISO8601(createdUnixMilliseconds))),
            (
                "schema",
                .object([
                    ("name", .string(schemaName)), ("version", .integer(Int64(schemaVersion))),
                    ("file", .string(SnapshotManifest.schemaFileName)),
                ])
            ),
            ("record_counts", .object(recordCounts.map { (key: $0.kind, value: .integer(Int64($0.records))) })),
            (
                "files",
                .object(
                    files.map { file in
                        (
                            key: file.name,
                            value: .object([("bytes", .integer(Int64(file.bytes))), ("sha256", .string(file.sha256))])
                        )
                    }
                )
            ),
        ])
    }

    /// Parses a manifest; a document that does not have the manifest's shape throws, naming the member at fault.
    public static func parse(_ data: Data) throws -> SnapshotManifest {
        guard data.count <= maximumBytes else { throw ManifestError("manifest is over \(maximumBytes) bytes") }
        let document: JSONValue
        do {
            document = try JSONValue.parse(data)
        } catch {
            throw ManifestError("not valid JSON")
        }
        guard case .object = document else { throw ManifestError("expected a JSON object") }
        guard document["format"]?.stringValue == "rankd-catalog-snapshot" else {
            throw ManifestError("format: expected \"rankd-catalog-snapshot\"")
        }
        guard case .integer(let version) = document["format_version"] else {
            throw ManifestError("format_version: missing or not an integer")
        }
        guard version == formatVersion else {
            throw ManifestError("format_version: \(version) is not supported (this build reads \(formatVersion))")
        }
        guard let snapshotID = document["snapshot_id"]?.stringValue else {
            throw ManifestError("snapshot_id: missing or not a string")
        }
        guard let createdText = document["created_at"]?.stringValue,
            let created = Timestamps.parseISO8601(createdText)
        else { throw ManifestError("created_at: missing or not an ISO 8601 time") }
        guard let schemaName = document["schema"]?["name"]?.stringValue else {
            throw ManifestError("schema.name: missing or not a string")
        }
        guard case .integer(let schemaVersion) = document["schema"]?["version"],
            let version = Int(exactly: schemaVersion)
        else { throw ManifestError("schema.version: missing or not an integer") }
        guard case .object(let countMembers) = document["record_counts"] else {
            throw ManifestError("record_counts: missing or not an object")
        }
        var counts: [(kind: String, records: Int)] = []
        for member in countMembers {
            guard case .integer(let count) = member.value, count >= 0, let records = Int(exactly: count) else {
                throw ManifestError("record_counts.\(member.key): expected a count of records")
            }
            counts.append((member.key, records))
        }
        guard case .object(let fileMembers) = document["files"] else {
            throw ManifestError("files: missing or not an object")
        }
        var files: [FileEntry] = []
        for member in fileMembers {
            guard case .integer(let size) = member.value["bytes"], size >= 0, let bytes = Int(exactly: size) else {
                throw ManifestError("files.\(member.key).bytes: expected a size in bytes")
            }
            guard let sha = member.value["sha256"]?.stringValue else {
                throw ManifestError("files.\(member.key).sha256: missing or not a string")
            }
            files.append(FileEntry(name: member.key, bytes: bytes, sha256: sha))
        }
        return SnapshotManifest(
            snapshotID: snapshotID,
            createdUnixMilliseconds: created,
            schemaName: schemaName,
            schemaVersion: version,
            recordCounts: counts,
            files: files
        )
    }
}

/// A manifest that cannot be read as one.
public struct ManifestError: Error, CustomStringConvertible, Sendable {
    /// What is wrong, naming the member.
    public var description: String

    init(_ description: String) { self.description = description }
}
