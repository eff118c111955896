import Foundation
import Testing

@testable import RankingModels

/// Bad model files must produce a `ModelLoadError`, never a crash, a hang or a model that reads out of bounds.
@Suite struct MalformedLightGBMTests {
    private func load(_ text: String) throws -> GradientBoostedTrees {
        try GradientBoostedTrees.loadLightGBM(text: text, version: "test")
    }

    private func expectMalformed(
        _ text: String,
        _ reasonContains: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try load(text)
            Issue.record("loaded a model that should be refused (\(reasonContains))", sourceLocation: sourceLocation)
        } catch let error as ModelLoadError {
            #expect(error.description.contains(reasonContains), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    private var valid: String { OneSplit.lightGBM(decisionType: 8, threshold: "0.5") }

    @Test func theHandWrittenBaseModelLoads() throws {
        let model = try load(valid)
        #expect(model.treeCount == 1)
        #expect(model.featureNames == ["a", "b"])
        #expect(model.objective == "binary")
    }

    @Test func everyTruncationBeforeTheEndOfTreesIsRefused() throws {
        let text = try Fixtures.text("lgb_categorical.txt")
        let end = try #require(text.range(of: "end of trees")).upperBound
        let endOffset = text.utf8.distance(from: text.startIndex, to: end)
        var generator = SplitMix64(seed: 7)
        var cuts = (0..<80).map { _ in Int(generator.next() % UInt64(endOffset)) }
        cuts += [0, 1, 5, endOffset - 1]
        for cut in cuts {
            let truncated = String(decoding: Array(text.utf8.prefix(cut)), as: UTF8.self)
            #expect(throws: ModelLoadError.self, "cut at byte \(cut)") { try load(truncated) }
        }
    }

    @Test func aTruncatedParameterSectionAfterTheTreesStillLoads() throws {
        let text = try Fixtures.text("lgb_categorical.txt")
        let end = try #require(text.range(of: "end of trees")).upperBound
        let model = try load(String(text[..<end]))
        let golden = try Fixtures.golden("lgb_categorical.txt")
        try model.validate(against: golden)
    }

    @Test func windowsLineEndingsAreAccepted() throws {
        let text = try Fixtures.text("lgb_binary_nan.txt").replacingOccurrences(of: "\n", with: "\r\n")
        try load(text).validate(against: Fixtures.golden("lgb_binary_nan.txt"))
    }

    @Test func structuralCorruptionsAreRefusedWithTheirReason() {
        let v = valid
        expectMalformed("", "expected the 'tree' model header")
        expectMalformed("\u{0}\u{1}garbage", "expected the 'tree' model header")
        expectMalformed(v.replacingOccurrences(of: "left_child=-1", with: "left_child=0"), "reached twice")
        expectMalformed(v.replacingOccurrences(of: "left_child=-1", with: "left_child=3"), "has child 3")
        expectMalformed(v.replacingOccurrences(of: "right_child=-2", with: "right_child=-7"), "leaf child 6")
        expectMalformed(v.replacingOccurrences(of: "right_child=-2", with: "right_child=-1"), "reached twice")
        expectMalformed(v.replacingOccurrences(of: "split_feature=0", with: "split_feature=2"), "uses feature 2")
        expectMalformed(v.replacingOccurrences(of: "split_feature=0", with: "split_feature=-1"), "uses feature -1")
        expectMalformed(v.replacingOccurrences(of: "decision_type=8", with: "decision_type=12"), "unknown missing type")
        expectMalformed(v.replacingOccurrences(of: "decision_type=8", with: "decision_type=64"), "decision_type 64")
        expectMalformed(v.replacingOccurrences(of: "decision_type=8", with: "decision_type=9"), "category set 0.5")
        expectMalformed(v.replacingOccurrences(of: "threshold=0.5", with: "threshold=abc"), "invalid value 'abc'")
        expectMalformed(v.replacingOccurrences(of: "threshold=0.5", with: "threshold=nan"), "NaN threshold")
        expectMalformed(v.replacingOccurrences(of: "leaf_value=1 2", with: "leaf_value=1"), "'leaf_value' has 1 values")
        expectMalformed(v.replacingOccurrences(of: "leaf_value=1 2", with: "leaf_value=1 inf"), "non-finite")
        expectMalformed(v.replacingOccurrences(of: "num_leaves=2", with: "num_leaves=0"), "invalid num_leaves")
        expectMalformed(v.replacingOccurrences(of: "num_leaves=2", with: "num_leaves=3"), "has 2 values, expected 3")
        expectMalformed(v.replacingOccurrences(of: "leaf_value=1 2\n", with: ""), "missing 'leaf_value'")
        expectMalformed(v.replacingOccurrences(of: "end of trees", with: ""), "before 'end of trees'")
        expectMalformed(v.replacingOccurrences(of: "Tree=0", with: "Tree=1"), "expected 'Tree=0'")
        expectMalformed(v.replacingOccurrences(of: "split_gain=1", with: "split_gain"), "expected key=value")
        expectMalformed(v.replacingOccurrences(of: "feature_names=a b", with: "feature_names=a"), "1 feature names")
        expectMalformed(v.replacingOccurrences(of: "feature_names=a b", with: "feature_names=a a"), "appears twice")
        expectMalformed(v.replacingOccurrences(of: "max_feature_idx=1\n", with: ""), "header has no 'max_feature_idx'")
        expectMalformed(v.replacingOccurrences(of: "num_class=1", with: "num_class=x"), "not an integer")
        expectMalformed(
            v.replacingOccurrences(of: "\nTree=0", with: "\nend of trees\nTree=0").replacingOccurrences(
                of: "Tree=0\n",
                with: ""
            ),
            "model has no trees"
        )
    }

    @Test func categoricalCorruptionsAreRefused() {
        func categorical(_ boundaries: String, _ words: String, threshold: String = "0") -> String {
            OneSplit.lightGBM(decisionType: 1, threshold: threshold, categories: (boundaries, words))
        }
        expectMalformed(categorical("0 2", "9"), "do not delimit")
        expectMalformed(categorical("1 2", "9 1"), "do not delimit")
        expectMalformed(categorical("0 1", "-4"), "invalid value '-4'")
        expectMalformed(categorical("0 1", "9", threshold: "1"), "category set 1")
        expectMalformed(categorical("0 1", "9", threshold: "0.5"), "category set 0.5")
        expectMalformed(categorical("0 1 2", "9 1"), "'cat_boundaries' has 3 values")
    }

    @Test func unsupportedModelKindsAreNamed() {
        let v = valid
        #expect(throws: ModelLoadError.unsupported(format: "LightGBM", feature: "num_class=3 (multiclass)")) {
            try load(v.replacingOccurrences(of: "num_class=1", with: "num_class=3"))
        }
        #expect(throws: ModelLoadError.unsupported(format: "LightGBM", feature: "num_tree_per_iteration=2")) {
            try load(v.replacingOccurrences(of: "num_tree_per_iteration=1", with: "num_tree_per_iteration=2"))
        }
        #expect(throws: ModelLoadError.unsupported(format: "LightGBM", feature: "linear trees (Tree=0 (line 12))")) {
            try load(v.replacingOccurrences(of: "is_linear=0", with: "is_linear=1"))
        }
        #expect(throws: ModelLoadError.unsupported(format: "LightGBM", feature: "model format version v9")) {
            try load(v.replacingOccurrences(of: "version=v4", with: "version=v9"))
        }
        #expect(throws: ModelLoadError.unsupported(format: "LightGBM", feature: "average_output (random forest mode)"))
        {
            try load(v.replacingOccurrences(of: "tree_sizes=1", with: "tree_sizes=1\naverage_output"))
        }
    }
}

@Suite struct MalformedXGBoostTests {
    private func load(_ json: String) throws -> GradientBoostedTrees {
        try GradientBoostedTrees.loadXGBoostJSON(data: Array(json.utf8), version: "test")
    }

    private func expectRefused(
        _ json: String,
        _ reasonContains: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        do {
            _ = try load(json)
            Issue.record("loaded a model that should be refused (\(reasonContains))", sourceLocation: sourceLocation)
        } catch let error as ModelLoadError {
            #expect(error.description.contains(reasonContains), "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func theHandWrittenBaseModelLoads() throws {
        let model = try load(OneSplit.xgboost())
        #expect(model.treeCount == 1)
        #expect(model.featureNames == ["a", "b"])
    }

    @Test func everyTruncationIsRefused() throws {
        let bytes = try Fixtures.bytes("xgb_categorical.json")
        var generator = SplitMix64(seed: 11)
        var cuts = (0..<80).map { _ in Int(generator.next() % UInt64(bytes.count)) }
        cuts += [0, 1, bytes.count - 2]
        for cut in cuts {
            #expect(throws: ModelLoadError.self, "cut at byte \(cut)") {
                try GradientBoostedTrees.loadXGBoostJSON(data: Array(bytes.prefix(cut)), version: "test")
            }
        }
    }

    @Test func invalidJSONIsRefusedWithItsPosition() {
        expectRefused("", "byte 0: unexpected end of file")
        expectRefused("{\"learner\": tru}", "invalid literal")
        expectRefused("{\"a\":1,\"a\":2}", "duplicate member 'a'")
        expectRefused("{\"a\":01}", "byte 6: expected ',' or '}'")
        expectRefused("{\"a\":1.}", "no digits after '.'")
        expectRefused("{\"a\":\"\\x\"}", "invalid escape")
        expectRefused("{\"a\":\"\\ud800\"}", "unpaired surrogate")
        expectRefused("{} {}", "unexpected data after")
        expectRefused(String(repeating: "[", count: 100_000), "nested deeper than 64")
        expectRefused("[]", "$: expected an object")
        expectRefused("{}", "missing member 'learner'")
    }

    @Test func structuralCorruptionsAreRefusedWithTheirPath() {
        let base = OneSplit.xgboost()
        func tree(_ replace: String, _ with: String) -> String { base.replacingOccurrences(of: replace, with: with) }
        expectRefused(tree("\"left_children\":[1,-1,-1]", "\"left_children\":[1,0,-1]"), "node 0 is reached twice")
        expectRefused(tree("\"right_children\":[2,-1,-1]", "\"right_children\":[2,1,-1]"), "only a right child")
        expectRefused(
            tree("\"right_children\":[2,-1,-1]", "\"right_children\":[9,-1,-1]"),
            "child index 9 out of range"
        )
        expectRefused(tree("\"split_indices\":[0,0,0]", "\"split_indices\":[5,0,0]"), "uses feature 5")
        expectRefused(tree("\"split_indices\":[0,0,0]", "\"split_indices\":[0,0]"), "'split_indices' has 2 entries")
        expectRefused(tree("\"split_conditions\":[1E-1,", "\"split_conditions\":[\"x\","), "split_conditions[0]")
        expectRefused(tree("\"split_conditions\":[1E-1,", "\"split_conditions\":[NaN,"), "non-finite split condition")
        expectRefused(tree("1E0,2E0]", "Infinity,2E0]"), "non-finite value")
        expectRefused(tree("\"num_nodes\":\"3\"", "\"num_nodes\":\"0\""), "tree has no nodes")
        expectRefused(tree("\"num_trees\":\"1\"", "\"num_trees\":\"2\""), "num_trees does not match")
        expectRefused(
            tree("\"num_feature\":\"2\",\"num_target\"", "\"num_feature\":\"3\",\"num_target\""),
            "2 feature names"
        )
        expectRefused(tree("\"feature_names\":[\"a\",\"b\"]", "\"feature_names\":[\"a\",\"a\"]"), "appears twice")
        expectRefused(tree("\"split_type\":[0,0,0]", "\"split_type\":[1,0,0]"), "has no categories")
        expectRefused(OneSplit.xgboost(categories: [-1]), "invalid category -1")
        expectRefused(OneSplit.xgboost(categories: [16_777_216]), "invalid category 16777216")
        expectRefused(tree("\"categories_segments\":[]", "\"categories_segments\":[0]"), "differ in length")
        expectRefused(OneSplit.xgboost(baseScore: "abc"), "invalid base_score")
        expectRefused(OneSplit.xgboost(objective: "binary:logistic", baseScore: "1E0"), "must be in (0, 1)")
    }

    @Test func unsupportedModelKindsAreNamed() {
        let base = OneSplit.xgboost()
        expectRefused(OneSplit.xgboost(objective: "multi:softprob"), "objective multi:softprob")
        expectRefused(base.replacingOccurrences(of: "\"num_class\":\"0\"", with: "\"num_class\":\"3\""), "num_class=3")
        expectRefused(
            base.replacingOccurrences(of: "\"num_target\":\"1\"", with: "\"num_target\":\"2\""),
            "num_target=2"
        )
        expectRefused(base.replacingOccurrences(of: "\"name\":\"gbtree\"", with: "\"name\":\"dart\""), "booster dart")
        expectRefused(
            base.replacingOccurrences(of: "\"num_parallel_tree\":\"1\"", with: "\"num_parallel_tree\":\"2\""),
            "num_parallel_tree=2"
        )
        expectRefused(base.replacingOccurrences(of: "\"enc\":[]", with: "\"enc\":[{}]"), "re-coded string categories")
        expectRefused(
            base.replacingOccurrences(of: "\"split_type\":[0,0,0]", with: "\"split_type\":[2,0,0]"),
            "split_type 2"
        )
        expectRefused(OneSplit.xgboost(baseScore: "[1E0,2E0]"), "more than one base_score")
    }

    @Test func unreachableDeletedNodesAreIgnored() throws {
        // Node 3 is a pruned node XGBoost keeps in the arrays but no split points to.
        let tree = """
            {"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],
             "default_left":[0,0,0,0],"id":0,"left_children":[1,-1,-1,-1],"right_children":[2,-1,-1,-1],
             "split_conditions":[5E-1,1E0,2E0,9E0],"split_indices":[0,0,0,0],"split_type":[0,0,0,0],
             "tree_param":{"num_deleted":"1","num_feature":"2","num_nodes":"4","size_leaf_vector":"1"}}
            """
        let model = try load(OneSplit.xgboost(treeOverride: tree))
        #expect(model.rawScore([0, 0]) == 1)
        #expect(model.rawScore([1, 0]) == 2)
    }
}

@Suite struct ModelFileTests {
    @Test func unknownExtensionsAreRefused() {
        #expect(throws: ModelLoadError.unknownModelExtension(path: "/models/ranker.bin")) {
            try GradientBoostedTrees.load(contentsOf: "/models/ranker.bin")
        }
    }

    @Test func aMissingFileIsReportedAsUnreadable() {
        #expect {
            try GradientBoostedTrees.load(contentsOf: "/nonexistent/ranker.txt")
        } throws: { error in
            guard case .unreadableFile(let path, _) = error as? ModelLoadError else { return false }
            return path == "/nonexistent/ranker.txt"
        }
    }

    @Test func invalidUTF8InALightGBMFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/bad.txt"
        try Data([0x74, 0x72, 0x65, 0x65, 0x0A, 0xFF, 0xFE]).write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelLoadError.malformed(format: "LightGBM", location: path, reason: "not valid UTF-8")) {
            try GradientBoostedTrees.load(contentsOf: path)
        }
    }

    @Test(arguments: ["lgb_categorical.txt", "xgb_categorical.json"])
    func randomByteCorruptionNeverCrashes(_ name: String) throws {
        // Each mutated file either fails to load or loads into a model that can score every golden row; the
        // builder's shape checks are what make the second case safe.
        let original = try Fixtures.bytes(name)
        let golden = try Fixtures.golden(name)
        let alphabet = Array("0123456789-.eE ,[]{}\":=\nabc".utf8)
        var generator = SplitMix64(seed: 2024)
        var loaded = 0
        for _ in 0..<60 {
            var bytes = original
            for _ in 0..<(1 + Int(generator.next() % 3)) {
                let at = Int(generator.next() % UInt64(bytes.count))
                bytes[at] = alphabet[Int(generator.next() % UInt64(alphabet.count))]
            }
            let model: GradientBoostedTrees
            do {
                if name.hasSuffix(".txt") {
                    model = try GradientBoostedTrees.loadLightGBM(
                        text: String(decoding: bytes, as: UTF8.self),
                        version: "m"
                    )
                } else {
                    model = try GradientBoostedTrees.loadXGBoostJSON(data: bytes, version: "m")
                }
            } catch is ModelLoadError {
                continue
            }
            loaded += 1
            if model.featureNames.count == golden.featureNames.count {
                let scores = model.rawScores(golden.values, rowCount: golden.rowCount)
                #expect(scores.count == golden.rowCount)
            }
        }
        // Most single-byte edits land in numbers and leave a loadable file; the point is that none crashed.
        #expect(loaded > 0)
    }
}
