import Foundation

/// A matrix of feature rows shared by the Swift and the Python side of `Scripts/bench-scoring.sh`: `PREFIX.f64`
/// holds the values row-major as little-endian float64 (NaN = missing, exactly as the feature join produced them),
/// `PREFIX.json` names the columns. Raw doubles rather than CSV so both sides read bit-identical inputs.
struct FeatureRowFile {
    /// What `PREFIX.json` holds.
    struct Header: Codable {
        var format: String
        var featureNames: [String]
        var rows: Int
        var requests: Int
        var description: String

        enum CodingKeys: String, CodingKey {
            case format
            case featureNames = "feature_names"
            case rows
            case requests
            case description
        }
    }

    static let formatName = "rankd-feature-rows-v1"

    var header: Header
    /// `header.rows * header.featureNames.count` values, row-major.
    var values: [Double]

    static func dataPath(_ prefix: String) -> String { prefix + ".f64" }
    static func headerPath(_ prefix: String) -> String { prefix + ".json" }

    func write(prefix: String) throws {
        precondition(values.count == header.rows * header.featureNames.count, "header does not match the values")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(header).write(to: URL(fileURLWithPath: Self.headerPath(prefix)))
        // Little-endian on every platform rankd runs on (x86-64, arm64); the Python side reads '<f8'.
        let data = values.withUnsafeBufferPointer { Data(buffer: $0) }
        try data.write(to: URL(fileURLWithPath: Self.dataPath(prefix)))
    }

    static func read(prefix: String) throws -> FeatureRowFile {
        let header: Header
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: headerPath(prefix)))
            header = try JSONDecoder().decode(Header.self, from: data)
        } catch {
            throw BenchError("cannot read \(headerPath(prefix)): \(error)")
        }
        guard header.format == formatName else {
            throw BenchError("\(headerPath(prefix)) has format \"\(header.format)\", expected \"\(formatName)\"")
        }
        guard header.rows > 0, !header.featureNames.isEmpty else {
            throw BenchError("\(headerPath(prefix)) describes an empty matrix")
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: dataPath(prefix)))
        } catch {
            throw BenchError("cannot read \(dataPath(prefix)): \(error)")
        }
        let count = header.rows * header.featureNames.count
        guard data.count == count * MemoryLayout<Double>.size else {
            throw BenchError(
                "\(dataPath(prefix)) holds \(data.count) bytes; \(header.rows) rows of "
                    + "\(header.featureNames.count) doubles need \(count * MemoryLayout<Double>.size)"
            )
        }
        let values = [Double](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = data.copyBytes(to: buffer)
            initialized = count
        }
        return FeatureRowFile(header: header, values: values)
    }

    /// The rows with their columns reordered to `names` (a model's feature order); throws if a name is absent.
    func columns(_ names: [String]) throws -> [Double] {
        if names == header.featureNames { return values }
        let width = header.featureNames.count
        let sources = try names.map { name in
            guard let index = header.featureNames.firstIndex(of: name) else {
                throw BenchError("the rows have no column \"\(name)\" (they have \(header.featureNames))")
            }
            return index
        }
        var out = [Double](repeating: .nan, count: header.rows * names.count)
        for row in 0..<header.rows {
            for (j, source) in sources.enumerated() { out[row * names.count + j] = values[row * width + source] }
        }
        return out
    }
}

/// A benchmark run that cannot go on; printed as the message alone.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
