#!/usr/bin/env bash
# Builds jobwarden with warnings as errors and runs every test suite, the
# dashboard's in Debian's chromium among them (scripts/setup_browser.sh installs it).
#   scripts/test.sh              Release build in ./build, then ctest
#   scripts/test.sh --sanitize   AddressSanitizer + UndefinedBehaviorSanitizer build in ./build-asan
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=build
EXTRA=()
if [[ ${1:-} == --sanitize ]]; then
  BUILD_DIR=build-asan
  EXTRA=(-DJOBWARDEN_SANITIZE=ON -DJOBWARDEN_BUILD_BENCH=OFF)
  export BUILD_TYPE=RelWithDebInfo
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
fi

"./scripts/setup_browser.sh"
"./scripts/build.sh" "$BUILD_DIR" -DJOBWARDEN_WERROR=ON -DJOBWARDEN_BUILD_TESTS=ON "${EXTRA[@]}"
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 600
