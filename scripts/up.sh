#!/usr/bin/env bash
# The main command: installs what is missing, builds, and runs `jobwarden up`
# on ./var/jobwarden.db (embedded SQLite). With no arguments it runs the demo
# (examples/demo.toml, jobs from examples/demo-jobs.toml; docs/worker.md says
# what to watch for). Arguments, if any, go to `jobwarden up` instead.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_TESTS=OFF
"./scripts/build.sh" build-run -DJOBWARDEN_BUILD_TESTS=$BUILD_TESTS -DJOBWARDEN_BUILD_BENCH=OFF
if [ $# -eq 0 ]; then
  set -- --config examples/demo.toml --seed examples/demo-jobs.toml
fi
exec ./build-run/src/cli/jobwarden up "$@"
