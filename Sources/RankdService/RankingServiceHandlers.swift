import CRankingProto
import Dispatch
import ExposureLog
import Foundation
import H2GRPC
import ProtoSupport
import Ranking

/// ranking.v1.RankingService on H2GRPC: decodes the contract, runs the pipeline on the worker thread the transport
/// gives the handler, and maps the pipeline's errors onto gRPC statuses.
///
/// The engine arrives after start-up (the demo marketplace takes seconds to build); until then both methods answer
/// UNAVAILABLE, and health says NOT_SERVING.
public final class RankingServiceHandlers: @unchecked Sendable {
    /// The fully qualified service name.
    public static let serviceName = "ranking.v1.RankingService"
    /// Response header naming the catalog snapshot an answer was computed on (health's Check names the active one).
    public static let snapshotHeader = "rankd-snapshot-id"

    private let lock = NSLock()
    private var _engine: RankingEngine?
    private var _onlineStore: (any OnlineStore)?
    private var _exposureLog: RecordLog<ExposureRecord>?
    private let testHooks: Bool
    private let storeIsRemote: Bool

    /// - Parameters:
    ///   - testHooks: honour the test-only request metadata (integration tests only): `rankd-test-delay-ms` makes a
    ///     handler wait cooperatively before working so deadlines and cancellation can be observed, and `x-echo-*` /
    ///     `x-echo-trailer-*` are echoed in the response headers and trailers. Off, both are ignored.
    ///   - storeIsRemote: whether the online store is another server (Redis): the pipeline then waits for it, so
    ///     calls never run on the I/O thread (``RPCMethod/runsInlineWhenIdle``).
    public init(testHooks: Bool = false, storeIsRemote: Bool = false) {
        self.testHooks = testHooks
        self.storeIsRemote = storeIsRemote
    }

    /// The engine serving requests; set once it is built, replaced on a snapshot swap. Each engine set here reads
    /// ``onlineStore``.
    public var engine: RankingEngine? {
        get { lock.withLock { _engine } }
        set {
            lock.withLock {
                newValue?.onlineStore = _onlineStore
                _engine = newValue
            }
        }
    }

    /// The online state every engine reads (what users did since the snapshot); nil: the snapshot only.
    public var onlineStore: (any OnlineStore)? {
        get { lock.withLock { _onlineStore } }
        set {
            lock.withLock {
                _onlineStore = newValue
                _engine?.onlineStore = newValue
            }
        }
    }

    /// Where each answer's exposure record goes (docs/experiments.md); nil: no exposure log.
    public var exposureLog: RecordLog<ExposureRecord>? {
        get { lock.withLock { _exposureLog } }
        set { lock.withLock { _exposureLog = newValue } }
    }

    /// The service definition to register.
    public var definition: ServiceDefinition {
        ServiceDefinition(
            name: Self.serviceName,
            methods: [
                RPCMethod(
                    name: "Rank",
                    handler: .unary { [self] call, request in try rank(call, request) },
                    runsInlineWhenIdle: runsInlineWhenIdle
                ),
                RPCMethod(
                    name: "Recommend",
                    handler: .serverStreaming { [self] call, request in try recommend(call, request) },
                    runsInlineWhenIdle: runsInlineWhenIdle
                ),
            ]
        )
    }

    /// Which calls may run on the I/O thread when the workers are idle: none while the pipeline waits for a remote
    /// online store, and none that asks the test hook to wait (it waits for a cancellation the I/O thread would
    /// deliver).
    private var runsInlineWhenIdle: (@Sendable (Metadata) -> Bool)? {
        if storeIsRemote { return nil }
        guard testHooks else { return { _ in true } }
        return { $0.first("rankd-test-delay-ms") == nil }
    }

    func rank(_ call: ServerCall, _ request: [UInt8]) throws -> [UInt8] {
        let started = DispatchTime.now()
        let engine = try prepare(call)
        let decoded = try ProtoC.decode(request, as: ranking__v1__rank_request__init)
        let query = ContractMapping.rankQuery(decoded.message)
        let log = exposureLog
        do {
            let result = try RequestTracing.traced(call, "ranking.v1.RankingService/Rank") {
                try engine.rank(
                    query,
                    deadline: call.deadline,
                    arrival: call.arrival,
                    isCancelled: { call.isCancelled }
                )
            }
            Self.nameSnapshot(result.snapshotID, on: call)
            let encoded = ContractMapping.encode(result)
            if let log {
                let requestID = ExposureRecording.requestID(query.context.requestID, call: call)
                log.offer(
                    ExposureRecording.record(
                        rank: query,
                        result: result,
                        requestID: requestID,
                        latencyMicros: ExposureRecording.latencyMicros(since: call.arrival, started: started)
                    )
                )
            }
            return encoded
        } catch let error as RankingError {
            throw Self.status(for: error, call: call)
        }
    }

    func recommend(_ call: ServerCall, _ request: [UInt8]) throws {
        let started = DispatchTime.now()
        let engine = try prepare(call)
        let decoded = try ProtoC.decode(request, as: ranking__v1__recommend_request__init)
        let query = ContractMapping.recommendQuery(decoded.message)
        // Every section is ready before the first is sent: they go to the I/O thread in one hand-off with the status.
        call.holdMessagesUntilReturn()
        let log = exposureLog
        var exposure: RecommendExposure?
        var named = false
        do {
            let candidates = try RequestTracing.traced(call, "ranking.v1.RankingService/Recommend") {
                try engine.recommendCountingCandidates(
                    query,
                    deadline: call.deadline,
                    arrival: call.arrival,
                    isCancelled: { call.isCancelled }
                ) { section in
                    if !named {
                        // Headers go with the first section; every section of one answer comes from the same catalog.
                        Self.nameSnapshot(section.snapshotID, on: call)
                        if log != nil {
                            exposure = RecommendExposure(
                                query: query,
                                requestID: ExposureRecording.requestID(query.context.requestID, call: call)
                            )
                        }
                        named = true
                    }
                    try call.send(ContractMapping.encode(section))
                    exposure?.add(section)
                }
            }
            // Logged once the whole answer is sent: a call cut short showed the user an answer nobody can score.
            if let log, let exposure {
                log.offer(
                    exposure.record(
                        candidateCount: candidates,
                        latencyMicros: ExposureRecording.latencyMicros(since: call.arrival, started: started)
                    )
                )
            }
        } catch let error as RankingError {
            throw Self.status(for: error, call: call)
        }
    }

    /// Adds the snapshot header to the call's response metadata (kept: what the test hooks set).
    private static func nameSnapshot(_ snapshotID: String, on call: ServerCall) {
        guard !snapshotID.isEmpty, Metadata.isValidASCIIValue(snapshotID) else { return }
        var metadata = call.responseMetadata
        metadata.removeAll(snapshotHeader)
        metadata.append(snapshotHeader, snapshotID)
        call.responseMetadata = metadata
    }

    /// With test hooks: echoes test metadata and applies the test delay. Returns the engine or UNAVAILABLE.
    private func prepare(_ call: ServerCall) throws -> RankingEngine {
        if testHooks {
            var initial = Metadata()
            var trailing = Metadata()
            for entry in call.requestMetadata {
                if entry.name.hasPrefix("x-echo-trailer-") {
                    trailing.append(entry.name, entry.value)
                } else if entry.name.hasPrefix("x-echo-") {
                    initial.append(entry.name, entry.value)
                }
            }
            if !initial.isEmpty {
                var metadata = call.responseMetadata
                for entry in initial { metadata.append(entry.name, entry.value) }
                call.responseMetadata = metadata
            }
            if !trailing.isEmpty { call.trailingMetadata = trailing }
        }
        if testHooks, let delay = call.requestMetadata.first("rankd-test-delay-ms").flatMap(Int.init), delay > 0 {
            try call.sleep(milliseconds: min(delay, 60_000))
        }
        guard let engine else {
            throw GRPCStatus(.unavailable, "rankd is still loading its data and model; retry shortly")
        }
        return engine
    }

    /// The gRPC status for a pipeline error; a cancelled or expired call reports why it stopped: the pipeline sees
    /// both as "cancelled", and a passed deadline must always read DEADLINE_EXCEEDED.
    static func status(for error: RankingError, call: ServerCall) -> GRPCStatus {
        if case .cancelled = error, call.interruptionReason == .deadlineExceeded {
            return GRPCStatus(.deadlineExceeded, "the deadline passed before the call finished")
        }
        switch error {
        case .invalidArgument(let message): return GRPCStatus(.invalidArgument, message)
        case .notFound(let message): return GRPCStatus(.notFound, message)
        case .unavailable(let message): return GRPCStatus(.unavailable, message)
        case .deadlineExceeded: return GRPCStatus(.deadlineExceeded, error.description)
        case .cancelled: return GRPCStatus(.cancelled, error.description)
        }
    }
}
