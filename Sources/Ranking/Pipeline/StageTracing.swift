import Tracing

/// Spans for the pipeline's stages through swift-distributed-tracing: each stage (candidates, features, score,
/// rerank) becomes a child span of the context current when the request started, named `rankd.<stage>`. With the
/// default no-op tracer none of this runs, so a process that exports no traces pays nothing per request.
final class StageTracing {
    private let tracer: any Tracer
    private let context: InstrumentationContext
    private var started: DefaultTracerClock.Instant

    private init(tracer: any Tracer, context: InstrumentationContext) {
        self.tracer = tracer
        self.context = context
        started = DefaultTracerClock.now
    }

    /// A recorder for one request, or nil when no tracer is bootstrapped.
    static func current() -> StageTracing? {
        let tracer = InstrumentationSystem.tracer
        if tracer is NoOpTracer { return nil }
        return StageTracing(tracer: tracer, context: InstrumentationContext.current ?? .topLevel)
    }

    /// Ends the stage that began at the previous lap (or at the start) and begins the next.
    func lap(_ stage: String) {
        let now = DefaultTracerClock.now
        let span = tracer.startAnySpan(
            "rankd.\(stage)",
            context: context,
            ofKind: .internal,
            at: started,
            function: #function,
            file: #fileID,
            line: #line
        )
        span.end(at: now)
        started = now
    }
}
