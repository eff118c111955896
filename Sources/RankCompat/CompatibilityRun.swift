import Foundation

/// The exit statuses of `rank-compat`.
public enum CompatibilityStatus: Int32, Sendable {
    /// No breaking change.
    case compatible = 0
    /// At least one breaking change.
    case breaking = 1
    /// An input could not be loaded (missing, does not compile, not a descriptor set) or the usage was wrong.
    case unusableInput = 2
}

/// Where the baseline comes from.
public enum BaselineSource: Sendable, Equatable {
    /// A proto root directory or a descriptor set file.
    case path(String)
    /// The current proto root as it was at a git revision.
    case gitRevision(String)
}

/// Everything one `rank-compat` invocation needs, independent of argument parsing.
public struct CompatibilityRequest: Sendable {
    /// The current contract: a proto root directory or a descriptor set file.
    public var current: String
    /// The baseline to compare against.
    public var baseline: BaselineSource
    /// Which rules run.
    public var category: CompatibilityCategory
    /// How findings are printed.
    public var format: FindingFormat
    /// Only files at or under these paths (relative to the proto root) are checked; empty means all.
    public var pathPrefixes: [String]
    /// Compiles directories.
    public var loader: SchemaLoader

    /// Creates a request with the command line's defaults.
    public init(
        current: String,
        baseline: BaselineSource,
        category: CompatibilityCategory = .wireJSON,
        format: FindingFormat = .text,
        pathPrefixes: [String] = [],
        loader: SchemaLoader = SchemaLoader()
    ) {
        self.current = current
        self.baseline = baseline
        self.category = category
        self.format = format
        self.pathPrefixes = pathPrefixes
        self.loader = loader
    }
}

/// What a run produced: the status, the report for stdout, and a one-line summary or error for stderr.
public struct CompatibilityOutcome: Sendable {
    /// The exit status.
    public var status: CompatibilityStatus
    /// The findings, rendered in the requested format (empty text when compatible).
    public var report: String
    /// A summary line, or the error that made the input unusable.
    public var diagnostics: String
    /// The findings themselves.
    public var findings: [Finding]
}

extension CompatibilityRequest {
    /// Loads both sides, runs the checker and renders the outcome. Never throws: unusable input is status 2.
    public func run() -> CompatibilityOutcome {
        let baselineName: String
        switch baseline {
        case .path(let path): baselineName = path
        case .gitRevision(let revision): baselineName = "\(current) at \(revision)"
        }
        do {
            let currentSchema = try loader.load(current).restricted(toPathPrefixes: pathPrefixes)
            let baselineSchema: Schema
            switch baseline {
            case .path(let path):
                baselineSchema = try loader.load(path).restricted(toPathPrefixes: pathPrefixes)
            case .gitRevision(let revision):
                baselineSchema = try loader.loadGitRevision(revision, of: current)
                    .restricted(toPathPrefixes: pathPrefixes)
            }
            // A --path that matches nothing would make every run pass; that is a mistake, not a success.
            guard !currentSchema.checkedFileNames.isEmpty || !baselineSchema.checkedFileNames.isEmpty else {
                throw InputError.noProtoFiles(path: "--path " + pathPrefixes.joined(separator: " --path "))
            }

            let findings = BreakingChangeChecker(category: category).check(
                current: currentSchema,
                against: baselineSchema
            )
            var isDirectory: ObjCBool = false
            let root =
                FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory) && isDirectory.boolValue
                ? current : nil
            let report = format.render(findings, category: category, root: root)
            let checked = currentSchema.checkedFileNames.union(baselineSchema.checkedFileNames).count
            if findings.isEmpty {
                return CompatibilityOutcome(
                    status: .compatible,
                    report: report,
                    diagnostics: "compatible with \(baselineName) under \(category.rawValue) "
                        + "(\(checked) file\(checked == 1 ? "" : "s") checked)",
                    findings: findings
                )
            }
            let count = findings.count == 1 ? "1 breaking change" : "\(findings.count) breaking changes"
            return CompatibilityOutcome(
                status: .breaking,
                report: report,
                diagnostics: "\(count) against \(baselineName) under \(category.rawValue)",
                findings: findings
            )
        } catch {
            return CompatibilityOutcome(
                status: .unusableInput,
                report: "",
                diagnostics: "error: \(error)",
                findings: []
            )
        }
    }
}
