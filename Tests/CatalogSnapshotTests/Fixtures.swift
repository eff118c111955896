import Foundation

@testable import CatalogSnapshot

/// A fresh folder under the system's temporary directory, removed when the value goes away.
final class TemporaryDirectory {
    let url: URL
    var path: String { url.path }

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-test-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func file(_ name: String) -> URL { url.appendingPathComponent(name) }

    func write(_ name: String, _ text: String) throws {
        let target = file(name)
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        try Data(text.utf8).write(to: target)
    }
}

/// A small schema with every attribute type, and a snapshot of it that is valid until a test breaks it.
enum ShopFixture {
    static let schemaText = """
        {"name": "shop", "version": 2, "kinds": [
          {"name": "venue", "attributes": [
            {"name": "name", "type": "text", "required": true, "display": true},
            {"name": "location", "type": "geo", "required": true},
            {"name": "radius", "type": "radius"},
            {"name": "hours", "type": "schedule"},
            {"name": "cuisine", "type": "category"},
            {"name": "tags", "type": "tags"},
            {"name": "rating", "type": "number"},
            {"name": "opened", "type": "timestamp"},
            {"name": "embedding", "type": "embedding", "dimension": 4}
          ]},
          {"name": "item", "attributes": [
            {"name": "venue", "type": "reference", "target": "venue", "required": true},
            {"name": "price", "type": "number", "required": true}
          ]},
          {"name": "user", "attributes": [
            {"name": "orders", "type": "history", "target": "item", "events": ["order"]}
          ]}
        ]}
        """

    static var schema: CatalogSchema { try! CatalogSchema.parse(Data(schemaText.utf8), file: "shop.json") }

    static var records: [String: [EntityRecord]] {
        let hours = WeeklySchedule(
            timeZone: "Europe/Berlin",
            intervals: [
                OpenInterval(weekday: 5, openMinute: 1080, closeMinute: 1560),
                OpenInterval(weekday: 6, openMinute: 600, closeMinute: 1320),
                OpenInterval(weekday: 7, openMinute: 1200, closeMinute: 1500),
                OpenInterval(weekday: 1, openMinute: 60, closeMinute: 600),
            ]
        )
        return [
            "venue": [
                EntityRecord(
                    id: "v1",
                    attributes: [
                        "name": .text("Luigi's"), "location": .geo(GeoPoint(lat: 52.52, lon: 13.405)),
                        "radius": .radius(metres: 3000), "hours": .schedule(hours), "cuisine": .category("pizza"),
                        "tags": .tags(["pizza", "italian"]), "rating": .number(4.5),
                        "opened": .timestamp(unixMilliseconds: 1_680_307_200_000),
                        "embedding": .embedding([0.1, -0.2, 0.3, 0.4]),
                    ]
                ),
                EntityRecord(
                    id: "v2",
                    attributes: ["name": .text("Sushi Go"), "location": .geo(GeoPoint(lat: -33.86, lon: 151.2))]
                ),
            ],
            "item": [
                EntityRecord(id: "i1", attributes: ["venue": .reference("v1"), "price": .number(9.5)]),
                EntityRecord(id: "i2", attributes: ["venue": .reference("v2"), "price": .number(12)]),
            ],
            "user": [
                EntityRecord(
                    id: "u1",
                    attributes: [
                        "orders": .history([
                            Interaction(entityID: "i1", event: "order", unixMilliseconds: 1_714_590_000_000),
                            Interaction(entityID: "i2", event: "order", unixMilliseconds: 1_714_600_000_000),
                        ])
                    ]
                ),
                EntityRecord(id: "u2"),
            ],
        ]
    }

    /// Writes `records` as a snapshot folder `name` inside `directory`; returns its path.
    @discardableResult
    static func write(
        _ records: [String: [EntityRecord]] = records,
        in directory: TemporaryDirectory,
        name: String = "snapshot",
        schema: CatalogSchema = schema
    ) throws -> String {
        let path = directory.file(name).path
        let writer = try SnapshotWriter(schema: schema, directory: path)
        for kind in schema.kinds {
            for record in records[kind.name] ?? [] { try writer.append(record, kind: kind.name) }
        }
        try writer.finish(snapshotID: "shop-test-1", created: Date(timeIntervalSince1970: 1_714_590_000))
        return path
    }
}

/// Edits of a written snapshot's files, for breaking it in ways a writer never would.
enum SnapshotSurgery {
    static func manifest(_ snapshot: String) throws -> SnapshotManifest {
        try SnapshotManifest.parse(Data(contentsOf: URL(fileURLWithPath: snapshot + "/manifest.json")))
    }

    static func writeManifest(_ manifest: SnapshotManifest, to snapshot: String) throws {
        try Data(manifest.json().rendered(pretty: true).utf8).write(
            to: URL(fileURLWithPath: snapshot + "/manifest.json")
        )
    }

    /// Edits the manifest.
    static func editManifest(_ snapshot: String, _ edit: (inout SnapshotManifest) -> Void) throws {
        var manifest = try manifest(snapshot)
        edit(&manifest)
        try writeManifest(manifest, to: snapshot)
    }

    /// Appends raw bytes to a file.
    static func append(_ bytes: [UInt8], to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: bytes)
        try handle.close()
    }

    /// Makes the manifest's checksums and sizes match the files again, so only the edit under test is wrong.
    static func refreshChecksums(_ snapshot: String) throws {
        try editManifest(snapshot) { manifest in
            for index in manifest.files.indices {
                let bytes = [UInt8](
                    (try? Data(contentsOf: URL(fileURLWithPath: snapshot + "/" + manifest.files[index].name))) ?? Data()
                )
                manifest.files[index].sha256 = SHA256.hexDigest(bytes)
                manifest.files[index].bytes = bytes.count
            }
        }
    }

    /// A varint, as a length prefix is written.
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var bytes: [UInt8] = []
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
        return bytes
    }
}
