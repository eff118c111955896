import Dispatch

/// How a method exchanges messages, and the code that serves it.
///
/// Handlers run on the pool their method's ``RPCMethod/Executor`` names, never on an I/O thread unless the method
/// opts in. Returning normally ends the call with OK and the call's trailing metadata (except for a subscription,
/// which stays open); throwing a ``GRPCStatus`` ends it with that status; any other error ends it with UNKNOWN.
public enum RPCHandler: Sendable {
    /// One request message in, one response message out.
    case unary(@Sendable (ServerCall, [UInt8]) throws -> [UInt8])
    /// One request message in, any number of responses sent with ``ServerCall/send(_:)``.
    case serverStreaming(@Sendable (ServerCall, [UInt8]) throws -> Void)
    /// Requests read with ``ServerCall/receive()``, one response returned.
    case clientStreaming(@Sendable (ServerCall) throws -> [UInt8])
    /// Requests read with ``ServerCall/receive()`` while responses are sent with ``ServerCall/send(_:)``.
    case bidirectionalStreaming(@Sendable (ServerCall) throws -> Void)
    /// One request message in, then a stream that stays open with no thread held: the body sends what it has now,
    /// arranges to ``ServerCall/send(_:compress:)`` more later (from any thread; such sends never wait), and returns.
    /// The call ends with ``ServerCall/finish(_:)``, the client's cancellation, the deadline, or server shutdown;
    /// ``ServerCall/onTermination(_:)`` tells the body's subscription to stop. For watches such as health Watch.
    case serverStreamingSubscription(@Sendable (ServerCall, [UInt8]) throws -> Void)
    /// Requests in, one reply per request, in order: each reply is computed by a job on the CPU pool when its request
    /// arrives, so no thread is held while the client is quiet. The call ends with OK when the client ends its side.
    /// For request/response conversations such as server reflection.
    case bidirectionalReplies(@Sendable (ServerCall, [UInt8]) throws -> [UInt8])

    /// Whether the whole request stream must arrive before the handler starts.
    var waitsForSingleRequest: Bool {
        switch self {
        case .unary, .serverStreaming, .serverStreamingSubscription: return true
        case .clientStreaming, .bidirectionalStreaming, .bidirectionalReplies: return false
        }
    }

    /// Where a handler of this kind runs unless its method says otherwise.
    var defaultExecutor: RPCMethod.Executor {
        switch self {
        case .unary, .serverStreaming, .serverStreamingSubscription, .bidirectionalReplies: return .cpu
        // These wait in receive() for as long as the client takes: never on a thread CPU work needs.
        case .clientStreaming, .bidirectionalStreaming: return .blocking
        }
    }
}

/// One method of a service.
public struct RPCMethod: Sendable {
    /// Where a method's handler runs.
    public enum Executor: Sendable, Equatable {
        /// The CPU pool (one thread per core, behind admission control). Its handlers never wait for a peer:
        /// ``ServerCall/send(_:compress:)`` fails with RESOURCE_EXHAUSTED instead of waiting for a client that does
        /// not read.
        case cpu
        /// A separate, bounded pool for handlers that wait for the client (streaming requests, paced streaming
        /// responses), so that waiting never takes a thread the CPU pool needs.
        case blocking
        /// The I/O thread itself, skipping any hand-off. Only for unary handlers that never block and finish in
        /// microseconds (a health check reading a flag); anything else stalls every call on the connection.
        case ioThread
    }

    /// The method's name as in the .proto file, e.g. "Rank".
    public let name: String
    /// The code that serves it.
    public let handler: RPCHandler
    /// Where the handler runs.
    public let executor: Executor
    /// For a CPU-pool method, which calls may instead run to completion on the I/O thread that read them when the
    /// pool is idle (``ServerConfiguration/inlineCallMaxMilliseconds``), given their request metadata; nil for
    /// none. Only for handlers that never wait: not for another server, nor for ``ServerCall/sleep(milliseconds:)``,
    /// nor for a cancellation, none of which the I/O thread can deliver while it runs the handler.
    public let runsInlineWhenIdle: (@Sendable (Metadata) -> Bool)?

    /// Whether the handler runs on the I/O thread.
    public var runsOnIOThread: Bool { executor == .ioThread }

    /// Creates a method. `executor` defaults to the CPU pool, or the blocking pool for client- and bidirectional
    /// streaming handlers. `runsInlineWhenIdle` is only for unary and server-streaming handlers on the CPU pool.
    public init(
        name: String,
        handler: RPCHandler,
        executor: Executor? = nil,
        runsInlineWhenIdle: (@Sendable (Metadata) -> Bool)? = nil
    ) {
        let executor = executor ?? handler.defaultExecutor
        if executor == .ioThread, case .unary = handler {
        } else {
            precondition(executor != .ioThread, "only unary handlers may run on the I/O thread")
        }
        if runsInlineWhenIdle != nil {
            switch handler {
            case .unary, .serverStreaming:
                precondition(executor == .cpu, "only CPU-pool handlers may run inline when the pool is idle")
            default:
                preconditionFailure("only unary and server-streaming handlers may run inline when the pool is idle")
            }
        }
        self.name = name
        self.handler = handler
        self.executor = executor
        self.runsInlineWhenIdle = runsInlineWhenIdle
    }

    /// Creates a method that runs on the I/O thread when `runsOnIOThread` is true.
    public init(name: String, handler: RPCHandler, runsOnIOThread: Bool) {
        self.init(name: name, handler: handler, executor: runsOnIOThread ? .ioThread : nil)
    }
}

/// A gRPC service: its fully qualified name and methods.
public struct ServiceDefinition: Sendable {
    /// The fully qualified service name, e.g. "ranking.v1.RankingService".
    public let name: String
    /// The methods, by name.
    public let methods: [RPCMethod]

    /// Creates a service.
    public init(name: String, methods: [RPCMethod]) {
        self.name = name
        self.methods = methods
    }
}

/// Finds the method for a request path "/package.Service/Method".
struct Router: Sendable {
    private let methods: [String: (method: RPCMethod, index: Int)]
    private let services: Set<String>

    /// Methods registered; each has an index below this, used as its cost class by admission control.
    let methodCount: Int
    /// Full names ("package.Service/Method") by index, the labels of the call metrics.
    let methodLabels: [String]

    init(services: [ServiceDefinition]) {
        var methods: [String: (method: RPCMethod, index: Int)] = [:]
        var labels: [String] = []
        for service in services {
            for method in service.methods {
                let path = "/\(service.name)/\(method.name)"
                precondition(methods[path] == nil, "method \(path) registered twice")
                methods[path] = (method, methods.count)
                labels.append("\(service.name)/\(method.name)")
            }
        }
        self.methods = methods
        self.methodLabels = labels
        self.methodCount = methods.count
        self.services = Set(services.map(\.name))
    }

    enum Lookup {
        case found(RPCMethod, index: Int)
        case unknownService(String)
        case unknownMethod(service: String, method: String)
        case malformedPath(String)
    }

    func lookup(path: String) -> Lookup {
        if let found = methods[path] { return .found(found.method, index: found.index) }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            return .malformedPath(path)
        }
        let service = String(parts[1])
        return services.contains(service)
            ? .unknownMethod(service: service, method: String(parts[2])) : .unknownService(service)
    }
}
