#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run lint and the tests.
# The README's "Run the tests" command; CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the end-to-end test drives: ffmpeg (packager and player) and nginx (the CDN).
if ! command -v ffmpeg >/dev/null || ! command -v nginx >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq ffmpeg nginx >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
