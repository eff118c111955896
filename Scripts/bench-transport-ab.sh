#!/usr/bin/env bash
# Transport A/B: rankd's empty unary call (grpc.health.v1.Health/Check) against grpc-go's (EmptyCall), with the
# servers alternating inside every run so a noisy minute on the shared machine hits all of them alike.
#
#   Scripts/bench-transport-ab.sh [--runs N] [--seconds S] [--baseline GIT_REF]
#
# The server runs pinned to core 0 (one I/O thread, GOMAXPROCS=1 for grpc-go) and h2load to core 1, closed loop,
# 4 connections x 100 streams, 2 s warm-up. --baseline builds that commit too (release, its own scratch folder)
# and runs it as a third server, to measure a change. Prints one line per server and run, then the medians and
# the ratios of the medians; everything lands in out/bench/transport-ab/<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. Scripts/lib/bench-common.sh

runs=5
seconds=10
baseline=""
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --baseline) baseline=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--seconds S] [--baseline GIT_REF]" >&2; exit 2 ;;
  esac
done
[ "$(nproc)" -ge 2 ] || { echo "needs two cores (server on 0, h2load on 1)" >&2; exit 2; }
command -v h2load >/dev/null || { echo "h2load is missing: make install-deps" >&2; exit 2; }

out="out/bench/transport-ab/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

log "building rankd (release)"
build_release rankd
servers=("rankd=$repo/.build-bench/release/rankd")
if [ -n "$baseline" ]; then
  rev=$(git rev-parse --short "$baseline")
  log "building the baseline $rev (release)"
  servers+=("rankd-$rev=$(build_baseline "$rev" rankd)/rankd")
fi
cache=$(Scripts/fetch-interop.sh | tail -1)
servers+=("grpc-go=$cache/bin/interop-server-go")

printf '\0\0\0\0\0' >"$out/empty.grpc"
{
  machine_lines
  echo "h2load: $(h2load --version 2>&1 | head -1)"
  echo "runs: $runs x ${seconds}s, server on core 0, h2load on core 1"
} | tee "$out/machine.txt" >&2

for run in $(seq 1 "$runs"); do
  for spec in "${servers[@]}"; do
    name=${spec%%=*}
    binary=${spec#*=}
    port=$(free_port)
    if [ "$name" = grpc-go ]; then
      path=/grpc.testing.TestService/EmptyCall
      GOMAXPROCS=1 taskset -c 0 "$binary" --port "$port" >"$out/$name-server-$run.log" 2>&1 &
    else
      path=/grpc.health.v1.Health/Check
      taskset -c 0 "$binary" --host 127.0.0.1 --port "$port" --io-threads 1 --scale 0.05 --log-level warning \
        >"$out/$name-server-$run.log" 2>&1 &
    fi
    pid=$!
    wait_port "$port" || true
    taskset -c 1 h2load -c 4 -m 100 -D "$seconds" --warm-up-time 2 -d "$out/empty.grpc" \
      -H 'content-type: application/grpc' -H 'te: trailers' "http://127.0.0.1:$port$path" \
      >"$out/$name-h2load-$run.txt" 2>&1 || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rate=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$out/$name-h2load-$run.txt")
    echo "$run $name ${rate:-failed} load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/results.txt"
  done
done

python3 - "$out/results.txt" <<'EOF' | tee "$out/summary.txt"
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    run, name, rate = line.split()[:3]
    if rate != "failed":
        rates.setdefault(name, []).append(float(rate))
medians = {name: statistics.median(values) for name, values in rates.items()}
for name, values in rates.items():
    print(f"{name}: median {medians[name]:,.0f} req/s over {len(values)} runs ({', '.join(f'{v:,.0f}' for v in values)})")
peer = medians.get("grpc-go")
if peer:
    for name, median in medians.items():
        if name != "grpc-go":
            print(f"{name} / grpc-go: {median / peer:.2f}x (ratio of the medians)")
EOF
