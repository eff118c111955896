import Dispatch
import Foundation
import Testing

@testable import H2GRPC

/// The server's defences over loopback: waiting that costs no thread, enforced header limits, deadlines that always
/// read DEADLINE_EXCEEDED, timers that leave the heap, and no trap a peer can reach.
@Suite("Defences over loopback")
struct DefenceLoopbackTests {
    final class Subscribers: @unchecked Sendable {
        private let lock = NSLock()
        private var calls: [ObjectIdentifier: ServerCall] = [:]
        var count: Int { lock.withLock { calls.count } }
        func add(_ call: ServerCall) { lock.withLock { calls[ObjectIdentifier(call)] = call } }
        func remove(_ call: ServerCall) { lock.withLock { _ = calls.removeValue(forKey: ObjectIdentifier(call)) } }
        func broadcast(_ message: [UInt8]) {
            for call in lock.withLock({ Array(calls.values) }) { try? call.send(message) }
        }
    }

    static func makeServer(
        subscribers: Subscribers = Subscribers(),
        configure: (inout ServerConfiguration) -> Void = { _ in }
    ) throws -> Server {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.ioThreads = 1
        configuration.workers = 1
        configuration.logLevel = .error
        configuration.shutdownGracePeriod = 5
        configuration.queueBudgetMilliseconds = 10_000
        configure(&configuration)
        let service = ServiceDefinition(
            name: "test.Defence",
            methods: [
                RPCMethod(name: "Echo", handler: .unary { _, request in request }),
                RPCMethod(
                    name: "Watch",
                    handler: .serverStreamingSubscription { call, request in
                        subscribers.add(call)
                        call.onTermination { subscribers.remove(call) }
                        try call.send(request)
                    }
                ),
                // Spins until the call is interrupted, then reports it the way a pipeline does: as cancelled.
                RPCMethod(
                    name: "Spin",
                    handler: .unary { call, _ in
                        while !call.isCancelled { usleep(200) }
                        throw GRPCStatus(.cancelled, "the pipeline saw the call cancelled")
                    }
                ),
                // Sets response metadata only after the deadline reply has gone.
                RPCMethod(
                    name: "LateMetadata",
                    handler: .unary { call, request in
                        while !call.isCancelled { usleep(200) }
                        usleep(20_000)
                        var metadata = Metadata()
                        metadata.append("x-late", "1")
                        call.responseMetadata = metadata
                        return request
                    }
                ),
            ]
        )
        let server = try Server(configuration: configuration, services: [service])
        try server.start()
        return server
    }

    @Test("thousands of open subscriptions hold no thread: unary calls on a one-worker server still complete")
    func subscriptionsHoldNoThreads() throws {
        let subscribers = Subscribers()
        let server = try Self.makeServer(subscribers: subscribers) {
            $0.maxConcurrentStreams = 5_000
            $0.maxQueuedCalls = 10_000
        }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let watches = 2_000
        let firstMessages = DispatchSemaphore(value: 0)
        let ended = DispatchGroup()
        for _ in 0..<watches {
            ended.enter()
            client.startCall(
                ClientRequest(path: "/test.Defence/Watch", message: [1]),
                handler: ClientCallHandler(
                    onMessage: { message in if message == [1] { firstMessages.signal() } },
                    onFinish: { _ in ended.leave() }
                )
            )
        }
        for _ in 0..<watches { #expect(firstMessages.wait(timeout: .now() + 60) == .success) }
        #expect(subscribers.count == watches)
        for index in 0..<100 {
            let (response, result) = client.unary(
                ClientRequest(path: "/test.Defence/Echo", message: [UInt8(index)], timeoutNanoseconds: 30_000_000_000)
            )
            #expect(result.status.code == .ok)
            #expect(response == [UInt8(index)])
        }
        // The last Echo's worker may still be returning from its job when the answer arrives: wait (bounded) for the
        // pool to go idle, then no thread may be running while the watches stay open.
        var stats = server.stats()
        for _ in 0..<200 where stats.runningCalls > 0 {
            usleep(50_000)
            stats = server.stats()
        }
        #expect(stats.activeCalls >= watches)
        #expect(stats.runningCalls == 0)
        // Shutdown ends subscriptions at once rather than waiting out the grace period for them.
        #expect(server.shutdown(gracePeriod: 30) == 0)
        #expect(ended.wait(timeout: .now() + 30) == .success)
        #expect(subscribers.count == 0)
    }

    @Test("a request header list over the limit is RESOURCE_EXHAUSTED, and nothing of it is kept")
    func headerListLimit() throws {
        let server = try Self.makeServer { $0.maxHeaderListSize = 8 << 10 }
        defer { server.shutdown(gracePeriod: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        var metadata = Metadata()
        for index in 0..<10 { metadata.append("x-big-\(index)", String(repeating: "a", count: 4_000)) }
        let (_, result) = client.unary(
            ClientRequest(
                path: "/test.Defence/Echo",
                message: [1],
                metadata: metadata,
                timeoutNanoseconds: 30_000_000_000
            )
        )
        #expect(result.status.code == .resourceExhausted)
        #expect(result.status.message.contains("header list"))
        #expect(server.stats().counters.headerListsRefused == 1)
        let (_, after) = client.unary(ClientRequest(path: "/test.Defence/Echo", message: [2]))
        #expect(after.status.code == .ok)
    }

    @Test("a deadline that passes while the handler works always ends DEADLINE_EXCEEDED, never CANCELLED")
    func deadlineIsNeverCancelled() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        for _ in 0..<50 {
            let (_, result) = client.unary(
                ClientRequest(path: "/test.Defence/Spin", message: [], timeoutNanoseconds: 2_000_000)
            )
            #expect(result.status.code == .deadlineExceeded)
        }
    }

    @Test("setting response metadata after the deadline reply is ignored, not a trap")
    func lateMetadataDoesNotTrap() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        for _ in 0..<20 {
            let (_, result) = client.unary(
                ClientRequest(path: "/test.Defence/LateMetadata", message: [1], timeoutNanoseconds: 1_000_000)
            )
            #expect(result.status.code == .deadlineExceeded)
        }
        let (_, after) = client.unary(ClientRequest(path: "/test.Defence/Echo", message: [2]))
        #expect(after.status.code == .ok)
    }

    @Test("finished calls with one-hour deadlines leave no timer behind")
    func timersFollowCallsInFlight() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try ClientConnection(host: "127.0.0.1", port: server.port)
        defer { client.close() }
        let calls = 3_000
        let done = DispatchGroup()
        for index in 0..<calls {
            done.enter()
            client.startCall(
                ClientRequest(
                    path: "/test.Defence/Echo",
                    message: [UInt8(index & 0xff)],
                    timeoutNanoseconds: 3_600_000_000_000
                ),
                handler: ClientCallHandler(onFinish: { _ in done.leave() })
            )
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        // One tick timer per I/O thread stays; the calls' deadline timers are gone.
        #expect(server.stats().pendingTimers <= 2 * server.configuration.ioThreads)
    }

    @Test("the stats line names every counter")
    func statsLine() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let line = server.stats().line
        for key in [
            "connections", "active_calls", "queued_calls", "pending_timers", "buffered_request_bytes",
            "buffered_response_bytes", "rejected_overload", "evicted_connections", "closed_write_timeout",
            "closed_too_many_pings", "accept_errors", "header_lists_refused",
        ] {
            #expect(line.contains(" \(key)="))
        }
    }
}
