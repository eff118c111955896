#!/usr/bin/env bash
# Instructions per discovery Recommend, rankd against a baseline commit, counted by valgrind's callgrind: the same
# count for the same binary and requests whatever else the machine does, so a change of a few percent in the
# pipeline's work shows through the noise of wall-clock runs on a shared machine. (It counts instructions, not cache
# misses: a change that only makes memory reads cheaper does not show here.)
#   Scripts/bench-recommend-instructions.sh [--baseline REF] [--calls N] [--runs N]
# Each run starts the server under callgrind (embedded demo, one I/O thread, --workers 0), waits until it serves (a few
# minutes under callgrind), sends 100 discovery Recommends to warm it, zeroes the counters, sends N more at 20/s with
# a fixed seed and request time, and dumps the counts. Every call must be answered OK, else the run is reported
# invalid (under callgrind a busy machine can push calls past their deadline).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
. Scripts/lib/bench-common.sh
baseline=HEAD~1
calls=400
runs=1
while (($#)); do
  case "$1" in
    --baseline) baseline=$2; shift 2 ;;
    --calls) calls=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    *) echo "usage: $0 [--baseline REF] [--calls N] [--runs N]" >&2; exit 2 ;;
  esac
done
for tool in valgrind callgrind_control objcopy; do
  command -v "$tool" >/dev/null || { echo "needs $tool (Debian valgrind, binutils)" >&2; exit 2; }
done
out="out/bench/recommend-instructions/$(date -u +%Y%m%d-%H%M%S)"
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
load=.build-bench/release/rank-load
requests=(--method recommend --surface discovery --rate 20 --warmup 0s --request-time 1714586400000 --timeout 20s)

count() {
  local binary=$1 tag=$2 port pid
  port=$(free_port)
  valgrind --tool=callgrind --callgrind-out-file="$out/$tag.callgrind" "$binary" --host 127.0.0.1 --port "$port" \
    --io-threads 1 --workers 0 --log-level warning --admin-port 0 >"$out/$tag.log" 2>&1 &
  pid=$!
  timeout 900 "$load" --target "127.0.0.1:$port" --wait-serving 880s --wait-only >/dev/null 2>&1
  "$load" --target "127.0.0.1:$port" "${requests[@]}" --duration 5s --seed 3 --quiet >/dev/null 2>&1 || true
  callgrind_control -z "$pid" >/dev/null
  "$load" --target "127.0.0.1:$port" "${requests[@]}" --duration "$((calls / 20))s" --seed 2 \
    --json "$out/$tag.json" >"$out/$tag.load" 2>&1 || true
  callgrind_control -d "$pid" >/dev/null
  sleep 2
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$out/$tag.callgrind.1" "$out/$tag.json" "$tag" <<'PY' | tee -a "$out/results.txt"
import json, re, sys
dump, report, tag = sys.argv[1:]
total = next(int(m.group(1)) for line in open(dump) if (m := re.match(r"summary: (\d+)", line)))
counts = json.load(open(report))["status_counts"]
calls = sum(counts.values())
valid = "valid" if calls and counts.get("OK", 0) == calls else "invalid"
print(f"{tag} {total // max(calls, 1)} {calls} {valid}")
PY
}

for run in $(seq 1 "$runs"); do
  count "$out/rankd" "rankd-$run"
  count "$out/rankd-$rev" "rankd-$rev-$run"
done
python3 - "$out/results.txt" "$rev" <<'PY' | tee "$out/summary.txt"
import statistics, sys
per = {}
for line in open(sys.argv[1]):
    tag, value, calls, valid = line.split()
    if valid == "valid":
        per.setdefault(tag.rsplit("-", 1)[0], []).append(int(value))
for name, values in per.items():
    print(f"{name}: {statistics.median(values):,.0f} instructions per discovery Recommend "
          f"({', '.join(map(str, values))})")
base = f"rankd-{sys.argv[2]}"
if "rankd" in per and base in per:
    print(f"rankd / {base}: {statistics.median(per['rankd']) / statistics.median(per[base]):.4f}")
else:
    print("no valid run of one of the two binaries: no ratio")
PY
