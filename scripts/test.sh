#!/usr/bin/env bash
# Install everything the tests need on a fresh Debian machine, then run lint and the tests.
# The README's "Run the tests" command; CI (.ci/run) runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# System tools the tests drive, from Debian, installed when missing:
# - ffmpeg (packager and player) and nginx (the CDN) for the end-to-end test;
# - chromium for the dashboard's browser test (Playwright drives the system browser);
# - wrk for the load benchmark's short run (tests/test_bench_load_quick.py);
# - clickhouse-server/-client for the ClickHouse store's tests, which start and stop a
#   two-shard cluster themselves (scripts/clickhouse-cluster.sh); skip them with
#   STREAMMETER_SKIP_CLICKHOUSE=1.
wanted=(ffmpeg:ffmpeg nginx:nginx chromium:chromium wrk:wrk)
if [ "${STREAMMETER_SKIP_CLICKHOUSE:-}" != "1" ]; then
  wanted+=(clickhouse-server:clickhouse-server clickhouse-client:clickhouse-client)
fi
missing=()
for entry in "${wanted[@]}"; do
  command -v "${entry%%:*}" >/dev/null || missing+=("${entry#*:}")
done
if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[test]'
.venv/bin/ruff check .
# Two pytest-xdist workers (one per core); each test file runs whole in one of them.
# STREAMMETER_TEST_WORKERS=0 runs them in this process.
.venv/bin/python -m pytest -n "${STREAMMETER_TEST_WORKERS:-2}" --dist loadfile --durations=10 "$@"
