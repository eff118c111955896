import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport

/// One worker's calls to rankd for `rankctl simulate`: Recommend for the ids shown, Track for what the simulated
/// user did. Blocking, one connection per worker, reconnected when rankd drops it.
final class SimulationClient {
    private let host: String
    private let port: Int
    private let timeoutNanoseconds: Int64
    private var connection: ClientConnection?

    init(host: String, port: Int, timeoutSeconds: Double) {
        self.host = host
        self.port = port
        timeoutNanoseconds = Int64(timeoutSeconds * 1e9)
    }

    deinit { connection?.close() }

    /// Attempts per call when rankd sheds it or is briefly unreachable; both calls are safe to repeat (the same
    /// request id explores the same way, and Track ignores events it already stored).
    static let attempts = 5

    /// Calls `attempt` until it ends with a status worth no retry, or `attempts` times, backing off 50, 100, 200 and
    /// 400 ms (each plus up to half again, so shed workers do not return together); returns the last result and how
    /// many retries it took.
    private func retrying<T>(_ attempt: () -> T, status: (T) -> GRPCStatus.Code) -> (T, retries: Int) {
        var result = attempt()
        var retries = 0
        while retries + 1 < Self.attempts, [.resourceExhausted, .unavailable].contains(status(result)) {
            Thread.sleep(forTimeInterval: 0.05 * Double(1 << retries) * Double.random(in: 1...1.5))
            retries += 1
            result = attempt()
        }
        return (result, retries)
    }

    /// The open connection, or a new one; throws when rankd cannot be reached.
    func connected() throws -> ClientConnection {
        if let connection, !connection.isClosed { return connection }
        connection?.close()
        connection = nil
        let made = try ClientConnection(
            host: host,
            port: port,
            connectTimeoutMilliseconds: max(1, Int(timeoutNanoseconds / 1_000_000))
        )
        connection = made
        return made
    }

    /// What a Recommend answered: the ids of every section in the order sent, and how the call ended.
    struct Answer {
        var ids: [String]
        var status: GRPCStatus.Code
        var message: String
        var snapshotID: String?
        /// Attempts after the first.
        var retries = 0
    }

    /// The fields of one Recommend.
    struct Query {
        var userID: String
        var surface: String
        var requestID: String
        var sessionID: String
        var latitude = 0.0
        var longitude = 0.0
        var requestTimeUnixMs: Int64 = 0
        var venueID = ""
        var contextItemIDs: [String] = []
    }

    /// Recommend, retried when shed or unreachable.
    func recommend(_ query: Query) -> Answer {
        var (answer, retries) = retrying({ recommendOnce(query) }, status: \.status)
        answer.retries = retries
        return answer
    }

    private func recommendOnce(_ query: Query) -> Answer {
        let arena = ProtoArena()
        var context = Ranking__V1__Context()
        ranking__v1__context__init(&context)
        context.latitude = query.latitude
        context.longitude = query.longitude
        context.request_time_unix_ms = query.requestTimeUnixMs
        context.request_id = arena.string(query.requestID)
        context.session_id = arena.string(query.sessionID)
        var request = Ranking__V1__RecommendRequest()
        ranking__v1__recommend_request__init(&request)
        request.user_id = arena.string(query.userID)
        request.surface = arena.string(query.surface)
        request.context = arena.make(context)
        request.venue_id = arena.string(query.venueID)
        request.n_context_item_ids = query.contextItemIDs.count
        request.context_item_ids = arena.array(query.contextItemIDs.map { Optional(arena.string($0)) })
        let message = ProtoC.encode(&request)
        let connection: ClientConnection
        do {
            connection = try connected()
        } catch {
            return Answer(ids: [], status: .unavailable, message: "\(error)", snapshotID: nil)
        }
        let sections = SectionCollector()
        let result = connection.serverStreaming(
            ClientRequest(
                path: "/ranking.v1.RankingService/Recommend",
                message: message,
                timeoutNanoseconds: timeoutNanoseconds
            )
        ) { sections.append($0) }
        var ids: [String] = []
        for bytes in sections.messages {
            guard let decoded = try? ProtoC.decode(bytes, as: ranking__v1__recommend_response__init) else {
                return Answer(ids: [], status: .internal, message: "undecodable answer", snapshotID: nil)
            }
            let section = decoded.message
            ids += ProtoC.messages(section.items, count: section.n_items).map { ProtoC.string($0.pointee.item_id) }
            withExtendedLifetime(decoded) {}
        }
        return Answer(
            ids: ids,
            status: result.status.code,
            message: result.status.message,
            snapshotID: result.headers.first("rankd-snapshot-id")
        )
    }

    /// One event as the simulator makes it.
    struct Event {
        var id: String
        var userID: String
        var sessionID: String
        var kind: Ranking__V1__EventKind
        var itemID: String
        var surface: String
        var requestID: String
        var position: Int
        var timestampUnixMs: Int64
        var value = 0.0
    }

    /// What Track answered.
    struct TrackOutcome {
        var status: GRPCStatus.Code
        var accepted = 0
        var duplicates = 0
        var rejected: [String: Int] = [:]
        /// Attempts after the first.
        var retries = 0
    }

    /// Track, retried when shed or unreachable.
    func track(_ events: [Event]) -> TrackOutcome {
        var (outcome, retries) = retrying({ trackOnce(events) }, status: \.status)
        outcome.retries = retries
        return outcome
    }

    private func trackOnce(_ events: [Event]) -> TrackOutcome {
        let arena = ProtoArena()
        let messages: [UnsafeMutablePointer<Ranking__V1__Event>?] = events.map { e in
            var event = Ranking__V1__Event()
            ranking__v1__event__init(&event)
            event.event_id = arena.string(e.id)
            event.user_id = arena.string(e.userID)
            event.session_id = arena.string(e.sessionID)
            event.kind = e.kind
            event.item_id = arena.string(e.itemID)
            event.surface = arena.string(e.surface)
            event.request_id = arena.string(e.requestID)
            event.position = Int32(e.position)
            event.timestamp_unix_ms = e.timestampUnixMs
            event.value = e.value
            return arena.make(event)
        }
        var request = Ranking__V1__TrackRequest()
        ranking__v1__track_request__init(&request)
        request.n_events = messages.count
        request.events = arena.array(messages)
        let message = ProtoC.encode(&request)
        let connection: ClientConnection
        do {
            connection = try connected()
        } catch {
            return TrackOutcome(status: .unavailable)
        }
        let (response, result) = connection.unary(
            ClientRequest(
                path: "/ranking.v1.EventService/Track",
                message: message,
                timeoutNanoseconds: timeoutNanoseconds
            )
        )
        guard let response, let decoded = try? ProtoC.decode(response, as: ranking__v1__track_response__init) else {
            return TrackOutcome(status: result.status.code == .ok ? .internal : result.status.code)
        }
        let answer = decoded.message
        var outcome = TrackOutcome(status: .ok, accepted: Int(answer.accepted), duplicates: Int(answer.duplicates))
        for rejected in ProtoC.messages(answer.rejected, count: answer.n_rejected) {
            outcome.rejected[ProtoC.string(rejected.pointee.reason), default: 0] += Int(rejected.pointee.count)
        }
        withExtendedLifetime(decoded) {}
        return outcome
    }

    /// Asks the health service whether rankd serves, and which snapshot.
    func health() throws -> (serving: Bool, snapshotID: String?, status: GRPCStatus) {
        let arena = ProtoArena()
        var request = Grpc__Health__V1__HealthCheckRequest()
        grpc__health__v1__health_check_request__init(&request)
        request.service = arena.string("")
        let message = ProtoC.encode(&request)
        let (response, result) = try connected().unary(
            ClientRequest(
                path: "/grpc.health.v1.Health/Check",
                message: message,
                timeoutNanoseconds: timeoutNanoseconds
            )
        )
        guard let response else { return (false, nil, result.status) }
        let decoded = try ProtoC.decode(response, as: grpc__health__v1__health_check_response__init)
        let serving = decoded.message.status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
        withExtendedLifetime(decoded) {}
        return (serving, result.headers.first("rankd-snapshot-id"), result.status)
    }
}
