import Foundation

/// Reads a file in chunks, hashing every byte read, so a file of any size is checked in bounded memory.
struct ChunkedFile {
    static let chunkSize = 1 << 20

    private let handle: FileHandle
    private(set) var hash = SHA256()
    private(set) var bytesRead = 0
    private(set) var atEnd = false
    /// False for a second pass over a file whose checksum the first pass already took.
    var hashing = true

    /// Opens `path` for reading; throws when it cannot be opened.
    init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
    }

    /// The next chunk, or nil at the end of the file.
    mutating func read() throws -> [UInt8]? {
        var chunk: [UInt8] = []
        return try read(appendingTo: &chunk) ? chunk : nil
    }

    /// Appends the next chunk to `buffer`, read straight into its storage; false at the end of the file.
    mutating func read(appendingTo buffer: inout [UInt8]) throws -> Bool {
        guard !atEnd else { return false }
        let start = buffer.count
        let fd = handle.fileDescriptor
        var got = 0
        var failure: Int32 = 0
        buffer.append(contentsOf: repeatElement(0, count: ChunkedFile.chunkSize))
        buffer.withUnsafeMutableBytes { raw in
            while true {
                let n = systemRead(fd, raw.baseAddress! + start, ChunkedFile.chunkSize)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { failure = errno } else { got = n }
                return
            }
        }
        buffer.removeLast(ChunkedFile.chunkSize - got)
        if failure != 0 { throw POSIXError(POSIXErrorCode(rawValue: failure) ?? .EIO) }
        guard got > 0 else {
            atEnd = true
            return false
        }
        if hashing {
            buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[start..<(start + got)])) }
        }
        bytesRead += got
        return true
    }

    /// Reads to the end (hashing) and returns the file's SHA-256 in hex.
    mutating func finish() throws -> String {
        while try read() != nil {}
        try? handle.close()
        return SHA256.hex(hash.finalize())
    }

    /// Closes the file without reading the rest.
    func close() {
        try? handle.close()
    }
}

/// Splits a file into length-delimited records: each a base-128 varint byte count, then that many bytes.
///
/// A length prefix over `maxRecordBytes` is reported, not allocated: after it, record boundaries are lost, so the
/// reader stops splitting (but `finish()` still hashes the whole file for the checksum).
struct DelimitedRecordReader {
    /// What `next()` found.
    enum Next {
        case record([UInt8])
        case end
        /// The rest of the file cannot be split into records, for the reason given.
        case malformed(String)
    }

    let maxRecordBytes: Int
    private var file: ChunkedFile
    private var buffer: [UInt8] = []
    private var position = 0
    private var failed = false
    /// Records returned so far.
    private(set) var count = 0

    /// Opens `path`; with `hashing` false the file's checksum is not computed (a second pass over it).
    init(path: String, maxRecordBytes: Int, hashing: Bool = true) throws {
        self.maxRecordBytes = maxRecordBytes
        file = try ChunkedFile(path: path)
        file.hashing = hashing
    }

    /// Makes at least `needed` unread bytes available; false if the file ends first.
    private mutating func fill(_ needed: Int) throws -> Bool {
        while buffer.count - position < needed {
            if position > 0 {
                buffer.removeSubrange(0..<position)
                position = 0
            }
            guard try file.read(appendingTo: &buffer) else { return false }
        }
        return true
    }

    /// Where the next record's bytes are in the buffer, or why there is none.
    private enum Step {
        case record(start: Int, size: Int)
        case end
        case malformed(String)
    }

    /// The next record, copied out.
    mutating func next() throws -> Next {
        switch try step() {
        case .end: return .end
        case .malformed(let message): return .malformed(message)
        case .record(let start, let size): return .record(Array(buffer[start..<(start + size)]))
        }
    }

    /// Calls `body` with the next record's bytes, valid only during the call, and returns what it returns; nil at
    /// the end of the file. Throws `Malformed` when the rest of the file cannot be split into records.
    mutating func withNext<R>(_ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        switch try step() {
        case .end: return nil
        case .malformed(let message): throw Malformed(message: message)
        case .record(let start, let size):
            return try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[start..<(start + size)])) }
        }
    }

    /// The rest of a file that cannot be split into records, and why.
    struct Malformed: Error {
        var message: String
    }

    private mutating func step() throws -> Step {
        guard !failed else { return .end }
        guard try fill(1) else { return .end }
        var length: UInt64 = 0
        var shift: UInt64 = 0
        var prefixBytes = 0
        while true {
            guard try fill(prefixBytes + 1) else {
                failed = true
                return .malformed("the file ends inside the length prefix of record \(count + 1)")
            }
            let byte = buffer[position + prefixBytes]
            prefixBytes += 1
            if shift < 64 { length |= UInt64(byte & 0x7f) << shift }
            if byte & 0x80 == 0 { break }
            shift += 7
            guard prefixBytes < 10 else {
                failed = true
                return .malformed("record \(count + 1) has a length prefix longer than 10 bytes")
            }
        }
        guard length <= UInt64(maxRecordBytes) else {
            failed = true
            return .malformed(
                "record \(count + 1) declares \(length) bytes, over the limit of \(maxRecordBytes); "
                    + "the rest of the file cannot be split into records"
            )
        }
        let size = Int(length)
        guard try fill(prefixBytes + size) else {
            failed = true
            let available = buffer.count - position - prefixBytes
            return .malformed("the file ends after \(available) of the \(size) bytes of record \(count + 1)")
        }
        let start = position + prefixBytes
        position = start + size
        count += 1
        return .record(start: start, size: size)
    }

    /// Reads what is left (hashing it) and returns the file's SHA-256 in hex and its size.
    mutating func finish() throws -> (sha256: String, bytes: Int) {
        let digest = try file.finish()
        return (digest, file.bytesRead)
    }

    /// Stops reading.
    func close() { file.close() }
}

/// Writes length-delimited records to a new file, counting and hashing them.
struct DelimitedRecordWriter {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var hash = SHA256()
    private(set) var count = 0
    private(set) var bytes = 0

    /// Creates (or truncates) `path`.
    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: path])
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        buffer.reserveCapacity(1 << 20)
    }

    /// Appends one record.
    mutating func append(_ record: [UInt8]) throws {
        var length = UInt64(record.count)
        while length >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: length) | 0x80)
            length >>= 7
        }
        buffer.append(UInt8(length))
        buffer.append(contentsOf: record)
        count += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    private mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        hash.update(buffer)
        bytes += buffer.count
        try handle.write(contentsOf: buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and closes; returns the file's SHA-256 in hex.
    mutating func close() throws -> String {
        try flush()
        try handle.synchronize()
        try handle.close()
        return SHA256.hex(hash.finalize())
    }
}

#if canImport(Glibc)
import Glibc
private let systemRead = Glibc.read
#elseif canImport(Darwin)
import Darwin
private let systemRead = Darwin.read
#endif
