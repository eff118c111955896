#!/usr/bin/env bash
# Runs the Swift tests of the threaded, socket-level code under ThreadSanitizer and AddressSanitizer (with
# LeakSanitizer): the H2GRPCTests, GRPCStandardServicesTests and RankdServiceTests suites.
#
#   Scripts/sanitize.sh [thread|address]...      (default: thread, then address)
#
# Each kind builds debug, with tests, into its own scratch path (.build-threadsan, .build-addresssan; never .build/)
# and runs `swift test --sanitize=<kind> --filter` over those three test targets. The first sanitizer report of any
# kind (race, lock-order inversion, use after free, overflow, leak, ...) stops the test process and fails the run, as
# does a failing test. The whole output is kept in .build-<kind>san/sanitize.log.
#
# Environment: TSAN_OPTIONS / ASAN_OPTIONS / LSAN_OPTIONS are appended to the defaults below (a later option wins),
# e.g. TSAN_OPTIONS=halt_on_error=0 to collect every race of a run instead of stopping at the first (the run still
# fails). SANITIZE_TIMEOUT bounds each kind's build and run (seconds, default 2400).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SWIFT=${SWIFT:-swift}
TIMEOUT=${SANITIZE_TIMEOUT:-2400}
# The caller's options, appended to the script's own for each kind.
EXTRA_TSAN=${TSAN_OPTIONS:-}
EXTRA_ASAN=${ASAN_OPTIONS:-}
EXTRA_LSAN=${LSAN_OPTIONS:-}

# Exactly these test targets: a Swift Testing test's id starts with its module name and a dot. They are Swift Testing
# only, so the XCTest pass (which would run nothing, and whose harness leaks a little at exit) is left out with
# --disable-xctest; an XCTest case added to them would not run here.
FILTER='^(H2GRPCTests|GRPCStandardServicesTests|RankdServiceTests|ExposureLogTests)\.'

kinds=()
for arg in "$@"; do
  case "$arg" in
    thread|address) kinds+=("$arg") ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "sanitize: unknown sanitizer '$arg' (have: thread address)" >&2; exit 2 ;;
  esac
done
((${#kinds[@]})) || kinds=(thread address)

SYMBOLIZER=$(dirname "$(readlink -f "$(command -v "$SWIFT")")")/llvm-symbolizer
[ -x "$SYMBOLIZER" ] || SYMBOLIZER=$(command -v llvm-symbolizer || true)

# Suppressions. One is allowed only for a report that lies wholly inside third-party or runtime code (never H2GRPC,
# GRPCStandardServices, ProtoSupport, RankdService, Ranking or the tests): add it to the heredoc of its sanitizer with
# a comment that names the report and shows why it is not ours.
write_suppressions() {
  local dir=$1
  # race:_swiftEmptyArrayStorage matches only races whose memory is that global (TSan checks a global location's
  # name against the suppressions): the Swift standard library's one shared empty-array object. The stdlib's own
  # inlined `ContiguousArray.init(unsafeUninitializedCapacity:initializingWith:)` (which `Array`'s forwards to; see
  # the toolchain's Swift.swiftinterface) ends with `self._buffer.mutableCount = initializedCount` even when the
  # capacity is 0 and the buffer is that shared object, so it stores 0 over 0 while other threads read the count of
  # their own empty arrays. Seen as: "data race /<compiler-generated> in $ss15ContiguousArrayV27unsafeUninitialized
  # Capacity...", write from ProtoC.encode of a message that packs to 0 bytes, read from any empty array elsewhere
  # ("Location is global '_swiftEmptyArrayStorage'"). The same stdlib race was fixed for other Array paths
  # (swiftlang/swift#21627, #27808) but not this one. Our code never writes that object itself.
  cat >"$dir/tsan.supp" <<'EOF'
race:_swiftEmptyArrayStorage
EOF
  cat >"$dir/lsan.supp" <<'EOF'
EOF
}

# Options common to both: symbolized stacks, and a Swift trap (fatalError, precondition, force unwrap of nil) or an
# abort reported by the sanitizer with its stack. Swift's own backtracer is off so it does not race the sanitizer's
# signal handling and report.
common_options() {
  local options="handle_abort=1:handle_sigill=1:handle_sigtrap=1:print_summary=1"
  [ -n "$SYMBOLIZER" ] && options+=":external_symbolizer_path=$SYMBOLIZER"
  echo "$options"
}

# Prints the reports in a log, one summary line each.
reports_in() {
  grep -E '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: (Address|Leak)Sanitizer|SUMMARY: (Thread|Address|Leak)Sanitizer)' \
    "$1" || true
}

run_kind() {
  local kind=$1
  local scratch="$ROOT/.build-${kind}san"
  local log="$scratch/sanitize.log"
  mkdir -p "$scratch"
  write_suppressions "$scratch"
  local common
  common=$(common_options)
  export SWIFT_BACKTRACE=enable=no
  case "$kind" in
    thread)
      # halt_on_error: the first race ends the process with TSan's exit code (66). second_deadlock_stack: both
      # stacks of a lock-order inversion. history_size=7: the largest history, so the earlier access of a race is
      # still there to print instead of "failed to restore the stack".
      export TSAN_OPTIONS="$common:halt_on_error=1:second_deadlock_stack=1:history_size=7:suppressions=$scratch/tsan.supp${EXTRA_TSAN:+:$EXTRA_TSAN}"
      ;;
    address)
      # LeakSanitizer runs inside the toolchain's own ASan runtime (lib/swift/clang/lib/linux), so no libclang-rt
      # package is needed. detect_stack_use_after_return catches a pointer into a returned frame (withUnsafe*
      # misuse); check_initialization_order and strict_init_order cover the C shims' globals.
      export ASAN_OPTIONS="$common:halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1${EXTRA_ASAN:+:$EXTRA_ASAN}"
      export LSAN_OPTIONS="suppressions=$scratch/lsan.supp:print_suppressions=0${EXTRA_LSAN:+:$EXTRA_LSAN}"
      ;;
  esac
  echo "sanitize: $kind: building and testing into .build-${kind}san (log: ${log#"$ROOT"/})"
  local started=$SECONDS status=0
  timeout --signal=TERM --kill-after=30 "$TIMEOUT" \
    "$SWIFT" test --sanitize="$kind" --scratch-path "$scratch" --disable-xctest --filter "$FILTER" 2>&1 | tee "$log" \
    || status=$?
  local found
  found=$(reports_in "$log")
  if ((status == 124)); then
    echo "sanitize: $kind: timed out after ${TIMEOUT}s" >&2
  fi
  if [ -n "$found" ]; then
    echo "sanitize: $kind: sanitizer reports (full text in ${log#"$ROOT"/}):" >&2
    echo "$found" | sed 's/^/  /' >&2
    ((status != 0)) || status=1
  fi
  if ! grep -qE 'Test run with [0-9]+ tests? .*passed after' "$log"; then
    # A run that printed no passing summary failed, whatever its exit code says (e.g. the filter matched nothing).
    ((status != 0)) || { echo "sanitize: $kind: no passing test run in the output" >&2; status=1; }
  fi
  echo "sanitize: $kind: $( ((status == 0)) && echo clean || echo "FAILED (exit $status)") in $((SECONDS - started))s"
  return "$status"
}

failed=()
for kind in "${kinds[@]}"; do
  run_kind "$kind" || failed+=("$kind")
done
if ((${#failed[@]})); then
  echo "sanitize: failed: ${failed[*]}" >&2
  exit 1
fi
echo "sanitize: clean: ${kinds[*]}"
