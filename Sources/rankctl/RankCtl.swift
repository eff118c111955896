import ArgumentParser
import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport

/// rankctl: the command-line client a person uses to call rankd and read its answers.
@main
struct RankCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rankctl",
        abstract: "Call rankd and read results as a table or JSON.",
        subcommands: [
            RecommendCommand.self, RankCommand.self, TrackCommand.self, HealthCommand.self, SimulateCommand.self,
        ]
            + RankCtl.offlineCommands
    )
}

/// Where rankd is and how long to wait for it.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "rankd address, host:port.")
    var target = "127.0.0.1:50051"

    @Option(help: "Deadline for the call, in seconds.")
    var timeout = 5.0

    @Flag(help: "Print the response as JSON instead of a table.")
    var json = false

    func connect() throws -> ClientConnection {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else {
            throw ValidationError("--target must be host:port, got \(target)")
        }
        let host = String(target[..<colon])
        do {
            return try ClientConnection(host: host, port: port, connectTimeoutMilliseconds: Int(timeout * 1000))
        } catch {
            throw RankCtlError("cannot reach rankd at \(target): \(error)")
        }
    }

    var timeoutNanoseconds: Int64 { Int64(timeout * 1e9) }
}

/// Request fields shared by rank and recommend.
struct QueryOptions: ParsableArguments {
    @Option(help: "User id, e.g. u1.")
    var user: String

    @Option(
        help: ArgumentHelp(
            "Surface: discovery (venues), category (venues of --category), venue_items (a venue's items) or cart "
                + "(items to add to --cart); next_track (what plays next after --session) on a music snapshot."
        )
    )
    var surface = "discovery"

    @Option(help: "Most items to return (per section for recommend); 0 = the surface default.")
    var limit: Int32 = 0

    @Option(help: "Request latitude; 0 with --lon 0 uses the user's home.")
    var lat = 0.0

    @Option(help: "Request longitude.")
    var lon = 0.0

    @Option(help: "Request time, Unix milliseconds; 0 = now.")
    var time: Int64 = 0

    @Option(help: "Request id (makes exploration reproducible).")
    var requestId = ""

    @Option(help: "App session id: session features read the events tracked with it (rankctl track --session-id).")
    var sessionId = ""

    @Option(help: "Comma-separated ids that must not be returned.")
    var exclude = ""

    @Flag(help: "Ask for feature vectors, raw model scores, sources and timings.")
    var explain = false

    func context(arena: ProtoArena) -> UnsafeMutablePointer<Ranking__V1__Context> {
        var context = Ranking__V1__Context()
        ranking__v1__context__init(&context)
        context.latitude = lat
        context.longitude = lon
        context.request_time_unix_ms = time
        context.request_id = arena.string(requestId)
        context.session_id = arena.string(sessionId)
        return arena.make(context)
    }

    var excludedIDs: [String] { exclude.split(separator: ",").map(String.init) }
}

struct RecommendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recommend",
        abstract: "Stream a recommendation, section by section."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var query: QueryOptions

    @Option(help: "Venue id, for the venue_items surface.")
    var venue = ""

    @Option(help: "Cuisine to rank within, for the category surface, e.g. sushi.")
    var category = ""

    @Option(help: "Comma-separated item ids already in the cart, for the cart surface (one venue's items).")
    var cart = ""

    @Option(
        help: ArgumentHelp(
            "Comma-separated track ids for next_track (a music snapshot): the playing track first, then the "
                + "session's recent tracks, newest first."
        )
    )
    var session = ""

    func run() throws {
        let arena = ProtoArena()
        var request = Ranking__V1__RecommendRequest()
        ranking__v1__recommend_request__init(&request)
        request.user_id = arena.string(query.user)
        request.surface = arena.string(query.surface)
        request.context = query.context(arena: arena)
        request.limit = query.limit
        request.explain = query.explain ? 1 : 0
        request.include_display = 1  // a person reads the answer: names beside ids
        request.venue_id = arena.string(venue)
        request.category = arena.string(category)
        // Both are the request's context items; a surface that takes neither refuses them.
        let cartItems = (cart.split(separator: ",") + session.split(separator: ",")).map(String.init)
        request.n_context_item_ids = cartItems.count
        request.context_item_ids = arena.array(cartItems.map { Optional(arena.string($0)) })
        let excluded = query.excludedIDs
        request.n_exclude_item_ids = excluded.count
        request.exclude_item_ids = arena.array(excluded.map { Optional(arena.string($0)) })

        let client = try connection.connect()
        defer { client.close() }
        let sections = SectionCollector()
        let result = client.serverStreaming(
            ClientRequest(
                path: "/ranking.v1.RankingService/Recommend",
                message: ProtoC.encode(&request),
                timeoutNanoseconds: connection.timeoutNanoseconds
            )
        ) { message in sections.append(message) }
        let decoded = try sections.messages.map { try Printable.section($0) }
        try Output.print(sections: decoded, status: result.status, json: connection.json)
    }
}

struct RankCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rank",
        abstract: "Rank the candidates you give."
    )

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var query: QueryOptions

    @Option(help: "Comma-separated candidate ids (venues for discovery, items for venue_items).")
    var items: String

    @Option(help: "Pagination token from a previous answer.")
    var pageToken = ""

    func run() throws {
        let arena = ProtoArena()
        var request = Ranking__V1__RankRequest()
        ranking__v1__rank_request__init(&request)
        request.user_id = arena.string(query.user)
        request.surface = arena.string(query.surface)
        request.context = query.context(arena: arena)
        request.limit = query.limit
        request.explain = query.explain ? 1 : 0
        request.include_display = 1  // a person reads the answer: names beside ids
        request.page_token = arena.string(pageToken)
        let candidates: [UnsafeMutablePointer<Ranking__V1__Candidate>?] = items.split(separator: ",").map { id in
            var candidate = Ranking__V1__Candidate()
            ranking__v1__candidate__init(&candidate)
            candidate.item_id = arena.string(String(id))
            return arena.make(candidate)
        }
        request.n_candidates = candidates.count
        request.candidates = arena.array(candidates)
        let excluded = query.excludedIDs
        request.n_exclude_item_ids = excluded.count
        request.exclude_item_ids = arena.array(excluded.map { Optional(arena.string($0)) })

        let client = try connection.connect()
        defer { client.close() }
        let (response, result) = client.unary(
            ClientRequest(
                path: "/ranking.v1.RankingService/Rank",
                message: ProtoC.encode(&request),
                timeoutNanoseconds: connection.timeoutNanoseconds
            )
        )
        var sections = try response.map { [try Printable.rankResponse($0)] } ?? []
        // The server drops repeated ids before ranking, so "N of M" counts distinct ones.
        let sent = Set(items.split(separator: ",").map(String.init)).count
        for index in sections.indices { sections[index].candidatesSent = sent }
        try Output.print(sections: sections, status: result.status, json: connection.json)
    }
}

struct HealthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Ask rankd whether it is serving."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Service to ask about; empty for the whole server.")
    var service = ""

    func run() throws {
        let arena = ProtoArena()
        var request = Grpc__Health__V1__HealthCheckRequest()
        grpc__health__v1__health_check_request__init(&request)
        request.service = arena.string(service)
        let client = try connection.connect()
        defer { client.close() }
        let (response, result) = client.unary(
            ClientRequest(
                path: "/grpc.health.v1.Health/Check",
                message: ProtoC.encode(&request),
                timeoutNanoseconds: connection.timeoutNanoseconds
            )
        )
        guard let response else { throw RankCtlError("health check failed: \(result.status)") }
        let decoded = try ProtoC.decode(response, as: grpc__health__v1__health_check_response__init)
        let status: String
        switch decoded.message.status {
        case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING: status = "SERVING"
        case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING: status = "NOT_SERVING"
        case GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN: status = "SERVICE_UNKNOWN"
        default: status = "UNKNOWN"
        }
        let snapshot = result.headers.first("rankd-snapshot-id")
        if connection.json {
            var object: [String: String] = ["status": status]
            if let snapshot { object["snapshot_id"] = snapshot }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(snapshot.map { "\(status) (snapshot \($0))" } ?? status)
        }
        if status != "SERVING" { throw ExitCode(1) }
    }
}

/// An error rankctl reports to the person and exits non-zero for.
struct RankCtlError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Messages collected on the connection's thread and read after the call ends.
final class SectionCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var collected: [[UInt8]] = []
    func append(_ message: [UInt8]) { lock.withLock { collected.append(message) } }
    var messages: [[UInt8]] { lock.withLock { collected } }
}
