import H2GRPC

/// Everything recorded for one phase of a run (the warm-up, or one segment of the measured schedule), or for one
/// time window of the measured schedule (``LoadConfiguration/windowNanoseconds``).
///
/// Owned by one event-loop thread while the run goes on, so recording takes no lock; phases of different threads
/// are merged with ``add(_:)`` once the run is over.
public struct PhaseRecord: Sendable {
    /// Completion minus intended send time: the latency a user of an open-loop client sees (coordinated-omission
    /// corrected). Every call is here, failures and timeouts included (a timeout at its deadline).
    public var corrected = LatencyHistogram()
    /// Completion minus the time the call was actually handed to HTTP/2: what tools that time from the real send
    /// report. Calls that expired before they could be sent are not here (they were never sent).
    public var uncorrected = LatencyHistogram()
    /// First response message minus intended send time (streaming methods).
    public var firstMessage = LatencyHistogram()
    /// Time the generator's event loop took the request minus its intended send time: the generator's own lag.
    public var schedulingLag = LatencyHistogram()
    /// Corrected latency per grpc-status: OK calls apart from each kind of failure.
    public var latencyByStatus = StatusLatencies()
    /// How the calls ended.
    public var statuses = StatusTally()
    /// Requests whose intended send time falls in the phase.
    public var scheduled: UInt64 = 0
    /// Requests the generator's loops took within the phase's time window (by when, not by intent): the achieved
    /// rate of the phase.
    public var dispatchedInWindow: UInt64 = 0
    /// Requests that waited for a free stream because their connection had `streamsPerConnection` calls open.
    public var waitedForStream: UInt64 = 0
    /// Response messages received.
    public var messages: UInt64 = 0

    /// An empty record.
    public init() {}

    /// Adds another record's counts and histograms.
    public mutating func add(_ other: PhaseRecord) {
        corrected.add(other.corrected)
        uncorrected.add(other.uncorrected)
        firstMessage.add(other.firstMessage)
        schedulingLag.add(other.schedulingLag)
        latencyByStatus.add(other.latencyByStatus)
        statuses.add(other.statuses)
        scheduled += other.scheduled
        dispatchedInWindow += other.dispatchedInWindow
        waitedForStream += other.waitedForStream
        messages += other.messages
    }

    /// Whether calls answered with more than one message on average (a server-streaming method).
    public var isStreaming: Bool { firstMessage.count > 0 && messages > statuses.total }

    /// Records one finished call from its timestamps (nanoseconds on ``MonotonicClock``) and how it ended: its
    /// latencies, its latency under its status, and its status counts. `sent` is nil for a call that expired
    /// before it was sent, `firstMessage` nil when no message arrived.
    @inline(__always)
    public mutating func recordCall(
        intended: UInt64,
        sent: UInt64?,
        firstMessage first: UInt64?,
        completed: UInt64,
        code: GRPCStatus.Code,
        ending: ClientCallResult.Ending,
        httpStatus: Int?
    ) {
        let latency = completed &- min(intended, completed)
        corrected.record(nanoseconds: latency)
        latencyByStatus.record(code: code, nanoseconds: latency)
        if let sent { uncorrected.record(nanoseconds: completed &- min(sent, completed)) }
        if let first { firstMessage.record(nanoseconds: first &- min(intended, first)) }
        statuses.record(code: code, ending: ending, httpStatus: httpStatus)
    }
}
