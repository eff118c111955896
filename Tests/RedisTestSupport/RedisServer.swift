import Foundation
import RedisClient

/// Why a test could not set up its server. Thrown, so the test fails with this message rather than skipping: CI
/// installs redis-server (Scripts/install-deps.sh --test), and a machine without it must not look green.
public struct TestSetupError: Error, CustomStringConvertible {
    public let description: String

    public init(description: String) { self.description = description }
}

/// A redis-server of the test's own, on a free 127.0.0.1 port, with no persistence and its files in a temporary
/// directory. `stop()` ends it (also when it is paused); use ``withRedisServer(_:)`` so that happens however the test
/// ends.
public final class RedisServer {
    public let port: Int
    public let directory: URL
    /// The running server's process id, 0 when it is not running.
    private var pid: pid_t = 0

    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    /// Starts a server on a free port (trying a few, in case another process takes the port first) and waits until
    /// it answers PING.
    public init() throws {
        let executable = try Self.findExecutable()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("rankd-redis-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var lastError: Error?
        for _ in 0..<5 {
            let candidate = try freeLoopbackPort()
            do {
                pid = try Self.launch(executable, port: candidate, directory: directory)
                port = candidate
                return
            } catch {
                lastError = error
            }
        }
        try? FileManager.default.removeItem(at: directory)
        throw lastError ?? TestSetupError(description: "redis-server did not start")
    }

    deinit {
        stop()
    }

    /// Starts the server again on the same port, after ``kill()``.
    public func restart() throws {
        precondition(pid == 0, "restart only a server that is not running")
        pid = try Self.launch(try Self.findExecutable(), port: port, directory: directory)
    }

    /// Ends the server at once with SIGKILL, as a crash would, and waits until it is gone.
    public func kill() {
        guard pid != 0 else { return }
        Foundation.kill(pid, SIGKILL)
        Self.waitForExit(pid, seconds: 10)
        pid = 0
    }

    /// Freezes the server (SIGSTOP): connections stay open and nothing is answered.
    public func pause() {
        if pid != 0 { Foundation.kill(pid, SIGSTOP) }
    }

    /// Lets a paused server go on (SIGCONT).
    public func resume() {
        if pid != 0 { Foundation.kill(pid, SIGCONT) }
    }

    /// Ends the server (SIGTERM, SIGKILL after 5 s) and removes its directory. Idempotent.
    public func stop() {
        if pid != 0 {
            Foundation.kill(pid, SIGCONT)
            Foundation.kill(pid, SIGTERM)
            if !Self.waitForExit(pid, seconds: 5) {
                Foundation.kill(pid, SIGKILL)
                Self.waitForExit(pid, seconds: 5)
            }
            pid = 0
        }
        try? FileManager.default.removeItem(at: directory)
    }

    /// `$REDIS_SERVER`, else `redis-server` on `PATH` or in the usual directories.
    public static func findExecutable() throws -> String {
        let environment = ProcessInfo.processInfo.environment
        if let explicit = environment["REDIS_SERVER"], !explicit.isEmpty {
            guard FileManager.default.isExecutableFile(atPath: explicit) else {
                throw TestSetupError(description: "REDIS_SERVER=\(explicit) is not an executable file")
            }
            return explicit
        }
        let path = (environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in path + ["/usr/bin", "/usr/sbin", "/usr/local/bin"] {
            let candidate = directory + "/redis-server"
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        throw TestSetupError(
            description: "redis-server not found (looked at $REDIS_SERVER, PATH, /usr/bin, /usr/sbin, "
                + "/usr/local/bin). The Redis client tests need a real server: install Debian's redis-server, "
                + "for instance with Scripts/install-deps.sh --test"
        )
    }

    /// Spawns redis-server (its output to a log file in `directory`) and waits until it answers PING.
    private static func launch(_ executable: String, port: Int, directory: URL) throws -> pid_t {
        let log = directory.appendingPathComponent("redis-\(port).log")
        let arguments = [
            executable, "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", directory.path, "--logfile", log.path,
            // DEBUG SLEEP, for the deadline tests; only from this machine.
            "--enable-debug-command", "local",
        ]
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 {
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        // The child would inherit this thread's signal mask and ignored signals; the test runner's threads may block
        // SIGTERM, and redis-server must see it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGPIPE, SIGHUP] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = arguments.map { strdup($0) } + [nil]
        defer { for argument in argv { free(argument) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard spawned == 0 else {
            throw TestSetupError(description: "could not start \(executable): errno \(spawned)")
        }
        let deadline = Date(timeIntervalSinceNow: 10)
        while Date() < deadline {
            if hasExited(pid) {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                throw TestSetupError(
                    description: "redis-server exited at start on port \(port): \(text.suffix(2000))"
                )
            }
            if ping(port: port) {
                return pid
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        Foundation.kill(pid, SIGKILL)
        waitForExit(pid, seconds: 5)
        throw TestSetupError(description: "redis-server on port \(port) did not answer PING within 10 s")
    }

    /// Reaps the child if it has ended. A child some other waiter reaped (ECHILD) has ended too.
    private static func hasExited(_ pid: pid_t) -> Bool {
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        return result == pid || (result == -1 && errno == ECHILD)
    }

    @discardableResult
    private static func waitForExit(_ pid: pid_t, seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        while !hasExited(pid) {
            if Date() >= deadline { return false }
            Thread.sleep(forTimeInterval: 0.002)
        }
        return true
    }

    /// PING over a plain socket, so that the readiness check does not rely on the code under test.
    private static func ping(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        let request = Array("*1\r\n$4\r\nPING\r\n".utf8)
        guard write(fd, request, request.count) == request.count else { return false }
        var buffer = [UInt8](repeating: 0, count: 64)
        let count = read(fd, &buffer, buffer.count)
        return count >= 5 && buffer.starts(with: Array("+PONG".utf8))
    }
}

/// Runs `body` with a fresh server, and stops the server afterwards whatever happens.
public func withRedisServer<Result>(_ body: (RedisServer) throws -> Result) throws -> Result {
    let server = try RedisServer()
    defer { server.stop() }
    return try body(server)
}

public func loopbackAddress(port: Int) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// A port nothing listens on right now: bound to 127.0.0.1:0 and released. Another process could take it before the
/// caller does; callers that start a server retry.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestSetupError(description: "socket() failed: errno \(errno)") }
    defer { close(fd) }
    var address = loopbackAddress(port: 0)
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw TestSetupError(description: "could not bind 127.0.0.1:0: errno \(errno)") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A TCP server on 127.0.0.1 that answers every connection's first bytes with a fixed reply (anything, valid RESP or
/// not) and then holds the connection open until the client closes it. For replies a real Redis does not send.
/// Every wait is bounded; `stop()` ends its thread.
public final class CannedReplyServer: @unchecked Sendable {
    public let port: Int
    private let listener: Int32
    private let reply: [UInt8]
    private let lock = NSLock()
    private var stopping = false
    private let finished = DispatchSemaphore(value: 0)

    public init(reply: [UInt8]) throws {
        self.reply = reply
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestSetupError(description: "socket() failed: errno \(errno)") }
        var address = loopbackAddress(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let listening = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                bind(fd, pointer, length) == 0 && listen(fd, 8) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard listening else {
            close(fd)
            throw TestSetupError(description: "could not listen on 127.0.0.1: errno \(errno)")
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        let thread = Thread { [self] in
            serve()
            finished.signal()
        }
        thread.start()
    }

    public var endpoint: RedisEndpoint { RedisEndpoint(host: "127.0.0.1", port: port) }

    public func stop() {
        lock.lock()
        let first = !stopping
        stopping = true
        lock.unlock()
        if first {
            _ = finished.wait(timeout: .now() + 10)
            close(listener)
        }
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopping
    }

    private func waitReadable(_ fd: Int32) -> Bool {
        var probe = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&probe, 1, 20) > 0
    }

    private func serve() {
        let giveUp = Date(timeIntervalSinceNow: 30)
        while !isStopping && Date() < giveUp {
            guard waitReadable(listener) else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            var buffer = [UInt8](repeating: 0, count: 4096)
            // The request first, then the canned reply, then hold the connection until the client is done.
            while !isStopping && Date() < giveUp && !waitReadable(client) {}
            _ = read(client, &buffer, buffer.count)
            _ = reply.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            while !isStopping && Date() < giveUp {
                if waitReadable(client) && read(client, &buffer, buffer.count) <= 0 { break }
            }
            close(client)
        }
    }
}
