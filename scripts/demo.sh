#!/usr/bin/env bash
# Set up afon and run its main job on the simulated camera.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/afon demo "$@"
