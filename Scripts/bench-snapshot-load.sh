#!/usr/bin/env bash
# Catalog snapshot load: time, CPU, records per second and resident memory, rankd against a baseline commit.
#
#   Scripts/bench-snapshot-load.sh [--baseline REF] [--runs N] [--scales "1 5"] [--keep]
#
# For each demo scale, writes the demo marketplace once as a snapshot (the baseline's `rankctl demo-data --snapshot`,
# since a newer rankd reads an older snapshot but not always the other way round), then in each
# run starts each server in turn on core 0 (`--snapshot DIR`, one I/O thread) and waits for its "serving:" log line.
# It then reads the process's CPU time (utime + stime in /proc/PID/stat: the whole start, almost all of it the load),
# its resident size and peak (VmRSS, VmHWM), and the load line's own figures. A server on a 0.01-scale snapshot gives
# the resident size of rankd with next to no catalog, so "growth" is what the catalog costs. Prints medians and the
# ratios; everything lands in out/bench/snapshot-load/<time>/ (the snapshots are deleted unless --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
. Scripts/lib/bench-common.sh

baseline=0b00ab5
runs=3
scales="1"
keep=0
while [ $# -gt 0 ]; do
  case $1 in
    --baseline) baseline=$2; shift 2 ;;
    --runs) runs=$2; shift 2 ;;
    --scales) scales=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--baseline REF] [--runs N] [--scales \"1 5\"] [--keep]" >&2; exit 2 ;;
  esac
done

out="out/bench/snapshot-load/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

log "building rankd and rankctl (release)"
build_release rankd rankctl
rankctl="$repo/.build-bench/release/rankctl"
rev=$(git rev-parse --short "$baseline")
log "building the baseline $rev (release)"
servers=("rankd=$repo/.build-bench/release/rankd" "rankd-$rev=$(build_baseline "$rev" rankd)/rankd")
# The demo is written by the baseline's rankctl: a newer rankd reads older snapshots, not always the other way round
# (a schema that declares `values` is refused by a rankd from before them).
rankctl="$(build_baseline "$rev" rankctl)/rankctl"
ticks=$(getconf CLK_TCK)

{
  machine_lines
  echo "baseline: $rev"
  echo "runs: $runs; scales: $scales"
} | tee "$out/machine.txt" >&2

# start_and_measure NAME BINARY SNAPSHOT TAG: one start to "serving:", one line of figures into results.txt.
start_and_measure() {
  local name=$1 binary=$2 snapshot=$3 tag=$4
  local port pid logfile=$out/$name-$tag.log
  port=$(free_port)
  taskset -c 0 "$binary" --host 127.0.0.1 --port "$port" --admin-port 0 --io-threads 1 --snapshot "$snapshot" \
    --snapshot-poll-interval 0 >"$logfile" 2>&1 &
  pid=$!
  local waited=0
  until grep -q "serving:" "$logfile" 2>/dev/null; do
    # A refused first load leaves rankd up and NOT_SERVING: its log says so, and there is nothing to wait for.
    if ! kill -0 "$pid" 2>/dev/null || [ $waited -gt 6000 ] || grep -q "could not load snapshot" "$logfile"; then
      log "$name did not serve $snapshot; see $logfile"
      kill "$pid" 2>/dev/null || true
      return 1
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  local cpu rss hwm
  cpu=$(awk -v t="$ticks" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$pid/stat")
  rss=$(awk '/^VmRSS/ { print $2 }' "/proc/$pid/status")
  hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  python3 - "$logfile" "$tag" "$name" "$cpu" "$rss" "$hwm" "$snapshot/manifest.json" <<'PY' | tee -a "$out/results.txt"
import json, re, sys
logfile, tag, name, cpu, rss, hwm, manifest = sys.argv[1:]
text = open(logfile).read()
loaded = re.search(r"loaded in ([0-9.]+) s \(validate ([0-9.]+) s, build ([0-9.]+) s", text)
raw = re.search(r"([0-9.]+) MB of raw columns", text)
records = sum(json.load(open(manifest))["record_counts"].values())
print(tag, name, records, loaded.group(1), loaded.group(2), loaded.group(3), cpu, int(rss) * 1024,
      int(hwm) * 1024, raw.group(1) if raw else "-")
PY
}

tiny="$out/snapshot-0.01"
"$rankctl" demo-data --domain marketplace --scale 0.01 --snapshot "$tiny" >/dev/null
for scale in $scales; do
  snapshot="$out/snapshot-$scale"
  log "writing the demo at scale $scale"
  "$rankctl" demo-data --domain marketplace --scale "$scale" --snapshot "$snapshot" >"$out/demo-data-$scale.txt"
  for run in $(seq 1 "$runs"); do
    for spec in "${servers[@]}"; do
      log "run $run, scale $scale: ${spec%%=*}"
      start_and_measure "${spec%%=*}" "${spec#*=}" "$snapshot" "scale-$scale-run-$run" || true
    done
  done
  [ "$keep" = 1 ] || rm -rf "$snapshot"
done
for spec in "${servers[@]}"; do start_and_measure "${spec%%=*}" "${spec#*=}" "$tiny" "empty" || true; done
rm -rf "$tiny"

python3 - "$out/results.txt" <<'PY' | tee "$out/summary.md"
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
empty = {r[1]: int(r[7]) for r in rows if r[0] == "empty"}
groups = {}
for r in rows:
    if r[0] == "empty":
        continue
    scale = r[0].split("-run-")[0]
    groups.setdefault((scale, r[1]), []).append(r)
print("| snapshot | server | records | load s (validate, build) | load CPU s | records per CPU s | resident after load"
      " (growth over an empty catalog) | peak | raw columns | growth / raw columns |")
print("|---|---|---:|---|---:|---:|---|---:|---:|---:|")
for (scale, name), runs in sorted(groups.items()):
    med = lambda i: statistics.median(float(r[i]) for r in runs)
    records = int(runs[0][2])
    cpu = med(6)
    rss = med(7)
    growth = rss - empty.get(name, 0)
    raw = [float(r[9]) for r in runs if r[9] != "-"]
    raw_mb = statistics.median(raw) if raw else None
    ratio = f"{growth / 1e6 / raw_mb:.2f}" if raw_mb else "-"
    print(f"| {scale} | {name} | {records:,} | {med(3):.1f} ({med(4):.1f}, {med(5):.1f}) | {cpu:.1f} | "
          f"{records / cpu:,.0f} | {rss / 1e6:.0f} MB ({growth / 1e6:.0f} MB) | {med(8) / 1e6:.0f} MB | "
          f"{f'{raw_mb:.0f} MB' if raw_mb else '-'} | {ratio} |")
print()
print(f"medians of {len(next(iter(groups.values())))} runs; per run in results.txt")
PY
