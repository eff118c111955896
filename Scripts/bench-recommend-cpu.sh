#!/usr/bin/env bash
# Recommend's CPU per request, rankd against a baseline commit, measured from /proc over a fixed-rate run.
#
#   Scripts/bench-recommend-cpu.sh [--baseline REF] [--runs N] [--rate R] [--seconds S] [--scale X] [--time MS]
#
# Each run starts each server in turn on core 0 (one I/O thread; the embedded demo at --scale, default 1), waits
# until it serves, primes it with 5 s at 100 req/s, then reads its CPU time (utime + stime in /proc/PID/stat)
# around a fixed-rate open-loop Recommend run from rank-load on core 1. Every request carries the same request
# time (--time, default Wednesday 2024-05-01 18:00 UTC), so the work does not depend on the hour the benchmark
# runs at. Prints CPU microseconds per request per server and run, the medians and their ratio; everything lands
# in out/bench/recommend-cpu/<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. Scripts/lib/bench-common.sh

baseline=87518a9
runs=3
rate=300
seconds=20
scale=1
time_ms=1714586400000
while [ $# -gt 0 ]; do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --time) time_ms=$2; shift 2 ;;
    *) echo "usage: $0 [--baseline REF] [--runs N] [--rate R] [--seconds S] [--scale X] [--time MS]" >&2; exit 2 ;;
  esac
done
[ "$(nproc)" -ge 2 ] || { echo "needs two cores (server on 0, rank-load on 1)" >&2; exit 2; }

out="out/bench/recommend-cpu/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

log "building rankd and rank-load (release)"
build_release rankd rank-load
load="$repo/.build-bench/release/rank-load"
rev=$(git rev-parse --short "$baseline")
log "building the baseline $rev (release)"
servers=("rankd=$repo/.build-bench/release/rankd" "rankd-$rev=$(build_baseline "$rev" rankd)/rankd")
ticks=$(getconf CLK_TCK)

{
  machine_lines
  echo "baseline: $rev"
  echo "runs: $runs; Recommend at $rate/s for ${seconds}s after 5 s of priming; --scale $scale; request time $time_ms"
} | tee "$out/machine.txt" >&2


for run in $(seq 1 "$runs"); do
  for spec in "${servers[@]}"; do
    name=${spec%%=*}
    binary=${spec#*=}
    start_primed "$binary" "$out/$name-server-$run.log" --scale "$scale" -- --io-threads 1 --scale "$scale" \
      --log-level warning
    pid=$server_pid
    before=$(cpu_ticks "$pid")
    taskset -c 1 "$load" --target "127.0.0.1:$port" --method recommend --scale "$scale" --rate "$rate" \
      --duration "${seconds}s" --warmup 0s --request-time "$time_ms" --seed 2 --quiet \
      --json "$out/$name-load-$run.json" >"$out/$name-load-$run.txt" 2>&1 || true
    after=$(cpu_ticks "$pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$out/$name-load-$run.json" "$before" "$after" "$ticks" "$run" "$name" <<'PY' | tee -a "$out/results.txt"
import json, sys
report = json.load(open(sys.argv[1]))
calls = sum(report["status_counts"].values())
ok = report["status_counts"].get("OK", 0)
cpu_s = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
print(f"{sys.argv[5]} {sys.argv[6]} {cpu_s / calls * 1e6:.0f} us/request ({calls} calls, {ok} OK, "
      f"p99 {report['latency_ms']['p99']:.2f} ms)")
PY
  done
done

python3 - "$out/results.txt" <<'PY' | tee "$out/summary.txt"
import statistics, sys
per = {}
for line in open(sys.argv[1]):
    run, name, micros = line.split()[:3]
    per.setdefault(name, []).append(float(micros))
medians = {name: statistics.median(values) for name, values in per.items()}
for name, values in per.items():
    print(f"{name}: median {medians[name]:.0f} us CPU per Recommend over {len(values)} runs "
          f"({', '.join(f'{v:.0f}' for v in values)})")
names = list(medians)
if len(names) == 2:
    print(f"{names[0]} / {names[1]}: {medians[names[0]] / medians[names[1]]:.3f} (ratio of the medians)")
PY
