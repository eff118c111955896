import ArgumentParser
import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport

/// `rankctl track`: tells rankd what a user did, as an app would (ranking.v1.EventService/Track).
struct TrackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "track",
        abstract: "Tell rankd what a user did (one event), so the next answer can use it.",
        discussion: """
            Example: rankctl track --user u1 --kind order --item v12, then rankctl recommend --user u1 shows v12 \
            first in Order again. Exit status 1 when rankd refuses the event (the reason is printed). See \
            docs/events.md.
            """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "User id.")
    var user: String

    @Option(help: "impression, view, click, add_to_cart, order; play, skip, complete.")
    var kind: String

    @Option(help: "The venue, item or track acted on.")
    var item: String

    @Option(help: "The event's id; a repeat of the same id is ignored (default: a new UUID).")
    var eventId = UUID().uuidString

    @Option(help: "App session id.")
    var sessionId = ""

    @Option(help: "Surface the item was shown on.")
    var surface = ""

    @Option(help: "Request id of the answer the item came from.")
    var requestId = ""

    @Option(help: "Zero-based position of the item in that answer.")
    var position: Int32 = 0

    @Option(help: "When it happened, Unix milliseconds; 0 = now.")
    var time: Int64 = 0

    @Option(help: "An order's total or the seconds played.")
    var value = 0.0

    static let kinds = ["impression", "view", "click", "add_to_cart", "order", "play", "skip", "complete"]

    func validate() throws {
        guard Self.kinds.contains(kind) else {
            throw ValidationError("--kind must be one of \(Self.kinds.joined(separator: ", ")) (got \(kind))")
        }
    }

    func run() throws {
        let arena = ProtoArena()
        var event = Ranking__V1__Event()
        ranking__v1__event__init(&event)
        event.event_id = arena.string(eventId)
        event.user_id = arena.string(user)
        event.session_id = arena.string(sessionId)
        event.kind = Ranking__V1__EventKind(rawValue: UInt32(Self.kinds.firstIndex(of: kind)! + 1))
        event.item_id = arena.string(item)
        event.surface = arena.string(surface)
        event.request_id = arena.string(requestId)
        event.position = position
        event.timestamp_unix_ms = time
        event.value = value
        var request = Ranking__V1__TrackRequest()
        ranking__v1__track_request__init(&request)
        request.n_events = 1
        request.events = arena.array([Optional(arena.make(event))])
        let client = try connection.connect()
        defer { client.close() }
        let (response, result) = client.unary(
            ClientRequest(
                path: "/ranking.v1.EventService/Track",
                message: ProtoC.encode(&request),
                timeoutNanoseconds: connection.timeoutNanoseconds
            )
        )
        guard let response else { throw RankCtlError("track failed: \(result.status)") }
        // The decoded message owns its memory: keep it alive while its fields are read.
        let decoded = try ProtoC.decode(response, as: ranking__v1__track_response__init)
        let answer = decoded.message
        let rejections = ProtoC.messages(answer.rejections, count: answer.n_rejections).map {
            (reason: ProtoC.string($0.pointee.reason), message: ProtoC.string($0.pointee.message))
        }
        if connection.json {
            var object: [String: Any] = ["accepted": Int(answer.accepted), "duplicates": Int(answer.duplicates)]
            object["rejections"] = rejections.map { ["reason": $0.reason, "message": $0.message] }
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else if answer.accepted > 0 {
            print("stored \(kind) of \(item) by \(user) (event \(eventId))")
        } else if answer.duplicates > 0 {
            print("already stored: event \(eventId) was tracked before")
        } else {
            for rejection in rejections { print("refused (\(rejection.reason)): \(rejection.message)") }
        }
        let refused = !rejections.isEmpty
        withExtendedLifetime(decoded) {}
        if refused { throw ExitCode(1) }
    }
}
