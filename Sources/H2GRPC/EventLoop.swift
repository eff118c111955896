import CSystemShim
import Dispatch
import Foundation

/// Something registered with an ``EventLoop`` that reacts to readiness of one file descriptor.
///
/// Called only on the loop's own thread.
protocol EventLoopHandler: AnyObject {
    /// Handles readiness; `events` is a mask of `CSYSTEM_EV_*`.
    func handleEvents(_ events: UInt32)
    /// Writes what the handler has buffered; called once per loop iteration for handlers marked dirty.
    func flush()
}

/// One I/O thread: an epoll set, an eventfd to wake it, and a queue of tasks other threads hand it.
///
/// Everything registered with a loop (listeners, connections, their nghttp2 sessions) is touched only on this thread.
/// Other threads talk to it through ``execute(_:)``, which never blocks the caller for longer than a short lock.
public final class EventLoop: @unchecked Sendable {
    /// A short name for logs, e.g. "io-0".
    public let name: String
    private let epollFD: Int32
    private let wakeFD: Int32
    private var handlers: [Int32: EventLoopHandler] = [:]
    private var dirty: [EventLoopHandler] = []
    private let timers = LoopTimerHeap()
    private var dirtyIDs = Set<ObjectIdentifier>()
    /// One call's start held back to the end of this iteration's reads (``deferToEndOfReads(_:)``).
    private var deferred: (() -> Void)?

    private let taskLock = NSLock()
    private var tasks: [() -> Void] = []
    private var spareTasks: [() -> Void] = []
    private var stopping = false
    /// Set once the loop's thread has ended: ``execute(_:)`` then drops what it is handed. Guarded by `taskLock`.
    private var released = false
    private var started = false
    private var threadID: pthread_t?
    private let exited = DispatchSemaphore(value: 0)
    private let pinnedCPU: Int?
    /// Runs one queued job of a pool that has no threads of its own, if one waits; true when it ran or refused one.
    private let queuedWork: (() -> Bool)?

    /// Creates a loop; call ``start()`` to give it a thread. `cpu` pins that thread to one core. `queuedWork`, when
    /// set, is called at the end of every iteration: the loop then runs a CPU pool's jobs itself, one per iteration,
    /// between its reads and writes (``ServerConfiguration/workers`` 0).
    public init(name: String, cpu: Int? = nil, queuedWork: (() -> Bool)? = nil) throws {
        self.name = name
        self.pinnedCPU = cpu
        self.queuedWork = queuedWork
        epollFD = csystem_epoll_create()
        guard epollFD >= 0 else { throw RPCError.system("epoll_create1", errno) }
        wakeFD = csystem_eventfd()
        guard wakeFD >= 0 else {
            close(epollFD)
            throw RPCError.system("eventfd", errno)
        }
        _ = csystem_epoll_ctl(epollFD, 0, wakeFD, UInt32(CSYSTEM_EV_READ))
    }

    deinit {
        close(wakeFD)
        close(epollFD)
    }

    /// Starts the loop's thread.
    public func start() {
        let thread = Thread { [self] in
            taskLock.lock()
            threadID = pthread_self()
            taskLock.unlock()
            if let cpu = pinnedCPU { _ = csystem_pin_thread(Int32(cpu)) }
            run()
            releaseHeldWork()
            exited.signal()
        }
        thread.name = name
        // As much stack as a worker's: a call that may run inline runs its handler (the ranking pipeline) here.
        thread.stackSize = 4 << 20
        // The Thread is not stored: its block holds the loop while the thread runs, and a loop that held the Thread
        // would never be freed (loop -> Thread -> block -> loop).
        started = true
        thread.start()
    }

    /// Whether the caller is on this loop's thread.
    public var inEventLoop: Bool {
        guard let id = threadID else { return false }
        return pthread_equal(id, pthread_self()) != 0
    }

    /// Runs `task` on the loop's thread, soon. Safe from any thread; tasks run in the order they were handed over.
    public func execute(_ task: @escaping () -> Void) {
        taskLock.lock()
        // A loop that has stopped would hold the task (and what it captures, such as a call finishing after a
        // server's shutdown) forever: drop it instead, outside the lock.
        guard !released else {
            taskLock.unlock()
            return
        }
        let wasEmpty = tasks.isEmpty
        tasks.append(task)
        // The loop's own thread (a call run inline handing its answer back) looks at its tasks before it next waits
        // (`run()`), so it needs no wake-up: that saves a write and a read of the eventfd per such call. Read under
        // the lock the thread's id is written under, since other threads hand tasks over while the loop starts.
        let fromLoop = threadID.map { pthread_equal($0, pthread_self()) != 0 } ?? false
        taskLock.unlock()
        if wasEmpty && !fromLoop { _ = csystem_eventfd_signal(wakeFD) }
    }

    /// Runs `task` on the loop's thread once `nanoseconds` have passed. Safe from any thread.
    public func schedule(afterNanoseconds nanoseconds: Int64, _ task: @escaping () -> Void) {
        let deadline = Self.deadline(afterNanoseconds: nanoseconds)
        if inEventLoop {
            _ = timers.schedule(at: deadline, task)
        } else {
            execute { [self] in _ = timers.schedule(at: deadline, task) }
        }
    }

    /// Runs `task` on this thread once `nanoseconds` have passed, unless the returned timer is cancelled first.
    /// Loop thread only. Deadlines live here rather than in Dispatch so that thousands of them per second cost a
    /// heap push each, not a timer thread and a cross-thread wake-up each.
    func scheduleTimer(afterNanoseconds nanoseconds: Int64, _ task: @escaping () -> Void) -> LoopTimer {
        precondition(inEventLoop, "loop timers are scheduled on the loop's own thread")
        return timers.schedule(at: Self.deadline(afterNanoseconds: nanoseconds), task)
    }

    /// Timers that will still run. Loop thread only.
    var pendingTimerCount: Int { timers.pendingCount }

    private static func deadline(afterNanoseconds nanoseconds: Int64) -> UInt64 {
        DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0, nanoseconds))
    }

    /// Stops the loop after the tasks already queued have run, and waits for its thread to end.
    public func stop() {
        execute { [self] in stopping = true }
        if !inEventLoop && started { exited.wait() }
    }

    // MARK: Loop-thread only

    func register(fd: Int32, handler: EventLoopHandler, read: Bool = true, write: Bool = false) {
        precondition(handlers[fd] == nil, "fd \(fd) registered twice")
        handlers[fd] = handler
        _ = csystem_epoll_ctl(epollFD, 0, fd, interest(read: read, write: write))
    }

    func modify(fd: Int32, read: Bool, write: Bool) {
        _ = csystem_epoll_ctl(epollFD, 1, fd, interest(read: read, write: write))
    }

    func deregister(fd: Int32) {
        guard handlers.removeValue(forKey: fd) != nil else { return }
        _ = csystem_epoll_ctl(epollFD, 2, fd, 0)
    }

    /// Asks for `handler.flush()` at the end of this loop iteration, so that the bytes of many responses leave in
    /// one write.
    func markDirty(_ handler: EventLoopHandler) {
        if dirtyIDs.insert(ObjectIdentifier(handler)).inserted { dirty.append(handler) }
    }

    /// Runs `body` once this iteration's ready descriptors have all been read, before the tasks other threads handed
    /// over; false, with nothing kept, when a body is already waiting. A call that may run on this thread waits here
    /// so that the calls read with it are queued first, and it runs only if the pool is still idle after them.
    func deferToEndOfReads(_ body: @escaping () -> Void) -> Bool {
        guard deferred == nil else { return false }
        deferred = body
        return true
    }

    private func runDeferred() {
        guard let body = deferred else { return }
        deferred = nil
        body()
    }

    private func interest(read: Bool, write: Bool) -> UInt32 {
        (read ? UInt32(CSYSTEM_EV_READ) : 0) | (write ? UInt32(CSYSTEM_EV_WRITE) : 0)
    }

    private func run() {
        var ready = [csystem_ready](repeating: csystem_ready(), count: 128)
        // Whether the last iteration ran a queued job: more may wait, so the next one only looks for input.
        var ranQueuedWork = false
        while !stopping {
            var timeout: Int32 = dirty.isEmpty && deferred == nil && !ranQueuedWork && !hasTasks ? -1 : 0
            if timeout != 0, let next = timers.nextDeadline {
                let now = DispatchTime.now().uptimeNanoseconds
                // Round up so the loop never wakes a little early and spins until the deadline.
                timeout = next <= now ? 0 : Int32(clamping: (next - now + 999_999) / 1_000_000)
            }
            let count = ready.withUnsafeMutableBufferPointer {
                csystem_epoll_wait(epollFD, $0.baseAddress, Int32($0.count), timeout)
            }
            if count > 0 {
                for index in 0..<Int(count) {
                    let fd = ready[index].fd
                    if fd == wakeFD {
                        csystem_eventfd_drain(wakeFD)
                        continue
                    }
                    handlers[fd]?.handleEvents(ready[index].events)
                }
            }
            runDeferred()
            runTasks()
            if !timers.isEmpty {
                for task in timers.popDue(now: DispatchTime.now().uptimeNanoseconds) { task() }
            }
            flushDirty()
            // One job per iteration, after the writes: what earlier jobs answered leaves first, and input that came
            // meanwhile is read, and admitted or refused, before the next job starts.
            ranQueuedWork = queuedWork?() ?? false
        }
        // A call held back by the last iteration still gets its answer (a refusal, once the server drains).
        runDeferred()
        // Flush what the last tasks produced so that a GOAWAY or final trailers are not lost.
        flushDirty()
    }

    /// A stopped loop runs nothing more: drop its pending timers and queued tasks, and refuse tasks from now on, so that
    /// what they capture (a server's periodic tick, a call that finishes after shutdown) does not keep its owners
    /// alive through the loop.
    private func releaseHeldWork() {
        timers.removeAll()
        taskLock.lock()
        released = true
        let dropped = tasks
        tasks.removeAll()
        taskLock.unlock()
        _ = dropped  // released here, outside the lock: their captures may run deinits that hand over more tasks
    }

    /// Whether tasks wait: ones this thread handed itself since `runTasks()` (``execute(_:)`` does not wake it).
    private var hasTasks: Bool {
        taskLock.lock()
        defer { taskLock.unlock() }
        return !tasks.isEmpty
    }

    private func runTasks() {
        // Swap buffers so tasks can enqueue more tasks without deadlocking and without reallocating each time.
        taskLock.lock()
        swap(&tasks, &spareTasks)
        taskLock.unlock()
        for task in spareTasks { task() }
        spareTasks.removeAll(keepingCapacity: true)
    }

    private func flushDirty() {
        while !dirty.isEmpty {
            let batch = dirty
            dirty.removeAll(keepingCapacity: true)
            dirtyIDs.removeAll(keepingCapacity: true)
            for handler in batch { handler.flush() }
        }
    }
}

/// A group of event loops, one per I/O thread, handed out round-robin.
public final class EventLoopGroup: @unchecked Sendable {
    /// The loops, each with its own thread once started.
    public let loops: [EventLoop]
    private var next = 0
    private let lock = NSLock()

    /// Creates `count` loops named `prefix-N`; with `pinToCPUs`, loop N is pinned to the Nth CPU of that list. Each
    /// loop calls `queuedWork` at the end of its iterations (``EventLoop/init(name:cpu:queuedWork:)``).
    public init(count: Int, prefix: String = "io", pinToCPUs: [Int]? = nil, queuedWork: (() -> Bool)? = nil) throws {
        precondition(count > 0, "an event loop group needs at least one loop")
        var loops: [EventLoop] = []
        for index in 0..<count {
            let cpu = pinToCPUs.flatMap { $0.isEmpty ? nil : $0[index % $0.count] }
            loops.append(try EventLoop(name: "\(prefix)-\(index)", cpu: cpu, queuedWork: queuedWork))
        }
        self.loops = loops
        for loop in loops { loop.start() }
    }

    /// The next loop in round-robin order.
    public func nextLoop() -> EventLoop {
        lock.lock()
        defer { lock.unlock() }
        let loop = loops[next % loops.count]
        next &+= 1
        return loop
    }

    /// Stops every loop and waits for their threads.
    public func shutdown() {
        for loop in loops { loop.stop() }
    }
}

/// Errors of the RPC library itself (not gRPC statuses).
public enum RPCError: Error, CustomStringConvertible {
    /// A system call failed.
    case system(String, Int32)
    /// The peer or the connection went away.
    case connectionClosed(String)
    /// An HTTP/2 protocol failure reported by nghttp2.
    case http2(String)

    /// A message a person can act on.
    public var description: String {
        switch self {
        case .system(let call, let code): return "\(call) failed: \(String(cString: strerror(code)))"
        case .connectionClosed(let why): return "connection closed: \(why)"
        case .http2(let why): return "HTTP/2 error: \(why)"
        }
    }
}
