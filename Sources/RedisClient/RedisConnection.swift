import CHiredisShim
import Dispatch

/// Bounds on one reply, so that a misbehaving server cannot make the client allocate without limit. They are
/// checked while the reply is read, before its memory is spent; a reply over a bound is a
/// ``RedisError/protocolError(_:)`` and its connection is dropped.
public struct RedisReplyLimits: Hashable, Sendable {
    /// The most bytes in one bulk string (also in one status or error line).
    public var maxBulkLength: Int
    /// The most array elements in one reply, the elements of nested arrays included.
    public var maxReplyElements: Int
    /// The most bytes of all strings in one reply together.
    public var maxReplyBytes: Int

    /// Defaults far above what a feature store reads in one reply (16 MiB strings, 1 Mi elements, 64 MiB in all)
    /// and far below what would hurt a process. Each limit must be at least 1.
    public init(
        maxBulkLength: Int = 16 << 20,
        maxReplyElements: Int = 1 << 20,
        maxReplyBytes: Int = 64 << 20
    ) {
        precondition(maxBulkLength >= 1 && maxReplyElements >= 1 && maxReplyBytes >= 1, "reply limits must be >= 1")
        self.maxBulkLength = maxBulkLength
        self.maxReplyElements = maxReplyElements
        self.maxReplyBytes = maxReplyBytes
    }

    var shim: rkredis_limits {
        rkredis_limits(
            max_bulk_length: maxBulkLength,
            max_reply_elements: maxReplyElements,
            max_reply_bytes: maxReplyBytes
        )
    }
}

/// One blocking connection to a Redis server.
///
/// It owns its hiredis handle and frees it in ``close()`` (idempotent) or `deinit`. It is used by one thread at a
/// time: ``RedisPool`` hands each connection to one caller. Every call waits at most until its deadline. After a
/// timeout, a socket error or a protocol error the connection is broken for good: it closes its socket at once and
/// every later call throws ``RedisError/connectionLost(_:)``, because the replies of the commands in flight could
/// still arrive and would be taken for the answers to the next ones.
public final class RedisConnection {
    /// The server this connection talks to.
    public let endpoint: RedisEndpoint
    /// The bounds every reply is checked against.
    public let limits: RedisReplyLimits
    private var handle: OpaquePointer?
    private let counters: RedisCounters?

    /// Whether the connection failed or was closed; a broken connection never sends again.
    public var isBroken: Bool { handle == nil }

    /// Connects to `endpoint`, waiting for the TCP connect at most `connectTimeout` and never past `deadline`.
    ///
    /// Throws ``RedisError/unavailable(_:)`` when the server refuses or cannot be reached or the connect takes the
    /// whole `connectTimeout`, and ``RedisError/timeout(_:)`` when `deadline` cut the wait short. A host name is
    /// resolved first, and that lookup is not bounded by either: give an IP address where that matters.
    public convenience init(
        endpoint: RedisEndpoint,
        limits: RedisReplyLimits = RedisReplyLimits(),
        connectTimeout: Duration = .milliseconds(500),
        deadline: DispatchTime
    ) throws {
        try self.init(
            endpoint: endpoint,
            limits: limits,
            connectTimeout: connectTimeout,
            deadline: deadline,
            counters: nil
        )
    }

    init(
        endpoint: RedisEndpoint,
        limits: RedisReplyLimits,
        connectTimeout: Duration,
        deadline: DispatchTime,
        counters: RedisCounters?
    ) throws {
        self.endpoint = endpoint
        self.limits = limits
        self.counters = counters
        let allowed = connectTimeout.nanoseconds
        let remaining = Self.nanoseconds(until: deadline)
        if remaining <= 0 {
            counters?.record(.timeout)
            throw RedisError.timeout("\(endpoint): the deadline passed before connecting")
        }
        let timeout = min(allowed, remaining)
        guard let handle = rkredis_connect(endpoint.host, Int32(endpoint.port), Self.microseconds(timeout), limits.shim)
        else {
            counters?.record(.connection)
            throw RedisError.unavailable("\(endpoint): out of memory while connecting")
        }
        let failure = Int(rkredis_failure(handle))
        if failure == RKREDIS_FAILURE_NONE {
            self.handle = handle
            return
        }
        let reason = String(cString: rkredis_error_text(handle))
        rkredis_free(handle)
        if failure == RKREDIS_FAILURE_TIMEOUT && timeout < allowed {
            counters?.record(.timeout)
            throw RedisError.timeout("\(endpoint): the deadline passed while connecting")
        }
        counters?.record(failure == RKREDIS_FAILURE_TIMEOUT ? .timeout : .connection)
        if failure == RKREDIS_FAILURE_TIMEOUT {
            throw RedisError.unavailable("\(endpoint): connect timed out after \(allowed / 1_000_000) ms")
        }
        throw RedisError.unavailable("\(endpoint): connect failed: \(reason)")
    }

    deinit {
        close()
    }

    /// Closes the socket and frees the hiredis handle. Idempotent; later calls throw.
    public func close() {
        if let handle {
            rkredis_free(handle)
            self.handle = nil
        }
    }

    /// Sends one command and returns its reply; see ``pipeline(_:deadline:)``.
    public func send(_ command: RedisCommand, deadline: DispatchTime) throws -> RedisReply {
        try pipeline([command], deadline: deadline)[0]
    }

    /// Sends all `commands` at once and reads their replies, in order: one round trip, however many commands.
    ///
    /// The socket waits at most until `deadline` for each write and read, its timeout set from the time that is
    /// left. An error reply (`-ERR`, `-WRONGTYPE`) takes its place among the replies and leaves the connection
    /// usable. A timeout, a socket error, or a reply that is not RESP or is over the ``limits`` throws and breaks
    /// the connection. A command must have at least its name.
    public func pipeline(_ commands: [RedisCommand], deadline: DispatchTime) throws -> [RedisReply] {
        guard let handle else {
            throw RedisError.connectionLost("\(endpoint): the connection is closed after an earlier failure")
        }
        if commands.isEmpty {
            return []
        }
        // Nothing is buffered yet, so a passed deadline does not cost the connection.
        if Self.nanoseconds(until: deadline) <= 0 {
            counters?.record(.timeout)
            throw RedisError.timeout("\(endpoint): the deadline passed before sending")
        }
        try append(commands, to: handle)
        counters?.recordRoundTrip()
        while true {
            try setTimeout(handle, until: deadline, while: "sending \(commands.count) commands")
            let written = rkredis_flush(handle)
            if written == 1 { break }
            if written < 0 { throw fail(handle, while: "sending \(commands.count) commands") }
        }
        var replies: [RedisReply] = []
        replies.reserveCapacity(commands.count)
        var errorReplies = 0
        while replies.count < commands.count {
            var raw: OpaquePointer?
            let taken = rkredis_take_reply(handle, &raw)
            if taken == 1, let raw {
                let reply = Self.convert(raw)
                rkredis_reply_free(raw)
                if case .error = reply { errorReplies += 1 }
                replies.append(reply)
                continue
            }
            let phase = "waiting for reply \(replies.count + 1) of \(commands.count)"
            if taken < 0 { throw fail(handle, while: phase) }
            try setTimeout(handle, until: deadline, while: phase)
            if rkredis_read(handle) < 0 { throw fail(handle, while: phase) }
        }
        if errorReplies > 0 {
            counters?.recordErrorReplies(errorReplies)
        }
        return replies
    }

    /// Whether the connection can take the next command: healthy, nothing left unread, and no close or reset from
    /// the server while it was idle. Does not block. A connection found unusable is closed.
    func checkReusable() -> Bool {
        guard let handle else { return false }
        if rkredis_is_reusable(handle) == 1 {
            return true
        }
        close()
        return false
    }

    private func append(_ commands: [RedisCommand], to handle: OpaquePointer) throws {
        // All arguments go into one buffer so that hiredis can be given a pointer to each at once; hiredis copies
        // them into its output buffer before the call returns.
        var bytes: [UInt8] = []
        var lengths: [Int] = []
        var argumentCount = 0
        var byteCount = 1  // a last byte keeps the buffer's address valid when every argument is empty
        for command in commands {
            precondition(!command.isEmpty, "a Redis command needs at least its name")
            argumentCount += command.count
            for argument in command { byteCount += argument.bytes.count }
        }
        bytes.reserveCapacity(byteCount)
        lengths.reserveCapacity(argumentCount)
        for command in commands {
            for argument in command {
                bytes.append(contentsOf: argument.bytes)
                lengths.append(argument.bytes.count)
            }
        }
        bytes.append(0)
        var pointers: [UnsafePointer<CChar>?] = []
        pointers.reserveCapacity(argumentCount)
        let appended = bytes.withUnsafeBytes { buffer -> Bool in
            let base = buffer.baseAddress!.assumingMemoryBound(to: CChar.self)
            var offset = 0
            for length in lengths {
                pointers.append(base + offset)
                offset += length
            }
            var first = 0
            return pointers.withUnsafeBufferPointer { argv in
                lengths.withUnsafeBufferPointer { argvlen in
                    for command in commands {
                        let result = rkredis_append_argv(
                            handle,
                            Int32(command.count),
                            argv.baseAddress! + first,
                            argvlen.baseAddress! + first
                        )
                        if result != 0 { return false }
                        first += command.count
                    }
                    return true
                }
            }
        }
        if !appended {
            throw fail(handle, while: "appending commands")
        }
    }

    private func setTimeout(_ handle: OpaquePointer, until deadline: DispatchTime, while phase: String) throws {
        let remaining = Self.nanoseconds(until: deadline)
        if remaining <= 0 {
            close()
            counters?.record(.timeout)
            throw RedisError.timeout("\(endpoint): the deadline passed while \(phase)")
        }
        if rkredis_set_timeout(handle, Self.microseconds(remaining)) != 0 {
            throw fail(handle, while: phase)
        }
    }

    /// Breaks the connection after the shim reported a failure and returns the error that says why.
    private func fail(_ handle: OpaquePointer, while phase: String) -> RedisError {
        let failure = Int(rkredis_failure(handle))
        let reason = String(cString: rkredis_error_text(handle))
        close()
        switch failure {
        case RKREDIS_FAILURE_TIMEOUT:
            counters?.record(.timeout)
            return .timeout("\(endpoint): the deadline passed while \(phase)")
        case RKREDIS_FAILURE_PROTOCOL:
            counters?.record(.protocol)
            return .protocolError("\(endpoint): \(reason) (while \(phase))")
        case RKREDIS_FAILURE_LIMIT:
            counters?.record(.protocol)
            return .protocolError("\(endpoint): reply refused: \(reason) (while \(phase))")
        default:
            counters?.record(.connection)
            return .connectionLost("\(endpoint): \(reason) (while \(phase))")
        }
    }

    /// Copies a hiredis reply tree into a ``RedisReply``. hiredis nests arrays at most 7 deep, so the recursion is
    /// bounded.
    private static func convert(_ raw: OpaquePointer) -> RedisReply {
        switch Int(rkredis_reply_type(raw)) {
        case RKREDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(of: raw), as: UTF8.self))
        case RKREDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(of: raw), as: UTF8.self))
        case RKREDIS_REPLY_INTEGER:
            return .integer(Int64(rkredis_reply_integer(raw)))
        case RKREDIS_REPLY_BULK:
            return .bulk(Array(bytes(of: raw)))
        case RKREDIS_REPLY_ARRAY:
            let count = rkredis_reply_element_count(raw)
            var elements: [RedisReply] = []
            elements.reserveCapacity(count)
            for index in 0..<count {
                elements.append(rkredis_reply_element(raw, index).map(convert) ?? .bulk(nil))
            }
            return .array(elements)
        case RKREDIS_REPLY_NIL_ARRAY:
            return .array(nil)
        default:
            return .bulk(nil)
        }
    }

    private static func bytes(of raw: OpaquePointer) -> UnsafeBufferPointer<UInt8> {
        var length = 0
        let start = rkredis_reply_string(raw, &length)
        return UnsafeBufferPointer(start: start, count: start == nil ? 0 : length)
    }

    static func nanoseconds(until deadline: DispatchTime) -> Int64 {
        let now = DispatchTime.now().uptimeNanoseconds
        let end = deadline.uptimeNanoseconds
        if end <= now { return 0 }
        return Int64(clamping: end - now)
    }

    /// Rounded up, so a socket never gives up before the deadline, and capped at a day (the kernel's timeouts are
    /// not meant for `DispatchTime.distantFuture`).
    static func microseconds(_ nanoseconds: Int64) -> Int64 {
        min(nanoseconds / 1000 + (nanoseconds % 1000 == 0 ? 0 : 1), 86_400_000_000)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow || seconds < 0 { return seconds < 0 ? 0 : Int64.max }
        return whole.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue
    }
}
