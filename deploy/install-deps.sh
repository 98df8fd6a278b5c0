#!/usr/bin/env bash
# Install the Debian packages closeloop needs to build, test and run, skipping
# those already installed. Used by deploy/demo.sh and tests/run.sh; safe to
# run again. Needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libevent-dev libhiredis-dev libprotobuf-c-dev protobuf-c-compiler
  libyaml-dev libjansson-dev uthash-dev libcmocka-dev
  redis-server
)
[ $# -gt 0 ] && packages+=("$@")

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
