import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport

/// grpc.health.v1.Health: Check and Watch over a table of per-service serving states.
///
/// The empty service name stands for the whole server. A service starts NOT_SERVING until the application says
/// otherwise with ``setStatus(_:for:)``; load balancers and `grpc_health_probe` read it.
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

    private let condition = NSCondition()
    private var statuses: [String: Status]
    private var generation = 0

    /// A table with `services` (plus the server-wide "") all NOT_SERVING.
    public init(services: [String]) {
        var statuses: [String: Status] = ["": .notServing]
        for service in services { statuses[service] = .notServing }
        self.statuses = statuses
    }

    /// Sets the state of one service ("" for the whole server) and wakes its watchers.
    public func setStatus(_ status: Status, for service: String = "") {
        condition.lock()
        statuses[service] = status
        generation += 1
        condition.broadcast()
        condition.unlock()
    }

    /// Sets every known service, and the server itself, to `status`.
    public func setAll(_ status: Status) {
        condition.lock()
        for key in statuses.keys { statuses[key] = status }
        generation += 1
        condition.broadcast()
        condition.unlock()
    }

    /// The current state of `service`, nil when it is unknown.
    public func status(of service: String) -> Status? {
        condition.lock()
        defer { condition.unlock() }
        return statuses[service]
    }

    /// The service definition to register with a server.
    public var definition: ServiceDefinition {
        ServiceDefinition(
            name: "grpc.health.v1.Health",
            methods: [
                RPCMethod(name: "Check", handler: .unary { [self] _, request in try check(request) }, runsOnIOThread: true),
                RPCMethod(name: "Watch", handler: .serverStreaming { [self] call, request in try watch(call, request) }),
            ])
    }

    private func serviceName(_ request: [UInt8]) throws -> String {
        let decoded = try ProtoC.decode(request, as: grpc__health__v1__health_check_request__init)
        return ProtoC.string(decoded.message.service)
    }

    private static func encode(_ status: Grpc__Health__V1__HealthCheckResponse__ServingStatus) -> [UInt8] {
        var response = Grpc__Health__V1__HealthCheckResponse()
        grpc__health__v1__health_check_response__init(&response)
        response.status = status
        return ProtoC.encode(&response)
    }

    private func check(_ request: [UInt8]) throws -> [UInt8] {
        let service = try serviceName(request)
        guard let status = status(of: service) else {
            throw GRPCStatus(.notFound, "unknown service \"\(service)\"")
        }
        return Self.encode(status.wireValue)
    }

    /// Sends the current state, then every change, until the client cancels.
    private func watch(_ call: ServerCall, _ request: [UInt8]) throws {
        let service = try serviceName(request)
        var lastSent: Grpc__Health__V1__HealthCheckResponse__ServingStatus?
        while true {
            condition.lock()
            let current =
                statuses[service]?.wireValue ?? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN
            let seen = generation
            condition.unlock()
            if current != lastSent {
                try call.send(Self.encode(current))
                lastSent = current
            }
            condition.lock()
            // Wakes on a change, or every 200 ms to notice a cancelled call, which signals the call, not this table.
            while generation == seen && !call.isCancelled {
                _ = condition.wait(until: Date(timeIntervalSinceNow: 0.2))
            }
            condition.unlock()
            try call.checkAlive()
        }
    }
}
