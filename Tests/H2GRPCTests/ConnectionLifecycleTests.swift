import Testing

@testable import H2GRPC

/// The connection policies (preface, idle, age, write timeout, PINGs) on a fake clock.
@Suite("Connection lifecycle")
struct ConnectionLifecycleTests {
    static let second: UInt64 = 1_000_000_000

    func limits() -> ConnectionLifecycle.Limits {
        var limits = ConnectionLifecycle.Limits()
        limits.prefaceTimeout = 10 * Self.second
        limits.idleTimeout = 60 * Self.second
        limits.maxAge = nil
        limits.writeTimeout = 30 * Self.second
        limits.minPingInterval = 300 * Self.second
        return limits
    }

    @Test("a connection that sends no preface is closed after the preface timeout, and only then")
    func prefaceTimeout() {
        var lifecycle = ConnectionLifecycle(limits: limits(), now: 0)
        #expect(lifecycle.tick(now: 9 * Self.second) == .none)
        #expect(lifecycle.tick(now: 10 * Self.second) == .close(.prefaceTimeout))
        var greeted = ConnectionLifecycle(limits: limits(), now: 0)
        greeted.receivedPreface()
        greeted.streamsChanged(open: 1, now: 1)
        #expect(greeted.tick(now: 20 * Self.second) == .none)
    }

    @Test("a connection without streams gets GOAWAY after the idle timeout; open streams keep it")
    func idleTimeout() {
        var lifecycle = ConnectionLifecycle(limits: limits(), now: 0)
        lifecycle.receivedPreface()
        lifecycle.streamsChanged(open: 1, now: 5 * Self.second)
        #expect(lifecycle.tick(now: 100 * Self.second) == .none)
        lifecycle.streamsChanged(open: 0, now: 100 * Self.second)
        #expect(lifecycle.tick(now: 159 * Self.second) == .none)
        #expect(lifecycle.tick(now: 160 * Self.second) == .goAway(.idle))
        #expect(lifecycle.tick(now: 500 * Self.second) == .none)
    }

    @Test("maximum age: GOAWAY at the age, close after the grace period")
    func maxAge() {
        var limits = limits()
        limits.maxAge = 100 * Self.second
        limits.maxAgeGrace = 10 * Self.second
        var lifecycle = ConnectionLifecycle(limits: limits, now: 0)
        lifecycle.receivedPreface()
        lifecycle.streamsChanged(open: 3, now: 1)
        #expect(lifecycle.tick(now: 99 * Self.second) == .none)
        #expect(lifecycle.tick(now: 100 * Self.second) == .goAway(.maxAge))
        #expect(lifecycle.tick(now: 105 * Self.second) == .none)
        #expect(lifecycle.tick(now: 110 * Self.second) == .close(.maxAgeGraceOver))
    }

    @Test("a client that stops reading is closed after the write timeout; progress resets the clock")
    func writeTimeout() {
        var lifecycle = ConnectionLifecycle(limits: limits(), now: 0)
        lifecycle.receivedPreface()
        lifecycle.streamsChanged(open: 1, now: 0)
        lifecycle.wrote(stillWaiting: true, madeProgress: false, now: 10 * Self.second)
        lifecycle.wrote(stillWaiting: true, madeProgress: true, now: 30 * Self.second)
        #expect(lifecycle.tick(now: 50 * Self.second) == .none)
        lifecycle.wrote(stillWaiting: true, madeProgress: false, now: 55 * Self.second)
        #expect(lifecycle.tick(now: 60 * Self.second) == .close(.writeTimeout))
        var drained = ConnectionLifecycle(limits: limits(), now: 0)
        drained.receivedPreface()
        drained.streamsChanged(open: 1, now: 0)
        drained.wrote(stillWaiting: true, madeProgress: false, now: 0)
        drained.wrote(stillWaiting: false, madeProgress: true, now: 1)
        #expect(drained.tick(now: 100 * Self.second) == .none)
    }

    @Test("the third PING too soon is GOAWAY too_many_pings; response data in between forgives")
    func pingPolicy() {
        var lifecycle = ConnectionLifecycle(limits: limits(), now: 0)
        lifecycle.receivedPreface()
        #expect(lifecycle.receivedPing(now: 1) == .none)
        #expect(lifecycle.receivedPing(now: 2) == .none)
        #expect(lifecycle.receivedPing(now: 3) == .none)
        #expect(lifecycle.receivedPing(now: 4) == .goAway(.tooManyPings))
        var busy = ConnectionLifecycle(limits: limits(), now: 0)
        busy.receivedPreface()
        for index in 0..<100 {
            busy.sentResponseFrame()
            #expect(busy.receivedPing(now: UInt64(index)) == .none)
        }
        var patient = ConnectionLifecycle(limits: limits(), now: 0)
        for index in 0..<10 {
            #expect(patient.receivedPing(now: UInt64(index) * 301 * Self.second) == .none)
        }
    }
}
