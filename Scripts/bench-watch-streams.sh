#!/usr/bin/env bash
# Recommend's latency with and without thousands of open grpc.health.v1.Health/Watch streams, side by side in one
# run: the proof that waiting streams cost memory, not the threads Recommend needs (docs/defences.md).
#
#   Scripts/bench-watch-streams.sh        BENCH_RUNS (3) alternating runs per case, medians reported
#
# rankd is pinned to core 0 with one I/O thread and one worker, rank-load to core 1, at a fixed Recommend rate
# (WATCH_BENCH_RATE, 300/s) well under capacity. WATCH_STREAMS (2000) Watch streams are held open by a grpcio
# client over 20 channels for the "with watches" runs. Builds release binaries in BENCH_SCRATCH (.build-bench).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
runs=${BENCH_RUNS:-3}
rate=${WATCH_BENCH_RATE:-300}
watches=${WATCH_STREAMS:-2000}
scratch=${BENCH_SCRATCH:-.build-bench}
out=${BENCH_OUT:-$repo/out/bench-watch/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
log() { echo "bench-watch: $*" >&2; }

Scripts/install-deps.sh --test
for product in rankd rank-load; do
  swift build -c release --scratch-path "$scratch" --product "$product" 2>&1 | grep -E "error" || true
done
bin="$scratch/release"

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
taskset -c 0 "$bin/rankd" --port "$port" --io-threads 1 --workers 1 --max-concurrent-streams 5000 \
  --max-queued-calls 5000 >"$out/rankd.log" 2>&1 &
rankd_pid=$!
pids+=("$rankd_pid")
"$bin/rank-load" --target "127.0.0.1:$port" --wait-serving 300s --wait-only
# Prime: rankd's first seconds of Recommend are slower than its steady state.
taskset -c 1 "$bin/rank-load" --quiet --target "127.0.0.1:$port" --method recommend --surface discovery \
  --rate 100 --duration 10s --warmup 0s >/dev/null 2>&1 || true

hold_watches() { # starts the Watch holder, waits until every stream has its first answer
  python3 - "$port" "$watches" "$out/watch-ready" <<'PY' &
import sys, threading, time, grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
port, count, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
channels = [grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.use_local_subchannel_pool", 1)])
            for _ in range(20)]
streams, got = [], [0]
lock = threading.Lock()
def pump(stream):
    for _ in stream:
        with lock:
            got[0] += 1
        break
for index in range(count):
    stream = health_pb2_grpc.HealthStub(channels[index % len(channels)]).Watch(health_pb2.HealthCheckRequest())
    streams.append(stream)
    threading.Thread(target=pump, args=(stream,), daemon=True).start()
deadline = time.monotonic() + 120
while time.monotonic() < deadline and got[0] < count:
    time.sleep(0.1)
open(ready, "w").write(str(got[0]))
time.sleep(3600)
PY
  holder=$!
  pids+=("$holder")
  for _ in $(seq 1 1300); do [ -s "$out/watch-ready" ] && break; sleep 0.1; done
  log "watch streams open: $(cat "$out/watch-ready" 2>/dev/null || echo none)"
}

measure() { # measure NAME RUN
  taskset -c 1 "$bin/rank-load" --quiet --target "127.0.0.1:$port" --method recommend --surface discovery \
    --rate "$rate" --duration 10s --warmup 2s --json "$out/$1-$2.json" >"$out/$1-$2.txt" 2>&1 || true
}

for run in $(seq 1 "$runs"); do
  measure without "$run"
  rm -f "$out/watch-ready"
  hold_watches
  rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$rankd_pid/status")
  threads=$(awk '/^Threads:/ { print $2 }' "/proc/$rankd_pid/status")
  echo "$run $rss $threads" >>"$out/with-watches-process.txt"
  measure with "$run"
  kill -TERM "$holder" 2>/dev/null || true
  wait "$holder" 2>/dev/null || true
done

python3 - "$out" "$runs" "$watches" "$rate" <<'PY' | tee "$out/summary.md"
import json, statistics, sys
out, runs, watches, rate = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def load(name):
    rows = []
    for run in range(1, runs + 1):
        with open(f"{out}/{name}-{run}.json") as f:
            report = json.load(f)
        ok = report.get("latency_by_status_ms", {}).get("OK", report["latency_ms"])
        rows.append((ok["p50"], ok["p99"], sum(report.get("status_counts", {}).values()),
                     report.get("status_counts", {}).get("OK", 0)))
    return rows
print(f"Recommend (discovery) at {rate}/s, rankd on one core (--io-threads 1 --workers 1); medians of {runs} runs")
print()
print("| case | p50 ms | p99 ms | calls | OK |")
print("|---|---:|---:|---:|---:|")
for name, label in (("without", "no Watch streams"), ("with", f"{watches} open Watch streams")):
    rows = load(name)
    med = lambda i: statistics.median(r[i] for r in rows)
    print(f"| {label} | {med(0):.2f} | {med(1):.2f} | {int(med(2))} | {int(med(3))} |")
print()
print("rankd with the watches open (run, VmRSS kB, threads):")
print(open(f"{out}/with-watches-process.txt").read())
PY
