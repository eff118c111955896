import Foundation

/// Reads XGBoost's JSON model format (`Booster.save_model("x.json")`, XGBoost 1.0 and later) for single-output
/// `gbtree` models.
///
/// XGBoost scores in float32: each input is converted to float, compared with `fvalue < split_condition`, and leaf
/// values (the `split_conditions` of leaf nodes) are added to the base margin in float. A categorical split
/// (`split_type` 1) sends the categories listed for the node right and everything else, including invalid
/// categories, left; a missing value follows `default_left`.
enum XGBoostJSONLoader {
    static let format = "XGBoost"

    /// How the stored `base_score` becomes the starting margin; objectives outside this table are refused because
    /// a wrong guess would shift every score.
    static let baseMarginTransforms: [String: BaseMarginTransform] = [
        "binary:logistic": .logit,
        "reg:squarederror": .identity,
        "rank:pairwise": .identity,
        "rank:ndcg": .identity,
    ]

    enum BaseMarginTransform {
        case identity
        case logit
    }

    static func load(bytes: [UInt8], version: String) throws -> GradientBoostedTrees {
        let root = JSONCursor(try JSONParser.parse(bytes, format: format), format: format)
        let learner = try root["learner"]

        let parameters = try learner["learner_model_param"]
        let featureCount = try parameters["num_feature"].int()
        guard featureCount >= 1 else { throw parameters.error("num_feature must be positive, found \(featureCount)") }
        let classCount = try parameters.optional("num_class")?.int() ?? 0
        guard classCount <= 1 else {
            throw ModelLoadError.unsupported(format: format, feature: "num_class=\(classCount) (multiclass)")
        }
        if let targets = try parameters.optional("num_target")?.int(), targets != 1 {
            throw ModelLoadError.unsupported(format: format, feature: "num_target=\(targets) (multi-output)")
        }

        let objective = try learner["objective"]["name"].string()
        guard let transform = baseMarginTransforms[objective] else {
            throw ModelLoadError.unsupported(
                format: format,
                feature:
                    "objective \(objective) (supported: \(baseMarginTransforms.keys.sorted().joined(separator: ", ")))"
            )
        }
        let baseScore = try parseBaseScore(parameters["base_score"])
        let baseMargin: Float
        switch transform {
        case .identity:
            baseMargin = baseScore
        case .logit:
            guard baseScore > 0, baseScore < 1 else {
                throw parameters.error("base_score \(baseScore) must be in (0, 1) for \(objective)")
            }
            // The same float operations XGBoost's ProbToMargin uses, so the margin matches to the last bit.
            baseMargin = -logf(1 / baseScore - 1)
        }

        var featureNames = try learner.optional("feature_names")?.array().map { try $0.string() } ?? []
        if featureNames.isEmpty {
            featureNames = (0..<featureCount).map { "f\($0)" }
        }
        guard featureNames.count == featureCount else {
            throw learner.error("\(featureNames.count) feature names for num_feature=\(featureCount)")
        }
        if let duplicate = firstDuplicate(featureNames) {
            throw learner.error("feature name '\(duplicate)' appears twice")
        }

        let booster = try learner["gradient_booster"]
        let boosterName = try booster["name"].string()
        guard boosterName == "gbtree" else {
            throw ModelLoadError.unsupported(format: format, feature: "booster \(boosterName)")
        }
        let model = try booster["model"]
        let treeParameters = try model["gbtree_model_param"]
        if let parallel = try treeParameters.optional("num_parallel_tree")?.int(), parallel != 1 {
            throw ModelLoadError.unsupported(format: format, feature: "num_parallel_tree=\(parallel) (random forest)")
        }
        if let encoder = try model.optional("cats"), let encoded = try encoder.optional("enc"),
            try !encoded.array().isEmpty
        {
            throw ModelLoadError.unsupported(format: format, feature: "re-coded string categories (cats.enc)")
        }
        let trees = try model["trees"].array()
        guard try treeParameters["num_trees"].int() == trees.count else {
            throw treeParameters.error("num_trees does not match the \(trees.count) trees stored")
        }
        guard !trees.isEmpty else { throw model.error("model has no trees") }
        if let info = try model.optional("tree_info"), try info.intArray().contains(where: { $0 != 0 }) {
            throw ModelLoadError.unsupported(format: format, feature: "trees for more than one output group")
        }

        var builder = TreeEnsembleBuilder(featureCount: featureCount, format: format)
        for tree in trees { try addTree(tree, to: &builder) }
        return GradientBoostedTrees(
            featureNames: featureNames,
            version: version,
            objective: objective,
            format: .xgboost,
            baseScore: Double(baseMargin),
            trees: builder
        )
    }

    /// XGBoost 2 writes `"5E-1"`; XGBoost 3 writes a vector `"[5E-1]"` (one entry per target).
    private static func parseBaseScore(_ cursor: JSONCursor) throws -> Float {
        var text = try cursor.numberText()[...]
        if text.hasPrefix("[") && text.hasSuffix("]") {
            text = text.dropFirst().dropLast()
            guard !text.contains(",") else {
                throw ModelLoadError.unsupported(format: format, feature: "more than one base_score")
            }
        }
        guard let value = Float(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw cursor.error("invalid base_score '\(text)'")
        }
        return value
    }

    private static func addTree(_ tree: JSONCursor, to builder: inout TreeEnsembleBuilder) throws {
        let location = tree.path
        func fail(_ reason: String) -> ModelLoadError {
            .malformed(format: format, location: location, reason: reason)
        }
        let treeParameters = try tree["tree_param"]
        let nodeCount = try treeParameters["num_nodes"].int()
        guard nodeCount >= 1 else { throw fail("tree has no nodes") }
        if let leafVector = try treeParameters.optional("size_leaf_vector")?.int(), leafVector > 1 {
            throw ModelLoadError.unsupported(format: format, feature: "vector leaves (size_leaf_vector=\(leafVector))")
        }
        func array<T>(_ key: String, _ read: (JSONCursor) throws -> [T]) throws -> [T] {
            let values = try read(try tree[key])
            guard values.count == nodeCount else {
                throw fail("'\(key)' has \(values.count) entries for \(nodeCount) nodes")
            }
            return values
        }
        let lefts = try array("left_children") { try $0.intArray() }
        let rights = try array("right_children") { try $0.intArray() }
        let features = try array("split_indices") { try $0.intArray() }
        let conditions = try array("split_conditions") { try $0.floatArray() }
        let defaultLeft = try array("default_left") { cursor in
            try cursor.array().map { element -> Bool in
                if case .bool(let flag) = element.value { return flag }
                return try element.int() != 0
            }
        }
        let splitTypes =
            try tree.optional("split_type") == nil
            ? [Int](repeating: 0, count: nodeCount) : try array("split_type") { try $0.intArray() }

        // Node -> its category list, from the parallel categories_* arrays.
        var categoriesOfNode: [Int: ArraySlice<Int>] = [:]
        if try tree.optional("categories_nodes") != nil {
            let categoryNodes = try tree["categories_nodes"].intArray()
            let segments = try tree["categories_segments"].intArray()
            let sizes = try tree["categories_sizes"].intArray()
            let categories = try tree["categories"].intArray()
            guard segments.count == categoryNodes.count, sizes.count == categoryNodes.count else {
                throw fail("categories_nodes, categories_segments and categories_sizes differ in length")
            }
            for (index, node) in categoryNodes.enumerated() {
                let start = segments[index]
                let size = sizes[index]
                guard start >= 0, size >= 0, start <= categories.count - size else {
                    throw fail("categories segment \(index) lies outside 'categories'")
                }
                categoriesOfNode[node] = categories[start..<start + size]
            }
        }

        // Renumber reachable nodes depth-first into splits and leaves; anything unreachable (deleted nodes) is
        // dropped, and a node reached twice is an error rather than an endless walk.
        var nodes: [SplitNode] = []
        var leaves: [Double] = []
        var visited = [Bool](repeating: false, count: nodeCount)
        // (XGBoost node, the split whose child it is, whether it is that split's left child)
        var stack: [(node: Int, parent: Int, isLeft: Bool)] = [(0, -1, false)]
        while let (node, parent, isLeft) = stack.popLast() {
            guard node >= 0, node < nodeCount else { throw fail("child index \(node) out of range") }
            guard !visited[node] else { throw fail("node \(node) is reached twice") }
            visited[node] = true
            let reference: Int32
            if lefts[node] == -1 {
                guard rights[node] == -1 else { throw fail("node \(node) has only a right child") }
                reference = ~Int32(leaves.count)
                leaves.append(Double(conditions[node]))
            } else {
                reference = Int32(nodes.count)
                nodes.append(
                    try splitNode(
                        node,
                        feature: features[node],
                        condition: conditions[node],
                        defaultLeft: defaultLeft[node],
                        splitType: splitTypes[node],
                        categories: categoriesOfNode[node],
                        builder: &builder,
                        fail: fail
                    )
                )
                stack.append((rights[node], Int(reference), false))
                stack.append((lefts[node], Int(reference), true))
            }
            if parent >= 0 {
                if isLeft { nodes[parent].left = reference } else { nodes[parent].right = reference }
            }
        }
        try builder.addTree(nodes: nodes, leafValues: leaves, location: location)
    }

    private static func splitNode(
        _ node: Int,
        feature: Int,
        condition: Float,
        defaultLeft: Bool,
        splitType: Int,
        categories: ArraySlice<Int>?,
        builder: inout TreeEnsembleBuilder,
        fail: (String) -> ModelLoadError
    ) throws -> SplitNode {
        guard let feature = Int32(exactly: feature) else { throw fail("node \(node) has feature \(feature)") }
        switch splitType {
        case 0:
            guard let threshold = doubleThreshold(forFloat32LessThan: condition) else {
                throw fail("node \(node) has non-finite split condition \(condition)")
            }
            return SplitNode(
                threshold: threshold,
                feature: feature,
                left: 0,
                right: 0,
                kind: defaultLeft ? .numericMissingLeft : .numericMissingRight
            )
        case 1:
            guard let categories else { throw fail("categorical node \(node) has no categories") }
            var words: [UInt32] = []
            for category in categories {
                guard category >= 0, category < 16_777_216 else {
                    throw fail("categorical node \(node) lists invalid category \(category)")
                }
                let word = category >> 5
                if word >= words.count { words.append(contentsOf: repeatElement(0, count: word + 1 - words.count)) }
                words[word] |= 1 << UInt32(category & 31)
            }
            let set = try builder.addCategorySet(words: words, location: "node \(node)")
            return SplitNode(
                threshold: Double(set),
                feature: feature,
                left: 0,
                right: 0,
                kind: defaultLeft ? .xgboostCategoricalMissingLeft : .xgboostCategoricalMissingRight
            )
        default:
            throw ModelLoadError.unsupported(format: format, feature: "split_type \(splitType) at node \(node)")
        }
    }
}
