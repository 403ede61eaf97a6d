"""benchmarks/soak.py in miniature: viewers, a flood, a full disk and a kill -9 restart, and
every acknowledged shutter press ends in a saved shot or a failure record."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"


def test_soak_in_miniature_loses_no_shot() -> None:
    proc = subprocess.run(
        [sys.executable, str(SOAK), "--duration-s", "12", "--viewers", "2"],
        capture_output=True,
        text=True,
        timeout=170,
    )
    out = proc.stdout
    result = json.loads(out[out.index("{") :])
    shots = result["shots"]
    assert shots["attempted"] > 0 and shots["equal"], shots
    assert shots["attempted"] == shots["saved"] + shots["failure_records"]
    assert proc.returncode == 0
    # the miniature's disk-full window is short: what fails in it must say why
    assert all("shots folder full" in r for r in shots["failure_reasons"]), shots
    assert all(f > 0 for f in result["fps_per_viewer"]["quiet"])
    assert all(f > 0 for f in result["fps_per_viewer"]["flood"])
    assert result["flood"]["rate_limited_replies"] > 0
    # every press answered and counted, however late (the shooter's deadline decides nothing)
    assert shots["presses"] == shots["acknowledged"] == shots["attempted"]
    # the targets are printed beside the quiet baseline, with the verdict (the figures depend
    # on the machine's load: benchmarks report them, tests do not bound them)
    fps, rtt = result["targets"]["viewer_fps_min"], result["targets"]["control_round_trip_ms"]
    assert fps["target"] == 25.0 and rtt["target_p50_p95"] == 50.0
    assert fps["met"] is (fps["flood"] >= 25.0) and isinstance(rtt["met"], bool)
    assert fps["flood"] == min(result["fps_per_viewer"]["flood"]) and rtt["flood"]["n"] > 0
