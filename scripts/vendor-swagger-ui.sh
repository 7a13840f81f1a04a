#!/usr/bin/env bash
# Re-fetch the interactive API docs' vendored Swagger UI (docs/api/openapi.md) from the npm
# registry. Pinned version and tarball checksum: the committed files under
# streammeter/web/static/vendor/swagger-ui/ are exactly what this produces. Needs `npm` (for
# `npm pack`) and network access; `/docs` itself never loads anything from outside the service.
set -euo pipefail
cd "$(dirname "$0")/.."

SWAGGER_UI_VERSION=5.35.0
SWAGGER_UI_SHA256=1b8e891893404ea4c3558b6a87e2a3e494e7eedba41168c2ece5800a391a6ea6

dest=streammeter/web/static/vendor/swagger-ui
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "swagger-ui-dist@${SWAGGER_UI_VERSION}" >/dev/null)
tarball="$work/swagger-ui-dist-${SWAGGER_UI_VERSION}.tgz"
echo "${SWAGGER_UI_SHA256}  ${tarball}" | sha256sum --check --quiet
tar -xzf "$tarball" -C "$work"

mkdir -p "$dest"
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css \
    favicon-32x32.png LICENSE NOTICE; do
    cp "$work/package/$file" "$dest/$file"
done
echo "swagger-ui-dist ${SWAGGER_UI_VERSION} (npm, sha256 ${SWAGGER_UI_SHA256})" > "$dest/VERSION"
echo "vendored swagger-ui-dist ${SWAGGER_UI_VERSION} into $dest"
