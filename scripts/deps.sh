#!/usr/bin/env bash
# Install what pier needs from Debian 12's archive, only what is missing.
# Usage: scripts/deps.sh [build|test|fuzz]   (test adds the test tools, fuzz clang)
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libuv1-dev node-llhttp libcjson-dev libsqlite3-dev
            libsodium-dev libcurl4-openssl-dev zlib1g-dev libcmocka-dev bubblewrap)
test_pkgs=(python3 python3-pytest python3-requests python3-botocore curl jq procps)

pkgs=("${build_pkgs[@]}")
if [ "${1:-build}" = "test" ]; then pkgs+=("${test_pkgs[@]}"); fi
if [ "${1:-build}" = "fuzz" ]; then pkgs+=(clang); fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
  $SUDO apt-get update >&2
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
