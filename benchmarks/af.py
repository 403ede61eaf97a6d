"""AF benchmark: frames-to-focus and final error of the AF-S strategies, side by side.

Prints JSON on stdout::

    {"static": {"contrast"|"phase"|"hybrid"|"libcamera_cdaf"|"libcamera_pdaf":
                   {"frames_median": F, "frames_p90": F90, "error_d_median": E,
                    "error_d_p90": E90, "failed": K, "trials": N}},
     "featureless": {STRATEGY: {"frames_median": F, "frames_max": M, "failed": K,
                                "trials": N}},
     "tracking": {...}}

and a human summary on stderr.

Static trials (`static_trials`): the simulated Camera Module 3-like preset ("cm3"), static
subjects at 0.08–6.7 D — built-in scenes (portrait with the AF point on the face, the
low-light cup, the bird before take-off) and textured cards (astronaut, cat, coffee) at
0.15–1 m in front of a brick wall at four times their distance — with the lens starting at a
seeded random position in 0–10 D and a seeded sensor-noise stream; trial i uses seed
``seed + i``. Every strategy runs on exactly the same trials. The loop (`run_single_shot`) runs
on the virtual clock: ``next_frame(phase=strategy.wants_phase)`` → ``update`` → ``move_lens``,
until FOCUSED or FAILED. Frames are counted from the AF start to the frame on which the status
changed (inclusive); the error is ``|focus_error_d|`` from the camera's ground truth once the
lens is at rest. ``failed`` counts trials that ended FAILED (a textured static subject should
never fail).

Featureless trials: the "wall" scene from several start positions; the right answer is FAILED,
and ``frames_*`` says how long it took.

``libcamera_pdaf`` is libcamera's Raspberry Pi AF as it runs on the Camera Module 3 (PDAF, the
contrast scan as fall-back), ``libcamera_cdaf`` its contrast-only variant (a module without
PDAF), both ported from libcamera's source (`afon.focus.libcamera_af`) with the IMX708 tuning
verbatim; every strategy obeys the same timing rule (`afon.focus.engine.MeasurementGate`).
Targets (issue 10): hybrid ≤ 0.6 × libcamera_pdaf's frames with no larger error, contrast
≤ 0.7 × libcamera_cdaf's frames with no larger error; ``targets`` in the JSON says which hold.

"tracking" (AF-C keeper rates) comes from `afon.bench.tracking.tracking_results()`:
``predictive``, ``non_predictive`` and ``causal_limit`` (the causal limit as the servo).

Usage: python benchmarks/af.py [--trials N] [--seed S] [--strategies a,b,...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.scene import Scene, card_scene, resolve_scene
from afon.focus.context import context_for
from afon.focus.drive import run_single_shot
from afon.focus.engine import AfStatus, AfWindow
from afon.focus.strategies import make_single_shot

STRATEGIES = ("contrast", "phase", "hybrid", "libcamera_cdaf", "libcamera_pdaf")
PRESET = "cm3"


@dataclass(frozen=True)
class Trial:
    scene: str
    window: AfWindow
    start_d: float
    seed: int


_SCENES: tuple[tuple[str, AfWindow], ...] = (
    ("portrait", AfWindow(cx=0.3, cy=0.5, w=0.15, h=0.2)),
    ("card:skimage:astronaut:0.15", AfWindow()),
    ("card:skimage:chelsea:0.3", AfWindow()),
    ("low-light", AfWindow(cx=0.5, cy=0.5, w=0.2, h=0.2)),
    ("card:skimage:coffee:0.6", AfWindow()),
    ("bird", AfWindow()),
    ("card:skimage:astronaut:1.0", AfWindow()),
)


def make_scene(spec: str) -> Scene:
    if spec.startswith("card:"):
        _, src, name, dist = spec.split(":")
        return card_scene(float(dist), f"{src}:{name}")
    return resolve_scene(spec)


def static_trials(trials: int, seed: int) -> list[Trial]:
    """`trials` static-subject trials: scenes in turn, seeded random lens starts 0–10 D."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(trials):
        scene, window = _SCENES[i % len(_SCENES)]
        out.append(Trial(scene, window, float(rng.uniform(0.0, 10.0)), seed + i))
    return out


def featureless_trials(trials: int, seed: int) -> list[Trial]:
    starts = (0.0, 3.0, 6.5, 11.0)
    return [
        Trial("wall", AfWindow(), starts[i % len(starts)], seed + 1000 + i)
        for i in range(max(1, trials))
    ]


def run_trial(strategy: str, trial: Trial, scenes: dict[str, Scene]) -> dict[str, Any]:
    scene = scenes.setdefault(trial.scene, make_scene(trial.scene))
    cam = SimCamera(scene, PRESET, seed=trial.seed, start_d=trial.start_d)
    ctx = context_for(cam)
    af = make_single_shot(strategy, ctx)
    res = run_single_shot(cam, af, trial.window, max_frames=400)
    truth = cam.truth(cam.clock.now_s(), cam.true_lens_d())
    return {
        "frames": res.frames,
        "status": res.status.value,
        "error_d": abs(float(truth["focus_error_d"])),  # type: ignore[arg-type]
        "time_s": res.verdict_s - res.start_s,
    }


def _p90(values: list[float]) -> float:
    return float(np.percentile(np.asarray(values, np.float64), 90)) if values else math.nan


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    frames = [float(r["frames"]) for r in runs]
    errors = [float(r["error_d"]) for r in runs]
    return {
        "frames_median": statistics.median(frames),
        "frames_p90": _p90(frames),
        "error_d_median": round(statistics.median(errors), 4),
        "error_d_p90": round(_p90(errors), 4),
        "failed": sum(1 for r in runs if r["status"] == AfStatus.FAILED.value),
        "trials": len(runs),
    }


def static_results(
    trials: int = 28, seed: int = 0, strategies: tuple[str, ...] = STRATEGIES
) -> dict[str, Any]:
    """Per strategy: frames to focus and final error over the same static trials."""
    scenes: dict[str, Scene] = {}
    plan = static_trials(trials, seed)
    return {name: _summary([run_trial(name, t, scenes) for t in plan]) for name in strategies}


def featureless_results(
    trials: int = 4, seed: int = 0, strategies: tuple[str, ...] = STRATEGIES
) -> dict[str, Any]:
    """Per strategy: frames to the verdict on a featureless wall (FAILED is right)."""
    scenes: dict[str, Scene] = {}
    plan = featureless_trials(trials, seed)
    out: dict[str, Any] = {}
    for name in strategies:
        runs = [run_trial(name, t, scenes) for t in plan]
        frames = [float(r["frames"]) for r in runs]
        out[name] = {
            "frames_median": statistics.median(frames),
            "frames_max": max(frames),
            "failed": sum(1 for r in runs if r["status"] == AfStatus.FAILED.value),
            "trials": len(runs),
        }
    return out


TARGETS = (("hybrid", "libcamera_pdaf", 0.6), ("contrast", "libcamera_cdaf", 0.7))
"""(afon strategy, libcamera baseline, largest frames ratio) of issue 10."""


def targets(static: dict[str, Any]) -> dict[str, Any]:
    """Each target: the frames ratio (medians), the errors (medians), and whether it holds."""
    out: dict[str, Any] = {}
    for ours, base, ratio in TARGETS:
        if ours not in static or base not in static:
            continue
        a, b = static[ours], static[base]
        frames_ratio = a["frames_median"] / b["frames_median"] if b["frames_median"] else None
        met = (
            frames_ratio is not None
            and frames_ratio <= ratio
            and a["error_d_median"] <= b["error_d_median"]
        )
        out[f"{ours}_vs_{base}"] = {
            "frames_ratio": None if frames_ratio is None else round(frames_ratio, 3),
            "target_ratio": ratio,
            "error_d_median": [a["error_d_median"], b["error_d_median"]],
            "met": met,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=28, help="static trials (default 28)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--strategies", default=",".join(STRATEGIES), help="comma-separated AF-S strategies"
    )
    ap.add_argument("--no-tracking", action="store_true", help="skip the AF-C tracking part")
    args = ap.parse_args(argv)
    names = tuple(s for s in args.strategies.split(",") if s)
    t0 = time.perf_counter()
    result: dict[str, Any] = {
        "static": static_results(args.trials, args.seed, names),
        "featureless": featureless_results(4, args.seed, names),
    }
    if not args.no_tracking:
        try:
            from afon.bench.tracking import tracking_results
        except ImportError:
            pass
        else:
            result["tracking"] = tracking_results(seed=args.seed)
    result["targets"] = targets(result["static"])
    print(json.dumps(result, indent=2))
    lines = [f"AF-S on preset {PRESET!r}: {args.trials} static trials, seed {args.seed}"]
    for name, s in result["static"].items():
        wall = result["featureless"][name]
        lines.append(
            f"  {name:15s} frames median {s['frames_median']:5.1f} p90 {s['frames_p90']:5.1f}"
            f" | error median {s['error_d_median']:.3f} D p90 {s['error_d_p90']:.3f} D"
            f" | failed {s['failed']}/{s['trials']}"
            f" | wall: FAILED {wall['failed']}/{wall['trials']} in ≤{wall['frames_max']:.0f} frames"
        )
    lines.append(f"({time.perf_counter() - t0:.1f} s)")
    print("\n".join(lines), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
