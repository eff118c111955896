#!/usr/bin/env bash
# Real-client integration tests: starts rankd from BIN_DIR and calls it with grpcio, a raw HTTP/2 client and
# h2load (see docs/testing.md).
#   Scripts/integration-test.sh BIN_DIR [pytest arguments...]
# e.g. Scripts/integration-test.sh .build/debug -k reflection
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 BIN_DIR [pytest arguments...]" >&2
  exit 2
fi
bin_dir=$(cd "$1" && pwd)
shift
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ ! -x "$bin_dir/rankd" ]; then
  echo "integration-test: $bin_dir/rankd is missing; build it first (swift build --build-tests)" >&2
  exit 1
fi
missing=$(python3 - <<'PY'
import importlib.util
needed = ["grpc", "grpc_tools", "grpc_health", "grpc_reflection", "google.protobuf", "h2", "pytest"]
print(" ".join(name for name in needed if importlib.util.find_spec(name) is None))
PY
)
if [ -n "$missing" ]; then
  echo "integration-test: Python modules missing: $missing; run Scripts/install-deps.sh --test" >&2
  exit 1
fi
if ! command -v h2load >/dev/null; then
  echo "integration-test: h2load missing; run Scripts/install-deps.sh --test (Debian nghttp2-client)" >&2
  exit 1
fi

cd "$repo"
# A debug rankd needs minutes to build the full demo marketplace; a twentieth of it loads in seconds and
# still has every kind of user, venue and item. Set RANKD_EXTRA_ARGS (even to "") to choose otherwise.
export RANKD_EXTRA_ARGS="${RANKD_EXTRA_ARGS---scale 0.05}"
# PYTHONDONTWRITEBYTECODE keeps __pycache__ out of the tree; exit code 5 (no test collected) fails too.
PYTHONDONTWRITEBYTECODE=1 RANKD_BIN_DIR="$bin_dir" python3 -m pytest -q Tests/Integration "$@"
