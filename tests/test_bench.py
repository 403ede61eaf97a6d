"""The benchmark: metrics, the limits (clairvoyant, causal), photographer models, determinism,
and the --quick run."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afon.bench.af_area import area_layer, area_view
from afon.bench.metrics import (
    ShotOutcome,
    TrialResult,
    distinct_outcomes,
    limit_violations,
    missed_moments,
    percentile,
    summarize,
    wilson_ci,
)
from afon.bench.oracle import (
    PRESS_AFTER_CONFIRM_S,
    AreaState,
    AreaView,
    CausalServo,
    CausalSingleShot,
    CausalTruth,
    ClairvoyantServo,
    ClairvoyantSingleShot,
    LookAheadError,
    Truth,
    best_lock_d,
)
from afon.bench.photographer import TECHNIQUES, Human, Photographer
from afon.bench.runner import (
    BENCH_PREVIEW_PX,
    STRATEGIES,
    TrialJob,
    make_camera,
    run_bench,
    run_trial,
    scene_for,
)
from afon.bench.scenario import load_builtin_scenario
from afon.body import Body
from afon.cameras.base import Frame
from afon.cameras.sim.camera import SimCamera
from afon.cli import main
from afon.clock import VirtualClock
from afon.focus.context import context_for
from afon.focus.drive import run_single_shot
from afon.focus.engine import AfContext, AfStatus, AfWindow, travel_estimate_s
from afon.focus.hybrid import HybridAf
from afon.focus.states import AfState, Cause

ROW_FIELDS = (
    "scenario",
    "technique",
    "strategy",
    "keeper_rate",
    "keeper_ci95",
    "lag_median_s",
    "lag_p95_s",
    "missed",
    "reversals",
    "trials",
    "lens_travel_d",
    "focus_error_dof_median",
    "focus_error_dof_p90",
    "shots",
    "moments",
)


# --- metrics ---------------------------------------------------------------------------------
def test_wilson_interval_matches_hand_computed_values() -> None:
    lo, hi = wilson_ci(5, 10)
    assert (lo, hi) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson_ci(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_ci(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert wilson_ci(0, 0) == (0.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 400).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_matches_scipy_on_integer_counts(counts: tuple[int, int]) -> None:
    from scipy.stats import binomtest

    k, n = counts
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_ci(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_percentile_interpolates_linearly() -> None:
    xs = [0.3, 0.1, 0.4, 0.2, 0.9]  # sorted: 0.1 0.2 0.3 0.4 0.9
    expected = {0: 0.1, 50: 0.3, 90: 0.4 + 0.5 * 0.6, 95: 0.4 + 0.5 * 0.8, 100: 0.9}
    for q, value in expected.items():
        assert percentile(xs, q) == pytest.approx(value)
    assert percentile([], 50) is None


def _shot(t: float | None, ok: bool = True) -> ShotOutcome:
    return ShotOutcome(exposed=t is not None, in_focus=ok, decision_s=0.0, exposure_s=t)


def test_missed_moments_need_an_in_focus_exposure_within_the_tolerance() -> None:
    shots = [_shot(1.05), _shot(2.3), _shot(3.05, ok=False), _shot(None, ok=False)]
    # 1.0: caught at 1.05; 2.0: 2.3 is too late; 3.0: out of focus; 4.0: nothing at all
    assert missed_moments([1.0, 2.0, 3.0, 4.0], shots, 0.15) == 3


def test_summarize_counts_failures_as_shots_that_are_not_keepers() -> None:
    trial = TrialResult("s", "bbf-af-c", "predictive", 0, moment_press_s=[1.0, 2.0])
    trial.shots = [
        ShotOutcome(True, True, 1.0, 1.05, lag_s=0.05, release_lag_s=0.05, error_dof=0.2),
        ShotOutcome(False, False, 2.0),
    ]
    row = summarize([trial])
    assert row["shots"] == 2 and row["keepers"] == 1 and row["failures"] == 1
    assert row["keeper_rate"] == 0.5 and row["missed"] == 1
    assert row["lag_median_s"] == pytest.approx(0.05)
    empty = summarize([TrialResult("s", "bbf-af-c", "predictive", 1)])
    assert empty["keeper_rate"] is None and empty["keeper_ci95"] == [0.0, 1.0]


def _row(strategy: str, keepers: int, shots: int, tech: str = "bbf-af-c") -> dict[str, Any]:
    lo, hi = wilson_ci(keepers, shots)
    return {
        "scenario": "s",
        "technique": tech,
        "strategy": strategy,
        "shots": shots,
        "keepers": keepers,
        "keeper_rate": keepers / shots,
        "keeper_ci95": [lo, hi],
    }


def test_limit_check_catches_a_strategy_above_a_limit() -> None:
    rows = [
        _row("clairvoyant", 50, 100),
        _row("predictive", 70, 100),
        _row("non-predictive", 55, 100),
    ]
    found = limit_violations(rows)
    assert len(found) == 1 and "predictive keeper rate 0.700" in found[0]
    assert "clairvoyant" in found[0]
    assert limit_violations([_row("clairvoyant", 90, 100), _row("predictive", 90, 100)]) == []
    # the causal limit bounds the causal strategies (AF-C), not the clairvoyant limit
    rows = [_row("clairvoyant", 95, 100), _row("causal", 60, 100), _row("predictive", 80, 100)]
    found = limit_violations(rows)
    assert len(found) == 1 and "predictive" in found[0] and "causal limit" in found[0]
    af_s = [
        _row(s, k, 100, "bbf-af-s")
        for s, k in (("clairvoyant", 95), ("causal", 60), ("hybrid", 80))
    ]
    assert limit_violations(af_s) == []  # AF-S: beating it by press-timing luck is possible


def _moments_row(strategy: str, keepers: int, shots: int, missed: int, moments: int
                 ) -> dict[str, Any]:
    row = _row(strategy, keepers, shots, "bbf-af-s")
    row.update(moments=moments, missed=missed, missed_rate=missed / moments,
               caught_ci95=list(wilson_ci(moments - missed, moments)))
    return row


def test_limit_check_bounds_moments_caught_not_the_share_of_fewer_shots() -> None:
    """A slow AF-S that takes 20 late sharp shots of a 100-frame burst (missing every moment)
    does not beat a limit that took all 100 with 40 sharp: it caught fewer moments. One that
    caught more moments than the limit's interval allows does beat it."""
    limit = _moments_row("clairvoyant", 40, 100, 60, 100)
    slow = _moments_row("hybrid", 20, 20, 100, 100)
    assert limit_violations([limit, slow]) == []
    greedy = _moments_row("hybrid", 60, 100, 40, 100)
    found = limit_violations([limit, greedy])
    assert any("caught 0.600 of the moments" in f for f in found)
    assert any("keeper rate 0.600" in f and "on as many shots" in f for f in found)


def _trial(seed: int, errors: list[float]) -> TrialResult:
    t = TrialResult("s", "bbf-af-s", "libcamera", seed, moment_press_s=[1.0] * len(errors))
    t.shots = [ShotOutcome(True, e < 1.0, 1.0, 1.05, error_dof=e) for e in errors]
    return t


def test_identical_trials_count_once_in_the_interval() -> None:
    same = [_trial(s, [2.0, 2.0, 2.0]) for s in range(20)]
    row = summarize(same)
    assert row["distinct_outcomes"] == 1 and row["keeper_rate"] == 0.0
    # 60 identical misses weigh as the 3 shots of one trial, not as 60 samples
    assert row["keeper_ci95"][1] == pytest.approx(wilson_ci(0, 3)[1], abs=1e-4)
    assert row["keeper_ci95"][1] > 0.5 > wilson_ci(0, 60)[1]
    varied = [_trial(s, [2.0 + 0.01 * s, 2.0, 2.0]) for s in range(20)]
    assert distinct_outcomes(varied) == 20
    assert summarize(varied)["keeper_ci95"][1] == pytest.approx(wilson_ci(0, 60)[1], abs=1e-4)


# --- the limits ------------------------------------------------------------------------------
def _ctx() -> AfContext:
    return AfContext(
        lens_min_d=0.0,
        lens_max_d=1.0,
        frame_rate_hz=30.0,
        depth_of_focus_d=0.01,
        motor_speed_d_per_s=2.0,
        motor_accel_d_per_s2=100.0,
        release_lag_s=0.05,
    )


def _frame(t: float) -> Frame:
    img = np.zeros((4, 4, 3), np.uint8)
    return Frame(0, img, t - 0.02, t - 0.01, t, 0.5, 0.5, False)


def test_best_lock_covers_most_exposures_of_a_receding_subject() -> None:
    def subject(t: float) -> float:
        return 0.5 - 0.02 * t  # receding by 2 depths of focus per second

    times = [0.0, 0.5, 1.0, 1.5, 2.0]
    lock = best_lock_d(subject, times, 0.01, subject(0.0))
    covered = sum(abs(subject(t) - lock) <= 0.01 for t in times)
    assert covered == 2  # no single position can hold more than ±1 DoF = 1 s of this motion
    assert best_lock_d(lambda t: 0.3, times, 0.01, 0.0) == pytest.approx(0.3)


def test_clairvoyant_af_s_locks_for_the_planned_exposure_and_confirms_at_rest() -> None:
    now = [1.0]
    moving = [True]
    truth = Truth(
        subject_d=lambda t: 0.2 + 0.1 * max(0.0, t - 1.0),
        lens_d=lambda: 0.3,
        lens_moving=lambda: moving[0],
        now_s=lambda: now[0],
        exposures=lambda confirm: [2.0],
    )
    af = ClairvoyantSingleShot(_ctx(), truth)
    target = af.start(0.0, 1.0)
    assert target == pytest.approx(0.3)  # where the subject will be at the exposure
    assert af.update(_frame(1.03), AfWindow()).status is AfStatus.SCANNING
    moving[0] = False
    assert af.update(_frame(1.07), AfWindow()).status is AfStatus.FOCUSED


def test_clairvoyant_servo_aims_at_the_next_exposure() -> None:
    now = [1.0]
    truth = Truth(
        subject_d=lambda t: 0.1 * t,
        lens_d=lambda: 0.1,
        lens_moving=lambda: False,
        now_s=lambda: now[0],
        exposures=lambda c: [0.5, 1.2, 1.4],
    )
    servo = ClairvoyantServo(_ctx(), truth)
    servo.start(0.0, 1.0)
    step = servo.update(_frame(1.0), AfWindow(), aim_s=1.02)
    assert step.target_d == pytest.approx(0.12)
    assert step.status is AfStatus.FOCUSED  # lens 0.1 = subject now
    plan_free = Truth(
        subject_d=lambda t: 0.1 * t,
        lens_d=lambda: 0.0,
        lens_moving=lambda: False,
        now_s=lambda: now[0],
    )
    servo = ClairvoyantServo(_ctx(), plan_free)
    step = servo.update(_frame(1.0), AfWindow(), aim_s=1.02)
    # no press planned: the subject at now + release lag + half a frame
    assert step.target_d == pytest.approx(0.1 * (1.0 + 0.05 + 0.5 / 30))


def _causal(
    view: Any,
    now: list[float],
    lens: list[float] | None = None,
    moving: list[bool] | None = None,
    due: float | None = None,
) -> CausalTruth:
    return CausalTruth(
        area_view=view,
        window=AfWindow,
        now_s=lambda: now[0],
        lens_d=lambda: (lens or [0.0])[0],
        lens_moving=lambda: (moving or [False])[0],
        release_due_s=lambda: due,
    )


def test_causal_limit_cannot_look_ahead() -> None:
    now = [1.0]
    truth = _causal(lambda t, w: AreaView(AreaState(2.0), AreaState(2.0)), now)
    assert truth.view(1.0, AfWindow()).seen.distance_m == 2.0
    with pytest.raises(LookAheadError):
        truth.view(1.01, AfWindow())


def test_causal_servo_extrapolates_the_present_state_to_the_bodys_aim() -> None:
    now = [1.0]
    asked: list[float] = []

    def view(t: float, w: AfWindow) -> AreaView:
        asked.append(t)
        # 10 m at t = 1 s, approaching at 2 m/s, decelerating at 1 m/s²
        s = AreaState(10.0 - 2.0 * (t - 1.0), -2.0 + (t - 1.0), 1.0)
        return AreaView(s, s)

    servo = CausalServo(_ctx(), _causal(view, now, due=1.45))
    step = servo.update(_frame(1.0), AfWindow(), aim_s=1.5)
    expected_m = 10.0 - 2.0 * 0.5 + 0.5 * 1.0 * 0.25
    assert step.target_d == pytest.approx(1.0 / expected_m)
    assert max(asked) <= now[0]  # only the present was asked for
    # no release requested: the exposure of a press during the next frame
    idle = CausalServo(_ctx(), _causal(view, now))
    lead = 0.05 + 0.5 / 30
    step = idle.update(_frame(1.0), AfWindow(), aim_s=1.5)
    assert step.target_d == pytest.approx(1.0 / (10.0 - 2.0 * lead + 0.5 * lead * lead))


def test_causal_limit_holds_the_subject_behind_an_obstacle_and_else_sees_the_area() -> None:
    now = [0.0]
    hidden = [False]

    def view(t: float, w: AfWindow) -> AreaView:
        obstacle = AreaState(2.0)
        if hidden[0]:
            return AreaView(None, obstacle)
        return AreaView(AreaState(5.0 + t, 1.0), AreaState(5.0 + t, 1.0))

    servo = CausalServo(_ctx(), _causal(view, now, due=0.0))
    assert servo.update(_frame(0.0), AfWindow(), aim_s=0.0).target_d == pytest.approx(0.2)
    hidden[0] = True
    now[0] = 1.0
    # behind the obstacle: the subject last seen at 5 m receding at 1 m/s, extrapolated
    assert servo.update(_frame(1.0), AfWindow(), aim_s=1.0).target_d == pytest.approx(1 / 6.0)
    # never seen (a fresh activation behind the obstacle): what the AF area sees
    fresh = CausalServo(_ctx(), _causal(view, now, due=0.0))
    assert fresh.update(_frame(1.0), AfWindow(), aim_s=1.0).target_d == pytest.approx(0.5)


def test_causal_af_s_aims_at_the_earliest_exposure_and_confirms_at_rest() -> None:
    now = [1.0]
    lens = [0.0]
    moving = [True]
    view = lambda t, w: AreaView(AreaState(4.0, -1.0), AreaState(4.0, -1.0))  # noqa: E731
    af = CausalSingleShot(_ctx(), _causal(view, now, lens, moving))
    target = af.start(0.0, 1.0)
    assert target is not None
    # where the approaching subject will be when the lens has arrived, a frame has confirmed
    # and the release lag has passed: 4 m − 1 m/s × (travel + 1.5 frames + 0.05 s)
    lead = travel_estimate_s(_ctx(), target) + 1.5 / 30 + PRESS_AFTER_CONFIRM_S + 0.05
    assert target == pytest.approx(1.0 / (4.0 - lead), rel=2e-3)
    assert af.update(_frame(1.03), AfWindow()).status is AfStatus.SCANNING
    moving[0] = False
    lens[0] = af.commanded_d or 0.0
    assert af.update(_frame(1.07), AfWindow()).status is AfStatus.FOCUSED


def test_area_view_sees_the_obstacle_and_loses_the_subject_behind_it() -> None:
    scn = load_builtin_scenario("obstacle")
    cam, _ = make_camera(scn, 0, VirtualClock(), render=False)
    window = AfWindow(0.5, 0.5, 0.1, 0.12)
    clear = area_view(cam, 0.0, window)
    assert clear.subject is not None and clear.subject.distance_m == pytest.approx(6.0)
    t_hidden = 2.0
    layer = area_layer(cam, t_hidden, window)
    assert layer is not None and layer.kind == "obstacle"
    hidden = area_view(cam, t_hidden, window)
    assert hidden.subject is None and hidden.seen.distance_m == pytest.approx(3.0)


def test_area_view_gives_a_runners_velocity() -> None:
    scn = load_builtin_scenario("runner")
    cam, _ = make_camera(scn, 0, VirtualClock(), render=False)
    v = area_view(cam, 1.0, AfWindow(0.5, 0.5, 0.12, 0.25))
    assert v.subject is not None
    assert v.subject.velocity_m_s == pytest.approx(-10.0, abs=1e-6)
    assert v.subject.accel_m_s2 == pytest.approx(0.0, abs=1e-3)


# --- photographers -----------------------------------------------------------------------------
def test_reaction_times_are_seeded_lognormal_around_0_2_s() -> None:
    a = [Human("k").moment_reaction() for _ in range(1)]
    assert a == [Human("k").moment_reaction()]
    h = Human("stats")
    draws = [h.camera_reaction() for _ in range(2000)]
    assert min(draws) >= 0.1 and max(draws) <= 0.6
    assert statistics.median(draws) == pytest.approx(0.2, abs=0.01)


def _play(technique: str, scenario: str, seed: int = 0) -> tuple[Body, Any]:
    scn = load_builtin_scenario(scenario)
    camera, _ = make_camera(scn, seed, VirtualClock())
    ph = Photographer(technique, scn, Human(f"{scn.name}:{seed}"))
    body = Body(camera, ph.profile(), window=AfWindow(*scn.af_point), judge=camera.judge_still)
    log = ph.run(body)
    return body, log


def _activations(body: Body) -> int:
    return sum(
        1
        for c in body.af.history
        if c.new in (AfState.ACTIVE_SCAN,)
        or (c.new is AfState.PASSIVE_SCAN and c.old is AfState.INACTIVE)
    )


def test_bbf_af_s_focuses_once_and_the_shutter_never_refocuses() -> None:
    body, _ = _play("bbf-af-s", "portrait")
    shots = [s for s in body.shots if s.ok]
    assert len(shots) == 3 and all(s.in_focus for s in shots)
    assert _activations(body) == 1
    assert len({round(s.lens_d, 9) for s in shots}) == 1  # locked: the lens never moved
    lag = body.camera.capabilities.release_lag_s
    assert all(s.lag_s == pytest.approx(lag) for s in shots)
    assert body.profile.bbf and body.focus_mode == "AF-S"


def test_shutter_af_s_refocuses_before_every_frame_and_loses_the_recomposed_face() -> None:
    body, log = _play("shutter-af-s", "portrait")
    shots = body.shots
    assert shots and _activations(body) >= len(shots)
    first = shots[0]
    assert first.ok and first.in_focus  # prefocused on the face before the recompose
    later = [s for s in shots[1:] if s.ok]
    assert later and not any(s.in_focus for s in later)  # refocused on the background
    # each later frame was decided by a half-press before its AF cycle
    for s in later:
        assert log.decision_for(s.pressed_s) < s.pressed_s


def test_bbf_af_c_lets_go_of_af_on_before_the_recompose() -> None:
    body, _ = _play("bbf-af-c", "portrait")
    rec = load_builtin_scenario("portrait").recompose
    assert rec is not None
    locks = [c for c in body.af.history if c.cause is Cause.AF_TRIGGER and c.new.locked]
    assert locks and locks[0].t_s == pytest.approx(rec.t_s, abs=1e-6)
    assert all(s.in_focus for s in body.shots if s.ok)


def test_shutter_af_c_holds_the_half_press_through_the_recompose() -> None:
    body, _ = _play("shutter-af-c", "portrait")
    shots = [s for s in body.shots if s.ok]
    assert shots and not any(s.in_focus for s in shots)  # the servo followed the background


def test_recompose_pans_every_layer() -> None:
    scn = load_builtin_scenario("portrait")
    scene = scene_for(scn)
    rec = scn.recompose
    assert rec is not None and scene.subject is not None
    x0, _ = scene.subject.position(0.0)
    x1, _ = scene.subject.position(rec.t_s + rec.duration_s + 0.01)
    assert x0 == pytest.approx(0.3 + rec.shift[0]) and x1 == pytest.approx(0.3)


# --- the AF at the benchmark's preview size ------------------------------------------------------
@pytest.mark.parametrize(("scene", "point"), [("portrait", (0.3, 0.5)), ("obstacle", (0.5, 0.5))])
def test_af_s_accuracy_holds_at_the_bench_preview_size(
    scene: str, point: tuple[float, float]
) -> None:
    """The bench renders smaller previews; hybrid AF-S still ends within the depth of focus."""
    errors = []
    for seed in range(2):
        cam = SimCamera(scene, "50mm-f1.8", seed=seed, preview_px=BENCH_PREVIEW_PX, start_d=0.0)
        ctx = context_for(cam)
        res = run_single_shot(cam, HybridAf(ctx), AfWindow(*point, 0.1, 0.12))
        assert res.status is AfStatus.FOCUSED
        subject_d = 1.0 / cam.subject_distance_m(cam.clock.now_s())
        errors.append(abs(subject_d - res.lens_d) / ctx.depth_of_focus_d)
    assert max(errors) < 1.0, errors


def test_servo_accuracy_holds_at_the_bench_preview_size() -> None:
    """The predictive servo on the obstacle scene's static subject (before the jogger):
    within the depth of focus at the bench's preview size (at 320×240 it is not)."""
    scn = load_builtin_scenario("obstacle")
    res = run_trial(TrialJob(scn, "bbf-af-c", "predictive", 0))
    early = [s for s in res.shots if s.exposed and s.exposure_s is not None and s.exposure_s < 1.6]
    assert early and all(s.error_dof is not None and s.error_dof < 1.0 for s in early)


# --- determinism and the command ---------------------------------------------------------------
def test_same_seed_same_trial() -> None:
    job = TrialJob(load_builtin_scenario("low-light"), "shutter-af-s", "hybrid", 3, trace=True)
    assert run_trial(job) == run_trial(job)


def test_same_seed_same_json_across_process_counts() -> None:
    scns = [load_builtin_scenario("stack"), load_builtin_scenario("low-light")]
    kwargs: dict[str, Any] = {"seed": 7, "seeds": 2, "techniques": ["bbf-af-s"]}
    a = run_bench(scns, jobs=1, **kwargs).to_json(traces=True)
    b = run_bench(scns, jobs=2, **kwargs).to_json(traces=True)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = run_bench(scns, jobs=1, **{**kwargs, "seed": 8}).to_json()
    assert c["rows"] != a["rows"]


def test_the_pool_gets_the_dearest_trials_first() -> None:
    """Chunks go to the pool dearest first (a tracking scenario's AF trials before a limit
    that draws nothing), every chunk once; `test_same_seed_same_json_across_process_counts`
    shows the results still come back in plan order."""
    from afon.bench.runner import _chunks, _dearest_first, plan_jobs

    scns = [load_builtin_scenario("low-light"), load_builtin_scenario("bird-tracking")]
    chunks = _chunks(plan_jobs(scns, [0, 1]), 2)
    order = _dearest_first(chunks)
    assert sorted(order) == list(range(len(chunks)))
    first, last = chunks[order[0]][0], chunks[order[-1]][0]
    assert first.scenario.name == "bird-tracking" and first.strategy not in ("clairvoyant",)
    assert last.strategy in ("clairvoyant", "causal") and last.scenario.name == "low-light"
    assert order != list(range(len(chunks)))  # plan order is scenario by scenario


def test_missing_stack_is_skipped_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AFON_DATA_DIR", str(tmp_path))
    scn = load_builtin_scenario("stack")
    reason = scn.skip_reason()
    assert reason is not None and "pcb-depthmap" in reason and "not found" in reason
    result = run_bench([scn], seeds=1, jobs=1)
    assert result.rows == [] and result.skipped == [{"scenario": "stack", "reason": reason}]


def test_quick_run_writes_the_report_and_no_limit_is_beaten(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "--quick", "--json", "--seed", "0", "--out", str(out)]) == 0
    data = json.loads(capsys.readouterr().out)
    rows = data["rows"]
    scenarios = [s["name"] for s in data["scenarios"]]
    assert len(scenarios) >= 6 and data["seeds"] == 2 and data["quick"] is True
    assert len(rows) == len(scenarios) * sum(
        len(STRATEGIES[t.focus_mode]) for t in TECHNIQUES.values()
    )
    for row in rows:
        for field in ROW_FIELDS:
            assert field in row, field
        assert row["trials"] == 2
        lo, hi = row["keeper_ci95"]
        assert 0.0 <= lo <= hi <= 1.0
        if row["keeper_rate"] is not None:
            assert lo <= row["keeper_rate"] <= hi
        assert row["strategy"] in STRATEGIES[TECHNIQUES[row["technique"]].focus_mode]

    # the report: Markdown with tables and plots beside it
    report = (out / "report.md").read_text()
    assert "## Summary" in report and "## All rows" in report
    assert "limit beaten" not in report.lower()
    for name in scenarios:
        png = out / f"trace-{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
        assert f"(trace-{name}.png)" in report
    assert (out / "keepers.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "results.json").read_text())["rows"] == rows

    # the clairvoyant limit bounds everything: per scenario × technique, no strategy's keeper
    # rate may lie above its 95% interval by more than one shot
    bound = {(r["scenario"], r["technique"]): r for r in rows if r["strategy"] == "clairvoyant"}
    assert len(bound) == len(scenarios) * len(TECHNIQUES)
    checked = 0
    for r in rows:
        o = bound[(r["scenario"], r["technique"])]
        if r["strategy"] == "clairvoyant" or r["keeper_rate"] is None:
            continue
        assert o["keeper_rate"] is not None, (r["scenario"], r["technique"])
        limit = o["keeper_ci95"][1] + 1.0 / r["shots"]
        assert r["keeper_rate"] <= limit + 1e-9, (r, o)
        checked += 1
    assert checked >= len(rows) // 2
    assert data["limit_violations"] == []
    names = {r["strategy"] for r in rows}
    assert {"clairvoyant", "causal", "libcamera", "hybrid", "predictive"} <= names
    assert math.isfinite(data["simulated_s"]) and data["simulated_s"] > 0


def test_causal_limit_keeps_the_runner_in_focus_in_the_tracking_benchmark() -> None:
    from afon.bench.tracking import run_burst

    res = run_burst("causal", seed=0)
    assert res.shots >= 15
    # a perfect present and the body's aim: every still within the depth of focus
    assert res.keepers == res.shots


@pytest.mark.parametrize(
    ("scenario", "technique", "strategy"),
    [("obstacle", "bbf-af-s", "libcamera"), ("obstacle", "bbf-af-c", "predictive"),
     ("bird", "bbf-af-s", "hybrid"), ("low-light", "bbf-af-c", "libcamera"),
     ("portrait", "bbf-af-c", "non-predictive"), ("crossing", "bbf-af-c", "predictive"),
     ("stop", "shutter-af-s", "libcamera"), ("bird-tracking", "bbf-af-c", "predictive"),
     ("crossing", "bbf-af-s", "libcamera")],
)
def test_rendering_only_what_the_af_engine_reads_changes_no_result(
    scenario: str, technique: str, strategy: str
) -> None:
    """A trial whose frames are drawn only around the AF window (`afon.focus.footprint`: the
    contrast window, the phase search, libcamera's statistics cells; with the tracking area the
    tracker's search and those wherever it can put the window) gives exactly the result of one
    drawn in whole frames: every reading of the AF engine is the same. The scenarios cover the
    single, zone and tracking AF areas, phase detection on the 50 mm and 300 mm presets, and
    the portrait's face (a layer in depth slices)."""
    import dataclasses

    scn = load_builtin_scenario(scenario).shortened(2)
    job = TrialJob(scn, technique, strategy, 3)
    whole = run_trial(dataclasses.replace(job, region_render=False))
    part = run_trial(job)
    assert whole.frames > 0 and whole.shots
    assert dataclasses.asdict(part) == dataclasses.asdict(whole)


def test_the_report_drawn_by_worker_processes_is_the_one_drawn_here(tmp_path: Path) -> None:
    """Trace plots drawn by the bench's pool while trials run (`trace_plots`) and by
    `write_report(jobs=2)` in spawned processes: the same report and the same plots, byte
    for byte, as drawing them all in this process afterwards."""
    from afon.bench.report import write_report

    scns = [load_builtin_scenario(n) for n in ("portrait", "obstacle")]
    pool_dir = tmp_path / "pool"
    result = run_bench(scns, seeds=1, quick=True, jobs=2, trace_plots=pool_dir)
    assert set(result.plots) == {"portrait", "obstacle"}
    assert all(Path(v).parent == pool_dir for v in result.plots.values())
    dirs = [write_report(result, pool_dir, jobs=2).parent,
            write_report(result, tmp_path / "one", jobs=1).parent,
            write_report(result, tmp_path / "two", jobs=2).parent]
    one = dirs[1]
    pngs = sorted(p.name for p in one.glob("*.png"))
    assert {"trace-portrait.png", "trace-obstacle.png", "keepers.png"} <= set(pngs)
    for other in (dirs[0], dirs[2]):
        assert (one / "report.md").read_text() == (other / "report.md").read_text()
        assert pngs == sorted(p.name for p in other.glob("*.png"))
        for name in pngs:
            assert (one / name).read_bytes() == (other / name).read_bytes(), (other, name)
