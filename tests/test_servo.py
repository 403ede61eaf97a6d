"""Servo AF (AF-C) on rendered frames: prediction, lock-on, fallback, status, registry.

Every test drives `SimCamera` frames through the servo on the virtual clock; the focus error is
judged with the simulation's ground truth (``camera.truth``), which the servo never sees.
"""

from __future__ import annotations

import dataclasses

import pytest

from afon.bench.tracking import run_burst
from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.scene import Crossing, Scene, resolve_scene
from afon.clock import VirtualClock
from afon.focus.context import context_for
from afon.focus.engine import AfStatus, AfWindow, ServoAf
from afon.focus.lockon import LOCK_ON_PRESETS
from afon.focus.servo import NonPredictiveServo, PredictiveServo
from afon.focus.servo_registry import SERVO, make_servo


# --- the runner: prediction and release-lag compensation -----------------------------------
def test_runner_burst_predictive_keeps_90_percent_in_focus() -> None:
    """10 m/s from 30 m to 5 m, 300 mm f/2.8 (DoF ±0.00093 D), 10 fps, 50 ms release lag.

    On the honest camera (reported lens positions, pipeline latency, PDAF gain below ideal,
    rolling shutter) it keeps 37 of 39 (94.9%); before it, 95% held. The issue's ≥ 98% target
    is measured by the benchmark (`benchmarks/af.py` tracking, `afon bench`), not here."""
    pred = [run_burst("predictive", seed=s) for s in (0, 1)]
    non = run_burst("non-predictive", seed=0)
    keepers = sum(r.keepers for r in pred) / sum(r.shots for r in pred)
    print(f"keeper rate: predictive {keepers:.2f}, non-predictive {non.keepers / non.shots:.2f}")
    assert sum(r.shots for r in pred) >= 36
    assert keepers >= 0.9
    assert non.keepers / non.shots < 0.5


def test_a_reading_is_placed_where_the_lens_was_during_the_af_windows_rows() -> None:
    """The 300 mm's encoder reports the lens at the first row's start and the last row's end;
    a tracking move set off at the frame boundary is over within ~10 ms, so the AF window's
    rows (mid-frame) saw the lens at its end position, not at the mean of the two reports
    (0.2-0.6 DoF off here). The servo's reading must use where the lens truly was."""
    clock = VirtualClock()
    cam = SimCamera("runner", "300mm-f2.8", clock=clock, seed=0, preview_px=(480, 360))
    ctx = context_for(cam)
    servo = PredictiveServo(ctx)
    window = AfWindow(0.5, 0.5, 0.12, 0.25)
    dof = ctx.depth_of_focus_d
    servo.start(cam.lens_position_d(), clock.now_s())
    period = 1.0 / ctx.frame_rate_hz
    errors, mean_errors = [], []
    for i in range(36):
        frame = cam.next_frame(phase=True)
        step = servo.update(frame, window, frame.exposure_start_s + period + 0.002)
        if step.target_d is not None:
            cam.move_lens(step.target_d)
        used, phase = servo.last_valid, servo.last_phase
        if i < 10 or servo.last_verdict is None or used is None or phase is None:
            continue  # acquisition: the lens crosses the range
        assert phase.defocus_d is not None
        true_lens = cam.truth_of(frame).lens_d
        errors.append(abs(used.focus_d - phase.defocus_d - true_lens) / dof)
        mean_errors.append(abs(frame.lens_d - true_lens) / dof)
    assert len(errors) >= 20
    assert max(mean_errors) > 0.3  # the frame's mean report would be off here
    assert max(errors) < 0.15, errors


def test_prediction_beats_following_the_last_measurement() -> None:
    """Even where the phase signal is coarse, aiming at the exposure beats aiming at the past."""
    pred = run_burst("predictive", seed=3)
    non = run_burst("non-predictive", seed=3)
    assert pred.shots == non.shots >= 18
    mean_abs = [sum(abs(e) for e in r.error_d) / r.shots for r in (pred, non)]
    assert pred.keepers > non.keepers
    assert mean_abs[0] < 0.5 * mean_abs[1]
    # the non-predictive servo lags behind an approaching subject: the lens is too far
    assert sum(1 for e in non.error_d if e > 0) >= 0.9 * non.shots


# --- lock-on ---------------------------------------------------------------------------------
def _obstacle_scene(cover_s: float = 0.3) -> Scene:
    """The built-in obstacle scene with the passer-by crossing the frame centre in `cover_s`.

    On the 50 mm preset the passer-by (0.6 m at 3 m) is 0.315 frame widths wide; it crosses
    at 0.315 / cover_s frame widths per second, centred on t = 2 s.
    """
    scene = resolve_scene("obstacle")
    passer = scene.layer("passer-by")
    speed = 0.315 / cover_s
    half_s = 1.2 / speed  # from x = -0.7 to 1.7
    moved = dataclasses.replace(passer, x=Crossing(-0.7, 1.7, 2.0 - half_s, 2.0 + half_s))
    return dataclasses.replace(
        scene, layers=tuple(moved if layer is passer else layer for layer in scene.layers)
    )


def _run_obstacle(lock_on_s: float) -> tuple[list[tuple[float, float, float]], float]:
    """AF-C on the obstacle scene, 50 mm f/1.8: (t, lens_d, subject error in DoF) per frame."""
    clock = VirtualClock()
    cam = SimCamera(_obstacle_scene(), "50mm-f1.8", clock=clock, seed=0)
    ctx = context_for(cam)
    servo = make_servo("predictive", ctx, lock_on_s=lock_on_s)
    window = AfWindow(0.5, 0.5, 0.08, 0.2)
    servo.start(cam.lens_position_d(), clock.now_s())
    period = 1.0 / ctx.frame_rate_hz
    rows = []
    while clock.now_s() < 2.8:
        frame = cam.next_frame(phase=True)
        mid = 0.5 * (frame.exposure_start_s + frame.exposure_end_s)
        step = servo.update(frame, window, mid + period)  # the next frame's mid-exposure
        if step.target_d is not None:
            cam.move_lens(step.target_d)
        err = cam.truth_of(frame).focus_error_d
        rows.append((mid, frame.lens_d, err / ctx.depth_of_focus_d))
    return rows, ctx.depth_of_focus_d


def test_lock_on_ignores_an_obstacle_that_lock_on_off_follows() -> None:
    on, dof = _run_obstacle(LOCK_ON_PRESETS["normal"])
    off, _ = _run_obstacle(0.0)
    before = [lens for t, lens, _ in on if 1.4 <= t < 1.7]
    crossing_on = [lens for t, lens, _ in on if 1.7 <= t < 2.4]
    crossing_off = [lens for t, lens, _ in off if 1.7 <= t < 2.4]
    rest = sum(before) / len(before)
    # lock-on: the lens stays put while the passer-by (3 m, 8 DoF nearer) covers the subject
    # (within 1.1 DoF of where it rested: 1.03 measured since frames integrate the lens over
    # each row's exposure and blur moving layers; the next test checks the subject stays sharp)
    assert max(abs(lens - rest) for lens in crossing_on) < 1.1 * dof
    # lock-on off: the lens runs towards the passer-by (nearer = more dioptres)
    assert max(crossing_off) - rest > 4.0 * dof


def test_lock_on_keeps_the_subject_within_depth_of_field_throughout() -> None:
    on, _ = _run_obstacle(LOCK_ON_PRESETS["normal"])
    off, _ = _run_obstacle(0.0)
    assert all(abs(e) <= 1.0 for t, _, e in on if t >= 1.0)
    assert any(abs(e) > 1.0 for t, _, e in off if 1.7 <= t < 2.4)


# --- static subject, fallback and failure ----------------------------------------------------
def _run_static(
    scene: str,
    preset: str,
    frames: int,
    *,
    phase: bool = True,
    window: AfWindow | None = None,
    servo: ServoAf | None = None,
) -> tuple[list[AfStatus], list[float], list[int], float]:
    clock = VirtualClock()
    cam = SimCamera(scene, preset, clock=clock, seed=0)
    ctx = context_for(cam)
    s = servo if servo is not None else PredictiveServo(ctx)
    win = window if window is not None else AfWindow(0.5, 0.5, 0.1, 0.2)
    s.start(cam.lens_position_d(), clock.now_s())
    statuses, errors, commands = [], [], []
    period = 1.0 / ctx.frame_rate_hz
    for i in range(frames):
        frame = cam.next_frame(phase=phase)
        step = s.update(frame, win, frame.exposure_end_s + period)
        if step.target_d is not None:
            cam.move_lens(step.target_d)
            commands.append(i)
        statuses.append(step.status)
        err = cam.truth_of(frame).focus_error_d
        errors.append(err / ctx.depth_of_focus_d)
    return statuses, errors, commands, ctx.depth_of_focus_d


def test_static_subject_focuses_and_the_dead_band_stops_wobble() -> None:
    statuses, errors, commands, _ = _run_static(
        "portrait", "50mm-f1.8", 45, window=AfWindow(0.3, 0.45, 0.06, 0.12)
    )
    assert statuses[-1] is AfStatus.FOCUSED
    assert statuses.index(AfStatus.FOCUSED) < 10
    # once there, no new commands: the squelch holds the lens still
    assert not [i for i in commands if i >= 20]
    assert abs(errors[-1]) < 4.0  # within the phase signal's resolution (see module doc)


@pytest.mark.parametrize(("scene", "preset"), [("portrait", "50mm-f1.8"), ("portrait", "cm3")])
def test_the_confirm_is_a_measurement_not_a_forecast(scene: str, preset: str) -> None:
    """PASSIVE_FOCUSED only once a reading shows the lens on the subject: a photographer who
    lets go of AF-ON at the first confirm must have the subject in focus. (Before: the 50 mm
    confirmed in frame 3 with the lens still 0.062 D = 2.9 DoF short, on the estimator's word.)"""
    statuses, errors, _, _ = _run_static(scene, preset, 30, window=AfWindow(0.3, 0.45, 0.06, 0.12))
    first = statuses.index(AfStatus.FOCUSED)
    assert abs(errors[first]) < 1.0, (first, errors[: first + 1])
    assert all(abs(e) < 1.0 for e, s in zip(errors, statuses, strict=True) if s is AfStatus.FOCUSED)


def test_featureless_wall_fails() -> None:
    statuses, _, _, _ = _run_static("wall", "cm3", 30)
    assert AfStatus.FOCUSED not in statuses
    assert statuses[-1] is AfStatus.FAILED
    first_fail = statuses.index(AfStatus.FAILED)
    assert first_fail <= 20  # fail_frames (15) plus the frames before the fallback starts


def test_contrast_fallback_without_phase_data() -> None:
    """A camera without phase pixels: the servo hill-climbs contrast to the subject."""
    statuses, errors, commands, _ = _run_static(
        "portrait", "cm3", 60, phase=False, window=AfWindow(0.3, 0.5, 0.1, 0.2)
    )
    assert commands, "the hill-climb never moved the lens"
    assert statuses[-1] is AfStatus.FOCUSED
    # the subject is 1 D away at the start; the preview stays sharp for blur below ~1 texel,
    # so the contrast curve is flat within ~±1-2 DoF of the peak
    assert abs(errors[-1]) <= 2.0
    # once the peak is bracketed the lens holds (no endless wobble)
    assert not [i for i in commands if i >= 40]


def test_servo_reports_focus_only_when_the_lens_is_there() -> None:
    statuses, errors, _, _ = _run_static(
        "portrait", "50mm-f1.8", 12, window=AfWindow(0.3, 0.45, 0.06, 0.12)
    )
    # starts at infinity, 2.5 m away is ~20 DoF: the first frames are not FOCUSED
    assert statuses[0] is AfStatus.SCANNING
    assert abs(errors[0]) > 10


# --- registry --------------------------------------------------------------------------------
def test_registry_and_factory() -> None:
    cam = SimCamera("runner", "300mm-f2.8", clock=VirtualClock(), render_frames=False)
    ctx = context_for(cam)
    assert set(SERVO) == {"predictive", "non-predictive"}
    p = make_servo("predictive", ctx, lock_on_s="long")
    n = make_servo("non_predictive", ctx, lock_on_s=0)
    assert isinstance(p, PredictiveServo) and not isinstance(p, NonPredictiveServo)
    assert isinstance(n, NonPredictiveServo)
    assert p.lock_on.lock_on_s == 1.0 and n.lock_on.lock_on_s == 0.0
    assert p.name == "predictive" and n.name == "non-predictive"
    assert p.wants_phase and n.wants_phase
    for factory in SERVO.values():
        assert factory(ctx).name in SERVO
    with pytest.raises(ValueError):
        make_servo("psychic", ctx)


def test_the_command_is_planned_from_when_it_takes_effect() -> None:
    """A lens command waits for the next frame boundary (`lens_latency_frames` = 1, the 300 mm):
    the servo must plan its reach from then. A subject the motor could reach by the next
    exposure counting from the frame's arrival, but not from the boundary, gets the intercept
    (past the exposure, on the subject's path), which the lens does reach in time."""
    import numpy as np

    from afon.cameras.base import Frame
    from afon.focus.engine import AfContext
    from afon.focus.predict import Observation, travel_time_s

    speed, accel = 1.07, 40.0
    ctx = AfContext(0.0, 0.5, 30.0, 0.00093, None, speed, accel, lens_latency_frames=1)
    servo = PredictiveServo(ctx)
    servo.start(0.05, 0.0)
    # a runner approaching at 10 m/s, 20 m away at t = 1 s, read every frame up to then
    track = [
        Observation(t, 1.0 / (20.0 - 10.0 * (t - 1.0)), 1e-5)
        for t in (1.0 - k / 30.0 for k in range(12, -1, -1))
    ]
    servo.track.seed(track)
    servo.last_valid = track[-1]
    start_s = 1.0 - 0.0095  # the frame's exposure: it arrives 10 ms after its end
    aim_s = start_s + 1 / 30.0 + 0.0095  # the next frame's mid-exposure
    predicted_at_aim = servo.track.predict_d(aim_s)
    assert predicted_at_aim is not None
    # at rest 0.0014 D (1.5 DoF) short: a 13.1 ms move, with 13.8 ms from the frame's arrival
    # to the exposure but 9.5 ms from the boundary
    lens_d = predicted_at_aim - 0.0014
    servo.commanded_d = lens_d
    frame = Frame(
        0,
        np.zeros((4, 4, 3), np.uint8),
        start_s,
        start_s + 0.019,
        start_s + 0.029,
        lens_d,
        lens_d,
        False,
        None,
    )
    step = servo.update(frame, AfWindow(0.5, 0.5, 0.1, 0.1), aim_s)
    assert step.target_d is not None
    apply_s = start_s + 1 / 30.0  # the boundary (at the latest)
    # from the frame's arrival the move would fit; from the boundary it does not
    assert travel_time_s(predicted_at_aim - lens_d, speed, accel) <= aim_s - frame.ready_s
    assert travel_time_s(predicted_at_aim - lens_d, speed, accel) > aim_s - apply_s
    # so the command is the intercept: beyond the subject at the exposure, and reached in time
    assert step.target_d > predicted_at_aim
    arrive_s = apply_s + travel_time_s(step.target_d - lens_d, speed, accel)
    at_arrival = servo.track.predict_d(arrive_s)
    assert at_arrival is not None
    assert abs(at_arrival - step.target_d) < 0.1 * ctx.depth_of_focus_d
