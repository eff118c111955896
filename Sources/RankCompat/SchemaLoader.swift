import Foundation

/// Why an input could not be turned into a `Schema`. Every case is the user's or the environment's problem, and
/// the command line reports it with exit status 2.
public enum InputError: Error, CustomStringConvertible, Equatable {
    /// Nothing exists at the path.
    case missing(path: String)
    /// A directory without any .proto file under it.
    case noProtoFiles(path: String)
    /// protoc rejected the .proto files under `path`; `output` is what protoc printed.
    case compilationFailed(path: String, output: String)
    /// A file could not be read.
    case unreadable(path: String, reason: String)
    /// A file is not a descriptor set this tool can use.
    case undecodable(path: String, reason: String)
    /// An external tool (protoc, git, tar) could not be run or failed.
    case toolFailed(tool: String, message: String)

    /// A one-line explanation for the user (protoc's output follows on further lines).
    public var description: String {
        switch self {
        case .missing(let path):
            "\(path): no such file or directory"
        case .noProtoFiles(let path):
            "\(path): no .proto files found"
        case .compilationFailed(let path, let output):
            "protoc cannot compile \(path):\n" + (output.hasSuffix("\n") ? String(output.dropLast()) : output)
        case .unreadable(let path, let reason):
            "\(path): cannot read: \(reason)"
        case .undecodable(let path, let reason):
            "\(path): \(reason)"
        case .toolFailed(let tool, let message):
            "\(tool): \(message)"
        }
    }
}

/// Loads a proto root or a descriptor set into a `Schema`, compiling .proto files with protoc.
public struct SchemaLoader: Sendable {
    /// The protoc to run: a path, or a name looked up in PATH.
    public var protocPath: String
    /// Extra include directories after the proto root itself (where `google/protobuf/*.proto` live).
    public var includePaths: [String]

    /// Creates a loader. The defaults match Debian's protobuf-compiler and libprotobuf-dev.
    public init(protocPath: String = "protoc", includePaths: [String] = ["/usr/include"]) {
        self.protocPath = protocPath
        self.includePaths = includePaths
    }

    /// Loads `path`: a directory is compiled as a proto root, anything else is read as a descriptor set.
    public func load(_ path: String) throws -> Schema {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw InputError.missing(path: path)
        }
        return isDirectory.boolValue ? try loadProtoRoot(path) : try loadDescriptorSet(path)
    }

    /// Reads a serialized FileDescriptorSet.
    public func loadDescriptorSet(_ path: String) throws -> Schema {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw InputError.unreadable(path: path, reason: error.localizedDescription)
        }
        let files = try decode([UInt8](data), path: path)
        let schema = Schema(files: files)
        // An empty file decodes as an empty set; as a baseline it would let every change through unseen.
        guard !schema.checkedFileNames.isEmpty else {
            throw InputError.undecodable(path: path, reason: "descriptor set describes no .proto files")
        }
        return schema
    }

    /// Compiles every .proto file under `directory` (the proto root: imports are relative to it) with
    /// `protoc --include_imports --include_source_info` and checks those files, not their imports.
    public func loadProtoRoot(_ directory: String) throws -> Schema {
        let sources = try protoFiles(under: directory)
        guard !sources.isEmpty else { throw InputError.noProtoFiles(path: directory) }

        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let output = scratch.path + "/descriptor-set.binpb"
        // protoc runs inside the root: it reads an input name as a path on disk first, so a same-named file in
        // the caller's working directory could otherwise be picked up instead of the one in the root.
        let workingDirectory = FileManager.default.currentDirectoryPath
        var arguments = ["--include_imports", "--include_source_info", "-I", "."]
        for include in includePaths { arguments += ["-I", absolute(include, from: workingDirectory)] }
        arguments += ["--descriptor_set_out=" + output]
        arguments += sources
        let result = try ExternalCommand.run(
            protocPath,
            arguments,
            toolName: "protoc",
            currentDirectory: absolute(directory, from: workingDirectory)
        )
        guard result.status == 0 else {
            let message = result.errorOutput.isEmpty ? result.output : result.errorOutput
            throw InputError.compilationFailed(
                path: directory,
                output: message.isEmpty ? "protoc exited with status \(result.status)" : message
            )
        }
        guard let data = FileManager.default.contents(atPath: output) else {
            throw InputError.toolFailed(tool: "protoc", message: "wrote no descriptor set")
        }
        let files = try decode([UInt8](data), path: output)
        return Schema(files: files, checkedFileNames: Set(sources))
    }

    /// Loads the directory `directory` as it was at git revision `revision` (e.g. `main`, `HEAD~1`, a tag).
    public func loadGitRevision(_ revision: String, of directory: String) throws -> Schema {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue
        else {
            throw InputError.toolFailed(
                tool: "git",
                message: "\(directory): --against-git needs the current proto root to be a directory"
            )
        }
        let prefix = try git(["rev-parse", "--show-prefix"], in: directory).trimmingCharacters(in: .newlines)
        let top = try git(["rev-parse", "--show-toplevel"], in: directory).trimmingCharacters(in: .newlines)
        _ = try git(
            ["rev-parse", "--verify", "--quiet", revision + "^{commit}"],
            in: directory,
            failure: "unknown revision \"\(revision)\""
        )

        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let archive = scratch.path + "/tree.tar"
        let tree = scratch.path + "/tree"
        // `rev:path/` archives that directory's contents at its root, so the extracted tree is the proto root.
        // It runs from the top level: inside a subdirectory git would look for that subdirectory in the tree.
        _ = try git(["archive", "--format=tar", "--output=" + archive, revision + ":" + prefix], in: top)
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        let untar = try ExternalCommand.run("tar", ["-xf", archive, "-C", tree], toolName: "tar")
        guard untar.status == 0 else { throw InputError.toolFailed(tool: "tar", message: untar.errorOutput) }
        do {
            return try loadProtoRoot(tree)
        } catch InputError.noProtoFiles {
            throw InputError.noProtoFiles(path: "\(revision):\(prefix)")
        } catch InputError.compilationFailed(_, let output) {
            throw InputError.compilationFailed(path: "\(revision):\(prefix)", output: output)
        }
    }

    // MARK: Helpers

    private func absolute(_ path: String, from directory: String) -> String {
        path.hasPrefix("/") ? path : directory + "/" + path
    }

    private func decode(_ bytes: [UInt8], path: String) throws -> [FileDescriptor] {
        do {
            return try DescriptorSetDecoder.decode(bytes)
        } catch let error as DescriptorSetDecodingError {
            throw InputError.undecodable(path: path, reason: error.description)
        }
    }

    /// Relative paths of the .proto files under `directory`, sorted so protoc's input order is stable.
    private func protoFiles(under directory: String) throws -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else {
            throw InputError.unreadable(path: directory, reason: "cannot list directory")
        }
        var found: [String] = []
        while let relative = walker.nextObject() as? String {
            // Hidden directories (.git, .build) never hold the contract.
            if relative.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            if relative.hasSuffix(".proto") { found.append(relative) }
        }
        return found.sorted()
    }

    private func git(_ arguments: [String], in directory: String, failure: String? = nil) throws -> String {
        let result = try ExternalCommand.run("git", ["-C", directory] + arguments, toolName: "git")
        guard result.status == 0 else {
            let detail = result.errorOutput.trimmingCharacters(in: .whitespacesAndNewlines)
            throw InputError.toolFailed(tool: "git", message: failure ?? (detail.isEmpty ? "failed" : detail))
        }
        return result.output
    }
}

/// A directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/rank-compat-" + UUID().uuidString
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw InputError.unreadable(path: path, reason: "cannot create temporary directory: \(error)")
        }
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Runs a program to completion, capturing its output in files so a chatty child can never block on a full pipe.
enum ExternalCommand {
    struct Result {
        var status: Int32
        var output: String
        var errorOutput: String
    }

    static func run(
        _ program: String,
        _ arguments: [String],
        toolName: String,
        currentDirectory: String? = nil
    ) throws -> Result {
        guard let executable = resolve(program) else {
            throw InputError.toolFailed(tool: toolName, message: "\(program) not found in PATH")
        }
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let outPath = scratch.path + "/stdout"
        let errPath = scratch.path + "/stderr"
        guard FileManager.default.createFile(atPath: outPath, contents: nil),
            FileManager.default.createFile(atPath: errPath, contents: nil),
            let out = FileHandle(forWritingAtPath: outPath), let err = FileHandle(forWritingAtPath: errPath)
        else {
            throw InputError.toolFailed(tool: toolName, message: "cannot capture output")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        do {
            try process.run()
        } catch {
            throw InputError.toolFailed(tool: toolName, message: "cannot run \(executable): \(error)")
        }
        process.waitUntilExit()
        try? out.close()
        try? err.close()
        let output = FileManager.default.contents(atPath: outPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let errors = FileManager.default.contents(atPath: errPath).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return Result(status: process.terminationStatus, output: output, errorOutput: errors)
    }

    /// An absolute path for `program`: itself when it contains a slash, else the first match in PATH.
    private static func resolve(_ program: String) -> String? {
        if program.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: program) else { return nil }
            return program.hasPrefix("/") ? program : FileManager.default.currentDirectoryPath + "/" + program
        }
        let searchPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(program)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
