#!/usr/bin/env bash
# Installs what building and testing rankd needs and is missing: Debian packages with apt-get, Python test
# clients with pip. Idempotent and quiet when everything is present.
#   Scripts/install-deps.sh            build and run dependencies
#   Scripts/install-deps.sh --test     plus what the tests need
#   Scripts/install-deps.sh --bench    plus what the benchmarks need
set -euo pipefail

debs=(libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev zlib1g-dev libhiredis-dev
  pkg-config)
pips=()
for arg in "$@"; do
  case "$arg" in
    --test) debs+=(nghttp2-client prometheus redis-server chromium); pips+=(grpcio grpcio-tools protobuf pytest grpcio-reflection grpcio-health-checking h2 pyarrow pyyaml) ;;
    --bench) debs+=(nghttp2-client util-linux); pips+=(grpcio grpcio-tools protobuf lightgbm xgboost numpy pandas) ;;
    *) echo "usage: $0 [--test] [--bench]" >&2; exit 2 ;;
  esac
done

# chromium (headless) renders the experiment report's HTML page in Tests/Integration/test_experiment_report.py.
# Packages that ship a service we only want the programs of. Debian's prometheus gives us promtool (the alert rule
# tests) and a Prometheus the integration test starts itself on a free port; its own service would listen on 9090,
# rankd's admin port, and on a machine without systemd trying to start it can fail the install. So these are
# installed without their recommends (the node exporter, another service) and with service starts refused.
# redis-server likewise: the Redis client tests start their own on a free port, never the service on 6379.
services=(prometheus redis-server)

missing=()
missing_services=()
for d in "${debs[@]}"; do
  dpkg-query -W -f='${Status}' "$d" 2>/dev/null | grep -q "install ok installed" && continue
  if [[ " ${services[*]} " == *" $d "* ]]; then missing_services+=("$d"); else missing+=("$d"); fi
done
if ((${#missing[@]} + ${#missing_services[@]})); then
  echo "installing Debian packages: $(echo "${missing[@]}" "${missing_services[@]}")"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  if ((${#missing[@]})); then
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ((${#missing_services[@]})); then
    # invoke-rc.d and deb-systemd-invoke ask /usr/sbin/policy-rc.d before starting a service; exit 101 means
    # "not now". Containers usually have one already; otherwise one is put there for this install only.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\n# written by rankd Scripts/install-deps.sh for one apt-get run\nexit 101\n' |
        "${sudo_cmd[@]}" tee "$policy" >/dev/null
      "${sudo_cmd[@]}" chmod 755 "$policy"
      made_policy=1
      trap '"${sudo_cmd[@]}" rm -f "$policy"' EXIT
    fi
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
      "${missing_services[@]}" >/dev/null
    if ((made_policy)); then
      "${sudo_cmd[@]}" rm -f "$policy"
      trap - EXIT
    fi
    # Under systemd the unit was still enabled for the next boot: turn that off too.
    if [ -d /run/systemd/system ]; then
      for s in "${missing_services[@]}"; do
        "${sudo_cmd[@]}" systemctl disable --now "$s.service" >/dev/null 2>&1 || true
      done
    fi
  fi
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
