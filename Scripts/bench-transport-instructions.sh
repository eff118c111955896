#!/usr/bin/env bash
# Instructions per health check, rankd against a baseline commit, counted by valgrind's callgrind: the same count for
# the same binary and inputs whatever else the machine does, so a cost of a few percent shows through the noise
# that wall-clock A/B runs have on a shared machine.
#   Scripts/bench-transport-instructions.sh [--baseline REF] [--calls N] [--runs N]
# Each run starts the server under callgrind (one I/O thread, one worker, --scale 0.05), waits until it serves,
# zeroes the counters, sends N empty grpc.health.v1.Health/Check calls with h2load, and dumps the counts.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. Scripts/lib/bench-common.sh
baseline=fb20d62
calls=20000
runs=2
while (($#)); do
  case "$1" in
    --baseline) baseline=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--baseline REF] [--calls N] [--runs N]" >&2; exit 2 ;;
  esac
done
for tool in valgrind callgrind_control h2load objcopy; do
  command -v "$tool" >/dev/null || { echo "needs $tool (Debian valgrind, nghttp2-client, binutils)" >&2; exit 2; }
done
out="out/bench/transport-instructions/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

log "building rankd and rank-load (release)"
build_release rankd rank-load
rev=$(git rev-parse --short "$baseline")
log "building the baseline $rev (release)"
base_dir=$(build_baseline "$rev" rankd)
# valgrind 3.19 cannot read the toolchain's DWARF 5; symbols are enough for counting.
objcopy --strip-debug .build-bench/release/rankd "$out/rankd"
objcopy --strip-debug "$base_dir/rankd" "$out/rankd-$rev"
printf '\x00\x00\x00\x00\x00' >"$out/empty.grpc"

count() {
  local binary=$1 tag=$2 port pid
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$out/$tag.callgrind" "$binary" --host 127.0.0.1 --port "$port" \
    --io-threads 1 --workers 1 --scale 0.05 --log-level warning --admin-port 0 >"$out/$tag.log" 2>&1 &
  pid=$!
  timeout 300 .build-bench/release/rank-load --target "127.0.0.1:$port" --wait-serving 280s --wait-only \
    >/dev/null 2>&1
  callgrind_control -z "$pid" >/dev/null
  h2load -n "$calls" -c 4 -m 100 -d "$out/empty.grpc" -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/grpc.health.v1.Health/Check" >"$out/$tag.h2load" 2>&1
  grep -q "$calls succeeded" "$out/$tag.h2load" || { echo "$tag: not every call succeeded" >&2; cat "$out/$tag.h2load" >&2; }
  callgrind_control -d "$pid" >/dev/null
  sleep 2
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local total
  total=$(sed -n 's/^summary: //p' "$out/$tag.callgrind.1" | head -1)
  echo "$tag $((total / calls))" | tee -a "$out/results.txt"
}

for run in $(seq 1 "$runs"); do
  count "$out/rankd" "rankd-$run"
  count "$out/rankd-$rev" "rankd-$rev-$run"
done
python3 - "$out/results.txt" "$rev" <<'PY' | tee "$out/summary.txt"
import statistics, sys
per = {}
for line in open(sys.argv[1]):
    tag, value = line.split()
    per.setdefault(tag.rsplit("-", 1)[0], []).append(int(value))
for name, values in per.items():
    print(f"{name}: {statistics.median(values):,.0f} instructions per health check ({', '.join(map(str, values))})")
new, base = statistics.median(per["rankd"]), statistics.median(per[f"rankd-{sys.argv[2]}"])
print(f"rankd / rankd-{sys.argv[2]}: {new / base:.4f}")
PY
