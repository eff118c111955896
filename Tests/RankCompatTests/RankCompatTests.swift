import Foundation
import Testing

@testable import RankCompat

/// A proto root in a fresh temporary directory, removed by `remove()`.
struct ProtoTree {
    let path: String

    init(_ files: [String: String]) throws {
        path = FileManager.default.temporaryDirectory.path + "/rank-compat-test-" + UUID().uuidString
        try write(files)
    }

    func write(_ files: [String: String]) throws {
        for (name, text) in files {
            let url = URL(fileURLWithPath: path).appendingPathComponent(name)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(),
                withIntermediateDirectories: true
            )
            try text.write(to: url, atomically: true, encoding: .utf8)
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

private let contract = """
    syntax = "proto3";

    package shop.v1;

    message Item {
      string id = 1;
      map<string, double> features = 2;
      optional int32 rank = 3;
      oneof origin {
        string venue_id = 4;
        string campaign = 5;
      }
      reserved 7 to 9;
      reserved "old";
    }

    enum Kind {
      KIND_UNSPECIFIED = 0;
      KIND_DISH = 1;
      reserved 5 to 6;
    }

    service Shop {
      rpc Get(Item) returns (Item);
      rpc Watch(Item) returns (stream Item) {
        option idempotency_level = NO_SIDE_EFFECTS;
      }
    }
    """

@Suite("Descriptor decoding")
struct DescriptorDecodingTests {
    @Test("Bytes that are not a descriptor set are rejected, not crashed on")
    func garbageIsRejected() {
        #expect(throws: DescriptorSetDecodingError.notADescriptorSet) {
            try DescriptorSetDecoder.decode([0xFF, 0xFF, 0xFF, 0xFF])
        }
    }

    @Test("A compiled file keeps names, positions, map entries, oneofs, reserved ranges and RPC shapes")
    func compiledFileIsModelled() throws {
        let tree = try ProtoTree(["shop.proto": contract])
        defer { tree.remove() }
        let schema = try SchemaLoader().load(tree.path)
        #expect(schema.checkedFileNames == ["shop.proto"])
        let file = try #require(schema.files.first { $0.name == "shop.proto" })
        #expect(file.package == "shop.v1")
        #expect(file.syntax == .proto3)
        #expect(file.packagePosition == SourcePosition(line: 3, column: 1))

        let item = try #require(file.messages.first { $0.fullName == "shop.v1.Item" })
        #expect(item.position == SourcePosition(line: 5, column: 1))
        #expect(item.fields.map(\.name) == ["id", "features", "rank", "venue_id", "campaign"])
        #expect(item.fields[0].position == SourcePosition(line: 6, column: 3))
        #expect(item.fields[0].jsonName == "id")
        #expect(item.fields[2].isProto3Optional)
        #expect(item.oneofs.map(\.name).contains("origin"))
        // Message reserved ranges are stored inclusive, like enum ranges.
        #expect(item.reservedRanges == [ReservedRange(start: 7, end: 9)])
        #expect(item.reservedNames == ["old"])

        let entry = try #require(file.messages.first { $0.fullName == "shop.v1.Item.FeaturesEntry" })
        #expect(entry.isMapEntry)
        // The generated entry has no source of its own, so it borrows the map field's position.
        #expect(entry.position == SourcePosition(line: 7, column: 3))

        let kind = try #require(file.enums.first { $0.fullName == "shop.v1.Kind" })
        #expect(kind.values.map(\.number) == [0, 1])
        #expect(kind.reservedRanges == [ReservedRange(start: 5, end: 6)])

        let service = try #require(file.services.first)
        #expect(service.fullName == "shop.v1.Shop")
        #expect(service.methods.map(\.name) == ["Get", "Watch"])
        #expect(service.methods[1].serverStreaming && !service.methods[1].clientStreaming)
        #expect(service.methods[1].idempotencyLevel == .noSideEffects)
        #expect(service.methods[0].inputType == "shop.v1.Item")
    }

    @Test("The committed baseline is a decodable descriptor set of the ranking contract")
    func committedBaselineDecodes() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let baseline = repository.appendingPathComponent("proto/baseline/ranking-v1.binpb").path
        let schema = try SchemaLoader().load(baseline)
        #expect(schema.checkedFileNames.contains("ranking/v1/ranking.proto"))
        let service = schema.files.flatMap(\.services).first { $0.fullName == "ranking.v1.RankingService" }
        #expect(service?.methods.map(\.name).contains("Rank") == true)
    }
}

@Suite("Command outcome")
struct CompatibilityRunTests {
    @Test("An unchanged contract is compatible and prints nothing on stdout")
    func unchangedIsCompatible() throws {
        let before = try ProtoTree(["shop.proto": contract])
        let after = try ProtoTree(["shop.proto": contract])
        defer {
            before.remove()
            after.remove()
        }
        let outcome = CompatibilityRequest(current: after.path, baseline: .path(before.path)).run()
        #expect(outcome.status == .compatible)
        #expect(outcome.report.isEmpty)
        #expect(outcome.diagnostics.contains("compatible"))
    }

    @Test("A breaking change exits 1 with path:line:col: RULE: message lines under the current root")
    func breakingChangeIsReported() throws {
        let before = try ProtoTree(["shop.proto": contract])
        let after = try ProtoTree([
            "shop.proto": contract.replacingOccurrences(of: "string id = 1;", with: "int64 id = 1;")
        ])
        defer {
            before.remove()
            after.remove()
        }
        let outcome = CompatibilityRequest(current: after.path, baseline: .path(before.path)).run()
        #expect(outcome.status == .breaking)
        #expect(
            outcome.report
                == "\(after.path)/shop.proto:6:3: FIELD_WIRE_JSON_COMPATIBLE_TYPE: Field 1 \"id\" on message "
                + "\"shop.v1.Item\" changed type from \"string\" to \"int64\".\n"
        )
    }

    @Test("JSON output carries the same findings")
    func jsonReport() throws {
        let before = try ProtoTree(["shop.proto": contract])
        let after = try ProtoTree([
            "shop.proto": contract.replacingOccurrences(of: "  rpc Get(Item) returns (Item);\n", with: "")
        ])
        defer {
            before.remove()
            after.remove()
        }
        let outcome = CompatibilityRequest(current: after.path, baseline: .path(before.path), format: .json).run()
        #expect(outcome.status == .breaking)
        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(outcome.report.utf8)) as? [String: Any]
        )
        #expect(document["compatible"] as? Bool == false)
        #expect(document["category"] as? String == "WIRE_JSON")
        let findings = try #require(document["findings"] as? [[String: Any]])
        #expect(findings.count == 1)
        #expect(findings.first?["rule"] as? String == "RPC_NO_DELETE")
        #expect(findings.first?["line"] as? Int == 23)
        #expect(findings.first?["column"] as? Int == 1)
        #expect(findings.first?["path"] as? String == after.path + "/shop.proto")
    }

    @Test("A .proto that does not compile exits 2 with protoc's own error")
    func compileErrorIsUnusableInput() throws {
        let before = try ProtoTree(["shop.proto": contract])
        let after = try ProtoTree(["shop.proto": "syntax = \"proto3\";\nmessage Broken { int32 a = 1 }\n"])
        defer {
            before.remove()
            after.remove()
        }
        let outcome = CompatibilityRequest(current: after.path, baseline: .path(before.path)).run()
        #expect(outcome.status == .unusableInput)
        #expect(outcome.diagnostics.contains("shop.proto:2:30: Expected \";\"."))
        #expect(outcome.report.isEmpty)
    }

    @Test("Missing, empty and undecodable baselines exit 2")
    func unusableBaselines() throws {
        let tree = try ProtoTree(["shop.proto": contract, "empty.binpb": "", "notes.txt": "not protobuf"])
        defer { tree.remove() }
        let emptyDirectory = try ProtoTree(["README": "no protos here"])
        defer { emptyDirectory.remove() }
        for baseline in [
            tree.path + "/missing.binpb", tree.path + "/empty.binpb", tree.path + "/notes.txt", emptyDirectory.path,
        ] {
            let outcome = CompatibilityRequest(current: tree.path, baseline: .path(baseline)).run()
            #expect(outcome.status == .unusableInput, "\(baseline)")
            #expect(outcome.diagnostics.hasPrefix("error: "))
        }
    }

    @Test("A --path that matches no file is an error, not a pass")
    func pathMatchingNothingIsUnusable() throws {
        let tree = try ProtoTree(["shop.proto": contract])
        defer { tree.remove() }
        let outcome = CompatibilityRequest(current: tree.path, baseline: .path(tree.path), pathPrefixes: ["nope"]).run()
        #expect(outcome.status == .unusableInput)
    }

    @Test("--path limits the check to files under it")
    func pathRestrictsCheckedFiles() throws {
        let before = try ProtoTree([
            "a/v1/a.proto": contract, "b/b.proto": "syntax = \"proto3\";\npackage b;\nservice S {}\n",
        ])
        let after = try ProtoTree(["a/v1/a.proto": contract, "b/b.proto": "syntax = \"proto3\";\npackage b;\n"])
        defer {
            before.remove()
            after.remove()
        }
        let all = CompatibilityRequest(current: after.path, baseline: .path(before.path)).run()
        #expect(all.findings.map(\.rule) == [.serviceNoDelete])
        let limited = CompatibilityRequest(
            current: after.path,
            baseline: .path(before.path),
            pathPrefixes: ["a/v1"]
        ).run()
        #expect(limited.status == .compatible)
    }

    @Test("A descriptor set written by protoc works as a baseline, well-known imports excluded from the check")
    func descriptorSetBaseline() throws {
        let withImport = contract.replacingOccurrences(
            of: "package shop.v1;\n",
            with: "package shop.v1;\n\nimport \"google/protobuf/timestamp.proto\";\n"
        )
        .replacingOccurrences(of: "  string id = 1;\n", with: "  string id = 1;\n  google.protobuf.Timestamp at = 6;\n")
        let tree = try ProtoTree(["shop.proto": withImport])
        defer { tree.remove() }
        let set = tree.path + "/baseline.binpb"
        let protoc = try ExternalCommand.run(
            "protoc",
            [
                "--include_imports", "--include_source_info", "-I", tree.path, "-I", "/usr/include",
                "--descriptor_set_out=" + set, "shop.proto",
            ],
            toolName: "protoc"
        )
        #expect(protoc.status == 0, "\(protoc.errorOutput)")
        let schema = try SchemaLoader().load(set)
        #expect(schema.files.map(\.name).contains("google/protobuf/timestamp.proto"))
        #expect(schema.checkedFileNames == ["shop.proto"])
        let outcome = CompatibilityRequest(current: tree.path, baseline: .path(set)).run()
        #expect(outcome.status == .compatible, "\(outcome.report)")
    }
}

@Suite("Git baseline")
struct GitBaselineTests {
    private func git(_ arguments: [String], in directory: String) throws {
        let result = try ExternalCommand.run(
            "git",
            ["-C", directory, "-c", "user.name=rank-compat", "-c", "user.email=rank-compat@localhost"] + arguments,
            toolName: "git"
        )
        try #require(result.status == 0, "git \(arguments): \(result.errorOutput)")
    }

    @Test("--against-git compares the proto root with itself at a revision")
    func comparesWithCommittedVersion() throws {
        let repository = try ProtoTree(["proto/shop.proto": contract, "README": "repo"])
        defer { repository.remove() }
        try git(["init", "-q"], in: repository.path)
        try git(["add", "."], in: repository.path)
        try git(["commit", "-q", "-m", "contract"], in: repository.path)
        try repository.write(["proto/shop.proto": contract.replacingOccurrences(of: "KIND_DISH", with: "KIND_MEAL")])

        let proto = repository.path + "/proto"
        let outcome = CompatibilityRequest(current: proto, baseline: .gitRevision("HEAD")).run()
        #expect(outcome.status == .breaking)
        #expect(outcome.findings.map(\.rule) == [.enumValueSameName])
        #expect(outcome.findings.first?.position == SourcePosition(line: 19, column: 3))

        let wire = CompatibilityRequest(current: proto, baseline: .gitRevision("HEAD"), category: .wire).run()
        #expect(wire.status == .compatible)

        let unknown = CompatibilityRequest(current: proto, baseline: .gitRevision("no-such-branch")).run()
        #expect(unknown.status == .unusableInput)
        #expect(unknown.diagnostics.contains("no-such-branch"))
    }
}

@Suite("Rule mechanics")
struct RuleMechanicsTests {
    @Test("Categories: WIRE_JSON swaps the wire type and cardinality rules for their JSON twins and adds name rules")
    func categories() {
        let wire = Set(Rule.rules(for: .wire))
        let json = Set(Rule.rules(for: .wireJSON))
        #expect(wire.subtracting(json) == [.fieldWireCompatibleType, .fieldWireCompatibleCardinality])
        #expect(
            json.subtracting(wire) == [
                .fieldWireJSONCompatibleType, .fieldWireJSONCompatibleCardinality, .fieldNoDeleteUnlessNameReserved,
                .enumValueNoDeleteUnlessNameReserved, .enumValueSameName, .fieldSameName, .fieldSameJSONName,
            ]
        )
        #expect(Rule.allCases.count == 24)
    }

    @Test("Every JSON-compatible type group lies inside one wire-compatible group")
    func jsonGroupsRefineWireGroups() {
        for a in FieldType.allCases {
            for b in FieldType.allCases where a.wireJSONGroup == b.wireJSONGroup {
                #expect(a.wireGroup == b.wireGroup, "\(a) and \(b)")
            }
        }
    }

    @Test("Reserved ranges: overlapping and adjacent ranges merge, gaps are reported exactly")
    func reservedRangeArithmetic() {
        let kept = ReservedRanges.collapse([
            ReservedRange(start: 6, end: 7), ReservedRange(start: 4, end: 4), ReservedRange(start: 5, end: 5),
            ReservedRange(start: 20, end: 100),
        ])
        #expect(kept == [ReservedRange(start: 4, end: 7), ReservedRange(start: 20, end: 100)])
        #expect(
            ReservedRanges.missing(ReservedRange(start: 1, end: 30), from: kept) == [
                ReservedRange(start: 1, end: 3), ReservedRange(start: 8, end: 19),
            ]
        )
        #expect(ReservedRanges.missing(ReservedRange(start: 5, end: 7), from: kept).isEmpty)
        #expect(
            ReservedRanges.missing(ReservedRange(start: 200, end: 300), from: kept) == [
                ReservedRange(start: 200, end: 300)
            ]
        )
        #expect(ReservedRanges.describe(ReservedRange(start: 9, end: 536_870_911), maximum: 536_870_911) == "9 to max")
    }

    @Test("Defaults compare by value across spellings and types")
    func defaultComparison() {
        func value(_ type: FieldType, _ text: String?) -> FieldDefault? {
            FieldDefault.of(FieldDescriptor(name: "f", number: 1, label: .optional, type: type, defaultValue: text)) {
                _ in nil
            }
        }
        let pairs: [(FieldDefault?, FieldDefault?, Bool)] = [
            (value(.int32, "5"), value(.int64, "5"), true),
            (value(.int32, "5"), value(.double, "5"), true),
            (value(.int32, "-5"), value(.double, "5"), false),
            (value(.float, "0.1"), value(.double, "0.1"), true),
            (value(.double, "nan"), value(.double, "nan"), true),
            (value(.string, "ab"), value(.bytes, "ab"), true),
            (value(.bytes, "\\001\\x02\\n"), value(.bytes, "\\x01\\002\\012"), true),
            (value(.bool, "true"), value(.int32, "1"), true),
            (value(.uint64, "18446744073709551615"), value(.int64, "-1"), false),
        ]
        for (lhs, rhs, equal) in pairs {
            guard let lhs, let rhs else {
                Issue.record("a default could not be built")
                continue
            }
            #expect(FieldDefault.sameValue(lhs, rhs) == equal, "\(lhs.printable) vs \(rhs.printable)")
        }
        #expect(value(.int32, nil)?.isZero == true)
        #expect(
            FieldDefault.of(FieldDescriptor(name: "m", number: 1, label: .repeated, type: .int32)) { _ in nil } == nil
        )
    }

    @Test("The JSON name protoc derives is the lower camel case of the field name")
    func defaultJSONName() {
        #expect(FieldDescriptor.defaultJSONName(for: "request_time_unix_ms") == "requestTimeUnixMs")
        #expect(FieldDescriptor.defaultJSONName(for: "id") == "id")
    }

    @Test("A finding prints as path:line:col: RULE_ID: message")
    func findingLine() {
        let finding = Finding(
            rule: .rpcNoDelete,
            file: "ranking/v1/ranking.proto",
            position: SourcePosition(line: 12, column: 3),
            message: "gone."
        )
        #expect(finding.line() == "ranking/v1/ranking.proto:12:3: RPC_NO_DELETE: gone.")
        #expect(finding.line(under: "proto/") == "proto/ranking/v1/ranking.proto:12:3: RPC_NO_DELETE: gone.")
    }
}
