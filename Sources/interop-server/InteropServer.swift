import ArgumentParser
import Foundation
import GRPCStandardServices
import H2GRPC

/// The gRPC interop test server (grpc.testing.TestService) on rankd's RPC library, so the gRPC project's own
/// interop clients can check it.
@main
struct InteropServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "interop-server", abstract: "gRPC interop TestService on rankd's HTTP/2 stack.")

    @Option(help: "Port to listen on; 0 picks a free one.")
    var port = 10000

    @Option(help: "Address to listen on.")
    var host = "127.0.0.1"

    @Option(name: .customLong("use_tls"), help: "Accepted for compatibility with grpc's interop servers; must be false.")
    var useTLS = "false"

    @Option(help: "I/O threads (default: one per usable core).")
    var ioThreads: Int?

    @Option(help: "Log level: debug, info, warning, error.")
    var logLevel = "info"

    mutating func run() throws {
        guard useTLS == "false" else { throw ValidationError("TLS is not supported; run with --use_tls=false") }
        guard let level = LogLevel(name: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
        let signals = try TerminationSignals.block()
        var configuration = ServerConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.logLevel = level
        if let ioThreads { configuration.ioThreads = ioThreads }
        let health = HealthService(services: ["grpc.testing.TestService"])
        let reflection = try ReflectionService(services: [
            "grpc.testing.TestService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ])
        let server = try Server(
            configuration: configuration,
            services: [TestService.definition, health.definition] + reflection.definitions)
        try server.start()
        health.setAll(.serving)
        print("interop-server listening on \(host):\(server.port)")
        fflush(stdout)
        let signal = TerminationSignals.wait(signals)
        server.log(.info, "signal \(signal): shutting down")
        server.shutdown()
    }
}
