#!/usr/bin/env bash
# Installs what the dashboard's browser test needs (tests/browser/): Debian's
# chromium, Node.js and npm when there is no `node`, and playwright-core from
# the npm registry at the version tests/browser/package-lock.json pins. No
# browser is downloaded: the test drives the installed /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
extra=(chromium)
command -v node >/dev/null || extra+=(nodejs npm)
./scripts/setup.sh "${extra[@]}"
cd tests/browser
if [[ ! -f node_modules/playwright-core/package.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci in tests/browser (playwright-core)" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
fi
