#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install afon into it, with the test tools when given "dev".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "afon needs Python 3.11 or newer; $PY is $("$PY" --version 2>&1)" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
extra=""
[ "${1:-}" = "dev" ] && extra="[dev]"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".${extra}"
if [ "${1:-}" = "dev" ]; then
  # picamera2's own Controls code drives the Picamera2 fake's control delivery (tests); its
  # dependencies (libcamera, python-prctl ...) are not needed for that and do not build here
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "picamera2>=0.3.20" \
    || echo "picamera2 not installed: the fake falls back to the same merge semantics" >&2
fi
