/// One side of a comparison: every decoded file (imports too, so types can be resolved) and which files are checked.
public struct Schema: Sendable {
    /// Every file in the descriptor set, in its order.
    public var files: [FileDescriptor]
    /// Names of the files whose contents are compared; imports are only there to resolve types.
    public var checkedFileNames: Set<String>

    /// The prefix of protobuf's own well-known files. A descriptor set built with `--include_imports` carries them,
    /// and it cannot say which files were imports, so they are never treated as part of the checked contract.
    public static let wellKnownPrefix = "google/protobuf/"

    /// Creates a schema. Without `checkedFileNames`, every file except protobuf's well-known ones is checked.
    public init(files: [FileDescriptor], checkedFileNames: Set<String>? = nil) {
        self.files = files
        self.checkedFileNames =
            checkedFileNames ?? Set(files.map(\.name).filter { !$0.hasPrefix(Schema.wellKnownPrefix) })
    }

    /// The same schema checking only files whose names start with one of `prefixes` (all when it is empty).
    ///
    /// A prefix that names a directory matches the files below it whether or not it ends in `/`.
    public func restricted(toPathPrefixes prefixes: [String]) -> Schema {
        guard !prefixes.isEmpty else { return self }
        var copy = self
        copy.checkedFileNames = checkedFileNames.filter { name in
            prefixes.contains { prefix in
                let directory = prefix.hasSuffix("/") ? prefix : prefix + "/"
                return name == prefix || name.hasPrefix(directory)
            }
        }
        return copy
    }

    /// The files that are checked, in descriptor-set order.
    public var checkedFiles: [FileDescriptor] { files.filter { checkedFileNames.contains($0.name) } }
}
