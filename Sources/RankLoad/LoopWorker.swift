import Foundation
import H2GRPC

/// The part of a run that lives on one event loop: its connections, the calls open on them, the requests waiting
/// for a free stream, and its records. Everything but ``counters()`` runs on the loop's thread.
final class LoopWorker: @unchecked Sendable {
    let loop: EventLoop
    private let connections: [ClientConnection]
    private let configuration: LoadConfiguration
    private let plan: PhasePlan
    private let workerIndex: Int
    private let workerCount: Int
    private var start: UInt64 = 0
    private var open: [Int]
    /// Requests waiting for a free stream, per connection, oldest first (so the head expires first).
    private var waiting: [[ScheduledRequest]]
    private var waitingHead: [Int]
    private var records: [PhaseRecord]
    /// Records per time window of the measured schedule (empty without windows).
    private var windowRecords: [PhaseRecord]
    private var stopping = false
    private var abandoned: UInt64 = 0
    private var closedLoopNext = 0

    // Read by the progress thread; written under the lock on the loop thread.
    private let counterLock = NSLock()
    private var received: UInt64 = 0
    private var completed: UInt64 = 0
    private var failed: UInt64 = 0

    init(
        loop: EventLoop,
        connections: [ClientConnection],
        configuration: LoadConfiguration,
        plan: PhasePlan,
        workerIndex: Int,
        workerCount: Int
    ) {
        self.loop = loop
        self.connections = connections
        self.configuration = configuration
        self.plan = plan
        self.workerIndex = workerIndex
        self.workerCount = workerCount
        open = Array(repeating: 0, count: connections.count)
        waiting = Array(repeating: [], count: connections.count)
        waitingHead = Array(repeating: 0, count: connections.count)
        records = Array(repeating: PhaseRecord(), count: plan.names.count)
        windowRecords = Array(repeating: PhaseRecord(), count: plan.windowStarts.count)
    }

    /// Counters for progress, safe from any thread.
    func counters() -> (received: UInt64, completed: UInt64, failed: UInt64, outstanding: UInt64) {
        counterLock.withLock { (received, completed, failed, received - completed) }
    }

    /// Arms the expiry sweep and, in closed loop, starts the callers at `start`.
    func begin(start: UInt64) {
        self.start = start
        loop.execute { [self] in
            scheduleSweep()
            if !plan.isOpenLoop {
                let delay = start > MonotonicClock.now() ? start - MonotonicClock.now() : 0
                loop.schedule(afterNanoseconds: Int64(delay)) { [self] in startClosedLoop() }
            }
        }
    }

    // MARK: Open loop

    /// Takes a batch from the scheduler: stamps the lag, then sends or queues each request.
    func accept(_ batch: [ScheduledRequest]) {
        let now = MonotonicClock.now()
        counterLock.withLock { received += UInt64(batch.count) }
        for request in batch {
            let lag = now > request.intended ? now - request.intended : 0
            update(request) {
                $0.scheduled += 1
                $0.schedulingLag.record(nanoseconds: lag)
            }
            let offset = now > start ? now - start : 0
            if let phase = plan.phase(atOffset: offset) { records[phase].dispatchedInWindow += 1 }
            if let window = plan.window(atOffset: offset) { windowRecords[window].dispatchedInWindow += 1 }
            if stopping {
                expire(request, at: now, reason: .transportError("the run was stopped"))
            } else if open[request.connection] < configuration.streamsPerConnection {
                send(request, now: now)
            } else {
                update(request) { $0.waitedForStream += 1 }
                waiting[request.connection].append(request)
            }
        }
    }

    private func send(_ request: ScheduledRequest, now: UInt64) {
        var remaining: Int64?
        if configuration.timeoutNanoseconds > 0 {
            let deadline = request.intended + configuration.timeoutNanoseconds
            guard now < deadline else {
                expire(request, at: deadline, reason: .timeout)
                return
            }
            remaining = Int64(deadline - now)
        }
        open[request.connection] += 1
        let call = CallState(request: request, sent: now)
        let template = configuration.workload.request(at: request.index)
        let outgoing = ClientRequest(path: template.path, message: template.message, timeoutNanoseconds: remaining)
        connections[request.connection].startCall(
            outgoing,
            handler: ClientCallHandler(
                onMessage: { _ in
                    call.messages += 1
                    if call.firstMessage == nil { call.firstMessage = MonotonicClock.now() }
                },
                onFinish: { [self] result in finished(call, result) }
            )
        )
    }

    private func finished(_ call: CallState, _ result: ClientCallResult) {
        let now = MonotonicClock.now()
        let request = call.request
        update(request) {
            $0.recordCall(
                intended: request.intended,
                sent: call.sent,
                firstMessage: call.firstMessage,
                completed: now,
                code: result.status.code,
                ending: result.ending,
                httpStatus: result.httpStatus
            )
            $0.messages += call.messages
        }
        open[request.connection] -= 1
        counted(ok: result.status.code == .ok)
        if plan.isOpenLoop {
            sendWaiting(on: request.connection, now: now)
        } else if !stopping && now < start + plan.totalNanoseconds {
            issueClosedLoop(on: request.connection, now: now)
        }
    }

    private func sendWaiting(on connection: Int, now: UInt64) {
        while !stopping, open[connection] < configuration.streamsPerConnection,
            waitingHead[connection] < waiting[connection].count
        {
            let next = waiting[connection][waitingHead[connection]]
            waitingHead[connection] += 1
            send(next, now: now)
        }
        compact(connection)
    }

    /// A request whose deadline passed before it could be sent (or that a stopped run never sent) is recorded at
    /// the deadline, never dropped.
    private func expire(_ request: ScheduledRequest, at time: UInt64, reason: ClientCallResult.Ending) {
        let code: GRPCStatus.Code = reason == .timeout ? .deadlineExceeded : .unavailable
        update(request) {
            $0.recordCall(
                intended: request.intended,
                sent: nil,
                firstMessage: nil,
                completed: time,
                code: code,
                ending: reason,
                httpStatus: nil
            )
        }
        counted(ok: false)
    }

    /// Applies `body` to the request's phase record and, when the run has windows, to its window's record.
    @inline(__always)
    private func update(_ request: ScheduledRequest, _ body: (inout PhaseRecord) -> Void) {
        body(&records[request.phase])
        if request.window >= 0 { body(&windowRecords[request.window]) }
    }

    private func counted(ok: Bool) {
        counterLock.withLock {
            completed += 1
            if !ok { failed += 1 }
        }
    }

    private func compact(_ connection: Int) {
        if waitingHead[connection] == waiting[connection].count {
            waiting[connection].removeAll(keepingCapacity: true)
            waitingHead[connection] = 0
        } else if waitingHead[connection] > 4096 {
            waiting[connection].removeFirst(waitingHead[connection])
            waitingHead[connection] = 0
        }
    }

    /// Every 10 ms: expires waiting requests whose deadline passed, at their deadline, so a server that stops
    /// answering altogether still produces its timeouts on time.
    private func scheduleSweep() {
        loop.schedule(afterNanoseconds: 10_000_000) { [weak self] in
            guard let self, !self.stopping else { return }
            self.sweep(now: MonotonicClock.now())
            self.scheduleSweep()
        }
    }

    private func sweep(now: UInt64) {
        guard configuration.timeoutNanoseconds > 0 else { return }
        for connection in waiting.indices {
            while waitingHead[connection] < waiting[connection].count {
                let head = waiting[connection][waitingHead[connection]]
                let deadline = head.intended + configuration.timeoutNanoseconds
                guard deadline <= now else { break }
                waitingHead[connection] += 1
                expire(head, at: deadline, reason: .timeout)
            }
            compact(connection)
        }
    }

    // MARK: Closed loop

    private func startClosedLoop() {
        let now = MonotonicClock.now()
        for connection in connections.indices {
            for _ in 0..<configuration.streamsPerConnection { issueClosedLoop(on: connection, now: now) }
        }
    }

    /// In closed loop the intended time is the send time: there is no schedule to fall behind.
    private func issueClosedLoop(on connection: Int, now: UInt64) {
        guard let phase = plan.phase(atOffset: now > start ? now - start : 0) else { return }
        let index = closedLoopNext * workerCount + workerIndex
        closedLoopNext += 1
        counterLock.withLock { received += 1 }
        records[phase].scheduled += 1
        records[phase].dispatchedInWindow += 1
        records[phase].schedulingLag.record(nanoseconds: 0)
        send(ScheduledRequest(index: index, intended: now, phase: phase, window: -1, connection: connection), now: now)
    }

    // MARK: End of run

    /// Stops sending: requests still waiting are recorded as never sent, new arrivals likewise.
    func stop() {
        let done = DispatchSemaphore(value: 0)
        loop.execute { [self] in
            stopping = true
            let now = MonotonicClock.now()
            for connection in waiting.indices {
                while waitingHead[connection] < waiting[connection].count {
                    let request = waiting[connection][waitingHead[connection]]
                    waitingHead[connection] += 1
                    abandoned += 1
                    expire(request, at: now, reason: .transportError("the run was stopped"))
                }
                compact(connection)
            }
            done.signal()
        }
        done.wait()
    }

    /// The phase and window records and the number of calls cut off; call after the connections are closed.
    func collect() -> (phases: [PhaseRecord], windows: [PhaseRecord], abandoned: UInt64) {
        let done = DispatchSemaphore(value: 0)
        var result: ([PhaseRecord], [PhaseRecord], UInt64) = ([], [], 0)
        loop.execute { [self] in
            let open = counterLock.withLock { received - completed }
            result = (records, windowRecords, abandoned + open)
            done.signal()
        }
        done.wait()
        return result
    }
}

/// One call in flight; touched only on its loop's thread.
private final class CallState: @unchecked Sendable {
    let request: ScheduledRequest
    let sent: UInt64
    var firstMessage: UInt64?
    var messages: UInt64 = 0

    init(request: ScheduledRequest, sent: UInt64) {
        self.request = request
        self.sent = sent
    }
}
