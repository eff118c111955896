import H2GRPC
import Tracing

/// Reads a header of the request metadata for the tracer's propagation (W3C `traceparent`, `tracestate`, ...).
struct MetadataExtractor: Extractor {
    func extract(key: String, from carrier: Metadata) -> String? {
        carrier.first(key.lowercased())
    }
}

/// The server span of one call through swift-distributed-tracing: the tracer extracts the caller's context from the
/// request metadata, a span named after the method covers the handler, and the pipeline's stage spans nest under it
/// (it is the current context while `body` runs). With the default no-op tracer `body` just runs.
enum RequestTracing {
    static func traced<T>(_ call: ServerCall, _ operation: String, _ body: () throws -> T) rethrows -> T {
        let tracer = InstrumentationSystem.tracer
        if tracer is NoOpTracer { return try body() }
        var context = InstrumentationContext.topLevel
        InstrumentationSystem.instrument.extract(call.requestMetadata, into: &context, using: MetadataExtractor())
        let span = tracer.startAnySpan(
            operation,
            context: context,
            ofKind: .server,
            at: DefaultTracerClock.now,
            function: #function,
            file: #fileID,
            line: #line
        )
        defer { span.end() }
        span.attributes["rpc.system"] = "grpc"
        span.attributes["rpc.method"] = operation
        do {
            return try InstrumentationContext.withValue(span.context) { try body() }
        } catch {
            span.recordError(error)
            throw error
        }
    }
}
