import Foundation
import Testing

@testable import RankingModels

/// One-split models written by hand, so each routing rule is checked against LightGBM's and XGBoost's documented
/// decision code rather than only through trained fixtures. Leaf 1.0 is the left child, leaf 2.0 the right.
enum OneSplit {
    static let left = 1.0
    static let right = 2.0

    /// A LightGBM model with one split on feature `a` (features `a b`).
    static func lightGBM(
        decisionType: Int,
        threshold: String,
        categories: (boundaries: String, words: String)? = nil
    ) -> String {
        var tree = """
            Tree=0
            num_leaves=2
            num_cat=\(categories == nil ? 0 : 1)
            split_feature=0
            split_gain=1
            threshold=\(threshold)
            decision_type=\(decisionType)
            left_child=-1
            right_child=-2
            leaf_value=1 2
            leaf_weight=1 1
            leaf_count=1 1
            internal_value=0
            internal_weight=0
            internal_count=2

            """
        if let categories {
            tree += "cat_boundaries=\(categories.boundaries)\ncat_threshold=\(categories.words)\n"
        }
        tree += "is_linear=0\nshrinkage=1\n"
        return lightGBMHeader(featureNames: "a b") + "\n" + tree + "\n\nend of trees\n"
    }

    static func lightGBMHeader(featureNames: String, objective: String = "binary sigmoid:1") -> String {
        let count = featureNames.split(separator: " ").count
        return """
            tree
            version=v4
            num_class=1
            num_tree_per_iteration=1
            label_index=0
            max_feature_idx=\(count - 1)
            objective=\(objective)
            feature_names=\(featureNames)
            feature_infos=\(Array(repeating: "none", count: count).joined(separator: " "))
            tree_sizes=1

            """
    }

    /// An XGBoost model with one split on feature `a` (features `a b`) and base margin 0.
    static func xgboost(
        condition: String = "1E-1",
        defaultLeft: Int = 0,
        categories: [Int]? = nil,
        objective: String = "reg:squarederror",
        baseScore: String = "[0E0]",
        treeOverride: String? = nil
    ) -> String {
        let splitType = categories == nil ? 0 : 1
        let categoryNodes = categories == nil ? "[]" : "[0]"
        let tree =
            treeOverride ?? """
                {"base_weights":[0,1,2],"categories":\(categories ?? []),
                 "categories_nodes":\(categoryNodes),"categories_segments":\(categoryNodes),
                 "categories_sizes":\(categories.map { "[\($0.count)]" } ?? "[]"),
                 "default_left":[\(defaultLeft),0,0],"id":0,"left_children":[1,-1,-1],"loss_changes":[1,0,0],
                 "parents":[2147483647,0,0],"right_children":[2,-1,-1],"split_conditions":[\(condition),1E0,2E0],
                 "split_indices":[0,0,0],"split_type":[\(splitType),0,0],"sum_hessian":[2,1,1],
                 "tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"3","size_leaf_vector":"1"}}
                """
        return """
            {"learner":{"attributes":{},"feature_names":["a","b"],"feature_types":["q","q"],
             "gradient_booster":{"model":{"cats":{"enc":[],"feature_segments":[],"sorted_idx":[]},
              "gbtree_model_param":{"num_parallel_tree":"1","num_trees":"1"},"iteration_indptr":[0,1],
              "tree_info":[0],"trees":[\(tree)]},"name":"gbtree"},
             "learner_model_param":{"base_score":"\(baseScore)","boost_from_average":"1","num_class":"0",
              "num_feature":"2","num_target":"1"},
             "objective":{"name":"\(objective)","reg_loss_param":{"scale_pos_weight":"1"}}},
             "version":[3,2,0]}
            """
    }

    static func score(_ model: GradientBoostedTrees, _ a: Double) -> Double {
        model.rawScore([a, 0])
    }
}

@Suite struct LightGBMSplitSemanticsTests {
    private func model(_ decisionType: Int, _ threshold: String) throws -> GradientBoostedTrees {
        try GradientBoostedTrees.loadLightGBM(
            text: OneSplit.lightGBM(decisionType: decisionType, threshold: threshold),
            version: "test"
        )
    }

    @Test func withoutAMissingTypeNaNIsScoredAsZero() throws {
        let positive = try model(0, "0.5")
        #expect(OneSplit.score(positive, .nan) == OneSplit.left)
        #expect(OneSplit.score(positive, 0.5) == OneSplit.left)
        #expect(OneSplit.score(positive, 0.5.nextUp) == OneSplit.right)
        let negative = try model(2, "-0.5")  // default_left set, but it only applies to a missing type
        #expect(OneSplit.score(negative, .nan) == OneSplit.right)
        #expect(OneSplit.score(negative, -0.5) == OneSplit.left)
        #expect(OneSplit.score(negative, -.infinity) == OneSplit.left)
    }

    @Test func nanMissingTypeFollowsDefaultLeft() throws {
        let defaultLeft = try model(10, "-0.5")
        #expect(OneSplit.score(defaultLeft, .nan) == OneSplit.left)
        #expect(OneSplit.score(defaultLeft, 0) == OneSplit.right)
        let defaultRight = try model(8, "0.5")
        #expect(OneSplit.score(defaultRight, .nan) == OneSplit.right)
        #expect(OneSplit.score(defaultRight, 0) == OneSplit.left)
    }

    @Test func zeroMissingTypeSendsZeroNaNAndTinyValuesToTheDefault() throws {
        let defaultLeft = try model(6, "-1")
        for value in [0, -0.0, .nan, 1e-36, -1e-36, lightGBMZeroThreshold] {
            #expect(OneSplit.score(defaultLeft, value) == OneSplit.left, "value \(value)")
        }
        #expect(OneSplit.score(defaultLeft, -0.5) == OneSplit.right)
        #expect(OneSplit.score(defaultLeft, -2) == OneSplit.left)
        let defaultRight = try model(4, "1")
        for value in [0, .nan, 1e-36] {
            #expect(OneSplit.score(defaultRight, value) == OneSplit.right, "value \(value)")
        }
        #expect(OneSplit.score(defaultRight, 0.5) == OneSplit.left)
        #expect(OneSplit.score(defaultRight, 2e-35) == OneSplit.left)
    }

    @Test func valuesWithinKZeroThresholdCountAsZeroAgainstAThresholdInsideTheBand() throws {
        // LightGBM's predictor turns |x| <= kZeroThreshold into 0 before the tree sees it.
        let atMinusZeroBand = try model(2, "-1.0000000180025095e-35")
        #expect(OneSplit.score(atMinusZeroBand, -lightGBMZeroThreshold) == OneSplit.right)
        #expect(OneSplit.score(atMinusZeroBand, -lightGBMZeroThreshold.nextUp) == OneSplit.left)
        let atZero = try model(2, "0")
        #expect(OneSplit.score(atZero, 1e-36) == OneSplit.left)
        #expect(OneSplit.score(atZero, 2e-35) == OneSplit.right)
    }

    @Test func singleLeafTreesAddTheirValueToEveryRow() throws {
        let stump = """
            Tree=1
            num_leaves=1
            num_cat=0
            split_feature=
            split_gain=
            threshold=
            decision_type=
            left_child=
            right_child=
            leaf_value=0.25
            leaf_weight=
            leaf_count=5
            internal_value=
            internal_weight=
            internal_count=
            is_linear=0
            shrinkage=1


            """
        let text = OneSplit.lightGBM(decisionType: 8, threshold: "0.5")
            .replacingOccurrences(of: "end of trees", with: stump + "end of trees")
        let model = try GradientBoostedTrees.loadLightGBM(text: text, version: "test")
        #expect(model.treeCount == 2)
        let rows: [Double] = [0, 0, 1, 0, .nan, 0, 0.5, 0, 7, 0, 0, 0, 1, 0, 0, 0, 1, 0]
        #expect(model.rawScores(rows, rowCount: 9) == [1.25, 2.25, 2.25, 1.25, 2.25, 1.25, 2.25, 1.25, 2.25])
        #expect(model.rawScores(rows, rowCount: 9, treeLimit: 1) == [1, 2, 2, 1, 2, 1, 2, 1, 2])
        #expect(model.rawScore([3, 0]) == 2.25)
    }

    @Test func categoricalSplitsFollowLightGBMsIntegerTruncation() throws {
        // Categories {0, 3, 40}: word 0 = bits 0 and 3, word 1 = bit 8.
        let model = try GradientBoostedTrees.loadLightGBM(
            text: OneSplit.lightGBM(decisionType: 9, threshold: "0", categories: ("0 2", "9 256")),
            version: "test"
        )
        let expectations: [(Double, Double)] = [
            (0, OneSplit.left), (3, OneSplit.left), (40, OneSplit.left), (3.9, OneSplit.left), (40.7, OneSplit.left),
            (-0.5, OneSplit.left),  // truncates to category 0
            (1, OneSplit.right), (2, OneSplit.right), (41, OneSplit.right), (64, OneSplit.right),
            (1000, OneSplit.right), (-1, OneSplit.right), (.nan, OneSplit.right), (3e9, OneSplit.right),
            (1e300, OneSplit.right), (-.infinity, OneSplit.right), (.infinity, OneSplit.right),
        ]
        for (value, expected) in expectations {
            #expect(OneSplit.score(model, value) == expected, "category value \(value)")
        }
    }
}

@Suite struct XGBoostSplitSemanticsTests {
    @Test func inputsAreRoundedToFloat32BeforeTheStrictComparison() throws {
        let model = try GradientBoostedTrees.loadXGBoostJSON(data: Array(OneSplit.xgboost().utf8), version: "test")
        let threshold = Double(Float(0.1))
        // 0.1 as a double is below float(0.1), but XGBoost compares float(0.1) < float(0.1): false.
        #expect(0.1 < threshold)
        #expect(OneSplit.score(model, 0.1) == OneSplit.right)
        #expect(OneSplit.score(model, threshold) == OneSplit.right)
        #expect(OneSplit.score(model, Double(Float(0.1).nextDown)) == OneSplit.left)
        #expect(OneSplit.score(model, .nan) == OneSplit.right)
        let defaultLeft = try GradientBoostedTrees.loadXGBoostJSON(
            data: Array(OneSplit.xgboost(defaultLeft: 1).utf8),
            version: "test"
        )
        #expect(OneSplit.score(defaultLeft, .nan) == OneSplit.left)
        #expect(OneSplit.score(defaultLeft, 1) == OneSplit.right)
    }

    @Test func aTreeThatIsOneLeafScoresItsValue() throws {
        let leafOnly = """
            {"categories":[],"categories_nodes":[],"categories_segments":[],"categories_sizes":[],
             "default_left":[0],"id":0,"left_children":[-1],"right_children":[-1],"split_conditions":[7.5E-1],
             "split_indices":[0],"split_type":[0],
             "tree_param":{"num_deleted":"0","num_feature":"2","num_nodes":"1","size_leaf_vector":"1"}}
            """
        let model = try GradientBoostedTrees.loadXGBoostJSON(
            data: Array(OneSplit.xgboost(baseScore: "[5E-1]", treeOverride: leafOnly).utf8),
            version: "test"
        )
        #expect(model.rawScore([.nan, 3]) == 1.25)
        #expect(
            model.rawScores([Double](repeating: 1, count: 20), rowCount: 10) == [Double](repeating: 1.25, count: 10)
        )
    }

    @Test func listedCategoriesGoRightAndInvalidOnesLeft() throws {
        let model = try GradientBoostedTrees.loadXGBoostJSON(
            data: Array(OneSplit.xgboost(categories: [1, 5, 33]).utf8),
            version: "test"
        )
        let expectations: [(Double, Double)] = [
            (1, OneSplit.right), (5, OneSplit.right), (33, OneSplit.right), (5.9, OneSplit.right),
            (0, OneSplit.left), (2, OneSplit.left), (34, OneSplit.left), (64, OneSplit.left), (-1, OneSplit.left),
            (-0.5, OneSplit.left), (16_777_216, OneSplit.left), (1e10, OneSplit.left), (.nan, OneSplit.right),
        ]
        for (value, expected) in expectations {
            #expect(OneSplit.score(model, value) == expected, "category value \(value)")
        }
        // 32.99999999 rounds to float 33 before truncation.
        #expect(OneSplit.score(model, 32.999999999) == OneSplit.right)
    }

    @Test func logisticBaseScoreBecomesAFloatLogitMargin() throws {
        let model = try GradientBoostedTrees.loadXGBoostJSON(
            data: Array(OneSplit.xgboost(objective: "binary:logistic", baseScore: "3E-1").utf8),
            version: "test"
        )
        let margin = model.rawScore([0, 0], treeLimit: 0)
        #expect(margin == Double(-logf(1 / Float(0.3) - 1)))
        #expect(model.rawScore([5, 0]) == Double(Float(margin) + 2))
    }

    @Test(arguments: [
        Float(0), -Float(0), Float(0.1), Float(-0.1), Float(1), Float(-1), Float(2), Float(-2), Float(3.5e-40),
        Float.leastNonzeroMagnitude, -Float.leastNonzeroMagnitude, Float.leastNormalMagnitude,
        Float.greatestFiniteMagnitude, -Float.greatestFiniteMagnitude, Float(16_777_216), Float(0.0022116026),
    ])
    func foldedThresholdAgreesWithFloat32Comparison(_ threshold: Float) throws {
        let folded = try #require(doubleThreshold(forFloat32LessThan: threshold))
        var probes: [Double] = [folded, folded.nextUp, folded.nextDown, Double(threshold)]
        for neighbour in [threshold.nextDown, threshold.nextUp] where neighbour.isFinite {
            let midpoint = (Double(neighbour) + Double(threshold)) / 2
            probes += [Double(neighbour), midpoint, midpoint.nextUp, midpoint.nextDown]
        }
        var generator = SplitMix64(seed: UInt64(threshold.bitPattern))
        for _ in 0..<2000 {
            let scale = Swift.max(Double(threshold.magnitude), Double(Float.leastNonzeroMagnitude)) * 1e-6
            probes.append(Double(threshold) + (Double(generator.next() % 2001) - 1000) * scale / 1000)
        }
        for x in probes {
            #expect((Float(x) < threshold) == (x <= folded), "x = \(x)")
        }
    }

    @Test func nonFiniteThresholdsHaveNoFoldedForm() {
        #expect(doubleThreshold(forFloat32LessThan: .infinity) == nil)
        #expect(doubleThreshold(forFloat32LessThan: .nan) == nil)
    }
}

/// A small deterministic generator so randomized tests see the same inputs on every run.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
