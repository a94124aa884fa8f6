#!/usr/bin/env bash
# Refreshes vendor/playground: the GraphQL Playground files the landing page loads, copied from the
# published graphql-playground-react package (its build folder, without source maps), with a
# SHA-256 manifest that test/unit/playground-vendor.test.ts checks. The package itself (and its
# ~600 transitive dependencies) stays out of the dependency tree: the page needs only these files.
#   scripts/vendor-playground.sh [version]     (default: the version in vendor/playground/SOURCE)
set -euo pipefail
cd "$(dirname "$0")/.."

dest=vendor/playground
version="${1:-$(sed -n 's/^graphql-playground-react@//p' "$dest/SOURCE" 2>/dev/null || true)}"
[ -n "$version" ] || { echo "usage: $0 <graphql-playground-react version>" >&2; exit 2; }
files=(build/static/js/middleware.js build/static/css/index.css build/favicon.png build/logo.png LICENSE)

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
tarball="$(cd "$tmp" && npm pack --silent "graphql-playground-react@$version")"
tar -xzf "$tmp/$tarball" -C "$tmp"
rm -rf "$dest/build" "$dest/LICENSE"
for f in "${files[@]}"; do
  mkdir -p "$dest/$(dirname "$f")"
  cp "$tmp/package/$f" "$dest/$f"
done
echo "graphql-playground-react@$version" >"$dest/SOURCE"
(cd "$dest" && sha256sum "${files[@]}" SOURCE >SHA256SUMS)
echo "vendored graphql-playground-react@$version into $dest ($(du -sh "$dest" | cut -f1))"
