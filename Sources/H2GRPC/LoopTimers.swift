import Dispatch

/// A task an ``EventLoop`` runs at a deadline, unless it is cancelled first.
///
/// Loop thread only. Cancelling drops the task (and whatever it captured) at once and tells the heap, which compacts
/// itself once cancelled entries are the majority: the heap's memory follows the timers still pending, not every
/// timer ever scheduled within the longest deadline.
final class LoopTimer {
    fileprivate var task: (() -> Void)?
    fileprivate unowned let heap: LoopTimerHeap

    fileprivate init(task: @escaping () -> Void, heap: LoopTimerHeap) {
        self.task = task
        self.heap = heap
    }

    /// Stops the task from running and releases it. Idempotent.
    func cancel() {
        guard task != nil else { return }
        task = nil
        heap.timerCancelled()
    }
}

/// The loop's pending timers: a binary min-heap on (deadline, insertion order).
final class LoopTimerHeap {
    private struct Entry {
        var deadline: UInt64
        var sequence: UInt64
        var timer: LoopTimer

        func precedes(_ other: Entry) -> Bool {
            deadline != other.deadline ? deadline < other.deadline : sequence < other.sequence
        }
    }

    private var entries: [Entry] = []
    private var nextSequence: UInt64 = 0
    /// Entries whose timer was cancelled but that are still in `entries`.
    private var cancelledEntries = 0

    /// Below this many entries a compaction is not worth its O(n); above it, cancelled entries never outnumber live
    /// ones for long.
    static let compactionFloor = 64

    var isEmpty: Bool { entries.isEmpty }

    /// Entries held, cancelled ones not yet dropped included.
    var count: Int { entries.count }

    /// Timers that will still run.
    var pendingCount: Int { entries.count - cancelledEntries }

    /// The earliest deadline, in DispatchTime uptime nanoseconds.
    var nextDeadline: UInt64? { entries.first?.deadline }

    /// Drops every entry (a stopped loop's timers never run).
    func removeAll() {
        for entry in entries { entry.timer.task = nil }
        entries.removeAll()
        cancelledEntries = 0
    }

    func schedule(at deadline: UInt64, _ task: @escaping () -> Void) -> LoopTimer {
        let timer = LoopTimer(task: task, heap: self)
        entries.append(Entry(deadline: deadline, sequence: nextSequence, timer: timer))
        nextSequence &+= 1
        siftUp(entries.count - 1)
        return timer
    }

    /// Removes and returns the tasks due at `now`, earliest first, skipping cancelled ones.
    func popDue(now: UInt64) -> [() -> Void] {
        var due: [() -> Void] = []
        while let first = entries.first, first.deadline <= now {
            let last = entries.removeLast()
            if !entries.isEmpty {
                entries[0] = last
                siftDown(0)
            }
            if let task = first.timer.task {
                first.timer.task = nil
                due.append(task)
            } else {
                cancelledEntries -= 1
            }
        }
        return due
    }

    fileprivate func timerCancelled() {
        cancelledEntries += 1
        if entries.count >= Self.compactionFloor && cancelledEntries * 2 > entries.count { compact() }
    }

    /// Drops every cancelled entry and rebuilds the heap: O(n), run only when at least half the entries are cancelled,
    /// so its cost is amortised over the cancellations that triggered it.
    private func compact() {
        entries.removeAll { $0.timer.task == nil }
        cancelledEntries = 0
        if entries.count > 1 {
            for index in stride(from: entries.count / 2 - 1, through: 0, by: -1) { siftDown(index) }
        }
        if entries.capacity > 4 * max(entries.count, Self.compactionFloor) {
            entries = Array(entries)
        }
    }

    private func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { return }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    private func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var first = parent
            if left < entries.count && entries[left].precedes(entries[first]) { first = left }
            if right < entries.count && entries[right].precedes(entries[first]) { first = right }
            if first == parent { return }
            entries.swapAt(parent, first)
            parent = first
        }
    }
}
