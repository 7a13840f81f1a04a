#!/usr/bin/env bash
# Re-fetch the dashboard's vendored JavaScript (docs/dashboard.md) from the npm registry.
# Pinned version and tarball checksum: the committed files under streammeter/web/static/vendor/
# are exactly what this produces. Needs `npm` (for `npm pack`) and network access; the
# dashboard itself never loads anything from outside the service.
set -euo pipefail
cd "$(dirname "$0")/.."

UPLOT_VERSION=1.6.32
UPLOT_SHA256=4b8a8191e425658e3ea8c8c1314b0fc679c861ee3a1af2b20c7b16ba50b5133d

dest=streammeter/web/static/vendor/uplot
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "uplot@${UPLOT_VERSION}" >/dev/null)
tarball="$work/uplot-${UPLOT_VERSION}.tgz"
echo "${UPLOT_SHA256}  ${tarball}" | sha256sum --check --quiet
tar -xzf "$tarball" -C "$work"

mkdir -p "$dest"
cp "$work/package/dist/uPlot.iife.min.js" "$dest/uPlot.iife.min.js"
cp "$work/package/dist/uPlot.min.css" "$dest/uPlot.min.css"
cp "$work/package/LICENSE" "$dest/LICENSE"
echo "uplot ${UPLOT_VERSION} (npm, sha256 ${UPLOT_SHA256})" > "$dest/VERSION"
echo "vendored uplot ${UPLOT_VERSION} into $dest"
