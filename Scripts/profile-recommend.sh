#!/usr/bin/env bash
# Where a discovery Recommend's CPU goes, per pipeline stage, rankd against a baseline commit: `perf record` of each
# server over a fixed-rate run, samples classified by stage (Scripts/lib/perf_stages.py).
#
#   Scripts/profile-recommend.sh [--baseline REF] [--runs N] [--rate R] [--seconds S]
#
# Each run starts each server in turn on core 0 (one I/O thread, the embedded demo), waits until it serves, primes
# it with 5 s at 100 req/s, then records it (`perf record -F 2000 -g`, time-sampled: this machine has no hardware
# counters) over an open-loop Recommend run from rank-load on core 1 at a fixed request time. A sample counts for
# the first stage whose pattern one of its frames matches; a stage's figure is its samples' time divided by the
# calls answered OK, in microseconds per call, averaged over the runs. Answers do not depend on the profile; the
# figures are for comparing stages side by side within one run of the script, not across machines or hours.
# Output in out/bench/profile-recommend/<time>/ (stages.txt is the table).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. Scripts/lib/bench-common.sh

baseline=HEAD
runs=2
rate=1200
seconds=15
time_ms=1714586400000
while [ $# -gt 0 ]; do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    *) echo "usage: $0 [--baseline REF] [--runs N] [--rate R] [--seconds S]" >&2; exit 2 ;;
  esac
done
[ "$(nproc)" -ge 2 ] || { echo "needs two cores (server on 0, rank-load on 1)" >&2; exit 2; }
command -v perf >/dev/null || { echo "needs perf (Debian: linux-perf)" >&2; exit 2; }

out="out/bench/profile-recommend/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

log "building rankd and rank-load (release)"
build_release rankd rank-load
load="$repo/.build-bench/release/rank-load"
rev=$(git rev-parse --short "$baseline")
log "building the baseline $rev (release)"
servers=("rankd=$repo/.build-bench/release/rankd" "rankd-$rev=$(build_baseline "$rev" rankd)/rankd")
{
  machine_lines
  echo "baseline: $rev"
  echo "runs: $runs; Recommend at $rate/s for ${seconds}s after 5 s of priming, perf record -F 2000 -g"
} | tee "$out/machine.txt" >&2

specs=()
for run in $(seq 1 "$runs"); do
  for spec in "${servers[@]}"; do
    name=${spec%%=*}
    binary=${spec#*=}
    dir="$out/$name-$run"
    mkdir -p "$dir"
    start_primed "$binary" "$dir/server.log" -- --io-threads 1 --admin-port 0 --log-level warning
    pid=$server_pid
    perf record -F 2000 -g -p "$pid" -o "$dir/perf.data" -- sleep "$seconds" >/dev/null 2>&1 &
    recorder=$!
    taskset -c 1 "$load" --target "127.0.0.1:$port" --method recommend --surface discovery --rate "$rate" \
      --duration "${seconds}s" --warmup 0s --request-time "$time_ms" --seed 2 --timeout 5s --quiet \
      --json "$dir/load.json" >"$dir/load.txt" 2>&1 || true
    wait "$recorder" || true
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    perf script -i "$dir/perf.data" 2>/dev/null >"$dir/script.txt"
    log "run $run: $name recorded"
    specs+=("$name=$dir")
  done
done
python3 Scripts/lib/perf_stages.py --hz 2000 "${specs[@]}" | tee "$out/stages.txt"
rm -f "$out"/*/script.txt
