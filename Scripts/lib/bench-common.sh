# Shared by the A/B benchmark scripts (sourced, not run): building a baseline commit and finding a free port.

# build_baseline REF PRODUCT... : builds PRODUCTs of commit REF (release) from a clean export of that commit in
# .build-ab-baseline/src, and prints the folder holding the binaries.
build_baseline() {
  local ref=$1
  shift
  local rev tree build
  rev=$(git rev-parse --short "$ref")
  tree="$PWD/.build-ab-baseline/src-$rev"
  build="$PWD/.build-ab-baseline/build-$rev"
  if [ ! -d "$tree" ]; then
    mkdir -p "$tree"
    git archive "$rev" | tar -x -C "$tree"
  fi
  local product
  for product in "$@"; do
    (cd "$tree" && swift build -c release --scratch-path "$build" --product "$product" 2>&1 | grep -E "error" >&2 || true)
  done
  echo "$build/release"
}

# build_release PRODUCT... : builds PRODUCTs of the working tree (release) into .build-bench/. A failed build prints
# its errors and fails, so no benchmark runs on a binary left from an earlier build.
build_release() {
  local product output
  for product in "$@"; do
    if ! output=$(swift build -c release --scratch-path .build-bench --product "$product" 2>&1); then
      grep -E "error" <<<"$output" >&2 || echo "$output" | tail -20 >&2
      echo "build of $product failed" >&2
      return 1
    fi
  done
}

# machine_lines: the date, the commit measured (and whether the sources differ from it), the CPU and the load average;
# the first lines of every benchmark's machine.txt.
machine_lines() {
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo ' (with local changes)')"
  echo "cpu: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_port PORT: waits up to 10 s for something to listen on 127.0.0.1:PORT.
wait_port() {
  local _
  for _ in $(seq 100); do
    (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# cpu_ticks PID: the process's user + system CPU time so far, in clock ticks (getconf CLK_TCK per second).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# start_primed BINARY LOG [RANK-LOAD OPTION... [-- RANKD OPTION...]]: starts rankd BINARY on core 0, listening on a
# free port of 127.0.0.1 with the rankd options after it, its output in LOG; waits until it serves (up to 300 s) and
# primes it with 5 s of Recommend at 100 req/s from rank-load on core 1, drawn with the rank-load options (none: the
# demo mix). Needs `load` (rank-load's path) and `time_ms` (the request time); sets `port` and `server_pid`.
start_primed() {
  local binary=$1 logfile=$2
  shift 2
  local prime=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do prime+=("$1"); shift; done
  [ $# -eq 0 ] || shift
  port=$(free_port)
  taskset -c 0 "$binary" --host 127.0.0.1 --port "$port" "$@" >"$logfile" 2>&1 &
  server_pid=$!
  "$load" --target "127.0.0.1:$port" --wait-serving 300s --wait-only >/dev/null 2>&1
  taskset -c 1 "$load" --target "127.0.0.1:$port" --method recommend --rate 100 --duration 5s --warmup 0s \
    --request-time "$time_ms" "${prime[@]}" --quiet >/dev/null 2>&1 || true
}

# metric ADMIN_PORT NAME: the value of one Prometheus sample (name with its labels, as /metrics writes it).
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v name="$2" '$1 == name { print $2 }' | head -1; }
