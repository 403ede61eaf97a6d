#!/usr/bin/env bash
# Set up afon and run its main job on the simulated camera: the viewfinder in the browser.
# Extra arguments go to `afon serve` (e.g. --camera sim:runner --preset 300mm-f2.8). The preset is
# afon serve's default, 50mm-f1.8 (as for `afon shoot` and `afon run`): shallow enough that where
# the focus is shows in every shot.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/afon serve "$@"
