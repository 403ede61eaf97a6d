#!/usr/bin/env bash
# Set up afon with its test tools and run the whole suite: ruff, mypy, pytest.
# Browser tests drive Debian's chromium with Playwright; it is installed here when missing and
# apt-get is usable (as root), otherwise those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
    && [ "$(id -u)" = 0 ]; then
  echo "== installing chromium (apt) for the browser tests"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
    || echo "chromium could not be installed: the browser tests will skip and say why"
fi
scripts/setup.sh dev
echo "== ruff"; .venv/bin/ruff check src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/pytest "$@"
