import CSystemShim
import Foundation
import Testing

@testable import H2GRPC

/// Admission control of the CPU pool, driven by hand (no threads) with a fake clock.
@Suite("Worker pool admission")
struct WorkerPoolTests {
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var _now: UInt64 = 1_000_000_000
        var now: UInt64 { lock.withLock { _now } }
        func advance(_ nanoseconds: UInt64) { lock.withLock { _now += nanoseconds } }
    }

    final class Outcomes: @unchecked Sendable {
        private let lock = NSLock()
        private var _ran: [Int] = []
        private var _rejected: [(Int, GRPCStatus.Code)] = []
        var ran: [Int] { lock.withLock { _ran } }
        var rejected: [(Int, GRPCStatus.Code)] { lock.withLock { _rejected } }
        func run(_ id: Int) { lock.withLock { _ran.append(id) } }
        func reject(_ id: Int, _ code: GRPCStatus.Code) { lock.withLock { _rejected.append((id, code)) } }
    }

    static let millisecond: UInt64 = 1_000_000

    func makePool(
        clock: Clock,
        threads: Int = 1,
        ioThreads: Int = 1,
        maxQueued: Int = 100,
        budgetMs: UInt64? = 5
    ) -> WorkerPool {
        WorkerPool(
            name: "test",
            limits: .init(
                threads: threads,
                ioThreads: ioThreads,
                maxQueued: maxQueued,
                queueBudgetNanoseconds: budgetMs.map { $0 * Self.millisecond }
            ),
            costClasses: 2,
            startThreads: false,
            clock: { clock.now }
        )
    }

    func job(
        _ id: Int,
        clock: Clock,
        outcomes: Outcomes,
        cost: UInt64 = 0,
        deadline: UInt64? = nil,
        criticality: Criticality = .default,
        abandoned: Bool = false
    ) -> WorkerPool.Job {
        WorkerPool.Job(
            arrival: clock.now,
            deadline: deadline,
            criticality: criticality,
            costClass: 0,
            isAbandoned: { abandoned },
            run: {
                outcomes.run(id)
                clock.advance(cost)
            },
            reject: { status in outcomes.reject(id, status.code) }
        )
    }

    @Test("a call that would wait longer than its queue budget is refused at once with RESOURCE_EXHAUSTED")
    func refusesPastTheBudget() {
        let clock = Clock()
        let pool = makePool(clock: clock)
        let outcomes = Outcomes()
        // Teach the pool that this method costs 0.9 ms.
        let cost = Self.millisecond * 9 / 10
        for id in 0..<120 {
            #expect(pool.submit(job(id, clock: clock, outcomes: outcomes, cost: cost)) == nil)
            pool.runNext()
        }
        #expect(pool.costEstimate(ofClass: 0) > Self.millisecond * 8 / 10)
        // On one thread with a 5 ms budget, the sixth call waits 4.5 ms and is admitted; the seventh would wait 5.4.
        var refused: [GRPCStatus] = []
        for id in 100..<110 {
            if let status = pool.submit(job(id, clock: clock, outcomes: outcomes, cost: cost)) {
                refused.append(status)
            }
        }
        #expect(refused.count == 4)
        #expect(refused.allSatisfy { $0.code == .resourceExhausted && $0.message.contains("overloaded") })
        while pool.runNext() {}
        #expect(outcomes.ran.count == 126)
        #expect(pool.counterSnapshot.rejectedOverload == 4)
    }

    @Test("a pool of no threads spreads the queued work over the I/O threads that run it")
    func noThreads() {
        func admitted(ioThreads: Int) -> (Int, Int) {
            let clock = Clock()
            let pool = makePool(clock: clock, threads: 0, ioThreads: ioThreads, maxQueued: 1000)
            let outcomes = Outcomes()
            for id in 0..<120 {
                #expect(pool.submit(job(id, clock: clock, outcomes: outcomes, cost: Self.millisecond)) == nil)
                #expect(pool.runNext())
            }
            let cost = Self.millisecond
            let count = (0..<50).filter { pool.submit(job($0, clock: clock, outcomes: outcomes, cost: cost)) == nil }
                .count
            while pool.runNext() {}
            #expect(pool.runNext() == false)
            return (count, outcomes.ran.count)
        }
        // 1 ms calls within a 5 ms budget: about five queued per I/O thread, and every admitted call ran.
        let one = admitted(ioThreads: 1)
        let two = admitted(ioThreads: 2)
        #expect((4...6).contains(one.0))
        #expect((9...11).contains(two.0))
        #expect(one.1 == 120 + one.0 && two.1 == 120 + two.0)
    }

    @Test("sheddable calls get half the budget and critical ones twice")
    func criticality() {
        let clock = Clock()
        let pool = makePool(clock: clock, maxQueued: 1000)
        let outcomes = Outcomes()
        for id in 0..<120 {
            _ = pool.submit(job(id, clock: clock, outcomes: outcomes, cost: Self.millisecond))
            pool.runNext()
        }
        func admitted(_ criticality: Criticality) -> Int {
            var count = 0
            for id in 0..<50
            where pool.submit(
                job(id, clock: clock, outcomes: outcomes, cost: Self.millisecond, criticality: criticality)
            ) == nil {
                count += 1
            }
            while pool.runNext() {}
            return count
        }
        let sheddable = admitted(.sheddable)
        let normal = admitted(.default)
        let critical = admitted(.critical)
        #expect(sheddable < normal && normal < critical)
        #expect((2...4).contains(sheddable) && (9...12).contains(critical))
    }

    @Test("calls whose cost varies get a margin: fewer are admitted than the mean cost alone would allow")
    func varianceMargin() {
        let clock = Clock()
        let steady = makePool(clock: clock, maxQueued: 1000)
        let varying = makePool(clock: clock, maxQueued: 1000)
        let outcomes = Outcomes()
        for id in 0..<200 {
            _ = steady.submit(job(id, clock: clock, outcomes: outcomes, cost: Self.millisecond * 9 / 10))
            steady.runNext()
            // 0.4 ms or 1.4 ms: the same mean, a deviation of half a millisecond.
            let cost = id % 2 == 0 ? Self.millisecond * 4 / 10 : Self.millisecond * 14 / 10
            _ = varying.submit(job(id, clock: clock, outcomes: outcomes, cost: cost))
            varying.runNext()
        }
        func admitted(_ pool: WorkerPool) -> Int {
            var count = 0
            for id in 0..<50 where pool.submit(job(id, clock: clock, outcomes: outcomes)) == nil { count += 1 }
            return count
        }
        let steadyAdmitted = admitted(steady)
        let varyingAdmitted = admitted(varying)
        #expect(steadyAdmitted == 6)
        #expect(varyingAdmitted < steadyAdmitted)
    }

    @Test("the queue has a bound even when calls are free")
    func queueBound() {
        let clock = Clock()
        let pool = makePool(clock: clock, maxQueued: 10, budgetMs: nil)
        let outcomes = Outcomes()
        var refused = 0
        for id in 0..<25 where pool.submit(job(id, clock: clock, outcomes: outcomes)) != nil { refused += 1 }
        #expect(refused == 15)
    }

    @Test("a job whose deadline passed in the queue is never run: DEADLINE_EXCEEDED")
    func deadlinePassedInQueue() {
        let clock = Clock()
        let pool = makePool(clock: clock, budgetMs: 1_000)
        let outcomes = Outcomes()
        _ = pool.submit(job(1, clock: clock, outcomes: outcomes, cost: 50 * Self.millisecond))
        _ = pool.submit(job(2, clock: clock, outcomes: outcomes, deadline: clock.now + 10 * Self.millisecond))
        _ = pool.submit(job(3, clock: clock, outcomes: outcomes, deadline: clock.now + 100 * Self.millisecond))
        while pool.runNext() {}
        #expect(outcomes.ran == [1, 3])
        #expect(outcomes.rejected.map(\.0) == [2])
        #expect(outcomes.rejected.map(\.1) == [.deadlineExceeded])
        // A deadline already past at arrival is refused at once.
        let late = pool.submit(job(4, clock: clock, outcomes: outcomes, deadline: clock.now - 1))
        #expect(late?.code == .deadlineExceeded)
    }

    @Test("a cancelled call's job is dropped from the queue without running or answering")
    func abandonedJobsAreSkipped() {
        let clock = Clock()
        let pool = makePool(clock: clock)
        let outcomes = Outcomes()
        _ = pool.submit(job(1, clock: clock, outcomes: outcomes, abandoned: true))
        _ = pool.submit(job(2, clock: clock, outcomes: outcomes))
        while pool.runNext() {}
        #expect(outcomes.ran == [2])
        #expect(outcomes.rejected.isEmpty)
        #expect(pool.counterSnapshot.abandonedInQueue == 1)
    }

    @Test("a job that waited far past its budget is refused instead of run late")
    func staleJobsAreRefused() {
        let clock = Clock()
        let pool = makePool(clock: clock)
        let outcomes = Outcomes()
        _ = pool.submit(job(1, clock: clock, outcomes: outcomes, cost: 100 * Self.millisecond))
        _ = pool.submit(job(2, clock: clock, outcomes: outcomes))
        while pool.runNext() {}
        #expect(outcomes.ran == [1])
        #expect(outcomes.rejected.first?.1 == .resourceExhausted)
    }

    @Test("while draining every new call is UNAVAILABLE, and queued ones still run")
    func draining() {
        let clock = Clock()
        let pool = makePool(clock: clock)
        let outcomes = Outcomes()
        _ = pool.submit(job(1, clock: clock, outcomes: outcomes))
        pool.drain()
        #expect(pool.submit(job(2, clock: clock, outcomes: outcomes))?.code == .unavailable)
        while pool.runNext() {}
        #expect(outcomes.ran == [1])
        #expect(pool.counterSnapshot.rejectedDraining == 1)
    }

    @Test("an idle pool runs a cheap job on the calling thread, counted as one of its own")
    func runsInlineWhenIdle() {
        let clock = Clock()
        let pool = makePool(clock: clock)
        let outcomes = Outcomes()
        final class Seen: @unchecked Sendable { var running = -1 }
        let seen = Seen()
        let inline = WorkerPool.Job(
            arrival: clock.now,
            deadline: clock.now + Self.millisecond,
            criticality: .default,
            costClass: 0,
            isAbandoned: { false },
            run: {
                seen.running = pool.counterSnapshot.running
                // While it runs, the pool is not idle: a second job may not run inline too.
                #expect(!pool.runInline(job(2, clock: clock, outcomes: outcomes), costAtMost: Self.millisecond))
                clock.advance(Self.millisecond / 2)
                outcomes.run(1)
            },
            reject: { status in outcomes.reject(1, status.code) }
        )
        #expect(pool.runInline(inline, costAtMost: Self.millisecond))
        #expect(outcomes.ran == [1])
        #expect(seen.running == 1)
        let counters = pool.counterSnapshot
        #expect(counters.ranInline == 1 && counters.started == 1 && counters.running == 0)
        // Its cost teaches the estimate, as a pool thread's run would.
        #expect(pool.costEstimate(ofClass: 0) > WorkerPool.initialCostEstimate)
    }

    @Test("no job runs inline while one is queued, when its class costs more than allowed, nor while draining")
    func inlineRefusals() {
        let clock = Clock()
        let pool = makePool(clock: clock)
        let outcomes = Outcomes()
        // Queued work goes first.
        #expect(pool.submit(job(1, clock: clock, outcomes: outcomes, cost: 2 * Self.millisecond)) == nil)
        #expect(!pool.runInline(job(2, clock: clock, outcomes: outcomes), costAtMost: Self.millisecond))
        while pool.runNext() {}
        // One 2 ms run moves the estimate (weight 1/8) from 50 to about 290 us: over a 100 us limit, under 10 ms.
        #expect(!pool.runInline(job(3, clock: clock, outcomes: outcomes), costAtMost: Self.millisecond / 10))
        #expect(pool.runInline(job(4, clock: clock, outcomes: outcomes), costAtMost: 10 * Self.millisecond))
        // A call already past its deadline, or already cancelled, is left to submit(), which answers it.
        #expect(
            !pool.runInline(job(5, clock: clock, outcomes: outcomes, deadline: clock.now), costAtMost: Self.millisecond)
        )
        #expect(
            !pool.runInline(job(6, clock: clock, outcomes: outcomes, abandoned: true), costAtMost: Self.millisecond)
        )
        pool.drain()
        #expect(!pool.runInline(job(7, clock: clock, outcomes: outcomes), costAtMost: 10 * Self.millisecond))
        #expect(outcomes.ran == [1, 4])
        #expect(outcomes.rejected.isEmpty)
        #expect(pool.counterSnapshot.ranInline == 1)
    }

    @Test("with threads, every admitted job runs exactly once")
    func threadsRunEverything() {
        let pool = WorkerPool(
            name: "t",
            limits: .init(threads: 3, maxQueued: 10_000, queueBudgetNanoseconds: nil),
            costClasses: 1
        )
        defer { pool.shutdown() }
        let outcomes = Outcomes()
        let done = DispatchGroup()
        for id in 0..<2_000 {
            done.enter()
            let job = WorkerPool.Job(
                arrival: DispatchTime.now().uptimeNanoseconds,
                deadline: nil,
                criticality: .default,
                costClass: 0,
                isAbandoned: { false },
                run: {
                    outcomes.run(id)
                    done.leave()
                },
                reject: { _ in done.leave() }
            )
            #expect(pool.submit(job) == nil)
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(Set(outcomes.ran).count == 2_000)
    }

    @Test("pool threads run at the configured nice value, below the I/O threads")
    func threadsRunNiced() {
        let pool = WorkerPool(
            name: "niced",
            limits: .init(threads: 1, maxQueued: 10, queueBudgetNanoseconds: nil, nice: 7),
            costClasses: 1
        )
        defer { pool.shutdown() }
        let seen = Outcomes()
        let done = DispatchSemaphore(value: 0)
        let job = WorkerPool.Job(
            arrival: DispatchTime.now().uptimeNanoseconds,
            deadline: nil,
            criticality: .default,
            costClass: 0,
            isAbandoned: { false },
            run: {
                seen.run(Int(csystem_thread_nice()))
                done.signal()
            },
            reject: { _ in done.signal() }
        )
        #expect(pool.submit(job) == nil)
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(seen.ran == [7])
    }
}
