import Dispatch
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// One request to the admin port, as a route sees it.
public struct AdminRequest: Sendable {
    /// "GET", "POST", ...
    public var method: String
    /// The path without the query, e.g. "/metrics".
    public var path: String
    /// The query string after "?", or "".
    public var query: String
    /// The request body (at most ``AdminServer/Limits/maxBodyBytes``).
    public var body: [UInt8]
}

/// An answer from a route.
public struct AdminResponse: Sendable {
    /// The HTTP status code.
    public var status: Int
    /// The Content-Type header.
    public var contentType: String
    /// The body.
    public var body: [UInt8]

    /// An answer with a body.
    public init(status: Int = 200, contentType: String = "text/plain; charset=utf-8", body: [UInt8]) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }

    /// A plain-text answer; a newline is added.
    public static func text(_ text: String, status: Int = 200) -> AdminResponse {
        AdminResponse(status: status, body: Array((text + "\n").utf8))
    }
}

/// The admin port: HTTP/1.1 on swift-nio for metrics scrapes, probes and operator actions. It knows nothing of
/// ranking: each path maps to a route the caller registers.
///
/// Routes run on a small thread pool, never on the event loop, since some (a reload) take seconds; requests beyond
/// the pool's queue are refused with 503. Bodies over ``Limits/maxBodyBytes`` get 413, connections beyond
/// ``Limits/maxConnections`` are closed at once, and a connection idle for ``Limits/idleTimeoutSeconds`` is closed.
public final class AdminServer: @unchecked Sendable {
    /// Bounds on what clients of the admin port may hold.
    public struct Limits: Sendable {
        /// Largest request body accepted.
        public var maxBodyBytes = 64 << 10
        /// Connections open at once.
        public var maxConnections = 64
        /// Requests running or waiting for a route thread.
        public var maxPendingRequests = 32
        /// Seconds a connection may stay idle.
        public var idleTimeoutSeconds: Int64 = 60

        /// The defaults.
        public init() {}
    }

    /// Serves one request; may block.
    public typealias Route = @Sendable (AdminRequest) -> AdminResponse

    private let host: String
    private let requestedPort: Int
    private let limits: Limits
    private let routes: [String: Route]
    private let group: MultiThreadedEventLoopGroup
    private let work = DispatchQueue(label: "rankd.admin", attributes: .concurrent)
    private let gate: DispatchSemaphore
    private let connections = ConnectionCount()
    private var channel: (any Channel)?

    /// A server for `routes` keyed by path; nothing listens until ``start()``.
    public init(host: String, port: Int, limits: Limits = Limits(), routes: [String: Route]) {
        self.host = host
        self.requestedPort = port
        self.limits = limits
        self.routes = routes
        self.group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        self.gate = DispatchSemaphore(value: limits.maxPendingRequests)
    }

    /// The port it listens on (the one picked when it was asked for 0).
    public private(set) var port = 0

    /// Binds and starts serving; throws when the address cannot be bound.
    public func start() throws {
        let limits = self.limits
        let connections = self.connections
        let dispatcher = RouteDispatcher(routes: routes, queue: work, gate: gate)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard connections.open(limit: limits.maxConnections) else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in connections.close() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        IdleStateHandler(allTimeout: .seconds(limits.idleTimeoutSeconds))
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        AdminHTTPHandler(maxBodyBytes: limits.maxBodyBytes, dispatcher: dispatcher)
                    )
                }
            }
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        let channel = try bootstrap.bind(host: host, port: requestedPort).wait()
        self.channel = channel
        port = channel.localAddress?.port ?? requestedPort
    }

    /// Stops listening and closes every connection. Idempotent.
    public func stop() {
        if let channel {
            try? channel.close().wait()
            self.channel = nil
        }
        try? group.syncShutdownGracefully()
    }
}

/// Open admin connections, bounded.
final class ConnectionCount: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func open(limit: Int) -> Bool {
        lock.withLock {
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func close() {
        lock.withLock { count -= 1 }
    }
}

/// Runs routes off the event loop, at most `gate`'s count at once (waiting ones included).
struct RouteDispatcher: Sendable {
    let routes: [String: AdminServer.Route]
    let queue: DispatchQueue
    let gate: DispatchSemaphore

    /// Calls `reply` on some thread with the route's answer, or at once with 404 or 503.
    func dispatch(_ request: AdminRequest, reply: @escaping @Sendable (AdminResponse) -> Void) {
        guard let route = routes[request.path] else {
            let known = routes.keys.sorted().joined(separator: ", ")
            reply(.text("no such page: \(request.path) (this port serves \(known))", status: 404))
            return
        }
        guard gate.wait(timeout: .now()) == .success else {
            reply(.text("busy: too many admin requests at once; try again", status: 503))
            return
        }
        queue.async {
            defer { gate.signal() }
            reply(route(request))
        }
    }
}

/// One HTTP/1.1 connection: collects a request, hands it to the dispatcher, writes the answer.
final class AdminHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let maxBodyBytes: Int
    private let dispatcher: RouteDispatcher
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(maxBodyBytes: Int, dispatcher: RouteDispatcher) {
        self.maxBodyBytes = maxBodyBytes
        self.dispatcher = dispatcher
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            tooLarge = false
        case .body(var chunk):
            guard !tooLarge else { return }
            if body.count + chunk.readableBytes > maxBodyBytes {
                tooLarge = true
                body = []
            } else if let bytes = chunk.readBytes(length: chunk.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            let keepAlive = head.isKeepAlive
            if tooLarge {
                write(
                    .text("request body over \(maxBodyBytes) bytes", status: 413),
                    keepAlive: false,
                    context: context
                )
                return
            }
            let uri = head.uri
            let path: Substring
            let query: Substring
            if let mark = uri.firstIndex(of: "?") {
                path = uri[..<mark]
                query = uri[uri.index(after: mark)...]
            } else {
                path = uri[...]
                query = ""
            }
            let request = AdminRequest(
                method: head.method.rawValue,
                path: String(path),
                query: String(query),
                body: body
            )
            body = []
            let loop = context.eventLoop
            let boundContext = NIOLoopBound(context, eventLoop: loop)
            dispatcher.dispatch(request) { [self] response in
                loop.execute {
                    self.write(response, keepAlive: keepAlive, context: boundContext.value)
                }
            }
        }
    }

    private func write(_ response: AdminResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: response.contentType)
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        let head = HTTPResponseHead(
            version: .http1_1,
            status: HTTPResponseStatus(statusCode: response.status),
            headers: headers
        )
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: response.body.count)
        buffer.writeBytes(response.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: done)
        if !keepAlive {
            let channel = context.channel
            done.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
