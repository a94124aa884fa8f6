#!/usr/bin/env bash
# Makes sure `promtool` is on PATH for test/unit/observability-assets.test.ts (and the Prometheus
# integration test). Idempotent: exits 0 at once when promtool is there; otherwise installs Debian's
# `prometheus` package, which ships promtool, without starting the Prometheus server it also ships.
set -euo pipefail

if command -v promtool >/dev/null 2>&1; then
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  SUDO=(sudo)
fi

# The package's postinst would start a prometheus service on :9090; tests start their own.
# Containers usually deny service starts already (policy-rc.d); stop it where they do not.
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends prometheus >/dev/null
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet prometheus 2>/dev/null; then
  "${SUDO[@]}" systemctl disable --now prometheus
fi

command -v promtool >/dev/null 2>&1 || { echo "ensure-promtool: promtool still not on PATH after installing prometheus" >&2; exit 1; }
promtool --version | head -n 1
