#!/usr/bin/env python3
"""Python side of Scripts/bench-scoring.sh: LightGBM's and XGBoost's own predictors on the rows rankd scores.

    bench_scoring.py measure   --rows PREFIX --lgbm-model M.txt --xgb-model M.json --json-out R.json --scores-dir D
    bench_scoring.py summarise --dir OUT [--markdown OUT/summary.md]

`measure` reads the feature rows `score-bench export-rows` wrote (PREFIX.f64, row-major little-endian float64, NaN =
missing; PREFIX.json names the columns), and times, single-threaded (num_threads=1 / nthread=1; the shell script
also pins the process to one core with taskset):

  LightGBM  Booster.predict(X, raw_score=True, num_threads=1) on all rows at once and in request-sized slices;
            Booster.predict on one row per call (Python per-call overhead included, so on fewer rows);
            the C API's LGBM_BoosterPredictForMatSingleRowFast through ctypes, one row per call, and the same
            ctypes loop calling a no-op C function, to show how much of that is the call from Python.
  lleaves   the same LightGBM model compiled to machine code through LLVM (lleaves, raw_score=True, float64),
            Model.predict(X, n_jobs=1) on all rows at once and in request-sized slices. Compiled once per run: the
            object file is cached as --lleaves-cache (in the run's output folder) and reused by later rounds.
  XGBoost   Booster.inplace_predict(X, predict_type="margin") on all rows and in request-sized slices;
            Booster.predict(DMatrix, output_margin=True) with the DMatrix built outside the timing;
            inplace_predict on one row per call.

Each mode gets one untimed warm-up pass, then --passes timed passes; each pass records CPU time
(time.process_time: every thread of the process, so a helper thread could not hide) and wall time per row.

`summarise` reads every JSON the Swift (`score-bench score`) and Python sides wrote in OUT, the scores both wrote,
and the `rankctl eval --bench` logs, and prints one table: medians over all timed passes of all rounds. It checks
that the libraries' scores and rankd's agree to 1e-9 and exits 1 if they do not.
"""

import argparse
import ctypes
import glob
import json
import os
import platform
import re
import statistics
import sys
import time

import numpy as np

TOLERANCE = 1e-9


# MARK: measure


def read_rows(prefix):
    with open(prefix + ".json") as f:
        header = json.load(f)
    if header.get("format") != "rankd-feature-rows-v1":
        sys.exit(f"{prefix}.json: unknown format {header.get('format')!r}")
    values = np.fromfile(prefix + ".f64", dtype="<f8")
    rows, cols = header["rows"], len(header["feature_names"])
    if values.size != rows * cols:
        sys.exit(f"{prefix}.f64 holds {values.size} values, header says {rows} x {cols}")
    return header["feature_names"], np.ascontiguousarray(values.reshape(rows, cols))


def in_model_order(names, matrix, model_names):
    """Columns reordered to the model's feature order (the demo models use the join's order, so usually a no-op)."""
    missing = [n for n in model_names if n not in names]
    if missing:
        sys.exit(f"the rows lack the model's features {missing}")
    if list(model_names) == list(names):
        return matrix
    return np.ascontiguousarray(matrix[:, [names.index(n) for n in model_names]])


class Timer:
    """Collects per-row CPU and wall nanoseconds of each timed pass of each mode."""

    def __init__(self, passes):
        self.passes = passes
        self.modes = {}

    def run(self, name, rows, body):
        body()  # warm-up
        samples = self.modes.setdefault(name, {"rows": rows, "cpu_ns_per_row": [], "wall_ns_per_row": []})
        result = None
        for _ in range(self.passes):
            cpu0, wall0 = time.process_time_ns(), time.perf_counter_ns()
            result = body()
            cpu, wall = time.process_time_ns() - cpu0, time.perf_counter_ns() - wall0
            samples["cpu_ns_per_row"].append(cpu / rows)
            samples["wall_ns_per_row"].append(wall / rows)
        return result


def slices(n, size):
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def measure_lightgbm(path, names, matrix, args, timer, scores_dir):
    import lightgbm as lgb

    # num_threads goes with each predict call: Booster(model_file=...) ignores constructor params.
    booster = lgb.Booster(model_file=path)
    x = in_model_order(names, matrix, booster.feature_name())
    n = x.shape[0]
    batch = timer.run("lgbm:batch", n, lambda: booster.predict(x, raw_score=True, num_threads=1))
    parts = slices(n, args.request_rows)
    per_request = timer.run(
        "lgbm:batch_per_request",
        n,
        lambda: np.concatenate([booster.predict(x[a:b], raw_score=True, num_threads=1) for a, b in parts]),
    )
    k = min(args.lgbm_single_rows, n)
    single = timer.run(
        "lgbm:single_python",
        k,
        lambda: np.array([booster.predict(x[i : i + 1], raw_score=True, num_threads=1)[0] for i in range(k)]),
    )

    # The C API's single-row fast path, as a C or C++ server embedding LightGBM would call it. lightgbm's own
    # ctypes handle to lib_lightgbm is used, so this is the very library Booster.predict runs.
    from lightgbm.basic import _LIB, _safe_call

    predict_raw_score, dtype_float64 = 1, 1  # C_API_PREDICT_RAW_SCORE, C_API_DTYPE_FLOAT64 in c_api.h
    fast = ctypes.c_void_p()
    _safe_call(
        _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            booster._handle,
            ctypes.c_int(predict_raw_score),
            ctypes.c_int(0),
            ctypes.c_int(-1),
            ctypes.c_int(dtype_float64),
            ctypes.c_int32(x.shape[1]),
            ctypes.c_char_p(b"num_threads=1"),
            ctypes.byref(fast),
        )
    )
    fast_predict = _LIB.LGBM_BoosterPredictForMatSingleRowFast
    fast_predict.restype = ctypes.c_int
    row_pointers = [ctypes.c_void_p(x[i].ctypes.data) for i in range(n)]
    out_len = ctypes.c_int64()
    out_values = np.zeros(n)
    out_pointers = [ctypes.c_void_p(out_values[i:].ctypes.data) for i in range(n)]
    by_ref_len = ctypes.byref(out_len)

    def c_api_rows():
        for i in range(n):
            if fast_predict(fast, row_pointers[i], by_ref_len, out_pointers[i]) != 0:
                raise RuntimeError(_LIB.LGBM_GetLastError().decode())
        return out_values.copy()

    c_api = timer.run("lgbm:single_c_api", n, c_api_rows)
    _LIB.LGBM_FastConfigFree(fast)

    # The same loop shape calling a C function that does nothing (returns a static string): what ctypes alone costs.
    noop = _LIB.LGBM_GetLastError
    noop.restype = ctypes.c_void_p

    def noop_rows():
        for i in range(n):
            if noop(row_pointers[i], by_ref_len, out_pointers[i]) is None:
                pass

    timer.run("ctypes:call_overhead", n, noop_rows)

    np.asarray(batch, dtype="<f8").tofile(os.path.join(scores_dir, "lightgbm-batch.scores"))
    return {
        "version": lgb.__version__,
        "max_abs_diff_per_request_vs_batch": float(np.max(np.abs(per_request - batch))),
        "max_abs_diff_single_python_vs_batch": float(np.max(np.abs(single - batch[:k]))),
        "max_abs_diff_single_c_api_vs_batch": float(np.max(np.abs(c_api - batch))),
    }


def measure_lleaves(path, names, matrix, args, timer, scores_dir):
    import lleaves
    import llvmlite

    model = lleaves.Model(model_file=path)
    # lleaves takes columns by position, in the model's order, and has no feature-name accessor.
    x = in_model_order(names, matrix, lightgbm_feature_names(path))
    if x.shape[1] != model.num_feature():
        sys.exit(f"{path}: lleaves sees {model.num_feature()} features, the model file names {x.shape[1]}")
    # Compiling takes seconds; the cached object file makes later rounds of the same run skip it.
    compiled_before = os.path.exists(args.lleaves_cache)
    model.compile(cache=args.lleaves_cache, raw_score=True)
    n = x.shape[0]
    batch = timer.run("lleaves:batch", n, lambda: model.predict(x, n_jobs=1))
    parts = slices(n, args.request_rows)
    per_request = timer.run(
        "lleaves:batch_per_request", n, lambda: np.concatenate([model.predict(x[a:b], n_jobs=1) for a, b in parts])
    )
    np.asarray(batch, dtype="<f8").tofile(os.path.join(scores_dir, "lleaves-batch.scores"))
    return {
        "version": version_of("lleaves"),
        "llvmlite": llvmlite.__version__,
        "reused_compiled_model": compiled_before,
        "max_abs_diff_per_request_vs_batch": float(np.max(np.abs(per_request - batch))),
    }


def lightgbm_feature_names(path):
    with open(path) as f:
        for line in f:
            if line.startswith("feature_names="):
                return line.rstrip("\n").split("=", 1)[1].split(" ")
    sys.exit(f"{path}: no feature_names line")


def version_of(package):
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "?"


def measure_xgboost(path, names, matrix, args, timer, scores_dir):
    import xgboost as xgb

    booster = xgb.Booster(model_file=path)
    booster.set_param({"nthread": 1})
    x = in_model_order(names, matrix, booster.feature_names)
    n = x.shape[0]

    def inplace(rows):
        return booster.inplace_predict(rows, predict_type="margin", missing=np.nan, validate_features=False)

    batch = timer.run("xgb:batch", n, lambda: inplace(x))
    parts = slices(n, args.request_rows)
    per_request = timer.run("xgb:batch_per_request", n, lambda: np.concatenate([inplace(x[a:b]) for a, b in parts]))
    # A fresh DMatrix per pass, built outside the timing: Booster.predict caches its last result per DMatrix, and
    # a second call on the same one only copies that cache.
    dmatrices = [
        xgb.DMatrix(x, missing=np.nan, feature_names=booster.feature_names, nthread=1) for _ in range(args.passes + 1)
    ]
    via_dmatrix = timer.run("xgb:batch_dmatrix", n, lambda: booster.predict(dmatrices.pop(), output_margin=True))
    k = min(args.xgb_single_rows, n)
    single = timer.run("xgb:single_python", k, lambda: np.array([inplace(x[i : i + 1])[0] for i in range(k)]))
    np.asarray(batch, dtype="<f8").tofile(os.path.join(scores_dir, "xgboost-batch.scores"))
    return {
        "version": xgb.__version__,
        "max_abs_diff_per_request_vs_batch": float(np.max(np.abs(per_request - batch))),
        "max_abs_diff_dmatrix_vs_batch": float(np.max(np.abs(via_dmatrix - batch))),
        "max_abs_diff_single_python_vs_batch": float(np.max(np.abs(single - batch[:k]))),
    }


def measure(args):
    names, matrix = read_rows(args.rows)
    timer = Timer(args.passes)
    os.makedirs(args.scores_dir, exist_ok=True)
    report = {"side": "python", "label": args.label, "rows": matrix.shape[0], "request_rows": args.request_rows}
    report["lightgbm"] = measure_lightgbm(args.lgbm_model, names, matrix, args, timer, args.scores_dir)
    if args.lleaves_cache:
        report["lleaves"] = measure_lleaves(args.lgbm_model, names, matrix, args, timer, args.scores_dir)
    if args.xgb_model:
        report["xgboost"] = measure_xgboost(args.xgb_model, names, matrix, args, timer, args.scores_dir)
    report["numpy"] = np.__version__
    report["python"] = platform.python_version()
    report["modes"] = timer.modes
    with open(args.json_out, "w") as f:
        json.dump(report, f, sort_keys=True)
    for name, samples in timer.modes.items():
        print(
            f"  {name:24} {statistics.median(samples['cpu_ns_per_row']) / 1000:9.3f} us/row CPU (median), "
            f"{statistics.median(samples['wall_ns_per_row']) / 1000:9.3f} us/row wall, {samples['rows']} rows per pass"
        )


# MARK: summarise

# Table rows: (key in the pooled samples, what it is). rankd keys are "<model>:<mode>" from score-bench.
LGBM_ROWS = [
    ("rankd-lgbm:batch", "rankd `rawScores`, all rows in one call"),
    ("rankd-lgbm:batch_per_request", "rankd `rawScores`, {request_rows} rows per call"),
    ("rankd-lgbm:single", "rankd `rawScore`, one row per call"),
    ("lgbm:batch", "LightGBM `predict(raw_score=True, num_threads=1)`, all rows in one call"),
    ("lgbm:batch_per_request", "LightGBM `predict`, {request_rows} rows per call"),
    ("lleaves:batch", "lleaves (LightGBM compiled through LLVM) `predict(n_jobs=1)`, all rows in one call"),
    ("lleaves:batch_per_request", "lleaves `predict(n_jobs=1)`, {request_rows} rows per call"),
    ("lgbm:single_python", "LightGBM `predict`, one row per call (Python overhead included)"),
    ("lgbm:single_c_api", "LightGBM C API `PredictForMatSingleRowFast`, one row per call via ctypes"),
    ("ctypes:call_overhead", "  of which: the ctypes call itself (same loop, no-op C function)"),
]
XGB_ROWS = [
    ("rankd-xgb:batch", "rankd `rawScores`, all rows in one call"),
    ("rankd-xgb:batch_per_request", "rankd `rawScores`, {request_rows} rows per call"),
    ("rankd-xgb:single", "rankd `rawScore`, one row per call"),
    ("xgb:batch", "XGBoost `inplace_predict(margin)`, nthread=1, all rows in one call"),
    ("xgb:batch_dmatrix", "XGBoost `predict(DMatrix, output_margin=True)`, DMatrix prebuilt"),
    ("xgb:batch_per_request", "XGBoost `inplace_predict`, {request_rows} rows per call"),
    ("xgb:single_python", "XGBoost `inplace_predict`, one row per call (Python overhead included)"),
]


def pooled_samples(directory):
    """All timed passes of every round, per mode."""
    pooled, meta = {}, {"rankd": {}, "python": []}
    for path in sorted(glob.glob(os.path.join(directory, "rankd-*.json"))):
        with open(path) as f:
            report = json.load(f)
        key = "rankd-lgbm" if report["model"].endswith(".txt") else "rankd-xgb"
        meta["rankd"].setdefault(key, []).append(report)
        for mode, s in report["modes"].items():
            add_samples(pooled, f"{key}:{mode}", s)
    for path in sorted(glob.glob(os.path.join(directory, "python-*.json"))):
        with open(path) as f:
            report = json.load(f)
        meta["python"].append(report)
        for mode, s in report["modes"].items():
            add_samples(pooled, mode, s)
    return pooled, meta


def add_samples(pooled, key, s):
    entry = pooled.setdefault(key, {"rows": s["rows"], "cpu": [], "wall": []})
    entry["cpu"] += s["cpu_ns_per_row"]
    entry["wall"] += s["wall_ns_per_row"]


def us(ns):
    return f"{ns / 1000:.2f}"


def scoring_table(pooled, rows, baseline, request_rows):
    out = [
        "| what | rows timed per pass | passes | CPU µs/row, median | min–max | wall µs/row, median "
        + "| CPU vs rankd batch |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    base = statistics.median(pooled[baseline]["cpu"]) if baseline in pooled else None
    for key, label in rows:
        if key not in pooled:
            continue
        p = pooled[key]
        cpu = statistics.median(p["cpu"])
        ratio = f"{cpu / base:.2f}×" if base else ""
        out.append(
            f"| {label.format(request_rows=request_rows)} | {p['rows']} | {len(p['cpu'])} | {us(cpu)} "
            f"| {us(min(p['cpu']))}–{us(max(p['cpu']))} | {us(statistics.median(p['wall']))} | {ratio} |"
        )
    return out


RECOMMEND_PATTERNS = {
    "median": re.compile(r"CPU per request: median (\d+) us, p90 (\d+) us, p99 (\d+) us, mean (\d+) us"),
    "candidates": re.compile(r"candidates per request: ([\d.]+); CPU per scored candidate: ([\d.]+) us"),
    "wall": re.compile(r"wall: (\d+) us per request"),
    "model": re.compile(r"benchmark: (\d+) discovery Recommend requests, single thread, model (\S+)"),
}


def recommend_runs(directory, tag):
    runs = []
    for path in sorted(glob.glob(os.path.join(directory, f"recommend-{tag}-*.log"))):
        with open(path) as f:
            text = f.read()
        m = {k: p.search(text) for k, p in RECOMMEND_PATTERNS.items()}
        if not all(m.values()):
            sys.exit(f"{path}: no rankctl eval --bench summary in it")
        runs.append(
            {
                "requests": int(m["model"].group(1)),
                "median": float(m["median"].group(1)),
                "p90": float(m["median"].group(2)),
                "p99": float(m["median"].group(3)),
                "mean": float(m["median"].group(4)),
                "candidates": float(m["candidates"].group(1)),
                "per_candidate": float(m["candidates"].group(2)),
                "wall": float(m["wall"].group(1)),
            }
        )
    return runs


def summarise(args):
    pooled, meta = pooled_samples(args.dir)
    if not meta["python"] or not meta["rankd"]:
        sys.exit(f"{args.dir}: no rankd-*.json or python-*.json results")
    py = meta["python"][0]
    request_rows = py["request_rows"]
    lines = []
    ok = True

    # Agreement: rankd's batch scores against each library's batch scores on the same rows, plus each side's
    # internal consistency (single row and request-sized slices equal to the batch).
    agreement = []
    for key, lib, lib_file in [
        ("rankd-lgbm", "lightgbm", "lightgbm-batch.scores"),
        ("rankd-lgbm", "lleaves", "lleaves-batch.scores"),
        ("rankd-xgb", "xgboost", "xgboost-batch.scores"),
    ]:
        if key not in meta["rankd"] or lib not in py:
            continue
        ours = np.fromfile(os.path.join(args.dir, f"{key}.scores"), dtype="<f8")
        theirs = np.fromfile(os.path.join(args.dir, lib_file), dtype="<f8")
        if ours.shape != theirs.shape:
            sys.exit(f"{key}: {ours.size} rankd scores vs {theirs.size} {lib} scores")
        diff = float(np.max(np.abs(ours - theirs)))
        internal = max(
            max(r["max_abs_diff_single_vs_batch"], r["max_abs_diff_per_request_vs_batch"]) for r in meta["rankd"][key]
        )
        lib_internal = max(v for r in meta["python"] for k, v in r[lib].items() if k.startswith("max_abs_diff"))
        good = diff <= TOLERANCE and internal == 0
        ok = ok and good
        agreement.append(
            f"- {key[6:]} vs {lib}: max |rankd − {lib}| over {ours.size} rows = {diff:.3g} "
            f"({'within' if diff <= TOLERANCE else 'OUTSIDE'} {TOLERANCE:g}); rankd single-row and per-request "
            f"vs batch: {internal:.3g}; {lib} single-row/slices vs its batch: {lib_internal:.3g}"
        )

    rankd_lgbm = meta["rankd"].get("rankd-lgbm", [{}])[0]
    lines.append(
        f"Rows: {py['rows']} discovery feature vectors; models: {rankd_lgbm.get('trees', '?')} trees each; "
        f"LightGBM {py['lightgbm']['version']}, XGBoost {py.get('xgboost', {}).get('version', '-')}, "
        f"lleaves {py.get('lleaves', {}).get('version', '-')} (llvmlite {py.get('lleaves', {}).get('llvmlite', '-')}), "
        f"numpy {py['numpy']}, Python {py['python']}; {len(meta['python'])} rounds."
    )
    lines.append("")
    lines.append("### Per-row scoring, discovery-lgbm.txt (LightGBM lambdarank)")
    lines.append("")
    lines += scoring_table(pooled, LGBM_ROWS, "rankd-lgbm:batch", request_rows)
    if "rankd-xgb:batch" in pooled:
        lines.append("")
        lines.append("### Per-row scoring, discovery-xgb.json (XGBoost rank:ndcg)")
        lines.append("")
        lines += scoring_table(pooled, XGB_ROWS, "rankd-xgb:batch", request_rows)
    lines.append("")
    lines.append("### Score agreement (same run, same rows)")
    lines.append("")
    lines += agreement

    recommend = {tag: recommend_runs(args.dir, tag) for tag in ("homes", "centre")}
    if any(recommend.values()):
        lines.append("")
        lines.append("### Full discovery Recommend, single thread (`rankctl eval --bench`)")
        lines.append("")
        lines.append(
            "| requests placed | runs × requests | candidates / request | CPU / request median | p90 | p99 "
            "| mean | CPU / scored candidate (mean) | median ÷ candidates | wall / request (mean) |"
        )
        lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        names = {"homes": "users' homes", "centre": f"within {args.centre_km} km of a city centre"}
        for tag, runs in recommend.items():
            if not runs:
                continue

            def med(k, runs=runs):
                return statistics.median(r[k] for r in runs)

            lines.append(
                f"| {names[tag]} | {len(runs)} × {runs[0]['requests']} | {med('candidates'):.0f} "
                f"| {med('median'):.0f} µs | {med('p90'):.0f} µs | {med('p99'):.0f} µs | {med('mean'):.0f} µs "
                f"| {med('per_candidate'):.2f} µs | {med('median') / med('candidates'):.2f} µs "
                f"| {med('wall'):.0f} µs |"
            )
        lines.append("")
        lines.append(
            "Each figure is the median over runs of that run's statistic (per-run values: "
            + "; ".join(
                f"{tag} medians " + ", ".join(f"{r['median']:.0f}" for r in runs) + " µs"
                for tag, runs in recommend.items()
                if runs
            )
            + ")."
        )

    lines.append("")
    lines.append("### Goals")
    lines.append("")
    goals = []
    # Issue 13: the tree scorer alone, request-sized batches (what a Recommend scores), CPU per row.
    if "rankd-lgbm:batch_per_request" in pooled and "lleaves:batch_per_request" in pooled:
        ours = statistics.median(pooled["rankd-lgbm:batch_per_request"]["cpu"])
        theirs = statistics.median(pooled["lleaves:batch_per_request"]["cpu"])
        goals.append(
            f"- tree scorer per row <= lleaves: {'met' if ours <= theirs else 'not met'} "
            f"(rankd {us(ours)} vs lleaves {us(theirs)} µs/row CPU, medians, {request_rows} rows per call; "
            f"rankd/lleaves = {ours / theirs:.2f})"
        )
        goals.append(
            "  every pass, µs/row CPU: rankd "
            + " ".join(us(v) for v in pooled["rankd-lgbm:batch_per_request"]["cpu"])
            + "; lleaves "
            + " ".join(us(v) for v in pooled["lleaves:batch_per_request"]["cpu"])
        )
    if "rankd-lgbm:batch" in pooled and "lgbm:batch" in pooled:
        ours = statistics.median(pooled["rankd-lgbm:batch"]["cpu"])
        theirs = statistics.median(pooled["lgbm:batch"]["cpu"])
        goals.append(
            f"- rankd at least as fast per row as LightGBM's own predictor (batch, CPU): "
            f"{us(ours)} vs {us(theirs)} µs/row → {'met' if ours <= theirs else 'NOT met'} "
            f"(LightGBM takes {theirs / ours:.2f}× as long)"
        )
    if "rankd-lgbm:single" in pooled and "lgbm:single_c_api" in pooled:
        ours = statistics.median(pooled["rankd-lgbm:single"]["cpu"])
        theirs = statistics.median(pooled["lgbm:single_c_api"]["cpu"])
        overhead = statistics.median(pooled["ctypes:call_overhead"]["cpu"])
        goals.append(
            f"- one row per call: rankd {us(ours)} µs vs LightGBM C API {us(theirs)} µs "
            f"({us(theirs - overhead)} µs without the {us(overhead)} µs ctypes call) → "
            f"{'met' if ours <= theirs - overhead else 'NOT met'}"
        )
    for tag, runs in recommend.items():
        if runs:
            m = statistics.median(r["median"] for r in runs)
            c = statistics.median(r["candidates"] for r in runs)
            goals.append(
                f"- discovery Recommend under 1 ms CPU at the median, {c:.0f} candidates ({tag}): "
                f"{m:.0f} µs → {'met' if m < 1000 else 'NOT met'}"
            )
    lines += goals
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)
    if not ok:
        print("bench_scoring: scores DISAGREE beyond tolerance (see above)", file=sys.stderr)
        return 1
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="time LightGBM and XGBoost predict on exported rows")
    m.add_argument("--rows", required=True, help="prefix written by score-bench export-rows")
    m.add_argument("--lgbm-model", required=True)
    m.add_argument("--xgb-model", default="")
    m.add_argument("--passes", type=int, default=3, help="timed passes per mode after one warm-up pass")
    m.add_argument("--request-rows", type=int, default=500, help="rows per call in the request-sized mode")
    m.add_argument("--lgbm-single-rows", type=int, default=2000, help="rows for one-row-per-call Booster.predict")
    m.add_argument("--xgb-single-rows", type=int, default=1000, help="rows for one-row-per-call inplace_predict")
    m.add_argument(
        "--lleaves-cache", default="", help="compiled lleaves object file (made when missing); empty: skip lleaves"
    )
    m.add_argument("--json-out", required=True)
    m.add_argument("--scores-dir", required=True, help="where the batch scores are written for the agreement check")
    m.add_argument("--label", default="")
    s = sub.add_parser("summarise", help="table of every result in a bench-scoring output folder")
    s.add_argument("--dir", required=True)
    s.add_argument("--markdown", default="")
    s.add_argument("--centre-km", default="3")
    args = parser.parse_args()
    if args.command == "measure":
        if args.passes < 1 or args.request_rows < 1:
            parser.error("--passes and --request-rows must be positive")
        measure(args)
        return 0
    return summarise(args)


if __name__ == "__main__":
    sys.exit(main())
