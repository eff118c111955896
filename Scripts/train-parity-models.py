#!/usr/bin/env python3
"""Train small LightGBM and XGBoost models and write golden files for RankingModels' parity tests.

Every model is trained on synthetic data generated here from a fixed seed, so the fixtures can be regenerated
with one command:

    python3 -m pip install -r Scripts/requirements-train.txt
    python3 Scripts/train-parity-models.py [--out Tests/RankingModelsTests/Fixtures]

For each model it writes <name>.txt (LightGBM text format) or <name>.json (XGBoost Booster.save_model JSON) and
<name>.golden.json: the feature names, feature rows (missing values written as null) and the raw scores (before any
sigmoid) the library itself produced for those rows, for all trees and for a few "first N trees" limits.

The rows deliberately include what tends to break a re-implementation: NaN in features that never saw NaN in
training, exact zeros, -0.0 and denormal-small values, values exactly on a split threshold and one ulp either side,
for XGBoost the float32 rounding midpoints around its thresholds, and for categorical features negative, fractional,
unseen and out-of-range categories.

The pipeline's demo model can be trained the same way: build a feature matrix whose column order is the pipeline's
feature order, train, save with save_model(), and write the golden file with write_golden().
"""

import argparse
import json
import math
import os
import struct

import lightgbm as lgb
import numpy as np
import xgboost as xgb

SEED = 20240917
GOLDEN_FORMAT = "rankd-golden/1"
# Rows sampled from the test split, before the edge-case rows are appended.
SAMPLED_ROWS = 160
# Edge-case rows per golden file: enough to hit every feature's thresholds, few enough to keep files small.
MAX_EDGE_ROWS = 480


# ---------------------------------------------------------------------------------------------------------------------
# Synthetic data


def numeric_block(rng, n, names, nan_rate=None, zero_rate=None):
    """Columns of mixed scales; nan_rate/zero_rate map a column name to the fraction of NaN/exact zero values."""
    nan_rate = nan_rate or {}
    zero_rate = zero_rate or {}
    cols = []
    for i, name in enumerate(names):
        kind = i % 4
        if kind == 0:
            col = rng.normal(0.0, 1.0, n)
        elif kind == 1:
            col = rng.exponential(3.0, n)
        elif kind == 2:
            col = rng.uniform(-5.0, 5.0, n)
        else:
            col = np.round(rng.lognormal(1.0, 1.0, n), 2)
        if name in zero_rate:
            col[rng.random(n) < zero_rate[name]] = 0.0
        if name in nan_rate:
            col[rng.random(n) < nan_rate[name]] = np.nan
        cols.append(col)
    return np.column_stack(cols)


def latent_score(rng, X):
    """A non-linear function of the first columns plus noise; NaN contributes its own effect so splits learn it."""
    filled = np.nan_to_num(X, nan=0.0)
    isnan = np.isnan(X).astype(float)
    s = (
        1.2 * np.tanh(filled[:, 0])
        - 0.4 * np.log1p(np.abs(filled[:, 1]))
        + 0.3 * filled[:, 2] * (filled[:, 0] > 0)
        + 0.5 * isnan[:, 1]
        - 0.6 * isnan[:, 0]
    )
    if X.shape[1] > 3:
        s += 0.2 * np.sqrt(np.abs(filled[:, 3])) - 0.7 * (filled[:, 3] == 0)
    return s + rng.normal(0.0, 0.5, X.shape[0])


def with_categoricals(rng, X, cardinalities):
    """Append integer-valued categorical columns (some NaN) and fold their effect into the latent score."""
    n = X.shape[0]
    effects = np.zeros(n)
    cols = []
    for card in cardinalities:
        codes = rng.integers(0, card, n).astype(float)
        weights = rng.normal(0.0, 1.0, card)
        effects += weights[codes.astype(int)]
        codes[rng.random(n) < 0.05] = np.nan
        cols.append(codes)
    return np.column_stack([X] + cols), effects


def ranking_groups(rng, n, group_size):
    sizes = [group_size] * (n // group_size)
    return np.array(sizes), np.repeat(np.arange(len(sizes)), group_size)


def relevance_labels(score, groups_qid):
    """Five relevance grades by within-query rank of the latent score."""
    labels = np.zeros(len(score))
    for q in np.unique(groups_qid):
        idx = np.where(groups_qid == q)[0]
        order = np.argsort(np.argsort(score[idx]))
        labels[idx] = np.minimum(4, (order * 5) // len(idx))
    return labels


# ---------------------------------------------------------------------------------------------------------------------
# Edge-case rows


def f32_neighbours(t):
    """Doubles that land on either side of float32 threshold t after XGBoost converts the input to float32."""
    t32 = np.float32(t)
    below = np.nextafter(t32, np.float32(-np.inf))
    above = np.nextafter(t32, np.float32(np.inf))
    out = [float(t32), float(below), float(above)]
    for lo, hi in ((below, t32), (t32, above)):
        if np.isfinite(lo) and np.isfinite(hi):
            mid = (float(lo) + float(hi)) / 2.0  # exact in double: the round-to-nearest tie point
            out += [mid, math.nextafter(mid, -math.inf), math.nextafter(mid, math.inf)]
    return out


def f64_neighbours(t):
    return [t, math.nextafter(t, -math.inf), math.nextafter(t, math.inf)]


def edge_rows(base, thresholds, categorical, categories, float32_inputs, rng):
    """One varied feature per row on top of base; thresholds maps feature index -> split thresholds."""
    n_features = len(base)
    variants = []
    for j in range(n_features):
        if j in categorical:
            top = categories.get(j, 8)
            values = [0.0, 1.0, 2.0, float(top - 1), float(top), float(top + 7), 999.0, -1.0, -0.5, 2.7,
                      31.0, 32.0, 33.0, 63.0, 64.0, np.nan]
            values += [1e10] if not float32_inputs else [16777215.0, 16777216.0]
        else:
            values = [np.nan, 0.0, -0.0, 1e-40, -1e-40, 1e-35, -1e-35, 2e-35]
            values += [3e38, -3e38] if float32_inputs else [1e300, -1e300]
            ts = sorted(set(thresholds.get(j, [])))
            if len(ts) > 10:
                picks = rng.choice(len(ts), 10, replace=False)
                ts = [ts[k] for k in sorted(picks)]
            for t in ts:
                values += f32_neighbours(t) if float32_inputs else f64_neighbours(t)
        for v in values:
            variants.append((j, v))
    rows = []
    for j, v in variants:
        row = base.copy()
        row[j] = v
        rows.append(row)
    rows.append(np.full(n_features, np.nan))
    rows.append(np.zeros(n_features))
    if len(rows) > MAX_EDGE_ROWS:
        keep = sorted(rng.choice(len(rows), MAX_EDGE_ROWS, replace=False))
        rows = [rows[k] for k in keep]
    return np.array(rows)


def lightgbm_thresholds(booster):
    out = {}

    def walk(node):
        if "split_index" not in node:
            return
        if node["decision_type"] == "<=":
            out.setdefault(node["split_feature"], []).append(float(node["threshold"]))
        walk(node["left_child"])
        walk(node["right_child"])

    for tree in booster.dump_model()["tree_info"]:
        walk(tree["tree_structure"])
    return out


def xgboost_thresholds(model_json):
    out = {}
    for tree in model_json["learner"]["gradient_booster"]["model"]["trees"]:
        for node, left in enumerate(tree["left_children"]):
            if left != -1 and tree["split_type"][node] == 0:
                out.setdefault(tree["split_indices"][node], []).append(float(tree["split_conditions"][node]))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Output


def json_number(v):
    v = float(v)
    if math.isnan(v):
        return None
    if math.isinf(v):
        raise ValueError("golden files cannot hold infinities")
    return v


def write_golden(path, model_file, producer, feature_names, rows, scores, limited):
    """limited: list of (tree_limit, scores) pairs computed by the library with num_iteration/iteration_range."""
    doc = {
        "format": GOLDEN_FORMAT,
        "model_file": model_file,
        "producer": producer,
        "feature_names": list(feature_names),
        "rows": [[json_number(v) for v in row] for row in rows],
        "raw_scores": [json_number(s) for s in scores],
        "tree_limited": [
            {"tree_limit": int(k), "raw_scores": [json_number(s) for s in ss]} for k, ss in limited
        ],
    }
    with open(path, "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")


def golden_rows(rng, X_test, thresholds, categorical, categories, float32_inputs):
    sample = X_test[rng.choice(len(X_test), SAMPLED_ROWS, replace=False)]
    base = np.nanmedian(X_test, axis=0)
    for j in categorical:
        base[j] = 1.0
    return np.vstack([sample, edge_rows(base, thresholds, categorical, categories, float32_inputs, rng)])


# ---------------------------------------------------------------------------------------------------------------------
# LightGBM


LGB_COMMON = {
    "verbose": -1,
    "num_threads": 1,
    "deterministic": True,
    "seed": SEED,
    "learning_rate": 0.1,
    "num_leaves": 15,
    "min_data_in_leaf": 10,
}


def lightgbm_model(out, name, rng, X, y, X_test, params, rounds, feature_names, categorical=(), categories=None,
                   group=None):
    ds = lgb.Dataset(X, y, feature_name=feature_names, categorical_feature=list(categorical) or "auto",
                     group=group, free_raw_data=False)
    booster = lgb.train({**LGB_COMMON, **params}, ds, num_boost_round=rounds)
    model_file = name + ".txt"
    booster.save_model(os.path.join(out, model_file))
    rows = golden_rows(rng, X_test, lightgbm_thresholds(booster), set(categorical), categories or {}, False)
    scores = booster.predict(rows, raw_score=True)
    limits = [1, 5, booster.num_trees() // 2]
    limited = [(k, booster.predict(rows, raw_score=True, num_iteration=k)) for k in limits]
    write_golden(os.path.join(out, name + ".golden.json"), model_file, "lightgbm " + lgb.__version__,
                 booster.feature_name(), rows, scores, limited)
    print(f"{model_file}: {booster.num_trees()} trees, {len(rows)} golden rows")


def train_lightgbm(out, rng):
    names = ["user_ctr", "item_age_days", "price", "dwell_secs", "similarity", "popularity"]

    # NaN as missing: three features see NaN in training (missing_type NaN); the rest never do (missing_type None)
    # but get NaN in the golden rows, which LightGBM scores as 0.
    nan_rate = {"user_ctr": 0.15, "item_age_days": 0.2, "similarity": 0.1}
    X = numeric_block(rng, 3000, names, nan_rate=nan_rate)
    X_test = numeric_block(rng, 800, names, nan_rate=nan_rate)
    y = (latent_score(rng, X) > 0).astype(float)
    lightgbm_model(out, "lgb_binary_nan", rng, X, y, X_test, {"objective": "binary"}, 60, names)

    # Zero as missing: exact zeros (and NaN, which LightGBM folds into zero) take the default direction.
    zero_rate = {"user_ctr": 0.2, "item_age_days": 0.25, "price": 0.15, "dwell_secs": 0.3}
    X = numeric_block(rng, 3000, names, nan_rate={"similarity": 0.1}, zero_rate=zero_rate)
    X_test = numeric_block(rng, 800, names, nan_rate={"similarity": 0.1}, zero_rate=zero_rate)
    y = (latent_score(rng, X) > 0).astype(float)
    lightgbm_model(out, "lgb_binary_zero", rng, X, y, X_test, {"objective": "binary", "zero_as_missing": True}, 60,
                   names)

    # Categorical: 3 categories (one-vs-rest splits), 12 and 70 categories (many-vs-many, multi-word bitsets).
    cat_names = names[:4] + ["device", "country", "genre"]
    X_num = numeric_block(rng, 4000, names[:4], nan_rate={"price": 0.1})
    X, effects = with_categoricals(rng, X_num, [3, 12, 70])
    Xt_num = numeric_block(rng, 800, names[:4], nan_rate={"price": 0.1})
    X_test, _ = with_categoricals(rng, Xt_num, [3, 12, 70])
    y = (latent_score(rng, X_num) + 1.5 * effects > 0).astype(float)
    categorical = [4, 5, 6]
    params = {"objective": "binary", "max_cat_to_onehot": 4, "min_data_per_group": 10, "cat_smooth": 1.0,
              "cat_l2": 1.0, "max_cat_threshold": 64}
    lightgbm_model(out, "lgb_categorical", rng, X, y, X_test, params, 60, cat_names, categorical,
                   {4: 3, 5: 12, 6: 70})

    # Lambdarank on 20-item queries, NaN missing.
    X = numeric_block(rng, 4000, names, nan_rate=nan_rate)
    X_test = numeric_block(rng, 800, names, nan_rate=nan_rate)
    group, qid = ranking_groups(rng, len(X), 20)
    y = relevance_labels(latent_score(rng, X), qid)
    lightgbm_model(out, "lgb_lambdarank", rng, X, y, X_test, {"objective": "lambdarank"}, 60, names, group=group)


# ---------------------------------------------------------------------------------------------------------------------
# XGBoost


XGB_COMMON = {"nthread": 1, "seed": SEED, "eta": 0.15, "max_depth": 4, "tree_method": "hist"}


def xgboost_model(out, name, rng, X, y, X_test, params, rounds, feature_names, feature_types=None,
                  categories=None, qid=None):
    cat = feature_types is not None and "c" in feature_types
    dtrain = xgb.DMatrix(X, y, feature_names=feature_names, feature_types=feature_types, enable_categorical=cat,
                         qid=qid)
    booster = xgb.train({**XGB_COMMON, **params}, dtrain, num_boost_round=rounds)
    model_file = name + ".json"
    path = os.path.join(out, model_file)
    booster.save_model(path)
    with open(path) as f:
        model_json = json.load(f)
    categorical = {j for j, t in enumerate(feature_types or []) if t == "c"}
    rows = golden_rows(rng, X_test, xgboost_thresholds(model_json), categorical, categories or {}, True)
    drows = xgb.DMatrix(rows, feature_names=feature_names, feature_types=feature_types, enable_categorical=cat)
    scores = booster.predict(drows, output_margin=True)
    limits = [1, 5, booster.num_boosted_rounds() // 2]
    limited = [(k, booster.predict(drows, output_margin=True, iteration_range=(0, k))) for k in limits]
    write_golden(os.path.join(out, name + ".golden.json"), model_file, "xgboost " + xgb.__version__, feature_names,
                 rows, scores, limited)
    print(f"{model_file}: {booster.num_boosted_rounds()} trees, {len(rows)} golden rows")


def train_xgboost(out, rng):
    names = ["user_ctr", "item_age_days", "price", "dwell_secs", "similarity", "popularity"]
    nan_rate = {"user_ctr": 0.15, "item_age_days": 0.2, "dwell_secs": 0.1, "popularity": 0.05}

    X = numeric_block(rng, 3000, names, nan_rate=nan_rate)
    X_test = numeric_block(rng, 800, names, nan_rate=nan_rate)
    y = (latent_score(rng, X) > 0).astype(float)
    xgboost_model(out, "xgb_binary", rng, X, y, X_test, {"objective": "binary:logistic"}, 60, names)

    X = numeric_block(rng, 3000, names, nan_rate=nan_rate)
    X_test = numeric_block(rng, 800, names, nan_rate=nan_rate)
    y = latent_score(rng, X)
    xgboost_model(out, "xgb_regression", rng, X, y, X_test, {"objective": "reg:squarederror"}, 50, names)

    X = numeric_block(rng, 4000, names, nan_rate=nan_rate)
    X_test = numeric_block(rng, 800, names, nan_rate=nan_rate)
    _, qid = ranking_groups(rng, len(X), 20)
    y = relevance_labels(latent_score(rng, X), qid)
    xgboost_model(out, "xgb_pairwise", rng, X, y, X_test, {"objective": "rank:pairwise"}, 60, names, qid=qid)
    xgboost_model(out, "xgb_ndcg", rng, X, y, X_test, {"objective": "rank:ndcg"}, 40, names, qid=qid)

    # Categorical splits: 3 categories one-hot, 12 and 40 categories partitioned.
    cat_names = names[:4] + ["device", "country", "genre"]
    X_num = numeric_block(rng, 4000, names[:4], nan_rate={"price": 0.1})
    X, effects = with_categoricals(rng, X_num, [3, 12, 40])
    Xt_num = numeric_block(rng, 800, names[:4], nan_rate={"price": 0.1})
    X_test, _ = with_categoricals(rng, Xt_num, [3, 12, 40])
    y = (latent_score(rng, X_num) + 1.5 * effects > 0).astype(float)
    types = ["q", "q", "q", "q", "c", "c", "c"]
    xgboost_model(out, "xgb_categorical", rng, X, y, X_test,
                  {"objective": "binary:logistic", "max_cat_to_onehot": 4}, 60, cat_names, types,
                  {4: 3, 5: 12, 6: 40})


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join(here, "..", "Tests", "RankingModelsTests", "Fixtures"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(SEED)
    train_lightgbm(args.out, rng)
    train_xgboost(args.out, rng)


if __name__ == "__main__":
    main()
