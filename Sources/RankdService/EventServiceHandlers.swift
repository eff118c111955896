import CRankingProto
import Dispatch
import ExposureLog
import Foundation
import H2GRPC
import ProtoSupport
import Ranking

/// ranking.v1.EventService on H2GRPC: takes what users do into the online store every replica reads.
///
/// Bad events are refused one by one and counted in the answer; the call fails (UNAVAILABLE) only when the store
/// cannot take writes, and then the producer's retry is safe because event ids are deduplicated.
public final class EventServiceHandlers: Sendable {
    /// The fully qualified service name.
    public static let serviceName = "ranking.v1.EventService"
    /// Longest a write waits for the store when the call has no deadline of its own.
    public static let defaultWriteBudget = DispatchTimeInterval.seconds(2)

    private let store: any OnlineStore
    private let now: @Sendable () -> Int64
    private let storeIsRemote: Bool
    private let eventLog: RecordLog<EventRecord>?

    /// - Parameters:
    ///   - storeIsRemote: whether a write waits for another server (Redis): then Track runs on the blocking pool, so
    ///     that waiting for the store never holds a thread Rank and Recommend need.
    ///   - now: the server's clock in ms since the Unix epoch (tests pin it).
    ///   - eventLog: where each stored event is logged (docs/experiments.md); nil: no event log.
    public init(
        store: any OnlineStore,
        storeIsRemote: Bool = false,
        eventLog: RecordLog<EventRecord>? = nil,
        now: @escaping @Sendable () -> Int64 = EventServiceHandlers.wallClockMs
    ) {
        self.store = store
        self.storeIsRemote = storeIsRemote
        self.eventLog = eventLog
        self.now = now
    }

    /// The wall clock in ms since the Unix epoch.
    public static let wallClockMs: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

    /// The service definition to register.
    public var definition: ServiceDefinition {
        ServiceDefinition(
            name: Self.serviceName,
            methods: [
                RPCMethod(
                    name: "Track",
                    handler: .unary { [self] call, request in try track(call, request) },
                    executor: storeIsRemote ? .blocking : .cpu
                ),
                RPCMethod(name: "TrackStream", handler: .clientStreaming { [self] call in try trackStream(call) }),
            ]
        )
    }

    func track(_ call: ServerCall, _ request: [UInt8]) throws -> [UInt8] {
        Self.encode(try ingest(request, call: call).outcome)
    }

    func trackStream(_ call: ServerCall) throws -> [UInt8] {
        var total = TrackOutcome()
        var offset = 0
        while let request = try call.receive() {
            let (outcome, count) = try ingest(request, call: call)
            total.add(outcome, indexOffset: offset)
            offset += count
        }
        return Self.encode(total)
    }

    /// Checks and stores one request's events; also returns how many events it carried.
    private func ingest(_ request: [UInt8], call: ServerCall) throws -> (outcome: TrackOutcome, count: Int) {
        let decoded = try ProtoC.decode(request, as: ranking__v1__track_request__init)
        let events = Self.events(decoded.message)
        let deadline = call.deadline ?? (DispatchTime.now() + Self.defaultWriteBudget)
        let nowMs = now()
        let log = eventLog
        do {
            let outcome = try EventIngest.track(events, store: store, nowMs: nowMs, deadline: deadline) { event in
                log?.offer(EventRecord(event, receivedUnixMs: nowMs))
            }
            return (outcome, events.count)
        } catch let error as RankingError {
            throw RankingServiceHandlers.status(for: error, call: call)
        }
    }

    /// The events of a decoded TrackRequest, as the contract carries them.
    static func events(_ request: Ranking__V1__TrackRequest) -> [IncomingEvent] {
        ProtoC.messages(request.events, count: request.n_events).map { pointer in
            let event = pointer.pointee
            return IncomingEvent(
                eventID: ProtoC.string(event.event_id),
                userID: ProtoC.string(event.user_id),
                sessionID: ProtoC.string(event.session_id),
                kind: Int(event.kind.rawValue),
                itemID: ProtoC.string(event.item_id),
                surface: ProtoC.string(event.surface),
                requestID: ProtoC.string(event.request_id),
                position: event.position,
                timestampMs: event.timestamp_unix_ms,
                value: event.value
            )
        }
    }

    /// Encodes a TrackResponse.
    static func encode(_ outcome: TrackOutcome) -> [UInt8] {
        let arena = ProtoArena()
        var response = Ranking__V1__TrackResponse()
        ranking__v1__track_response__init(&response)
        response.accepted = Int32(clamping: outcome.accepted)
        response.duplicates = Int32(clamping: outcome.duplicates)
        let rejected: [UnsafeMutablePointer<Ranking__V1__RejectedEvents>?] =
            EventRejection.allCases.compactMap { reason in
                guard let count = outcome.rejectedByReason[reason], count > 0 else { return nil }
                var message = Ranking__V1__RejectedEvents()
                ranking__v1__rejected_events__init(&message)
                message.reason = arena.string(reason.rawValue)
                message.count = Int32(clamping: count)
                return arena.make(message)
            }
        response.n_rejected = rejected.count
        response.rejected = arena.array(rejected)
        let rejections: [UnsafeMutablePointer<Ranking__V1__EventRejection>?] = outcome.rejections.map { entry in
            var message = Ranking__V1__EventRejection()
            ranking__v1__event_rejection__init(&message)
            message.index = Int32(clamping: entry.index)
            message.event_id = arena.string(entry.eventID)
            message.reason = arena.string(entry.error.reason.rawValue)
            message.message = arena.string(entry.error.message)
            return arena.make(message)
        }
        response.n_rejections = rejections.count
        response.rejections = arena.array(rejections)
        return ProtoC.encode(&response)
    }
}
