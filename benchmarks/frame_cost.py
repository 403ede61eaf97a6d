"""CPU per simulated-camera frame along one scripted lens path, against a baseline in the same run.

`benchmarks/live.py` measures AF-C in real time, where each version's AF takes the lens its own
way (the figures swing with it). This holds the path fixed: per scene × preset, a `SimCamera`
(virtual clock, blur ladders built ahead as a live camera's are) drives its lens to the far
end, the near end, the subject, and three small moves about it (2 %, 1 % and 0 % of the range),
each at the motor's own speed, and draws every frame with its phase images (rolling shutter,
as AF-C reads it) until the lens stops. CPU time per frame (``time.process_time``: one core's
work), median and mean, and the number of frames. With `--baseline-src DIR` the same path is
drawn by that checkout's `src` in a subprocess, the two alternating `--repeats` times, and the
ratio of medians is given (``speedup``: baseline / this).

Usage: python benchmarks/frame_cost.py [--combos obstacle:300mm-f2.8,desk:cm3]
       [--baseline-src /tmp/afon-base/src] [--repeats 2]
Prints JSON on stdout.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import json
import statistics
import subprocess
import sys
import time
from typing import Any

COMBOS = ("obstacle:300mm-f2.8,portrait:300mm-f2.8,runner:300mm-f2.8,erratic:300mm-f2.8,"
          "desk:50mm-f1.8,desk:cm3")
MAX_FRAMES_PER_MOVE = 40


def frame_cost(scene: str, preset: str) -> dict[str, Any]:
    """CPU ms per frame along the scripted path, for the `afon` on the import path."""
    import cv2

    from afon.cameras.sim.camera import SimCamera
    from afon.clock import VirtualClock

    cv2.setNumThreads(1)
    cam = SimCamera(scene, preset, clock=VirtualClock(), seed=3)
    spec = cam.preset.motor
    if hasattr(cam.renderer, "warm_ladders"):
        cam.renderer.warm_ladders(0.0, (spec.min_d, spec.max_d),
                                  spec.max_speed_d_per_s * cam.integration_s)
    lo, hi = spec.min_d, spec.max_d
    subject_d = 1.0 / cam.subject_distance_m(0.0)
    span = hi - lo
    targets = [hi, lo, subject_d, subject_d + 0.02 * span, subject_d - 0.01 * span, subject_d]
    cpu_s: list[float] = []
    for target in targets:
        cam.move_lens(min(max(target, lo), hi))
        for _ in range(MAX_FRAMES_PER_MOVE):
            t0 = time.process_time()
            cam.next_frame(phase=True)
            cpu_s.append(time.process_time() - t0)
            if not cam.lens_moving():
                break
    cam.close()
    return {"cpu_median_ms": round(1000 * statistics.median(cpu_s), 2),
            "cpu_mean_ms": round(1000 * statistics.fmean(cpu_s), 2), "frames": len(cpu_s)}


def _in_subprocess(src: str, combos: list[str]) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": src}
    done = subprocess.run([sys.executable, __file__, "--combos", ",".join(combos), "--raw"],
                          capture_output=True, text=True, env=env, check=True, timeout=1800)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--combos", default=COMBOS, help="scene:preset,... ")
    parser.add_argument("--baseline-src", default=None)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    combos = [c for c in args.combos.split(",") if c]
    if args.raw:
        print(json.dumps({c: frame_cost(*c.split(":")) for c in combos}))
        return 0
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "src")
    runs: dict[str, list[dict[str, Any]]] = {"this": [], "baseline": []}
    for _ in range(max(1, args.repeats)):
        runs["this"].append(_in_subprocess(here, combos))
        if args.baseline_src:
            runs["baseline"].append(_in_subprocess(args.baseline_src, combos))
    out: dict[str, Any] = {"benchmark": "frame_cost", "repeats": args.repeats, "combos": {}}
    for c in combos:
        mine = statistics.median(r[c]["cpu_median_ms"] for r in runs["this"])
        row: dict[str, Any] = {"cpu_median_ms": mine, "runs": [r[c] for r in runs["this"]]}
        if runs["baseline"]:
            base = statistics.median(r[c]["cpu_median_ms"] for r in runs["baseline"])
            row.update(baseline_cpu_median_ms=base, speedup=round(base / mine, 2),
                       baseline_runs=[r[c] for r in runs["baseline"]])
        out["combos"][c] = row
    out["load_1min"] = round(os.getloadavg()[0], 2)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
