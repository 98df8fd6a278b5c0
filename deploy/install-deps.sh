#!/usr/bin/env bash
# Install the Debian packages closeloop needs, skipping those already
# installed; safe to run again. Needs root (or sudo) only when something is
# missing.
#   deploy/install-deps.sh           build and run (deploy/demo.sh)
#   deploy/install-deps.sh --tests   also what the tests need (tests/run.sh):
#                                    Kamailio and SIPp for the end-to-end tests
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libevent-dev libhiredis-dev libprotobuf-c-dev protobuf-c-compiler
  libyaml-dev libjansson-dev uthash-dev libjemalloc-dev tzdata
  redis-server
)
if [ "${1:-}" = "--tests" ]; then
  packages+=(libcmocka-dev kamailio kamailio-extra-modules kamailio-utils-modules sip-tester
             curl jq)
elif [ $# -gt 0 ]; then
  echo "usage: $0 [--tests]" >&2
  exit 2
fi

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
