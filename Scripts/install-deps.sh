#!/usr/bin/env bash
# Installs what building and testing rankd needs and is missing: Debian packages with apt-get, Python test
# clients with pip. Idempotent and quiet when everything is present.
#   Scripts/install-deps.sh            build and run dependencies
#   Scripts/install-deps.sh --test     plus what the tests need
#   Scripts/install-deps.sh --bench    plus what the benchmarks need
set -euo pipefail

debs=(libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev zlib1g-dev pkg-config)
pips=()
for arg in "$@"; do
  case "$arg" in
    --test) debs+=(nghttp2-client); pips+=(grpcio grpcio-tools protobuf pytest grpcio-reflection grpcio-health-checking h2 pyarrow) ;;
    --bench) debs+=(nghttp2-client util-linux); pips+=(grpcio grpcio-tools protobuf lightgbm xgboost numpy pandas) ;;
    *) echo "usage: $0 [--test] [--bench]" >&2; exit 2 ;;
  esac
done

missing=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" || missing+=("$d")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ((${#pips[@]})); then
  want=()
  for p in "${pips[@]}"; do
    python3 -m pip show -q "$p" >/dev/null 2>&1 || want+=("$p")
  done
  if ((${#want[@]})); then
    echo "installing Python packages: ${want[*]}"
    python3 -m pip install -q --disable-pip-version-check "${want[@]}"
  fi
fi
