#!/usr/bin/env bash
# Single-thread scoring cost: rankd's tree scorer side by side with LightGBM's and XGBoost's own predictors on the
# same model and the same feature rows, and the full discovery Recommend cost, all in one run on this machine.
#
#   Scripts/bench-scoring.sh          builds release score-bench and rankctl, measures, writes OUT/summary.md
#
# What it does (every measured process pinned to one core with taskset):
#   1. score-bench export-rows: SCOREBENCH_ROWS discovery feature vectors as the live feature join produces them
#      (NaN = missing), written once to OUT/rows.f64 + OUT/rows.json; both sides read that file.
#   2. SCOREBENCH_ROUNDS rounds, each: score-bench score on discovery-lgbm.txt and on discovery-xgb.json, then
#      Scripts/bench_scoring.py measure (LightGBM predict(raw_score=True, num_threads=1), its C API single-row
#      path, XGBoost inplace_predict / predict(output_margin=True) with nthread=1, and lleaves, the same LightGBM
#      model compiled through LLVM, predict(n_jobs=1); compiled once per run, cached as
#      OUT/lleaves-discovery-lgbm.o). Each process does one warm-up
#      pass and SCOREBENCH_PASSES timed passes per mode; the Swift and Python processes alternate, so load on the
#      shared machine falls on both. Scores are compared (1e-9) in the same run.
#   3. SCOREBENCH_RECOMMEND_RUNS runs each of `rankctl eval --bench` at users' homes (~340 candidates) and
#      within 3 km of a city centre (~540), 3000 requests each, alternating.
#   4. Scripts/bench_scoring.py summarise: medians over all passes / runs, CPU time and wall time, goals.
#
# Knobs (environment): SCOREBENCH_ROWS (20000), SCOREBENCH_ROUNDS (5), SCOREBENCH_PASSES (3),
# SCOREBENCH_RECOMMEND_RUNS (5), SCOREBENCH_RECOMMEND_REQUESTS (3000), SCOREBENCH_CPU (1, the core to pin to),
# SCOREBENCH_SCRATCH (.build-scorebench, the Swift build folder), SCOREBENCH_OUT (out/bench-scoring/<time>),
# SCOREBENCH_LLEAVES (1; 0 skips lleaves), SCOREBENCH_BINARY (a score-bench built elsewhere, e.g. from an older
# commit, measured instead of building this tree's; env.txt names it). SCOREBENCH_RECOMMEND_RUNS=0 skips the Recommend runs and the rankctl
# build, e.g. `SCOREBENCH_ROUNDS=3 SCOREBENCH_RECOMMEND_RUNS=0` for the tree scorer alone (about a minute).
# About 5 minutes after the build on a 2-core machine. Not part of `make test`: a benchmark, not a test.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

rows=${SCOREBENCH_ROWS:-20000}
rounds=${SCOREBENCH_ROUNDS:-5}
passes=${SCOREBENCH_PASSES:-3}
recommend_runs=${SCOREBENCH_RECOMMEND_RUNS:-5}
recommend_requests=${SCOREBENCH_RECOMMEND_REQUESTS:-3000}
centre_km=3
cpu=${SCOREBENCH_CPU:-1}
scratch=${SCOREBENCH_SCRATCH:-.build-scorebench}
with_lleaves=${SCOREBENCH_LLEAVES:-1}
given_binary=${SCOREBENCH_BINARY:-}
out=${SCOREBENCH_OUT:-$repo/out/bench-scoring/$(date -u +%Y%m%dT%H%M%SZ)}
resources=$repo/Sources/Ranking/Resources

log() { echo "bench-scoring: $*" >&2; }

command -v taskset >/dev/null || { log "taskset not found (apt-get install util-linux)"; exit 1; }
taskset -c "$cpu" true 2>/dev/null || { log "cannot pin to core $cpu (SCOREBENCH_CPU)"; exit 1; }
if ! python3 -c 'import lightgbm, xgboost, numpy' 2>/dev/null; then
    log "installing lightgbm, xgboost, numpy (Scripts/requirements-train.txt)"
    python3 -m pip install --quiet -r "$repo/Scripts/requirements-train.txt"
fi
if [ "$with_lleaves" != 0 ] && ! python3 -c 'import lleaves' 2>/dev/null; then
    log "installing lleaves (Scripts/requirements-lleaves.txt)"
    python3 -m pip install --quiet -r "$repo/Scripts/requirements-lleaves.txt"
fi

log "building score-bench and rankctl (release, $scratch)"
if [ -z "$given_binary" ]; then
    swift build -c release --scratch-path "$scratch" --product score-bench >&2
fi
if [ "$recommend_runs" -gt 0 ]; then
    swift build -c release --scratch-path "$scratch" --product rankctl >&2
fi
bin=$(swift build -c release --scratch-path "$scratch" --show-bin-path)
score_bench=${given_binary:-$bin/score-bench}

mkdir -p "$out"
mkdir -p "$repo/out/bench-scoring" && ln -sfn "$out" "$repo/out/bench-scoring/latest" 2>/dev/null || true
pin() { OMP_NUM_THREADS=1 taskset -c "$cpu" "$@"; }

# The code these figures depend on; other folders' uncommitted work in a shared tree does not change them.
measured_paths=(Package.swift Sources/RankingModels Sources/Ranking Sources/score-bench Sources/rankctl
    Scripts/bench_scoring.py Scripts/requirements-lleaves.txt)
{
    dirty=$(git diff --quiet HEAD -- "${measured_paths[@]}" || echo ' (+ local changes)')
    echo "commit: $(git rev-parse --short HEAD)$dirty"
    if [ -n "$given_binary" ]; then
        echo "score-bench: $given_binary (SCOREBENCH_BINARY, not built from this commit; $(sha256sum "$given_binary" | cut -c1-16))"
    fi
    model_name=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
    echo "cpu: $model_name, $(nproc) cores, pinned to core $cpu"
    echo "kernel: $(uname -sr)"
    echo "swift: $(swift --version 2>&1 | head -1)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/env.txt"
cat "$out/env.txt" >&2

lleaves_cache=""
if [ "$with_lleaves" != 0 ]; then lleaves_cache=$out/lleaves-discovery-lgbm.o; fi

log "exporting $rows feature rows"
pin "$score_bench" export-rows --out "$out/rows" --rows "$rows" >&2

for round in $(seq 1 "$rounds"); do
    log "scoring round $round/$rounds"
    for model in lgbm:discovery-lgbm.txt xgb:discovery-xgb.json; do
        pin "$score_bench" score --model "$resources/${model#*:}" --rows "$out/rows" --passes "$passes" \
            --label "$round" --scores-out "$out/rankd-${model%%:*}.scores" \
            --json-out "$out/rankd-${model%%:*}-$round.json" >&2
    done
    pin python3 "$repo/Scripts/bench_scoring.py" measure --rows "$out/rows" --passes "$passes" \
        --lgbm-model "$resources/discovery-lgbm.txt" --xgb-model "$resources/discovery-xgb.json" \
        --label "$round" --json-out "$out/python-$round.json" --scores-dir "$out" \
        ${lleaves_cache:+--lleaves-cache "$lleaves_cache"} >&2
done

for run in $(seq 1 "$recommend_runs"); do
    log "Recommend run $run/$recommend_runs (homes, then within $centre_km km of a centre)"
    # --sessions 1: the NDCG evaluation eval always runs first is not what is measured here.
    pin "$bin/rankctl" eval --sessions 1 --bench --bench-requests "$recommend_requests" >"$out/recommend-homes-$run.log"
    pin "$bin/rankctl" eval --sessions 1 --bench --bench-requests "$recommend_requests" \
        --bench-centre-km "$centre_km" >"$out/recommend-centre-$run.log"
done

echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/env.txt"
{
    echo '```'
    cat "$out/env.txt"
    echo '```'
    echo
} >"$out/summary.md"
status=0
python3 "$repo/Scripts/bench_scoring.py" summarise --dir "$out" --centre-km "$centre_km" \
    --markdown "$out/summary.body.md" || status=$?
cat "$out/summary.body.md" >>"$out/summary.md" && rm -f "$out/summary.body.md"
log "results in $out (summary.md)"
exit "$status"
