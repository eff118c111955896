import DemoDomains
import Foundation

// Writes the demo marketplace's catalog tables (venues.csv, users.csv, orders.csv) for the Python reference server,
// with the same generator, seed and scale rankd uses, through the demo's own export (DemoDomains).
//   export-demo-catalog OUT_DIR [SCALE] [SEED]
let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write("usage: export-demo-catalog OUT_DIR [SCALE] [SEED]\n".data(using: .utf8)!)
    exit(2)
}
guard let scale = arguments.count > 2 ? Double(arguments[2]) : 1, scale > 0,
    let seed = arguments.count > 3 ? UInt64(arguments[3]) : 42
else {
    FileHandle.standardError.write(
        "export-demo-catalog: SCALE must be a positive number, SEED an integer\n".data(using: .utf8)!
    )
    exit(2)
}
do {
    let market = MarketplaceDemo.generate(seed: seed, scale: scale)
    for (file, rows) in try market.writeTables(to: arguments[1]) { print("\(file): \(rows) rows") }
} catch {
    FileHandle.standardError.write("export-demo-catalog: \(error)\n".data(using: .utf8)!)
    exit(1)
}
