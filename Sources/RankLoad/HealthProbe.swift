import CRankingProto
import Foundation
import H2GRPC
import ProtoSupport

/// Waits for a server to say SERVING on grpc.health.v1.Health/Check, so a benchmark never measures a server that
/// is still loading its data (rankd answers NOT_SERVING until its model and catalog are ready).
public enum HealthProbe {
    /// Why the wait ended without SERVING.
    public struct NotServing: Error, CustomStringConvertible {
        /// The last thing the server (or the connection) said.
        public let description: String
    }

    /// Polls every 100 ms until the overall health is SERVING; throws when `timeoutNanoseconds` pass first.
    public static func waitUntilServing(host: String, port: Int, timeoutNanoseconds: UInt64) throws {
        let deadline = MonotonicClock.now() + timeoutNanoseconds
        var last = "no answer"
        var request = Grpc__Health__V1__HealthCheckRequest()
        grpc__health__v1__health_check_request__init(&request)
        let message = ProtoC.encode(&request)
        while MonotonicClock.now() < deadline {
            do {
                let connection = try ClientConnection(host: host, port: port, connectTimeoutMilliseconds: 1000)
                defer { connection.close() }
                while MonotonicClock.now() < deadline {
                    let (response, result) = connection.unary(
                        ClientRequest(path: RequestMix.healthPath, message: message, timeoutNanoseconds: 1_000_000_000)
                    )
                    if let response {
                        let decoded: DecodedMessage<Grpc__Health__V1__HealthCheckResponse> = try ProtoC.decode(
                            response,
                            as: grpc__health__v1__health_check_response__init
                        )
                        if decoded.message.status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING {
                            return
                        }
                        last = "health status \(decoded.message.status.rawValue) (not SERVING yet)"
                    } else {
                        last = "\(result.status)"
                        if connection.isClosed { break }
                    }
                    MonotonicClock.sleep(until: MonotonicClock.now() + 100_000_000)
                }
            } catch {
                last = "\(error)"
                MonotonicClock.sleep(until: MonotonicClock.now() + 100_000_000)
            }
        }
        throw NotServing(description: "\(host):\(port) was not SERVING in time; last: \(last)")
    }
}
