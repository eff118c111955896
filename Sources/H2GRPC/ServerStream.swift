import CNGHTTP2Shim
import Dispatch
import Foundation

/// The I/O side of one gRPC call on one HTTP/2 stream: feeds request bytes to the stream state machine, hands the
/// handler to its pool, and turns what the handler hands back into HEADERS, DATA and trailers.
///
/// The state machine judges the request side (headers, framing, limits, decompression). The response side is
/// tracked here with two flags, because response messages are framed and compressed on the worker thread that
/// produced them, not on this one; the header and trailer blocks still come from `ResponseHeaders`.
///
/// Flow control: the connection's nghttp2 session does not reopen windows by itself. Bytes of a message still
/// arriving are consumed at once (a message may be larger than a window), but the bytes of a complete message are
/// consumed only when its handler takes it, so a client that sends faster than its handler reads waits for
/// WINDOW_UPDATE instead of filling the server's memory. Every byte held is counted against the connection's and the
/// server's request budgets; a stream whose bytes would pass either is refused with RESOURCE_EXHAUSTED.
///
/// Loop thread only. The connection's stream table owns it from the first HEADERS frame until nghttp2 closes the
/// stream; the deadline timer and the handler's ``ServerCall`` keep it alive only until the call ends.
final class ServerStream {
    let id: Int32
    unowned let connection: ServerConnection
    /// When the first HEADERS frame arrived: queue time and latency budgets count from here.
    let arrival: DispatchTime
    private var headers: [(name: String, value: String)] = []
    /// Decoded size of the header list so far, as SETTINGS_MAX_HEADER_LIST_SIZE counts it (name + value + 32).
    private var headerListBytes = 0
    private var headerListTooLarge = false
    /// The server's SETTINGS_MAX_HEADER_LIST_SIZE, read once here rather than for every header field.
    private let maxHeaderListBytes: Int
    private var machine: ServerStreamStateMachine
    private var method: RPCMethod?
    private var costClass = 0
    private var call: ServerCall?
    private var request: [UInt8]?
    private var requestCount = 0
    private var responseStarted = false
    private var outbound: [UInt8] = []
    private var outboundOffset = 0
    private var pendingTrailers: [(String, String)]?
    private var dataDeferred = false
    private var finished = false
    private var isClosed = false
    private var countedAsActive = false
    private var deadlineTimer: LoopTimer?
    /// The call-metrics slot of this call's method once counted as started; -1 before and after its end is recorded.
    private var metricsMethod = -1
    /// Request and response message bytes as on the wire, without the 5-byte gRPC prefixes (gRFC A66's sizes).
    private var receivedMessageBytes = 0
    private var sentMessageBytes = 0
    /// Waiting for the connection's response backlog to drain before the handler may start.
    private(set) var isParked = false

    // Request bytes, for flow control and the buffer budgets.
    /// Bytes of this stream's request counted against the connection's and the server's budgets.
    private var heldRequestBytes = 0
    /// Bytes received and not yet returned to the client's windows with nghttp2_session_consume.
    private var unconsumedBytes = 0
    /// Wire bytes of complete messages that no handler has taken yet.
    private var untakenMessageBytes = 0

    // Replies mode (``RPCHandler/bidirectionalReplies``): requests waiting for their turn.
    private var replyBacklog: [(message: [UInt8], wireBytes: Int)] = []
    private var replyBacklogHead = 0
    private var replyRunning = false
    private var requestEnded = false

    init(id: Int32, connection: ServerConnection) {
        self.id = id
        self.connection = connection
        self.arrival = .now()
        headers.reserveCapacity(12)
        self.server = connection.server
        let config = server.configuration
        maxHeaderListBytes = Int(config.maxHeaderListSize)
        machine = ServerStreamStateMachine(
            configuration: .init(
                maxReceiveMessageSize: config.maxReceiveMessageSize,
                supportedCompression: [.identity, .gzip]
            )
        )
    }

    /// Held strongly: the server outlives every call, and reading it through the unowned connection on every event
    /// cost two reference checks each time.
    private let server: Server

    // MARK: Request side

    /// One header field. Past the header-list limit nothing more is kept: the decoded strings of a small, heavily
    /// HPACK-indexed block can be thousands of times its size.
    func receivedHeader(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        guard !headerListTooLarge else { return }
        headerListBytes += name.count + value.count + 32
        if headerListBytes > maxHeaderListBytes {
            headerListTooLarge = true
            headers = []
            return
        }
        // Two fields every client sends that nothing reads (both reserved, so never custom metadata): not kept.
        if Self.isIgnoredField(name) { return }
        headers.append((String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self)))
    }

    /// `:scheme` and `te`.
    static func isIgnoredField(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        switch name.count {
        case 2: return name[0] == UInt8(ascii: "t") && name[1] == UInt8(ascii: "e")
        case 7: return name.elementsEqual(":scheme".utf8)
        default: return false
        }
    }

    func receivedHeaders(endStream: Bool) {
        if headerListTooLarge {
            headerListTooLarge = false
            server.counters.add(\.headerListsRefused)
            let limit = server.configuration.maxHeaderListSize
            let status = GRPCStatus(
                .resourceExhausted,
                "request header list of over \(limit) bytes exceeds the server's limit of \(limit)"
            )
            call?.interrupt(.cancelled)
            countStarted(method: server.callMetrics.otherIndex)
            finish(status: status, trailers: Metadata())
            return
        }
        headerListBytes = 0
        if call != nil || finished {
            // Trailers from the client: gRPC gives them no meaning beyond ending the request stream.
            headers = []
            if endStream { receivedEndOfStream() }
            return
        }
        let requestHeaders = headers
        headers = []
        switch machine.receivedHeaders(requestHeaders, endStream: endStream) {
        case .rejectHTTP(let status, let message):
            rejectHTTP(status: status, message: message)
        case .rejectTrailersOnly(let status, let extraHeaders):
            countStarted(method: server.callMetrics.otherIndex)
            finish(status: status, trailers: Metadata(), extraHeaders: extraHeaders)
        case .fail(let status):
            countStarted(method: server.callMetrics.otherIndex)
            finish(status: status, trailers: Metadata())
        case .accept(let head):
            accept(head, endStream: endStream)
        }
    }

    private func accept(_ head: ServerStreamStateMachine.RequestHead, endStream: Bool) {
        let method: RPCMethod
        switch server.router.lookup(path: head.path) {
        case .found(let found, let index):
            method = found
            costClass = index
            countStarted(method: index)
        case .unknownService(let service):
            countStarted(method: server.callMetrics.otherIndex)
            finish(status: GRPCStatus(.unimplemented, "unknown service \(service)"), trailers: Metadata())
            return
        case .unknownMethod(let service, let name):
            countStarted(method: server.callMetrics.otherIndex)
            finish(
                status: GRPCStatus(.unimplemented, "unknown method \(name) for service \(service)"),
                trailers: Metadata()
            )
            return
        case .malformedPath(let path):
            countStarted(method: server.callMetrics.otherIndex)
            finish(status: GRPCStatus(.unimplemented, "malformed method path \"\(path)\""), trailers: Metadata())
            return
        }
        self.method = method
        // The deadline counts from the request's arrival, as the client's does.
        let deadline = head.deadlineNanoseconds.map { arrival + .nanoseconds(Int(clamping: $0)) }
        let call = ServerCall(
            path: head.path,
            requestMetadata: head.metadata,
            deadline: deadline,
            peer: connection.peer,
            loop: connection.loop,
            requestEncoding: head.requestEncoding,
            clientAcceptsGzip: head.acceptedEncodings.contains(.gzip),
            arrival: arrival,
            sendMayWait: method.executor == .blocking
        )
        call.stream = self
        self.call = call
        countedAsActive = true
        server.callStarted()
        if let nanoseconds = head.deadlineNanoseconds {
            let remaining =
                Int64(clamping: nanoseconds) - Int64(DispatchTime.now().uptimeNanoseconds - arrival.uptimeNanoseconds)
            scheduleDeadline(afterNanoseconds: remaining)
        }
        if case .serverStreamingSubscription = method.handler { connection.subscriptionStarted(self) }
        switch method.handler {
        case .clientStreaming, .bidirectionalStreaming: startHandler()
        default: break
        }
        if endStream { receivedEndOfStream() }
    }

    func receivedData(_ bytes: UnsafeRawBufferPointer) {
        guard call != nil, !finished else {
            // Nobody will read these: give the window back at once.
            connection.consume(streamID: id, bytes: bytes.count)
            return
        }
        guard connection.reserveRequestBytes(bytes.count) else {
            connection.consume(streamID: id, bytes: bytes.count)
            server.counters.add(\.requestsRefusedBuffer)
            call?.interrupt(.cancelled)
            finish(
                status: GRPCStatus(
                    .resourceExhausted,
                    "the server is buffering as many request bytes as it allows (connection limit "
                        + "\(server.configuration.maxConnectionRequestBytes), server limit "
                        + "\(server.configuration.maxServerRequestBytes)); retry later"
                ),
                trailers: Metadata()
            )
            return
        }
        heldRequestBytes += bytes.count
        unconsumedBytes += bytes.count
        let partialBefore = machine.partialMessageByteCount
        let action = machine.receivedData(bytes, endStream: false)
        if case .messages(let messages, _) = action, !messages.isEmpty {
            // The wire bytes of the messages this chunk completed, shared among them.
            let completed = max(0, partialBefore + bytes.count - machine.partialMessageByteCount)
            handle(action, wireBytes: completed)
        } else {
            handle(action, wireBytes: 0)
        }
        returnPartialMessageWindow()
    }

    func receivedEndOfStream() {
        guard call != nil, !finished else { return }
        handle(machine.receivedData(UnsafeRawBufferPointer(start: nil, count: 0), endStream: true), wireBytes: 0)
    }

    /// Consumes what is not held as a complete, untaken message: the bytes of a message still arriving must not wait
    /// for a window that only its completion would reopen.
    private func returnPartialMessageWindow() {
        let excess = unconsumedBytes - untakenMessageBytes
        if excess > 0 {
            unconsumedBytes -= excess
            connection.consume(streamID: id, bytes: excess)
        }
    }

    /// A handler took a message of `wireBytes`: its bytes leave the budgets and the window reopens. Loop thread.
    func requestMessageTaken(wireBytes: Int) {
        guard !isClosed else { return }
        untakenMessageBytes = max(0, untakenMessageBytes - wireBytes)
        let released = min(wireBytes, heldRequestBytes)
        heldRequestBytes -= released
        connection.releaseRequestBytes(released)
        returnPartialMessageWindow()
    }

    /// The call will send nothing more: stops the deadline timer, leaves the connection's park list and subscription
    /// table, and gives the request bytes back. Idempotent; finishing, a refused response and closing all end here.
    private func releaseCallResources() {
        deadlineTimer?.cancel()
        deadlineTimer = nil
        if isParked {
            isParked = false
            connection.unpark(self)
        }
        connection.subscriptionEnded(self)
        releaseRequest()
    }

    /// Releases every request byte this stream holds and gives back every unconsumed one.
    private func releaseRequest() {
        connection.releaseRequestBytes(heldRequestBytes)
        heldRequestBytes = 0
        untakenMessageBytes = 0
        if unconsumedBytes > 0 {
            connection.consume(streamID: id, bytes: unconsumedBytes)
            unconsumedBytes = 0
        }
    }

    private func handle(_ action: ServerStreamStateMachine.DataAction, wireBytes: Int) {
        guard let call, let method else { return }
        switch action {
        case .fail(let status):
            call.interrupt(.cancelled)
            finish(status: status, trailers: Metadata())
        case .messages(let messages, let endOfInput):
            receivedMessageBytes += max(0, wireBytes - MessageFraming.headerSize * messages.count)
            let share = messages.isEmpty ? 0 : wireBytes / messages.count
            var remainder = messages.isEmpty ? 0 : wireBytes - share * messages.count
            untakenMessageBytes += wireBytes
            switch method.handler {
            case .unary, .serverStreaming, .serverStreamingSubscription:
                for message in messages {
                    requestCount += 1
                    request = message
                }
                guard endOfInput else { return }
                if requestCount != 1 {
                    let problem = requestCount == 0 ? "no request message" : "\(requestCount) request messages"
                    finish(
                        status: GRPCStatus(.internal, "\(problem) for a method that takes exactly one"),
                        trailers: Metadata()
                    )
                    return
                }
                startHandler()
            case .bidirectionalReplies:
                for message in messages {
                    replyBacklog.append((message, share + remainder))
                    remainder = 0
                }
                if endOfInput { requestEnded = true }
                pumpReplies()
            case .clientStreaming, .bidirectionalStreaming:
                for message in messages {
                    call.deliver(message, wireBytes: share + remainder)
                    remainder = 0
                }
                if endOfInput { call.finishInput() }
            }
        }
    }

    // MARK: Running the handler

    /// Hands the handler to its pool, or runs it here for I/O-thread methods, or at the end of this loop iteration's
    /// reads for a call that may run inline (``RPCMethod/runsInlineWhenIdle``). Waits (parked on the connection) while
    /// the connection's responses are piling up unread.
    func startHandler() {
        guard let call, let method, !finished, !isClosed else { return }
        if method.executor != .ioThread && connection.isOverResponseBudget {
            isParked = true
            connection.park(self)
            return
        }
        isParked = false
        let request = self.request ?? []
        self.request = nil
        if method.executor == .ioThread, case .unary(let body) = method.handler {
            let outcome = Self.capture { try body(call, request) }
            let (headers, encoding, trailers) = call.takeHeadersForFinish()
            let message = outcome.response.map { ServerCall.frame($0, gzip: encoding == .gzip) }
            finish(
                status: outcome.status,
                trailers: trailers,
                headers: headers,
                encoding: encoding,
                finalMessage: message
            )
            return
        }
        let handler = method.handler
        let work: @Sendable () -> Void = { Self.run(handler, call: call, request: request) }
        if let mayRunInline = method.runsInlineWhenIdle, server.configuration.inlineCallMaxMilliseconds > 0,
            mayRunInline(call.requestMetadata),
            connection.loop.deferToEndOfReads({ [self] in startDeferred(work) })
        {
            return
        }
        submit(executor: method.executor, work)
    }

    /// The end of the reads that brought a call that may run inline: runs it here if the pool is still idle and its
    /// method cheap enough, queues it otherwise.
    private func startDeferred(_ work: @escaping @Sendable () -> Void) {
        guard let job = makeJob(work) else { return }
        let limit = UInt64(server.configuration.inlineCallMaxMilliseconds * 1e6)
        if !finished && !isClosed && server.cpuPool.runInline(job, costAtMost: limit) { return }
        enqueue(job, on: server.cpuPool)
    }

    /// Queues `work` on the pool; a refusal (overload, draining, deadline) ends the call at once.
    private func submit(executor: RPCMethod.Executor, _ work: @escaping @Sendable () -> Void) {
        guard let job = makeJob(work) else { return }
        enqueue(job, on: executor == .blocking ? server.blockingPool : server.cpuPool)
    }

    /// Queues this call's `job` on `pool`; a refusal ends the call at once.
    private func enqueue(_ job: WorkerPool.Job, on pool: WorkerPool) {
        guard let refusal = pool.submit(job) else { return }
        call?.interrupt(.cancelled)
        finish(status: refusal, trailers: Metadata())
    }

    /// The pool job that runs `work` for this call; a job dropped from the queue ends the call with its status.
    private func makeJob(_ work: @escaping @Sendable () -> Void) -> WorkerPool.Job? {
        guard let call else { return nil }
        let loop = connection.loop
        return WorkerPool.Job(
            arrival: arrival.uptimeNanoseconds,
            deadline: call.deadline?.uptimeNanoseconds,
            criticality: call.criticality,
            costClass: costClass,
            isAbandoned: { call.interruptionReason != nil },
            run: work,
            reject: { [self] status in
                loop.execute { [self] in
                    call.interrupt(.cancelled)
                    finish(status: status, trailers: Metadata())
                }
            }
        )
    }

    /// Runs a handler (on a pool thread, or on the loop's own for a call run inline) and hands the outcome back to the
    /// loop in one task.
    private static func run(_ handler: RPCHandler, call: ServerCall, request: [UInt8]) {
        var response: [UInt8]?
        var status = GRPCStatus.ok
        switch handler {
        case .unary(let body):
            (response, status) = capture { try body(call, request) }
        case .clientStreaming(let body):
            (response, status) = capture { try body(call) }
        case .serverStreaming(let body):
            call.allowHoldingMessages()
            status = capture { try body(call, request) }.status
        case .bidirectionalStreaming(let body):
            status = capture { try body(call) }.status
        case .serverStreamingSubscription(let body):
            // The stream stays open once the body has subscribed; only a failure ends it here.
            status = capture { try body(call, request) }.status
            if status.code == .ok { return }
        case .bidirectionalReplies:
            return
        }
        // A call that was interrupted ends for that reason, whatever the handler made of it: a deadline is always
        // DEADLINE_EXCEEDED, never the CANCELLED a handler's own check may have thrown.
        if let interruption = call.interruptionReason {
            status = ServerCall.status(for: interruption)
            response = nil
        }
        // Messages the handler held go out first, in the task that ends the call.
        let held = call.takeHeldMessages()
        let (headers, encoding, trailers) = call.takeHeadersForFinish()
        let message = response.map { ServerCall.frame($0, gzip: encoding == .gzip) }
        let stream = call.stream!
        call.loop.execute {
            for message in held {
                stream.sendMessage(message.framed, headers: message.headers, encoding: message.encoding)
            }
            stream.finish(
                status: status,
                trailers: trailers,
                headers: headers,
                encoding: encoding,
                finalMessage: message
            )
        }
    }

    private static func capture<T>(_ body: () throws -> T) -> (response: T?, status: GRPCStatus) {
        do {
            return (try body(), .ok)
        } catch let status as GRPCStatus {
            return (nil, status)
        } catch {
            return (nil, GRPCStatus(.unknown, "handler failed: \(error)"))
        }
    }

    /// Replies mode: starts the reply to the next waiting request unless one is running; ends the call once the
    /// client has ended its side and every request has its reply.
    private func pumpReplies() {
        guard let call, let method, case .bidirectionalReplies(let body) = method.handler, !finished, !isClosed,
            !replyRunning
        else { return }
        guard replyBacklogHead < replyBacklog.count else {
            replyBacklog.removeAll(keepingCapacity: true)
            replyBacklogHead = 0
            if requestEnded {
                let (headers, encoding, trailers) = call.takeHeadersForFinish()
                finish(status: .ok, trailers: trailers, headers: headers, encoding: encoding)
            }
            return
        }
        let (message, wireBytes) = replyBacklog[replyBacklogHead]
        replyBacklog[replyBacklogHead] = ([], 0)
        replyBacklogHead += 1
        requestMessageTaken(wireBytes: wireBytes)
        replyRunning = true
        let loop = connection.loop
        submit(executor: .cpu) { [self] in
            var failure: GRPCStatus?
            do {
                try call.send(try body(call, message))
            } catch let status as GRPCStatus {
                failure = status
            } catch {
                failure = GRPCStatus(.unknown, "handler failed: \(error)")
            }
            if let interruption = call.interruptionReason { failure = ServerCall.status(for: interruption) }
            loop.execute { [self] in replyFinished(failure) }
        }
    }

    private func replyFinished(_ failure: GRPCStatus?) {
        replyRunning = false
        if let failure, let call {
            let trailers = call.takeHeadersForFinish().trailers
            finish(status: failure, trailers: trailers)
            return
        }
        pumpReplies()
    }

    // MARK: Response side (loop thread)

    /// Queues a framed response message from ``ServerCall/send(_:compress:)``.
    func sendMessage(_ framed: [UInt8], headers: Metadata?, encoding: MessageCompression) {
        guard !finished, !isClosed else {
            call?.drained(framed.count)
            return
        }
        if !responseStarted {
            guard submitResponse(metadata: headers ?? Metadata(), encoding: encoding) else {
                call?.drained(framed.count)
                return
            }
        }
        outbound.append(contentsOf: framed)
        sentMessageBytes += max(0, framed.count - MessageFraming.headerSize)
        connection.responseBytesQueued(framed.count)
        resumeIfDeferred()
    }

    /// Ends the call with a status, after any queued messages. Later calls do nothing.
    func finish(
        status: GRPCStatus,
        trailers: Metadata,
        headers: Metadata? = nil,
        encoding: MessageCompression = .identity,
        finalMessage: [UInt8]? = nil,
        extraHeaders: [(String, String)] = []
    ) {
        guard !finished, !isClosed else { return }
        finished = true
        releaseCallResources()
        if let finalMessage { sentMessageBytes += max(0, finalMessage.count - MessageFraming.headerSize) }
        recordEnd(status.code)
        if status.code != .ok {
            server.log(
                .debug,
                "\(connection.peer) \(call?.path ?? "stream \(id)"): \(status)",
                metadata: call?.logMetadata ?? []
            )
        }
        guard connection.sessionPointer != nil else { return }
        let limit = connection.maxResponseHeaderListSize
        if !responseStarted && finalMessage == nil && outbound.count == outboundOffset {
            sendTrailersOnly(status: status, metadata: trailers, extraHeaders: extraHeaders)
            return
        }
        if !responseStarted {
            guard submitResponse(metadata: headers ?? Metadata(), encoding: encoding) else { return }
        }
        if let finalMessage {
            outbound.append(contentsOf: finalMessage)
            connection.responseBytesQueued(finalMessage.count)
        }
        var block = ResponseHeaders.trailers(status: status, metadata: trailers)
        let size = ResponseHeaders.listSize(block)
        if size > limit {
            server.counters.add(\.responsesRefused)
            block = ResponseHeaders.trailers(status: Self.oversized("trailing", size: size, limit: limit))
        }
        pendingTrailers = block
        resumeIfDeferred()
        connection.loop.markDirty(connection)
    }

    /// Trailers-Only: one HEADERS frame with END_STREAM carries the status; metadata that would make the block too
    /// large for the client is replaced by an INTERNAL status that says so.
    private func sendTrailersOnly(status: GRPCStatus, metadata: Metadata, extraHeaders: [(String, String)]) {
        guard let session = connection.sessionPointer else { return }
        let limit = connection.maxResponseHeaderListSize
        var pairs = ResponseHeaders.trailersOnly(status: status, metadata: metadata, extraHeaders: extraHeaders)
        let size = ResponseHeaders.listSize(pairs)
        if size > limit {
            server.counters.add(\.responsesRefused)
            pairs = ResponseHeaders.trailersOnly(status: Self.oversized("response", size: size, limit: limit))
        }
        let result = HeaderBlock.withNameValues(pairs) { nva, count in
            nghttp2_submit_response(session, id, nva, count, nil)
        }
        responseStarted = true
        if result != 0 { resetStream() }
        connection.loop.markDirty(connection)
    }

    // MARK: Call metrics

    private func countStarted(method: Int) {
        guard metricsMethod == -1 else { return }
        metricsMethod = method
        connection.callTally.callStarted(method: method)
    }

    /// Records the call's end once: its duration from the request headers, its status and its message sizes.
    private func recordEnd(_ code: GRPCStatus.Code) {
        guard metricsMethod >= 0 else { return }
        let nanoseconds = Int64(clamping: DispatchTime.now().uptimeNanoseconds &- arrival.uptimeNanoseconds)
        connection.callTally.callEnded(
            server.callMetrics,
            method: metricsMethod,
            code: code,
            nanoseconds: nanoseconds,
            receivedBytes: receivedMessageBytes,
            sentBytes: sentMessageBytes
        )
        let every = server.accessLogEvery
        if every > 0 && connection.countForAccessLog() % every == 0 {
            let label = server.callMetrics.methodLabels[metricsMethod]
            var fields = call?.logMetadata ?? [("method", label)]
            fields += [
                ("grpc_status", code.name), ("duration_ms", String(format: "%.3f", Double(nanoseconds) / 1e6)),
                ("peer", connection.peer), ("request_bytes", String(receivedMessageBytes)),
                ("response_bytes", String(sentMessageBytes)),
            ]
            server.log(.info, "call \(label) \(code.name)", metadata: fields)
        }
        metricsMethod = -2
    }

    static func oversized(_ what: String, size: Int, limit: Int) -> GRPCStatus {
        GRPCStatus(.internal, "\(what) metadata of \(size) bytes exceeds the limit of \(limit) bytes; it was not sent")
    }

    private func rejectHTTP(status: Int, message: String) {
        guard !finished, let session = connection.sessionPointer else { return }
        finished = true
        server.log(.debug, "\(connection.peer): HTTP \(status): \(message)")
        let pairs = ResponseHeaders.httpRejection(status: status, message: message)
        let result = HeaderBlock.withNameValues(pairs) { nva, count in
            nghttp2_submit_response(session, id, nva, count, nil)
        }
        responseStarted = true
        if result != 0 { resetStream() }
        connection.loop.markDirty(connection)
    }

    /// Submits the response headers with a body to follow. When the metadata makes the block too large, the call
    /// fails instead: Trailers-Only INTERNAL, the handler told to stop, queued messages dropped. Returns whether the
    /// headers went.
    private func submitResponse(metadata: Metadata, encoding: MessageCompression) -> Bool {
        guard let session = connection.sessionPointer else { return false }
        let (pairs, size) = connection.initialHeaders(metadata: metadata, encoding: encoding)
        let limit = connection.maxResponseHeaderListSize
        if size > limit {
            server.counters.add(\.responsesRefused)
            call?.interrupt(.cancelled)
            dropOutbound()
            finished = true
            releaseCallResources()
            recordEnd(.internal)
            sendTrailersOnly(
                status: Self.oversized("response", size: size, limit: limit),
                metadata: Metadata(),
                extraHeaders: []
            )
            return false
        }
        var provider = nghttp2_data_provider()
        provider.source.ptr = Unmanaged.passUnretained(self).toOpaque()
        provider.read_callback = readResponseBody
        let result = HeaderBlock.withNameValues(pairs) { nva, count in
            nghttp2_submit_response(session, id, nva, count, &provider)
        }
        responseStarted = true
        connection.loop.markDirty(connection)
        if result != 0 {
            resetStream()
            return false
        }
        return true
    }

    /// Ends the stream with RST_STREAM(INTERNAL_ERROR) when a response cannot be sent at all, so that the call never
    /// hangs waiting for frames that will not come.
    func resetStream() {
        guard let session = connection.sessionPointer, !isClosed else { return }
        call?.interrupt(.cancelled)
        finished = true
        nghttp2_submit_rst_stream(
            session,
            UInt8(NGHTTP2_FLAG_NONE.rawValue),
            id,
            UInt32(NGHTTP2_INTERNAL_ERROR.rawValue)
        )
        connection.loop.markDirty(connection)
    }

    private func resumeIfDeferred() {
        guard dataDeferred, let session = connection.sessionPointer else { return }
        dataDeferred = false
        nghttp2_session_resume_data(session, id)
        connection.loop.markDirty(connection)
    }

    private func dropOutbound() {
        let unsent = outbound.count - outboundOffset
        if unsent > 0 {
            connection.responseBytesQueued(-unsent)
            call?.drained(unsent)
        }
        outbound = []
        outboundOffset = 0
    }

    /// nghttp2 asks for up to `length` bytes of the response body.
    fileprivate func readBody(
        into buffer: UnsafeMutablePointer<UInt8>,
        length: Int,
        flags: UnsafeMutablePointer<UInt32>
    )
        -> Int
    {
        let available = outbound.count - outboundOffset
        let count = min(available, length)
        if count > 0 {
            outbound.withUnsafeBytes { bytes in
                UnsafeMutableRawPointer(buffer).copyMemory(from: bytes.baseAddress! + outboundOffset, byteCount: count)
            }
            outboundOffset += count
            connection.responseBytesQueued(-count)
            call?.drained(count)
            if outboundOffset == outbound.count {
                outbound.removeAll(keepingCapacity: outbound.capacity <= 1 << 20)
                outboundOffset = 0
            }
        }
        if outboundOffset == outbound.count, let trailers = pendingTrailers, let session = connection.sessionPointer {
            pendingTrailers = nil
            flags.pointee |= UInt32(NGHTTP2_DATA_FLAG_EOF.rawValue) | UInt32(NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue)
            let result = HeaderBlock.withNameValues(trailers) { nva, count in
                nghttp2_submit_trailer(session, id, nva, count)
            }
            if result != 0 { resetStream() }
            return count
        }
        if count == 0 {
            dataDeferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        return count
    }

    // MARK: Lifetime

    private func scheduleDeadline(afterNanoseconds nanoseconds: Int64) {
        // The timer holds the stream until it fires or is cancelled when the call ends (finish or close).
        deadlineTimer = connection.loop.scheduleTimer(afterNanoseconds: nanoseconds) { [self] in deadlinePassed() }
    }

    private func deadlinePassed() {
        guard !finished, !isClosed, let call else { return }
        call.interrupt(.deadlineExceeded)
        server.log(.debug, "\(connection.peer) \(call.path): deadline exceeded, handler told to stop")
        let trailers = call.takeHeadersForFinish().trailers
        finish(status: ServerCall.status(for: .deadlineExceeded), trailers: trailers)
    }

    /// Whether this call is a subscription still open (for shutdown, which ends them rather than waiting).
    var isOpenSubscription: Bool {
        guard !finished, !isClosed, let method, case .serverStreamingSubscription = method.handler else { return false }
        return true
    }

    /// nghttp2 closed the stream: normally after our END_STREAM, or early on the client's RST_STREAM.
    func closed(errorCode: UInt32) {
        guard !isClosed else { return }
        isClosed = true
        machine.streamClosed()
        releaseCallResources()
        dropOutbound()
        replyBacklog = []
        if let call, !finished {
            call.interrupt(.cancelled)
            recordEnd(.cancelled)
            server.log(
                .debug,
                "\(connection.peer) \(call.path): cancelled by the client (error code \(errorCode))",
                metadata: call.logMetadata
            )
        } else if let call {
            // A handler still running after a deadline reply or an early error must stop too.
            call.interrupt(.cancelled)
        }
        call?.terminate()
        if countedAsActive {
            countedAsActive = false
            server.callEnded()
        }
        call = nil
    }

    /// The connection went away with this stream open.
    func connectionLost() {
        closed(errorCode: UInt32(NGHTTP2_CANCEL.rawValue))
    }
}

private let readResponseBody: nghttp2_data_source_read_callback = { _, _, buffer, length, flags, source, _ in
    guard let source, let pointer = source.pointee.ptr, let buffer, let flags else {
        return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue)
    }
    let stream = Unmanaged<ServerStream>.fromOpaque(pointer).takeUnretainedValue()
    return stream.readBody(into: buffer, length: length, flags: flags)
}
