"""Lens motor: move times follow the trapezoidal profile; backlash, steps and settling."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afon.cameras.sim.motor import LensMotor, MotorSpec
from afon.cameras.sim.preset import builtin_preset_names, load_preset

SPEC = MotorSpec(
    "stepper",
    0.0,
    2.0,
    max_speed_d_per_s=10.0,
    accel_d_per_s2=200.0,
    backlash_d=0.02,
    step_d=0.004,
    settle_s=0.015,
)


def arrival_time(motor: LensMotor, target: float, t0: float, dt: float = 1e-4) -> float:
    t = t0
    while abs(motor.position_d(t) - target) > 1e-9:
        t += dt
        assert t < t0 + 10, "motor never arrived"
    return t


def test_profile_times_by_hand() -> None:
    # long move: cruise. t = L/v + v/a = 1.5/10 + 10/200 = 0.2 s
    assert SPEC.travel_time_s(1.5) == pytest.approx(0.2)
    # short move: triangle. t = 2 sqrt(L/a) = 2 sqrt(0.2/200) = 0.0632 s
    assert SPEC.travel_time_s(0.2) == pytest.approx(2 * math.sqrt(0.001))


def test_move_from_rest_takes_the_profile_time_and_then_settles() -> None:
    motor = LensMotor(SPEC, 0.2)
    target = motor.command(1.7, 1.0)
    assert target == pytest.approx(1.7, abs=SPEC.step_d / 2)
    t_arrive = arrival_time(motor, target, 1.0)
    # first move from rest engages the play: motor travels L + backlash/2
    expected = SPEC.travel_time_s(abs(target - 0.2) + SPEC.backlash_d / 2)
    assert t_arrive - 1.0 == pytest.approx(expected, abs=2e-3)
    assert motor.arrival_s() - 1.0 == pytest.approx(expected, abs=1e-9)
    assert motor.is_moving(t_arrive + 0.01)
    assert not motor.is_moving(motor.arrival_s() + SPEC.settle_s + 1e-6)
    # halfway in time the lens is strictly between start and target
    assert 0.2 < motor.position_d(1.0 + expected / 2) < 1.7


def test_reversal_pays_the_backlash() -> None:
    spec = MotorSpec("stepper", 0.0, 2.0, 10.0, 200.0, backlash_d=0.1)
    forward = LensMotor(spec, 0.5)
    forward.command(1.0, 0.0)  # engage towards +
    t1 = forward.arrival_s() + 1
    forward.command(1.5, t1)
    same_dir = forward.arrival_s() - t1
    back = LensMotor(spec, 0.5)
    back.command(1.0, 0.0)
    back.command(0.5, t1)
    reversed_s = back.arrival_s() - t1
    assert same_dir == pytest.approx(spec.travel_time_s(0.5))
    assert reversed_s == pytest.approx(spec.travel_time_s(0.6))
    assert back.reversals == 1 and forward.reversals == 0
    # during the first part of the reversal the optics do not move
    assert back.position_d(t1 + 0.02) == pytest.approx(1.0)
    assert back.position_d(back.arrival_s()) == pytest.approx(0.5)


def test_targets_are_quantised_and_clamped() -> None:
    motor = LensMotor(SPEC, 0.0)
    assert motor.command(0.0061, 0.0) == pytest.approx(0.008)
    assert motor.command(5.0, 1.0) == pytest.approx(2.0)
    assert motor.command(-1.0, 2.0) == pytest.approx(0.0)


def test_retarget_mid_move_arrives_at_the_new_target() -> None:
    motor = LensMotor(SPEC, 0.0)
    motor.command(2.0, 0.0)
    motor.command(0.5, 0.05)  # reverse while moving fast: brake, then come back
    assert motor.position_d(motor.arrival_s()) == pytest.approx(0.5, abs=1e-9)
    assert motor.arrival_s() > 0.05 + SPEC.travel_time_s(0.1)


def test_presets_have_the_documented_speeds() -> None:
    assert set(builtin_preset_names()) >= {"cm3", "50mm-f1.8", "300mm-f2.8"}
    cm3 = load_preset("cm3").motor
    # VCM: full 0..12 D range in tens of milliseconds (DW9714 model: ~42 ms full-code move)
    assert 0.015 < cm3.travel_time_s(12.0) < 0.045
    assert cm3.step_d == pytest.approx(1 / 32)
    stm = load_preset("50mm-f1.8").motor
    # STM lens: 0.36 m → 2.4 m (2.36 D) in ~0.2–0.3 s
    assert 0.15 < stm.travel_time_s(1 / 0.36 - 1 / 2.4 - 0.55) < 0.35
    usm = load_preset("300mm-f2.8").motor
    # ring USM telephoto: closest focus to infinity in ~0.4–0.7 s
    assert 0.35 < usm.travel_time_s(0.5) < 0.7


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0.0, 0.3), st.floats(-1.0, 3.0)), min_size=1, max_size=12))
def test_any_command_sequence_stays_physical(cmds: list[tuple[float, float]]) -> None:
    motor = LensMotor(SPEC, 1.0)
    t = 0.0
    last_target = 1.0
    for gap_s, target in cmds:
        t += gap_s
        last_target = motor.command(target, t)
    # optics never exceed the range and never move faster than the motor's top speed
    prev = motor.position_d(t)
    for k in range(1, 400):
        tk = t + k * 0.005
        pos = motor.position_d(tk)
        assert SPEC.min_d - 1e-9 <= pos <= SPEC.max_d + 1e-9
        assert abs(pos - prev) <= SPEC.max_speed_d_per_s * 0.005 + 1e-9
        prev = pos
    assert motor.position_d(motor.arrival_s() + 1.0) == pytest.approx(last_target, abs=1e-9)


VCM = MotorSpec(
    "vcm", 0.0, 12.0, 600.0, 120000.0, step_d=1 / 32, settle_s=0.008, resonance_hz=100.0,
    damping_ratio=0.5, posture_offset_d=0.05, hysteresis_d=0.1,
)


@settings(max_examples=60, deadline=None)
@given(
    spec=st.sampled_from([SPEC, VCM]),
    cmds=st.lists(st.tuples(st.floats(0.0, 0.05), st.floats(-1.0, 13.0)), min_size=1,
                  max_size=12),
)
def test_a_command_never_rewrites_the_past(
    spec: MotorSpec, cmds: list[tuple[float, float]]
) -> None:
    """Whatever commands follow, the position at any time before a command stays what it was
    (a frame exposed before a command keeps its focus); and the true position of a resonant
    motor comes to rest on target + posture offset ∓ half the hysteresis."""
    motor = LensMotor(spec, 1.0)
    t = 0.0
    seen: list[tuple[float, float]] = []
    target = 1.0
    for gap_s, want in cmds:
        probe = [t + f * gap_s for f in (0.0, 0.3, 0.7, 0.999)]
        before = [motor.position_d(x) for x in probe]
        t += gap_s
        at_command = motor.position_d(t)
        target = motor.command(want, t)
        # the optics never jump at a command (the backlash play, the mechanics' state carry on)
        assert abs(motor.position_d(t + 1e-6) - at_command) <= spec.max_speed_d_per_s * 3e-6
        # (at the very instant of a command the new plan starts from the old state: equal to
        # rounding)
        assert [motor.position_d(x) for x in probe[:-1]] == pytest.approx(before[:-1], abs=1e-12)
        seen.extend(zip(probe[:-1], before[:-1], strict=True))
    assert [motor.position_d(x) for x, _ in seen] == pytest.approx([p for _, p in seen], abs=1e-12)
    rest = motor.position_d(t + 5.0)
    if spec is VCM and abs(rest - target - spec.posture_offset_d) > 1e-6:
        assert abs(abs(rest - target - spec.posture_offset_d) - spec.hysteresis_d / 2) < 1e-6
    if spec is SPEC:
        assert rest == pytest.approx(target, abs=1e-9)
    assert motor.reported_d(t + 5.0) == pytest.approx(target)
