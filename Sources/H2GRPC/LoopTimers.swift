import Dispatch

/// A task an ``EventLoop`` runs at a deadline, unless it is cancelled first.
///
/// Loop thread only. Cancelling drops the task (and whatever it captured) at once; the heap entry that still points
/// here is discarded when its time comes.
final class LoopTimer {
    fileprivate var task: (() -> Void)?

    fileprivate init(task: @escaping () -> Void) {
        self.task = task
    }

    /// Stops the task from running and releases it.
    func cancel() {
        task = nil
    }
}

/// The loop's pending timers: a binary min-heap on (deadline, insertion order).
struct LoopTimerHeap {
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

    var isEmpty: Bool { entries.isEmpty }

    /// The earliest deadline, in DispatchTime uptime nanoseconds.
    var nextDeadline: UInt64? { entries.first?.deadline }

    mutating func schedule(at deadline: UInt64, _ task: @escaping () -> Void) -> LoopTimer {
        let timer = LoopTimer(task: task)
        entries.append(Entry(deadline: deadline, sequence: nextSequence, timer: timer))
        nextSequence &+= 1
        siftUp(entries.count - 1)
        return timer
    }

    /// Removes and returns the tasks due at `now`, earliest first, skipping cancelled ones.
    mutating func popDue(now: UInt64) -> [() -> Void] {
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
            }
        }
        return due
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].precedes(entries[parent]) else { return }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
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
