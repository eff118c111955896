import Foundation

/// Ranking quality of one ranked list against graded relevance, as every demo domain's evaluation measures it.
enum DemoMetrics {
    /// NDCG@k with gains 2^grade - 1; an id ranked twice counts once.
    static func ndcg<ID: Hashable>(_ ranked: [ID], relevance: [(ID, grade: Int)], k: Int) -> Double {
        func gain(_ grade: Int) -> Double { pow(2, Double(grade)) - 1 }
        let grades = Dictionary(relevance.map { ($0.0, $0.grade) }, uniquingKeysWith: max)
        var seen = Set<ID>()
        var dcg = 0.0
        for (position, id) in ranked.prefix(k).enumerated() where seen.insert(id).inserted {
            if let grade = grades[id] { dcg += gain(grade) / log2(Double(position + 2)) }
        }
        let ideal = grades.values.sorted(by: >).prefix(k).enumerated()
            .reduce(0.0) { $0 + gain($1.element) / log2(Double($1.offset + 2)) }
        return ideal > 0 ? dcg / ideal : 0
    }

    /// The share of the relevant ids in the first `k`.
    static func recall<ID: Hashable>(_ ranked: [ID], relevance: [(ID, grade: Int)], k: Int) -> Double {
        guard !relevance.isEmpty else { return 0 }
        let top = Set(ranked.prefix(k))
        return Double(relevance.filter { top.contains($0.0) }.count) / Double(relevance.count)
    }
}
