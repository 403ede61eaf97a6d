"""Running the benchmark: scenario × technique × strategy × seed trials, over all cores.

One trial builds a fresh camera (simulated or a focal stack) on a virtual clock, a body with the
technique's profile and the strategy under test, and lets a photographer model
(`afon.bench.photographer`) press its controls through the scenario; every shot is then judged
against ground truth (`afon.bench.metrics`). A trial is a pure function of (scenario,
technique, strategy, seed): the camera's sensor noise is seeded with the seed, the
photographer's reaction times with (scenario, seed), so the same seed gives the same results
whichever process runs it, and `run_bench` returns rows in a fixed order.

Strategies per technique (`STRATEGIES`): every technique runs the two limits (`clairvoyant`,
`causal`: `afon.bench.oracle`) and the libcamera baseline (`afon.focus.libcamera_af`: Auto
mode for AF-S, Continuous for AF-C); AF-S techniques add afon's hybrid AF-S, AF-C techniques
afon's predictive and non-predictive servo.

Speed (the full run must fit in a few minutes on two cores):

- previews are rendered at `BENCH_PREVIEW_PX` (480×360, 56% of the default pixels; the
  AF engine is resolution-independent and its accuracy there is checked in the tests);
- a frame is rendered only while AF is running (`BenchSimCamera`): nobody looks at the
  preview of a locked body, and the renderer's noise is a function of (seed, frame index),
  so skipping a frame does not change the others; the limits render nothing (unless a
  tracking AF area needs the pixels);
- and of those, only the ones the AF engine reads (`DeferredFrame`: a frame's image and
  phase images are drawn when first read). An AF-S gate drops the frames exposed while the
  lens moved without reading them, and contrast steps leave the phase images unread: on
  seed 0 of the default run 366 of hybrid AF-S's 764 previews and 660 of libcamera's 1,950
  are never drawn;
- of a frame, only the part the AF engine reads is rendered: its window with the margins of
  its filters and phase search, and libcamera's statistics cells (`afon.focus.footprint`);
  every pixel there is that of the whole frame, bit for bit (the renderer's exact warps), so
  the AF's readings and the rows are unchanged. With the tracking area, the tracker's
  search and those parts wherever it can put the window (`Tracker.footprint`);
- stills are never rendered: the judge works from the truth (the exposure's true lens
  position and the subject's distance);
- each worker process loads a scene once and shares its blur ladders (deterministic,
  seed-independent texture pyramids) between the cameras it builds, and decodes a focal stack's
  previews once;
- trials are spread over a pool of spawned processes (`jobs`, default: all cores) in small
  chunks, in report order, so each worker mostly reuses the scene it has just loaded.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from afon.bench.af_area import area_view
from afon.bench.metrics import ShotOutcome, TrialResult, limit_violations, summarize
from afon.bench.oracle import (
    CAUSAL,
    CLAIRVOYANT,
    LIMITS,
    AreaState,
    AreaView,
    CausalTruth,
    Truth,
    causal_factories,
    clairvoyant_factories,
)
from afon.bench.photographer import TECHNIQUES, Human, Photographer
from afon.bench.scenario import Scenario, builtin_scenario_names, resolve_scenario
from afon.bench.trace_plot import draw_trace
from afon.body import Body
from afon.cameras.base import Frame, Still
from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.scene import Layer, Scene, resolve_scene
from afon.cameras.stack import StackCamera
from afon.clock import VirtualClock
from afon.focus.engine import AfContext, AfWindow, ServoAf, SingleShotAf
from afon.focus.footprint import read_region
from afon.focus.libcamera_af import libcamera_af, libcamera_servo
from afon.focus.states import AfState

BENCH_PREVIEW_PX = (480, 360)
DEFAULT_SEEDS = 6
"""Seeds per row of a default run, for the ≤ 180 s target on two cores (20 seeds take about
3.3× as long, far above it even with region rendering); `afon bench --seeds N` for narrower
intervals (about 1/sqrt(N))."""
QUICK_SEEDS = 2
QUICK_MOMENTS = 3
"""A quick run keeps each scenario's first moments only (`Scenario.shortened`)."""

STRATEGIES: dict[str, tuple[str, ...]] = {
    "AF-S": (CLAIRVOYANT, CAUSAL, "libcamera", "hybrid"),
    "AF-C": (CLAIRVOYANT, CAUSAL, "libcamera", "predictive", "non-predictive"),
}
"""Strategies run for each focus mode, in report order."""

STRATEGY_INFO: dict[str, str] = {
    CLAIRVOYANT: "clairvoyant limit: knows the subject's true distance at every time, future "
    "included, and when the photographer will expose; ignores the AF area; pays only the "
    "motor's travel and the frame loop",
    CAUSAL: "causal limit: knows perfectly what the AF area sees up to the present (distance, "
    "velocity, acceleration), nothing of the future or of the next press; same frame loop, "
    "release lag and motor",
    "libcamera": "libcamera's Raspberry Pi AF ported from its source (baseline): PDAF with the "
    "contrast scan as fall-back where the camera has phase detection, the scan alone "
    "otherwise; AF-C its continuous mode; the IMX708 tuning verbatim on 0–12 D lenses, its "
    "dioptre figures scaled with the lens range on others; the same timing rule as afon",
    "hybrid": "afon hybrid AF-S (phase detection to jump, contrast to confirm)",
    "predictive": "afon predictive servo (phase detection, motion model, lock-on)",
    "non-predictive": "afon servo without prediction (follows the last measurement)",
}

_AF_RUNNING = frozenset(
    {AfState.ACTIVE_SCAN, AfState.PASSIVE_SCAN, AfState.PASSIVE_FOCUSED, AfState.PASSIVE_UNFOCUSED}
)
"""AF states in which the focus engine consumes frames."""


def strategies_for(technique: str) -> tuple[str, ...]:
    return STRATEGIES[TECHNIQUES[technique].focus_mode]


def libcamera_factory(ctx: AfContext) -> SingleShotAf:
    """libcamera's AF-S (Auto mode) as it runs on this camera (`afon.focus.libcamera_af`):
    the IMX708 tuning verbatim on a 0–12 D lens, scaled to other lens ranges."""
    return libcamera_af(ctx)


def libcamera_servo_factory(ctx: AfContext) -> ServoAf:
    """libcamera's continuous AF on this camera (same tuning rule)."""
    return libcamera_servo(ctx)


# --- cameras -------------------------------------------------------------------------------
class _Panned:
    """A layer position plus a pan offset (a recompose moves every layer alike)."""

    def __init__(self, base: Any, start: float, t0_s: float, t1_s: float) -> None:
        self.base = base
        self.start = start
        self.t0_s = t0_s
        self.t1_s = t1_s

    def _offset(self, t_s: float) -> float:
        u = min(max((t_s - self.t0_s) / (self.t1_s - self.t0_s), 0.0), 1.0)
        return self.start * (1.0 - u)

    def __call__(self, t_s: float) -> float:
        return float(self.base(t_s)) + self._offset(t_s)

    def bounds(self) -> tuple[float, float]:
        lo, hi = self.base.bounds()
        return lo + min(0.0, self.start), hi + max(0.0, self.start)


def scene_for(scenario: Scenario) -> Scene:
    """The scenario's scene, with the recompose applied as a pan of every layer."""
    assert scenario.scene is not None
    scene = resolve_scene(scenario.scene)
    rec = scenario.recompose
    if rec is None:
        return scene
    t0, t1 = rec.t_s, rec.t_s + rec.duration_s
    dx, dy = rec.shift
    layers: list[Layer] = [
        dataclasses.replace(layer, x=_Panned(layer.x, dx, t0, t1), y=_Panned(layer.y, dy, t0, t1))
        for layer in scene.layers
    ]
    return dataclasses.replace(scene, layers=tuple(layers))


_SCENES: dict[tuple[str, str], Scene] = {}
_LADDERS: dict[tuple[str, str], dict[int, Any]] = {}


def _cached_scene(scenario: Scenario) -> tuple[Scene, dict[int, Any]]:
    key = (scenario.source, scenario.name)
    if key not in _SCENES:
        _SCENES[key] = scene_for(scenario)
        _LADDERS[key] = {}
    return _SCENES[key], _LADDERS[key]


class BenchSimCamera(SimCamera):
    """A SimCamera that renders a preview only when `needs_image()` says someone looks at it
    (blank frames otherwise: timing, lens positions and everything else are unchanged), and
    of it only the part `needs_region()` names (None: all of it)."""

    needs_image: Callable[[], bool] | None = None
    needs_region: Callable[[], tuple[float, float, float, float] | None] | None = None
    blank: bool = False

    def next_frame(self, phase: bool = False) -> Frame:
        if self.blank:
            self.render_frames = False
        else:
            self.render_frames = self.needs_image is None or self.needs_image()
        self.render_region = self.needs_region() if self.needs_region is not None else None
        return super().next_frame(phase)


_STACK_PREVIEWS: dict[tuple[str, tuple[int, int]], tuple[Any, Any, list[str]]] = {}


class BenchStackCamera(StackCamera):
    """A StackCamera that judges its stills against the scenario's subject slice and decodes
    each stack's previews once per process."""

    subject_slice: int = 0

    def _load_previews(self) -> Any:
        key = (str(self.path.resolve()), self.preview_px)
        hit = _STACK_PREVIEWS.get(key)
        if hit is None:
            size, previews = super()._load_previews()
            hit = (size, previews, list(self.warnings))
            _STACK_PREVIEWS[key] = hit
        else:
            self.warnings.extend(w for w in hit[2] if w not in self.warnings)
        return hit[0], hit[1]

    def subject_d(self) -> float:
        return self.slice_position_d(min(self.subject_slice, self.n_slices - 1))

    def judge_still(self, still: Still) -> dict[str, Any]:
        """A still's truth: the lens nearer the subject's slice than any other slice."""
        pos = float(still.meta["slice_position"])
        return {
            "in_focus": abs(pos - self.subject_slice) < 0.5,
            "focus_error_d": self.subject_d() - still.lens_d,
            "subject_slice": self.subject_slice,
        }


def make_camera(
    scenario: Scenario,
    seed: int,
    clock: VirtualClock,
    *,
    render: bool = True,
    preview_px: tuple[int, int] = BENCH_PREVIEW_PX,
) -> tuple[SimCamera | BenchStackCamera, Callable[[float], float]]:
    """The scenario's camera and the subject's true focus position as a function of time."""
    if scenario.stack is not None:
        folder = scenario.stack_dir()
        if folder is None or not folder.is_dir():
            raise FileNotFoundError(scenario.skip_reason() or "focal stack not found")
        stack = scenario.stack
        cam = BenchStackCamera(
            folder,
            clock=clock,
            preview_px=preview_px,
            lens_range_d=stack.lens_range_d,
            start_d=scenario.start_d,
        )
        cam.subject_slice = stack.subject_slice
        subject = cam.subject_d()
        return cam, lambda t_s: subject
    scene, ladders = _cached_scene(scenario)
    assert scenario.preset is not None
    sim = BenchSimCamera(
        scene,
        scenario.preset,
        clock=clock,
        seed=seed,
        start_d=scenario.start_d,
        preview_px=preview_px,
        render_frames=render,
    )
    sim.blank = not render
    # share the seed-independent blur ladders of this scene between this process's cameras
    if isinstance(getattr(sim.renderer, "_caches", None), dict):
        sim.renderer._caches = ladders

    def subject_d(t_s: float) -> float:
        m = scene.subject_distance_m(t_s)
        return 0.0 if math.isinf(m) else 1.0 / m

    return sim, subject_d


# --- one trial -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TrialJob:
    scenario: Scenario
    technique: str
    strategy: str
    seed: int
    trace: bool = False
    preview_px: tuple[int, int] = BENCH_PREVIEW_PX
    params: tuple[tuple[str, float | int], ...] = ()
    """Tuned parameters for the strategy (`afon.tune`); empty: its defaults."""
    region_render: bool = True
    """Render only the part of each preview the AF engine reads (`afon.focus.footprint`);
    the results are those of whole frames (tests/test_bench.py)."""


def _factories(
    strategy: str,
    truth: Truth,
    causal: CausalTruth,
    params: tuple[tuple[str, float | int], ...] = (),
) -> tuple[Callable[[AfContext], SingleShotAf] | None, Callable[[AfContext], ServoAf] | None]:
    if params:
        from afon.tune.params import load_tunables
        from afon.tune.strategies import servo_factory, single_shot_factory

        if load_tunables(strategy).mode == "AF-S":
            return single_shot_factory(strategy, dict(params)), None
        return None, servo_factory(strategy, dict(params))
    if strategy == CLAIRVOYANT:
        return clairvoyant_factories(truth)
    if strategy == CAUSAL:
        return causal_factories(causal)
    if strategy == "libcamera":
        return libcamera_factory, libcamera_servo_factory
    return None, None


def _draws_pixels(job: TrialJob) -> bool:
    """Whether a trial's camera renders: afon's and libcamera's AF read frames; the limits
    work from the truth, the causal one through a tracker (pixels) with the tracking area."""
    return job.strategy not in LIMITS or (
        job.strategy == CAUSAL and job.scenario.af_area == "tracking"
    )


def run_trial(job: TrialJob) -> TrialResult:
    """Run one trial on the virtual clock and judge its shots."""
    scn = job.scenario
    clock = VirtualClock()
    camera, subject_d = make_camera(
        scn, job.seed, clock, render=_draws_pixels(job), preview_px=job.preview_px
    )
    photographer = Photographer(job.technique, scn, Human(f"{scn.name}:{job.seed}"))
    profile = photographer.profile()
    focus_mode = TECHNIQUES[job.technique].focus_mode
    if job.strategy not in STRATEGIES[focus_mode]:
        raise ValueError(f"strategy {job.strategy!r} does not apply to {job.technique}")
    if job.strategy == CLAIRVOYANT:
        # the clairvoyant limit ignores the AF area: no tracker to run on its blank frames
        profile = profile.with_(af_area="single")
    elif job.strategy == "hybrid":
        profile = profile.with_(af_s_strategy=job.strategy)
    elif job.strategy in ("predictive", "non-predictive"):
        profile = profile.with_(af_c_strategy=job.strategy)
    caps = camera.capabilities
    lag = caps.release_lag_s or float(getattr(camera, "release_lag_s", 0.0))
    still = caps.still_exposure_s or float(getattr(camera, "still_exposure_s", 0.0))

    def exposures(confirm_s: float) -> list[float]:
        return [p + lag + 0.5 * still for p in photographer.planned_presses(confirm_s)]

    true_lens = camera.true_lens_d if isinstance(camera, SimCamera) else camera.lens_position_d
    truth = Truth(
        subject_d=subject_d,
        lens_d=true_lens,
        lens_moving=camera.lens_moving,
        now_s=clock.now_s,
        exposures=exposures,
    )
    holder: list[Body] = []

    def area(t_s: float, window: AfWindow) -> AreaView:
        if isinstance(camera, SimCamera):
            return area_view(camera, t_s, window)
        d = subject_d(t_s)  # a focal stack: the subject's slice, static, always seen
        state = AreaState(1.0 / d if d > 0 else math.inf)
        return AreaView(state, state)

    causal = CausalTruth(
        area_view=area,
        window=lambda: holder[0].window,
        lens_d=true_lens,
        lens_moving=camera.lens_moving,
        now_s=clock.now_s,
        release_due_s=lambda: holder[0].release_due_s,
    )
    single, servo = _factories(job.strategy, truth, causal, job.params)
    frames: list[tuple[float, float]] = []

    def on_frame(frame: Frame) -> None:
        # the judge's trace: the true lens position of each frame
        lens_d = camera.truth_of(frame).lens_d if isinstance(camera, SimCamera) else frame.lens_d
        frames.append((0.5 * (frame.exposure_start_s + frame.exposure_end_s), lens_d))

    body = Body(
        camera,
        profile,
        window=AfWindow(*scn.af_point),
        single_shot_factory=single,
        servo_factory=servo,
        on_frame=on_frame if job.trace else None,
        judge=camera.judge_still,
    )
    holder.append(body)
    if isinstance(camera, BenchSimCamera):
        camera.needs_image = lambda: body.state in _AF_RUNNING
        # frames are drawn when the AF engine first reads them, and not at all if it does not
        # (an AF-S gate drops frames exposed during a move unread; contrast-only steps leave
        # the phase images unread)
        camera.defer_frames = job.region_render
        if not job.region_render:
            camera.phase_reader = None  # whole frames, phase images included (the reference)
        if job.region_render and not profile.trap_focus:
            # the AF engine reads only around its window; with the tracking area, the tracker
            # its window's search and the AF engine wherever the tracker can put the window
            sim = camera

            def region() -> tuple[float, float, float, float] | None:
                phase_px = sim.renderer.phase_px if sim.preset.phase_available else None
                if profile.af_area != "tracking":
                    return read_region(body.window, sim.preview_px, phase_px)
                tracker = body.tracker
                if tracker is None:
                    return None  # AF is not running: nobody reads the frame
                n = sim.schedule.upcoming(clock.now_s())
                mid_s = 0.5 * (sim.schedule.exposure_start_s(n) + sim.schedule.exposure_end_s(n))
                footprint = tracker.footprint(body.window, mid_s, sim.preview_px)
                return footprint.frame_region(sim.preview_px, phase_px)

            camera.needs_region = region
    log = photographer.run(body)
    dof = max(body.context.depth_of_focus_d, 1e-12)

    shots: list[ShotOutcome] = []
    for rec in body.shots:
        decision = log.decision_for(rec.pressed_s)
        if rec.ok and rec.exposure_start_s is not None:
            err = rec.truth.get("focus_error_d")
            end = rec.exposure_end_s if rec.exposure_end_s is not None else rec.exposure_start_s
            shots.append(
                ShotOutcome(
                    exposed=True,
                    in_focus=bool(rec.in_focus),
                    decision_s=decision,
                    exposure_s=rec.exposure_start_s,
                    lag_s=rec.exposure_start_s - decision,
                    release_lag_s=rec.lag_s,
                    error_dof=abs(float(err)) / dof if isinstance(err, int | float) else None,
                    lens_d=float(rec.truth.get("lens_d", rec.lens_d)),
                    mid_s=0.5 * (rec.exposure_start_s + end),
                )
            )
        else:
            shots.append(ShotOutcome(exposed=False, in_focus=False, decision_s=decision))
    motor = camera.motor
    result = TrialResult(
        scenario=scn.name,
        technique=job.technique,
        strategy=job.strategy,
        seed=job.seed,
        shots=shots,
        moment_press_s=list(log.moment_press_s),
        tolerance_s=scn.shoot.tolerance_s,
        travel_d=float(motor.travel_d),
        reversals=int(motor.reversals),
        simulated_s=clock.now_s(),
        frames=body.stats.frames,
    )
    if job.trace:
        result.trace = {
            "t_s": [round(t, 4) for t, _ in frames],
            "lens_d": [round(d, 6) for _, d in frames],
            "subject_d": [round(subject_d(t), 6) for t, _ in frames],
            "dof_d": dof,
            "shots": [
                [round(s.mid_s, 4), round(s.lens_d, 6), s.in_focus]
                for s in shots
                if s.exposed and s.mid_s is not None and s.lens_d is not None
            ],
            "presses_s": [round(p, 4) for p in log.moment_press_s],
            "recompose_s": scn.recompose.t_s if scn.recompose is not None else None,
        }
    camera.close()
    return result


def _run_chunk(jobs: Sequence[TrialJob]) -> list[TrialResult]:
    return [run_trial(j) for j in jobs]


def _init_worker() -> None:
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # pragma: no cover - OpenCV is a dependency; be safe anyway
        pass


# --- the whole run -------------------------------------------------------------------------
@dataclass
class BenchResult:
    seed: int
    seeds: int
    quick: bool
    preview_px: tuple[int, int]
    scenarios: list[dict[str, Any]]
    rows: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    traces: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    wall_s: float = 0.0
    jobs: int = 1
    plots: dict[str, str] = field(default_factory=dict)
    """Trace plots already drawn while the trials ran (scenario → PNG path; `trace_plots`)."""

    @property
    def simulated_s(self) -> float:
        return float(sum(r["simulated_s"] for r in self.rows))

    @property
    def violations(self) -> list[str]:
        return limit_violations(self.rows)

    def to_json(self, *, traces: bool = False) -> dict[str, Any]:
        """Everything that depends only on the inputs (no wall time): same seed, same JSON."""
        out: dict[str, Any] = {
            "seed": self.seed,
            "seeds": self.seeds,
            "quick": self.quick,
            "preview_px": list(self.preview_px),
            "techniques": {
                name: {
                    "label": t.label,
                    "profile": t.profile,
                    "focus_mode": t.focus_mode,
                    "description": t.description,
                    "strategies": list(STRATEGIES[t.focus_mode]),
                }
                for name, t in TECHNIQUES.items()
            },
            "strategies": dict(STRATEGY_INFO),
            "scenarios": self.scenarios,
            "skipped": self.skipped,
            "rows": self.rows,
            "limit_violations": self.violations,
            "simulated_s": round(self.simulated_s, 3),
        }
        if traces:
            out["traces"] = self.traces
        return out


def load_scenarios(names: Sequence[str] | None = None) -> list[Scenario]:
    """Built-in scenarios (all, in library order) or the named ones / scenario files."""
    wanted = list(names) if names else builtin_scenario_names()
    return [resolve_scenario(n) for n in wanted]


def plan_jobs(
    scenarios: Sequence[Scenario],
    seeds: Sequence[int],
    techniques: Sequence[str] | None = None,
    preview_px: tuple[int, int] = BENCH_PREVIEW_PX,
) -> list[TrialJob]:
    """Every trial, in report order; the first seed of each row records a focus trace."""
    techs = list(techniques) if techniques else list(TECHNIQUES)
    jobs = []
    for scn in scenarios:
        for tech in techs:
            for strat in strategies_for(tech):
                for i, s in enumerate(seeds):
                    jobs.append(TrialJob(scn, tech, strat, s, trace=i == 0, preview_px=preview_px))
    return jobs


def default_jobs() -> int:
    return max(
        1,
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1),
    )


def run_bench(
    scenarios: Sequence[Scenario] | None = None,
    *,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    quick: bool = False,
    jobs: int | None = None,
    techniques: Sequence[str] | None = None,
    preview_px: tuple[int, int] = BENCH_PREVIEW_PX,
    progress: bool = False,
    scheduler: str | None = None,
    trace_plots: str | Path | None = None,
) -> BenchResult:
    """Run the benchmark: every scenario × technique × strategy over seeds seed..seed+seeds-1.

    `quick` shortens the scenarios to their first `QUICK_MOMENTS` moments (the number of
    seeds is the caller's: `QUICK_SEEDS` for ``afon bench --quick``).

    `jobs` processes (default: the cores available; 1 runs in this process). `progress` shows
    a progress bar on the terminal (stderr) for runs of more than a few dozen trials.
    `scheduler` (``tcp://HOST:PORT``) runs the trials on that Dask cluster instead
    (`afon.tune.executor`); rows and results are the same either way.

    With `trace_plots` (a folder) and more than one process, each scenario's trace plot
    (`afon.bench.trace_plot.draw_trace`, ``trace-NAME.png``) is drawn by the pool as soon as that
    scenario's traced trials are in, while the other trials run, instead of after them all
    (`BenchResult.plots`; the same bytes as drawing it afterwards).
    """
    t0 = time.perf_counter()
    scns = list(scenarios) if scenarios is not None else load_scenarios()
    if quick:
        scns = [s.shortened(QUICK_MOMENTS) for s in scns]
    runnable: list[Scenario] = []
    skipped: list[dict[str, str]] = []
    for scn in scns:
        reason = scn.skip_reason()
        if reason is None:
            runnable.append(scn)
        else:
            skipped.append({"scenario": scn.name, "reason": reason})
    seed_list = list(range(seed, seed + seeds))
    plan = plan_jobs(runnable, seed_list, techniques, preview_px)
    n_jobs = default_jobs() if jobs is None else max(1, jobs)
    if scheduler is not None:
        results = _execute_on_cluster(plan, scheduler, progress and len(plan) > 40)
        plots: dict[str, str] = {}
    else:
        plot_dir = Path(trace_plots) if trace_plots is not None else None
        results, plots = _execute(plan, n_jobs, progress and len(plan) > 40, plot_dir, seed)

    rows: list[dict[str, Any]] = []
    traces: dict[str, dict[str, dict[str, Any]]] = {}
    n = len(seed_list)
    for i in range(0, len(results), n):
        group = results[i : i + n]
        rows.append(summarize(group))
        head = group[0]
        if head.trace is not None:
            traces.setdefault(head.scenario, {}).setdefault(head.technique, {})[head.strategy] = (
                head.trace
            )
    return BenchResult(
        seed=seed,
        seeds=seeds,
        quick=quick,
        preview_px=preview_px,
        scenarios=[s.describe() for s in runnable],
        rows=rows,
        skipped=skipped,
        traces=traces,
        wall_s=time.perf_counter() - t0,
        jobs=n_jobs,
        plots=plots,
    )


def _chunks(plan: Sequence[TrialJob], size: int) -> list[list[TrialJob]]:
    return [list(plan[i : i + size]) for i in range(0, len(plan), size)]


def _cost(job: TrialJob) -> float:
    """A trial's relative cost, for the order trials are handed to the pool: its simulated
    seconds, far less for a limit that draws no pixels, twice for the tracking AF area (the
    tracker on every frame: the bench's dearest trials, about 0.6 s each on this machine)."""
    scn = job.scenario
    tracking = 2.0 if scn.af_area == "tracking" else 1.0
    return scn.duration_s * (1.0 if _draws_pixels(job) else 0.15) * tracking


def _dearest_first(chunks: Sequence[Sequence[TrialJob]]) -> list[int]:
    """Chunk indices, the dearest first (`_cost`): the pool's last chunks are then cheap ones,
    so neither core waits long for the other at the end (a list schedule, longest first)."""
    return sorted(range(len(chunks)), key=lambda i: -sum(_cost(j) for j in chunks[i]))


def _execute(
    plan: Sequence[TrialJob],
    n_jobs: int,
    progress: bool,
    plot_dir: Path | None = None,
    seed: int = 0,
) -> tuple[list[TrialResult], dict[str, str]]:
    """The plan's results in plan order, and the trace plots drawn meanwhile (`run_bench`)."""
    if not plan:
        return [], {}
    bar = _Progress(len(plan)) if progress else None
    try:
        if n_jobs == 1 or len(plan) == 1:
            out = []
            for job in plan:
                out.append(run_trial(job))
                if bar is not None:
                    bar.advance(1)
            return out, {}
        size = max(1, min(8, len(plan) // (n_jobs * 8) or 1))
        chunks = _chunks(plan, size)
        results: list[list[TrialResult] | None] = [None] * len(chunks)
        # traced trials still out per scenario; their traces as they come in
        waiting: dict[str, int] = {}
        if plot_dir is not None:
            for job in plan:
                if job.trace:
                    waiting[job.scenario.name] = waiting.get(job.scenario.name, 0) + 1
        traces: dict[tuple[str, str, str], dict[str, Any]] = {}  # (scenario, tech, strat)
        plot_futures: dict[str, Future[Path]] = {}
        # "spawn": fresh interpreters, never a fork of a process whose OpenCV / BLAS threads
        # may hold locks (a forked worker can deadlock on them)
        context = multiprocessing.get_context("spawn")
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")  # one process per core: no thread pools inside
        with ProcessPoolExecutor(
            max_workers=n_jobs, mp_context=context, initializer=_init_worker
        ) as pool:
            # submitted (and so run) dearest first; results are filed by chunk, in plan order
            futures: dict[Future[list[TrialResult]], int] = {
                pool.submit(_run_chunk, chunks[i]): i for i in _dearest_first(chunks)
            }
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures[fut]
                    results[i] = got = fut.result()
                    if bar is not None:
                        bar.advance(len(chunks[i]))
                    if plot_dir is None:
                        continue
                    for r in got:
                        if r.trace is None or r.scenario not in waiting:
                            continue
                        traces[(r.scenario, r.technique, r.strategy)] = r.trace
                        waiting[r.scenario] -= 1
                        if waiting[r.scenario] == 0:
                            path = plot_dir / f"trace-{r.scenario}.png"
                            plot_futures[r.scenario] = pool.submit(
                                draw_trace, _ordered(traces, plan, r.scenario), r.scenario,
                                seed, path)
            plots = {name: str(f.result()) for name, f in plot_futures.items()}
        return [r for chunk in results if chunk is not None for r in chunk], plots
    finally:
        if bar is not None:
            bar.close()


def _ordered(traces: dict[tuple[str, str, str], dict[str, Any]], plan: Sequence[TrialJob],
             scenario: str) -> dict[str, dict[str, Any]]:
    """A scenario's traces (technique → strategy → trace) in plan order, as `run_bench` files
    them: the plot's panels and legend follow that order, whatever order trials finished."""
    out: dict[str, dict[str, Any]] = {}
    for job in plan:
        trace = traces.get((scenario, job.technique, job.strategy))
        if job.trace and job.scenario.name == scenario and trace is not None:
            out.setdefault(job.technique, {})[job.strategy] = trace
    return out


def _execute_on_cluster(
    plan: Sequence[TrialJob], scheduler: str, progress: bool
) -> list[TrialResult]:
    """The trials on a Dask cluster, in small chunks, results in plan order."""
    from afon.tune.executor import open_executor

    size = 4
    chunks = _chunks(plan, size)
    bar = _Progress(len(plan)) if progress else None
    shown = [0]

    def advance(chunks_done: int) -> None:
        trials_done = min(size * chunks_done, len(plan))
        if bar is not None:
            bar.advance(trials_done - shown[0])
        shown[0] = trials_done

    try:
        with open_executor(scheduler) as executor:
            results = executor.map(_run_chunk, chunks, on_done=advance)
    finally:
        if bar is not None:
            bar.close()
    return [r for chunk in results for r in chunk]


class _Progress:
    """Progress on stderr: a rich bar on a terminal; else a plain line about every 10% of the
    trials (for logs and CI, where a bar would be control codes)."""

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self._stream = stream if stream is not None else sys.stderr
        console = Console(file=self._stream)
        self._total = total
        self._done = 0
        self._next_line = 0
        self._t0 = time.monotonic()
        self._progress: Any = None
        if console.is_terminal:
            self._progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("bench trials", total=total)
        else:
            self._line()

    def _line(self) -> None:
        pct = 100 * self._done // max(1, self._total)
        elapsed_s = time.monotonic() - self._t0
        print(
            f"bench: {self._done}/{self._total} trials ({pct}%), {elapsed_s:.0f} s",
            file=self._stream,
            flush=True,
        )
        self._next_line = self._done + max(1, self._total // 10)

    def advance(self, n: int) -> None:
        self._done += n
        if self._progress is not None:
            self._progress.advance(self._task, n)
        elif self._done >= self._next_line or self._done == self._total:
            self._line()

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
