import Foundation
import Testing

@testable import CatalogSnapshot

/// The repository root, for the shipped schemas and docs.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite("Schema files")
struct SchemaTests {
    @Test("The shipped marketplace schema declares venue, item and user with their typed attributes")
    func marketplaceSchema() throws {
        let schema = try CatalogSchema.load(
            path: repositoryRoot.appendingPathComponent("schemas/marketplace.json").path
        )
        #expect(schema.name == "marketplace")
        #expect(schema.kinds.map(\.name) == ["venue", "item", "user"])
        let venue = try #require(schema.kind(named: "venue"))
        #expect(venue.attribute(named: "location")?.type == .geo)
        #expect(venue.attribute(named: "delivery_radius")?.type == .radius)
        #expect(venue.attribute(named: "opening_hours")?.type == .schedule)
        #expect(venue.attribute(named: "embedding")?.dimension == 16)
        #expect(venue.displayAttributes.map(\.name).contains("name"))
        let item = try #require(schema.kind(named: "item"))
        #expect(item.attribute(named: "venue")?.target == "venue")
        let orders = try #require(schema.kind(named: "user")?.attribute(named: "orders"))
        #expect(orders.type == .history && orders.target == "venue" && orders.events == ["order"])
        // Cuisines and menu sections are declared, in the order their codes and the affinity vector follow.
        #expect(venue.attribute(named: "cuisine")?.values?.prefix(3) == ["pizza", "burger", "sushi"])
        #expect(venue.attribute(named: "cuisine")?.values?.count == 16)
        #expect(item.attribute(named: "category")?.values == ["main", "starter", "side", "drink", "dessert"])
    }

    @Test("The shipped music schema declares track, artist and user with a track-to-artist reference")
    func musicSchema() throws {
        let schema = try CatalogSchema.load(path: repositoryRoot.appendingPathComponent("schemas/music.json").path)
        #expect(schema.kinds.map(\.name) == ["track", "artist", "user"])
        let track = try #require(schema.kind(named: "track"))
        #expect(track.attribute(named: "artist")?.target == "artist")
        #expect(track.attribute(named: "genres")?.type == .tags)
        #expect(track.attribute(named: "release_date")?.type == .timestamp)
        #expect(schema.kind(named: "user")?.attribute(named: "listens")?.events == ["play", "skip", "complete"])
    }

    @Test("A schema written as JSON reads back equal")
    func jsonRoundTrip() throws {
        let schema = try CatalogSchema.load(
            path: repositoryRoot.appendingPathComponent("schemas/marketplace.json").path
        )
        let again = try CatalogSchema.parse(Data(schema.json().rendered(pretty: true).utf8))
        #expect(again == schema)
    }

    static let base = """
        {"name": "shop", "version": 1, "kinds": [
          {"name": "venue", "attributes": [ATTRIBUTE]},
          {"name": "item", "attributes": [{"name": "venue", "type": "reference", "target": "venue"}]}
        ]}
        """

    /// Each broken attribute and the field path and words its error must carry.
    @Test(
        "A broken schema is refused with an error naming the field at fault",
        arguments: [
            (#"{"name": "loc", "type": "geopoint"}"#, "kinds[venue].attributes[loc].type", "unknown type \"geopoint\""),
            (#"{"name": "vec", "type": "embedding"}"#, "kinds[venue].attributes[vec].dimension", "needs its dimension"),
            (
                #"{"name": "vec", "type": "embedding", "dimension": 0}"#, "kinds[venue].attributes[vec].dimension",
                "between 1 and"
            ),
            (
                #"{"name": "n", "type": "number", "dimension": 3}"#, "kinds[venue].attributes[n].dimension",
                "only an embedding"
            ),
            (#"{"name": "r", "type": "reference"}"#, "kinds[venue].attributes[r].target", "needs the kind"),
            (#"{"name": "r", "type": "reference", "target": "brand"}"#, "kinds[venue].attributes[r].target", "brand"),
            (
                #"{"name": "h", "type": "number", "events": ["x"]}"#, "kinds[venue].attributes[h].events",
                "only a history"
            ),
            (
                #"{"name": "n", "type": "number", "values": ["x"]}"#, "kinds[venue].attributes[n].values",
                "only a category or tags"
            ),
            (#"{"name": "c", "type": "category", "values": []}"#, "kinds[venue].attributes[c].values", "non-empty"),
            (#"{"name": "c", "type": "tags", "values": "a,b"}"#, "kinds[venue].attributes[c].values", "non-empty"),
            (
                #"{"name": "c", "type": "category", "values": ["a", ""]}"#, "kinds[venue].attributes[c].values[1]",
                "cannot be empty"
            ),
            (
                #"{"name": "c", "type": "category", "values": ["a", 2]}"#, "kinds[venue].attributes[c].values[1]",
                "string"
            ),
            (
                #"{"name": "c", "type": "category", "values": ["a", "b", "a"]}"#,
                "kinds[venue].attributes[c].values[2]", "listed twice"
            ),
            (
                #"{"name": "n", "type": "number", "requird": true}"#, "kinds[venue].attributes[0].requird",
                "unknown member"
            ),
            (
                #"{"name": "n", "type": "number", "required": "yes"}"#, "kinds[venue].attributes[n].required",
                "true or false"
            ),
            (#"{"name": "Price", "type": "number"}"#, "kinds[venue].attributes[0].name", "not a valid name"),
            (#"{"name": "id", "type": "text"}"#, "kinds[venue].attributes[id].name", "identifier"),
            (
                #"{"name": "a", "type": "number"}, {"name": "a", "type": "text"}"#,
                "kinds[venue].attributes[a].name", "declared twice"
            ),
        ]
    )
    func brokenSchemaNamesField(attribute: String, field: String, words: String) {
        let text = SchemaTests.base.replacingOccurrences(of: "ATTRIBUTE", with: attribute)
        do {
            _ = try CatalogSchema.parse(Data(text.utf8), file: "shop.json")
            Issue.record("accepted: \(attribute)")
        } catch let error as SchemaError {
            #expect(error.field == field)
            #expect(error.message.contains(words), "\(error)")
            #expect(error.description.hasPrefix("shop.json: \(field): "))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("Top-level mistakes name their member too: version, kinds, duplicate kinds, invalid JSON")
    func topLevelErrors() {
        let cases: [(String, String)] = [
            (#"{"name": "shop", "kinds": []}"#, "version"),
            (#"{"name": "shop", "version": 0, "kinds": []}"#, "version"),
            (#"{"name": "shop", "version": 1, "kinds": []}"#, "kinds"),
            (#"{"name": "shop", "version": 1}"#, "kinds"),
            (
                #"{"name": "shop", "version": 1, "kinds": [{"name": "a", "attributes": []}, {"name": "a", "attributes": []}]}"#,
                "kinds[a].name"
            ),
            (#"{"name": "shop", "version": 1, "kinds": [{"name": "a"}]}"#, "kinds[a].attributes"),
            (#"{"name": "shop", "version": 1, "kind": []}"#, "kind"),
            ("{not json", ""),
        ]
        for (text, field) in cases {
            #expect(throws: SchemaError.self, "\(text)") { try CatalogSchema.parse(Data(text.utf8)) }
            do {
                _ = try CatalogSchema.parse(Data(text.utf8))
            } catch let error as SchemaError {
                #expect(error.field == field, "\(text): \(error)")
            } catch {}
        }
    }
}
