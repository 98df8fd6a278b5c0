#!/usr/bin/env bash
# Install what is missing, build with warnings as errors, and run every test
# (unit, integration against real servers, end to end); then build again with
# AddressSanitizer and UndefinedBehaviorSanitizer and run the suite once more.
#   tests/run.sh            both builds
#   tests/run.sh --fast     the normal build only
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

"$root/deploy/install-deps.sh" --tests

jobs=$(nproc 2>/dev/null || echo 2)
run_suite() {
  local dir=$1; shift
  cmake -S "$root" -B "$dir" -DCL_WERROR=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" --output-on-failure --timeout 300
}

echo "== build and test: $root/build/test"
run_suite "$root/build/test" -DCMAKE_BUILD_TYPE=RelWithDebInfo
if [ "${1:-}" != "--fast" ]; then
  echo "== build and test with address;undefined sanitizers: $root/build/asan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite "$root/build/asan" -DCMAKE_BUILD_TYPE=Debug -DCL_SANITIZE='address;undefined'
fi
echo "tests/run.sh: all passed"
