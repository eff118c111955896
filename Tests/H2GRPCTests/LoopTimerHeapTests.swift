import Testing

@testable import H2GRPC

/// The event loop's timer heap: deadlines fire in order, ties in insertion order, and cancelled timers never run.
@Suite("Loop timer heap")
struct LoopTimerHeapTests {
    final class Log {
        var fired: [Int] = []
    }

    @Test("timers fire earliest first, equal deadlines in the order they were scheduled")
    func ordering() {
        let heap = LoopTimerHeap()
        let log = Log()
        let deadlines: [UInt64] = [50, 10, 30, 10, 70, 20, 30, 60, 40, 10]
        for (index, deadline) in deadlines.enumerated() {
            _ = heap.schedule(at: deadline) { log.fired.append(index) }
        }
        #expect(heap.nextDeadline == 10)
        for task in heap.popDue(now: 35) { task() }
        #expect(log.fired == [1, 3, 9, 5, 2, 6])
        #expect(heap.nextDeadline == 40)
        for task in heap.popDue(now: 1_000) { task() }
        #expect(log.fired == [1, 3, 9, 5, 2, 6, 8, 0, 7, 4])
        #expect(heap.isEmpty)
    }

    @Test("a cancelled timer does not run, and nothing is due before its deadline")
    func cancellation() {
        let heap = LoopTimerHeap()
        let log = Log()
        let first = heap.schedule(at: 10) { log.fired.append(1) }
        _ = heap.schedule(at: 20) { log.fired.append(2) }
        #expect(heap.popDue(now: 9).isEmpty)
        first.cancel()
        for task in heap.popDue(now: 25) { task() }
        #expect(log.fired == [2])
    }

    @Test("ten thousand random deadlines come out sorted")
    func manyRandom() {
        let heap = LoopTimerHeap()
        let log = Log()
        var generator = SystemRandomNumberGenerator()
        var expected: [(UInt64, Int)] = []
        for index in 0..<10_000 {
            let deadline = UInt64.random(in: 0..<1_000, using: &generator)
            expected.append((deadline, index))
            _ = heap.schedule(at: deadline) { log.fired.append(index) }
        }
        for task in heap.popDue(now: .max) { task() }
        #expect(log.fired == expected.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map(\.1))
    }

    @Test("cancelled timers leave the heap: memory follows the timers still pending")
    func cancelledTimersAreDropped() {
        let heap = LoopTimerHeap()
        let log = Log()
        // 300,000 finished calls with one-hour deadlines, each cancelling its timer, while ten stay pending.
        var live: [LoopTimer] = []
        for index in 0..<10 { live.append(heap.schedule(at: 3_600_000_000_000) { log.fired.append(index) }) }
        for _ in 0..<300_000 {
            heap.schedule(at: 3_600_000_000_000) { log.fired.append(-1) }.cancel()
        }
        #expect(heap.pendingCount == 10)
        #expect(heap.count < 2 * LoopTimerHeap.compactionFloor)
        for task in heap.popDue(now: 3_600_000_000_001) { task() }
        #expect(log.fired == Array(0..<10))
        #expect(heap.isEmpty && heap.pendingCount == 0)
        _ = live
    }

    @Test("cancelling twice counts once, and compaction keeps the deadline order")
    func compactionKeepsOrder() {
        let heap = LoopTimerHeap()
        let log = Log()
        var timers: [LoopTimer] = []
        for index in 0..<1_000 {
            timers.append(heap.schedule(at: UInt64(1_000 - index)) { log.fired.append(index) })
        }
        for (index, timer) in timers.enumerated() where index % 3 != 0 {
            timer.cancel()
            timer.cancel()
        }
        #expect(heap.pendingCount == 334)
        for task in heap.popDue(now: 10_000) { task() }
        #expect(log.fired == stride(from: 999, through: 0, by: -1).filter { $0 % 3 == 0 })
    }
}
