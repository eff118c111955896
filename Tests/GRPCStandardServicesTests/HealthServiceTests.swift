import CRankingProto
import Foundation
import GRPCStandardServices
import H2GRPC
import ProtoSupport
import Testing

/// grpc.health.v1.Health over loopback: Check on the I/O thread, and Watch as a subscription whose watcher entry
/// lives exactly as long as its stream.
@Suite("Health over loopback")
struct HealthServiceTests {
    typealias ServingStatus = Grpc__Health__V1__HealthCheckResponse__ServingStatus
    static let serving = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
    static let notServing = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
    static let serviceUnknown = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN
    static let checkPath = "/grpc.health.v1.Health/Check"
    static let watchPath = "/grpc.health.v1.Health/Watch"

    static func request(_ service: String) -> [UInt8] {
        let arena = ProtoArena()
        var request = Grpc__Health__V1__HealthCheckRequest()
        grpc__health__v1__health_check_request__init(&request)
        request.service = arena.string(service)
        return ProtoC.encode(&request)
    }

    static func statuses(_ messages: [[UInt8]]) throws -> [ServingStatus] {
        try messages.map { try ProtoC.decode($0, as: grpc__health__v1__health_check_response__init).message.status }
    }

    static func check(_ loopback: Loopback, _ service: String) -> (ServingStatus?, GRPCStatus) {
        let (response, result) = loopback.client.unary(
            ClientRequest(
                path: checkPath,
                message: request(service),
                timeoutNanoseconds: Loopback.callTimeoutNanoseconds
            )
        )
        let status = response.flatMap {
            try? ProtoC.decode($0, as: grpc__health__v1__health_check_response__init).message.status
        }
        return (status, result.status)
    }

    // MARK: Check

    @Test("Check answers for the whole server (\"\") and follows setStatus")
    func checkWholeServer() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let (before, beforeStatus) = Self.check(loopback, "")
        #expect(beforeStatus.code == .ok)
        #expect(before == Self.notServing)
        loopback.health.setStatus(.serving)
        let (after, afterStatus) = Self.check(loopback, "")
        #expect(afterStatus.code == .ok)
        #expect(after == Self.serving)
    }

    @Test("Check sends the metadata the application set, and none once it is cleared")
    func checkMetadata() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        func headers() -> Metadata {
            loopback.client.unary(
                ClientRequest(
                    path: Self.checkPath,
                    message: Self.request(""),
                    timeoutNanoseconds: Loopback.callTimeoutNanoseconds
                )
            ).1.headers
        }
        #expect(headers().first("rankd-snapshot-id") == nil)
        loopback.health.setCheckMetadata(Metadata([("rankd-snapshot-id", "snap-a")]))
        #expect(headers().first("rankd-snapshot-id") == "snap-a")
        loopback.health.setCheckMetadata(Metadata([("rankd-snapshot-id", "snap-b")]))
        #expect(headers().first("rankd-snapshot-id") == "snap-b")
        loopback.health.setCheckMetadata(Metadata())
        #expect(headers().first("rankd-snapshot-id") == nil)
    }

    @Test("Check answers for a known service, independently of the others")
    func checkKnownService() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        loopback.health.setStatus(.serving, for: Loopback.knownService)
        let (known, status) = Self.check(loopback, Loopback.knownService)
        #expect(status.code == .ok)
        #expect(known == Self.serving)
        #expect(Self.check(loopback, Loopback.otherService).0 == Self.notServing)
        #expect(Self.check(loopback, "").0 == Self.notServing)
    }

    @Test("Check of an unknown service is NOT_FOUND, naming the service")
    func checkUnknownService() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let (response, status) = Self.check(loopback, "no.Such")
        #expect(response == nil)
        #expect(status.code == .notFound)
        #expect(status.message.contains("no.Such"))
    }

    @Test("setAll sets the server and every known service at once")
    func setAllSetsEveryService() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        loopback.health.setAll(.serving)
        for service in ["", Loopback.knownService, Loopback.otherService] {
            #expect(Self.check(loopback, service).0 == Self.serving)
        }
        #expect(loopback.health.status(of: "no.Such") == nil)
    }

    @Test("a Check body that is not a HealthCheckRequest is INTERNAL")
    func checkGarbage() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let (_, result) = loopback.client.unary(
            ClientRequest(
                path: Self.checkPath,
                message: [0xff, 0xff, 0xff, 0x07],
                timeoutNanoseconds: Loopback.callTimeoutNanoseconds
            )
        )
        #expect(result.status.code == .internal)
    }

    // MARK: Watch

    @Test("Watch sends the current status at once, then one message per change, in order, and nothing for no change")
    func watchFollowsChanges() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let watch = loopback.start(Self.watchPath, Self.request(Loopback.knownService))
        #expect(try Self.statuses(watch.waitForMessages(1)) == [Self.notServing])
        #expect(loopback.health.watcherCount == 1)
        loopback.health.setStatus(.serving, for: Loopback.knownService)
        // Neither another service's change nor setting the same status again is news to this watcher.
        loopback.health.setStatus(.serving, for: Loopback.otherService)
        loopback.health.setStatus(.serving, for: Loopback.knownService)
        loopback.health.setStatus(.notServing, for: Loopback.knownService)
        loopback.health.setAll(.serving)
        let statuses = try Self.statuses(watch.waitForMessages(4))
        #expect(statuses == [Self.notServing, Self.serving, Self.notServing, Self.serving])
        // The stream is still open: a subscription ends only with the client, the deadline or shutdown.
        #expect(loopback.health.watcherCount == 1)
        loopback.stop()
        let result = try #require(watch.waitForEnd())
        #expect(result.status.code != .ok)
        #expect(try Self.statuses(watch.received).count == 4)
    }

    @Test("Watch of the whole server (\"\") follows setStatus for \"\"")
    func watchWholeServer() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let watch = loopback.start(Self.watchPath, Self.request(""))
        #expect(try Self.statuses(watch.waitForMessages(1)) == [Self.notServing])
        loopback.health.setStatus(.serving)
        #expect(try Self.statuses(watch.waitForMessages(2)) == [Self.notServing, Self.serving])
    }

    @Test("Watch of an unknown service answers SERVICE_UNKNOWN and stays open, then follows the service once it is set")
    func watchUnknownService() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let watch = loopback.start(Self.watchPath, Self.request("later.Service"))
        #expect(try Self.statuses(watch.waitForMessages(1)) == [Self.serviceUnknown])
        #expect(loopback.health.watcherCount == 1)
        loopback.health.setStatus(.serving, for: "later.Service")
        #expect(try Self.statuses(watch.waitForMessages(2)) == [Self.serviceUnknown, Self.serving])
    }

    @Test("a Watch body that is not a HealthCheckRequest is INTERNAL and leaves no watcher")
    func watchGarbage() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let watch = loopback.start(Self.watchPath, [0xff, 0xff, 0xff, 0x07])
        let result = try #require(watch.waitForEnd())
        #expect(result.status.code == .internal)
        #expect(watch.received.isEmpty)
        #expect(loopback.health.watcherCount == 0)
    }

    @Test("each watcher gets only its own service's changes")
    func watchersAreIndependent() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let known = loopback.start(Self.watchPath, Self.request(Loopback.knownService))
        let other = loopback.start(Self.watchPath, Self.request(Loopback.otherService))
        #expect(try Self.statuses(known.waitForMessages(1)) == [Self.notServing])
        #expect(try Self.statuses(other.waitForMessages(1)) == [Self.notServing])
        loopback.health.setStatus(.serving, for: Loopback.knownService)
        loopback.health.setStatus(.serving, for: Loopback.otherService)
        loopback.health.setStatus(.notServing, for: Loopback.knownService)
        #expect(try Self.statuses(known.waitForMessages(3)) == [Self.notServing, Self.serving, Self.notServing])
        #expect(try Self.statuses(other.waitForMessages(2)) == [Self.notServing, Self.serving])
        // `other` got its second message after `known`'s second change: had that change gone to `other`, it would
        // have arrived before this one.
        #expect(try Self.statuses(other.received) == [Self.notServing, Self.serving])
        #expect(loopback.health.watcherCount == 2)
    }

    @Test("the watcher table empties when the client goes away")
    func watchersLeaveWhenTheClientCloses() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let watches = (0..<20).map { index in
            loopback.start(Self.watchPath, Self.request(index.isMultiple(of: 2) ? "" : Loopback.knownService))
        }
        for watch in watches { #expect(watch.waitForMessages(1).count == 1) }
        #expect(loopback.health.watcherCount == watches.count)
        loopback.client.close()
        #expect(eventually { loopback.health.watcherCount == 0 })
        for watch in watches { #expect(watch.waitForEnd()?.status.code == .unavailable) }
        // A change after the watchers left goes nowhere and breaks nothing.
        loopback.health.setAll(.serving)
        #expect(loopback.health.watcherCount == 0)
    }

    @Test("the watcher table empties when the server shuts down, which ends Watch streams with UNAVAILABLE at once")
    func watchersLeaveOnShutdown() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let watches = (0..<20).map { _ in loopback.start(Self.watchPath, Self.request(Loopback.knownService)) }
        for watch in watches { #expect(watch.waitForMessages(1).count == 1) }
        #expect(loopback.health.watcherCount == watches.count)
        // Subscriptions do not hold shutdown for its grace period, and are not counted as calls cut off.
        #expect(loopback.shutDownServer(gracePeriod: Loopback.waitLimit) == 0)
        #expect(loopback.health.watcherCount == 0)
        for watch in watches { #expect(watch.waitForEnd()?.status.code == .unavailable) }
    }

    @Test("a Watch whose deadline passes ends DEADLINE_EXCEEDED and leaves the watcher table")
    func watchDeadline() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        let watch = loopback.start(Self.watchPath, Self.request(Loopback.knownService), timeoutNanoseconds: 200_000_000)
        let result = try #require(watch.waitForEnd())
        #expect(result.status.code == .deadlineExceeded)
        #expect(eventually { loopback.health.watcherCount == 0 })
    }

    @Test("status changes racing with watchers coming and going leave every stream consistent and the table empty")
    func watchChurn() throws {
        let loopback = try Loopback()
        defer { loopback.stop() }
        // Flips the status until the watchers have come and gone (20,000 flips at most).
        let stop = Flag()
        let flipper = Thread {
            var index = 0
            while !stop.isSet && index < 20_000 {
                loopback.health.setStatus(index.isMultiple(of: 2) ? .serving : .notServing, for: Loopback.knownService)
                index += 1
                usleep(500)
            }
        }
        flipper.start()
        defer { stop.set() }
        var watches: [Inbox] = []
        for round in 0..<5 {
            let client = try ClientConnection(host: "127.0.0.1", port: loopback.server.port)
            let inbox = (0..<10).map { _ in Inbox() }
            for watch in inbox {
                client.startCall(
                    ClientRequest(
                        path: Self.watchPath,
                        message: Self.request(Loopback.knownService),
                        timeoutNanoseconds: Loopback.callTimeoutNanoseconds
                    ),
                    handler: ClientCallHandler(onMessage: { watch.append($0) }, onFinish: { watch.finish($0) })
                )
            }
            for watch in inbox { #expect(watch.waitForMessages(1).count == 1, "round \(round)") }
            client.close()
            watches += inbox
        }
        stop.set()
        #expect(eventually { flipper.isFinished })
        #expect(eventually { loopback.health.watcherCount == 0 })
        for watch in watches {
            #expect(watch.waitForEnd() != nil)
            // Consecutive messages on one stream always differ: a watcher is told of changes, never of repeats.
            let statuses = try Self.statuses(watch.received)
            #expect(zip(statuses, statuses.dropFirst()).allSatisfy { $0 != $1 })
        }
    }
}
