import Foundation

/// One breaking change: which rule it breaks, where in the current files, and what changed.
public struct Finding: Hashable, Sendable, Comparable {
    /// The rule that flagged it.
    public var rule: Rule
    /// The file (relative to the proto root) that holds the element, or for a deletion its parent.
    public var file: String
    /// Where the element, or the deleted element's parent, is declared in `file`.
    public var position: SourcePosition
    /// What changed, in one sentence.
    public var message: String

    /// Creates a finding.
    public init(rule: Rule, file: String, position: SourcePosition, message: String) {
        self.rule = rule
        self.file = file
        self.position = position
        self.message = message
    }

    /// The path as printed: `file` under `root` when one is given (the directory the user named), so editors and
    /// CI annotations can open it.
    public func path(under root: String?) -> String {
        guard let root, !root.isEmpty, root != "." else { return file }
        return root.hasSuffix("/") ? root + file : root + "/" + file
    }

    /// `path:line:col: RULE_ID: message`.
    public func line(under root: String? = nil) -> String {
        "\(path(under: root)):\(position.line):\(position.column): \(rule.id): \(message)"
    }

    /// Report order: file, position, rule id, message, so output is stable from run to run.
    public static func < (lhs: Finding, rhs: Finding) -> Bool {
        (lhs.file, lhs.position.line, lhs.position.column, lhs.rule.id, lhs.message)
            < (rhs.file, rhs.position.line, rhs.position.column, rhs.rule.id, rhs.message)
    }
}

/// Renders findings for people (one line each) or for tools (one JSON document).
public enum FindingFormat: String, CaseIterable, Sendable {
    case text
    case json

    /// The rendered report, ending in a newline unless it is empty text.
    public func render(_ findings: [Finding], category: CompatibilityCategory, root: String?) -> String {
        switch self {
        case .text:
            return findings.map { $0.line(under: root) + "\n" }.joined()
        case .json:
            let report = JSONReport(
                category: category.rawValue,
                compatible: findings.isEmpty,
                findings: findings.map {
                    JSONReport.Entry(
                        path: $0.path(under: root),
                        line: $0.position.line,
                        column: $0.position.column,
                        rule: $0.rule.id,
                        message: $0.message
                    )
                }
            )
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            // Encoding plain strings and integers cannot fail; a failure here is a programming error.
            guard let data = try? encoder.encode(report), let text = String(data: data, encoding: .utf8) else {
                preconditionFailure("JSON encoding of a findings report failed")
            }
            return text + "\n"
        }
    }

    private struct JSONReport: Encodable {
        struct Entry: Encodable {
            var path: String
            var line: Int
            var column: Int
            var rule: String
            var message: String
        }
        var category: String
        var compatible: Bool
        var findings: [Entry]
    }
}
