#!/usr/bin/env bash
# Issue 13's goals for Recommend, measured on this machine and printed met or not met with every run's figures:
#
#   1. CPU per Recommend at a fixed rate, discovery (goal: at most 300 us), and venue menus (venue_items) and the music
#      surface (next_track, on the music demo) beside it; and the floor under them at the same rate: the CPU of a
#      Health check (answered on the I/O thread) and of a Rank with one candidate (a pool call that ranks almost
#      nothing, run on the I/O thread while the workers are idle: --inline-max-ms), so what the transport and the
#      pipeline's fixed costs take is read beside the total;
#   2. capacity: rankd on one core (taskset -c 0, --io-threads 1, --workers 0: the I/O thread runs the calls), rank-load
#      on the other, at 2,500 Recommend/s (discovery) for a while: p99 at most 10 ms and no failed call; and beside it
#      the same with one worker thread (the default on one core), for comparison;
#   3. the tree scorer per row against lleaves: read from Scripts/bench-scoring.sh's latest summary (make bench runs
#      it first), or "not measured" when there is none.
#
#   Scripts/bench-recommend-goals.sh [--runs N] [--rate R] [--seconds S] [--capacity-rate R] [--capacity-seconds S]
#
# Every run starts a fresh rankd (embedded demo, scale 1; for next_track the music demo snapshot at scale 1, written
# once per script run into the run's folder) on core 0, waits until it serves, primes it with 5 s at 100 req/s of its
# workload, and then measures with rank-load on core 1. Every request carries the same request time (Wednesday
# 2024-05-01 18:00 UTC), so the work does not depend on the hour. CPU per request is the server's utime + stime from
# /proc/PID/stat over the measured run divided by the calls it answered. Medians over the runs decide a goal; the
# load generator must keep its schedule (rank-load's "run: valid"), else the run counts as not met.
# Results land in out/bench/recommend-goals/<time>/ (summary.txt is what BENCHMARKS.md quotes).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. Scripts/lib/bench-common.sh

runs=3
rate=300
seconds=20
capacity_rate=2500
capacity_seconds=20
time_ms=1714586400000
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --capacity-rate) capacity_rate=$2; shift 2 ;;
    --capacity-seconds) capacity_seconds=$2; shift 2 ;;
    *)
      echo "usage: $0 [--runs N] [--rate R] [--seconds S] [--capacity-rate R] [--capacity-seconds S]" >&2
      exit 2
      ;;
  esac
done
[ "$(nproc)" -ge 2 ] || { echo "needs two cores (server on 0, rank-load on 1)" >&2; exit 2; }

out="out/bench/recommend-goals/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

log "building rankd, rank-load and rankctl (release)"
build_release rankd rank-load rankctl
rankd="$repo/.build-bench/release/rankd"
load="$repo/.build-bench/release/rank-load"
rankctl="$repo/.build-bench/release/rankctl"
ticks=$(getconf CLK_TCK)
{
  machine_lines
  echo "runs: $runs; CPU at $rate/s for ${seconds}s per surface; capacity at $capacity_rate/s for ${capacity_seconds}s"
} | tee "$out/machine.txt" >&2

server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
# The music snapshot is large (about 170 MB at scale 1) and written afresh by every run of the script.
finish() {
  stop_server
  rm -rf "${music_snapshot:-}"
}
trap finish EXIT

# The music demo next_track is measured on, and the rank-load options of its requests.
music_scale=1
music_snapshot="$out/music-snapshot"
music_load=(--surface next_track --scale "$music_scale")
log "writing the music demo snapshot (scale $music_scale)"
if ! "$rankctl" demo-data --domain music --scale "$music_scale" --snapshot "$music_snapshot" \
  >"$out/music-snapshot.log" 2>&1; then
  tail -5 "$out/music-snapshot.log" >&2
  echo "rankctl demo-data --domain music failed" >&2
  exit 1
fi

# start_server NAME [RANK-LOAD OPTION... [-- RANKD OPTION...]]: a fresh rankd on core 0 with the rankd options (none:
# the embedded demo), serving and primed with the requests the rank-load options draw (none: the demo mix); sets
# server_pid and port.
start_server() {
  local name=$1
  shift
  local prime=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do prime+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  start_primed "$rankd" "$out/server-$name.log" "${prime[@]}" -- --io-threads 1 --admin-port 0 --log-level warning "$@"
}

# measure NAME RATE SECONDS [rank-load options]: one measured run against the running server; appends a line to
# results.txt: NAME, CPU us per call, calls, failed calls, p99 ms, whether the run was valid.
measure() {
  local name=$1 rate=$2 secs=$3 method=recommend
  shift 3
  if [ "${1:-}" = --method ]; then
    method=$2
    shift 2
  fi
  local before after
  before=$(cpu_ticks "$server_pid")
  taskset -c 1 "$load" --target "127.0.0.1:$port" --method "$method" --rate "$rate" --duration "${secs}s" \
    --warmup 0s --request-time "$time_ms" --seed 2 --timeout 5s "$@" --json "$out/$name.json" \
    >"$out/$name.txt" 2>&1 || true
  after=$(cpu_ticks "$server_pid")
  python3 - "$out/$name.json" "$out/$name.txt" "$before" "$after" "$ticks" "$name" <<'PY' | tee -a "$out/results.txt"
import json, sys
path, text, before, after, ticks, name = sys.argv[1:]
try:
    report = json.load(open(path))
except (OSError, ValueError):
    print(f"{name} - 0 0 - invalid")
    sys.exit()
counts = report["status_counts"]
calls = sum(counts.values())
failed = calls - counts.get("OK", 0)
cpu_us = (int(after) - int(before)) / int(ticks) / max(calls, 1) * 1e6
valid = "valid" if "run: valid" in open(text).read() else "invalid"
print(f"{name} {cpu_us:.0f} {calls} {failed} {report['latency_ms']['p99']:.2f} {valid}")
PY
}

for run in $(seq 1 "$runs"); do
  for surface in discovery venue_items; do
    log "run $run: CPU per Recommend, $surface, $rate/s for ${seconds}s"
    start_server "cpu-$surface-$run"
    measure "cpu-$surface-$run" "$rate" "$seconds" --surface "$surface"
    stop_server
  done
  log "run $run: CPU per Recommend, next_track (music demo), $rate/s for ${seconds}s"
  start_server "cpu-next_track-$run" "${music_load[@]}" -- --snapshot "$music_snapshot"
  measure "cpu-next_track-$run" "$rate" "$seconds" "${music_load[@]}"
  stop_server
  log "run $run: the floor at $rate/s: Health checks, then one-candidate Ranks, for ${seconds}s each"
  start_server "floor-$run"
  measure "floor-health-$run" "$rate" "$seconds" --method health
  measure "floor-rank1-$run" "$rate" "$seconds" --method rank --candidates 1
  stop_server
  log "run $run: capacity, discovery at $capacity_rate/s for ${capacity_seconds}s, no workers, then one"
  start_server "capacity-$run" -- --workers 0
  measure "capacity-$run" "$capacity_rate" "$capacity_seconds" --surface discovery
  stop_server
  start_server "capacity_one_worker-$run" -- --workers 1
  measure "capacity_one_worker-$run" "$capacity_rate" "$capacity_seconds" --surface discovery
  stop_server
done

scoring_summary=$repo/out/bench-scoring/latest/summary.md
python3 - "$out/results.txt" "$scoring_summary" "$capacity_rate" <<'PY' | tee "$out/summary.txt"
import os, re, statistics, sys
results, scoring, capacity_rate = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = {}
for line in open(results):
    name, cpu, calls, failed, p99, valid = line.split()
    kind = name.rsplit("-", 1)[0]
    rows.setdefault(kind, []).append((cpu, int(calls), int(failed), p99, valid))

def runs(kind):
    return "; ".join(f"{c} us, {n} calls, {f} failed, p99 {p} ms, {v}" for c, n, f, p, v in rows.get(kind, []))

def median(kind, index):
    values = [float(r[index]) for r in rows.get(kind, []) if r[index] != "-"]
    return statistics.median(values) if values else float("nan")

discovery = median("cpu-discovery", 0)
print(f"1. Recommend CPU per request, discovery: median {discovery:.0f} us (goal <= 300 us): "
      + ("met" if discovery <= 300 else "not met"))
print(f"   runs: {runs('cpu-discovery')}")
print(f"   venue menus (venue_items), reported beside it: median {median('cpu-venue_items', 0):.0f} us")
print(f"   runs: {runs('cpu-venue_items')}")
print(f"   music (next_track), reported beside it: median {median('cpu-next_track', 0):.0f} us")
print(f"   runs: {runs('cpu-next_track')}")
print(f"   the floor of a call at the same rate: a Health check (answered on the I/O thread) median "
      f"{median('floor-health', 0):.0f} us; a one-candidate Rank (a pool call, almost no ranking, run "
      f"inline while the workers are idle) median {median('floor-rank1', 0):.0f} us")
print(f"   runs: Health {runs('floor-health')}; Rank {runs('floor-rank1')}")
capacity = rows.get("capacity", [])
held = [f == 0 and v == "valid" and float(p) <= 10 for _, _, f, p, v in capacity]
p99 = median("capacity", 3)
verdict = "met" if capacity and sum(held) * 2 > len(held) else "not met"
print(f"2. Capacity, one core, {capacity_rate} Recommend/s (--workers 0): median p99 {p99:.2f} ms, "
      f"{sum(held)} of {len(held)} runs with p99 <= 10 ms and no failed call: {verdict}")
print(f"   runs: {runs('capacity')}")
print(f"   with one worker thread, reported beside it: median p99 {median('capacity_one_worker', 3):.2f} ms, median "
      f"{median('capacity_one_worker', 2):.0f} failed calls against {median('capacity', 2):.0f} with none")
print(f"   runs: {runs('capacity_one_worker')}")
line = None
if os.path.exists(scoring):
    for text in open(scoring):
        if "tree scorer per row <= lleaves" in text:
            line = text.strip()
            break
if line:
    print(f"3. Tree scorer per row against lleaves ({os.path.realpath(scoring)}): {line}")
else:
    print("3. Tree scorer per row against lleaves: not measured (run Scripts/bench-scoring.sh first)")
PY
log "results in $out"
