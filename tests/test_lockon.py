"""Lock-on: an abrupt jump is ignored for the lock-on delay, a persistent one is followed, a
subject that accelerates is not an obstacle, and the AF area's content tells them apart."""

from __future__ import annotations

import numpy as np
import pytest

from afon.focus.estimator import DistanceEstimator
from afon.focus.lockon import LOCK_ON_PRESETS, LockOn, Verdict, lock_on_seconds
from afon.focus.predict import Observation

DOF = 0.02  # 50 mm f/1.8 depth of focus (D)
SUBJECT_D = 1 / 6.0
OBSTACLE_D = 1 / 3.0


def run(
    lock_on_s: float, obstacle: tuple[float, float], seconds: float = 2.0, seed: int = 0
) -> tuple[list[Verdict], DistanceEstimator, np.ndarray]:
    """Static subject at 6 m, an obstacle at 3 m in the window during `obstacle` (t0, t1)."""
    rng = np.random.default_rng(seed)
    track = DistanceEstimator()
    lock = LockOn(lock_on_s)
    verdicts = []
    times = np.arange(0.0, seconds, 1 / 30)
    for t in times:
        d = OBSTACLE_D if obstacle[0] <= t < obstacle[1] else SUBJECT_D
        obs = Observation(float(t), d + rng.normal(0, 0.2 * DOF), 0.3 * DOF)
        v = lock.check(obs, track)
        if v is Verdict.ACCEPT:
            track.update(obs)
        verdicts.append(v)
    return verdicts, track, times


def test_presets_and_parsing() -> None:
    assert lock_on_seconds("Normal") == LOCK_ON_PRESETS["normal"] == 0.5
    assert lock_on_seconds("off") == 0.0
    assert lock_on_seconds(0.3) == 0.3
    with pytest.raises(ValueError):
        lock_on_seconds("sticky")
    with pytest.raises(ValueError):
        lock_on_seconds(-1)
    assert LOCK_ON_PRESETS["short"] < LOCK_ON_PRESETS["normal"] < LOCK_ON_PRESETS["long"]


def test_a_short_obstacle_is_ignored_with_lock_on() -> None:
    verdicts, track, times = run(0.5, (1.0, 1.3))
    during = [v for v, t in zip(verdicts, times, strict=True) if 1.0 <= t < 1.3]
    assert all(v is Verdict.REJECT for v in during)
    assert Verdict.SWITCH not in verdicts
    # the track never left the subject
    assert track.predict_d(times[-1]) == pytest.approx(SUBJECT_D, abs=DOF)


def test_without_lock_on_the_obstacle_is_followed_at_once() -> None:
    verdicts, _, times = run(0.0, (1.0, 1.3))
    first = next(i for i, t in enumerate(times) if t >= 1.0)
    assert verdicts[first] is Verdict.SWITCH


def test_a_persistent_jump_is_taken_after_the_delay() -> None:
    verdicts, track, times = run(0.5, (1.0, 9.0))
    switch_t = next(t for v, t in zip(verdicts, times, strict=True) if v is Verdict.SWITCH)
    assert 1.5 <= switch_t < 1.6
    assert track.predict_d(times[-1]) == pytest.approx(OBSTACLE_D, abs=DOF)


def test_no_gate_while_acquiring() -> None:
    track = DistanceEstimator()
    lock = LockOn(0.5)
    # the very first readings are far apart (lens converging): all accepted
    for i, d in enumerate([0.5, 0.2, 0.17]):
        obs = Observation(i / 30, d, 0.01)
        assert lock.check(obs, track) is Verdict.ACCEPT
        track.update(obs)


def _takeoff(
    lock: LockOn, accel_m_s2: float, content: float | None = None
) -> list[tuple[float, Verdict]]:
    """A subject at 12 m (300 mm f/2.8: DoF 0.00093 D, readings ±0.3 DoF) accelerating away
    from t = 1 s; every reading judged, the accepted ones used."""
    dof = 0.00093
    rng = np.random.default_rng(3)
    track = DistanceEstimator()
    out = []
    for t in np.arange(0.0, 1.8, 1 / 30):
        tau = max(0.0, float(t) - 1.0)
        d = 1.0 / (12.0 + 0.5 * accel_m_s2 * tau * tau)
        obs = Observation(float(t), d + rng.normal(0, 0.3 * dof), 0.3 * dof)
        v = lock.check(obs, track, content)
        if v in (Verdict.ACCEPT, Verdict.MANOEUVRE):
            track.update(obs)
        out.append((float(t), v))
    return out


def test_a_take_off_is_not_an_obstacle() -> None:
    # 8 m/s²: a bird leaving its perch. Every reading stays on the track (the IMM's
    # constant-acceleration model takes it up), none is rejected, nothing is re-seeded
    verdicts = _takeoff(LockOn(0.5), 8.0)
    assert all(v is Verdict.ACCEPT for _, v in verdicts)


def test_an_implausible_acceleration_is_gated_and_the_content_decides() -> None:
    # 2000 m/s² is no subject: the readings leave every model's gate within frames ...
    verdicts = _takeoff(LockOn(0.5), 2000.0)
    assert any(v is Verdict.REJECT for t, v in verdicts if t < 1.2)
    # ... unless the AF area still shows the same subject (tracking): then it is followed
    same = _takeoff(LockOn(0.5), 2000.0, content=0.99)
    assert Verdict.REJECT not in [v for _, v in same]
    assert Verdict.MANOEUVRE in [v for _, v in same]
    # and with a different content it is an obstacle
    other = _takeoff(LockOn(0.5), 2000.0, content=0.1)
    assert any(v is Verdict.REJECT for _, v in other)


def test_reacquisition_waits_for_the_subjects_content() -> None:
    # an obstacle (3 m) in front of a subject at 6 m from 1.0 s; at 1.2 s the readings are
    # back near the track but the AF area does not show the subject yet (the obstacle's edge)
    track = DistanceEstimator()
    lock = LockOn(0.5)
    rng = np.random.default_rng(0)
    verdicts = {}
    for t in np.arange(0.0, 1.6, 1 / 30):
        t = float(t)
        d = OBSTACLE_D if 1.0 <= t < 1.2 else SUBJECT_D
        content = 0.2 if 1.0 <= t < 1.35 else 0.99
        obs = Observation(t, d + rng.normal(0, 0.2 * DOF), 0.3 * DOF)
        v = lock.check(obs, track, content)
        if v in (Verdict.ACCEPT, Verdict.MANOEUVRE):
            track.update(obs)
        verdicts[round(t, 3)] = v
    back = [v for t, v in verdicts.items() if 1.2 <= t < 1.35]
    assert back and all(v is Verdict.REJECT for v in back)
    after = [v for t, v in verdicts.items() if t >= 1.35]
    assert after and all(v is Verdict.ACCEPT for v in after)


def test_the_remembered_area_is_cut_only_when_a_comparison_needs_it() -> None:
    """`AreaContent.remember` keeps frames undrawn (a `DeferredFrame` draws on first read);
    `similarity` then draws the newest remembered frame only, and gives what cutting each
    patch at once gives; a featureless newest area falls back to the one before it. Lock-on
    asks for the content only when its verdict depends on it: on the track with nothing held,
    never."""
    from afon.cameras.base import DeferredFrame, Frame
    from afon.focus.engine import AfWindow
    from afon.focus.lockon import AreaContent

    rng = np.random.default_rng(4)
    images = [rng.uniform(0, 255, (60, 80, 3)).astype(np.uint8) for _ in range(6)]
    images[5][:] = 128  # the newest area is featureless
    drawn: list[int] = []

    def frame(i: int, deferred: bool) -> Frame:
        values = dict(index=i, exposure_start_s=i / 30, exposure_end_s=i / 30 + 0.01,
                      ready_s=i / 30 + 0.02, lens_start_d=0.0, lens_end_d=0.0,
                      lens_moving=False, phase=None)
        if not deferred:
            return Frame(image=images[i], **values)

        def develop(name: str) -> np.ndarray:
            drawn.append(i)
            return images[i]

        return DeferredFrame(develop, **values)

    window = AfWindow(0.5, 0.5, 0.4, 0.4)
    lazy, eager = AreaContent(), AreaContent()
    for i in range(6):
        lazy.remember(frame(i, True), window)
        eager.remember(frame(i, False), window)
        eager._reference()  # cut at once, as before
    assert drawn == []
    now = frame(2, False)
    assert lazy.similarity(now, window) == eager.similarity(now, window)
    assert drawn == [5, 4]  # the featureless newest, then the one before it
    assert lazy.similarity(frame(4, False), window) == pytest.approx(1.0, abs=1e-6)

    track, lock = run(0.5, (99.0, 99.0), seconds=1.0)[1], LockOn(0.5)
    asked: list[int] = []

    def content() -> float:
        asked.append(1)
        return 1.0

    obs = Observation(1.0, SUBJECT_D, 0.3 * DOF)
    assert lock.check(obs, track, content) is Verdict.ACCEPT and asked == []
    jump = Observation(1.0, OBSTACLE_D, 0.3 * DOF)
    assert lock.check(jump, track, content) is Verdict.MANOEUVRE and asked == [1]
