import CSystemShim
import Dispatch
import Foundation

/// Severity of a server log line.
public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    case debug, info, warning, error

    /// Parses "debug", "info", "warning" or "error".
    public init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warning", "warn": self = .warning
        case "error": self = .error
        default: return nil
        }
    }

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What a ``Server`` listens on and the limits it enforces.
public struct ServerConfiguration: Sendable {
    /// Address to bind; 127.0.0.1 by default.
    public var host = "127.0.0.1"
    /// Port to bind; 0 picks a free one (read it back from ``Server/port``).
    public var port = 50051
    /// I/O threads, each owning the connections it was handed; one per core by default.
    public var ioThreads = ProcessInfo.processInfo.activeProcessorCount
    /// Pins I/O thread N to CPU `pinIOThreads[N % count]` when set.
    public var pinIOThreads: [Int]?
    /// SETTINGS_MAX_CONCURRENT_STREAMS: streams a client may have open on one connection.
    public var maxConcurrentStreams: UInt32 = 1000
    /// Connections accepted at once; more are closed right after accept.
    public var maxConnections = 10_000
    /// Largest request message accepted (after decompression); larger ones get RESOURCE_EXHAUSTED.
    public var maxReceiveMessageSize = 4 << 20
    /// SETTINGS_INITIAL_WINDOW_SIZE: bytes a client may send on one stream before a WINDOW_UPDATE.
    public var initialWindowSize: UInt32 = 1 << 20
    /// Receive window of the whole connection.
    public var connectionWindowSize: UInt32 = 16 << 20
    /// SETTINGS_MAX_HEADER_LIST_SIZE.
    public var maxHeaderListSize: UInt32 = 64 << 10
    /// How long ``Server/shutdown()`` lets in-flight calls finish before cutting them off.
    public var shutdownGracePeriod: Double = 10
    /// Lines below this level are not logged.
    public var logLevel: LogLevel = .info
    /// Where handlers run.
    public var workerQueue: DispatchQueue = .global(qos: .userInitiated)

    /// The defaults.
    public init() {}
}

/// A gRPC server over HTTP/2 cleartext (h2c with prior knowledge) on nghttp2.
///
/// One listening socket is watched by the first I/O thread, which hands each accepted connection to the next loop in
/// round-robin order; from then on the connection lives on that loop. Handlers run on
/// ``ServerConfiguration/workerQueue`` and hand their results back to the connection's loop with
/// ``EventLoop/execute(_:)``.
public final class Server: @unchecked Sendable {
    /// The configuration it was started with.
    public let configuration: ServerConfiguration
    let router: Router
    let workerQueue: DispatchQueue
    private let group: EventLoopGroup
    private var listener: Listener?
    private var boundPort = 0
    private let stateLock = NSCondition()
    private var activeCalls = 0
    private var openConnections = 0
    private var connections: [ObjectIdentifier: ServerConnection] = [:]
    private var readBuffers: [ObjectIdentifier: UnsafeMutableBufferPointer<UInt8>] = [:]
    private let logLock = NSLock()

    /// Creates a server for `services`; nothing listens until ``start()``.
    public init(configuration: ServerConfiguration, services: [ServiceDefinition]) throws {
        self.configuration = configuration
        self.router = Router(services: services)
        self.workerQueue = configuration.workerQueue
        self.group = try EventLoopGroup(count: max(1, configuration.ioThreads), pinToCPUs: configuration.pinIOThreads)
        for loop in group.loops {
            let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: 256 << 10)
            readBuffers[ObjectIdentifier(loop)] = buffer
        }
    }

    deinit {
        for buffer in readBuffers.values { buffer.deallocate() }
    }

    /// The port the server listens on (useful with port 0).
    public var port: Int { stateLock.withLock { boundPort } }

    /// Binds the listening socket and starts accepting. Throws when the address cannot be bound.
    public func start() throws {
        let fd = csystem_listen(configuration.host, Int32(configuration.port), 1024, 0)
        guard fd >= 0 else { throw RPCError.system("listen on \(configuration.host):\(configuration.port)", -fd) }
        let port = Int(csystem_local_port(fd))
        stateLock.withLock { boundPort = port }
        let loop = group.loops[0]
        let listener = Listener(fd: fd, loop: loop, server: self)
        self.listener = listener
        loop.execute { loop.register(fd: fd, handler: listener) }
    }

    /// Stops accepting, sends GOAWAY on every connection, lets in-flight calls finish for up to the grace period, then
    /// closes what is left and stops the I/O threads. Blocks until done; returns the number of calls cut off.
    @discardableResult
    public func shutdown(gracePeriod: Double? = nil) -> Int {
        let grace = gracePeriod ?? configuration.shutdownGracePeriod
        if let listener {
            listener.loop.execute { listener.close() }
        }
        forEachConnection { $0.goAway() }
        let until = Date(timeIntervalSinceNow: grace)
        stateLock.lock()
        while activeCalls > 0 && Date() < until {
            _ = stateLock.wait(until: min(until, Date(timeIntervalSinceNow: 0.05)))
        }
        let remaining = activeCalls
        stateLock.unlock()
        if remaining > 0 { log(.warning, "shutdown grace period over: cutting off \(remaining) call(s)") }
        // Let the last trailers reach their sockets before anything is cut.
        forEachConnection { $0.closeWhenFlushed() }
        let flushDeadline = Date(timeIntervalSinceNow: 1)
        while stateLock.withLock({ openConnections > 0 }) && Date() < flushDeadline { usleep(5_000) }
        forEachConnection { $0.close(reason: "server shut down") }
        group.shutdown()
        return remaining
    }

    private func forEachConnection(_ body: @escaping (ServerConnection) -> Void) {
        let all = stateLock.withLock { Array(connections.values) }
        let done = DispatchGroup()
        for connection in all {
            done.enter()
            connection.loop.execute {
                body(connection)
                done.leave()
            }
        }
        done.wait()
    }

    // MARK: Book-keeping used by connections and streams

    func accepted(fd: Int32, peer: String) {
        let admitted = stateLock.withLock { () -> Bool in
            guard openConnections < configuration.maxConnections else { return false }
            openConnections += 1
            return true
        }
        guard admitted else {
            log(.warning, "connection limit \(configuration.maxConnections) reached: refusing \(peer)")
            close(fd)
            return
        }
        let loop = group.nextLoop()
        loop.execute { [self] in
            let connection = ServerConnection(fd: fd, loop: loop, server: self, peer: peer)
            stateLock.withLock { connections[ObjectIdentifier(connection)] = connection }
            connection.start()
        }
    }

    func connectionClosed(_ connection: ServerConnection) {
        stateLock.withLock {
            openConnections -= 1
            connections.removeValue(forKey: ObjectIdentifier(connection))
        }
    }

    func callStarted() {
        stateLock.withLock { activeCalls += 1 }
    }

    func callEnded() {
        stateLock.withLock {
            activeCalls -= 1
            if activeCalls == 0 { stateLock.broadcast() }
        }
    }

    func readBuffer(for loop: EventLoop) -> UnsafeMutableBufferPointer<UInt8> {
        readBuffers[ObjectIdentifier(loop)]!
    }

    /// Writes one line to stderr when `level` is at or above the configured level.
    public func log(_ level: LogLevel, _ message: @autoclosure () -> String) {
        guard level >= configuration.logLevel else { return }
        let line = "[\(level)] \(message())\n"
        logLock.withLock { FileHandle.standardError.write(line.data(using: .utf8)!) }
    }
}

/// The listening socket; lives on the first I/O thread.
final class Listener: EventLoopHandler {
    let fd: Int32
    let loop: EventLoop
    unowned let server: Server
    private var closed = false

    init(fd: Int32, loop: EventLoop, server: Server) {
        self.fd = fd
        self.loop = loop
        self.server = server
    }

    func handleEvents(_ events: UInt32) {
        // Bounded so a connection storm cannot starve the connections this thread already serves.
        for _ in 0..<64 {
            let client = csystem_accept(fd)
            if client < 0 {
                if -client != EAGAIN && -client != EWOULDBLOCK && -client != ECONNABORTED && -client != EINTR {
                    server.log(.warning, "accept failed: \(String(cString: strerror(-client)))")
                }
                return
            }
            server.accepted(fd: client, peer: "fd\(client)")
        }
    }

    func flush() {}

    func close() {
        guard !closed else { return }
        closed = true
        loop.deregister(fd: fd)
        Foundation.close(fd)
    }
}
