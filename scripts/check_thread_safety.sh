#!/usr/bin/env bash
# Checks the lock annotations (src/core/thread_annotations.h, STYLE.md §6):
# builds the libraries and the binary with Clang and -Wthread-safety -Werror
# (CMake option JOBWARDEN_THREAD_SAFETY). Build only, no tests: GCC builds and
# tests the same code in the other CI stages, so this stage stays cheap.
#   scripts/check_thread_safety.sh [BUILD_DIR] [extra cmake args...]   (default ./build-tsa)
# e.g. scripts/check_thread_safety.sh build-tsa -DCMAKE_CXX_COMPILER_LAUNCHER=ccache
set -euo pipefail
cd "$(dirname "$0")/.."
"./scripts/setup.sh" clang
BUILD_DIR=${1:-build-tsa}
shift || true
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-Release} \
  -DCMAKE_CXX_COMPILER=clang++ -DJOBWARDEN_WERROR=ON -DJOBWARDEN_THREAD_SAFETY=ON \
  -DJOBWARDEN_BUILD_TESTS=OFF -DJOBWARDEN_BUILD_BENCH=OFF -DJOBWARDEN_BUILD_EXAMPLES=OFF \
  "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "thread-safety: the lock annotations hold (clang -Wthread-safety)"
