import CSystemShim
import Dispatch
import Foundation

/// How much a caller minds being shed under overload, read from the `x-request-criticality` request metadata.
public enum Criticality: Int, Sendable, Comparable, CaseIterable {
    /// Batch or prefetch traffic: half the queue budget, shed first.
    case sheddable
    /// Everything that says nothing.
    case `default`
    /// A user is waiting and there is no fallback: twice the queue budget.
    case critical

    /// The metadata key callers set.
    public static let metadataKey = "x-request-criticality"

    /// Parses "sheddable", "default" or "critical" (any case); anything else reads as `.default`.
    public init(metadataValue: String?) {
        switch metadataValue?.lowercased() {
        case "sheddable": self = .sheddable
        case "critical": self = .critical
        default: self = .default
        }
    }

    /// The share of the queue budget calls of this criticality get.
    var budgetFactor: Double {
        switch self {
        case .sheddable: return 0.5
        case .default: return 1
        case .critical: return 2
        }
    }

    public static func < (lhs: Criticality, rhs: Criticality) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A fixed set of threads that run handlers, with admission control in front of a bounded queue.
///
/// A call is admitted only when it can start within its queue budget: the pool keeps a running estimate of each
/// method's cost (exponentially weighted mean and mean deviation of how long its jobs took) and of the work ahead —
/// the queued jobs, with a margin of two standard deviations of their sum, and half of what the busy threads are
/// running — and a call that would wait longer than the budget, or find the queue full, is refused at once with
/// RESOURCE_EXHAUSTED (UNAVAILABLE while draining) instead of joining a queue that only grows. The margin keeps the
/// late refusals (a job that still waited far past its budget) rare, since those are answered only after the wait. A job whose deadline passes, or whose
/// call was cancelled, while it waits is never run. Memory is bounded by `maxQueued` jobs.
///
/// Thread-safe; every field below is guarded by `condition`.
final class WorkerPool: @unchecked Sendable {
    /// The pool's limits.
    struct Limits: Sendable {
        /// Threads, each running one job at a time; 0 for none: the I/O threads then run the jobs (``runNext()``).
        var threads: Int
        /// The I/O threads that run the jobs when `threads` is 0: the work ahead of a call is spread over them.
        var ioThreads = 1
        /// Jobs waiting at most; more are refused.
        var maxQueued: Int
        /// How long a call of default criticality may wait to start, in nanoseconds; nil for no time-based admission
        /// (the blocking pool, whose jobs last as long as their streams).
        var queueBudgetNanoseconds: UInt64?
        /// The nice value of the pool's threads (0: as the process). Above 0, an I/O thread that shares a core with
        /// them gets it as soon as it wakes, so refusals and replies are not queued behind a handler's time slice.
        var nice: Int32 = 0
    }

    /// One handler run waiting for a thread.
    struct Job {
        /// When the call arrived (DispatchTime uptime nanoseconds): queue time counts from here.
        var arrival: UInt64
        /// When the caller gives up, if it said.
        var deadline: UInt64?
        var criticality: Criticality
        /// The method's index: jobs of one class share a cost estimate.
        var costClass: Int
        /// True when the call no longer needs running (cancelled, or its deadline reply already went).
        var isAbandoned: @Sendable () -> Bool
        /// The work.
        var run: @Sendable () -> Void
        /// Ends the call with a status when the job is dropped from the queue without running. Called on a pool
        /// thread.
        var reject: @Sendable (GRPCStatus) -> Void
    }

    /// Counters for the stats line.
    struct Counters: Sendable {
        var queued = 0
        var running = 0
        var started = 0
        /// Of `started`, those run to completion on the I/O thread that read them (``runInline(_:costAtMost:)``), or
        /// on any I/O thread for a pool of no threads (``runNextOnIOThread()``).
        var ranInline = 0
        var rejectedOverload = 0
        /// Of `rejectedOverload`, those refused only after waiting in the queue (the estimate was too low).
        var rejectedLate = 0
        var rejectedDeadline = 0
        var rejectedDraining = 0
        var abandonedInQueue = 0
    }

    private struct Queued {
        var job: Job
        var estimate: UInt64
        var deviation: UInt64
    }

    let name: String
    let limits: Limits
    private let condition = NSCondition()
    private var queue: [Queued?] = []
    private var head = 0
    private var queuedCount = 0
    private var queuedCost: UInt64 = 0
    /// Sum of the squared deviations of the queued jobs: the variance of the queued work, for the margin.
    private var queuedVariance: Double = 0
    /// Cost estimates of the jobs running now.
    private var runningCost: UInt64 = 0
    private var costEstimates: [UInt64]
    private var costDeviations: [UInt64]
    private var counters = Counters()
    private var draining = false
    private var stopping = false
    private var idle = 0
    private let clock: @Sendable () -> UInt64

    /// A cost estimate for a method not yet measured: small, so a fresh server admits until it has measured.
    static let initialCostEstimate: UInt64 = 50_000

    /// Creates the pool and, unless `startThreads` is false (tests drive ``runNext()`` themselves), its threads.
    init(
        name: String,
        limits: Limits,
        costClasses: Int,
        startThreads: Bool = true,
        clock: @escaping @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }
    ) {
        precondition(
            limits.threads >= 0 && limits.ioThreads > 0 && limits.maxQueued > 0,
            "a worker pool needs a queue and someone to run it"
        )
        self.name = name
        self.limits = limits
        self.clock = clock
        costEstimates = Array(repeating: Self.initialCostEstimate, count: max(1, costClasses))
        costDeviations = Array(repeating: 0, count: max(1, costClasses))
        if startThreads {
            // The threads are not stored: each one's block holds the pool until that thread ends (after shutdown()),
            // and a pool that held its Threads would never be freed (pool -> Thread -> block -> pool).
            var threads: [Thread] = []
            for index in 0..<limits.threads {
                let nice = limits.nice
                let thread = Thread { [self] in
                    if nice != 0 { _ = csystem_set_thread_nice(nice) }
                    work()
                }
                thread.name = "\(name)-\(index)"
                // Handlers run the ranking pipeline; give them more stack than a default secondary thread.
                thread.stackSize = 4 << 20
                threads.append(thread)
            }
            for thread in threads { thread.start() }
        }
    }

    /// Queues `job`, or refuses it with the status the caller should answer. Never blocks beyond a short lock.
    func submit(_ job: Job) -> GRPCStatus? {
        condition.lock()
        defer { condition.unlock() }
        if draining || stopping {
            counters.rejectedDraining += 1
            return GRPCStatus(.unavailable, "the server is shutting down; retry on another instance")
        }
        let now = clock()
        if let deadline = job.deadline, deadline <= now {
            counters.rejectedDeadline += 1
            return GRPCStatus(.deadlineExceeded, "the deadline passed before the call could start")
        }
        if queuedCount >= limits.maxQueued {
            counters.rejectedOverload += 1
            return GRPCStatus(
                .resourceExhausted,
                "server overloaded: \(queuedCount) calls are already queued; retry with backoff"
            )
        }
        let costClass = min(job.costClass, costEstimates.count - 1)
        let estimate = costEstimates[costClass]
        let deviation = costDeviations[costClass]
        if let budget = budget(for: job.criticality) {
            // Work ahead, spread over the threads; a call finds a thread at once while one is idle.
            let wait = idle > queuedCount ? 0 : expectedWaitLocked()
            if wait > budget {
                counters.rejectedOverload += 1
                return GRPCStatus(
                    .resourceExhausted,
                    "server overloaded: about \(Self.milliseconds(wait)) ms of work is queued ahead of this call, over "
                        + "its queue budget of \(Self.milliseconds(budget)) ms; retry with backoff"
                )
            }
        }
        queue.append(Queued(job: job, estimate: estimate, deviation: deviation))
        queuedCount += 1
        queuedCost += estimate
        queuedVariance += Double(deviation) * Double(deviation)
        counters.queued = queuedCount
        condition.signal()
        return nil
    }

    /// From now on every submission is refused with UNAVAILABLE; queued jobs still run.
    func drain() {
        condition.lock()
        draining = true
        condition.unlock()
    }

    /// Stops the threads once the queue is empty. Jobs submitted later are refused.
    func shutdown() {
        condition.lock()
        stopping = true
        condition.broadcast()
        condition.unlock()
    }

    /// A snapshot of the counters.
    var counterSnapshot: Counters {
        condition.lock()
        defer { condition.unlock() }
        return counters
    }

    /// The current cost estimate of a class, in nanoseconds (for tests and the stats line).
    func costEstimate(ofClass costClass: Int) -> UInt64 {
        condition.lock()
        defer { condition.unlock() }
        return costEstimates[min(costClass, costEstimates.count - 1)]
    }

    /// Takes the next job and runs it (or rejects it) on the calling thread; false when nothing was queued. For tests
    /// of a pool created without threads.
    @discardableResult
    func runNext() -> Bool { runNext(onIOThread: false) }

    /// ``runNext()`` for an I/O thread that runs the jobs of a pool of no threads: a job it starts counts as run
    /// inline.
    func runNextOnIOThread() -> Bool { runNext(onIOThread: true) }

    private func runNext(onIOThread: Bool) -> Bool {
        condition.lock()
        guard let entry = dequeueLocked() else {
            condition.unlock()
            return false
        }
        condition.unlock()
        execute(entry, inline: onIOThread)
        return true
    }

    // MARK: Threads

    private func work() {
        while true {
            condition.lock()
            idle += 1
            while queuedCount == 0 && !stopping { condition.wait() }
            idle -= 1
            guard let entry = dequeueLocked() else {
                condition.unlock()
                return
            }
            condition.unlock()
            execute(entry)
        }
    }

    private func dequeueLocked() -> Queued? {
        guard queuedCount > 0, let entry = queue[head] else { return nil }
        queue[head] = nil
        head += 1
        queuedCount -= 1
        queuedCost -= entry.estimate
        queuedVariance =
            queuedCount == 0 ? 0 : max(0, queuedVariance - Double(entry.deviation) * Double(entry.deviation))
        counters.queued = queuedCount
        if head == queue.count {
            queue.removeAll(keepingCapacity: queue.capacity <= 4 * limits.maxQueued)
            head = 0
        } else if head >= 1024 && head * 2 >= queue.count {
            queue.removeFirst(head)
            head = 0
        }
        return entry
    }

    private func execute(_ entry: Queued, inline: Bool = false) {
        let job = entry.job
        let now = clock()
        if let deadline = job.deadline, deadline <= now {
            count { $0.rejectedDeadline += 1 }
            job.reject(GRPCStatus(.deadlineExceeded, "the deadline passed while the call waited to start"))
            return
        }
        if job.isAbandoned() {
            count { $0.abandonedInQueue += 1 }
            return
        }
        // The estimate was wrong (a burst of slow calls): what waited far past its budget is refused, not run late.
        if let budget = budget(for: job.criticality), now &- job.arrival > 4 * budget {
            count {
                $0.rejectedOverload += 1
                $0.rejectedLate += 1
            }
            job.reject(
                GRPCStatus(
                    .resourceExhausted,
                    "server overloaded: the call waited \(Self.milliseconds(now &- job.arrival)) ms to start; retry "
                        + "with backoff"
                )
            )
            return
        }
        condition.lock()
        startLocked(estimate: entry.estimate)
        if inline { counters.ranInline += 1 }
        condition.unlock()
        run(job, estimate: entry.estimate, startedAt: now)
    }

    /// Runs `job` on the calling thread (an I/O thread that has just read the call) instead of queueing it, when the
    /// pool has nothing to do: no job queued or running, and the job's class costs at most `costAtMost` nanoseconds
    /// by the pool's estimate. The run counts as one of the pool's, so calls read meanwhile by other I/O threads
    /// queue behind it and see its cost in their admission. False, with nothing run, when the pool is busy, draining,
    /// the class is too dear, or the job's deadline or caller is already gone (``submit(_:)`` then answers it).
    ///
    /// This saves the two thread hand-offs a pool call costs (to a worker and back), which on an idle server are
    /// about as dear as a small call itself. The I/O thread reads nothing while the job runs, so calls that arrive
    /// meanwhile wait for at most one job of bounded cost before they are read and admitted.
    func runInline(_ job: Job, costAtMost: UInt64) -> Bool {
        let now = clock()
        if job.isAbandoned() || job.deadline.map({ $0 <= now }) ?? false { return false }
        condition.lock()
        let estimate = costEstimates[min(job.costClass, costEstimates.count - 1)]
        guard !draining, !stopping, queuedCount == 0, counters.running == 0, estimate <= costAtMost else {
            condition.unlock()
            return false
        }
        startLocked(estimate: estimate)
        counters.ranInline += 1
        condition.unlock()
        run(job, estimate: estimate, startedAt: now)
        return true
    }

    private func startLocked(estimate: UInt64) {
        counters.running += 1
        counters.started += 1
        runningCost += estimate
    }

    /// Runs a started job and folds how long it took into its class's estimate.
    private func run(_ job: Job, estimate: UInt64, startedAt start: UInt64) {
        job.run()
        let took = clock() &- start
        condition.lock()
        counters.running -= 1
        runningCost -= estimate
        let index = min(job.costClass, costEstimates.count - 1)
        // EWMAs with weight 1/8: follow a change of cost within a few dozen calls, shrug off one outlier.
        let old = costEstimates[index]
        let deviation = old > took ? old - took : took - old
        costEstimates[index] = old - old / 8 + took / 8
        costDeviations[index] = costDeviations[index] - costDeviations[index] / 8 + deviation / 8
        condition.unlock()
    }

    /// The wait a call joining the queue now can expect: the queued work with a two-sigma margin (the deviations
    /// of independent jobs add as variances), plus half of what the busy threads are running, over the threads.
    private func expectedWaitLocked() -> UInt64 {
        let margin = 2 * queuedVariance.squareRoot()
        let ahead = Double(queuedCost) + margin + Double(runningCost) / 2
        return UInt64(ahead / Double(limits.threads > 0 ? limits.threads : limits.ioThreads))
    }

    private func budget(for criticality: Criticality) -> UInt64? {
        limits.queueBudgetNanoseconds.map { UInt64(Double($0) * criticality.budgetFactor) }
    }

    private func count(_ body: (inout Counters) -> Void) {
        condition.lock()
        body(&counters)
        condition.unlock()
    }

    private static func milliseconds(_ nanoseconds: UInt64) -> String {
        String(format: "%.1f", Double(nanoseconds) / 1e6)
    }
}
