#!/usr/bin/env bash
# Set up afon with its test tools and run the whole suite: ruff, mypy, pytest.
# Browser tests drive Debian's chromium with Playwright, the metadata tests read shots back with
# exiftool; both are installed here when missing and apt-get is usable (as root), otherwise
# those tests skip and say why.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages the tests use: chromium (browser tests), exiftool (shot metadata read-back).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v exiftool >/dev/null 2>&1 || missing+=(libimage-exiftool-perl)
if [ "${#missing[@]}" -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing ${missing[*]} (apt) for the browser and metadata tests"
  apt-get update -qq || true
  for package in "${missing[@]}"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >/dev/null \
      || echo "$package could not be installed: the tests that need it skip and say why"
  done
fi
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "== installing postgresql (apt) for the shared-study test of afon tune"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } \
    || echo "postgresql could not be installed: that test will skip and say why"
fi
scripts/setup.sh dev
echo "== ruff"; .venv/bin/ruff check src tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== import contracts"; .venv/bin/lint-imports
echo "== pytest"; .venv/bin/pytest "$@"
