import Testing

@testable import RedisClient

/// The back-off rules alone, on a made-up clock: no sockets, no sleeping.
@Suite("ReconnectBackoff")
struct ReconnectBackoffTests {
    static let ms: UInt64 = 1_000_000

    func backoff() -> ReconnectBackoff {
        ReconnectBackoff(initial: 50 * Self.ms, maximum: 1000 * Self.ms)
    }

    @Test("while connects succeed, every caller may connect")
    func readyAdmitsEveryone() {
        var backoff = backoff()
        #expect(backoff.admit(now: 0) == .connect)
        #expect(backoff.admit(now: 0) == .connect)
        backoff.connectSucceeded()
        #expect(backoff.admit(now: 1) == .connect)
        #expect(!backoff.isBackingOff)
    }

    @Test("after a failed connect, callers are refused until the back-off passes, then one caller probes")
    func refusesThenProbesOnce() {
        var backoff = backoff()
        _ = backoff.admit(now: 0)
        backoff.connectFailed(now: 0, reason: "Connection refused")
        #expect(backoff.isBackingOff)
        #expect(backoff.lastFailure == "Connection refused")
        #expect(backoff.admit(now: 10 * Self.ms) == .refuse(retryAt: 50 * Self.ms))
        #expect(backoff.admit(now: 49 * Self.ms) == .refuse(retryAt: 50 * Self.ms))
        #expect(backoff.admit(now: 50 * Self.ms) == .connect)
        // The probe is in flight: everyone else still fails fast.
        #expect(backoff.admit(now: 51 * Self.ms) == .refuse(retryAt: nil))
        #expect(backoff.admit(now: 5000 * Self.ms) == .refuse(retryAt: nil))
    }

    @Test("each failed probe doubles the back-off up to the maximum")
    func doublesToMaximum() {
        var backoff = backoff()
        var now: UInt64 = 0
        _ = backoff.admit(now: now)
        var delays: [UInt64] = []
        for _ in 0..<8 {
            backoff.connectFailed(now: now, reason: "refused")
            delays.append(backoff.delay / Self.ms)
            now += backoff.delay
            #expect(backoff.admit(now: now - 1) != .connect)
            #expect(backoff.admit(now: now) == .connect)
        }
        #expect(delays == [50, 100, 200, 400, 800, 1000, 1000, 1000])
    }

    @Test("a successful connect ends the back-off and resets it")
    func successResets() {
        var backoff = backoff()
        _ = backoff.admit(now: 0)
        backoff.connectFailed(now: 0, reason: "refused")
        #expect(backoff.admit(now: 50 * Self.ms) == .connect)
        backoff.connectFailed(now: 50 * Self.ms, reason: "refused")
        #expect(backoff.delay == 100 * Self.ms)
        #expect(backoff.admit(now: 150 * Self.ms) == .connect)
        backoff.connectSucceeded()
        #expect(!backoff.isBackingOff)
        #expect(backoff.delay == 0)
        #expect(backoff.lastFailure == nil)
        #expect(backoff.admit(now: 151 * Self.ms) == .connect)
        backoff.connectFailed(now: 200 * Self.ms, reason: "refused")
        #expect(backoff.delay == 50 * Self.ms)
    }

    @Test("connects that fail together count as one failure")
    func concurrentFailuresDoNotCompound() {
        var backoff = backoff()
        _ = backoff.admit(now: 0)
        _ = backoff.admit(now: 0)
        _ = backoff.admit(now: 0)
        backoff.connectFailed(now: 1 * Self.ms, reason: "refused")
        backoff.connectFailed(now: 2 * Self.ms, reason: "refused")
        backoff.connectFailed(now: 3 * Self.ms, reason: "refused")
        #expect(backoff.delay == 50 * Self.ms)
        #expect(backoff.admit(now: 51 * Self.ms) == .connect)
    }

    @Test("a probe cut short by its caller's deadline hands the next caller the probe at once")
    func abandonedProbe() {
        var backoff = backoff()
        _ = backoff.admit(now: 0)
        backoff.connectFailed(now: 0, reason: "refused")
        #expect(backoff.admit(now: 50 * Self.ms) == .connect)
        backoff.connectAbandoned(now: 60 * Self.ms)
        #expect(backoff.delay == 50 * Self.ms)
        #expect(backoff.admit(now: 60 * Self.ms) == .connect)
    }

    @Test("a connect abandoned while ready changes nothing")
    func abandonedWhileReady() {
        var backoff = backoff()
        _ = backoff.admit(now: 0)
        backoff.connectAbandoned(now: 1)
        #expect(!backoff.isBackingOff)
        #expect(backoff.admit(now: 2) == .connect)
    }
}
