#!/usr/bin/env bash
# Installs strata's build and test dependencies on Debian 12+/Ubuntu 22.04+. Idempotent.
#   scripts/install-deps.sh          build dependencies
#   scripts/install-deps.sh --test   build + test dependencies (Python packages for tools/tests)
set -euo pipefail
want_test=0
[[ "${1:-}" == "--test" ]] && want_test=1

sudo_cmd=""
if [[ $(id -u) -ne 0 ]]; then sudo_cmd="sudo"; fi

pkgs=(build-essential cmake ninja-build ccache pkg-config git
      libpcre2-dev libopenblas-dev nlohmann-json3-dev libcli11-dev
      libspdlog-dev libfmt-dev libboost-dev zlib1g-dev)
if [[ $want_test -eq 1 ]]; then
  pkgs+=(libgtest-dev libgmock-dev libbenchmark-dev python3 python3-pip python3-venv curl iproute2)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "installing: ${missing[*]}"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "all Debian packages present"
fi
