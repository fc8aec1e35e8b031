#!/usr/bin/env bash
# The main command: installs what is missing, builds, and runs `jobwarden up`
# on ./var/jobwarden.db (embedded SQLite). Extra arguments go to `jobwarden up`.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_TESTS=OFF
"./scripts/build.sh" build-run -DJOBWARDEN_BUILD_TESTS=$BUILD_TESTS -DJOBWARDEN_BUILD_BENCH=OFF
exec ./build-run/src/cli/jobwarden up "$@"
