// Compiled into the Ranking module by Scripts/fuzz.sh, which builds without SwiftPM: SwiftPM generates this accessor
// for a target with resources. Here it points at the source folder, whose `Resources` directory is what SwiftPM
// would copy; RANKD_RESOURCES still overrides it, as in EmbeddedResources.
import Foundation

extension Foundation.Bundle {
    static let module: Bundle = {
        let sources = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Sources/Ranking")
        guard let bundle = Bundle(path: sources.path) else {
            fatalError("no Ranking sources at \(sources.path) for the fuzz build's resource bundle")
        }
        return bundle
    }()
}
