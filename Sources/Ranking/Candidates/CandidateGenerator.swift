import Dispatch
import Foundation

/// Merged candidates: unique indexes with a bit per source that produced each.
struct CandidateSet {
    var indexes: [Int32] = []
    var sourceMask: [UInt32] = []
}

/// Runs a surface's sources, each with its quota and the stage deadline, and merges their answers.
///
/// A source that throws or finishes after the deadline is dropped and reported as degraded; the others still
/// count. In parallel mode the first source runs on the caller's thread and the rest on the global queue, so a
/// request costs one thread hop per extra source and never waits past the deadline for a straggler.
struct CandidateGenerator: Sendable {
    let sources: [(source: any CandidateSource, quota: Int)]
    let parallel: Bool

    var names: [String] { sources.map(\.source.name) }

    private final class SourceRun: @unchecked Sendable {
        let lock = NSLock()
        var output: [Int32] = []
        var finished: DispatchTime?
        var failed = false
        var micros: Int64 = 0
    }

    func run(
        _ request: CandidateRequest,
        deadline: DispatchTime,
        degraded: inout [String],
        timings: inout [StageTiming]
    ) -> CandidateSet {
        let runs = sources.map { _ in SourceRun() }
        @Sendable func execute(_ i: Int) {
            let started = DispatchTime.now()
            var local: [Int32] = []
            local.reserveCapacity(min(sources[i].quota, 1024))
            var failed = false
            do {
                try sources[i].source.generate(request, quota: sources[i].quota, deadline: deadline, into: &local)
            } catch {
                failed = true
            }
            let finished = DispatchTime.now()
            let run = runs[i]
            run.lock.lock()
            run.output = local
            run.failed = failed
            run.finished = finished
            run.micros = Int64((finished.uptimeNanoseconds - started.uptimeNanoseconds) / 1000)
            run.lock.unlock()
        }
        if parallel && sources.count > 1 {
            let group = DispatchGroup()
            for i in 1..<sources.count {
                DispatchQueue.global(qos: .userInitiated).async(group: group) { execute(i) }
            }
            execute(0)
            _ = group.wait(timeout: deadline)
        } else {
            for i in sources.indices where DispatchTime.now() < deadline {
                execute(i)
            }
        }
        var pairs: [UInt64] = []
        pairs.reserveCapacity(sources.reduce(0) { $0 + min($1.quota, 1024) })
        for (i, run) in runs.enumerated() {
            run.lock.lock()
            let finished = run.finished
            let failed = run.failed
            let micros = run.micros
            let output = finished != nil ? run.output : []
            run.lock.unlock()
            let name = sources[i].source.name
            guard let finished, !failed, finished < deadline else {
                degraded.append("candidates.\(name)")
                continue
            }
            timings.append(StageTiming(stage: "candidates.\(name)", micros: micros))
            for v in output where v >= 0 { pairs.append(UInt64(UInt32(v)) << 32 | UInt64(i)) }
        }
        pairs.sort()
        var set = CandidateSet()
        set.indexes.reserveCapacity(pairs.count)
        set.sourceMask.reserveCapacity(pairs.count)
        for key in pairs {
            let index = Int32(truncatingIfNeeded: key >> 32)
            let bit = UInt32(1) << UInt32(key & 31)
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
