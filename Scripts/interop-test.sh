#!/usr/bin/env bash
# Runs the gRPC project's interop test cases with its Go and Python clients against our interop-server.
#   Scripts/interop-test.sh BIN_DIR                 test BIN_DIR/interop-server
#   Scripts/interop-test.sh --reference go|python   test grpc's own Go or Python interop server instead,
#                                                   which checks this harness itself
# Fetches and builds the clients first (Scripts/fetch-interop.sh, cached in .build-interop/). Prints
# "interop: go N/14, python N/14" and exits non-zero when any case fails.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cases=(empty_unary large_unary client_streaming server_streaming ping_pong empty_stream
       timeout_on_sleeping_server cancel_after_begin cancel_after_first_response status_code_and_message
       special_status_message custom_metadata unimplemented_method unimplemented_service)
case_timeout_s=60
start_timeout_s=60

usage() { echo "usage: $0 BIN_DIR | $0 --reference go|python" >&2; exit 2; }
reference=""
bin_dir=""
case "${1:-}" in
  --reference) reference=${2:-}; [ "$reference" = go ] || [ "$reference" = python ] || usage ;;
  ""|-*) usage ;;
  *) bin_dir=$(cd "$1" && pwd) ;;
esac
if [ -n "$bin_dir" ] && [ ! -x "$bin_dir/interop-server" ]; then
  echo "interop-test: $bin_dir/interop-server is missing; build it first (swift build --build-tests)" >&2
  exit 1
fi

cache=$("$repo/Scripts/fetch-interop.sh" | tail -n1)
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

server_log="$work/server.log"
port=""
if [ -n "$bin_dir" ]; then
  "$bin_dir/interop-server" --port 0 >"$work/server.out" 2>"$server_log" &
  server_pid=$!
  # The server prints its port once the socket is bound.
  for _ in $(seq $((start_timeout_s * 10))); do
    port=$(sed -n 's/^interop-server listening on 127\.0\.0\.1:\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$work/server.out")
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "interop-test: interop-server did not report its port:" >&2;
                      cat "$work/server.out" "$server_log" >&2; exit 1; }
else
  # grpc's own servers take a fixed port and print nothing, so pick a free one and wait until it accepts.
  port=$(free_port)
  if [ "$reference" = go ]; then
    "$cache/bin/interop-server-go" --port "$port" >"$server_log" 2>&1 &
  else
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$cache/python" python3 -m tests.interop.server --port "$port" \
      >"$server_log" 2>&1 &
  fi
  server_pid=$!
  ready=""
  for _ in $(seq $((start_timeout_s * 10))); do
    if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' \
        "$port" 2>/dev/null; then
      ready=yes; break
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$ready" ] || { echo "interop-test: reference server did not start:" >&2; cat "$server_log" >&2; exit 1; }
fi
echo "interop-test: server ${reference:-$bin_dir/interop-server} on 127.0.0.1:$port"

run_client() {
  local client=$1 test_case=$2
  if [ "$client" = go ]; then
    timeout "$case_timeout_s" "$cache/bin/interop-client-go" --server_host=127.0.0.1 --server_port="$port" \
      --use_tls=false --test_case="$test_case"
  else
    PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$cache/python" timeout "$case_timeout_s" \
      python3 -m tests.interop.client --server_host=127.0.0.1 --server_port="$port" --use_tls=false \
      --test_case="$test_case"
  fi
}

declare -A passed=([go]=0 [python]=0)
failed_total=0
for client in go python; do
  for test_case in "${cases[@]}"; do
    out="$work/$client-$test_case.out"
    if run_client "$client" "$test_case" >"$out" 2>&1; then
      passed[$client]=$((passed[$client] + 1))
    else
      code=$?
      failed_total=$((failed_total + 1))
      echo "FAIL $client $test_case (exit $code):"
      tail -n 15 "$out" | sed 's/^/    /'
    fi
  done
done

if ! kill -0 "$server_pid" 2>/dev/null; then
  echo "interop-test: the server died during the run; its log:"
  tail -n 30 "$server_log" | sed 's/^/    /'
  failed_total=$((failed_total + 1))
fi
if [ "$failed_total" -gt 0 ]; then
  echo "server log tail:"
  tail -n 30 "$server_log" | sed 's/^/    /'
fi

total=${#cases[@]}
echo "interop: go ${passed[go]}/$total, python ${passed[python]}/$total"
echo "interop: $((passed[go] + passed[python])) passed, $((2 * total - passed[go] - passed[python])) failed"
[ "$failed_total" -eq 0 ]
