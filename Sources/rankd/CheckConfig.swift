import ArgumentParser
import Foundation
import RankdConfig

/// `rankd check-config FILE`: validates a configuration file without starting, printing every problem with its
/// location.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file without starting rankd.",
        discussion: """
            Checks every setting, the pipeline (surfaces, models, experiments) and the model files against their \
            golden files, and prints each problem as FILE:LINE:COLUMN: key.path: message, then a summary. The file \
            is checked alone: flags and RANKD_* environment variables are not applied. Exit status: 0 when the file \
            is valid (with a summary of what rankd would serve), 1 when it has any problem, 2 when it cannot be \
            read or is not YAML (or JSON) at all.
            """
    )

    @Argument(help: "The configuration file (YAML or JSON).")
    var file: String

    func run() throws {
        let resolved: ResolvedConfiguration
        do {
            resolved = try ConfigResolver.load(path: file, environment: [:], flags: [:])
        } catch {
            print("\(error)")
            throw ExitCode(2)
        }
        for problem in resolved.problems { print(problem) }
        guard resolved.isValid else {
            let count = resolved.problems.count
            print("\(file): \(count) problem\(count == 1 ? "" : "s"); rankd would refuse this configuration")
            throw ExitCode(1)
        }
        print("\(file): valid; " + ConfigSummary.describe(resolved.settings))
    }
}
