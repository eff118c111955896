import AdminHTTP
import Foundation

/// The admin port's pages.
public enum AdminRoutes {
    /// The content type of the Prometheus text format.
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// `/metrics`, `/livez`, `/readyz`, `/config` and, when `reload` is given, `/-/reload` (POST only).
    /// - Parameters:
    ///   - configuration: the active configuration as JSON, for `/config`.
    ///   - reload: reloads the configuration; returns whether it now serves and a sentence saying what happened.
    public static func make(
        operations: Operations,
        configuration: @escaping @Sendable () -> [String: Any],
        reload: (@Sendable () -> (ok: Bool, message: String))?
    ) -> [String: AdminServer.Route] {
        var routes: [String: AdminServer.Route] = [
            "/metrics": { request in
                guard request.method == "GET" || request.method == "HEAD" else { return methodNotAllowed("GET") }
                return AdminResponse(contentType: metricsContentType, body: operations.scrape())
            },
            "/livez": { _ in .text("ok") },
            "/readyz": { _ in
                let (state, reason) = operations.readiness.current
                return state == .ready ? .text("ready: \(reason)") : .text("not ready: \(reason)", status: 503)
            },
            "/config": { request in
                guard request.method == "GET" else { return methodNotAllowed("GET") }
                var document = configuration()
                document["serving"] = operations.servedVersions
                document["ready"] = operations.readiness.current.state == .ready
                return json(document)
            },
        ]
        if let reload {
            routes["/-/reload"] = { request in
                guard request.method == "POST" else { return methodNotAllowed("POST") }
                let (ok, message) = reload()
                return .text(message, status: ok ? 200 : 422)
            }
        }
        return routes
    }

    static func methodNotAllowed(_ allowed: String) -> AdminResponse {
        .text("method not allowed: use \(allowed)", status: 405)
    }

    static func json(_ document: [String: Any]) -> AdminResponse {
        guard JSONSerialization.isValidJSONObject(document),
            let data = try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])
        else {
            return .text("the configuration could not be written as JSON", status: 500)
        }
        return AdminResponse(contentType: "application/json", body: Array(data) + [0x0A])
    }
}
