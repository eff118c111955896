/// Reads LightGBM's text model format (`Booster.save_model`, `model.txt`): a `key=value` header, one `Tree=N`
/// block per tree, and `end of trees`. Only single-output models (`num_class=1`) are accepted.
///
/// Split semantics follow LightGBM's `Tree::NumericalDecision` / `Tree::CategoricalDecision`: `decision_type` bit 0
/// marks a categorical split, bit 1 sends missing values left, bits 2-3 are the missing type (0 None, 1 Zero,
/// 2 NaN). A categorical split's threshold indexes `cat_boundaries`, which delimit 32-bit words of `cat_threshold`.
enum LightGBMTextLoader {
    static let format = "LightGBM"
    static let supportedVersions: Set<String> = ["v2", "v3", "v4"]

    private struct Line {
        let number: Int
        let text: Substring
    }

    static func load(text: String, version: String) throws -> GradientBoostedTrees {
        let lines = splitLines(text)
        var cursor = 0
        func fail(_ line: Int, _ reason: String) -> ModelLoadError {
            .malformed(format: format, location: "line \(line)", reason: reason)
        }

        while cursor < lines.count, lines[cursor].text.isEmpty { cursor += 1 }
        guard cursor < lines.count, lines[cursor].text == "tree" else {
            throw fail(cursor < lines.count ? lines[cursor].number : lines.count, "expected the 'tree' model header")
        }
        cursor += 1

        var header: [Substring: (value: Substring, line: Int)] = [:]
        while cursor < lines.count, !lines[cursor].text.hasPrefix("Tree="), lines[cursor].text != "end of trees" {
            let line = lines[cursor]
            cursor += 1
            if line.text.isEmpty { continue }
            if let equals = line.text.utf8.firstIndex(of: UInt8(ascii: "=")) {
                header[line.text[..<equals]] = (line.text[line.text.index(after: equals)...], line.number)
            } else if line.text == "average_output" {
                throw ModelLoadError.unsupported(format: format, feature: "average_output (random forest mode)")
            } else {
                throw fail(line.number, "expected key=value in the header, found '\(line.text)'")
            }
        }
        func headerValue(_ key: Substring) throws -> (value: Substring, line: Int) {
            guard let entry = header[key] else { throw fail(lines.last?.number ?? 0, "header has no '\(key)'") }
            return entry
        }
        func headerInt(_ key: Substring) throws -> Int {
            let entry = try headerValue(key)
            guard let value = Int(entry.value) else { throw fail(entry.line, "'\(key)' is not an integer") }
            return value
        }

        let modelVersion = try headerValue("version").value
        guard supportedVersions.contains(String(modelVersion)) else {
            throw ModelLoadError.unsupported(format: format, feature: "model format version \(modelVersion)")
        }
        let numClass = try headerInt("num_class")
        guard numClass == 1 else {
            throw ModelLoadError.unsupported(format: format, feature: "num_class=\(numClass) (multiclass)")
        }
        let treesPerIteration = try headerInt("num_tree_per_iteration")
        guard treesPerIteration == 1 else {
            throw ModelLoadError.unsupported(format: format, feature: "num_tree_per_iteration=\(treesPerIteration)")
        }
        let maxFeatureIndex = try headerInt("max_feature_idx")
        let namesEntry = try headerValue("feature_names")
        let featureNames = words(namesEntry.value).map(String.init)
        guard maxFeatureIndex >= 0, featureNames.count == maxFeatureIndex + 1 else {
            throw fail(
                namesEntry.line,
                "\(featureNames.count) feature names for max_feature_idx=\(maxFeatureIndex)"
            )
        }
        if let duplicate = firstDuplicate(featureNames) {
            throw fail(namesEntry.line, "feature name '\(duplicate)' appears twice")
        }
        let objectiveEntry = try headerValue("objective")
        guard let objective = objectiveEntry.value.split(separator: " ").first.map(String.init) else {
            throw fail(objectiveEntry.line, "empty objective")
        }

        var builder = TreeEnsembleBuilder(featureCount: featureNames.count, format: format)
        var sawEnd = false
        while cursor < lines.count {
            let line = lines[cursor]
            if line.text.isEmpty {
                cursor += 1
                continue
            }
            if line.text == "end of trees" {
                sawEnd = true
                break
            }
            guard line.text.hasPrefix("Tree=") else {
                throw fail(line.number, "expected 'Tree=\(builder.treeCount)' or 'end of trees'")
            }
            guard Int(line.text.dropFirst(5)) == builder.treeCount else {
                throw fail(line.number, "expected 'Tree=\(builder.treeCount)', found '\(line.text)'")
            }
            cursor += 1
            var fields: [Substring: (value: Substring, line: Int)] = [:]
            while cursor < lines.count, !lines[cursor].text.isEmpty, !lines[cursor].text.hasPrefix("Tree="),
                lines[cursor].text != "end of trees"
            {
                let fieldLine = lines[cursor]
                cursor += 1
                guard let equals = fieldLine.text.utf8.firstIndex(of: UInt8(ascii: "=")) else {
                    throw fail(fieldLine.number, "expected key=value in a tree, found '\(fieldLine.text)'")
                }
                fields[fieldLine.text[..<equals]] = (
                    fieldLine.text[fieldLine.text.index(after: equals)...], fieldLine.number
                )
            }
            try addTree(fields, headerLine: line.number, to: &builder)
        }
        guard sawEnd else { throw fail(lines.last?.number ?? 0, "file ends before 'end of trees'") }
        guard builder.treeCount > 0 else { throw fail(lines[cursor].number, "model has no trees") }

        return GradientBoostedTrees(
            featureNames: featureNames,
            version: version,
            objective: objective,
            format: .lightGBM,
            baseScore: 0,
            trees: builder
        )
    }

    private static func addTree(
        _ fields: [Substring: (value: Substring, line: Int)],
        headerLine: Int,
        to builder: inout TreeEnsembleBuilder
    ) throws {
        let treeIndex = builder.treeCount
        let location = "Tree=\(treeIndex) (line \(headerLine))"
        func fail(_ reason: String) -> ModelLoadError {
            .malformed(format: format, location: location, reason: reason)
        }
        func field(_ key: Substring) throws -> Substring {
            guard let entry = fields[key] else { throw fail("missing '\(key)'") }
            return entry.value
        }
        func values<T>(_ key: Substring, count: Int, _ convert: (Substring) -> T?) throws -> [T] {
            let parts = words(try field(key))
            guard parts.count == count else { throw fail("'\(key)' has \(parts.count) values, expected \(count)") }
            return try parts.map { part in
                guard let value = convert(part) else { throw fail("'\(key)' has invalid value '\(part)'") }
                return value
            }
        }

        if let linear = fields["is_linear"], linear.value != "0" {
            throw ModelLoadError.unsupported(format: format, feature: "linear trees (\(location))")
        }
        guard let leafCount = Int(try field("num_leaves")), leafCount >= 1 else { throw fail("invalid num_leaves") }
        let catCount = fields["num_cat"].flatMap { Int($0.value) } ?? 0
        guard catCount >= 0 else { throw fail("invalid num_cat") }
        let leafValues = try values("leaf_value", count: leafCount) { Double($0) }
        let splitCount = leafCount - 1
        if splitCount == 0 {
            try builder.addTree(nodes: [], leafValues: leafValues, location: location)
            return
        }

        let features = try values("split_feature", count: splitCount) { Int32($0) }
        let thresholds = try values("threshold", count: splitCount) { Double($0) }
        let decisionTypes = try values("decision_type", count: splitCount) { Int($0) }
        let lefts = try values("left_child", count: splitCount) { Int32($0) }
        let rights = try values("right_child", count: splitCount) { Int32($0) }

        var firstCategorySet = 0
        if catCount > 0 {
            let boundaries = try values("cat_boundaries", count: catCount + 1) { Int($0) }
            let words = try Self.words(try field("cat_threshold")).map { part -> UInt32 in
                guard let word = UInt32(part) else { throw fail("'cat_threshold' has invalid value '\(part)'") }
                return word
            }
            guard boundaries.first == 0, boundaries.last == words.count,
                zip(boundaries, boundaries.dropFirst()).allSatisfy({ $0 <= $1 })
            else { throw fail("cat_boundaries do not delimit cat_threshold's \(words.count) words") }
            firstCategorySet = builder.categorySets.count
            for index in 0..<catCount {
                _ = try builder.addCategorySet(
                    words: Array(words[boundaries[index]..<boundaries[index + 1]]),
                    location: location
                )
            }
        }

        var nodes: [SplitNode] = []
        nodes.reserveCapacity(splitCount)
        for index in 0..<splitCount {
            let decisionType = decisionTypes[index]
            guard (0..<16).contains(decisionType) else {
                throw fail("split \(index) has unknown decision_type \(decisionType)")
            }
            var threshold = thresholds[index]
            let kind: SplitKind
            if decisionType & 1 != 0 {
                guard threshold >= 0, threshold < Double(catCount), threshold.rounded(.towardZero) == threshold else {
                    throw fail("categorical split \(index) refers to category set \(threshold) of \(catCount)")
                }
                kind = .lightGBMCategorical
                threshold = Double(firstCategorySet + Int(threshold))
            } else {
                guard !threshold.isNaN else { throw fail("split \(index) has a NaN threshold") }
                threshold = normalizedNumericThreshold(threshold)
                let defaultLeft = decisionType & 2 != 0
                switch (decisionType >> 2) & 3 {
                case 0:
                    // No missing type: LightGBM scores NaN as 0.
                    kind = 0 <= threshold ? .numericMissingLeft : .numericMissingRight
                case 1:
                    kind = defaultLeft ? .zeroMissingLeft : .zeroMissingRight
                case 2:
                    kind = defaultLeft ? .numericMissingLeft : .numericMissingRight
                default:
                    throw fail("split \(index) has unknown missing type in decision_type \(decisionType)")
                }
            }
            nodes.append(
                SplitNode(
                    threshold: threshold,
                    feature: features[index],
                    left: lefts[index],
                    right: rights[index],
                    kind: kind
                )
            )
        }
        try builder.addTree(nodes: nodes, leafValues: leafValues, location: location)
    }

    /// LightGBM's predictor drops input values with |x| <= kZeroThreshold as zeros before a tree sees them, so a
    /// threshold inside that band behaves like one just outside it; moving it there lets scoring compare raw inputs.
    static func normalizedNumericThreshold(_ threshold: Double) -> Double {
        guard threshold >= -lightGBMZeroThreshold, threshold <= lightGBMZeroThreshold else { return threshold }
        return threshold >= 0 ? lightGBMZeroThreshold : (-lightGBMZeroThreshold).nextDown
    }

    /// The space-separated words of `text`, split on its bytes: a value list holds thousands of numbers, and
    /// splitting by `Character` costs a grapheme-break check per byte.
    private static func words(_ text: Substring) -> [Substring] {
        text.utf8.split(separator: UInt8(ascii: " ")).map { Substring($0) }
    }

    private static func splitLines(_ text: String) -> [Line] {
        var lines: [Line] = []
        var number = 1
        for slice in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            var line = Substring(slice)
            if line.utf8.last == UInt8(ascii: "\r") { line = Substring(line.utf8.dropLast()) }
            lines.append(Line(number: number, text: line))
            number += 1
        }
        return lines
    }
}

/// The first string that occurs twice, if any.
func firstDuplicate(_ names: [String]) -> String? {
    var seen = Set<String>()
    for name in names where !seen.insert(name).inserted { return name }
    return nil
}
