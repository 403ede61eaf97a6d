#!/usr/bin/env bash
# Set up afon and run its main job on the simulated camera: the viewfinder in the browser.
# Extra arguments go to `afon serve` (e.g. --camera sim:runner --preset 300mm-f2.8).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/afon serve --preset 50mm-f1.8 "$@"
