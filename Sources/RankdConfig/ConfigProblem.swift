/// Where a setting's value came from: the place a problem with it is reported at.
public enum SettingOrigin: Sendable, Equatable, CustomStringConvertible {
    /// The built-in default.
    case builtIn
    /// A configuration file, at a line and column (1-based; 0 when unknown).
    case file(path: String, line: Int, column: Int)
    /// An environment variable, by name.
    case environment(String)
    /// A command-line flag, by name (with its dashes).
    case flag(String)

    /// `FILE:LINE:COL`, `environment RANKD_PORT`, `flag --port` or `default`.
    public var description: String {
        switch self {
        case .builtIn: return "default"
        case .file(let path, let line, let column): return line > 0 ? "\(path):\(line):\(column)" : path
        case .environment(let name): return "environment \(name)"
        case .flag(let name): return "flag \(name)"
        }
    }
}

/// One thing wrong with rankd's configuration, with where it is and which key it concerns.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible, Error {
    /// Where the offending value (or the mapping missing a key) is.
    public var origin: SettingOrigin
    /// Dotted key path from the top of the file, e.g. `surfaces.discovery.rerank.brandCap`; sequence elements by
    /// zero-based index (`surfaces.discovery.sources.2.quota`). Empty for the file as a whole.
    public var keyPath: String
    /// What is wrong, for a person; says what was expected and what was found.
    public var message: String

    /// A problem at `origin` with the key `keyPath`.
    public init(origin: SettingOrigin, keyPath: String, message: String) {
        self.origin = origin
        self.keyPath = keyPath
        self.message = message
    }

    /// `FILE:LINE:COL: key.path: message` (or `environment RANKD_PORT: server.port: message`).
    public var description: String {
        keyPath.isEmpty ? "\(origin): \(message)" : "\(origin): \(keyPath): \(message)"
    }
}

/// Problems found while reading a configuration, thrown when there is at least one.
public struct ConfigProblems: Error, Sendable, CustomStringConvertible {
    /// Every problem, in file order where there is one.
    public var problems: [ConfigProblem]

    /// Wraps `problems`.
    public init(_ problems: [ConfigProblem]) { self.problems = problems }

    /// One problem per line.
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}

/// "Did you mean ...?" for mistyped keys.
enum KeySuggestion {
    /// The known key closest to `key` when it is close enough to be a typo: the same letters ignoring case,
    /// underscores and dashes (`default_limit`), or within a small edit distance (`brandcap`, `defaultLimt`).
    static func nearest(to key: String, in known: [String]) -> String? {
        let folded = fold(key)
        if let same = known.first(where: { fold($0) == folded }) { return same }
        var best: (key: String, distance: Int)?
        for candidate in known {
            let distance = editDistance(folded, fold(candidate))
            if distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        guard let best else { return nil }
        let allowed = max(2, min(3, folded.count / 3))
        return best.distance <= allowed ? best.key : nil
    }

    private static func fold(_ key: String) -> [Character] {
        Array(key.lowercased().filter { $0 != "_" && $0 != "-" })
    }

    /// Levenshtein distance; keys are short, so the quadratic table is fine.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var row = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            row[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                row[j] = min(previous[j] + 1, row[j - 1] + 1, substitution)
            }
            swap(&previous, &row)
        }
        return previous[b.count]
    }
}
