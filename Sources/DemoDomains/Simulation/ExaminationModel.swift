import Foundation

/// How far down an answer a simulated user looks: a position-based examination model.
///
/// The user examines position `k` (zero-based) with probability `(k + 1)^-decay`, each position on its own draw, and
/// never past `depth`. Only what was examined can be clicked, ordered or played, so an entry ranked lower is acted on
/// less however good it is: the position bias real logs show, which lets a better ranking convert more.
public struct ExaminationModel: Sendable, Equatable {
    /// How fast attention falls with position; 0 examines every position up to `depth`.
    public var decay: Double
    /// Positions past this are never examined.
    public var depth: Int

    /// A model where the first position is always examined, the second about 57% of the time, the tenth 16%.
    public init(decay: Double = 0.8, depth: Int = 10) {
        precondition(decay >= 0 && decay.isFinite, "decay must be finite and non-negative")
        precondition(depth >= 1, "depth must be at least 1")
        self.decay = decay
        self.depth = depth
    }

    /// The chance that the user looks at zero-based `position`.
    public func probability(position: Int) -> Double {
        guard position >= 0, position < depth else { return 0 }
        return 1 / pow(Double(position + 1), decay)
    }

    /// The positions of an answer of `count` entries the user looks at, in order; the first is always among them
    /// when the answer is not empty.
    func examined(count: Int, rng: inout DemoRandom) -> [Int] {
        var positions: [Int] = []
        for position in 0..<min(count, depth) {
            // One draw per position whatever the outcome, so a longer answer does not shift earlier draws.
            let draw = rng.unit()
            if draw < probability(position: position) { positions.append(position) }
        }
        return positions
    }
}

/// Distinct users for a simulation: `count` indices below `population`, drawn from `seed` (all of them, in a seeded
/// order, when `count` is at least `population`).
func simulatedUsers(count: Int, population: Int, seed: UInt64) -> [Int] {
    precondition(count >= 0 && population >= 0, "counts must not be negative")
    var rng = DemoRandom(seed: seed, stream: "simulated-users", population)
    if count * 2 >= population {
        var all = Array(0..<population)
        for i in stride(from: all.count - 1, to: 0, by: -1) { all.swapAt(i, rng.below(i + 1)) }
        return Array(all.prefix(count))
    }
    var chosen: [Int] = []
    var seen = Set<Int>()
    while chosen.count < count {
        let user = rng.below(population)
        if seen.insert(user).inserted { chosen.append(user) }
    }
    return chosen
}
