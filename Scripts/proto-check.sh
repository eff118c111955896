#!/usr/bin/env bash
# The contract check: each guarded proto package must stay wire- and JSON-compatible with its released version,
# whose descriptor set is committed under proto/baseline/. Uses an already-built rank-compat; builds nothing.
#   Scripts/proto-check.sh BIN_DIR                    fail (exit 1) on any breaking change, 2 on unusable input
#   Scripts/proto-check.sh --raise-baseline BIN_DIR   show what changed, then make the current protos the baselines
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

# Each guarded package and its own baseline: the serving contract (callers' stubs), the catalog snapshot record
# format (export jobs' stubs) and the exposure and event log records (analysis jobs' readers). They have different
# owners, so each is raised and reviewed on its own file.
contracts=(
  "ranking/v1 proto/baseline/ranking-v1.binpb"
  "ranking/catalog/v1 proto/baseline/ranking-catalog-v1.binpb"
  "ranking/exposure/v1 proto/baseline/ranking-exposure-v1.binpb"
)
include_dir=/usr/include

check() { "$rank_compat" --against "$2" --path "$1" --category WIRE_JSON proto; }

if ! $raise; then
  worst=0
  for contract in "${contracts[@]}"; do
    read -r contract_dir baseline <<<"$contract"
    status=0
    check "$contract_dir" "$baseline" || status=$?
    if [ "$status" -gt "$worst" ]; then worst=$status; fi
  done
  exit "$worst"
fi

new=$(mktemp)
trap 'rm -f "$new"' EXIT
for contract in "${contracts[@]}"; do
  read -r contract_dir baseline <<<"$contract"
  # Show what is being accepted before accepting it; a package that does not compile stops here. A package
  # without a baseline yet has nothing to accept: its first baseline is simply written.
  status=0
  if [ -f "$baseline" ]; then
    check "$contract_dir" "$baseline" || status=$?
    if [ "$status" -eq 2 ]; then exit 2; fi
  fi

  # The same protoc flags rank-compat uses for a directory, so the baseline carries source positions too.
  (cd proto && find "$contract_dir" -name '*.proto' | LC_ALL=C sort) | xargs \
    protoc --include_imports --include_source_info -I proto -I "$include_dir" --descriptor_set_out="$new"
  mkdir -p "$(dirname "$baseline")"
  if [ -f "$baseline" ] && cmp -s "$new" "$baseline"; then
    echo "baseline $baseline already matches proto/$contract_dir"
    continue
  fi
  cp "$new" "$baseline"
  if [ "$status" -eq 1 ]; then
    echo "raised $baseline over the breaking changes above; commit it with a message that says why" >&2
  else
    echo "raised $baseline to the current proto/$contract_dir; commit it"
  fi
done
