import ArgumentParser
import Foundation
import RankCompat

extension CompatibilityCategory: ExpressibleByArgument {}
extension FindingFormat: ExpressibleByArgument {}

/// `rank-compat`: fails when the current .proto contract would break callers built against a baseline.
@main
struct RankCompatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rank-compat",
        abstract: "Detect breaking changes in a .proto contract against a baseline.",
        discussion: """
            BASELINE and CURRENT are each a proto root directory (every .proto file under it is compiled with \
            protoc --include_imports --include_source_info, imports resolved against the directory and the \
            --include directories) or a serialized google.protobuf.FileDescriptorSet.

            Each finding is printed as `path:line:col: RULE_ID: message`, positioned at the element in the \
            current files (for a deletion, at its parent).

            Exit status: 0 compatible, 1 breaking changes found, 2 unusable input or usage error.
            """
    )

    @Option(name: .customLong("against"), help: "The baseline: a proto root directory or a descriptor set file.")
    var against: String?

    @Option(
        name: .customLong("against-git"),
        help: ArgumentHelp(
            "Use CURRENT as it was at this git revision as the baseline.",
            valueName: "ref"
        )
    )
    var againstGit: String?

    @Option(help: "WIRE (binary encoding) or WIRE_JSON (binary and JSON, stricter).")
    var category: CompatibilityCategory = .wireJSON

    @Option(help: "text (one line per finding) or json.")
    var format: FindingFormat = .text

    @Option(
        name: .customLong("path"),
        help: ArgumentHelp(
            "Check only files at or under this path, relative to the proto root (repeatable).",
            valueName: "prefix"
        )
    )
    var paths: [String] = []

    @Option(help: "The protoc to run for directories.")
    var protoc: String = "protoc"

    @Option(
        name: [.customShort("I"), .customLong("include")],
        help: ArgumentHelp(
            "An include directory for imports such as google/protobuf/*.proto (repeatable).",
            valueName: "dir"
        )
    )
    var includes: [String] = ["/usr/include"]

    @Argument(help: "The current contract: a proto root directory or a descriptor set file.")
    var current: String = "proto"

    func validate() throws {
        switch (against, againstGit) {
        case (nil, nil): throw ValidationError("give the baseline with --against PATH or --against-git REF")
        case (.some, .some): throw ValidationError("--against and --against-git cannot be combined")
        default: break
        }
    }

    /// Parses arguments itself so that every usage error exits with 2, the status for unusable input.
    static func main() {
        let command: RankCompatCommand
        do {
            command = try parse()
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(2)
        }
        Foundation.exit(command.execute())
    }

    /// Runs the comparison, prints the report to stdout and the summary to stderr, and returns the exit status.
    func execute() -> Int32 {
        let request = CompatibilityRequest(
            current: current,
            baseline: againstGit.map(BaselineSource.gitRevision) ?? .path(against ?? ""),
            category: category,
            format: format,
            pathPrefixes: paths,
            loader: SchemaLoader(protocPath: protoc, includePaths: includes)
        )
        let outcome = request.run()
        FileHandle.standardOutput.write(Data(outcome.report.utf8))
        FileHandle.standardError.write(Data("rank-compat: \(outcome.diagnostics)\n".utf8))
        return outcome.status.rawValue
    }
}
