import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport

/// grpc.health.v1.Health: Check and Watch over a table of per-service serving states.
///
/// The empty service name stands for the whole server. A service starts NOT_SERVING until the application says
/// otherwise with ``setStatus(_:for:)``; load balancers and `grpc_health_probe` read it.
///
/// Watch is a subscription: an open Watch stream holds no thread, only an entry in the watcher table, and a status
/// change sends one message to each watcher whose status changed. Client-side health checking keeps one Watch open
/// per channel for ever, so thousands of them must cost memory, not the threads that serve Rank and Recommend.
public final class HealthService: @unchecked Sendable {
    /// A service's state, as the health protocol names it.
    public enum Status: Sendable {
        case serving, notServing

        var wireValue: Grpc__Health__V1__HealthCheckResponse__ServingStatus {
            switch self {
            case .serving: return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
            case .notServing: return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
            }
        }
    }

    private let lock = NSLock()
    private var statuses: [String: Status]
    /// Sent with every Check answer (e.g. which data the server has loaded); empty by default.
    private var checkMetadata = Metadata()
    private var watchers: [ObjectIdentifier: Watcher] = [:]

    private struct Watcher {
        let call: ServerCall
        let service: String
        var lastSent: Grpc__Health__V1__HealthCheckResponse__ServingStatus
    }

    /// A table with `services` (plus the server-wide "") all NOT_SERVING.
    public init(services: [String]) {
        var statuses: [String: Status] = ["": .notServing]
        for service in services { statuses[service] = .notServing }
        self.statuses = statuses
    }

    /// Sets the state of one service ("" for the whole server) and wakes its watchers.
    public func setStatus(_ status: Status, for service: String = "") {
        lock.withLock {
            statuses[service] = status
            notifyWatchersLocked()
        }
    }

    /// Metadata to send in the response headers of every Check answer from now on, such as the version of the data
    /// being served; an empty value sends none.
    public func setCheckMetadata(_ metadata: Metadata) {
        lock.withLock { checkMetadata = metadata }
    }

    /// Sets every known service, and the server itself, to `status`.
    public func setAll(_ status: Status) {
        lock.withLock {
            for key in statuses.keys { statuses[key] = status }
            notifyWatchersLocked()
        }
    }

    /// The current state of `service`, nil when it is unknown.
    public func status(of service: String) -> Status? {
        lock.withLock { statuses[service] }
    }

    /// Open Watch streams.
    public var watcherCount: Int { lock.withLock { watchers.count } }

    private func wireStatusLocked(_ service: String) -> Grpc__Health__V1__HealthCheckResponse__ServingStatus {
        statuses[service]?.wireValue ?? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN
    }

    /// Sends each watcher whose service changed its new status. Sending only queues the message (subscription
    /// sends never wait), so holding the lock keeps every watcher's messages in the order of the changes.
    private func notifyWatchersLocked() {
        for (id, watcher) in watchers {
            let current = wireStatusLocked(watcher.service)
            guard current != watcher.lastSent else { continue }
            watchers[id]?.lastSent = current
            Self.send(current, to: watcher.call)
        }
    }

    private static func send(_ status: Grpc__Health__V1__HealthCheckResponse__ServingStatus, to call: ServerCall) {
        do {
            try call.send(encode(status))
        } catch let failure as GRPCStatus {
            call.finish(failure)
        } catch {
            call.finish(GRPCStatus(.internal, "health update failed: \(error)"))
        }
    }

    /// The service definition to register with a server.
    public var definition: ServiceDefinition {
        ServiceDefinition(
            name: "grpc.health.v1.Health",
            methods: [
                RPCMethod(
                    name: "Check",
                    handler: .unary { [self] call, request in try check(call, request) },
                    runsOnIOThread: true
                ),
                RPCMethod(
                    name: "Watch",
                    handler: .serverStreamingSubscription { [self] call, request in try watch(call, request) }
                ),
            ]
        )
    }

    private func serviceName(_ request: [UInt8]) throws -> String {
        // The usual probe asks about the whole server: an empty message, nothing to decode.
        if request.isEmpty { return "" }
        let decoded = try ProtoC.decode(request, as: grpc__health__v1__health_check_request__init)
        return ProtoC.string(decoded.message.service)
    }

    private static let servingAnswer = encode(Status.serving.wireValue)
    private static let notServingAnswer = encode(Status.notServing.wireValue)

    private static func encode(_ status: Grpc__Health__V1__HealthCheckResponse__ServingStatus) -> [UInt8] {
        var response = Grpc__Health__V1__HealthCheckResponse()
        grpc__health__v1__health_check_response__init(&response)
        response.status = status
        return ProtoC.encode(&response)
    }

    private func check(_ call: ServerCall, _ request: [UInt8]) throws -> [UInt8] {
        let service = try serviceName(request)
        let (found, metadata) = lock.withLock { (statuses[service], checkMetadata) }
        guard let status = found else {
            throw GRPCStatus(.notFound, "unknown service \"\(service)\"")
        }
        if !metadata.isEmpty { call.responseMetadata = metadata }
        // The two answers Check gives, encoded once.
        return status == .serving ? Self.servingAnswer : Self.notServingAnswer
    }

    /// Sends the current state and subscribes the call to every change, until the client cancels (or the deadline,
    /// or shutdown, ends it).
    private func watch(_ call: ServerCall, _ request: [UInt8]) throws {
        let service = try serviceName(request)
        let id = ObjectIdentifier(call)
        lock.withLock {
            let current = wireStatusLocked(service)
            watchers[id] = Watcher(call: call, service: service, lastSent: current)
            Self.send(current, to: call)
        }
        call.onTermination { [weak self] in
            guard let self else { return }
            self.lock.withLock { _ = self.watchers.removeValue(forKey: id) }
        }
    }
}
