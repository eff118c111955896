import Foundation
import Testing

@testable import RankCompat

/// The catalog snapshot record format (proto/ranking/catalog/v1) under the same check as the serving contract:
/// `Scripts/proto-check.sh` compares it with proto/baseline/ranking-catalog-v1.binpb.
@Suite("Catalog record format under rank-compat")
struct CatalogContractTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let protoPath = "ranking/catalog/v1/catalog.proto"
    static let baseline = repository.appendingPathComponent("proto/baseline/ranking-catalog-v1.binpb").path

    static func catalogProto() throws -> String {
        try String(contentsOf: repository.appendingPathComponent("proto/" + protoPath), encoding: .utf8)
    }

    /// Runs the check proto-check.sh runs, on a copy of catalog.proto after `edit`.
    static func check(_ edit: (String) -> String) throws -> CompatibilityOutcome {
        let original = try catalogProto()
        let edited = edit(original)
        #expect(edited != original, "the edit changed nothing")
        let tree = try ProtoTree([protoPath: edited])
        defer { tree.remove() }
        return CompatibilityRequest(
            current: tree.path,
            baseline: .path(baseline),
            category: .wireJSON,
            pathPrefixes: ["ranking/catalog/v1"]
        ).run()
    }

    @Test("The committed catalog baseline matches the catalog record format in the tree")
    func baselineIsCurrent() throws {
        let outcome = CompatibilityRequest(
            current: CatalogContractTests.repository.appendingPathComponent("proto").path,
            baseline: .path(CatalogContractTests.baseline),
            pathPrefixes: ["ranking/catalog/v1"]
        ).run()
        #expect(outcome.status == .compatible, "\(outcome.report)\(outcome.diagnostics)")
        #expect(outcome.diagnostics.contains("1 file checked"))
    }

    @Test(
        "Breaking changes to the catalog record format are caught",
        arguments: [
            (
                "GeoPoint latitude narrowed to float", "  double lat = 1;", "  float lat = 1;",
                "FIELD_WIRE_JSON_COMPATIBLE_TYPE"
            ),
            ("Entity id renumbered", "  string id = 1;", "  string id = 3;", "FIELD_NO_DELETE_UNLESS_NUMBER_RESERVED"),
            ("interaction time renamed", "int64 unix_ms = 3;", "int64 time_ms = 3;", "FIELD_SAME_NAME"),
            (
                "embedding values made singular", "repeated float values = 1;", "float values = 1;",
                "FIELD_WIRE_JSON_COMPATIBLE_CARDINALITY"
            ),
            (
                "weekday enum value deleted", "  WEEKDAY_SUNDAY = 7;\n", "",
                "ENUM_VALUE_NO_DELETE_UNLESS_NUMBER_RESERVED"
            ),
        ]
    )
    func breakingChangeIsCaught(name: String, from: String, to: String, rule: String) throws {
        let outcome = try CatalogContractTests.check { $0.replacingOccurrences(of: from, with: to) }
        #expect(outcome.status == .breaking, "\(name): \(outcome.diagnostics)")
        #expect(outcome.findings.contains { $0.rule.rawValue == rule }, "\(name): \(outcome.report)")
        #expect(outcome.findings.allSatisfy { $0.file == CatalogContractTests.protoPath })
    }

    @Test("Adding a field, a value case or a message to the catalog record format is allowed")
    func additionsAreAllowed() throws {
        let outcome = try CatalogContractTests.check { proto in
            proto
                .replacingOccurrences(
                    of: "  map<string, Value> attributes = 2;\n",
                    with: "  map<string, Value> attributes = 2;\n  // When the row was last changed upstream.\n"
                        + "  int64 updated_unix_ms = 3;\n"
                )
                .replacingOccurrences(
                    of: "    string text = 11;\n",
                    with: "    string text = 11;\n    bool flag = 12;\n"
                )
                + "\nmessage SnapshotFooter {\n  uint64 records = 1;\n}\n"
        }
        #expect(outcome.status == .compatible, "\(outcome.report)\(outcome.diagnostics)")
        #expect(outcome.findings.isEmpty)
    }
}
