#!/usr/bin/env bash
# Checks rankd's Prometheus files with promtool (Debian's prometheus package; Scripts/install-deps.sh --test):
# the scrape configuration, every rule file, and the unit tests of every alert. Exits non-zero on any failure.
#   Scripts/alerts-test.sh        from any directory
# The rules and their tests live in deploy/prometheus/; the runbook is docs/operations.md.
set -euo pipefail
cd "$(dirname "$0")/.."

promtool=${PROMTOOL:-promtool}
if ! command -v "$promtool" >/dev/null 2>&1; then
  echo "error: promtool not found. It comes with Debian's prometheus package: run Scripts/install-deps.sh --test" >&2
  echo "       (or apt-get install prometheus), or set PROMTOOL to its path." >&2
  exit 2
fi

dir=deploy/prometheus
shopt -s nullglob
rules=("$dir"/rules/*.yml)
tests=("$dir"/tests/*.yml)
((${#rules[@]})) || { echo "error: no rule files in $dir/rules" >&2; exit 2; }
((${#tests[@]})) || { echo "error: no rule tests in $dir/tests" >&2; exit 2; }

# Run every check even after a failure, so one run shows every problem.
failed=()
run() {
  echo "== $*"
  if ! "$promtool" "$@"; then failed+=("$*"); fi
}
run check config "$dir/prometheus.yml"
run check rules "${rules[@]}"
for t in "${tests[@]}"; do
  run test rules "$t"
done

# Every alert needs a test case where it fires and one where it does not. A case "fires" when its alertname
# has a non-empty exp_alerts list.
echo "== every alert has a firing and a quiet test case"
cases=$(awk '
  function flush() { if (name != "") print name, fires; name = ""; fires = 0 }
  /^[[:space:]]*-?[[:space:]]*(eval_time|interval):/ { flush() }
  /^[[:space:]]*alertname:/ { name = $2 }
  /^[[:space:]]*exp_alerts:[[:space:]]*$/ { fires = 1 }
  END { flush() }
' "${tests[@]}")
for alert in $(sed -n 's/^[[:space:]]*- alert:[[:space:]]*\([A-Za-z0-9_]*\).*/\1/p' "${rules[@]}" | sort -u); do
  grep -qx "$alert 1" <<<"$cases" || { echo "  $alert: no test case where it fires"; failed+=("coverage $alert"); }
  grep -qx "$alert 0" <<<"$cases" || { echo "  $alert: no test case where it stays quiet"; failed+=("coverage $alert"); }
done

if ((${#failed[@]})); then
  echo "alerts-test: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "alerts-test: OK (config, ${#rules[@]} rule files, ${#tests[@]} test files, every alert tested firing and quiet)"
