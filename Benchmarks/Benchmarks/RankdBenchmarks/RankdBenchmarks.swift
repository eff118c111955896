import Benchmark
import CRankingProto
import CatalogLoading
import Dispatch
import H2GRPC
import ProtoSupport
import Foundation
@_spi(Benchmarks) import Ranking
import RankingModels

/// Bytes of a RankRequest with `count` venue candidates, built with protobuf-c as a client would send it.
private func rankRequestBytes(candidates count: Int) -> [UInt8] {
    let arena = ProtoArena()
    var request = Ranking__V1__RankRequest()
    ranking__v1__rank_request__init(&request)
    request.user_id = arena.string("u42")
    request.surface = arena.string("discovery")
    var pointers: [UnsafeMutablePointer<Ranking__V1__Candidate>?] = []
    for index in 0..<count {
        var candidate = Ranking__V1__Candidate()
        ranking__v1__candidate__init(&candidate)
        candidate.item_id = arena.string("v\(index * 7 + 1)")
        pointers.append(arena.make(candidate))
    }
    request.n_candidates = pointers.count
    request.candidates = arena.array(pointers)
    return ProtoC.encode(&request)
}

/// A RecommendResponse section with `count` items, ready to encode.
private final class ResponseFixture {
    let arena = ProtoArena()
    var message = Ranking__V1__RecommendResponse()

    init(items count: Int) {
        ranking__v1__recommend_response__init(&message)
        message.section = arena.string("for_you")
        message.title = arena.string("For you")
        message.model_version = arena.string("bench-v1")
        var items: [UnsafeMutablePointer<Ranking__V1__RankedItem>?] = []
        for index in 0..<count {
            var item = Ranking__V1__RankedItem()
            ranking__v1__ranked_item__init(&item)
            item.item_id = arena.string("v\(index + 1)")
            item.venue_id = arena.string("v\(index + 1)")
            item.score = 1 / Double(index + 1)
            items.append(arena.make(item))
        }
        message.n_items = items.count
        message.items = arena.array(items)
    }
}

/// The embedded models and their golden files, read from the source tree this package sits in.
private let resources = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Sources/Ranking/Resources").path

/// A model with `count` rows to score: its golden file's rows (real feature vectors with some values missing),
/// repeated to fill `count`.
private func scorerFixture(model file: String, golden: String, rows count: Int) -> (GradientBoostedTrees, [Double])? {
    guard let model = try? GradientBoostedTrees.load(contentsOf: "\(resources)/\(file)"),
        let bytes = FileManager.default.contents(atPath: "\(resources)/\(golden)"),
        let golden = try? GoldenFile(jsonBytes: [UInt8](bytes)), golden.rowCount > 0
    else { return nil }
    var rows: [Double] = []
    rows.reserveCapacity(count * model.featureNames.count)
    for r in 0..<count { rows += golden.row(r % golden.rowCount) }
    return (model, rows)
}

/// The demo engine at a small scale (the generated demo through its snapshot, as rankd serves it), built once (it
/// takes seconds) and shared by the pipeline benchmarks.
private let engine: RankingEngine? = try? RankingEngine.demoThroughSnapshot(seed: 42, scale: 0.1)

private func venueCandidates(_ count: Int, catalog: Catalog) -> [CandidateInput] {
    (0..<count).map { CandidateInput(itemID: Catalog.venueID(($0 * 37) % catalog.venueCount)) }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        maxDuration: .seconds(3),
        maxIterations: 1_000_000
    )

    let message = [UInt8](repeating: 0x5a, count: 1024)
    Benchmark("gRPC message frame encode (1 KiB)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(MessageFraming.frame(message)) }
    }

    let framed = MessageFraming.frame(message)
    Benchmark("gRPC message frame decode (1 KiB)") { benchmark in
        for _ in benchmark.scaledIterations {
            var deframer = MessageDeframer(maxMessageSize: 4 << 20)
            deframer.append(framed)
            blackHole(try deframer.next())
        }
    }

    let request = rankRequestBytes(candidates: 100)
    Benchmark("protobuf decode RankRequest (100 candidates)") { benchmark in
        for _ in benchmark.scaledIterations {
            let decoded: DecodedMessage<Ranking__V1__RankRequest> = try ProtoC.decode(
                request,
                as: ranking__v1__rank_request__init
            )
            blackHole(decoded.message.n_candidates)
        }
    }

    let response = ResponseFixture(items: 20)
    Benchmark("protobuf encode RecommendResponse (20 items)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(ProtoC.encode(&response.message)) }
    }

    // The tree scorer alone, as the pipeline calls it: a request's candidates in one call (500 rows, issue 13's
    // comparison with lleaves), all trees, and the first phase of two-phase scoring (20 trees).
    for (file, golden) in [
        ("discovery-lgbm.txt", "discovery-lgbm.golden.json"), ("discovery-xgb.json", "discovery-xgb.golden.json"),
    ] {
        guard let (model, rows) = scorerFixture(model: file, golden: golden, rows: 500) else {
            print("\(file) or its golden file is unreadable: its scorer benchmarks are skipped")
            continue
        }
        var scores = [Double](repeating: 0, count: 500)
        for treeLimit in [nil, 20] {
            let trees = treeLimit.map { "first \($0) trees" } ?? "all \(model.treeCount) trees"
            Benchmark("tree scorer \(file), 500 rows per call, \(trees)") { benchmark in
                for _ in benchmark.scaledIterations {
                    rows.withUnsafeBufferPointer { input in
                        scores.withUnsafeMutableBufferPointer {
                            model.rawScores(input, rowCount: 500, into: $0, treeLimit: treeLimit)
                        }
                    }
                    blackHole(scores[0])
                }
            }
        }
    }

    guard let engine else {
        print("RankingEngine.demoThroughSnapshot() is unavailable: the pipeline benchmarks are skipped")
        return
    }
    let catalog = engine.catalog
    for count in [100, 500, 2000] {
        let query = RankQuery(
            userID: "u7",
            surface: "discovery",
            context: RequestContext(market: "ber"),
            candidates: venueCandidates(count, catalog: catalog),
            limit: 20
        )
        Benchmark("pipeline Rank (\(count) candidates: feature join, scoring, re-rank)") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(try engine.rank(query, deadline: nil, isCancelled: { false }))
            }
        }
    }
    let recommend = RecommendQuery(userID: "u7", surface: "discovery", context: RequestContext(market: "ber"))
    Benchmark("pipeline Recommend (discovery, all sections)") { benchmark in
        for _ in benchmark.scaledIterations {
            try engine.recommend(recommend, deadline: nil, isCancelled: { false }) { blackHole($0) }
        }
    }

    // The stages of that Recommend one at a time, on the request's own inputs (StageProbe): each candidate source,
    // the feature join of the merged candidates, and the two-phase scoring of their rows.
    // In central Berlin at a fixed dinner time (Wednesday 2024-05-01 18:00 UTC, as the end-to-end scripts send), so
    // that a few hundred venues deliver and are open whatever the hour the benchmark runs at.
    let dinner = RecommendQuery(
        userID: "u7",
        surface: "discovery",
        context: RequestContext(latitude: 52.52, longitude: 13.405, requestTimeUnixMs: 1_714_586_400_000, market: "ber")
    )
    guard let probe = try? engine.stageProbe(dinner) else {
        print("the stage probe is unavailable: the stage benchmarks are skipped")
        return
    }
    for (index, name) in probe.sourceNames.enumerated() {
        Benchmark("stage: candidate source \(name) (discovery)") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try probe.runSource(index)) }
        }
    }
    let candidates = probe.candidates.count
    Benchmark("stage: feature join (discovery, \(candidates) candidates)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(probe.joinFeatures()) }
    }
    Benchmark("stage: scoring, two phases (discovery, \(candidates) candidates)") { benchmark in
        for _ in benchmark.scaledIterations { blackHole(probe.score()) }
    }
}
