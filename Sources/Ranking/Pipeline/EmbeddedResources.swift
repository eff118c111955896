import Foundation

/// Where the embedded surface configuration and demo models live at run time.
enum EmbeddedResources {
    /// The `Resources` folder copied next to the binary by SwiftPM, or `RANKD_RESOURCES` when set (for installs
    /// that move the binary away from its build folder).
    static func directory() throws -> String {
        if let override = ProcessInfo.processInfo.environment["RANKD_RESOURCES"], !override.isEmpty {
            return override
        }
        guard let url = Bundle.module.url(forResource: "Resources", withExtension: nil) else {
            throw RankingError.unavailable("the embedded Resources folder is missing from the Ranking bundle")
        }
        return url.path
    }
}
