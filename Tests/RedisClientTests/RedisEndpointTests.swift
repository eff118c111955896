import RedisClient
import RedisTestSupport
import Testing

@Suite("RedisEndpoint")
struct RedisEndpointTests {
    @Test(
        "accepts redis://HOST and redis://HOST:PORT",
        arguments: [
            ("redis://127.0.0.1:6379", "127.0.0.1", 6379),
            ("redis://localhost", "localhost", 6379),
            ("REDIS://Feature-Store.internal:7000", "Feature-Store.internal", 7000),
            ("redis://redis_1:1", "redis_1", 1),
            ("redis://h:65535", "h", 65535),
            ("redis://[::1]:6380", "::1", 6380),
            ("redis://[::1]", "::1", 6379),
            ("redis://[::ffff:127.0.0.1]:6379", "::ffff:127.0.0.1", 6379),
        ]
    )
    func accepts(text: String, host: String, port: Int) throws {
        let endpoint = try RedisEndpoint(parsing: text)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
        #expect(try RedisEndpoint(parsing: endpoint.description) == endpoint)
    }

    @Test(
        "rejects anything else with a message that names the problem",
        arguments: [
            ("", "it is empty"),
            ("127.0.0.1:6379", "it has no scheme"),
            ("http://h:6379", "the scheme is \"http\""),
            ("rediss://h:6379", "TLS"),
            ("redis://user@h:6379", "user information"),
            ("redis://user:hunter2@h:6379", "user information"),
            ("redis://:hunter2@h", "user information"),
            ("redis://h:6379/0", "it has a path (\"/0\")"),
            ("redis://h:6379/", "it has a path (\"/\")"),
            ("redis://h/0", "it has a path"),
            ("redis://h:6379?db=1", "it has a query"),
            ("redis://h#top", "it has a fragment"),
            ("redis://", "the host is empty"),
            ("redis://:6379", "the host is empty"),
            ("redis://[]:6379", "the host is empty"),
            ("redis://h:", "the port after ':' is empty"),
            ("redis://h:http", "the port \"http\" is not a number"),
            ("redis://h:-1", "is not a number"),
            ("redis://h:+1", "is not a number"),
            ("redis://h:0", "the port 0 is out of range (1-65535)"),
            ("redis://h:65536", "the port 65536 is out of range"),
            ("redis://h:99999999999999999999999", "out of range"),
            ("redis://::1:6379", "an IPv6 address goes in brackets"),
            ("redis://[::1:6379", "no closing ']'"),
            ("redis://[::1]6379", "instead of :PORT"),
            ("redis://[host]:6379", "is not an IPv6 address"),
            ("redis://fe%80:6379", "contains '%'"),
            ("redis://h st:6379", "whitespace"),
            (" redis://h:6379", "whitespace"),
            ("redis://h:6379\n", "whitespace"),
        ]
    )
    func rejects(text: String, expected: String) {
        let error = #expect(throws: RedisError.self) { try RedisEndpoint(parsing: text) }
        guard case .invalidEndpoint(let message)? = error else {
            Issue.record("expected invalidEndpoint, got \(String(describing: error))")
            return
        }
        #expect(message.contains(expected), "\(message)")
        #expect(message.contains("expected redis://HOST or redis://HOST:PORT"), "\(message)")
    }

    @Test("never repeats a password in its message")
    func redactsCredentials() {
        for text in ["redis://user:hunter2@h:6379", "redis://:hunter2@h", "hunter2@h:6379", "http://u:hunter2@h/x"] {
            let error = #expect(throws: RedisError.self) { try RedisEndpoint(parsing: text) }
            #expect(error?.message.contains("hunter2") == false, "\(String(describing: error))")
        }
    }

    @Test("describes itself in the form it parses")
    func description() {
        #expect(RedisEndpoint(host: "10.0.0.5").description == "redis://10.0.0.5:6379")
        #expect(RedisEndpoint(host: "::1", port: 7000).description == "redis://[::1]:7000")
    }
}
