import Dispatch
import Foundation
import H2GRPC
import Testing

@testable import RankLoad

/// A condition the test opens; handlers that wait on it give up after 10 s so no test can hang.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = false

    func open() {
        condition.withLock {
            isOpen = true
            condition.broadcast()
        }
    }

    func wait() {
        let until = Date(timeIntervalSinceNow: 10)
        condition.withLock {
            while !isOpen && condition.wait(until: until) {}
        }
    }
}

/// Counts calls so a handler can tell the first one apart.
final class CallCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next() -> Int {
        lock.withLock {
            value += 1
            return value - 1
        }
    }
}

/// An H2GRPC server on 127.0.0.1, port 0, with one fake service.
struct FakeServer {
    let server: Server

    init(_ methods: [RPCMethod]) throws {
        var configuration = ServerConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.ioThreads = 1
        configuration.logLevel = .error
        // The refusals these tests count are the fake handlers' own; admission must not add any on a busy machine.
        configuration.queueBudgetMilliseconds = 10_000
        server = try Server(
            configuration: configuration,
            services: [ServiceDefinition(name: "test.Fake", methods: methods)]
        )
        try server.start()
    }

    var port: Int { server.port }

    func stop() { server.shutdown(gracePeriod: 0) }
}

@Suite("Runs against a fake server", .serialized)
struct FakeServerTests {
    private func configuration(
        port: Int,
        rate: Double,
        durationNanoseconds: UInt64,
        workload: Workload,
        connections: Int = 1,
        streams: Int = 1
    ) -> LoadConfiguration {
        var config = LoadConfiguration(
            host: "127.0.0.1",
            port: port,
            mode: .openLoop(.constant(rate: rate, durationNanoseconds: durationNanoseconds)),
            workload: workload
        )
        config.connections = connections
        config.streamsPerConnection = streams
        config.timeoutNanoseconds = 10_000_000_000
        return config
    }

    private static let echo = Workload(name: "echo", requests: [LoadRequest(path: "/test.Fake/Echo", message: [0])])

    /// The server holds the first call until the scheduler has dispatched the last request. With one stream the
    /// others queue behind it, so a timer that starts at the actual send sees short calls, while every request
    /// really waited from its intended time until after the last intended time: request i's corrected latency is
    /// at least (N - 1 - i) / rate, whatever the machine's speed.
    @Test("a server stall shows in the corrected latency of every request queued behind it")
    func coordinatedOmissionIsCorrected() throws {
        let gate = Gate()
        let counter = CallCounter()
        let fake = try FakeServer([
            RPCMethod(
                name: "Echo",
                handler: .unary { _, request in
                    if counter.next() == 0 { gate.wait() }
                    return request
                }
            )
        ])
        defer { fake.stop() }
        let requests = 40
        let rate = 1000.0
        var config = configuration(
            port: fake.port,
            rate: rate,
            durationNanoseconds: UInt64(Double(requests) / rate * 1e9),
            workload: Self.echo
        )
        config.onDispatch = { index in if index == requests - 1 { gate.open() } }
        let result = try LoadRunner(configuration: config).run()
        gate.open()
        let measured = result.measured
        #expect(measured.statuses.ok == UInt64(requests))
        #expect(measured.corrected.count == UInt64(requests))
        #expect(measured.uncorrected.count == UInt64(requests))
        // Request 0 waited at least (N - 1) / rate.
        #expect(measured.corrected.max >= 39_000_000)
        // Requests 0...20 each waited at least 19 ms, so the median does too.
        #expect(measured.corrected.valueAtPercentile(50) >= 19_000_000)
        // Corrected >= uncorrected call by call, hence at every percentile.
        for percentile in [0.0, 25, 50, 75, 90, 99, 100] {
            #expect(
                measured.corrected.valueAtPercentile(percentile) >= measured.uncorrected.valueAtPercentile(percentile)
            )
        }
        #expect(result.abandoned == 0)
    }

    @Test("calls past their deadline are recorded at the deadline as DEADLINE_EXCEEDED, never dropped")
    func timeoutsAreRecordedAtTheDeadline() throws {
        let gate = Gate()
        let fake = try FakeServer([
            RPCMethod(
                name: "Echo",
                handler: .unary { _, request in
                    gate.wait()
                    return request
                }
            )
        ])
        defer {
            gate.open()
            fake.stop()
        }
        var config = configuration(port: fake.port, rate: 200, durationNanoseconds: 25_000_000, workload: Self.echo)
        config.timeoutNanoseconds = 50_000_000
        let result = try LoadRunner(configuration: config).run()
        let measured = result.measured
        #expect(measured.statuses.total == 5)
        #expect(measured.statuses.timeouts == 5)
        #expect(measured.statuses.countsByName == ["DEADLINE_EXCEEDED": 5])
        #expect(measured.corrected.count == 5)
        #expect(measured.corrected.min >= 50_000_000)
    }

    @Test("grpc-status from trailers is counted per code, including errors sent with HTTP 200")
    func statusesAreCountedPerCode() throws {
        let fake = try FakeServer([
            RPCMethod(
                name: "Echo",
                handler: .unary { _, request in
                    switch request.first {
                    case 1: throw GRPCStatus(.notFound, "no such thing")
                    case 2: throw GRPCStatus(.resourceExhausted, "slow down")
                    default: return request
                    }
                }
            )
        ])
        defer { fake.stop() }
        let workload = Workload(
            name: "statuses",
            requests: [
                LoadRequest(path: "/test.Fake/Echo", message: [0]), LoadRequest(path: "/test.Fake/Echo", message: [1]),
                LoadRequest(path: "/test.Fake/Echo", message: [2]),
                LoadRequest(path: "/test.Fake/Missing", message: []),
            ]
        )
        let config = configuration(
            port: fake.port,
            rate: 1000,
            durationNanoseconds: 40_000_000,
            workload: workload,
            connections: 2,
            streams: 10
        )
        let result = try LoadRunner(configuration: config).run()
        let statuses = result.measured.statuses
        #expect(statuses.countsByName == ["OK": 10, "NOT_FOUND": 10, "RESOURCE_EXHAUSTED": 10, "UNIMPLEMENTED": 10])
        #expect(statuses.trailers == 40)
        #expect(statuses.byHTTPStatus == [200: 40])
        let report = RunReport(result: result)
        #expect(report.statusCounts["OK"] == 10)
        #expect(report.errorRate == 0.75)
    }

    /// Every other request is refused at once with RESOURCE_EXHAUSTED, the rest answered: a stand-in for a server
    /// that sheds. The run steps from 400 to 100 req/s and is recorded in 50 ms windows, so each window's counts
    /// are known exactly whatever the machine's speed.
    @Test("a step schedule recorded in windows counts each call in the window of its intended send, per status")
    func windowsFollowTheSchedule() throws {
        let fake = try FakeServer([
            RPCMethod(
                name: "Echo",
                handler: .unary { _, request in
                    if request.first == 2 { throw GRPCStatus(.resourceExhausted, "shed") }
                    return request
                }
            )
        ])
        defer { fake.stop() }
        let workload = Workload(
            name: "shed half",
            requests: [
                LoadRequest(path: "/test.Fake/Echo", message: [0]), LoadRequest(path: "/test.Fake/Echo", message: [2]),
            ]
        )
        var config = configuration(
            port: fake.port,
            rate: 1,
            durationNanoseconds: 1,
            workload: workload,
            connections: 2,
            streams: 10
        )
        config.mode = .openLoop(
            .piecewise([(400, 100_000_000), (100, 100_000_000)], warmupNanoseconds: 20_000_000)
        )
        config.windowNanoseconds = 50_000_000
        let result = try LoadRunner(configuration: config).run()
        #expect(result.windows.count == 4)
        #expect(result.windowStarts == [0, 50_000_000, 100_000_000, 150_000_000])
        #expect(result.windows.map(\.scheduled) == [20, 20, 5, 5])
        var total = PhaseRecord()
        for window in result.windows {
            #expect(window.statuses.total == window.scheduled)
            #expect(window.latencyByStatus.count == window.statuses.total)
            #expect(window.latencyByStatus[.ok]?.count ?? 0 == window.statuses.ok)
            total.add(window)
        }
        // The windows hold the measured schedule, nothing of the warm-up.
        #expect(total.statuses.countsByName == result.measured.statuses.countsByName)
        #expect(total.statuses.countsByName == ["OK": 25, "RESOURCE_EXHAUSTED": 25])
        #expect(result.warmup.statuses.total == 8)

        let report = RunReport(result: result)
        #expect(report.windowS == 0.05)
        #expect(report.windows?.map(\.name) == ["0-0.05s", "0.05-0.1s", "0.1-0.15s", "0.15-0.2s"])
        #expect(report.windows?.map(\.targetRPS) == [400, 400, 100, 100])
        // Requests alternate OK and refused from index 8 on: the 5-call windows get 3 and 2 OK.
        #expect(report.windows?.map(\.goodputRPS) == [200, 200, 60, 40])
        #expect(report.phases.map(\.goodputRPS) == [200, 200, 50])
        #expect(report.latencyByStatusMs["RESOURCE_EXHAUSTED"]?.count == 25)
        #expect(report.table.contains("0.05 s window"))
    }

    /// The scheduler is held for 200 ms after request 5 (a stand-in for a starved generator): the requests after it
    /// leave at least 106 ms late and most fall outside the window, so the gate must call the run invalid however
    /// fast the server answered.
    @Test("a generator that falls behind its schedule marks the run invalid")
    func saturatedGeneratorIsInvalid() throws {
        let fake = try FakeServer([RPCMethod(name: "Echo", handler: .unary { _, request in request })])
        defer { fake.stop() }
        var config = configuration(
            port: fake.port,
            rate: 1000,
            durationNanoseconds: 100_000_000,
            workload: Self.echo,
            streams: 100
        )
        config.onDispatch = { index in
            if index == 5 { MonotonicClock.sleep(until: MonotonicClock.now() + 200_000_000) }
        }
        let result = try LoadRunner(configuration: config).run()
        #expect(result.measured.statuses.ok == 100)
        #expect(result.measured.schedulingLag.valueAtPercentile(99) >= 100_000_000)
        let problems = ValidityGate().problems(result)
        #expect(problems.contains { $0.contains("achieved rate") })
        #expect(problems.contains { $0.contains("scheduling lag") })
    }

    @Test("warm-up calls are recorded apart from the measured window")
    func warmupIsExcluded() throws {
        let fake = try FakeServer([RPCMethod(name: "Echo", handler: .unary { _, request in request })])
        defer { fake.stop() }
        var config = configuration(
            port: fake.port,
            rate: 500,
            durationNanoseconds: 40_000_000,
            workload: Self.echo,
            streams: 10
        )
        config.mode = .openLoop(.constant(rate: 500, durationNanoseconds: 40_000_000, warmupNanoseconds: 20_000_000))
        let result = try LoadRunner(configuration: config).run()
        #expect(result.warmup.statuses.total == 10)
        #expect(result.measured.statuses.total == 20)
        #expect(result.phaseNames == ["warm-up", "measured"])
    }

    @Test("closed loop never has more calls open than streams and records no scheduling lag")
    func closedLoop() throws {
        let counter = CallCounter()
        let fake = try FakeServer([
            RPCMethod(
                name: "Echo",
                handler: .unary { _, request in
                    _ = counter.next()
                    return request
                }
            )
        ])
        defer { fake.stop() }
        var config = configuration(
            port: fake.port,
            rate: 1,
            durationNanoseconds: 50_000_000,
            workload: Self.echo,
            streams: 2
        )
        config.mode = .closedLoop(concurrency: 2, durationNanoseconds: 50_000_000, warmupNanoseconds: 0)
        let result = try LoadRunner(configuration: config).run()
        let measured = result.measured
        #expect(measured.statuses.total > 0)
        #expect(measured.statuses.ok == measured.statuses.total)
        #expect(measured.schedulingLag.max == 1000)
        #expect(measured.waitedForStream == 0)
        #expect(RunReport(result: result).mode == "closed-loop")
    }

    @Test("a target that refuses connections is an error, not a run")
    func refusedConnection() {
        let config = configuration(port: 1, rate: 100, durationNanoseconds: 10_000_000, workload: Self.echo)
        #expect(throws: (any Error).self) { try LoadRunner(configuration: config).run() }
    }
}
