import Testing

@testable import Ranking

/// `topPartners` against the plain way: sort every pair, count the runs, sort each key's partners and keep the best.
@Suite struct PairCountsTests {
    static func reference(
        keys: Int,
        perKey: Int,
        pairs: [(Int32, Int32)]
    ) -> (start: [Int32], partner: [Int32], count: [Float]) {
        let sorted = pairs.map { UInt64(UInt32($0.0)) << 32 | UInt64(UInt32($0.1)) }.sorted()
        var start = [Int32](repeating: 0, count: keys + 1)
        var partner: [Int32] = []
        var count: [Float] = []
        var next = 0
        var i = 0
        while i < sorted.count {
            let a = Int(sorted[i] >> 32)
            while next <= a {
                start[next] = Int32(partner.count)
                next += 1
            }
            var neighbours: [(partner: Int32, count: Float)] = []
            while i < sorted.count && Int(sorted[i] >> 32) == a {
                var j = i
                while j < sorted.count && sorted[j] == sorted[i] { j += 1 }
                neighbours.append((Int32(truncatingIfNeeded: sorted[i] & 0xFFFF_FFFF), Float(j - i)))
                i = j
            }
            neighbours.sort { ($0.count, -$0.partner) > ($1.count, -$1.partner) }
            for n in neighbours.prefix(perKey) {
                partner.append(n.partner)
                count.append(n.count)
            }
        }
        while next <= keys {
            start[next] = Int32(partner.count)
            next += 1
        }
        return (start, partner, count)
    }

    @Test(
        "the best partners per key, ties by the lower index, as sorting and counting every pair gives them",
        arguments: [
            (1, 1, 0), (5, 3, 40), (50, 10, 3_000), (300, 30, 20_000), (2_000, 10, 500), (50_000, 10, 300_000),
            (128, 5, 10_000), (129, 5, 10_000),
        ]
    )
    func sameAsSortingThePairs(keys: Int, perKey: Int, pairCount: Int) {
        var generator = SplitMix64(seed: UInt64(keys * 31 + pairCount))
        var pairs: [(Int32, Int32)] = []
        for _ in 0..<pairCount {
            // Skewed towards low indexes, so some keys have many repeated partners and others none.
            let a = Int32(generator.next() % UInt64(keys) * (generator.next() % 2) % UInt64(keys))
            let b = Int32(generator.next() % UInt64(max(1, keys / 4)))
            pairs.append((a, b))
        }
        let got = topPartners(keys: keys, perKey: perKey) { pair in
            for (a, b) in pairs { pair(a, b) }
        }
        let expected = Self.reference(keys: keys, perKey: perKey, pairs: pairs)
        #expect(got.start == expected.start)
        #expect(got.partner == expected.partner)
        #expect(got.count == expected.count)
    }

    @Test("no pairs gives every key an empty list")
    func noPairs() {
        let got = topPartners(keys: 4, perKey: 10) { _ in }
        #expect(got.start == [0, 0, 0, 0, 0])
        #expect(got.partner.isEmpty && got.count.isEmpty)
    }
}
