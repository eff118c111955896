import Dispatch

/// How a method exchanges messages, and the code that serves it.
///
/// Handlers run on the Dispatch worker pool, never on an I/O thread (unless the method opts in with
/// ``RPCMethod/runsOnIOThread``). Returning normally ends the call with OK and the call's trailing metadata;
/// throwing a ``GRPCStatus`` ends it with that status; any other error ends it with UNKNOWN.
public enum RPCHandler: Sendable {
    /// One request message in, one response message out.
    case unary(@Sendable (ServerCall, [UInt8]) throws -> [UInt8])
    /// One request message in, any number of responses sent with ``ServerCall/send(_:)``.
    case serverStreaming(@Sendable (ServerCall, [UInt8]) throws -> Void)
    /// Requests read with ``ServerCall/receive()``, one response returned.
    case clientStreaming(@Sendable (ServerCall) throws -> [UInt8])
    /// Requests read with ``ServerCall/receive()`` while responses are sent with ``ServerCall/send(_:)``.
    case bidirectionalStreaming(@Sendable (ServerCall) throws -> Void)

    /// Whether the whole request stream must arrive before the handler starts.
    var waitsForSingleRequest: Bool {
        switch self {
        case .unary, .serverStreaming: return true
        case .clientStreaming, .bidirectionalStreaming: return false
        }
    }
}

/// One method of a service.
public struct RPCMethod: Sendable {
    /// The method's name as in the .proto file, e.g. "Rank".
    public let name: String
    /// The code that serves it.
    public let handler: RPCHandler
    /// Runs a unary handler directly on the I/O thread, skipping the hand-off to the worker pool. Only for handlers that
    /// never block and finish in microseconds (a health check reading a flag); anything else stalls every call on the
    /// connection.
    public let runsOnIOThread: Bool

    /// Creates a method.
    public init(name: String, handler: RPCHandler, runsOnIOThread: Bool = false) {
        if runsOnIOThread, case .unary = handler {
        } else {
            precondition(!runsOnIOThread, "only unary handlers may run on the I/O thread")
        }
        self.name = name
        self.handler = handler
        self.runsOnIOThread = runsOnIOThread
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
    private let methods: [String: RPCMethod]
    private let services: Set<String>

    init(services: [ServiceDefinition]) {
        var methods: [String: RPCMethod] = [:]
        for service in services {
            for method in service.methods {
                let path = "/\(service.name)/\(method.name)"
                precondition(methods[path] == nil, "method \(path) registered twice")
                methods[path] = method
            }
        }
        self.methods = methods
        self.services = Set(services.map(\.name))
    }

    enum Lookup {
        case found(RPCMethod)
        case unknownService(String)
        case unknownMethod(service: String, method: String)
        case malformedPath(String)
    }

    func lookup(path: String) -> Lookup {
        if let method = methods[path] { return .found(method) }
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else {
            return .malformedPath(path)
        }
        let service = String(parts[1])
        return services.contains(service)
            ? .unknownMethod(service: service, method: String(parts[2])) : .unknownService(service)
    }
}
