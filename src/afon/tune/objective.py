"""What ``afon tune`` minimises: the benchmark's own metrics, evaluated over scenarios and seeds.

One `Evaluation` is a pure function of (strategy, parameters, preset, scenario, seed), so it can
run in any process of any machine and give the same answer:

- **AF-S** strategies: one acquisition, as ``benchmarks/af.py`` runs them — the scenario's scene
  through the preset, the AF window on the scenario's AF point, the lens starting at a seeded
  random position within the lens's range, a seeded sensor-noise stream; the loop is
  `afon.focus.drive.run_single_shot` on the virtual clock. It returns the frames to the verdict
  and the final focus error (from the simulation's truth, which the strategy never sees), in
  depths of focus.
- **AF-C** strategies: one benchmark trial of the scenario (`afon.bench.runner.run_trial`,
  technique BBF AF-C), judged by the benchmark's keeper rule.

`cost` turns a set of evaluations into one number to minimise:

- AF-S: mean over evaluations of the frames to the verdict, plus `MISS_PENALTY_FRAMES` for every
  acquisition that failed or ended more than one depth of focus from the subject — so a faster
  search only wins if it stays as accurate;
- AF-C: 1 − the keeper rate over all shots.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from afon.errors import AfonError
from afon.tune.params import ParamValue, load_tunables

MISS_PENALTY_FRAMES = 60.0
"""Cost of an AF-S acquisition that failed or missed focus: two seconds at 30 fps."""

IN_FOCUS_DOF = 1.0
"""An AF-S result within this many depths of focus of the subject counts as in focus."""

MAX_FRAMES = 400
"""The driver's safety net for one AF-S acquisition."""


@dataclass(frozen=True)
class Evaluation:
    """One unit of work: a strategy with parameters on one scenario and seed."""

    strategy: str
    params: tuple[tuple[str, ParamValue], ...]
    """Empty: the strategy's defaults."""
    preset: str
    scenario: str
    seed: int

    @classmethod
    def of(
        cls,
        strategy: str,
        params: Mapping[str, ParamValue],
        preset: str,
        scenario: str,
        seed: int,
    ) -> Evaluation:
        return cls(strategy, tuple(sorted(params.items())), preset, scenario, seed)


def evaluate(ev: Evaluation) -> dict[str, Any]:
    """Run one evaluation (in whatever process or machine receives it)."""
    mode = load_tunables(ev.strategy).mode
    return _evaluate_af_s(ev) if mode == "AF-S" else _evaluate_af_c(ev)


def _scenario(name: str, preset: str) -> Any:
    from afon.bench.scenario import resolve_scenario

    scn = resolve_scenario(name)
    if scn.kind != "sim":
        raise AfonError(f"scenario {name!r} replays a focal stack; tuning runs on simulated ones")
    return dataclasses.replace(scn, preset=preset)


def _evaluate_af_s(ev: Evaluation) -> dict[str, Any]:
    from afon.bench.runner import scene_for
    from afon.cameras.sim.camera import SimCamera
    from afon.cameras.sim.preset import load_preset
    from afon.focus.context import context_for
    from afon.focus.drive import run_single_shot
    from afon.focus.engine import AfStatus, AfWindow
    from afon.tune.strategies import build

    scn = _scenario(ev.scenario, ev.preset)
    preset = load_preset(ev.preset)
    lo, hi = preset.motor.min_d, preset.motor.max_d
    start_d = float(np.random.default_rng([ev.seed, 7]).uniform(lo, hi))
    cam = SimCamera(scene_for(scn), preset, seed=ev.seed, start_d=start_d)
    ctx = context_for(cam)
    af = build(ev.strategy, dict(ev.params), ctx)
    res = run_single_shot(cam, af, AfWindow(*scn.af_point), max_frames=MAX_FRAMES)
    truth = cam.truth(cam.clock.now_s(), cam.true_lens_d())
    error_d = abs(float(truth["focus_error_d"]))  # type: ignore[arg-type]
    error_dof = error_d / max(ctx.depth_of_focus_d, 1e-12)
    failed = res.status is AfStatus.FAILED
    return {
        "frames": res.frames,
        "failed": failed,
        "error_d": error_d,
        "error_dof": error_dof,
        "in_focus": (not failed) and error_dof <= IN_FOCUS_DOF,
    }


def _evaluate_af_c(ev: Evaluation) -> dict[str, Any]:
    from afon.bench.runner import TrialJob, run_trial

    scn = _scenario(ev.scenario, ev.preset)
    result = run_trial(TrialJob(scn, "bbf-af-c", ev.strategy, ev.seed, params=ev.params))
    exposed = [s for s in result.shots if s.exposed]
    return {
        "shots": len(result.shots),
        "keepers": sum(1 for s in exposed if s.in_focus),
    }


def cost(mode: str, results: Sequence[Mapping[str, Any]]) -> float:
    """The number a study minimises (see the module docstring)."""
    if not results:
        return math.inf
    if mode == "AF-S":
        return statistics.fmean(
            float(r["frames"]) + (0.0 if r["in_focus"] else MISS_PENALTY_FRAMES) for r in results
        )
    shots = sum(int(r["shots"]) for r in results)
    keepers = sum(int(r["keepers"]) for r in results)
    return 1.0 - keepers / shots if shots else 1.0


def summary(mode: str, results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures a report shows for a set of evaluations."""
    out: dict[str, Any] = {"evaluations": len(results), "cost": round(cost(mode, results), 4)}
    if not results:
        return out
    if mode == "AF-S":
        frames = [float(r["frames"]) for r in results]
        errors = [float(r["error_d"]) for r in results]
        out.update(
            frames_median=statistics.median(frames),
            frames_p90=float(np.percentile(frames, 90)),
            error_d_median=round(statistics.median(errors), 4),
            error_d_p90=round(float(np.percentile(errors, 90)), 4),
            failed=sum(1 for r in results if r["failed"]),
            in_focus=sum(1 for r in results if r["in_focus"]),
        )
    else:
        shots = sum(int(r["shots"]) for r in results)
        keepers = sum(int(r["keepers"]) for r in results)
        out.update(
            shots=shots, keepers=keepers, keeper_rate=round(keepers / shots, 4) if shots else None
        )
    return out
