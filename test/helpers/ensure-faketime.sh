#!/usr/bin/env bash
# Makes sure `faketime` (libfaketime, Debian's `faketime` package) is there for the clock-skew test
# (test/e2e/clock-skew.test.ts: a worker process whose clock runs 30 s ahead or behind). Idempotent:
# exits 0 at once when it is.
set -euo pipefail

if command -v faketime >/dev/null 2>&1; then
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends faketime >/dev/null
command -v faketime >/dev/null 2>&1 || { echo "ensure-faketime: faketime still missing after installing the faketime package" >&2; exit 1; }
