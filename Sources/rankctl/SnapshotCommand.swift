import ArgumentParser
import CatalogSnapshot
import Foundation

/// `rankctl snapshot`: builds catalog snapshots from exported tables and validates them (docs/data.md).
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Build a catalog snapshot from CSV, JSON Lines or Parquet tables, or validate one.",
        discussion: "Exit status: 0 valid (or built), 1 problems found (every one listed), 2 input unreadable.",
        subcommands: [SnapshotBuildCommand.self, SnapshotValidateCommand.self]
    )
}

/// Options both subcommands share.
struct SnapshotReportOptions: ParsableArguments {
    @Flag(help: "Print the report as one JSON document.")
    var json = false

    @Option(help: "Most problems listed in full; the rest are counted.")
    var maxProblems = 1000

    @Option(help: "Longest record accepted, in bytes (length prefix, CSV record or JSON line).")
    var maxRecordBytes = 16 << 20

    var limits: CatalogLimits {
        CatalogLimits(maxRecordBytes: max(1, maxRecordBytes), maxListedProblems: max(0, maxProblems))
    }

    /// Prints a report and ends with 0 when there was no problem, 1 otherwise.
    func finish(text: String, json document: JSONValue, valid: Bool) throws {
        print(json ? document.rendered(pretty: true) : text)
        if !valid { throw ExitCode(1) }
    }
}

/// Reports input that cannot be read at all and exits 2.
private func unreadable(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data(("rankctl snapshot: " + message + "\n").utf8))
    return ExitCode(2)
}

struct SnapshotBuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build",
        abstract: "Check input tables against a schema and write them as a snapshot.",
        discussion: """
            Reads <kind>.csv, <kind>.jsonl or <kind>.parquet from --input for every kind the schema declares, checks \
            every row, and writes the snapshot to --out (a folder that must not exist yet) only if no row has a \
            problem. Parquet is read through Scripts/parquet-to-jsonl.py (python3 with pyarrow).
            """
    )

    @Option(help: "Schema file (JSON), e.g. schemas/marketplace.json.")
    var schema: String

    @Option(help: "Folder holding one input table per entity kind.")
    var input: String

    @Option(help: "Folder to write the snapshot to; must not exist.")
    var out: String

    @Option(help: "Snapshot id; default <schema>-<UTC time>-<content hash>.")
    var snapshotId: String?

    @Option(help: "The Parquet converter script; default Scripts/parquet-to-jsonl.py of this checkout.")
    var parquetHelper: String?

    @OptionGroup var report: SnapshotReportOptions

    func run() throws {
        let catalogSchema: CatalogSchema
        do {
            catalogSchema = try CatalogSchema.load(path: schema)
        } catch let error as SchemaError {
            throw unreadable(error.description)
        }
        let helper = parquetHelper ?? ParquetHelper.locate()
        let builder = SnapshotBuilder(
            schema: catalogSchema,
            limits: report.limits,
            parquetToJSONLines: { source, target in
                guard let helper else {
                    throw UnreadableInput(
                        "Scripts/parquet-to-jsonl.py not found; pass --parquet-helper or set RANKCTL_PARQUET_HELPER"
                    )
                }
                try ParquetHelper.run(helper, source: source, target: target)
            }
        )
        let build: SnapshotBuild
        do {
            build = try builder.build(inputDirectory: input, output: out, snapshotID: snapshotId)
        } catch let error as UnreadableInput {
            throw unreadable(error.description)
        }
        try report.finish(text: build.text(), json: build.json(), valid: build.manifest != nil)
    }
}

struct SnapshotValidateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a snapshot completely and list every problem.",
        discussion: """
            Checks the manifest, every file's SHA-256 and record count, and every record against the snapshot's \
            schema: types, required values, coordinates, schedules, embedding sizes, duplicate ids and references. \
            Exit status: 0 valid, 1 invalid (every problem listed), 2 the snapshot cannot be read at all.
            """
    )

    @Argument(help: "The snapshot folder.")
    var snapshot: String

    @OptionGroup var report: SnapshotReportOptions

    func run() throws {
        let validation: SnapshotValidation
        do {
            validation = try SnapshotValidator(limits: report.limits).validate(directory: snapshot)
        } catch let error as UnreadableInput {
            throw unreadable(error.description)
        }
        try report.finish(text: validation.text(), json: validation.json(), valid: validation.isValid)
    }
}

/// Runs Scripts/parquet-to-jsonl.py.
enum ParquetHelper {
    static let relativePath = "Scripts/parquet-to-jsonl.py"

    /// $RANKCTL_PARQUET_HELPER, else the script of the checkout rankctl was built in (found by walking up from the
    /// executable, e.g. from .build/debug/rankctl), else the one under the working directory.
    static func locate() -> String? {
        if let path = ProcessInfo.processInfo.environment["RANKCTL_PARQUET_HELPER"], !path.isEmpty { return path }
        // /proc/self/exe names the binary however it was started (by path or through PATH).
        let executable =
            FileManager.default.fileExists(atPath: "/proc/self/exe")
            ? URL(fileURLWithPath: "/proc/self/exe") : URL(fileURLWithPath: CommandLine.arguments[0])
        var folder = executable.resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<5 {
            let candidate = folder.appendingPathComponent(relativePath).path
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
            folder = folder.deletingLastPathComponent()
        }
        let local = FileManager.default.currentDirectoryPath + "/" + relativePath
        return FileManager.default.fileExists(atPath: local) ? local : nil
    }

    /// Converts `source` to JSON Lines at `target`; throws with the helper's message when it fails.
    static func run(_ helper: String, source: String, target: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let python = ProcessInfo.processInfo.environment["PYTHON"] ?? "python3"
        process.arguments = [python, helper, source, target]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The helper writes little to stderr; reading it to the end before waiting cannot deadlock.
        let message = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: message.prefix(4096), as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            throw UnreadableInput(text.isEmpty ? "the Parquet converter exited \(process.terminationStatus)" : text)
        }
    }
}
