#!/usr/bin/env bash
# Makes sure /usr/bin/chromium (Debian's `chromium` package) is there for the console's browser test
# (test/e2e/console.browser.test.ts drives it with playwright-core; never `playwright install`, which
# downloads a browser build). Idempotent: exits 0 at once when it is.
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "ensure-chromium: /usr/bin/chromium still missing after installing chromium" >&2; exit 1; }
