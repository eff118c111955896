#!/usr/bin/env bash
# The online store's cost, in-process against Redis, side by side in one run (docs/events.md):
#   - Track: events ingested per CPU-second of rankd (and of redis-server), from /proc over a fixed-rate run;
#   - Recommend at a fixed rate after that Track run: p50 and p99 with each store, and Redis round trips per
#     Recommend (rankd_online_store_round_trips_total{purpose="read"} over the calls).
#
#   Scripts/bench-online.sh [--runs N] [--rate R] [--track-rate R] [--seconds S] [--scale X]
#
# rankd runs on core 0 (one I/O thread), rank-load and redis-server on core 1. Each run starts a fresh rankd per
# store and a flushed Redis. Every Recommend carries the same request time (Wednesday 2024-05-01 18:00 UTC) so the
# work does not depend on the hour. Results land in out/bench/online/<time>/; BENCHMARKS.md has the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. Scripts/lib/bench-common.sh

runs=3
rate=300
track_rate=500
events=20
seconds=20
scale=1
time_ms=1714586400000
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --track-rate) track_rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --scale) scale=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--rate R] [--track-rate R] [--seconds S] [--scale X]" >&2; exit 2 ;;
  esac
done
[ "$(nproc)" -ge 2 ] || { echo "needs two cores (rankd on 0, rank-load and Redis on 1)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "needs redis-server (Scripts/install-deps.sh --test)" >&2; exit 2; }

out="out/bench/online/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

log "building rankd and rank-load (release)"
build_release rankd rank-load
rankd="$repo/.build-bench/release/rankd"
load="$repo/.build-bench/release/rank-load"
ticks=$(getconf CLK_TCK)

redis_port=$(free_port)
taskset -c 1 redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" \
  >"$out/redis.log" 2>&1 &
redis_pid=$!
trap 'kill $redis_pid 2>/dev/null || true' EXIT
wait_port "$redis_port"

{
  machine_lines
  echo "redis: $(redis-server --version | head -1)"
  echo "runs: $runs; Track at $track_rate/s x $events events for ${seconds}s, then Recommend at $rate/s for ${seconds}s;"
  echo "--scale $scale; request time $time_ms; rankd on core 0, rank-load and redis-server on core 1"
} | tee "$out/machine.txt" >&2

pool=$((track_rate * (seconds + 1) + 100))
for run in $(seq 1 "$runs"); do
  for store in memory redis; do
    redis-cli -p "$redis_port" FLUSHALL >/dev/null
    admin=$(free_port)
    args=(--admin-port "$admin" --io-threads 1 --scale "$scale" --log-level warning)
    [ "$store" = redis ] && args+=(--online-store "redis://127.0.0.1:$redis_port")
    start_primed "$rankd" "$out/$store-server-$run.log" --scale "$scale" -- "${args[@]}"
    pid=$server_pid

    before=$(cpu_ticks "$pid")
    redis_before=$(cpu_ticks "$redis_pid")
    taskset -c 1 "$load" --target "127.0.0.1:$port" --method track --events-per-request "$events" \
      --pool-size "$pool" --seed "$((run * 10))" --scale "$scale" --rate "$track_rate" --duration "${seconds}s" \
      --warmup 0s --quiet --json "$out/$store-track-$run.json" >"$out/$store-track-$run.txt" 2>&1 || true
    after=$(cpu_ticks "$pid")
    redis_after=$(cpu_ticks "$redis_pid")

    reads_before=$(metric "$admin" 'rankd_online_store_round_trips_total{purpose="read"}')
    taskset -c 1 "$load" --target "127.0.0.1:$port" --method recommend --scale "$scale" --rate "$rate" \
      --duration "${seconds}s" --warmup 0s --request-time "$time_ms" --seed 2 --quiet \
      --json "$out/$store-recommend-$run.json" >"$out/$store-recommend-$run.txt" 2>&1 || true
    reads_after=$(metric "$admin" 'rankd_online_store_round_trips_total{purpose="read"}')
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$out" "$store" "$run" "$before" "$after" "$redis_before" "$redis_after" "$ticks" "$events" \
      "${reads_before:-0}" "${reads_after:-0}" <<'PY' | tee -a "$out/results.txt"
import json, sys
out, store, run = sys.argv[1:4]
before, after, redis_before, redis_after, ticks, events = map(float, sys.argv[4:10])
reads_before, reads_after = float(sys.argv[10]), float(sys.argv[11])
track = json.load(open(f"{out}/{store}-track-{run}.json"))
recommend = json.load(open(f"{out}/{store}-recommend-{run}.json"))
stored = track["status_counts"].get("OK", 0) * events
cpu = (after - before) / ticks
redis_cpu = (redis_after - redis_before) / ticks if store == "redis" else 0
calls = sum(recommend["status_counts"].values())
ok = recommend["status_counts"].get("OK", 0)
# Calls refused before running (RESOURCE_EXHAUSTED) never read the store: round trips per call served.
trips = (reads_after - reads_before) / ok if ok and store == "redis" else 0
print(f"{run} {store} events/cpu-s {stored / cpu:.0f} events/redis-cpu-s "
      f"{(stored / redis_cpu) if redis_cpu else 0:.0f} p50 {recommend['latency_ms']['p50']:.3f} "
      f"p99 {recommend['latency_ms']['p99']:.3f} trips {trips:.3f} "
      f"(track {track['status_counts']}, recommend {calls} calls {ok} OK)")
PY
  done
done

python3 - "$out/results.txt" <<'PY' | tee "$out/summary.txt"
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.split()
    rows.setdefault(f[1], []).append({"ingest": float(f[3]), "redis_ingest": float(f[5]), "p50": float(f[7]),
                                      "p99": float(f[9]), "trips": float(f[11])})
med = {store: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for store, runs in rows.items()}
for store, m in med.items():
    line = (f"{store}: Track {m['ingest']:.0f} events per rankd CPU-second; Recommend p50 {m['p50']:.2f} ms, "
            f"p99 {m['p99']:.2f} ms")
    if store == "redis":
        line += (f"; {m['redis_ingest']:.0f} events per redis-server CPU-second; {m['trips']:.3f} round trips per "
                 "Recommend served")
    print(line + f" (medians of {len(rows[store])} runs)")
if "memory" in med and "redis" in med:
    print(f"redis - memory: p99 {med['redis']['p99'] - med['memory']['p99']:+.2f} ms, "
          f"p50 {med['redis']['p50'] - med['memory']['p50']:+.2f} ms; ingest ratio "
          f"{med['redis']['ingest'] / med['memory']['ingest']:.2f}")
PY
