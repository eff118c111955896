import Dispatch
import Foundation
import Testing

@testable import H2GRPC

/// The server and client of H2GRPC talking over a real loopback socket: message flow, statuses, deadlines,
/// cancellation, flow control and graceful shutdown, with no protobuf involved (messages are raw bytes).
@Suite("Server and client over loopback")
struct ServerLoopbackTests {
    /// A condition a handler can wait on and a test can open, so tests never depend on timing.
    /// True for the first caller of `claim()` only.
    final class FirstTime: @unchecked Sendable {
        private let lock = NSLock()
        private var claimed = false

        func claim() -> Bool {
            lock.withLock {
                defer { claimed = true }
                return !claimed
            }
        }
    }

    final class Gate: @unchecked Sendable {
        private let condition = NSCondition()
        private var open = false
        private(set) var entered = 0

        func enterAndWait(_ call: ServerCall) throws {
            condition.lock()
            entered += 1
            condition.broadcast()
            while !open && !call.isCancelled { _ = condition.wait(until: Date(timeIntervalSinceNow: 0.01)) }
            condition.unlock()
            try call.checkAlive()
        }

        func waitUntilEntered(_ count: Int = 1) {
            condition.lock()
            while entered < count { _ = condition.wait(until: Date(timeIntervalSinceNow: 0.01)) }
            condition.unlock()
        }

        func release() {
            condition.lock()
            open = true
            condition.broadcast()
            condition.unlock()
        }
    }

    final class Probe: @unchecked Sendable {
        private let lock = NSLock()
        private var _cancelledSeen = false
        var cancelledSeen: Bool {
            get { lock.withLock { _cancelledSeen } }
            set { lock.withLock { _cancelledSeen = newValue } }
        }
    }

    static func makeServer(
        gate: Gate = Gate(),
        probe: Probe = Probe(),
        maxReceive: Int = 4 << 20,
        maxStreams: UInt32 = 1000,
        maxConnections: Int = 10_000,
        inlineMaxMs: Double = 1,
        workers: Int = 2,
        ioThreads: Int = 2
    ) throws -> Server {
        var configuration = ServerConfiguration()
        configuration.workers = workers
        configuration.maxConcurrentStreams = maxStreams
        configuration.maxConnections = maxConnections
        configuration.port = 0
        configuration.ioThreads = ioThreads
        configuration.maxReceiveMessageSize = maxReceive
        configuration.logLevel = .error
        configuration.shutdownGracePeriod = 5
        // These tests are about the transport; admission control has its own tests (WorkerPoolTests).
        configuration.queueBudgetMilliseconds = 10_000
        configuration.inlineCallMaxMilliseconds = inlineMaxMs
        let service = ServiceDefinition(
            name: "test.Echo",
            methods: [
                RPCMethod(
                    name: "Echo",
                    handler: .unary { call, request in
                        var metadata = Metadata()
                        if let value = call.requestMetadata.first("x-echo") { metadata.append("x-echo", value) }
                        call.responseMetadata = metadata
                        return request
                    }
                ),
                RPCMethod(
                    name: "Fail",
                    handler: .unary { _, request in
                        throw GRPCStatus(.invalidArgument, String(decoding: request, as: UTF8.self))
                    }
                ),
                RPCMethod(
                    name: "Crash",
                    handler: .unary { _, _ in
                        struct Oops: Error {}
                        throw Oops()
                    }
                ),
                // Waits for the test to open the gate: a handler that waits belongs on the blocking pool.
                RPCMethod(
                    name: "Gated",
                    handler: .unary { call, request in
                        do {
                            try gate.enterAndWait(call)
                        } catch {
                            probe.cancelledSeen = true
                            throw error
                        }
                        return request
                    },
                    executor: .blocking
                ),
                // Paced by the client's reading, so on the blocking pool, where send waits for flow control.
                RPCMethod(
                    name: "Stream",
                    handler: .serverStreaming { call, request in
                        // request: 4-byte big-endian count, then each response is 64 KiB of the index byte.
                        let count = request.prefix(4).reduce(0) { $0 << 8 | Int($1) }
                        for index in 0..<count {
                            try call.send([UInt8](repeating: UInt8(index & 0xff), count: 64 << 10))
                        }
                    },
                    executor: .blocking
                ),
                // The same on the CPU pool, which never waits for a client: sending far more than the client can
                // take at once ends the call with RESOURCE_EXHAUSTED instead of holding a CPU thread.
                RPCMethod(
                    name: "StreamFromCPU",
                    handler: .serverStreaming { call, request in
                        let count = request.prefix(4).reduce(0) { $0 << 8 | Int($1) }
                        do {
                            for index in 0..<count {
                                try call.send([UInt8](repeating: UInt8(index & 0xff), count: 64 << 10))
                            }
                        } catch {
                            ServerLoopbackTests.cpuStreamRefused.signal()
                            throw error
                        }
                    }
                ),
                // Holds its messages until it returns (as Recommend does); on the blocking pool too, where a send
                // past the high-water mark would otherwise wait.
                RPCMethod(name: "StreamHeld", handler: .serverStreaming(ServerLoopbackTests.streamHeldHandler)),
                RPCMethod(
                    name: "StreamHeldBlocking",
                    handler: .serverStreaming(ServerLoopbackTests.streamHeldHandler),
                    executor: .blocking
                ),
                // Answers "io" when it runs on its call's I/O thread, "pool" on a worker; may run inline unless the call says
                // `x-pool`.
                RPCMethod(
                    name: "Where",
                    handler: .unary { call, request in
                        if request == Array("fail".utf8) { throw GRPCStatus(.failedPrecondition, "asked to fail") }
                        return Array((call.loop.inEventLoop ? "io" : "pool").utf8)
                    },
                    runsInlineWhenIdle: { $0.first("x-pool") == nil }
                ),
                RPCMethod(
                    name: "StreamHeldInline",
                    handler: .serverStreaming(ServerLoopbackTests.streamHeldHandler),
                    runsInlineWhenIdle: { _ in true }
                ),
                RPCMethod(
                    name: "Sum",
                    handler: .clientStreaming { call in
                        var total = 0
                        while let message = try call.receive() { total += message.count }
                        return Array(String(total).utf8)
                    }
                ),
            ]
        )
        let server = try Server(configuration: configuration, services: [service])
        try server.start()
        return server
    }

    static func connect(_ server: Server) throws -> ClientConnection {
        try ClientConnection(host: "127.0.0.1", port: server.port)
    }

    @Test("a unary call echoes its message and metadata")
    func unaryEcho() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        var metadata = Metadata()
        metadata.append("x-echo", "hello")
        let (response, result) = client.unary(
            ClientRequest(path: "/test.Echo/Echo", message: Array("ping".utf8), metadata: metadata)
        )
        #expect(result.status.code == .ok)
        #expect(response == Array("ping".utf8))
        #expect(result.headers.first("x-echo") == "hello")
    }

    @Test("many concurrent calls on one connection all complete")
    func concurrentCalls() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let done = DispatchGroup()
        let lock = NSLock()
        var ok = 0
        for index in 0..<500 {
            done.enter()
            client.startCall(
                ClientRequest(path: "/test.Echo/Echo", message: Array(String(index).utf8)),
                handler: ClientCallHandler(onFinish: { result in
                    if result.status.code == .ok { lock.withLock { ok += 1 } }
                    done.leave()
                })
            )
        }
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(ok == 500)
    }

    @Test("statuses: handler error, unknown error, unknown method, unknown service, gzip request")
    func statuses() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let failed = client.unary(ClientRequest(path: "/test.Echo/Fail", message: Array("limit must be ≥ 0%".utf8)))
        #expect(failed.result.status == GRPCStatus(.invalidArgument, "limit must be ≥ 0%"))
        let crashed = client.unary(ClientRequest(path: "/test.Echo/Crash", message: []))
        #expect(crashed.result.status.code == .unknown)
        let method = client.unary(ClientRequest(path: "/test.Echo/Nope", message: []))
        #expect(method.result.status.code == .unimplemented)
        let service = client.unary(ClientRequest(path: "/test.Nope/Echo", message: []))
        #expect(service.result.status.code == .unimplemented)
        #expect(service.result.status.message.contains("test.Nope"))
        let gzip = client.unary(
            ClientRequest(path: "/test.Echo/Echo", message: [UInt8](repeating: 7, count: 10_000), compress: true)
        )
        #expect(gzip.result.status.code == .ok)
        #expect(gzip.response == [UInt8](repeating: 7, count: 10_000))
    }

    @Test("a message over the receive limit gets RESOURCE_EXHAUSTED")
    func receiveLimit() throws {
        let server = try Self.makeServer(maxReceive: 1024)
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let (_, result) = client.unary(
            ClientRequest(path: "/test.Echo/Echo", message: [UInt8](repeating: 1, count: 100_000))
        )
        #expect(result.status.code == .resourceExhausted)
        // The connection stays usable.
        let (response, again) = client.unary(ClientRequest(path: "/test.Echo/Echo", message: [1, 2, 3]))
        #expect(again.status.code == .ok)
        #expect(response == [1, 2, 3])
    }

    @Test("the deadline reaches the handler, which stops, and the caller gets DEADLINE_EXCEEDED")
    func deadline() throws {
        let gate = Gate()
        let probe = Probe()
        let server = try Self.makeServer(gate: gate, probe: probe)
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        // The client's own timer is far later than the server's, so the status must come from the server.
        let (_, result) = client.unary(
            ClientRequest(path: "/test.Echo/Gated", message: [1], timeoutNanoseconds: 50_000_000)
        )
        #expect(result.status.code == .deadlineExceeded)
        #expect(result.ending == .status || result.ending == .timeout)
        gate.waitUntilEntered()
        for _ in 0..<500 where !probe.cancelledSeen { usleep(10_000) }
        #expect(probe.cancelledSeen)
    }

    @Test("a client RST_STREAM cancels the handler's work")
    func cancellation() throws {
        let gate = Gate()
        let probe = Probe()
        let server = try Self.makeServer(gate: gate, probe: probe)
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let finished = DispatchSemaphore(value: 0)
        // A short client-side timeout without grpc-timeout handling on the server side would still RST; here the
        // client times out locally (RST_STREAM CANCEL) long before any server deadline.
        client.startCall(
            ClientRequest(path: "/test.Echo/Gated", message: [1], timeoutNanoseconds: 60_000_000_000),
            handler: ClientCallHandler(onFinish: { _ in finished.signal() })
        )
        gate.waitUntilEntered()
        client.close()
        #expect(finished.wait(timeout: .now() + 10) == .success)
        for _ in 0..<500 where !probe.cancelledSeen { usleep(10_000) }
        #expect(probe.cancelledSeen)
    }

    @Test("a large streamed response arrives whole: flow control never stalls it")
    func largeStream() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let count = 600  // 600 × 64 KiB ≈ 37.5 MiB, far beyond every window
        let lock = NSLock()
        var received = 0
        var inOrder = true
        let result = client.serverStreaming(
            ClientRequest(
                path: "/test.Echo/Stream",
                message: [0, 0, UInt8(count >> 8), UInt8(count & 0xff)],
                timeoutNanoseconds: 60_000_000_000
            )
        ) { message in
            lock.withLock {
                if message.count != 64 << 10 || message.first != UInt8(received & 0xff) { inOrder = false }
                received += 1
            }
        }
        #expect(result.status.code == .ok)
        #expect(received == count)
        #expect(inOrder)
    }

    /// StreamHeld's handler. request: a 4-byte big-endian count, then a byte that asks for a failure after the
    /// messages (1) or for 64 KiB messages (2, to pass the send high-water mark).
    @Sendable static func streamHeldHandler(_ call: ServerCall, _ request: [UInt8]) throws {
        call.holdMessagesUntilReturn()
        var metadata = call.responseMetadata
        metadata.append("x-held", "yes")
        call.responseMetadata = metadata
        let count = request.prefix(4).reduce(0) { $0 << 8 | Int($1) }
        let mode = request.count > 4 ? request[4] : 0
        for index in 0..<count {
            let size = mode == 2 ? 64 << 10 : 1 + index
            try call.send([UInt8](repeating: UInt8(index & 0xff), count: size))
        }
        if mode == 1 { throw GRPCStatus(.failedPrecondition, "failed after the messages") }
    }

    /// Calls StreamHeld (or `method`) and returns the status, the response headers and the messages.
    private static func streamHeld(
        _ client: ClientConnection,
        count: Int,
        mode: UInt8,
        method: String = "StreamHeld"
    ) -> (
        status: GRPCStatus, headers: Metadata, messages: [[UInt8]]
    ) {
        let lock = NSLock()
        var messages: [[UInt8]] = []
        let result = client.serverStreaming(
            ClientRequest(
                path: "/test.Echo/\(method)",
                message: [0, 0, UInt8(count >> 8), UInt8(count & 0xff), mode],
                timeoutNanoseconds: 60_000_000_000
            )
        ) { message in lock.withLock { messages.append(message) } }
        return (result.status, result.headers, lock.withLock { messages })
    }

    @Test("messages held until the handler returns arrive whole, in order, with the headers and the status")
    func heldMessages() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let (status, headers, messages) = Self.streamHeld(client, count: 5, mode: 0)
        #expect(status.code == .ok)
        #expect(headers.first("x-held") == "yes")
        #expect(messages == (0..<5).map { [UInt8](repeating: UInt8($0), count: 1 + $0) })
    }

    /// Calls Where and returns its status and where it ran ("io" or "pool").
    private static func whereRan(
        _ client: ClientConnection,
        pool: Bool = false,
        fail: Bool = false
    ) -> (
        GRPCStatus.Code, String
    ) {
        var metadata = Metadata()
        if pool { metadata.append("x-pool", "1") }
        let (response, result) = client.unary(
            ClientRequest(path: "/test.Echo/Where", message: Array((fail ? "fail" : "where").utf8), metadata: metadata)
        )
        return (result.status.code, String(decoding: response ?? [], as: UTF8.self))
    }

    @Test("with the pool idle, a call its method allows runs on the I/O thread that read it; others go to the pool")
    func inlineWhenIdle() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let (code, thread) = Self.whereRan(client, pool: true)
        #expect(code == .ok)
        #expect(thread == "pool")
        // A pool thread answers before it has counted itself done; then the pool is idle.
        #expect(Self.waitUntilIdle(server))
        // One call at a time: the pool is idle each time the I/O thread has read one.
        for _ in 0..<5 {
            let (code, thread) = Self.whereRan(client)
            #expect(code == .ok)
            #expect(thread == "io")
        }
        // A handler's error reaches the caller as from a pool thread.
        #expect(Self.whereRan(client, fail: true).0 == .failedPrecondition)
        let stats = server.stats()
        #expect(stats.handlersRunInline == 6)
        #expect(stats.handlersStarted == 7)
    }

    /// Waits (up to 10 s) until the server's pools run and hold no call.
    private static func waitUntilIdle(_ server: Server) -> Bool {
        for _ in 0..<1_000 {
            let stats = server.stats()
            if stats.runningCalls == 0 && stats.queuedCalls == 0 { return true }
            usleep(10_000)
        }
        return false
    }

    @Test("a server configured with inlineCallMaxMilliseconds 0 hands every call to the pool")
    func inlineDisabled() throws {
        let server = try Self.makeServer(inlineMaxMs: 0)
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        for _ in 0..<3 { #expect(Self.whereRan(client).1 == "pool") }
        #expect(server.stats().handlersRunInline == 0)
    }

    @Test("held messages of a call run inline arrive whole, in order, with the headers and the status")
    func heldMessagesInline() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let (status, headers, messages) = Self.streamHeld(client, count: 5, mode: 0, method: "StreamHeldInline")
        #expect(status.code == .ok)
        #expect(headers.first("x-held") == "yes")
        #expect(messages == (0..<5).map { [UInt8](repeating: UInt8($0), count: 1 + $0) })
        let failed = Self.streamHeld(client, count: 3, mode: 1, method: "StreamHeldInline")
        #expect(failed.status.code == .failedPrecondition)
        #expect(failed.messages.count == 3)
        // Past the high-water mark the handler is refused, as on a pool thread: it never waits on the I/O thread.
        let large = Self.streamHeld(client, count: 200, mode: 2, method: "StreamHeldInline")
        #expect(large.status.code == .resourceExhausted)
        #expect(server.stats().handlersRunInline == 3)
    }

    @Test("many concurrent calls that may run inline all complete, whether inline or on the pool")
    func concurrentInlineCalls() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let clients = try (0..<4).map { _ in try Self.connect(server) }
        defer { for client in clients { client.close() } }
        let done = DispatchGroup()
        let lock = NSLock()
        var ok = 0
        for index in 0..<800 {
            done.enter()
            clients[index % clients.count].startCall(
                ClientRequest(path: "/test.Echo/Where", message: Array("where".utf8)),
                handler: ClientCallHandler(onFinish: { result in
                    if result.status.code == .ok { lock.withLock { ok += 1 } }
                    done.leave()
                })
            )
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        #expect(ok == 800)
        #expect(Self.waitUntilIdle(server))
        #expect(server.stats().handlersStarted == 800)
    }

    @Test(
        "with no workers every CPU-pool call runs on the I/O threads, and many concurrent ones all complete",
        arguments: [1, 2]
    )
    func noWorkers(ioThreads: Int) throws {
        let server = try Self.makeServer(workers: 0, ioThreads: ioThreads)
        defer { server.shutdown(gracePeriod: 1) }
        let clients = try (0..<4).map { _ in try Self.connect(server) }
        defer { for client in clients { client.close() } }
        // Even a call its method keeps off the I/O thread when a worker could take it.
        #expect(Self.whereRan(clients[0], pool: true).0 == .ok)
        #expect(Self.whereRan(clients[0], fail: true).0 == .failedPrecondition)
        let done = DispatchGroup()
        let lock = NSLock()
        var answers: [String: Int] = [:]
        for index in 0..<800 {
            done.enter()
            var metadata = Metadata()
            if index % 2 == 0 { metadata.append("x-pool", "1") }
            // The client's callbacks for one call come one after another, on its loop.
            final class Response: @unchecked Sendable { var bytes: [UInt8] = [] }
            let response = Response()
            clients[index % clients.count].startCall(
                ClientRequest(path: "/test.Echo/Where", message: Array("where".utf8), metadata: metadata),
                handler: ClientCallHandler(
                    onMessage: { response.bytes = $0 },
                    onFinish: { result in
                        let key = result.status.code == .ok ? String(decoding: response.bytes, as: UTF8.self) : "failed"
                        lock.withLock { answers[key, default: 0] += 1 }
                        done.leave()
                    }
                )
            )
        }
        #expect(done.wait(timeout: .now() + 60) == .success)
        // The I/O threads share the queue: a call may run on the thread of another connection than its own (which
        // Where answers as "pool"), and every one counts as run inline. With one I/O thread, all ran on it.
        #expect(answers.values.reduce(0, +) == 800 && answers["failed"] == nil, "\(answers)")
        if ioThreads == 1 { #expect(answers == ["io": 800]) }
        // Held messages and a streamed status, from a handler run on an I/O thread.
        let (status, headers, messages) = Self.streamHeld(clients[1], count: 5, mode: 0, method: "StreamHeldInline")
        #expect(status.code == .ok)
        #expect(headers.first("x-held") == "yes")
        #expect(messages == (0..<5).map { [UInt8](repeating: UInt8($0), count: 1 + $0) })
        #expect(Self.waitUntilIdle(server))
        let stats = server.stats()
        #expect(stats.handlersStarted == 803)
        #expect(stats.handlersRunInline == 803)
    }

    @Test("a handler that fails after holding messages: the messages, then its status")
    func heldMessagesThenFailure() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let (status, _, messages) = Self.streamHeld(client, count: 3, mode: 1)
        #expect(status.code == .failedPrecondition)
        #expect(status.message == "failed after the messages")
        #expect(messages.count == 3)
    }

    @Test("held messages count against the send high-water mark: past it a CPU-pool handler is refused")
    func heldMessagesBounded() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let (status, _, messages) = Self.streamHeld(client, count: 600, mode: 2)
        #expect(status.code == .resourceExhausted)
        #expect(status.message.contains("outgrew"))
        // Everything held before the refusal still reaches the client, ahead of the status. Held messages never
        // drain, so the count is exact: framed, each is 5 bytes over 64 KiB, and the one after the 64th is refused.
        #expect(messages.count == ServerCall.sendHighWater / (64 << 10))
        let (_, echo) = client.unary(ClientRequest(path: "/test.Echo/Echo", message: Array("after".utf8)))
        #expect(echo.status.code == .ok)
    }

    @Test("on the blocking pool too, held messages past the high-water mark are refused at once, not waited on")
    func heldMessagesBoundedOnTheBlockingPool() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let (status, _, messages) = Self.streamHeld(client, count: 600, mode: 2, method: "StreamHeldBlocking")
        #expect(status.code == .resourceExhausted)
        #expect(status.message.contains("outgrew"))
        #expect(messages.count == ServerCall.sendHighWater / (64 << 10))
    }

    /// Signalled by StreamFromCPU when a send is refused.
    static let cpuStreamRefused = DispatchSemaphore(value: 0)

    @Test("a CPU-pool handler that outruns its client gets RESOURCE_EXHAUSTED instead of waiting")
    func cpuPoolNeverWaits() throws {
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let count = 600
        // The client stops reading at the first message until the handler has been refused, so the handler
        // outruns it however fast the client's loop is (it is faster than the handler under AddressSanitizer).
        let firstMessage = FirstTime()
        let result = client.serverStreaming(
            ClientRequest(
                path: "/test.Echo/StreamFromCPU",
                message: [0, 0, UInt8(count >> 8), UInt8(count & 0xff)],
                timeoutNanoseconds: 60_000_000_000
            )
        ) { _ in
            if firstMessage.claim() { _ = Self.cpuStreamRefused.wait(timeout: .now() + 30) }
        }
        #expect(result.status.code == .resourceExhausted)
        #expect(result.status.message.contains("not reading"))
        let (_, echo) = client.unary(ClientRequest(path: "/test.Echo/Echo", message: Array("after".utf8)))
        #expect(echo.status.code == .ok)
    }

    @Test("shutdown sends GOAWAY but lets the in-flight call finish")
    func gracefulShutdown() throws {
        let gate = Gate()
        let server = try Self.makeServer(gate: gate)
        let client = try Self.connect(server)
        defer { client.close() }
        let finished = DispatchSemaphore(value: 0)
        let lock = NSLock()
        var status: GRPCStatus?
        client.startCall(
            ClientRequest(path: "/test.Echo/Gated", message: [9]),
            handler: ClientCallHandler(onFinish: { result in
                lock.withLock { status = result.status }
                finished.signal()
            })
        )
        gate.waitUntilEntered()
        let shutdownDone = DispatchSemaphore(value: 0)
        let cut = ManagedCount()
        DispatchQueue.global().async {
            cut.value = server.shutdown(gracePeriod: 10)
            shutdownDone.signal()
        }
        // The call is still running; shutdown must wait for it.
        #expect(shutdownDone.wait(timeout: .now() + 0.2) == .timedOut)
        gate.release()
        #expect(finished.wait(timeout: .now() + 10) == .success)
        #expect(shutdownDone.wait(timeout: .now() + 10) == .success)
        #expect(lock.withLock { status?.code } == .ok)
        #expect(cut.value == 0)
    }

    @Test("no more calls run at once on a connection than SETTINGS_MAX_CONCURRENT_STREAMS allows, and none is lost")
    func concurrentStreamLimit() throws {
        let gate = Gate()
        let server = try Self.makeServer(gate: gate, maxStreams: 2)
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        // One round trip first, so the client has the server's SETTINGS: streams opened before them may be refused
        // (REFUSED_STREAM), which is HTTP/2's rule, not what this test is about.
        #expect(client.unary(ClientRequest(path: "/test.Echo/Echo", message: [0])).result.status.code == .ok)
        let done = DispatchGroup()
        let lock = NSLock()
        var ok = 0
        for _ in 0..<10 {
            done.enter()
            client.startCall(
                ClientRequest(path: "/test.Echo/Gated", message: [1]),
                handler: ClientCallHandler(onFinish: { result in
                    if result.status.code == .ok { lock.withLock { ok += 1 } }
                    done.leave()
                })
            )
        }
        gate.waitUntilEntered(2)
        // Two handlers are parked; give the client every chance to (wrongly) start a third.
        usleep(200_000)
        #expect(gate.entered == 2)
        gate.release()
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(ok == 10)
        #expect(gate.entered == 10)
    }

    @Test("a connection over the server's limit is closed, and the ones within it keep working")
    func connectionLimit() throws {
        let server = try Self.makeServer(maxConnections: 1)
        defer { server.shutdown(gracePeriod: 1) }
        let first = try Self.connect(server)
        defer { first.close() }
        #expect(first.unary(ClientRequest(path: "/test.Echo/Echo", message: [1])).result.status.code == .ok)
        // The refusal may land while the client is still setting up (connect throws) or on its first call.
        if let second = try? Self.connect(server) {
            defer { second.close() }
            let refused = second.unary(ClientRequest(path: "/test.Echo/Echo", message: [2]))
            #expect(refused.result.status.code == .unavailable)
        }
        #expect(first.unary(ClientRequest(path: "/test.Echo/Echo", message: [3])).result.status.code == .ok)
    }

    @Test("client-streaming requests are read in order to the end")
    func clientStreamingViaUnaryClient() throws {
        // The client sends one message; the handler reads until the end of the request stream.
        let server = try Self.makeServer()
        defer { server.shutdown(gracePeriod: 1) }
        let client = try Self.connect(server)
        defer { client.close() }
        let (response, result) = client.unary(
            ClientRequest(path: "/test.Echo/Sum", message: [UInt8](repeating: 0, count: 12345))
        )
        #expect(result.status.code == .ok)
        #expect(response.map { String(decoding: $0, as: UTF8.self) } == "12345")
    }
}

final class ManagedCount: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = -1
    var value: Int {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
