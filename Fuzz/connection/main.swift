// libFuzzer target: a whole H2GRPC server connection fed raw bytes over TCP loopback.
//
// One `Server` (127.0.0.1, port 0, one I/O thread) is started in LLVMFuzzerInitialize with a small test service:
// unary echo, server-streaming, client-streaming, bidirectional echo and a method that fails. Each input opens a
// connection, writes its bytes, shuts down the write side and reads until the server closes or a bounded time passes.
// A crash or sanitizer report on any server thread fails the run; with one I/O thread and the wait for the server's
// close, a report belongs to the input that was just sent or, at worst, the one before it.
//
// Input layout (see docs/testing.md, "Fuzzing"):
//   byte 0   bit 0  prepend the client connection preface ("PRI * HTTP/2.0...")
//            bit 1  wait for the server's answers before shutting down the write side, so handlers get to answer
//                   before the server reads end-of-file and closes: until every stream the input opened with HEADERS
//                   has ended (END_STREAM or RST_STREAM from the server), a GOAWAY, 20 ms of quiet, or 100 ms
//   the rest raw bytes as a client would send them (frames after the preface)
import Foundation
import H2GRPC

#if canImport(Glibc)
import Glibc
#endif

private let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)
/// Longest a single input waits for the server to close: a bound on time per input, not a result.
private let closeWaitMilliseconds = 1_000

nonisolated(unsafe) private var server: Server?
nonisolated(unsafe) private var serverPort: UInt16 = 0

private func echoMetadata(_ call: ServerCall) {
    var echoed = Metadata()
    for entry in call.requestMetadata where entry.name.hasPrefix("x-echo-") { echoed.append(entry.name, entry.value) }
    if !echoed.isEmpty { call.responseMetadata = echoed }
}

private let testService = ServiceDefinition(
    name: "fuzz.Test",
    methods: [
        RPCMethod(
            name: "Unary",
            handler: .unary { call, request in
                echoMetadata(call)
                return request
            }
        ),
        RPCMethod(
            name: "ServerStream",
            handler: .serverStreaming { call, request in
                echoMetadata(call)
                for _ in 0...Int(request.first ?? 0) % 4 { try call.send(request) }
            }
        ),
        RPCMethod(
            name: "ClientStream",
            handler: .clientStreaming { call in
                var total: [UInt8] = []
                while let message = try call.receive() { total += message.prefix(64) }
                return total
            }
        ),
        RPCMethod(
            name: "Bidi",
            handler: .bidirectionalStreaming { call in
                echoMetadata(call)
                while let message = try call.receive() { try call.send(message, compress: message.count > 8) }
            }
        ),
        RPCMethod(
            name: "Fail",
            handler: .unary { call, request in
                var trailers = Metadata()
                trailers.appendBinary("x-detail-bin", request)
                call.trailingMetadata = trailers
                throw GRPCStatus(.invalidArgument, "rejected: \(String(decoding: request.prefix(32), as: UTF8.self)) %")
            }
        ),
    ]
)

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(
    _ argc: UnsafeMutablePointer<CInt>?,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?
) -> CInt {
    signal(SIGPIPE, SIG_IGN)
    var configuration = ServerConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.ioThreads = 1
    configuration.logLevel = .error
    do {
        let started = try Server(configuration: configuration, services: [testService])
        try started.start()
        server = started
        serverPort = UInt16(started.port)
    } catch {
        fatalError("the fuzz server did not start: \(error)")
    }
    return 0
}

private func monotonicMilliseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return now.tv_sec * 1000 + now.tv_nsec / 1_000_000
}

/// A new connection to the server. Retries for about a second, so that a connect interrupted by libFuzzer's SIGALRM,
/// a burst of closed connections still in TIME_WAIT (each input half-closes first) or a full accept backlog is not
/// taken for a server failure.
private func connectToServer() -> Int32 {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = serverPort.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var lastError: Int32 = 0
    for _ in 0..<100 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { fatalError("socket() failed: errno \(errno)") }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        if result == 0 {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            return fd
        }
        lastError = errno
        close(fd)
        usleep(10_000)
    }
    fatalError("the fuzz server stopped accepting connections: connect failed with errno \(lastError)")
}

/// Waits until `fd` is ready for `events` or the time is up. libFuzzer's SIGALRM (its -timeout watchdog) interrupts
/// system calls now and then, so EINTR just means waiting again.
private func waitFor(_ fd: Int32, _ events: Int16, milliseconds: Int) -> Bool {
    let deadline = monotonicMilliseconds() + milliseconds
    while true {
        var entry = pollfd(fd: fd, events: events, revents: 0)
        let ready = poll(&entry, 1, Int32(max(0, deadline - monotonicMilliseconds())))
        if ready > 0 { return true }
        if ready == 0 || errno != EINTR { return false }
    }
}

/// Writes everything unless the server stops reading or closes first (a protocol error closes the connection).
private func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
    var offset = 0
    let deadline = monotonicMilliseconds() + closeWaitMilliseconds
    while offset < bytes.count {
        guard waitFor(fd, Int16(POLLOUT), milliseconds: deadline - monotonicMilliseconds()) else { return }
        let written = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if written < 0 && errno == EINTR { continue }
        if written <= 0 { return }
        offset += written
    }
}

/// HTTP/2 frame headers in `bytes` from `offset`: (type, flags, stream id) of each complete frame header, and the
/// offset where the next, incomplete frame starts.
private func frameHeaders(_ bytes: [UInt8], from offset: Int) -> (frames: [(UInt8, UInt8, UInt32)], next: Int) {
    var frames: [(UInt8, UInt8, UInt32)] = []
    var index = offset
    while bytes.count - index >= 9 {
        let length = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
        let stream =
            (UInt32(bytes[index + 5]) << 24 | UInt32(bytes[index + 6]) << 16 | UInt32(bytes[index + 7]) << 8
                | UInt32(bytes[index + 8])) & 0x7FFF_FFFF
        frames.append((bytes[index + 3], bytes[index + 4], stream))
        index += 9 + length
    }
    return (frames, index)
}

/// The streams the client bytes open with a HEADERS frame (the fuzzer's bytes may be anything; this is a best guess).
private func streamsOpened(by bytes: [UInt8]) -> Set<UInt32> {
    let start = bytes.starts(with: preface) ? preface.count : 0
    return Set(frameHeaders(bytes, from: start).frames.filter { $0.0 == 0x1 && $0.2 != 0 }.map(\.2))
}

private enum DrainEnd { case closed, answered, quiet }

/// Reads until end-of-file or error, the deadline, or, when `awaiting` is given, until the server has ended each of
/// those streams, sent GOAWAY, or been quiet for 20 ms.
private func drain(_ fd: Int32, until deadline: Int, awaiting: Set<UInt32>? = nil) -> DrainEnd {
    var buffer = [UInt8](repeating: 0, count: 64 << 10)
    var received: [UInt8] = []
    var parsed = 0
    var pending = awaiting ?? []
    if awaiting?.isEmpty == true { return .answered }
    // The server's own preface is a SETTINGS frame, so its output parses as frames from the first byte.
    while true {
        var wait = deadline - monotonicMilliseconds()
        if awaiting != nil { wait = min(wait, 20) }
        guard wait > 0 else { return .quiet }
        guard waitFor(fd, Int16(POLLIN), milliseconds: wait) else { return .quiet }
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { return .closed }
        guard awaiting != nil else { continue }
        received += buffer[..<count]
        let (frames, next) = frameHeaders(received, from: parsed)
        parsed = next
        for (type, flags, stream) in frames {
            if type == 0x7 { return .answered }  // GOAWAY
            // END_STREAM on DATA or HEADERS, or RST_STREAM.
            if (type <= 0x1 && flags & 0x1 != 0) || type == 0x3 { pending.remove(stream) }
        }
        if pending.isEmpty { return .answered }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let flags = data[0]
    var bytes = flags & 1 != 0 ? preface : []
    bytes += UnsafeBufferPointer(start: data + 1, count: size - 1)

    let fd = connectToServer()
    defer { close(fd) }
    writeAll(fd, bytes)
    if flags & 2 != 0,
        drain(fd, until: monotonicMilliseconds() + 100, awaiting: streamsOpened(by: bytes)) == .closed
    {
        return 0
    }
    shutdown(fd, Int32(SHUT_WR))
    _ = drain(fd, until: monotonicMilliseconds() + closeWaitMilliseconds)
    return 0
}
