import AdminHTTP
import Dispatch
import Foundation
import Testing

@Suite("Admin port")
struct AdminServerTests {
    /// A server on a free port with `routes`; stopped by the caller.
    static func started(
        limits: AdminServer.Limits = AdminServer.Limits(),
        routes: [String: AdminServer.Route]
    ) throws -> AdminServer {
        let server = AdminServer(host: "127.0.0.1", port: 0, limits: limits, routes: routes)
        try server.start()
        return server
    }

    @Test("a registered route answers with its status, content type and body")
    func routeAnswers() throws {
        let server = try Self.started(routes: [
            "/hello": { request in
                AdminResponse(status: 200, contentType: "text/x-test", body: Array("hi \(request.query)".utf8))
            }
        ])
        defer { server.stop() }
        let response = try HTTPClient.request(port: server.port, path: "/hello?name=x")
        #expect(response.status == 200)
        #expect(response.headers["content-type"] == "text/x-test")
        #expect(response.body == "hi name=x")
    }

    @Test("an unknown path is 404 and names the pages the port serves")
    func unknownPath() throws {
        let server = try Self.started(routes: ["/livez": { _ in .text("ok") }])
        defer { server.stop() }
        let response = try HTTPClient.request(port: server.port, path: "/nope")
        #expect(response.status == 404)
        #expect(response.body.contains("/livez"))
    }

    @Test("a POST body reaches the route")
    func postBody() throws {
        let server = try Self.started(routes: [
            "/echo": { request in AdminResponse(body: request.body) }
        ])
        defer { server.stop() }
        let response = try HTTPClient.request(port: server.port, method: "POST", path: "/echo", body: Array("abc".utf8))
        #expect(response.status == 200)
        #expect(response.body == "abc")
    }

    @Test("a body over the limit is refused with 413 and never reaches the route")
    func bodyTooLarge() throws {
        let reached = LockedFlag()
        var limits = AdminServer.Limits()
        limits.maxBodyBytes = 100
        let server = try Self.started(
            limits: limits,
            routes: [
                "/echo": { request in
                    reached.set()
                    return AdminResponse(body: request.body)
                }
            ]
        )
        defer { server.stop() }
        let response = try HTTPClient.request(
            port: server.port,
            method: "POST",
            path: "/echo",
            body: [UInt8](repeating: 65, count: 1000)
        )
        #expect(response.status == 413)
        #expect(!reached.value)
    }

    @Test("requests beyond the pending limit get 503 while the routes are busy")
    func busy() throws {
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        var limits = AdminServer.Limits()
        limits.maxPendingRequests = 1
        let server = try Self.started(
            limits: limits,
            routes: [
                "/slow": { _ in
                    entered.signal()
                    _ = release.wait(timeout: .now() + 30)
                    return .text("done")
                }
            ]
        )
        defer { server.stop() }
        let first = DispatchGroup()
        let firstResult = LockedBox<Int>()
        DispatchQueue.global().async(group: first) {
            firstResult.value = (try? HTTPClient.request(port: server.port, path: "/slow"))?.status
        }
        #expect(entered.wait(timeout: .now() + 30) == .success)
        let second = try HTTPClient.request(port: server.port, path: "/slow")
        #expect(second.status == 503)
        release.signal()
        #expect(first.wait(timeout: .now() + 30) == .success)
        #expect(firstResult.value == 200)
    }

    @Test("connections beyond the limit are closed without an answer")
    func connectionLimit() throws {
        var limits = AdminServer.Limits()
        limits.maxConnections = 1
        let server = try Self.started(limits: limits, routes: ["/livez": { _ in .text("ok") }])
        defer { server.stop() }
        // The first connection stays open (keep-alive, no request yet); the second is over the limit.
        let holder = try HeldConnection(port: server.port)
        defer { holder.close() }
        Thread.sleep(forTimeInterval: 0.2)
        let bytes = try HTTPClient.raw(
            port: server.port,
            Array("GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8),
            timeout: 5
        )
        #expect(bytes.isEmpty)
        holder.close()
        Thread.sleep(forTimeInterval: 0.2)
        let later = try HTTPClient.request(port: server.port, path: "/livez")
        #expect(later.status == 200)
    }

    @Test("several requests on one keep-alive connection are answered in order")
    func keepAlive() throws {
        let server = try Self.started(routes: [
            "/a": { _ in .text("A") },
            "/b": { _ in .text("B") },
        ])
        defer { server.stop() }
        let request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let text = String(decoding: try HTTPClient.raw(port: server.port, Array(request.utf8)), as: UTF8.self)
        let a = try #require(text.range(of: "\r\n\r\nA\n"))
        let b = try #require(text.range(of: "\r\n\r\nB\n"))
        #expect(a.lowerBound < b.lowerBound)
    }

    @Test("stop closes the port and is idempotent")
    func stopIsIdempotent() throws {
        let server = try Self.started(routes: ["/livez": { _ in .text("ok") }])
        let port = server.port
        server.stop()
        server.stop()
        #expect(throws: (any Error).self) { try HTTPClient.request(port: port, path: "/livez") }
    }
}

final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    func set() { lock.withLock { flag = true } }
    var value: Bool { lock.withLock { flag } }
}

final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T?
    var value: T? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

/// A TCP connection that sends nothing, to occupy a connection slot.
final class HeldConnection {
    private var fd: Int32

    init(port: Int) throws {
        fd = try HTTPClient.connectLoopback(port: port)
    }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }
}
