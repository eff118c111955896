/// Why a model file or golden file could not be turned into something usable.
///
/// Every problem found in a file is reported as one of these, never as a crash: the files come from a training
/// job, a deploy step or a disk, any of which can hand over something truncated or written by a newer library.
public enum ModelLoadError: Error, CustomStringConvertible, Equatable {
    /// The file could not be read at all.
    case unreadableFile(path: String, reason: String)
    /// `load(contentsOf:)` picks the format by extension and this one is neither `.txt` nor `.json`.
    case unknownModelExtension(path: String)
    /// The file does not follow its format; `location` says where (a line, a tree, a JSON path).
    case malformed(format: String, location: String, reason: String)
    /// The file is well formed but uses a feature of the format this scorer does not implement, so scoring it
    /// would silently differ from the library.
    case unsupported(format: String, feature: String)

    /// A one-line explanation suitable for logs and operator tools.
    public var description: String {
        switch self {
        case .unreadableFile(let path, let reason):
            return "cannot read \(path): \(reason)"
        case .unknownModelExtension(let path):
            return "cannot tell the model format of \(path): expected .txt (LightGBM) or .json (XGBoost)"
        case .malformed(let format, let location, let reason):
            return "malformed \(format) file at \(location): \(reason)"
        case .unsupported(let format, let feature):
            return "unsupported \(format) model: \(feature)"
        }
    }
}

/// Why a loaded model must not be activated.
public enum ModelValidationError: Error, CustomStringConvertible, Equatable {
    /// The model's score for a golden row differs from the score the training library produced.
    case scoreMismatch(row: Int, expected: Double, got: Double)
    /// As `scoreMismatch`, for the golden scores computed with only the first `treeLimit` trees.
    case limitedScoreMismatch(treeLimit: Int, row: Int, expected: Double, got: Double)
    /// The golden file was written for a different feature order: position `index` names `expected` in the model
    /// and `found` in the golden file (`nil` when the golden file has fewer features).
    case featureMismatch(index: Int, expected: String, found: String?)
    /// The golden file names more features than the model has.
    case extraFeature(index: Int, name: String)
    /// The caller's feature join does not provide a feature the model splits on.
    case missingFeature(name: String, modelIndex: Int)
    /// A golden limit asks for more trees than the model has, so it cannot have come from this model.
    case treeLimitOutOfRange(treeLimit: Int, treeCount: Int)
    /// A golden file with no rows proves nothing and is refused.
    case emptyGoldenFile

    /// A one-line explanation suitable for logs and operator tools.
    public var description: String {
        switch self {
        case .scoreMismatch(let row, let expected, let got):
            return "golden row \(row): expected raw score \(expected), model gives \(got)"
        case .limitedScoreMismatch(let treeLimit, let row, let expected, let got):
            return "golden row \(row) with the first \(treeLimit) trees: expected raw score \(expected), "
                + "model gives \(got)"
        case .featureMismatch(let index, let expected, let found):
            return "feature \(index): model expects '\(expected)', golden file has "
                + (found.map { "'\($0)'" } ?? "no feature there")
        case .extraFeature(let index, let name):
            return "feature \(index): golden file has '\(name)', which the model does not have"
        case .missingFeature(let name, let modelIndex):
            return "feature '\(name)' (model feature \(modelIndex)) is computed by no surface that uses the model "
                + "(neither joined nor configured under the surface's online features)"
        case .treeLimitOutOfRange(let treeLimit, let treeCount):
            return "golden file has scores for the first \(treeLimit) trees, but the model has \(treeCount)"
        case .emptyGoldenFile:
            return "golden file has no rows"
        }
    }
}
