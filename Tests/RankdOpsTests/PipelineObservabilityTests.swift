import CatalogLoading
import CoreMetrics
import DemoDomains
import Dispatch
import Foundation
import InMemoryTracing
import Prometheus
import RankdOps
import Ranking
import Testing
import Tracing

/// What the pipeline reports about each answer: its metrics (through the Prometheus backend rankd uses) and its
/// stage spans (through swift-distributed-tracing).
@Suite("Pipeline metrics and spans", .serialized)
struct PipelineObservabilityTests {
    /// A fixed day (2025-11-08) so opening hours never depend on when the tests run.
    static let referenceDay = 20_400
    static let catalog = try! DemoSnapshot.loadThroughSnapshot(
        MarketplaceDemo.generate(seed: 7, scale: 0.02, referenceDay: referenceDay)
    ).catalog

    static func sample(_ text: String, _ series: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    static func recommend(_ engine: RankingEngine, user: String) throws -> Int {
        var items = 0
        // 19:00 in Berlin (UTC+1) on the reference day: most venues are open.
        let time = Int64(referenceDay) * 86_400_000 + 18 * 3_600_000
        let query = RecommendQuery(
            userID: user,
            surface: "discovery",
            context: RequestContext(requestTimeUnixMs: time, market: "ber")
        )
        try engine.recommend(query, deadline: nil, isCancelled: { false }) { items += $0.items.count }
        return items
    }

    @Test("each answer records its stages, variant, candidates per source and feature rows by surface")
    func metrics() throws {
        let backend = MetricsBackend()
        let engine = try withMetricsFactory(backend.factory) {
            try RankingEngine.demo(catalog: Self.catalog)
        }
        for u in 1...5 { #expect(try Self.recommend(engine, user: "u\(u)") > 0) }
        let text = String(decoding: backend.render(), as: UTF8.self)
        for stage in ["candidates", "features", "score", "rerank"] {
            #expect(
                Self.sample(text, "rankd_stage_duration_seconds_count{surface=\"discovery\",stage=\"\(stage)\"}") == 5
            )
        }
        #expect(
            text.contains("rankd_stage_duration_seconds_bucket{surface=\"discovery\",stage=\"score\",le=\"0.025\"}")
        )
        var answers = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix("rankd_answers_total{surface=\"discovery\"") {
            answers += Double(line.split(separator: " ").last!) ?? 0
        }
        #expect(answers == 5)
        #expect((Self.sample(text, #"rankd_candidates_total{surface="discovery",source="nearby"}"#) ?? 0) > 0)
        let rows = try #require(Self.sample(text, #"rankd_feature_rows_total{surface="discovery"}"#))
        #expect(rows > 0)
        #expect(!text.contains("rankd_degraded_answers_total{surface=\"discovery\",stage=\"score\"} 1"))
    }

    @Test("a degraded answer is counted by the stage it went without")
    func degraded() throws {
        let backend = MetricsBackend()
        let engine = try withMetricsFactory(backend.factory) {
            try RankingEngine.demo(catalog: Self.catalog) { config in
                // A scoring budget no model can meet: the answer is scored by the heuristic instead.
                config.surfaces["discovery"]?.stageBudgets.score = 1e-12
            }
        }
        #expect(try Self.recommend(engine, user: "u1") > 0)
        let text = String(decoding: backend.render(), as: UTF8.self)
        #expect(Self.sample(text, #"rankd_degraded_answers_total{surface="discovery",stage="score"}"#) == 1)
        #expect(Self.sample(text, #"rankd_degraded_answers_total{surface="discovery",stage="rerank"}"#) == 0)
    }

    @Test("missing feature values are counted per feature")
    func missingFeatures() throws {
        let backend = MetricsBackend()
        let engine = try withMetricsFactory(backend.factory) {
            try RankingEngine.demo(catalog: Self.catalog)
        }
        // A user the snapshot does not know: no embedding, so embedding_dot is missing; distance never is.
        _ = try engine.rank(
            RankQuery(
                userID: "u999999999",
                surface: "discovery",
                context: RequestContext(
                    latitude: 52.52,
                    longitude: 13.405,
                    requestTimeUnixMs: Int64(Self.referenceDay) * 86_400_000 + 18 * 3_600_000
                ),
                candidates: [CandidateInput(itemID: "v1"), CandidateInput(itemID: "v2")]
            ),
            deadline: nil,
            isCancelled: { false }
        )
        let text = String(decoding: backend.render(), as: UTF8.self)
        #expect(Self.sample(text, #"rankd_feature_rows_total{surface="discovery"}"#) == 2)
        #expect(Self.sample(text, #"rankd_feature_missing_total{surface="discovery",feature="embedding_dot"}"#) == 2)
        #expect(Self.sample(text, #"rankd_feature_missing_total{surface="discovery",feature="distance_km"}"#) == 0)
    }

    @Test("a music surface records the same series as a marketplace one")
    func genericSurface() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rankd-metrics-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("music").path
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let demo = MusicDemo.generate(seed: 7, scale: 0.004)
        _ = try demo.writeSnapshot(to: path, snapshotID: "music-metrics")
        let loaded = try CatalogLoader.load(directory: path)
        let backend = MetricsBackend()
        let engine = try withMetricsFactory(backend.factory) {
            try RankingEngine(
                catalog: loaded.catalog,
                config: try RankingEngine.embeddedConfig(),
                resourceDirectory: try RankingEngine.embeddedResourceDirectory()
            )
        }
        let session = try #require(demo.heldOutSessions.first { $0.tracks.count >= 2 })
        let tracks = session.tracks.suffix(2).reversed().map { MusicCatalog.trackID(Int($0)) }
        for _ in 0..<3 {
            let query = RecommendQuery(
                userID: MusicCatalog.userID(session.user),
                surface: "next_track",
                limit: 10,
                contextItemIDs: tracks
            )
            let result = try engine.recommendList(query, deadline: .now() + .seconds(600), isCancelled: { false })
            #expect(!result.items.isEmpty)
        }
        let text = String(decoding: backend.render(), as: UTF8.self)
        for stage in ["candidates", "features", "score", "rerank"] {
            #expect(
                Self.sample(text, "rankd_stage_duration_seconds_count{surface=\"next_track\",stage=\"\(stage)\"}") == 3
            )
        }
        var answers = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix("rankd_answers_total{surface=\"next_track\"") {
            answers += Double(line.split(separator: " ").last!) ?? 0
        }
        #expect(answers == 3)
        #expect((Self.sample(text, #"rankd_candidates_total{surface="next_track",source="co_occurrence"}"#) ?? 0) > 0)
        #expect((Self.sample(text, #"rankd_feature_rows_total{surface="next_track"}"#) ?? 0) > 0)
        #expect(text.contains(#"rankd_feature_missing_total{surface="next_track",feature="track.popularity"}"#))
    }

    @Test("stages are spans under the caller's span when a tracer is bootstrapped")
    func spans() throws {
        let tracer = TestTracer.shared
        let engine = try RankingEngine.demo(catalog: Self.catalog)
        let parent = tracer.startSpan("caller", context: .topLevel, ofKind: .server)
        _ = try InstrumentationContext.withValue(parent.context) { try Self.recommend(engine, user: "u2") }
        parent.end()
        let mine = tracer.finishedSpans.filter { $0.parentSpanID == parent.spanID }
        #expect(
            Set(mine.map(\.operationName)) == ["rankd.candidates", "rankd.features", "rankd.score", "rankd.rerank"]
        )
        #expect(mine.allSatisfy { $0.traceID == parent.traceID })
    }
}

/// One in-memory tracer for the whole test process (swift-distributed-tracing bootstraps once per process).
enum TestTracer {
    static let shared: InMemoryTracer = {
        let tracer = InMemoryTracer()
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()
}
