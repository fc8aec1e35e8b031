#!/usr/bin/env bash
# The dashboard's tests in Debian's chromium (tests/browser/dashboard.test.mjs),
# run by ctest as BrowserTest. Usage: scripts/browser_test.sh JOBWARDEN_BIN ARTIFACTS_DIR
# scripts/test.sh installs what it needs first (scripts/setup_browser.sh). When
# something is missing it skips (exit 77) on a developer's machine and fails
# under CI=true, where the browser tests must run.
set -euo pipefail
cd "$(dirname "$0")/../tests/browser"
export JOBWARDEN_BIN=$1
export JOBWARDEN_ARTIFACTS=$2
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
missing=""
command -v node >/dev/null || missing+=" node"
[[ -x $CHROMIUM ]] || missing+=" $CHROMIUM"
[[ -f node_modules/playwright-core/package.json ]] || missing+=" playwright-core (tests/browser/node_modules)"
if [[ -n $missing ]]; then
  echo "browser test: missing:$missing; scripts/setup_browser.sh installs them" >&2
  if [[ ${CI:-} == true ]]; then exit 1; fi
  exit 77
fi
rm -rf "$JOBWARDEN_ARTIFACTS"
mkdir -p "$JOBWARDEN_ARTIFACTS"
exec node --test --test-reporter=spec dashboard.test.mjs
