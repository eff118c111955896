import CRankingProto
import Dispatch
import Foundation
import GRPCStandardServices
import H2GRPC
import ProtoSupport

/// Health and reflection served by an H2GRPC ``Server`` on 127.0.0.1 (a port of its own), with one client
/// connection to it. ``stop()`` closes both; it is idempotent and also runs on release, so a failing test leaves
/// nothing behind.
final class Loopback {
    /// The service names the health table knows besides "" (and that reflection lists, with its own and health's).
    static let knownService = "test.Known"
    static let otherService = "test.Other"
    static let listedServices = [
        "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection",
        knownService,
    ]
    /// Every wait in these tests ends by this bound; a test that reaches it fails, none passes because of it.
    static let waitLimit: TimeInterval = 60
    static let callTimeoutNanoseconds: Int64 = 60_000_000_000

    let health: HealthService
    let reflection: ReflectionService
    let server: Server
    let client: ClientConnection
    private let stopLock = NSLock()
    private var stopped = false
    private var serverStopped = false

    init() throws {
        health = HealthService(services: [Self.knownService, Self.otherService])
        reflection = try ReflectionService(services: Self.listedServices)
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.ioThreads = 2
        configuration.workers = 2
        configuration.logLevel = .error
        configuration.shutdownGracePeriod = 5
        // Sanitizer builds run many times slower: admission control must not refuse calls for it.
        configuration.queueBudgetMilliseconds = 10_000
        server = try Server(configuration: configuration, services: [health.definition] + reflection.definitions)
        try server.start()
        do {
            client = try ClientConnection(host: "127.0.0.1", port: server.port)
        } catch {
            server.shutdown(gracePeriod: 0)
            throw error
        }
    }

    deinit { stop() }

    /// Shuts the server down (letting calls in flight finish for up to `gracePeriod` seconds) and returns the number
    /// of calls cut off; the client connection stays open. Once only.
    @discardableResult
    func shutDownServer(gracePeriod: Double) -> Int {
        let first = stopLock.withLock { () -> Bool in
            defer { serverStopped = true }
            return !serverStopped
        }
        return first ? server.shutdown(gracePeriod: gracePeriod) : 0
    }

    /// Closes the client, then the server.
    func stop() {
        let first = stopLock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        guard first else { return }
        client.close()
        shutDownServer(gracePeriod: 1)
    }

    /// Starts a call of `path` with one request message and collects what comes back.
    func start(_ path: String, _ message: [UInt8], timeoutNanoseconds: Int64? = callTimeoutNanoseconds) -> Inbox {
        let inbox = Inbox()
        client.startCall(
            ClientRequest(path: path, message: message, timeoutNanoseconds: timeoutNanoseconds),
            handler: ClientCallHandler(
                onMessage: { inbox.append($0) },
                onFinish: { inbox.finish($0) }
            )
        )
        return inbox
    }
}

/// What one call received: its messages as they arrive and how it ended. Written on the client's loop thread, read
/// by the test; every wait is bounded by ``Loopback/waitLimit``.
final class Inbox: @unchecked Sendable {
    private let condition = NSCondition()
    private var messages: [[UInt8]] = []
    private var result: ClientCallResult?

    func append(_ message: [UInt8]) {
        condition.withLock {
            messages.append(message)
            condition.broadcast()
        }
    }

    func finish(_ result: ClientCallResult) {
        condition.withLock {
            self.result = result
            condition.broadcast()
        }
    }

    /// The first `count` messages once they have arrived; fewer when the call ends first or the wait limit passes.
    func waitForMessages(_ count: Int) -> [[UInt8]] {
        let until = Date(timeIntervalSinceNow: Loopback.waitLimit)
        return condition.withLock {
            while messages.count < count && result == nil {
                if !condition.wait(until: until) { break }
            }
            return Array(messages.prefix(count))
        }
    }

    /// How the call ended; nil when it has not ended within the wait limit.
    func waitForEnd() -> ClientCallResult? {
        let until = Date(timeIntervalSinceNow: Loopback.waitLimit)
        return condition.withLock {
            while result == nil {
                if !condition.wait(until: until) { break }
            }
            return result
        }
    }

    /// Every message received so far.
    var received: [[UInt8]] { condition.withLock { messages } }
}

/// A flag one thread sets and another reads.
final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// Waits, within ``Loopback/waitLimit``, until `condition` holds; returns whether it did.
func eventually(_ condition: () -> Bool) -> Bool {
    let until = Date(timeIntervalSinceNow: Loopback.waitLimit)
    while !condition() {
        if Date() >= until { return false }
        usleep(2_000)
    }
    return true
}
