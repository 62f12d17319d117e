#!/usr/bin/env bash
# Installs the Debian bookworm packages needed to build, run and test the exporter.
# Usage: scripts/install-deps.sh [run|test]   (default: run)
# Skips apt entirely when everything is already installed.
set -euo pipefail

mode="${1:-run}"
packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates curl
  prometheus-cpp-dev libcurl4-openssl-dev rapidjson-dev libyaml-cpp-dev
  libcpp-httplib-dev libboost-dev libssl-dev libcrypt-dev zlib1g-dev libbrotli-dev
  libgtest-dev libgmock-dev
)
packages+=(libre2-dev)  # discovery include/exclude: linear-time regexes
if [[ "$mode" == "test" ]]; then
  packages+=(prometheus clang libclang-rt-14-dev clang-format wrk openssl)
  # Node.js may come from elsewhere than Debian (its npm conflicts with Debian's nodejs).
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
echo "Installing: ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
