// swift-tools-version: 6.1
import PackageDescription

// Micro benchmarks, kept out of the root package so `make test` never builds them. Run with
// `swift package --disable-sandbox benchmark` here, or `make bench` at the root (section "micro").
let package = Package(
    name: "rankd-benchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "rankd", path: "../"),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "RankdBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "H2GRPC", package: "rankd"),
                .product(name: "ProtoSupport", package: "rankd"),
                .product(name: "Ranking", package: "rankd"),
                .product(name: "RankingModels", package: "rankd"),
                .product(name: "CatalogLoading", package: "rankd"),
            ],
            path: "Benchmarks/RankdBenchmarks",
            swiftSettings: [.swiftLanguageMode(.v5)],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Writes the demo catalog as CSV for the Python reference server (Benchmarks/python-reference).
        .executableTarget(
            name: "export-demo-catalog",
            dependencies: [.product(name: "DemoDomains", package: "rankd")],
            path: "Tools/export-demo-catalog",
            swiftSettings: [.swiftLanguageMode(.v5)]
        ),
    ]
)
