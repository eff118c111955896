import Dispatch
import Foundation

extension ClientConnection {
    /// Calls a unary method and waits for the answer. Not for use on the connection's own loop thread.
    /// - Returns: the response message (nil unless the status is OK) and how the call ended.
    public func unary(_ request: ClientRequest) -> (response: [UInt8]?, result: ClientCallResult) {
        let collected = Collected()
        let result = call(request, collected: collected)
        return (result.status.code == .ok ? collected.messages.first : nil, result)
    }

    /// Calls a server-streaming method, passing each message to `onMessage` on the loop thread, and waits for the end.
    public func serverStreaming(
        _ request: ClientRequest, onMessage: @escaping @Sendable ([UInt8]) -> Void
    ) -> ClientCallResult {
        precondition(!loop.inEventLoop, "blocking calls would deadlock the connection's own loop")
        let done = DispatchSemaphore(value: 0)
        let box = Collected()
        startCall(
            request,
            handler: ClientCallHandler(
                onMessage: onMessage,
                onFinish: { result in
                    box.result = result
                    done.signal()
                }))
        done.wait()
        return box.result!
    }

    private func call(_ request: ClientRequest, collected: Collected) -> ClientCallResult {
        serverStreaming(request) { message in collected.messages.append(message) }
    }
}

/// Results handed from the loop thread to a waiting caller; the semaphore orders the accesses.
private final class Collected: @unchecked Sendable {
    var messages: [[UInt8]] = []
    var result: ClientCallResult?
}
