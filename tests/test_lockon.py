"""Lock-on: an abrupt jump is ignored for the lock-on delay, a persistent one is followed."""

from __future__ import annotations

import numpy as np
import pytest

from afon.focus.lockon import LOCK_ON_PRESETS, LockOn, Verdict, lock_on_seconds
from afon.focus.predict import Observation, SubjectPredictor

DOF = 0.02  # 50 mm f/1.8 depth of focus (D)
SUBJECT_D = 1 / 6.0
OBSTACLE_D = 1 / 3.0


def run(
    lock_on_s: float, obstacle: tuple[float, float], seconds: float = 2.0, seed: int = 0
) -> tuple[list[Verdict], SubjectPredictor, np.ndarray]:
    """Static subject at 6 m, an obstacle at 3 m in the window during `obstacle` (t0, t1)."""
    rng = np.random.default_rng(seed)
    track = SubjectPredictor()
    lock = LockOn(lock_on_s, min_gate_d=3 * DOF)
    verdicts = []
    times = np.arange(0.0, seconds, 1 / 30)
    for t in times:
        d = OBSTACLE_D if obstacle[0] <= t < obstacle[1] else SUBJECT_D
        obs = Observation(float(t), d + rng.normal(0, 0.2 * DOF), 0.3 * DOF)
        v = lock.check(obs, track)
        if v is Verdict.ACCEPT:
            track.add(obs)
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
    track = SubjectPredictor()
    lock = LockOn(0.5, min_gate_d=3 * DOF)
    # the very first readings are far apart (lens converging): all accepted
    for i, d in enumerate([0.5, 0.2, 0.17]):
        obs = Observation(i / 30, d, 0.01)
        assert lock.check(obs, track) is Verdict.ACCEPT
        track.add(obs)
