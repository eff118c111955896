import AdminHTTP
import Foundation
import H2GRPC
import RankdConfig
import RankdOps
import Ranking

/// rankd's admin port: the pages of ``AdminRoutes`` over the live settings, started before the gRPC banner so tests
/// and scripts read both ports from stdout.
enum AdminPort {
    /// Starts the admin server on the gRPC host, or returns nil when `settings.admin.port` is 0 (disabled). Throws
    /// when the port cannot be bound: a rankd nobody can scrape or probe should not start.
    static func start(
        settings: RankdSettings,
        operations: Operations,
        activeSettings: @escaping @Sendable () -> RankdSettings,
        reload: (@Sendable () -> (ok: Bool, message: String))?
    ) throws -> AdminServer? {
        guard settings.admin.port != 0 else { return nil }
        let routes = AdminRoutes.make(
            operations: operations,
            configuration: { describe(activeSettings()) },
            reload: reload
        )
        let admin = AdminServer(host: settings.server.host, port: settings.admin.port, routes: routes)
        do {
            try admin.start()
        } catch {
            admin.stop()
            throw AdminPortError(
                message: "cannot serve the admin port on \(settings.server.host):\(settings.admin.port): \(error) "
                    + "(choose another with --admin-port, or 0 to disable it)"
            )
        }
        return admin
    }

    struct AdminPortError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// The settings as a JSON object: every section by its file keys, and the pipeline as the configuration file
    /// would hold it.
    static func describe(_ settings: RankdSettings) -> [String: Any] {
        var document: [String: Any] = [:]
        for child in Mirror(reflecting: settings).children {
            guard let label = child.label, label != "pipeline" else { continue }
            document[label] = plain(child.value)
        }
        if let pipeline = try? settings.effectivePipeline(),
            let data = try? JSONEncoder().encode(pipeline.config),
            let object = try? JSONSerialization.jsonObject(with: data)
        {
            document["pipeline"] = object
            document["pipelineDirectory"] = pipeline.directory ?? NSNull()
        }
        return document
    }

    /// A value as JSON can hold it: numbers, strings and booleans as they are, optionals unwrapped (null when nil),
    /// arrays element by element, enums by their raw value, structs as objects.
    static func plain(_ value: Any) -> Any {
        switch value {
        case let v as Bool: return v
        case let v as Int: return v
        case let v as Double: return v.isFinite ? v : String(describing: v)
        case let v as UInt64: return v
        case let v as Int32: return Int(v)
        case let v as UInt32: return Int(v)
        case let v as String: return v
        case let v as any RawRepresentable: return plain(v.rawValue)
        default: break
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            return mirror.children.first.map { plain($0.value) } ?? NSNull()
        case .collection, .set:
            return mirror.children.map { plain($0.value) }
        case .struct, .class:
            var object: [String: Any] = [:]
            for child in mirror.children {
                if let label = child.label { object[label] = plain(child.value) }
            }
            return object
        default:
            return String(describing: value)
        }
    }
}
