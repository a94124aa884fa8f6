#!/usr/bin/env bash
# Makes sure /usr/bin/tini (the image's PID 1, from Debian's `tini` package as in the Dockerfile) is
# there for test/e2e/image.test.ts. Idempotent: exits 0 at once when it is.
set -euo pipefail

if [ -x /usr/bin/tini ]; then
  exit 0
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tini >/dev/null
[ -x /usr/bin/tini ] || { echo "ensure-tini: /usr/bin/tini still missing after installing tini" >&2; exit 1; }
