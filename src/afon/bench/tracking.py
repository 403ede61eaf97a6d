"""Tracking benchmark: keeper rate of servo AF (AF-C) bursts, with and without prediction.

The scenario (issue 3): a runner approaches at 10 m/s from 30 m to 5 m, shot with a 300 mm f/2.8
lens on full frame (depth of focus ≈ ±0.00093 D) in a 10 fps burst with a 50 ms release lag.
`run_burst` is the smallest body loop that does this on the virtual clock:

- AF-C is active from t = 0 (the servo acquires while the runner is far);
- every preview frame goes to the servo with ``aim_s`` = the next exposure: the still's
  mid-exposure (release + release lag) when a release is due before the next preview frame is
  read out, else the next preview frame's mid-exposure;
- releases every 1/`burst_hz` s from `burst_start_s` (jittered per trial so the releases fall at
  different phases of the frame clock) until the runner reaches 5 m;
  ``camera.capture_still(t_release, render=False)`` exposes after the release lag, advances the
  clock to the end of the exposure and blacks out the preview frames that overlap the still's
  exposure and readout;
- each still is judged by the simulation's ground truth at mid-exposure
  (``camera.truth_of(still).in_focus``: the subject inside the depth of field), which the servo
  never sees.

Keeper rate = in-focus stills / all stills over all trials (seeds). `tracking_results` also runs
the same loop on the Camera Module 3-like preset and the "erratic" scene (a slow subject
wandering between 4 and 8 m), reported under ``"erratic_cm3"`` without a target.

``"causal_limit"`` is the same loop with the causal limit (`afon.bench.oracle.CausalServo`) as
the servo: perfect knowledge of what the AF area sees up to the present, none of the future;
the yardstick for the servos beside it.
"""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from afon.bench.af_area import area_view
from afon.bench.oracle import CAUSAL, CausalServo, CausalTruth
from afon.cameras.sim.camera import SimCamera
from afon.clock import VirtualClock
from afon.focus.context import context_for
from afon.focus.engine import AfWindow, ServoAf
from afon.focus.lockon import DEFAULT_LOCK_ON_S
from afon.focus.servo_registry import make_servo
from afon.focus.tracking import Tracker

RUNNER_WINDOW = AfWindow(0.5, 0.5, 0.12, 0.25)
"""A single-point-sized AF area on the runner (0.6 m wide: ~0.19 frame widths at 30 m)."""

ERRATIC_WINDOW_SIZE = (0.05, 0.12)
"""AF point size for the "erratic" scene's dancer (~0.08 frame widths wide on the Camera
Module 3-like preset); the photographer puts it on the dancer at t = 0 and the tracking AF area
follows it from there."""


def _start_window(scene: str, size: tuple[float, float]) -> AfWindow:
    """The AF point where the photographer puts it: on the scene's subject at t = 0."""
    camera = SimCamera(scene, "cm3", clock=VirtualClock(), render_frames=False)
    subject = camera.scene.subject
    x, y = subject.position(0.0) if subject is not None else (0.5, 0.5)
    return AfWindow(x, y, size[0], size[1])


@dataclass
class BurstResult:
    """One burst: per-still verdicts and focus errors."""

    servo: str
    seed: int
    in_focus: list[bool] = field(default_factory=list)
    error_d: list[float] = field(default_factory=list)
    """Signed focus error of each still (subject − lens, dioptres), from ground truth."""
    subject_m: list[float] = field(default_factory=list)
    frames: int = 0

    @property
    def keepers(self) -> int:
        return sum(self.in_focus)

    @property
    def shots(self) -> int:
        return len(self.in_focus)


def run_burst(
    servo_name: str,
    *,
    seed: int = 0,
    scene: str = "runner",
    preset: str = "300mm-f2.8",
    window: AfWindow = RUNNER_WINDOW,
    burst_hz: float = 10.0,
    burst_start_s: float = 0.5,
    burst_end_s: float | None = None,
    stop_at_m: float | None = 5.0,
    lock_on_s: float = DEFAULT_LOCK_ON_S,
    jitter: bool = True,
    tracking: bool = False,
) -> BurstResult:
    """One AF-C burst on the virtual clock (see the module docstring)."""
    clock = VirtualClock()
    # the causal limit needs no pixels (unless a tracking area follows the subject)
    render = servo_name != CAUSAL or tracking
    camera = SimCamera(scene, preset, clock=clock, seed=seed, render_frames=render)
    ctx = context_for(camera)
    timing = camera.preset.timing
    period_s = 1.0 / timing.frame_rate_hz
    still_half_s = 0.5 * timing.still_exposure_s
    rng = random.Random(seed)
    release_s = burst_start_s + (rng.uniform(0.0, 1.0 / burst_hz) if jitter else 0.0)
    first_release_s = release_s
    area = [window]
    servo: ServoAf
    if servo_name == CAUSAL:
        truth = CausalTruth(
            area_view=lambda t_s, w: area_view(camera, t_s, w),
            window=lambda: area[0],
            lens_d=camera.true_lens_d,  # the causal limit knows the present truth
            lens_moving=camera.lens_moving,
            now_s=clock.now_s,
            # the shutter is held from the first release on: the body knows the next one
            release_due_s=lambda: release_s if clock.now_s() >= first_release_s else None,
        )
        servo = CausalServo(ctx, truth)
    else:
        servo = make_servo(servo_name, ctx, lock_on_s=lock_on_s)
    end_s = burst_end_s if burst_end_s is not None else math.inf
    result = BurstResult(servo_name, seed)
    tracker = Tracker() if tracking else None
    servo.start(camera.lens_position_d(), clock.now_s())
    while True:
        if release_s > end_s:
            break
        exposure_s = release_s + timing.release_lag_s + still_half_s
        if stop_at_m is not None and camera.subject_distance_m(exposure_s) <= stop_at_m:
            break
        frame = camera.next_frame(phase=servo.wants_phase)
        result.frames += 1
        if tracker is not None:
            window = tracker.update(frame, window)
            area[0] = window
        now_s = clock.now_s()
        due = release_s < now_s + period_s
        if due:
            aim_s = max(release_s, now_s) + timing.release_lag_s + still_half_s
        else:
            aim_s = frame.exposure_start_s + period_s + 0.5 * timing.exposure_s
        step = servo.update(frame, window, aim_s)
        if step.target_d is not None:
            camera.move_lens(step.target_d)
        if due:
            still = camera.capture_still(release_s, render=False)
            judged = camera.truth_of(still)
            result.in_focus.append(judged.in_focus)
            result.error_d.append(judged.focus_error_d)
            result.subject_m.append(judged.subject_distance_m)
            release_s += 1.0 / burst_hz
    return result


def _summary(runs: list[BurstResult], dof_d: float) -> dict[str, Any]:
    shots = sum(r.shots for r in runs)
    keepers = sum(r.keepers for r in runs)
    errs = [abs(e) for r in runs for e in r.error_d]
    return {
        "keeper_rate": keepers / shots if shots else 0.0,
        "keepers": keepers,
        "shots": shots,
        "trials": len(runs),
        "per_trial": [round(r.keepers / r.shots, 3) if r.shots else 0.0 for r in runs],
        "abs_error_dof_median": round(statistics.median(errs) / dof_d, 3) if errs else None,
        "abs_error_dof_p90": (
            round(sorted(errs)[int(0.9 * (len(errs) - 1))] / dof_d, 3) if errs else None
        ),
    }


TARGET_KEEPER_RATE = 0.95
"""Issue 3's target for the predictive servo on the runner scenario."""


def summary_lines(result: dict[str, Any]) -> list[str]:
    """Human summary of `tracking_results` (the predictive figure beside the non-predictive)."""
    p, n = result["predictive"], result["non_predictive"]
    c = result.get("causal_limit")
    sc = result["scenario"]
    lines = [
        f"AF-C runner ({sc['subject']}, {sc['preset']}, {sc['burst_hz']:g} fps, "
        f"{sc['release_lag_s'] * 1000:g} ms lag): keeper rate predictive "
        f"{p['keeper_rate']:.1%} ({p['keepers']}/{p['shots']}) vs non-predictive "
        f"{n['keeper_rate']:.1%} ({n['keepers']}/{n['shots']})"
        + (f", causal limit {c['keeper_rate']:.1%}" if c is not None else "")
        + f"; target {sc['target_keeper_rate']:.0%}"
    ]
    if "erratic_cm3" in result:
        e = result["erratic_cm3"]
        lines.append(
            f"AF-C erratic on cm3 (tracking area): predictive "
            f"{e['predictive']['keeper_rate']:.1%} vs non-predictive "
            f"{e['non_predictive']['keeper_rate']:.1%}"
            + (
                f" vs causal limit {e['causal_limit']['keeper_rate']:.1%}"
                if "causal_limit" in e
                else ""
            )
            + " (no target)"
        )
    return lines


def _dof_d(preset: str) -> float:
    camera = SimCamera("runner", preset, clock=VirtualClock(), render_frames=False)
    return context_for(camera).depth_of_focus_d


def tracking_results(seed: int = 0, trials: int = 3, *, erratic: bool = True) -> dict[str, Any]:
    """Keeper rates of the predictive and non-predictive servo on the runner scenario.

    Returns ``{"predictive": {"keeper_rate": R, ...}, "non_predictive": {...},
    "causal_limit": {...}, "scenario": {...}, "erratic_cm3": {"predictive": {...},
    "non_predictive": {...}, "causal_limit": {...}}}``.
    Seeds ``seed .. seed + trials - 1``.
    """
    seeds = list(range(seed, seed + trials))
    out: dict[str, Any] = {}
    dof = _dof_d("300mm-f2.8")
    servos = (
        ("predictive", "predictive"),
        ("non_predictive", "non-predictive"),
        ("causal_limit", CAUSAL),
    )
    for key, name in servos:
        runs = [run_burst(name, seed=s) for s in seeds]
        out[key] = _summary(runs, dof)
    out["scenario"] = {
        "scene": "runner",
        "preset": "300mm-f2.8",
        "subject": "10 m/s, 30 m -> 5 m",
        "burst_hz": 10.0,
        "release_lag_s": 0.05,
        "burst_start_s": "0.5 + U(0, 0.1) per trial",
        "window": [RUNNER_WINDOW.cx, RUNNER_WINDOW.cy, RUNNER_WINDOW.w, RUNNER_WINDOW.h],
        "depth_of_focus_d": dof,
        "seeds": seeds,
        "judged_by": "ground truth at each still's mid-exposure (subject inside the DoF)",
        "target_keeper_rate": TARGET_KEEPER_RATE,
    }
    if erratic:
        dof_cm3 = _dof_d("cm3")
        cm3 = SimCamera("erratic", "cm3", clock=VirtualClock(), render_frames=False)
        start = _start_window("erratic", ERRATIC_WINDOW_SIZE)
        out["erratic_cm3"] = {
            key: _summary(
                [
                    run_burst(
                        name,
                        seed=s,
                        scene="erratic",
                        preset="cm3",
                        window=start,
                        burst_start_s=0.5,
                        burst_end_s=3.0,
                        stop_at_m=None,
                        tracking=True,
                    )
                    for s in seeds
                ],
                dof_cm3,
            )
            for key, name in servos
        }
        out["erratic_cm3"]["scenario"] = {
            "scene": "erratic (4..8 m, wandering sideways)",
            "preset": "cm3",
            "burst": "10 fps, 0.5..3.0 s",
            "af_area": "tracking",
            "depth_of_focus_d": dof_cm3,
            "hyperfocal_m": round(cm3.optics.hyperfocal_m, 2),
            "note": "no target; the subject stays beyond half the hyperfocal distance, so the "
            "depth of field is deep here and the keeper rate says little about the servo",
        }
    return out


TRACE_PLOTS: dict[str, tuple[float, float]] = {"bird": (1.6, 3.1), "erratic": (0.3, 2.8)}
"""Scenarios whose BBF AF-C focus-error traces go into the docs, with the time span shown."""


def plot_focus_error(
    trace: dict[str, dict[str, Any]], scenario: str, path: Path, span_s: tuple[float, float]
) -> Path:
    """A BBF AF-C focus trace as the error that matters: ``(lens − subject) / depth of focus``
    per preview frame for each strategy (`trace`: strategy → the bench's trace of one trial),
    with the ±1 band of acceptable focus and each still (● in focus, × not)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {
        "clairvoyant": "#7f7f7f",
        "causal": "#2ca02c",
        "predictive": "#1f77b4",
        "non-predictive": "#ff7f0e",
        "libcamera": "#9467bd",
    }
    fig, ax = plt.subplots(figsize=(9, 3.4))
    t0, t1 = span_s
    ax.axhspan(-1.0, 1.0, color="#000000", alpha=0.08, linewidth=0, label="in focus (±1 DoF)")
    for strat, tr in trace.items():
        dof = float(tr["dof_d"])
        pts = [
            (t, (lens - subj) / dof)
            for t, lens, subj in zip(tr["t_s"], tr["lens_d"], tr["subject_d"], strict=True)
            if t0 <= t <= t1
        ]
        colour = colours.get(strat, "#8c564b")
        style = "--" if strat in ("clairvoyant", "causal") else "-"
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            style,
            color=colour,
            linewidth=1.1,
            label=strat,
        )
        # stills: the lens at mid-exposure against the subject then (from the frame trace's
        # subject curve, interpolated)
        for mid, lens, ok in tr["shots"]:
            if not t0 <= mid <= t1:
                continue
            subj = float(np.interp(mid, tr["t_s"], tr["subject_d"]))
            ax.plot(
                mid,
                (lens - subj) / dof,
                "o" if ok else "x",
                color=colour,
                markersize=5 if ok else 6,
            )
    ax.set_xlim(t0, t1)
    ax.set_ylim(-4.0, 4.0)
    ax.set_xlabel("time (s)  —  ● still in focus, × out of focus")
    ax.set_ylabel("lens − subject (DoF)")
    ax.set_title(f"BBF AF-C focus error: {scenario}", fontsize=10, loc="left")
    ax.legend(fontsize=8, ncol=3, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def trace_plots(out_dir: Path, seed: int = 0) -> list[Path]:
    """Run the `TRACE_PLOTS` scenarios (BBF AF-C, one seed) and plot their focus errors into
    `out_dir` as ``tracking_SCENARIO.png``."""
    from afon.bench.runner import load_scenarios, run_bench

    res = run_bench(load_scenarios(list(TRACE_PLOTS)), seed=seed, seeds=1, techniques=["bbf-af-c"])
    return [
        plot_focus_error(res.traces[name]["bbf-af-c"], name, out_dir / f"tracking_{name}.png", span)
        for name, span in TRACE_PLOTS.items()
        if name in res.traces
    ]


if __name__ == "__main__":  # pragma: no cover
    import json
    import sys

    if sys.argv[1:2] == ["--plots"]:
        for written in trace_plots(Path(sys.argv[2] if len(sys.argv) > 2 else "docs/img")):
            print(written)
        raise SystemExit(0)
    res = tracking_results()
    print(json.dumps(res, indent=2))
    print("\n".join(summary_lines(res)), file=sys.stderr)
