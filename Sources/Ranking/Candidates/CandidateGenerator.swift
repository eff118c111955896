import Dispatch
import Foundation

/// Merged candidates: unique indexes with a bit per source that produced each.
struct CandidateSet {
    var indexes: [Int32] = []
    var sourceMask: [UInt32] = []
    /// Candidates each source gave in time, before merging (by source position).
    var sourceCounts: [Int] = []
}

/// Runs a surface's sources, each with its quota and the stage deadline, and merges their answers.
///
/// A source that throws or finishes after the deadline is dropped and reported as degraded; the others still
/// count. Built-in sources always run on the calling thread: each costs microseconds, and the server already runs
/// many requests at once, so handing them to other threads would cost more in wake-ups and hand-offs than it
/// saves. With `parallel`, sources a host added (which may block, e.g. on a remote store) start first on the
/// global queue, the built-in ones run meanwhile, and the request never waits past the deadline for a straggler.
struct CandidateGenerator: Sendable {
    let sources: [(source: any CandidateSource, quota: Int)]
    let parallel: Bool
    /// Source names, in configuration order (bit `i` of a candidate's mask is source `i`).
    let names: [String]
    /// Per source: runs on the global queue rather than inline.
    private let offloaded: [Bool]
    /// `candidates.<name>` per source, built once rather than on every request.
    private let stageNames: [String]
    /// The most eligible venues in reach any built-in source reads (``VenuesInReach``), 0 when none does.
    let venuesInReachRead: Int
    /// The source bits of the sources that answer only eligible venues
    /// (``BuiltinCandidateSource/answersOnlyEligibleVenues``).
    let eligibleSourceBits: UInt32
    /// The source bits of the sources that answer the user's recent orders first
    /// (``BuiltinCandidateSource/answersRecentOrdersFirst``).
    let recentOrdersFirstBits: UInt32

    init(sources: [(source: any CandidateSource, quota: Int)], parallel: Bool) {
        self.sources = sources
        self.parallel = parallel
        names = sources.map(\.source.name)
        stageNames = names.map { "candidates.\($0)" }
        offloaded = sources.map { parallel && !($0.source is BuiltinCandidateSource) }
        venuesInReachRead =
            sources.map { ($0.source as? BuiltinCandidateSource)?.venuesInReachRead(quota: $0.quota) ?? 0 }.max() ?? 0
        var (eligible, recentOrdersFirst): (UInt32, UInt32) = (0, 0)
        for (i, source) in sources.enumerated() where i < 32 {
            guard let builtin = source.source as? BuiltinCandidateSource else { continue }
            if builtin.answersOnlyEligibleVenues { eligible |= 1 << UInt32(i) }
            if builtin.answersRecentOrdersFirst { recentOrdersFirst |= 1 << UInt32(i) }
        }
        eligibleSourceBits = eligible
        recentOrdersFirstBits = recentOrdersFirst
    }

    /// Result box of a source running on another thread.
    private final class SourceRun: @unchecked Sendable {
        let lock = NSLock()
        var output: [Int32] = []
        var finished: DispatchTime?
        var failed = false
        var micros: Int64 = 0
    }

    private enum Outcome {
        case notRun
        case failed
        case finished(DispatchTime, micros: Int64)
    }

    func run(
        _ request: CandidateRequest,
        deadline: DispatchTime,
        degraded: inout [String],
        timings: inout [StageTiming]
    ) -> CandidateSet {
        var group: DispatchGroup?
        var runs: [SourceRun?] = []
        if offloaded.contains(true) {
            let pending = DispatchGroup()
            group = pending
            runs = offloaded.map { $0 ? SourceRun() : nil }
            for i in sources.indices {
                guard let run = runs[i] else { continue }
                let (source, quota) = sources[i]
                DispatchQueue.global(qos: .userInitiated).async(group: pending) {
                    let begin = DispatchTime.now()
                    var local: [Int32] = []
                    local.reserveCapacity(min(quota, 1024))
                    var failed = false
                    do { try source.generate(request, quota: quota, deadline: deadline, into: &local) } catch {
                        failed = true
                    }
                    let finished = DispatchTime.now()
                    run.lock.lock()
                    run.output = local
                    run.failed = failed
                    run.finished = finished
                    run.micros = Int64((finished.uptimeNanoseconds - begin.uptimeNanoseconds) / 1000)
                    run.lock.unlock()
                }
            }
        }

        // Inline sources append their (index, source) pairs straight into the merge buffer; one scratch array is
        // reused for every source, so a failed source's partial answer is simply not copied.
        var outcomes = [Outcome](repeating: .notRun, count: sources.count)
        var pairs: [UInt64] = []
        pairs.reserveCapacity(1024)
        var local: [Int32] = []
        local.reserveCapacity(1024)
        // The built-in sources share one scan of the venues in reach; the offloaded ones never read it.
        var inline = request
        if venuesInReachRead > 0 { inline.sharedVenuesInReach = VenuesInReach(limit: venuesInReachRead) }
        for i in sources.indices where !offloaded[i] {
            let started = DispatchTime.now()
            // A source that cannot finish in time is not started: it would be dropped anyway.
            guard started < deadline else { break }
            local.removeAll(keepingCapacity: true)
            do {
                try sources[i].source.generate(inline, quota: sources[i].quota, deadline: deadline, into: &local)
            } catch {
                outcomes[i] = .failed
                continue
            }
            let finished = DispatchTime.now()
            outcomes[i] = .finished(
                finished,
                micros: Int64((finished.uptimeNanoseconds - started.uptimeNanoseconds) / 1000)
            )
            guard finished < deadline else { continue }
            let bits = UInt64(i)
            for v in local where v >= 0 { pairs.append(UInt64(UInt32(v)) << 32 | bits) }
        }
        if let group {
            _ = group.wait(timeout: deadline)
            for i in sources.indices {
                guard let run = runs[i] else { continue }
                run.lock.lock()
                if run.failed {
                    outcomes[i] = .failed
                } else if let finished = run.finished {
                    outcomes[i] = .finished(finished, micros: run.micros)
                    if finished < deadline {
                        for v in run.output where v >= 0 { pairs.append(UInt64(UInt32(v)) << 32 | UInt64(i)) }
                    }
                }
                run.lock.unlock()
            }
        }
        for i in sources.indices {
            guard case .finished(let finished, let micros) = outcomes[i], finished < deadline else {
                degraded.append(stageNames[i])
                continue
            }
            timings.append(StageTiming(stage: stageNames[i], micros: micros))
        }
        var scratch: [UInt64] = []
        sortByHighWord(&pairs, scratch: &scratch)
        var set = CandidateSet()
        set.sourceCounts = [Int](repeating: 0, count: sources.count)
        set.indexes.reserveCapacity(pairs.count)
        set.sourceMask.reserveCapacity(pairs.count)
        for key in pairs {
            let index = Int32(truncatingIfNeeded: key >> 32)
            let bit = UInt32(1) << UInt32(key & 31)
            set.sourceCounts[Int(key & 31)] += 1
            if let last = set.indexes.last, last == index {
                set.sourceMask[set.sourceMask.count - 1] |= bit
            } else {
                set.indexes.append(index)
                set.sourceMask.append(bit)
            }
        }
        return set
    }
}
