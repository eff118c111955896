#!/usr/bin/env bash
# Builds the libFuzzer targets in Fuzz/ with `swiftc -sanitize=fuzzer,address` into .build-fuzz/ and runs each one
# for a bounded time, seeded from its committed corpus in Fuzz/Corpus/<target>/.
#
#   Scripts/fuzz.sh [--seconds N] [--merge] [--build-only] [target...]
#
#   targets       deframer wire-parsers contract connection snapshot-records (default: all, one after the other)
#   --seconds N   fuzzing time per target (default 30)
#   --merge       afterwards, add the inputs that found new coverage to Fuzz/Corpus/<target>/ (review, then commit)
#   --build-only  build the fuzzers and stop
#
# Exits non-zero when a build fails or any target finds a crash, a sanitizer report, a leak, a timeout or runs out of
# memory; the summary names the input libFuzzer saved and how to reproduce it. No SwiftPM: each library module is
# compiled once with swiftc (and the C shims with the toolchain's clang), instrumented, and rebuilt only when its
# sources or flags change. What a run discovers accumulates in .build-fuzz/corpus/<target>/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/.build-fuzz
ALL_TARGETS=(deframer wire-parsers contract connection snapshot-records)

seconds=30
merge=0
build_only=0
targets=()
while (($#)); do
  case "$1" in
    --seconds) seconds=${2:?--seconds needs a value}; shift 2 ;;
    --seconds=*) seconds=${1#*=}; shift ;;
    --merge) merge=1; shift ;;
    --build-only) build_only=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[0-9]+$ ]] && ((seconds > 0)) || { echo "fuzz: --seconds needs a positive number" >&2; exit 2; }
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz: unknown target $t (have: ${ALL_TARGETS[*]})" >&2; exit 2; }
done

# The per-target libFuzzer limits: the longest input, and the most one input may take (seconds).
max_len_of() {
  case "$1" in
    wire-parsers) echo 4096 ;;
    deframer|contract|snapshot-records) echo 16384 ;;
    connection) echo 32768 ;;
  esac
}
RSS_LIMIT_MB=2048
INPUT_TIMEOUT=10

# MARK: Toolchain

SWIFTC=${SWIFTC:-$(command -v swiftc || echo /opt/swift/usr/bin/swiftc)}
[ -x "$SWIFTC" ] || { echo "fuzz: swiftc not found (set SWIFTC)" >&2; exit 1; }
TOOLBIN=$(dirname "$(readlink -f "$SWIFTC")")
# The C shims must be instrumented by the clang that matches the toolchain's libFuzzer and ASan runtimes.
CLANG=${CLANG:-$TOOLBIN/clang}
[ -x "$CLANG" ] || { echo "fuzz: $CLANG not found (set CLANG to the Swift toolchain's clang)" >&2; exit 1; }
SWIFT_FLAGS=(-O -g -swift-version 5 -parse-as-library -sanitize=fuzzer,address)
C_FLAGS=(-O1 -g -fsanitize=fuzzer-no-link,address -fno-omit-frame-pointer)
TOOLCHAIN_ID=$("$SWIFTC" --version 2>&1 | head -1)

mkdir -p "$B"/{obj,modules,modulemaps,stamps,bin,logs,corpus,artifacts}

# A build step runs only when the hash of its command, inputs and dependencies changed since it last succeeded.
# fingerprint FILE... -- STRING...: the files' names and contents, the strings, and the compiler version.
fingerprint() {
  local files=()
  while (($#)) && [ "$1" != "--" ]; do files+=("$1"); shift; done
  (($#)) && shift
  { echo "$TOOLCHAIN_ID"; printf '%s\n' "${files[@]}" "$@"; cat "${files[@]}"; } | sha256sum | cut -c1-32
}
up_to_date() { [ -f "$B/stamps/$1" ] && [ "$(cat "$B/stamps/$1")" == "$2" ]; }
mark_built() { echo "$2" >"$B/stamps/$1"; }

swift_sources() { find "$@" -name '*.swift' | LC_ALL=C sort; }

# C targets: objects plus, for the shims without one, a module map naming the umbrella header and its library.
build_c_module() {
  local name=$1 link=$2 dir=$ROOT/Sources/$1
  local sources; mapfile -t sources < <(find "$dir" -name '*.c' | LC_ALL=C sort)
  local headers; mapfile -t headers < <(find "$dir/include" -type f | LC_ALL=C sort)
  local key; key=$(fingerprint "${sources[@]}" "${headers[@]}" -- "${C_FLAGS[*]}" "$link")
  if [ ! -f "$dir/include/module.modulemap" ]; then
    mkdir -p "$B/modulemaps/$name"
    {
      echo "module $name {"
      echo "    header \"$dir/include/$name.h\""
      [ -n "$link" ] && echo "    link \"$link\""
      echo "    export *"
      echo "}"
    } >"$B/modulemaps/$name/module.modulemap"
  fi
  up_to_date "c-$name" "$key" && return 0
  echo "fuzz: building $name (C)"
  rm -rf "$B/obj/$name"
  mkdir -p "$B/obj/$name"
  local source
  for source in "${sources[@]}"; do
    local object=$B/obj/$name/$(echo "${source#"$dir"/}" | tr / _).o
    "$CLANG" -c "${C_FLAGS[@]}" -I "$dir/include" "$source" -o "$object"
  done
  mark_built "c-$name" "$key"
}

# Include paths for every C module: generated module maps, and CRankingProto's own.
C_IMPORT_FLAGS=()
for name in CNGHTTP2Shim CSystemShim CZlibShim CSHA256 CPrefetch CQuickScorer; do C_IMPORT_FLAGS+=(-I "$B/modulemaps/$name"); done
C_IMPORT_FLAGS+=(-I "$ROOT/Sources/CRankingProto/include")

# A Swift library module: a static archive plus its .swiftmodule in .build-fuzz/modules.
# build_swift_module NAME "DEPENDENCIES" EXTRA_FLAGS... -- SOURCES...
declare -A MODULE_KEYS=()
build_swift_module() {
  local name=$1 deps=$2; shift 2
  local flags=()
  while (($#)) && [ "$1" != "--" ]; do flags+=("$1"); shift; done
  shift
  local sources=("$@")
  local dep_keys="" dep
  for dep in $deps; do dep_keys+="${MODULE_KEYS[$dep]:-c} "; done
  local key; key=$(fingerprint "${sources[@]}" -- "${SWIFT_FLAGS[*]} ${flags[*]}" "$dep_keys")
  MODULE_KEYS[$name]=$key
  up_to_date "swift-$name" "$key" && [ -f "$B/modules/lib$name.a" ] && return 0
  echo "fuzz: building $name (${#sources[@]} Swift files)"
  rm -f "$B/stamps/swift-$name"
  retry_if_edited "$SWIFTC" "${SWIFT_FLAGS[@]}" "${flags[@]}" -module-name "$name" \
    -emit-library -static -emit-module -emit-module-path "$B/modules/$name.swiftmodule" \
    -I "$B/modules" "${C_IMPORT_FLAGS[@]}" "${sources[@]}" -o "$B/modules/lib$name.a"
  mark_built "swift-$name" "$key"
}

# swiftc refuses to finish when a source file is saved during the build; an editor at work is not a failure, so
# try again a few times before giving up.
retry_if_edited() {
  local attempt output
  for attempt in 1 2 3 4; do
    if output=$("$@" 2>&1); then
      [ -z "$output" ] || grep -v "Cannot export local symbol" <<<"$output" || true
      return 0
    fi
    grep -q "was modified during the build" <<<"$output" || { echo "$output" >&2; return 1; }
    echo "fuzz: a source file changed during the build; retrying in 10s" >&2
    sleep 10
  done
  echo "$output" >&2
  return 1
}

# The modules and their order mirror the targets' dependencies in Package.swift: when one of these modules gains a
# dependency there, add it here too.
# Swift packages the modules use come from SwiftPM's checkouts (`swift package resolve` makes them), compiled in the
# language mode and with the upcoming features their own manifests ask for, each package under its own package name.
CHECKOUTS=$ROOT/.build/checkouts
package_sources() {
  [ -d "$CHECKOUTS/$1/Sources/$2" ] || (cd "$ROOT" && swift package resolve >/dev/null)
  swift_sources "$CHECKOUTS/$1/Sources/$2"
}

build_libraries() {
  build_c_module CNGHTTP2Shim nghttp2
  build_c_module CSystemShim ""
  build_c_module CZlibShim z
  build_swift_module CoreMetrics "" -swift-version 6 -suppress-warnings -package-name swift_metrics -- $(package_sources swift-metrics CoreMetrics)
  build_swift_module Logging "" -swift-version 6 -suppress-warnings -package-name swift_log -enable-upcoming-feature ExistentialAny \
    -enable-upcoming-feature MemberImportVisibility -enable-upcoming-feature InternalImportsByDefault \
    -enable-upcoming-feature NonisolatedNonsendingByDefault -- $(package_sources swift-log Logging)
  build_swift_module H2GRPC "CoreMetrics Logging" -- $(swift_sources Sources/H2GRPC)
  if [[ " ${targets[*]} " == *" contract "* || " ${targets[*]} " == *" snapshot-records "* ]]; then
    build_c_module CRankingProto protobuf-c
    build_swift_module ProtoSupport "H2GRPC" -- $(swift_sources Sources/ProtoSupport)
  fi
  if [[ " ${targets[*]} " == *" snapshot-records "* ]]; then
    build_c_module CSHA256 ""
    # -enable-testing: the fuzzer drives the record decoder and its general path through internal API.
    build_swift_module CatalogSnapshot "ProtoSupport" -enable-testing -- $(swift_sources Sources/CatalogSnapshot)
  fi
  if [[ " ${targets[*]} " == *" contract "* ]]; then
    build_c_module CPrefetch ""
    build_c_module CQuickScorer ""
    build_swift_module RankingModels "" -- $(swift_sources Sources/RankingModels)
    build_swift_module Instrumentation "" -swift-version 6 -suppress-warnings -package-name swift_distributed_tracing -- \
      $(package_sources swift-distributed-tracing Instrumentation)
    build_swift_module ServiceContextModule "Instrumentation" -swift-version 6 -suppress-warnings -package-name swift_distributed_tracing -- \
      $(package_sources swift-distributed-tracing ServiceContextModule)
    build_swift_module Tracing "Instrumentation ServiceContextModule" -swift-version 6 -suppress-warnings -package-name swift_distributed_tracing -- \
      $(package_sources swift-distributed-tracing Tracing)
    # -enable-testing: the contract fuzzer reads page tokens and builds results with the module's internal API.
    build_swift_module Ranking "RankingModels CoreMetrics Tracing" -enable-testing -- \
      $(swift_sources Sources/Ranking) Fuzz/Support/RankingBundle.swift
  fi
}

objects_of() { local name; for name in "$@"; do find "$B/obj/$name" -name '*.o' | LC_ALL=C sort; done; }

# A fuzzer: the harness (plus any sources compiled into its module) linked against the instrumented libraries.
build_target() {
  local target=$1 extra=() libs=() cmods=()
  case "$target" in
    deframer|wire-parsers|connection)
      libs=(H2GRPC Logging CoreMetrics); cmods=(CNGHTTP2Shim CSystemShim CZlibShim) ;;
    contract)
      # ContractMapping.swift is RankdService's; compiled here so the fuzzer needs none of that module's server side.
      extra=(Sources/RankdService/ContractMapping.swift)
      libs=(Ranking RankingModels ProtoSupport H2GRPC Tracing ServiceContextModule Instrumentation Logging CoreMetrics)
      cmods=(CRankingProto CPrefetch CQuickScorer CNGHTTP2Shim CSystemShim CZlibShim) ;;
    snapshot-records)
      libs=(CatalogSnapshot ProtoSupport H2GRPC Logging CoreMetrics)
      cmods=(CSHA256 CRankingProto CNGHTTP2Shim CSystemShim CZlibShim) ;;
  esac
  local module; module=Fuzz$(echo "$target" | sed -E 's/(^|-)([a-z])/\U\2/g')
  local lib_keys="" lib
  for lib in "${libs[@]}"; do lib_keys+="${MODULE_KEYS[$lib]} "; done
  local key; key=$(fingerprint "Fuzz/$target/main.swift" "${extra[@]}" -- "${SWIFT_FLAGS[*]}" "$lib_keys")
  local bin=$B/bin/fuzz-$target
  up_to_date "bin-$target" "$key" && [ -x "$bin" ] && return 0
  echo "fuzz: building fuzz-$target"
  rm -f "$B/stamps/bin-$target"
  local archives=()
  for lib in "${libs[@]}"; do archives+=("$B/modules/lib$lib.a"); done
  local objects; mapfile -t objects < <(objects_of "${cmods[@]}")
  retry_if_edited "$SWIFTC" "${SWIFT_FLAGS[@]}" -use-ld=lld -module-name "$module" \
    -I "$B/modules" "${C_IMPORT_FLAGS[@]}" "Fuzz/$target/main.swift" "${extra[@]}" \
    "${archives[@]}" "${objects[@]}" -lnghttp2 -lz -lprotobuf-c -o "$bin"
  mark_built "bin-$target" "$key"
}

build_libraries
for t in "${targets[@]}"; do build_target "$t"; done
((build_only)) && { echo "fuzz: built ${targets[*]} in $B/bin"; exit 0; }

# MARK: Run

corpus_stats() { # "N files (K KiB)" for a directory
  local dir=$1 files bytes
  files=$(find "$dir" -type f 2>/dev/null | wc -l)
  bytes=$(find "$dir" -type f -printf '%s\n' 2>/dev/null | awk '{s += $1} END {print s + 0}')
  echo "$files ($(((bytes + 1023) / 1024)) KiB)"
}

# What stopped a failed run, from libFuzzer's and the sanitizers' report lines.
failure_kind() {
  local log=$1
  if grep -q 'ERROR: libFuzzer: timeout' "$log"; then echo timeout
  elif grep -q 'ERROR: libFuzzer: out-of-memory' "$log"; then echo out-of-memory
  elif grep -q 'ERROR: LeakSanitizer' "$log"; then echo leak
  elif grep -q 'ERROR: AddressSanitizer' "$log"; then
    echo "asan:$(sed -nE 's/.*ERROR: AddressSanitizer: ([a-z-]+).*/\1/p' "$log" | head -1)"
  elif grep -q 'Fatal error' "$log"; then echo "crash (Swift runtime error)"
  elif grep -q 'ERROR: libFuzzer: deadly signal' "$log"; then echo crash
  else echo "failed"
  fi
}

# Swift's own crash handler would race libFuzzer's and ASan's reports; theirs name the input.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:handle_abort=1}

declare -a summary=()
failed=0
for t in "${targets[@]}"; do
  bin=$B/bin/fuzz-$t
  seeds=$ROOT/Fuzz/Corpus/$t
  work=$B/corpus/$t
  art=$B/artifacts/$t
  log=$B/logs/$t.log
  mkdir -p "$seeds" "$work" "$art"
  echo "fuzz: $t for ${seconds}s (log: ${log#"$ROOT"/})"
  status=0
  # The outer timeout only backs up libFuzzer's own limits (it stops itself at -max_total_time).
  timeout --kill-after=10 $((seconds + 120)) "$bin" -max_total_time="$seconds" -max_len="$(max_len_of "$t")" \
    -timeout="$INPUT_TIMEOUT" -rss_limit_mb="$RSS_LIMIT_MB" -print_final_stats=1 -artifact_prefix="$art/" \
    "$work" "$seeds" >"$log" 2>&1 || status=$?

  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
  cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
  [ -n "$execs" ] || execs=$(sed -nE 's/^#([0-9]+).*/\1/p' <<<"$last")
  if ((status == 0)); then
    result=ok
  else
    failed=1
    result="FAILED: $(failure_kind "$log") (exit $status)"
    artifact=$(sed -n 's/.*Test unit written to //p' "$log" | tail -1)
    {
      echo "fuzz: $t FAILED: $(failure_kind "$log"). The report, from ${log#"$ROOT"/}:"
      grep -m1 -E 'Fatal error|ERROR: ' -A 40 "$log" | head -50 | sed 's/^/  | /'
      if [ -n "$artifact" ]; then
        echo "  input:     ${artifact#"$ROOT"/}"
        echo "  reproduce: SWIFT_BACKTRACE=enable=no ${bin#"$ROOT"/} ${artifact#"$ROOT"/}"
        echo "  minimise:  SWIFT_BACKTRACE=enable=no ${bin#"$ROOT"/} -minimize_crash=1 -max_total_time=60" \
          "-max_len=$(max_len_of "$t") ${artifact#"$ROOT"/}"
      fi
    } >&2
  fi
  # Keep the found corpus to a minimal set with the same coverage, so the next run does not spend its time
  # replaying near-duplicates (libFuzzer only ever adds to it).
  if ((status == 0)); then
    minimal=$B/corpus/.$t.minimal
    rm -rf "$minimal"
    mkdir -p "$minimal"
    if "$bin" -merge=1 -max_len="$(max_len_of "$t")" -timeout="$INPUT_TIMEOUT" -rss_limit_mb="$RSS_LIMIT_MB" \
      "$minimal" "$work" >"$B/logs/$t.minimise.log" 2>&1; then
      rm -rf "$work"
      mv "$minimal" "$work"
    else
      rm -rf "$minimal"
    fi
  fi

  if ((merge)) && ((status == 0)); then
    before=$(find "$seeds" -type f | wc -l)
    if ! "$bin" -merge=1 -max_len="$(max_len_of "$t")" -timeout="$INPUT_TIMEOUT" -rss_limit_mb="$RSS_LIMIT_MB" \
      "$seeds" "$work" >"$B/logs/$t.merge.log" 2>&1; then
      echo "fuzz: merge for $t failed (see ${B#"$ROOT"/}/logs/$t.merge.log)" >&2
      failed=1
    fi
    after=$(find "$seeds" -type f | wc -l)
    echo "fuzz: merged $((after - before)) new input(s) into Fuzz/Corpus/$t ($(corpus_stats "$seeds"))"
  fi
  summary+=("$(printf '%-13s %-9s %-9s %-6s %-6s %-15s %-15s %s' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" \
    "${ft:-?}" "$(corpus_stats "$seeds")" "$(corpus_stats "$work")" "$result")")
done

echo
echo "fuzz summary: ${seconds}s per target (libFuzzer's final counts: cov = edges covered, ft = coverage features)"
printf '  %-13s %-9s %-9s %-6s %-6s %-15s %-15s %s\n' target execs exec/s cov ft "seeds" "found" result
printf '  %s\n' "${summary[@]}"
echo "  (seeds: Fuzz/Corpus/<target>, committed; found: .build-fuzz/corpus/<target>, kept between runs)"
exit "$failed"
