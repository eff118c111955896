#!/usr/bin/env python3
"""Trains rankd's demo models from `rankctl demo-data` output and writes each model with its golden file.

    rankctl demo-data --out /tmp/rankd-demo-data
    Scripts/train-demo-model.py --data /tmp/rankd-demo-data --out Sources/Ranking/Resources

Writes into --out:
  discovery-lgbm.txt  (+ .golden.json)  LightGBM lambdarank on venues: the discovery surface's control model
  discovery-xgb.json  (+ .golden.json)  XGBoost rank:ndcg on the same rows: the experiment's second variant
  items-lgbm.txt      (+ .golden.json)  LightGBM lambdarank on menu items: the venue_items surface
  cart-lgbm.txt       (+ .golden.json)  LightGBM lambdarank on a venue's items given a cart: the cart surface

--models picks which to train (e.g. `--models items-lgbm,cart-lgbm` leaves the discovery models as they are).

Feature columns are the feature join's names, taken from the CSV header, so the served model asks for exactly
what rankd computes. A golden file holds rows (missing = null) and the library's own raw scores, for all trees
and for the first-phase tree limit, so rankd can refuse a model it would not score identically.
"""
import argparse
import json
import math
import os
import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
import xgboost as xgb

ID_COLUMNS = 3  # session_id, user_id, venue_id/item_id
FIRST_PHASE_TREES = 30
GOLDEN_ROWS = 200


def load(path, drop_prefix=None):
    frame = pd.read_csv(path)
    frame = frame.sort_values("session_id", kind="stable")
    features = [f for f in frame.columns[ID_COLUMNS + 1:] if not (drop_prefix and f.startswith(drop_prefix))]
    groups = frame.groupby("session_id", sort=False).size().to_numpy()
    return frame, features, groups


def golden_rows(valid, features, seed):
    """A fixed sample of validation rows, with extra rows of missing values so NaN handling is covered."""
    rng = np.random.default_rng(seed)
    sample = valid[features].to_numpy(dtype=np.float64)
    picked = sample[rng.choice(len(sample), size=min(GOLDEN_ROWS, len(sample)), replace=False)]
    holes = picked[:20].copy()
    for i in range(len(holes)):
        holes[i, rng.choice(len(features), size=3, replace=False)] = np.nan
    return np.vstack([picked, holes, np.full((1, len(features)), np.nan)])


def write_golden(path, features, rows, raw, limited, producer, model_file):
    def cell(v):
        return None if math.isnan(v) else float(v)
    doc = {
        "format": "rankd-golden-v1",
        "producer": producer,
        "model_file": model_file,
        "feature_names": features,
        "rows": [[cell(v) for v in row] for row in rows],
        "raw_scores": [float(s) for s in raw],
        "tree_limited": [{"tree_limit": FIRST_PHASE_TREES, "raw_scores": [float(s) for s in limited]}],
    }
    with open(path, "w") as out:
        json.dump(doc, out, separators=(",", ":"))


def train_lightgbm(name, train_csv, valid_csv, out_dir, trees, leaves, drop_prefix=None):
    train, features, train_groups = load(train_csv, drop_prefix)
    valid, _, valid_groups = load(valid_csv, drop_prefix)
    params = {
        "objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [10], "learning_rate": 0.08,
        "num_leaves": leaves, "min_data_in_leaf": 50, "feature_fraction": 0.9, "bagging_fraction": 0.8,
        "bagging_freq": 1, "lambdarank_truncation_level": 20, "seed": 42, "deterministic": True,
        "num_threads": 2, "verbose": -1,
    }
    train_set = lgb.Dataset(train[features], label=train["label"], group=train_groups, feature_name=features)
    valid_set = lgb.Dataset(valid[features], label=valid["label"], group=valid_groups, reference=train_set)
    booster = lgb.train(params, train_set, num_boost_round=trees, valid_sets=[valid_set],
                        callbacks=[lgb.log_evaluation(50)])
    model_file = f"{name}.txt"
    booster.save_model(os.path.join(out_dir, model_file))
    rows = golden_rows(valid, features, seed=1)
    raw = booster.predict(rows, raw_score=True)
    limited = booster.predict(rows, raw_score=True, num_iteration=FIRST_PHASE_TREES)
    write_golden(os.path.join(out_dir, f"{name}.golden.json"), features, rows, raw, limited,
                 f"lightgbm {lgb.__version__}", model_file)
    print(f"{name}: {booster.num_trees()} trees, valid ndcg@10 {booster.best_score}", file=sys.stderr)


def train_xgboost(name, train_csv, valid_csv, out_dir, trees, depth):
    train, features, train_groups = load(train_csv)
    valid, _, valid_groups = load(valid_csv)
    dtrain = xgb.DMatrix(train[features], label=train["label"], feature_names=features, missing=np.nan)
    dtrain.set_group(train_groups)
    dvalid = xgb.DMatrix(valid[features], label=valid["label"], feature_names=features, missing=np.nan)
    dvalid.set_group(valid_groups)
    params = {
        "objective": "rank:ndcg", "eval_metric": "ndcg@10", "eta": 0.1, "max_depth": depth,
        "min_child_weight": 20, "subsample": 0.8, "tree_method": "hist", "seed": 42, "nthread": 2,
    }
    booster = xgb.train(params, dtrain, num_boost_round=trees, evals=[(dvalid, "valid")], verbose_eval=50)
    model_file = f"{name}.json"
    booster.save_model(os.path.join(out_dir, model_file))
    rows = golden_rows(valid, features, seed=2)
    drows = xgb.DMatrix(rows, feature_names=features, missing=np.nan)
    raw = booster.predict(drows, output_margin=True)
    limited = booster.predict(drows, output_margin=True, iteration_range=(0, FIRST_PHASE_TREES))
    write_golden(os.path.join(out_dir, f"{name}.golden.json"), features, rows, raw, limited,
                 f"xgboost {xgb.__version__}", model_file)
    print(f"{name}: {trees} trees", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/tmp/rankd-demo-data", help="rankctl demo-data output folder")
    parser.add_argument("--out", default="Sources/Ranking/Resources", help="where models and golden files go")
    parser.add_argument("--trees", type=int, default=200, help="trees of the discovery models")
    parser.add_argument("--models", default="discovery-lgbm,discovery-xgb,items-lgbm,cart-lgbm",
                        help="comma-separated models to train")
    args = parser.parse_args()
    models = set(args.models.split(","))
    os.makedirs(args.out, exist_ok=True)
    data = lambda f: os.path.join(args.data, f)
    if "discovery-lgbm" in models:
        train_lightgbm("discovery-lgbm", data("discovery_train.csv"), data("discovery_valid.csv"), args.out,
                       trees=args.trees, leaves=31)
    if "discovery-xgb" in models:
        train_xgboost("discovery-xgb", data("discovery_train.csv"), data("discovery_valid.csv"), args.out,
                      trees=args.trees, depth=5)
    # A menu has no cart: the cart columns are constant there, so the menu model does not ask for them.
    if "items-lgbm" in models:
        train_lightgbm("items-lgbm", data("items_train.csv"), data("items_valid.csv"), args.out, trees=100,
                       leaves=15, drop_prefix="cart_")
    if "cart-lgbm" in models:
        train_lightgbm("cart-lgbm", data("cart_train.csv"), data("cart_valid.csv"), args.out, trees=300, leaves=31)


if __name__ == "__main__":
    main()
