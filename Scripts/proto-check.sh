#!/usr/bin/env bash
# The contract check: proto/ranking/v1 must stay wire- and JSON-compatible with the released contract, whose
# descriptor set is committed as proto/baseline/ranking-v1.binpb. Uses an already-built rank-compat; builds nothing.
#   Scripts/proto-check.sh BIN_DIR                    fail (exit 1) on any breaking change, 2 on unusable input
#   Scripts/proto-check.sh --raise-baseline BIN_DIR   show what changed, then make the current contract the baseline
# See docs/contract-changes.md for when raising the baseline is the right answer.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 [--raise-baseline] BIN_DIR" >&2; exit 2; }
raise=false
case "${1:-}" in
  --raise-baseline) raise=true; shift ;;
  -*|"") usage ;;
esac
[ $# -eq 1 ] || usage
rank_compat="$1/rank-compat"
[ -x "$rank_compat" ] || { echo "error: $rank_compat not found; build it first (swift build)" >&2; exit 2; }

baseline=proto/baseline/ranking-v1.binpb
contract_dir=ranking/v1
include_dir=/usr/include

if ! $raise; then
  exec "$rank_compat" --against "$baseline" --path "$contract_dir" --category WIRE_JSON proto
fi

# Show what is being accepted before accepting it; a contract that does not compile stops here.
status=0
"$rank_compat" --against "$baseline" --path "$contract_dir" --category WIRE_JSON proto || status=$?
if [ "$status" -eq 2 ]; then exit 2; fi

new=$(mktemp)
trap 'rm -f "$new"' EXIT
# The same protoc flags rank-compat uses for a directory, so the baseline carries source positions too.
(cd proto && find "$contract_dir" -name '*.proto' | LC_ALL=C sort) | xargs \
  protoc --include_imports --include_source_info -I proto -I "$include_dir" --descriptor_set_out="$new"
mkdir -p "$(dirname "$baseline")"
if [ -f "$baseline" ] && cmp -s "$new" "$baseline"; then
  echo "baseline $baseline already matches proto/$contract_dir"
  exit 0
fi
cp "$new" "$baseline"
if [ "$status" -eq 1 ]; then
  echo "raised $baseline over the breaking changes above; commit it with a message that says why" >&2
else
  echo "raised $baseline to the current proto/$contract_dir; commit it"
fi
