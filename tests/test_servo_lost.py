"""A tracked subject leaving the AF point: lock-on holds it for its delay, then the servo
refocuses on what the point sees (`LockOn.lost`, `PredictiveServo._lose`).

The bench's portrait recompose with the shutter half-pressed in AF-C is the case: the face
slides off the single AF point (6.5% of it is face afterwards, the rest the background at
30 m); the window's readings mix the two depths (purity 0). A body with lock-on holds focus
on the face for the lock-on delay (0.5 s, "normal") and then takes the persistent new reading
as its subject: what a real body with shutter-button AF-C does when the photographer recomposes
with the button held (the reason for focus-and-recompose with back-button AF).
"""

from __future__ import annotations

import numpy as np
import pytest

from afon.bench.runner import TrialJob, load_scenarios, run_trial
from afon.focus.estimator import DistanceEstimator
from afon.focus.lockon import LockOn, Verdict
from afon.focus.predict import Observation

DOF = 0.02
SUBJECT_D = 0.4


def _track(seconds: float = 1.0) -> tuple[DistanceEstimator, LockOn, float]:
    rng = np.random.default_rng(0)
    track, lock = DistanceEstimator(), LockOn(0.5)
    t = 0.0
    for t in np.arange(0.0, seconds, 1 / 30):
        obs = Observation(float(t), SUBJECT_D + rng.normal(0, 0.2 * DOF), 0.3 * DOF)
        assert lock.check(obs, track) is Verdict.ACCEPT
        track.update(obs)
    return track, lock, float(t)


def test_a_lost_reading_is_held_off_for_the_lock_on_delay_then_followed() -> None:
    track, lock, t_end = _track()
    verdicts = []
    # mixed readings, one of them on the track's distance: lost whatever they read
    for k, t in enumerate(np.arange(t_end + 1 / 30, t_end + 0.8, 1 / 30)):
        d = SUBJECT_D if k == 3 else SUBJECT_D - 0.15
        verdicts.append((float(t), lock.lost(Observation(float(t), d, 0.3 * DOF), track)))
    first = verdicts[0][0]
    held = [v for t, v in verdicts if t - first < 0.5 - 1e-9]
    assert held and all(v is Verdict.REJECT for v in held)
    switch = next(t for t, v in verdicts if v is Verdict.SWITCH)
    assert switch - first == pytest.approx(0.5, abs=1 / 30)
    assert track.predict_d(switch) == pytest.approx(SUBJECT_D - 0.15, abs=DOF)


def test_a_lost_reading_without_a_track_is_accepted_and_lock_on_off_switches_at_once() -> None:
    assert LockOn(0.5).lost(Observation(0.0, 0.3, 0.01), DistanceEstimator()) is Verdict.ACCEPT
    track, _, t_end = _track()
    lock = LockOn(0.0)
    assert lock.lost(Observation(t_end + 0.03, 0.25, 0.01), track) is Verdict.SWITCH


def test_the_subject_back_in_the_window_ends_the_hold() -> None:
    track, lock, t_end = _track()
    assert lock.lost(Observation(t_end + 0.03, 0.25, 0.3 * DOF), track) is Verdict.REJECT
    assert lock.holding
    back = Observation(t_end + 0.07, SUBJECT_D, 0.3 * DOF)
    assert lock.check(back, track) is Verdict.ACCEPT and not lock.holding


def test_shutter_af_c_holds_the_face_through_the_recompose_for_the_lock_on_delay() -> None:
    scn = load_scenarios(["portrait"])[0]
    res = run_trial(TrialJob(scn, "shutter-af-c", "predictive", 1, trace=True))
    tr = res.trace
    assert tr is not None
    dof = tr["dof_d"]
    err = {
        t: abs(lens - subj) / dof
        for t, lens, subj in zip(tr["t_s"], tr["lens_d"], tr["subject_d"], strict=True)
    }
    # the face leaves the AF point at ~2.5 s (recompose 2.3-2.6 s): held for 0.5 s
    held = [e for t, e in err.items() if 2.4 <= t <= 2.95]
    assert held and max(held) < 1.0, held
    # the first still (3.06 s, within the hold) is sharp
    assert res.shots[0].in_focus, [s.error_dof for s in res.shots]
    # after the delay the body takes what its AF point sees: the face is lost, as on a real
    # body with the shutter button held through a recompose
    late = [e for t, e in err.items() if t >= 3.4]
    assert late and min(late) > 3.0, late
    assert not any(s.in_focus for s in res.shots[1:])


def test_after_the_switch_the_servo_follows_the_mixed_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A track switched to mixed readings follows them (they are what the AF point sees now):
    they are not "the subject leaving" again, which would hold and switch every lock-on delay."""
    from afon.cameras.sim.camera import SimCamera
    from afon.focus import servo as servo_module
    from afon.focus.context import context_for
    from afon.focus.engine import AfWindow
    from afon.focus.phase import PhaseMeasurement

    cam = SimCamera("portrait", "cm3", seed=1, start_d=1.0)
    servo = servo_module.PredictiveServo(context_for(cam))
    reading: list[PhaseMeasurement] = []
    monkeypatch.setattr(servo_module, "measure_phase", lambda *a, **k: reading[0])
    verdicts = []
    for i in range(60):
        frame = cam.next_frame(phase=True)
        subject_d, purity = (1.2, 1.0) if i < 30 else (0.9, 0.0)
        defocus = subject_d - frame.lens_d
        reading[:] = [PhaseMeasurement(0.0, 1.0, defocus, 1.0, 0.5, 10.0, False, purity)]
        servo.update(frame, AfWindow(), frame.ready_s + 0.05)
        verdicts.append(servo.last_verdict)
    mixed = verdicts[30:]
    assert mixed[0] is Verdict.REJECT
    switch = mixed.index(Verdict.SWITCH)
    assert all(v is Verdict.REJECT for v in mixed[:switch])
    # 0.5 s of lock-on at 30 fps, then the mixture is used as any reading
    assert 13 <= switch <= 17
    assert all(v is Verdict.ACCEPT for v in mixed[switch + 1 :]), mixed[switch + 1 :]


def test_readings_of_the_subject_leaving_the_window_are_forgotten_when_it_is_lost(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bird accelerating away (8 m/s² from 12 m, the bench's take-off) slides off the AF
    point: first its blocks begin to disagree (purity below 1: the reading, a mixture with the
    far background, is pulled 1 DoF too far), then most of the window is background (lost).
    The mixed readings since the last pure one were the edge leaving: on the loss they are
    forgotten, whichever way they pulled (`PredictiveServo._roll_back`), and the prediction
    that coasts to the next still is the pure track's. Kept, they bend it by over a depth of
    focus 0.2 s later; a mixed reading followed by a pure one is the subject still there."""
    from afon.cameras.sim.camera import SimCamera
    from afon.focus import servo as servo_module
    from afon.focus.context import context_for
    from afon.focus.engine import AfWindow
    from afon.focus.phase import PhaseMeasurement

    def distance_m(t_s: float) -> float:
        return 12.0 + 4.0 * max(t_s - 0.3, 0.0) ** 2

    def run(leaving: list[float]) -> tuple[float, float]:
        """Prediction error (DoF) 0.2 s after the loss, and the estimator's acceleration."""
        cam = SimCamera("bird", "300mm-f2.8", seed=0, start_d=1 / 12)  # the lens stays put
        ctx = context_for(cam)
        dof = ctx.depth_of_focus_d
        servo = servo_module.PredictiveServo(ctx)
        window = AfWindow(0.5, 0.5, 0.1, 0.1)
        reading: list[PhaseMeasurement] = []
        monkeypatch.setattr(servo_module, "measure_phase", lambda *a, **k: reading[0])
        pure_frames = 24
        lost_s = 0.0
        for i in range(pure_frames + len(leaving) + 3):
            frame = cam.next_frame(phase=True)
            t0, t1 = frame.row_window_s(window.cy)
            t_s = 0.5 * (t0 + t1)
            defocus = 1.0 / distance_m(t_s) - frame.lens_start_d
            k = i - pure_frames
            purity, bias = 1.0, 0.0
            if 0 <= k < len(leaving):
                purity, bias = leaving[k], (-dof if leaving[k] < 1.0 else 0.0)
            elif k >= len(leaving):
                purity, bias = 0.2, -3 * dof  # the window is the background now: lost
                lost_s = lost_s or t_s
            d = defocus + bias
            reading[:] = [PhaseMeasurement(0.0, 1.0, d, 1.0, 0.5, 10.0, False, purity, d)]
            servo.update(frame, window, frame.ready_s + 0.05)
        track = servo.track
        predicted = track.predict_d(lost_s + 0.2)
        assert predicted is not None
        accel = float(np.dot(track.mu, [x[2] for x in track.x]))
        return (predicted - 1.0 / distance_m(lost_s + 0.2)) / dof, accel

    err, accel = run([0.75, 0.75])
    assert abs(err) < 0.5 and abs(accel - 8.0) < 3.0, (err, accel)
    # the same mixed readings followed by a pure one: the subject was still there, they stay
    # (the track then carries their pull)
    kept_err, _ = run([0.75, 0.75, 1.0])
    assert abs(kept_err) > abs(err), (kept_err, err)
