#!/usr/bin/env bash
# Fetches and builds the gRPC project's own interop clients and servers, from Debian's source packages:
#   grpc-go (golang-google-grpc): interop/client and interop/server, built with Debian's Go and Go libraries
#   grpc (C core, Python): src/python/grpcio_tests/tests/interop client.py and server.py, run with PyPI grpcio
# into a git-ignored cache, by default .build-interop/ (see docs/testing.md). A second run only checks that
# the cache is complete and still matches this script and the installed Go libraries.
#   Scripts/fetch-interop.sh [CACHE_DIR]
# Prints the cache dir on its last line. Needs root (or sudo) for apt-get on the first run.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-$repo/.build-interop}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

log() { echo "fetch-interop: $*" >&2; }

sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
apt_get() {
  # Other jobs on the machine may hold the dpkg lock for a while; wait for it rather than fail.
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 -qq "$@"
}

python_modules=(grpc grpc_tools google.protobuf google.auth requests)
python_packages=(grpcio grpcio-tools protobuf google-auth requests)

python_ready() {
  python3 - "${python_modules[@]}" <<'PY'
import importlib.util, sys
sys.exit(0 if all(importlib.util.find_spec(name) for name in sys.argv[1:]) else 1)
PY
}

# What the cache was built from: this script, the Go toolchain and the Go gRPC library it compiled against.
cache_key() {
  {
    sha256sum "$0" | cut -d' ' -f1
    dpkg-query -W -f='${Version}\n' golang-go golang-google-grpc-dev 2>/dev/null || echo none
  } | sha256sum | cut -d' ' -f1
}

if [ -f "$cache/ready" ] && [ "$(cat "$cache/ready")" = "$(cache_key)" ] &&
   [ -x "$cache/bin/interop-client-go" ] && [ -x "$cache/bin/interop-server-go" ] &&
   [ -f "$cache/python/tests/interop/client.py" ] && python_ready; then
  echo "$cache"
  exit 0
fi
rm -f "$cache/ready"

# --- Debian source entries -------------------------------------------------------------------------------
# deb-src lines are made from the machine's own apt sources at run time, so no mirror is named here.
# grep reads all of apt-cache's output: with -q it would stop early and pipefail would report apt-cache's SIGPIPE.
has_deb_src() { apt-cache showsrc golang-google-grpc 2>/dev/null | grep '^Package: golang-google-grpc$' >/dev/null; }
if ! has_deb_src; then
  log "adding deb-src entries mirroring the configured deb entries"
  shopt -s nullglob
  for file in /etc/apt/sources.list.d/*.sources; do
    case "$file" in */rankd-deb-src*) continue ;; esac
    # Every deb822 stanza whose Types include deb is repeated with Types: deb-src.
    awk 'BEGIN { RS = ""; ORS = "\n\n" }
         /(^|\n)Types:[^\n]*(^|[ \t])deb([ \t]|\n|$)/ { sub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print }' \
      "$file"
  done | "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/rankd-deb-src.sources >/dev/null
  one_line=$(for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    case "$file" in */rankd-deb-src*) continue ;; esac
    sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$file"
  done)
  if [ -n "$one_line" ]; then
    printf '%s\n' "$one_line" | "${sudo_cmd[@]}" tee /etc/apt/sources.list.d/rankd-deb-src.list >/dev/null
  fi
  shopt -u nullglob
  apt_get update
  has_deb_src || { log "no deb-src entry serves golang-google-grpc"; exit 1; }
else
  apt_get update
fi

# --- Build tools and libraries ---------------------------------------------------------------------------
log "installing Debian's Go toolchain and Go gRPC libraries"
# build-dep brings protoc and protoc-gen-go (v1.3), which regenerate the interop stubs to match the
# installed library; golang-google-grpc-dev is that library, in /usr/share/gocode.
apt_get build-dep -y golang-google-grpc >/dev/null
apt_get install -y golang-go golang-google-grpc-dev protobuf-compiler >/dev/null

if ! python_ready; then
  log "installing Python packages: ${python_packages[*]}"
  python3 -m pip install -q --disable-pip-version-check "${python_packages[@]}"
fi

# --- Sources ---------------------------------------------------------------------------------------------
src="$cache/src"
rm -rf "$src"
mkdir -p "$src"
log "downloading the Debian source packages grpc and golang-google-grpc"
(cd "$src" && apt-get -qq source --download-only golang-google-grpc grpc 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
go_tar=$(ls "$src"/golang-google-grpc_*.orig.tar.* 2>/dev/null | head -n1)
grpc_tar=$(ls "$src"/grpc_*.orig.tar.* 2>/dev/null | head -n1)
[ -n "$go_tar" ] && [ -n "$grpc_tar" ] || { log "apt-get source did not download both packages"; exit 1; }

# Only the interop files are unpacked; Debian's patches to these packages do not touch them.
go_src="$src/go"
mkdir -p "$go_src"
tar -xf "$go_tar" -C "$go_src" --strip-components=1 --wildcards \
  '*/interop/client/*' '*/interop/server/*' '*/interop/test_utils.go' '*/interop/grpc_testing/test.proto'
py_src="$src/python"
mkdir -p "$py_src"
tar -xf "$grpc_tar" -C "$py_src" --strip-components=1 --wildcards \
  '*/src/python/grpcio_tests/tests/interop/*' '*/src/python/grpcio_tests/tests/unit/test_common.py' \
  '*/src/proto/grpc/testing/empty.proto' '*/src/proto/grpc/testing/messages.proto' \
  '*/src/proto/grpc/testing/test.proto'

# The interop servers listen on every interface; the tests here only ever use loopback.
patch_listen() {
  python3 - "$@" <<'PY' || { log "$1 no longer contains $2; update this script"; exit 1; }
import sys
path, old, new = sys.argv[1:]
text = open(path).read()
if old not in text:
    sys.exit(1)
open(path, "w").write(text.replace(old, new))
PY
}

# --- Go client and server --------------------------------------------------------------------------------
log "building the grpc-go interop client and server"
gopath="$cache/gopath"
overlay="$gopath/src/google.golang.org/grpc"
rm -rf "$gopath"
mkdir -p "$overlay"
# GOPATH resolves a package from the first root that has its directory, so the overlay is the installed
# library (as symlinks) plus the interop packages Debian leaves out of golang-google-grpc-dev.
cp -rs /usr/share/gocode/src/google.golang.org/grpc/. "$overlay/"
cp -r "$go_src/interop" "$overlay/interop"
patch_listen "$overlay/interop/server/server.go" 'net.Listen("tcp", ":"+p)' 'net.Listen("tcp", "127.0.0.1:"+p)'
# The shipped test.pb.go targets a newer protobuf API than Debian's Go library; regenerate it with Debian's
# protoc-gen-go so it matches.
(cd "$overlay/interop/grpc_testing" && rm -f ./*.pb.go && protoc --go_out=plugins=grpc,paths=source_relative:. test.proto)
mkdir -p "$cache/bin"
export GOPATH="$gopath:/usr/share/gocode" GO111MODULE=off GOPROXY=off GOFLAGS= GOCACHE="$cache/gocache"
go build -o "$cache/bin/interop-client-go" google.golang.org/grpc/interop/client
go build -o "$cache/bin/interop-server-go" google.golang.org/grpc/interop/server

# --- Python client and server ----------------------------------------------------------------------------
log "preparing the grpc Python interop client and server"
py="$cache/python"
rm -rf "$py"
mkdir -p "$py/tests/unit"
cp -r "$py_src/src/python/grpcio_tests/tests/interop" "$py/tests/interop"
cp "$py_src/src/python/grpcio_tests/tests/unit/test_common.py" "$py/tests/unit/"
# The upstream tests/__init__.py loads their whole test runner; plain package markers are all that is needed.
: >"$py/tests/__init__.py"
: >"$py/tests/unit/__init__.py"
patch_listen "$py/tests/interop/server.py" "'[::]:{}'" "'127.0.0.1:{}'"
python3 -m grpc_tools.protoc -I "$py_src" --python_out="$py" --grpc_python_out="$py" \
  src/proto/grpc/testing/empty.proto src/proto/grpc/testing/messages.proto src/proto/grpc/testing/test.proto
PYTHONDONTWRITEBYTECODE=1 PYTHONPATH="$py" python3 -c 'import tests.interop.client, tests.interop.server' ||
  { log "the Python interop client does not import"; exit 1; }

cache_key >"$cache/ready"
log "ready in $cache"
echo "$cache"
