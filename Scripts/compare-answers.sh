#!/usr/bin/env bash
# Whether two rankd binaries give the same answers: N discovery and N category Recommends (fixed users, request
# ids and request time) through `rankctl recommend --json`, each answer's sections and their entries' ids in order
# compared between the two servers.
#
#   Scripts/compare-answers.sh RANKD_A RANKD_B [N]
#
# Both servers run the embedded demo on free ports of 127.0.0.1. Prints how many answers are identical and the
# first differing ones; exits 1 when any differ. A change meant to leave every answer as it was is checked with it
# against the commit before (the baseline binary from `build_baseline` in Scripts/lib/bench-common.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
. Scripts/lib/bench-common.sh
[ $# -ge 2 ] || { echo "usage: $0 RANKD_A RANKD_B [N]" >&2; exit 2; }
a=$1 b=$2 n=${3:-150}
build_release rankctl rank-load
rankctl=$PWD/.build-bench/release/rankctl
load=$PWD/.build-bench/release/rank-load
log=$(mktemp -d)
pa=$(free_port)
"$a" --host 127.0.0.1 --port "$pa" --admin-port 0 --log-level warning >"$log/a.log" 2>&1 &
apid=$!
pb=$(free_port)
"$b" --host 127.0.0.1 --port "$pb" --admin-port 0 --log-level warning >"$log/b.log" 2>&1 &
bpid=$!
trap 'kill $apid $bpid 2>/dev/null || true; rm -rf "$log"' EXIT
"$load" --target "127.0.0.1:$pa" --wait-serving 300s --wait-only >/dev/null
"$load" --target "127.0.0.1:$pb" --wait-serving 300s --wait-only >/dev/null
python3 - "$pa" "$pb" "$rankctl" "$n" <<'PY'
import json, subprocess, sys

a_port, b_port, rankctl, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def answer(port, user, surface, request_id, extra):
    done = subprocess.run(
        [rankctl, "recommend", "--target", f"127.0.0.1:{port}", "--json", "--user", user, "--surface", surface,
         "--request-id", request_id, "--time", "1714586400000"] + extra,
        capture_output=True, text=True)
    if done.returncode != 0:
        return "error: " + done.stderr.strip()[:200]
    return [(s.get("section"), [i["item_id"] for i in s.get("items", [])]) for s in json.loads(done.stdout)["sections"]]


same, differing = 0, []
for k in range(n):
    for surface, extra in [("discovery", []), ("category", ["--category", ["pizza", "sushi", "burger"][k % 3]])]:
        user, request_id = f"u{k * 37 % 5000}", f"cmp-{k}"
        a, b = answer(a_port, user, surface, request_id, extra), answer(b_port, user, surface, request_id, extra)
        if a == b:
            same += 1
        else:
            differing.append((surface, user, request_id, a, b))
print(f"{same} of {2 * n} answers identical, {len(differing)} differ")
for surface, user, request_id, a, b in differing[:3]:
    print(f"{surface} {user} {request_id}:\n  A {json.dumps(a)[:300]}\n  B {json.dumps(b)[:300]}")
sys.exit(1 if differing else 0)
PY
