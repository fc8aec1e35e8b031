#!/usr/bin/env bash
# Installs the Debian 12 packages jobwarden needs to build, test and run.
# Idempotent: installs only what is missing (apt-get update first, as Debian requires).
#   scripts/setup.sh            the packages below
#   scripts/setup.sh clang ...  and these extra ones (scripts/check_thread_safety.sh wants clang)
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config
  libsqlite3-dev sqlite3
  nlohmann-json3-dev libsimdjson-dev libcli11-dev libspdlog-dev libfmt-dev libtomlplusplus-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libboost-dev libcpp-httplib-dev
  libhowardhinnant-date-dev tzdata
  python3 clang-format
)
PACKAGES+=("$@")

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

SUDO=""
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then SUDO=sudo; else
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 3
  fi
fi
echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
