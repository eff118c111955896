import Foundation
import Testing

@testable import RankCompat

/// The golden corpus under Corpus/: one directory per case with `before/` and `after/` proto roots and the exact
/// lines `rank-compat --category C --against before after` prints from inside the case directory, in `C.txt`.
enum Corpus {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

    static let caseNames: [String] = {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return entries.filter { name in
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(
                atPath: root.appendingPathComponent(name).path,
                isDirectory: &isDirectory
            ) && isDirectory.boolValue
        }.sorted()
    }()

    static func directory(_ name: String) -> URL { root.appendingPathComponent(name) }

    /// The expected lines for a case and category; an empty file means the change is compatible.
    static func expectedLines(_ name: String, _ category: CompatibilityCategory) throws -> [String] {
        let text = try String(
            contentsOf: directory(name).appendingPathComponent("\(category.rawValue).txt"),
            encoding: .utf8
        )
        return text.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }

    /// The lines the checker actually produces, formatted as the command line prints them from the case directory.
    static func actualLines(_ name: String, _ category: CompatibilityCategory) throws -> [String] {
        let loader = SchemaLoader()
        let before = try loader.load(directory(name).appendingPathComponent("before").path)
        let after = try loader.load(directory(name).appendingPathComponent("after").path)
        return BreakingChangeChecker(category: category).check(current: after, against: before).map {
            $0.line(under: "after")
        }
    }

    /// COVERAGE rows: rule id, the cases that must report it, the cases that must not.
    struct CoverageRow {
        var rule: String
        var breaking: [String]
        var allowed: [String]
    }

    static func coverage() throws -> [CoverageRow] {
        let text = try String(contentsOf: root.appendingPathComponent("COVERAGE"), encoding: .utf8)
        return text.split(separator: "\n").compactMap { line -> CoverageRow? in
            if line.hasPrefix("#") { return nil }
            let columns = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard columns.count == 3 else { return nil }
            return CoverageRow(
                rule: columns[0],
                breaking: columns[1].split(separator: ",").map(String.init),
                allowed: columns[2].split(separator: ",").map(String.init)
            )
        }
    }
}

@Suite("Golden corpus")
struct CorpusTests {
    @Test("The corpus has cases to run")
    func corpusIsPresent() {
        #expect(Corpus.caseNames.count >= 2 * Rule.allCases.count)
    }

    @Test(
        "Each case reports exactly its expected lines",
        arguments: Corpus.caseNames,
        CompatibilityCategory.allCases
    )
    func caseMatchesExpectedLines(name: String, category: CompatibilityCategory) throws {
        let expected = try Corpus.expectedLines(name, category)
        let actual = try Corpus.actualLines(name, category)
        #expect(actual == expected, "\(name) under \(category.rawValue)")
    }

    @Test("Every rule has breaking and allowed cases, and they report or omit the rule")
    func coverageHoldsForEveryRule() throws {
        let rows = try Corpus.coverage()
        #expect(Set(rows.map(\.rule)) == Set(Rule.allCases.map(\.id)))
        for row in rows {
            let rule = try #require(Rule(rawValue: row.rule))
            #expect(!row.breaking.isEmpty && !row.allowed.isEmpty, "\(row.rule) needs both kinds of case")
            for name in row.breaking {
                #expect(Corpus.caseNames.contains(name), "\(name) listed for \(row.rule) does not exist")
                for category in rule.categories {
                    let lines = try Corpus.expectedLines(name, category)
                    #expect(lines.contains { $0.contains(": \(row.rule): ") }, "\(name) must flag \(row.rule)")
                }
            }
            for name in row.allowed {
                #expect(Corpus.caseNames.contains(name), "\(name) listed for \(row.rule) does not exist")
                for category in CompatibilityCategory.allCases {
                    let lines = try Corpus.expectedLines(name, category)
                    #expect(!lines.contains { $0.contains(": \(row.rule): ") }, "\(name) must not flag \(row.rule)")
                }
            }
        }
    }

    @Test("WIRE_JSON flags every case that WIRE flags", arguments: Corpus.caseNames)
    func wireJSONIsStricterThanWire(name: String) throws {
        if try !Corpus.expectedLines(name, .wire).isEmpty {
            #expect(try !Corpus.expectedLines(name, .wireJSON).isEmpty)
        }
    }

    @Test(
        "Additions never break",
        arguments: ["added-field", "added-rpc", "added-enum-value", "added-message-and-service"]
    )
    func additionsAreCompatible(name: String) throws {
        for category in CompatibilityCategory.allCases {
            #expect(try Corpus.actualLines(name, category).isEmpty)
        }
    }

    @Test(
        "int32 to int64 and string to bytes pass WIRE and are flagged by WIRE_JSON",
        arguments: ["type-int32-to-int64", "type-string-to-bytes"]
    )
    func wireOnlyCompatibleTypeChanges(name: String) throws {
        #expect(try Corpus.actualLines(name, .wire).isEmpty)
        let flagged = try Corpus.actualLines(name, .wireJSON)
        #expect(flagged.count == 1)
        #expect(flagged.first?.contains(": FIELD_WIRE_JSON_COMPATIBLE_TYPE: ") == true)
    }
}
