#!/usr/bin/env python3
"""Trains the next_track model (LightGBM lambdarank) from `rankctl music-training` rows and writes it with its golden file.

    pip install lightgbm pandas
    rankctl music-training --seed 7 --out /tmp/rankd-music-training
    Scripts/train-music-model.py --data /tmp/rankd-music-training --out Sources/Ranking/Resources

The rows come from the served pipeline (the generic surface's candidates, online read and feature join) on a music demo
of seed 7, each held-out session's events so far replayed into an online store first, so the online features are what
serving computes; `rankctl eval --surface next_track` evaluates on seed 42: the model never sees the world it is scored
on.
Labels are the music simulator's grades of what each held-out listener would play next (2: would complete, 1: would
start, 0: neither). Feature columns are the surface's feature names, taken from the CSV header, so the served model
asks for exactly what rankd computes. The golden file holds rows (missing = null) and LightGBM's own raw scores, for
all trees and for the first 30, so rankd can refuse a model it would not score identically.
"""
import argparse
import json
import math
import os
import subprocess
import sys

try:
    import lightgbm as lgb
    import numpy as np
    import pandas as pd
except ImportError:  # as Scripts/train-demo-model.py's callers do: install what is missing, then go on
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", "lightgbm", "pandas", "numpy"])
    import lightgbm as lgb
    import numpy as np
    import pandas as pd

ID_COLUMNS = 3  # session_id, user_id, track_id
FIRST_PHASE_TREES = 30
GOLDEN_ROWS = 200
MODEL = "next-track-lgbm"


def load(path):
    frame = pd.read_csv(path)
    frame = frame.sort_values("session_id", kind="stable")
    features = list(frame.columns[ID_COLUMNS + 1:])
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


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/tmp/rankd-music-training", help="rankctl music-training output folder")
    parser.add_argument("--out", default="Sources/Ranking/Resources", help="where the model and golden file go")
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--leaves", type=int, default=31)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    train, features, train_groups = load(os.path.join(args.data, "next_track_train.csv"))
    valid, _, valid_groups = load(os.path.join(args.data, "next_track_valid.csv"))
    params = {
        "objective": "lambdarank", "metric": "ndcg", "ndcg_eval_at": [10], "learning_rate": 0.05,
        "num_leaves": args.leaves, "min_data_in_leaf": 100, "feature_fraction": 0.9, "bagging_fraction": 0.8,
        "bagging_freq": 1, "lambdarank_truncation_level": 30, "seed": 42, "deterministic": True,
        "num_threads": 2, "verbose": -1,
    }
    train_set = lgb.Dataset(train[features], label=train["label"], group=train_groups, feature_name=features)
    valid_set = lgb.Dataset(valid[features], label=valid["label"], group=valid_groups, reference=train_set)
    booster = lgb.train(params, train_set, num_boost_round=args.trees, valid_sets=[valid_set],
                        callbacks=[lgb.log_evaluation(50)])
    model_file = f"{MODEL}.txt"
    booster.save_model(os.path.join(args.out, model_file))
    rows = golden_rows(valid, features, seed=3)
    raw = booster.predict(rows, raw_score=True)
    limited = booster.predict(rows, raw_score=True, num_iteration=FIRST_PHASE_TREES)
    write_golden(os.path.join(args.out, f"{MODEL}.golden.json"), features, rows, raw, limited,
                 f"lightgbm {lgb.__version__}", model_file)
    gains = booster.feature_importance(importance_type="gain")
    top = sorted(zip(features, gains), key=lambda p: -p[1])[:8]
    print(f"{MODEL}: {booster.num_trees()} trees, valid ndcg@10 {dict(booster.best_score)}", file=sys.stderr)
    print("gain: " + ", ".join(f"{name} {gain:.0f}" for name, gain in top), file=sys.stderr)


if __name__ == "__main__":
    main()
