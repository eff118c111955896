#!/usr/bin/env bash
# `make bench`, overload: rankd's admission control at twice its capacity, measured side by side in one run.
#
#   Scripts/bench-overload.sh             OVERLOAD_RUNS runs, results under out/bench-overload/<time>/ (summary.md)
#
# Each run starts rankd on one core (`taskset -c 0`, --io-threads 1 --workers 1) on 127.0.0.1 and a free port,
# primes it, and with rank-load on the other core (`taskset -c 1`):
#   1. finds C, the highest rate that holds OVERLOAD_SLO (rank-load --find-max-rps; at most 0.1% errors, so a
#      server that sheds cannot pass by refusing),
#   2. offers OVERLOAD_CALM x C for OVERLOAD_BEFORE_S, then OVERLOAD_FACTOR x C for OVERLOAD_SURGE_S, then
#      OVERLOAD_CALM x C again for OVERLOAD_AFTER_S, recorded in 1 s windows,
# and the summary compares, run by run and as medians, the surge's goodput with C, the latency of the admitted
# (OK) calls and of the refused (RESOURCE_EXHAUSTED) ones, and the per-second p99 after the load drops, against
# the goal: admitted p99 <= 10 ms, refusals p99 <= 1 ms, goodput >= 90% of C, p99 back under 10 ms within 1 s.
# The summary (Scripts/bench-overload-summary.py, re-runnable on a result folder) is what BENCHMARKS.md quotes.
#
# Knobs (environment): OVERLOAD_RUNS (3); OVERLOAD_SLO (p99=10ms); OVERLOAD_FACTOR (2); OVERLOAD_CALM (0.5);
# OVERLOAD_BEFORE_S (3), OVERLOAD_SURGE_S (10), OVERLOAD_AFTER_S (5); OVERLOAD_SEARCH_DURATION (5s) per search trial;
# OVERLOAD_WORKLOAD (--method recommend --surface discovery) the requests; OVERLOAD_RANKD_ARGS (none) extra rankd
# flags, e.g. "--queue-budget-ms 3"; BENCH_SERVER_CPU (0), BENCH_LOAD_CPU (1); OVERLOAD_SCRATCH (.build-bench) the
# Swift build folder, never the .build/ of day-to-day work; OVERLOAD_OUT the result folder. Every command is bounded by `timeout`; rankd is stopped by
# its pid. None of this runs in `make test`.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

runs=${OVERLOAD_RUNS:-3}
slo=${OVERLOAD_SLO:-p99=10ms}
factor=${OVERLOAD_FACTOR:-2}
calm=${OVERLOAD_CALM:-0.5}
before_s=${OVERLOAD_BEFORE_S:-3}
surge_s=${OVERLOAD_SURGE_S:-10}
after_s=${OVERLOAD_AFTER_S:-5}
search_duration=${OVERLOAD_SEARCH_DURATION:-5s}
read -r -a workload <<<"${OVERLOAD_WORKLOAD:---method recommend --surface discovery}"
read -r -a rankd_extra <<<"${OVERLOAD_RANKD_ARGS:-}"
server_cpu=${BENCH_SERVER_CPU:-0}
load_cpu=${BENCH_LOAD_CPU:-1}
scratch=${OVERLOAD_SCRATCH:-.build-bench}
out=${OVERLOAD_OUT:-$repo/out/bench-overload/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
ln -sfn "$out" "$repo/out/bench-overload/latest" 2>/dev/null || true

log() { echo "bench-overload: $*" >&2; }

# --- rankd, started here and stopped by its pid ----------------------------------------------------------------
server_pid=
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || { server_pid=; return 0; }
  for _ in $(seq 1 150); do kill -0 "$server_pid" 2>/dev/null || { server_pid=; return 0; }; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  server_pid=
}
trap stop_server EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_rankd() { # start_rankd LOGFILE: sets server_pid and server_port, returns once Health says SERVING
  local logfile=$1
  server_port=$(free_port)
  taskset -c "$server_cpu" "$bin/rankd" --host 127.0.0.1 --port "$server_port" --io-threads 1 --workers 1 \
    --log-level info ${rankd_extra[@]+"${rankd_extra[@]}"} >"$logfile" 2>&1 &
  server_pid=$!
  timeout 330 "$bin/rank-load" --target "127.0.0.1:$server_port" --wait-serving 300s --wait-only ||
    { log "rankd did not become SERVING"; tail -20 "$logfile" >&2; return 1; }
  log "rankd serving on 127.0.0.1:$server_port (pid $server_pid, cpu $server_cpu)"
}

# CPU time (clock ticks) of each rankd thread and where it waits: the I/O thread waits in epoll, the CPU-pool
# worker on a futex. Read before and after the overload run, it shows how the core was shared.
thread_cpu() { # thread_cpu OUTFILE
  local task
  for task in /proc/"$server_pid"/task/*; do
    echo "$(basename "$task") $(awk '{ print $14 + $15 }' "$task/stat" 2>/dev/null || echo 0)" \
      "$(cat "$task/wchan" 2>/dev/null || echo ?)"
  done >"$1"
}

# The stats line (`kill -USR1`): the server's own count of calls it admitted and refused.
server_stats() { # server_stats LOGFILE
  kill -USR1 "$server_pid" 2>/dev/null || return 0
  for _ in $(seq 1 20); do grep -q 'stats:' "$1" && return 0; sleep 0.1; done
}

# --- build ------------------------------------------------------------------------------------------------------
log "building rank-load and rankd (release, $scratch)"
for product in rank-load rankd; do
  swift build -c release --scratch-path "$scratch" --product "$product" 2>&1 | grep -E "error|warning: unre" || true
done
bin="$scratch/release"
for product in rank-load rankd; do
  [ -x "$bin/$product" ] || { log "$bin/$product was not built"; exit 1; }
done
load=(taskset -c "$load_cpu" "$bin/rank-load" --quiet --target)

{
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo none)$(git diff --quiet 2>/dev/null || echo ' (uncommitted changes)')"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  echo "cores: $(nproc)"
  echo "kernel: $(uname -r)"
  echo "swift: $(swift --version 2>&1 | head -1)"
  echo "load: $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min, at start)"
  echo "runs: $runs; slo $slo; surge ${factor}x C for ${surge_s} s between ${calm}x C for ${before_s} s and ${after_s} s"
  echo "rankd: taskset -c $server_cpu, --io-threads 1 --workers 1 ${rankd_extra[*]+${rankd_extra[*]}}"
  echo "rank-load: taskset -c $load_cpu, ${workload[*]}"
} >"$out/machine.txt"
cat "$out/machine.txt" >&2

# --- runs ---------------------------------------------------------------------------------------------------------
for run in $(seq 1 "$runs"); do
  log "run $run of $runs (load $(cut -d' ' -f1 /proc/loadavg))"
  cut -d' ' -f1-3 /proc/loadavg >"$out/load-$run.txt"
  start_rankd "$out/rankd-$run.log" || { stop_server; continue; }
  # rankd's first seconds under load are slower than its steady state (BENCHMARKS.md): 10 s at 100 req/s first.
  timeout 60 "${load[@]}" "127.0.0.1:$server_port" "${workload[@]}" --rate 100 --duration 10s --warmup 0s \
    >"$out/prime-$run.txt" 2>&1 || true

  # 1. capacity C: the highest rate holding the SLO (and at most 0.1% errors). A search that a neighbour's burst
  # on the generator's core cut short (a lower bound, "limited by the generator") is run once more.
  capacity=
  for attempt in 1 2; do
    timeout 600 "${load[@]}" "127.0.0.1:$server_port" "${workload[@]}" --rate 500 --duration "$search_duration" \
      --warmup 1s --find-max-rps --slo "$slo" --max-trials 14 --json "$out/capacity-$run.json" \
      >"$out/capacity-$run.txt" 2>&1 || true
    read -r capacity limited < <(python3 -c '
import json, sys
search = json.load(open(sys.argv[1]))["find_max_rps"]
print(search.get("max_rps") or "-", "yes" if search.get("limited_by_generator") else "no")' \
      "$out/capacity-$run.json" 2>/dev/null || echo "- yes")
    if [ "$capacity" = - ]; then capacity=; fi
    if [ -n "$capacity" ] && [ "$limited" = no ]; then break; fi
    if [ "$attempt" = 1 ]; then
      log "run $run: the search was limited by the generator or found nothing; once more"
      cp "$out/capacity-$run.txt" "$out/capacity-$run-first.txt"
    fi
  done
  if [ -z "$capacity" ]; then
    log "run $run: no capacity found (see capacity-$run.txt); skipping its overload"
    stop_server
    continue
  fi

  # 2. calm, surge, calm; 1 s windows show the seconds after the drop.
  read -r low high < <(python3 -c 'import sys; c, f, l = map(float, sys.argv[1:]); print(round(c * l), round(c * f))' \
    "$capacity" "$factor" "$calm")
  log "run $run: C = $capacity req/s; offering $low -> $high -> $low req/s"
  thread_cpu "$out/threads-before-$run.txt"
  timeout $((before_s + surge_s + after_s + 60)) "${load[@]}" "127.0.0.1:$server_port" "${workload[@]}" \
    --schedule "${low}x${before_s}s,${high}x${surge_s}s,${low}x${after_s}s" --warmup 1s --window 1s \
    --json "$out/overload-$run.json" >"$out/overload-$run.txt" 2>&1 || true
  thread_cpu "$out/threads-after-$run.txt"
  server_stats "$out/rankd-$run.log"
  stop_server
done

# --- summary --------------------------------------------------------------------------------------------------------
python3 Scripts/bench-overload-summary.py "$out" "$runs" "$before_s" "$surge_s" "$after_s" >"$out/summary.md"
cat "$out/summary.md"
log "results in $out (summary.md)"
