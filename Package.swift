// swift-tools-version: 6.0
import PackageDescription

// Shared by every Swift target: Swift 5 language mode for now (the C handles cross threads under
// documented ownership rules that strict Sendable checking cannot yet see). Release builds are plain `-O`: a
// process that parses hostile input keeps its bounds, overflow and precondition checks.
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v5)
]

let package = Package(
    name: "rankd",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "rankd", targets: ["rankd"]),
        .executable(name: "rankctl", targets: ["rankctl"]),
        .executable(name: "rank-load", targets: ["rank-load"]),
        .executable(name: "rank-compat", targets: ["rank-compat"]),
        .executable(name: "interop-server", targets: ["interop-server"]),
        .library(name: "H2GRPC", targets: ["H2GRPC"]),
        .library(name: "Ranking", targets: ["Ranking"]),
        // Snapshot loading into the engine.
        .library(name: "CatalogLoading", targets: ["CatalogLoading"]),
        // The demo domains (for the Benchmarks package's export of the demo catalog).
        .library(name: "DemoDomains", targets: ["DemoDomains"]),
        // For the separate Benchmarks package (protobuf encode/decode and tree scorer micro benchmarks).
        .library(name: "ProtoSupport", targets: ["ProtoSupport"]),
        .library(name: "RankingModels", targets: ["RankingModels"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-atomics", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        // MARK: C shims and generated code
        .target(name: "CNGHTTP2Shim", linkerSettings: [.linkedLibrary("nghttp2")]),
        .target(name: "CSystemShim"),
        .target(name: "CPrefetch"),
        .target(name: "CZlibShim", linkerSettings: [.linkedLibrary("z")]),
        .target(name: "CRankingProto", linkerSettings: [.linkedLibrary("protobuf-c")]),

        // MARK: RPC: HTTP/2 + gRPC, knows nothing of ranking
        .target(
            name: "H2GRPC",
            dependencies: [
                "CNGHTTP2Shim", "CSystemShim", "CZlibShim", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "H2GRPCTests", dependencies: ["H2GRPC"], swiftSettings: swiftSettings),

        // protobuf-c from Swift: decoding, encoding, and an arena for building messages.
        .target(name: "ProtoSupport", dependencies: ["CRankingProto", "H2GRPC"], swiftSettings: swiftSettings),

        // Standard gRPC services (health, reflection) on H2GRPC.
        .target(
            name: "GRPCStandardServices",
            dependencies: ["H2GRPC", "CRankingProto", "ProtoSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "GRPCStandardServicesTests",
            dependencies: ["GRPCStandardServices", "H2GRPC", "CRankingProto", "ProtoSupport"],
            swiftSettings: swiftSettings
        ),

        // MARK: Ranking: the pipeline, knows nothing of HTTP/2
        // Gradient-boosted tree models (LightGBM text, XGBoost JSON) with golden-file parity checks.
        .target(name: "CQuickScorer"),
        .target(name: "RankingModels", dependencies: ["CPrefetch", "CQuickScorer"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RankingModelsTests",
            dependencies: ["RankingModels"],
            exclude: ["Fixtures"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Ranking",
            dependencies: [
                "RankingModels", "CPrefetch", .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            resources: [.copy("Resources")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RankingTests",
            dependencies: ["Ranking", "CatalogLoading", "DemoDomains"],
            swiftSettings: swiftSettings
        ),

        // MARK: Catalog snapshots: schema, record files, build and validation; knows nothing of ranking or RPC
        // SHA-256 rounds on the CPU's SHA extensions, for the snapshot checksums (the Swift rounds are the fallback).
        .target(name: "CSHA256"),
        .target(
            name: "CatalogSnapshot",
            dependencies: ["CRankingProto", "CSHA256", "ProtoSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(name: "CatalogSnapshotTests", dependencies: ["CatalogSnapshot"], swiftSettings: swiftSettings),

        // MARK: Demo domains: generated catalogs with a hidden utility and their session simulators, written as
        // snapshots (the marketplace and the music app). Knows CatalogSnapshot only, not the engine.
        .target(
            name: "DemoDomains",
            dependencies: ["CatalogSnapshot"],
            resources: [.copy("Resources/marketplace.json"), .copy("Resources/music.json")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DemoDomainsTests",
            dependencies: ["DemoDomains", "CatalogSnapshot"],
            swiftSettings: swiftSettings
        ),

        // MARK: The exposure and event logs: records of what rankd showed and what users did, written off the serving
        // path to rotating files and a Redis Stream, and read back by the experiment analysis.
        .target(
            name: "ExposureLog",
            dependencies: [
                "CRankingProto", "ProtoSupport", "Ranking", "RedisClient",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "ExposureLogTests",
            dependencies: ["ExposureLog", "Ranking", "RedisClient", "RedisTestSupport"],
            swiftSettings: swiftSettings
        ),

        // MARK: Experiment analysis: exposures joined to events, per-variant metrics with intervals, the sample-ratio
        // check, guardrails and a verdict, rendered as text, JSON or one HTML page; reads the logs, knows nothing of
        // serving.
        .target(name: "ExperimentAnalysis", dependencies: ["ExposureLog", "Ranking"], swiftSettings: swiftSettings),
        .testTarget(
            name: "ExperimentAnalysisTests",
            dependencies: ["ExperimentAnalysis", "ExposureLog", "Ranking"],
            swiftSettings: swiftSettings
        ),

        // MARK: Catalog loading: a validated snapshot into the engine's catalog (the marketplace mapping). Joins Ranking
        // and CatalogSnapshot so neither knows the other; the marketplace demo reaches the engine through it
        // (DemoSnapshot) and its held-out sessions are replayed through the engine here.
        .target(
            name: "CatalogLoading",
            dependencies: ["Ranking", "CatalogSnapshot", "DemoDomains", "CSystemShim"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CatalogLoadingTests",
            dependencies: ["CatalogLoading", "CatalogSnapshot", "DemoDomains", "Ranking"],
            swiftSettings: swiftSettings
        ),

        // MARK: The admin port: HTTP/1.1 on swift-nio for scrapes, probes and operator actions; knows nothing of ranking
        .target(
            name: "AdminHTTP",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),

        .testTarget(name: "AdminHTTPTests", dependencies: ["AdminHTTP"], swiftSettings: swiftSettings),
        // rankd's operations: the metrics backend, scrape-time samplers, readiness and the admin pages.
        .target(
            name: "RankdOps",
            dependencies: [
                "AdminHTTP", "H2GRPC", .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RankdOpsTests",
            dependencies: [
                "RankdOps", "AdminHTTP", "H2GRPC", "Ranking", "CatalogLoading", "DemoDomains",
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),

        // MARK: Redis: a blocking client on hiredis (connections, pipelines, a bounded pool with back-off) for the
        // shared online feature store; knows nothing of ranking
        .target(name: "CHiredisShim", linkerSettings: [.linkedLibrary("hiredis")]),
        .target(name: "RedisClient", dependencies: ["CHiredisShim"], swiftSettings: swiftSettings),
        // A real redis-server per test, on a free port (Redis tests fail, never skip, without one).
        .target(
            name: "RedisTestSupport",
            dependencies: ["RedisClient"],
            path: "Tests/RedisTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisClientTests",
            dependencies: ["RedisClient", "RedisTestSupport"],
            swiftSettings: swiftSettings
        ),
        // The online state in Redis, shared by replicas: Ranking's OnlineStore on RedisClient.
        .target(
            name: "OnlineStoreRedis",
            dependencies: ["Ranking", "RedisClient"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "OnlineStoreRedisTests",
            dependencies: ["OnlineStoreRedis", "Ranking", "RedisClient", "RedisTestSupport"],
            swiftSettings: swiftSettings
        ),

        // MARK: The ranking service: contract <-> pipeline
        .target(
            name: "RankdService",
            dependencies: [
                "H2GRPC", "GRPCStandardServices", "Ranking", "CRankingProto", "ProtoSupport", "ExposureLog",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RankdServiceTests",
            dependencies: ["RankdService", "H2GRPC", "Ranking", "CatalogLoading", "CRankingProto"],
            swiftSettings: swiftSettings
        ),

        // MARK: Configuration: rankd's settings file (YAML or JSON), flags and environment, validated with locations
        .target(
            name: "RankdConfig",
            dependencies: ["Ranking", .product(name: "Yams", package: "Yams")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RankdConfigTests",
            dependencies: ["RankdConfig", "Ranking", "CatalogLoading"],
            swiftSettings: swiftSettings
        ),

        // MARK: Contract compatibility
        .target(name: "RankCompat", dependencies: ["CRankingProto"], swiftSettings: swiftSettings),
        .testTarget(
            name: "RankCompatTests",
            dependencies: ["RankCompat"],
            exclude: ["Corpus"],
            swiftSettings: swiftSettings
        ),

        // MARK: Load generation
        .target(
            name: "RankLoad",
            dependencies: [
                "H2GRPC", "CRankingProto", "ProtoSupport", "Ranking", "DemoDomains",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RankLoadTests",
            dependencies: ["RankLoad", "H2GRPC", "DemoDomains"],
            swiftSettings: swiftSettings
        ),

        // MARK: Executables
        .executableTarget(
            name: "rankd",
            dependencies: [
                "RankdService", "H2GRPC", "Ranking", "CatalogLoading", "CatalogSnapshot", "DemoDomains", "RankdConfig",
                "RankdOps", "AdminHTTP", "OnlineStoreRedis", "RedisClient", "ExposureLog",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rankctl",
            dependencies: [
                "H2GRPC", "CRankingProto", "ProtoSupport", "Ranking", "RankdService", "CatalogSnapshot",
                "CatalogLoading", "DemoDomains", "ExperimentAnalysis", "ExposureLog",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rank-load",
            dependencies: ["RankLoad", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "rank-compat",
            dependencies: ["RankCompat", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: swiftSettings
        ),
        // Scoring benchmark driver for Scripts/bench-scoring.sh (feature rows export, timed scoring passes).
        .executableTarget(
            name: "score-bench",
            dependencies: [
                "RankingModels", "Ranking", "CatalogLoading", "DemoDomains",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "interop-server",
            dependencies: [
                "H2GRPC", "GRPCStandardServices", "CRankingProto", "ProtoSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
