/// Where a Redis server listens: a host and a TCP port, written `redis://HOST:PORT` or `redis://HOST` (port 6379).
///
/// Nothing else is accepted: no other scheme (`rediss://` would promise TLS, which this client does not speak), no
/// user or password, no database number or other path, no query. An IPv6 address goes in brackets,
/// `redis://[::1]:6379`.
public struct RedisEndpoint: Hashable, Sendable, CustomStringConvertible {
    /// Redis's registered port, used when the endpoint names none.
    public static let defaultPort = 6379

    /// A host name or an IP address literal (an IPv6 one without its brackets).
    public let host: String
    /// The TCP port, 1...65535.
    public let port: Int

    /// An endpoint from its parts; a host that is empty or a port outside 1...65535 is a programmer's mistake.
    public init(host: String, port: Int = RedisEndpoint.defaultPort) {
        precondition(!host.isEmpty, "a Redis endpoint needs a host")
        precondition((1...65535).contains(port), "a Redis endpoint's port is 1...65535, not \(port)")
        self.host = host
        self.port = port
    }

    /// Parses `redis://HOST:PORT` or `redis://HOST`. Throws ``RedisError/invalidEndpoint(_:)`` naming what is wrong
    /// (the scheme, user information, a path, the host or the port) and the form that is expected.
    public init(parsing text: String) throws {
        let (host, port) = try Self.parse(text)
        self.host = host
        self.port = port
    }

    /// `redis://HOST:PORT`, with an IPv6 host in brackets; parses back to the same endpoint.
    public var description: String {
        host.contains(":") ? "redis://[\(host)]:\(port)" : "redis://\(host):\(port)"
    }

    private static let expectedForm = "expected redis://HOST or redis://HOST:PORT"

    private static func invalid(_ text: String, _ reason: String) -> RedisError {
        .invalidEndpoint("invalid Redis endpoint \"\(redacted(text))\": \(reason); \(expectedForm)")
    }

    /// The text with whatever comes before an '@' (a user and password) replaced, so no message repeats a secret.
    private static func redacted(_ text: String) -> String {
        guard let at = text.lastIndex(of: "@") else { return text }
        let start = text.range(of: "://").map(\.upperBound) ?? text.startIndex
        return String(text[..<start]) + "***" + String(text[at...])
    }

    private static func parse(_ text: String) throws -> (String, Int) {
        if text.isEmpty {
            throw RedisError.invalidEndpoint("invalid Redis endpoint: it is empty; \(expectedForm)")
        }
        guard let schemeEnd = text.range(of: "://") else {
            throw invalid(text, "it has no scheme")
        }
        let scheme = text[..<schemeEnd.lowerBound]
        let rest = text[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex(where: { "/?#".contains($0) }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        if authority.contains("@") {
            throw invalid(text, "it has user information before '@'; credentials are not supported here")
        }
        if text.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true }) {
            throw invalid(text, "it contains whitespace or a control character")
        }
        if scheme.lowercased() != "redis" {
            if scheme.lowercased() == "rediss" {
                throw invalid(text, "the scheme \"rediss\" asks for TLS, which this client does not support")
            }
            throw invalid(text, "the scheme is \"\(scheme)\", not \"redis\"")
        }
        if authorityEnd != rest.endIndex {
            let tail = rest[authorityEnd...]
            switch tail.first {
            case "/":
                throw invalid(text, "it has a path (\"\(tail)\"); database numbers and paths are not supported")
            case "?":
                throw invalid(text, "it has a query (\"\(tail)\"); options are not supported")
            default:
                throw invalid(text, "it has a fragment (\"\(tail)\")")
            }
        }

        let host: Substring
        let portText: Substring?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else {
                throw invalid(text, "the IPv6 address has no closing ']'")
            }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let afterHost = authority[authority.index(after: close)...]
            if afterHost.isEmpty {
                portText = nil
            } else if afterHost.first == ":" {
                portText = afterHost.dropFirst()
            } else {
                throw invalid(text, "the IPv6 address in brackets is followed by \"\(afterHost)\" instead of :PORT")
            }
            if host.isEmpty {
                throw invalid(text, "the host is empty")
            }
            guard host.contains(":"), host.allSatisfy({ $0.isASCII && ($0.isHexDigit || $0 == ":" || $0 == ".") })
            else {
                throw invalid(text, "\"\(host)\" in brackets is not an IPv6 address")
            }
        } else {
            let colons = authority.filter { $0 == ":" }.count
            if colons > 1 {
                throw invalid(text, "an IPv6 address goes in brackets, as in redis://[::1]:6379")
            }
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
                portText = nil
            }
            if host.isEmpty {
                throw invalid(text, "the host is empty")
            }
            if let bad = host.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || "-._".contains($0))) }) {
                throw invalid(text, "the host \"\(host)\" contains '\(bad)'; a host is a name or an IP address")
            }
            if host.utf8.count > 253 {
                throw invalid(text, "the host is longer than 253 characters")
            }
        }

        guard let portText else {
            return (String(host), defaultPort)
        }
        if portText.isEmpty {
            throw invalid(text, "the port after ':' is empty")
        }
        guard portText.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw invalid(text, "the port \"\(portText)\" is not a number")
        }
        guard portText.count <= 5, let port = Int(portText), (1...65535).contains(port) else {
            throw invalid(text, "the port \(portText) is out of range (1-65535)")
        }
        return (String(host), port)
    }
}
