import Foundation

/// A folder of rotating log files, one record stream: `<prefix>-<UTC time>-<sequence>.<pb|jsonl>`. Names sort in the
/// order the files were written, so reading them in name order reads records in the order they were logged.
public struct LogDirectory: Sendable {
    /// The folder.
    public let path: String
    /// The stream's file name prefix: "exposures" or "events".
    public let prefix: String

    public init(path: String, prefix: String) {
        self.path = path
        self.prefix = prefix
    }

    /// The stream's files in the folder, oldest first, with their formats (other files are ignored).
    public func files() throws -> [(path: String, format: LogFormat)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw LogReadError(description: "cannot list the log folder \(path): \(error.localizedDescription)")
        }
        return names.sorted().compactMap { name in
            guard name.hasPrefix(prefix + "-") else { return nil }
            guard let format = LogFormat.allCases.first(where: { name.hasSuffix("." + $0.fileExtension) }) else {
                return nil
            }
            return ((path as NSString).appendingPathComponent(name), format)
        }
    }

    /// Every record of the stream, oldest file first; more than `limit` records is an error (what a reader holds in
    /// memory is bounded: split a long stretch by moving files to folders of their own).
    public func read<Record: LogRecord>(_ type: Record.Type = Record.self, limit: Int = Int.max) throws -> [Record] {
        var records: [Record] = []
        for file in try files() {
            guard let data = FileManager.default.contents(atPath: file.path) else {
                throw LogReadError(description: "cannot read \(file.path)")
            }
            records += try LogCoding.records([UInt8](data), format: file.format, file: file.path) as [Record]
            if records.count > limit {
                throw LogReadError(
                    description: "more than \(limit) \(prefix) records in \(path) (read up to \(file.path)); "
                        + "analyse fewer files at a time, or raise the limit"
                )
            }
        }
        return records
    }
}

/// Appends to the current file of a ``LogDirectory`` and starts a new one when the current one reaches its size or
/// age limit. Not thread-safe: the log's writer thread owns it.
final class RotatingFile {
    let directory: LogDirectory
    let format: LogFormat
    let maxBytes: Int
    let maxAgeSeconds: Double
    private var handle: FileHandle?
    private var written = 0
    private var opened = Date.distantPast
    private var sequence = 0

    init(directory: LogDirectory, format: LogFormat, maxBytes: Int, maxAgeSeconds: Double) throws {
        self.directory = directory
        self.format = format
        self.maxBytes = max(1, maxBytes)
        self.maxAgeSeconds = maxAgeSeconds
        var isFolder: ObjCBool = false
        if !FileManager.default.fileExists(atPath: directory.path, isDirectory: &isFolder) {
            try FileManager.default.createDirectory(atPath: directory.path, withIntermediateDirectories: true)
        } else if !isFolder.boolValue {
            throw LogReadError(description: "\(directory.path) is a file, not a folder")
        }
        guard FileManager.default.isWritableFile(atPath: directory.path) else {
            throw LogReadError(description: "cannot write to the log folder \(directory.path)")
        }
    }

    /// Appends whole records (a batch never spans two files, so a file holds only whole records).
    func append(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        let now = Date()
        if handle == nil || written >= maxBytes || now.timeIntervalSince(opened) >= maxAgeSeconds {
            try rotate(now)
        }
        do {
            try bytes.withUnsafeBytes { try handle!.write(contentsOf: $0) }
        } catch {
            // Part of the batch may be in the file: closed here, it is that file's last record, which readers skip
            // as cut short, and the next batch starts a new file.
            close()
            throw error
        }
        written += bytes.count
    }

    /// Closes the current file (the next append opens a new one).
    func close() {
        try? handle?.synchronize()
        try? handle?.close()
        handle = nil
    }

    private func rotate(_ now: Date) throws {
        close()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        var path: String
        repeat {
            sequence += 1
            let name = "\(directory.prefix)-\(formatter.string(from: now))-\(String(format: "%06d", sequence))"
            path = (directory.path as NSString).appendingPathComponent(name + "." + format.fileExtension)
        } while FileManager.default.fileExists(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: nil),
            let opened = FileHandle(forWritingAtPath: path)
        else {
            throw LogReadError(description: "cannot create \(path)")
        }
        handle = opened
        written = 0
        self.opened = now
    }
}
