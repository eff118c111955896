#!/usr/bin/env bash
# The exposure log's cost and whether it keeps up, side by side in one run (docs/experiments.md), rankd with and
# without --exposure-log, alternating:
#   - CPU per Recommend at a fixed rate one core serves without shedding (--cpu-rate): rankd's CPU time from /proc
#     over the answers, so the log's writer thread counts too;
#   - keeping up: Recommend offered above what one core serves (--rate), so rankd answers at its maximum; the answers
#     per second, p99, and for the logged rankd the records written and dropped (rankd's own totals at SIGTERM)
#     against every answer it served.
#
#   Scripts/bench-exposure-log.sh [--runs N] [--cpu-rate R] [--rate R] [--seconds S] [--scale X] [--format F]
#
# rankd runs on core 0 (one I/O thread, the log's writer thread shares the core), rank-load on core 1. Each run starts
# a fresh rankd per arm, the arms alternating. Results land in out/bench/exposure-log/<time>/; BENCHMARKS.md has them.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. Scripts/lib/bench-common.sh

runs=3
cpu_rate=800
rate=3000
seconds=20
scale=1
format=protobuf
time_ms=1714586400000
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --cpu-rate) cpu_rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    --format) format=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--cpu-rate R] [--rate R] [--seconds S] [--scale X] [--format F]" >&2; exit 2 ;;
  esac
done
[ "$(nproc)" -ge 2 ] || { echo "needs two cores (rankd on 0, rank-load on 1)" >&2; exit 2; }

out="out/bench/exposure-log/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

log "building rankd and rank-load (release)"
build_release rankd rank-load
rankd="$repo/.build-bench/release/rankd"
load="$repo/.build-bench/release/rank-load"
ticks=$(getconf CLK_TCK)

{
  machine_lines
  echo "runs: $runs; Recommend at $cpu_rate/s for ${seconds}s (CPU), then offered at $rate/s for ${seconds}s;"
  echo "--scale $scale; log format $format;"
  echo "request time $time_ms; rankd on core 0 (--io-threads 1), rank-load on core 1"
} | tee "$out/machine.txt" >&2

for run in $(seq 1 "$runs"); do
  for arm in off on; do
    admin=$(free_port)
    args=(--admin-port "$admin" --io-threads 1 --scale "$scale" --log-level info)
    folder="$out/log-$run"
    [ "$arm" = on ] && args+=(--exposure-log "$folder" --log-records-as "$format")
    start_primed "$rankd" "$out/$arm-server-$run.log" --scale "$scale" --json "$out/$arm-warmup-$run.json" -- \
      "${args[@]}"
    pid=$server_pid
    before=$(cpu_ticks "$pid")
    taskset -c 1 "$load" --target "127.0.0.1:$port" --method recommend --scale "$scale" --rate "$cpu_rate" \
      --duration "${seconds}s" --warmup 0s --request-time "$time_ms" --seed 3 --quiet \
      --json "$out/$arm-fixed-$run.json" >"$out/$arm-fixed-$run.txt" 2>&1 || true
    after=$(cpu_ticks "$pid")
    taskset -c 1 "$load" --target "127.0.0.1:$port" --method recommend --scale "$scale" --rate "$rate" \
      --duration "${seconds}s" --warmup 0s --request-time "$time_ms" --seed 2 --quiet \
      --json "$out/$arm-recommend-$run.json" >"$out/$arm-recommend-$run.txt" 2>&1 || true
    # SIGTERM: rankd writes what the queue holds before it exits and logs the totals.
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    totals=$(grep -o 'exposure log: [0-9]* record(s) written, [0-9]* dropped' "$out/$arm-server-$run.log" || true)
    python3 - "$out" "$arm" "$run" "$before" "$after" "$ticks" "$totals" <<'PY' | tee -a "$out/results.txt"
import json, re, sys
out, arm, run = sys.argv[1:4]
before, after, ticks = map(float, sys.argv[4:7])
totals = sys.argv[7]
recommend = json.load(open(f"{out}/{arm}-recommend-{run}.json"))
warmup = json.load(open(f"{out}/{arm}-warmup-{run}.json"))
fixed = json.load(open(f"{out}/{arm}-fixed-{run}.json"))
fixed_ok = fixed["status_counts"].get("OK", 0)
ok = recommend["status_counts"].get("OK", 0)
cpu = (after - before) / ticks
written = dropped = 0
if totals:
    written, dropped = map(int, re.findall(r"(\d+)", totals)[:2])
# Every answer of the run, warm-up included, should be a record written or one counted as dropped.
answered = ok + fixed_ok + warmup["status_counts"].get("OK", 0)
print(f"{run} {arm} cpu-us/answer {cpu * 1e6 / fixed_ok:.1f} answered/s {ok / recommend['duration_s']:.0f} "
      f"p99 {recommend['latency_ms']['p99']:.3f} written {written} dropped {dropped} answered {answered} "
      f"(fixed {fixed['status_counts']}, max {recommend['status_counts']})")
PY
  done
done

python3 - "$out/results.txt" <<'PY' | tee "$out/summary.txt"
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[1], []).append({"cpu_us": float(f[3]), "rate": float(f[5]), "p99": float(f[7]),
                                      "written": int(f[9]), "dropped": int(f[11]), "answered": int(f[13])})
med = {arm: {k: statistics.median(r[k] for r in runs) for k in ("cpu_us", "rate", "p99")} for arm, runs in rows.items()}
for arm, m in med.items():
    print(f"log {arm}: {m['cpu_us']:.0f} us of rankd CPU per Recommend at a fixed rate; at the maximum "
          f"{m['rate']:.0f}/s answered, p99 {m['p99']:.2f} ms (medians of {len(rows[arm])} runs)")
if "on" in rows:
    for r in rows["on"]:
        print(f"  logged run: {r['answered']} answered, {r['written']} records written, {r['dropped']} dropped")
if "off" in med and "on" in med:
    print(f"log on / off: CPU per answer x{med['on']['cpu_us'] / med['off']['cpu_us']:.3f}, "
          f"maximum answered rate x{med['on']['rate'] / med['off']['rate']:.3f}")
PY
