#!/usr/bin/env bash
# Prints the path of a Node.js binary of the given major (default: the image's, read from the
# Dockerfile's NODE_IMAGE), installing it first when needed. The binaries are the npm registry's
# `node-linux-<arch>` packages, installed into a cache directory (MAESTRO_NODE_CACHE, default
# ~/.cache/maestro-node/<major>) with plain `npm install`. Idempotent: a cached binary of the right
# major is printed at once. Used by .ci/run for the suite's pass on the image's Node.
set -euo pipefail
cd "$(dirname "$0")/../.."

major="${1:-$(sed -n 's/^ARG NODE_IMAGE=node:\([0-9]*\).*/\1/p' Dockerfile)}"
[[ "$major" =~ ^[0-9]+$ ]] || { echo "ensure-node: no Node major given and none found in the Dockerfile's NODE_IMAGE" >&2; exit 1; }
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "ensure-node: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
dir="${MAESTRO_NODE_CACHE:-${HOME}/.cache/maestro-node}/${major}"
bin="$dir/node_modules/node-linux-$arch/bin/node"

have_major() { [ -x "$bin" ] && [ "$("$bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" = "$major" ]; }
if ! have_major; then
  mkdir -p "$dir"
  [ -f "$dir/package.json" ] || echo '{ "private": true }' >"$dir/package.json"
  npm install --prefix "$dir" --no-audit --no-fund --loglevel=error "node-linux-$arch@$major" >&2
  have_major || { echo "ensure-node: $bin is not Node $major after installing node-linux-$arch@$major" >&2; exit 1; }
fi
echo "$bin"
