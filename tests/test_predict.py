"""The motor's reach: rest-to-rest kinematics, and aiming a prediction at the exposure."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afon.cameras.sim.motor import LensMotor
from afon.cameras.sim.preset import load_preset
from afon.focus.predict import (
    lens_position_at,
    plan_target,
    travel_time_s,
    travelled_d,
)


def runner_d(t_s: float, u0: float = 30.0, v: float = -10.0) -> float:
    return 1.0 / (u0 + v * t_s)


def test_motor_kinematics_by_hand() -> None:
    # 1.2 D/s, 40 D/s²: a 0.01 D move is a triangle, t = 2 sqrt(0.01/40) = 31.6 ms
    assert travel_time_s(0.01, 1.2, 40.0) == pytest.approx(2 * math.sqrt(0.01 / 40))
    # a long move cruises: 0.5/1.2 + 1.2/40
    assert travel_time_s(0.5, 1.2, 40.0) == pytest.approx(0.5 / 1.2 + 0.03)
    assert travelled_d(0.005, 0.01, 1.2, 40.0) == pytest.approx(0.5 * 40 * 0.005**2)
    assert travelled_d(1.0, 0.01, 1.2, 40.0) == pytest.approx(0.01)
    assert lens_position_at(
        1.2, from_d=0.2, from_s=0.9, target_d=0.1, speed_d_per_s=1.2, accel_d_per_s2=40.0
    ) == pytest.approx(0.1)
    assert travel_time_s(0.3, math.inf, math.inf) == 0.0


def test_plan_target_aims_at_the_exposure_and_intercepts_when_late() -> None:
    pred = runner_d
    now = 2.0
    # release lag compensation: aim at the still's exposure, not at "now"
    target = plan_target(
        pred, lens_d=runner_d(now), now_s=now, aim_s=2.05, speed_d_per_s=1.2, accel_d_per_s2=40.0
    )
    assert target == pytest.approx(runner_d(2.05))
    # a slow motor starting far behind: aim past the exposure (the intercept), nearer the subject
    slow = plan_target(
        pred, lens_d=0.0, now_s=now, aim_s=2.05, speed_d_per_s=0.5, accel_d_per_s2=5.0
    )
    assert slow is not None and slow > runner_d(2.05)


def test_kinematic_estimate_matches_the_simulated_motor() -> None:
    spec = load_preset("300mm-f2.8").motor
    motor = LensMotor(dataclasses.replace(spec, backlash_d=0.0, step_d=0.0), 0.1)
    motor.command(0.16, 1.0)
    for dt in (0.005, 0.02, 0.04, 0.06, 0.1):
        est = lens_position_at(
            1.0 + dt,
            from_d=0.1,
            from_s=1.0,
            target_d=0.16,
            speed_d_per_s=spec.max_speed_d_per_s,
            accel_d_per_s2=spec.accel_d_per_s2,
        )
        assert est == pytest.approx(motor.position_d(1.0 + dt), abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(
    lens=st.floats(0.0, 0.3),
    speed=st.floats(0.2, 5.0),
    accel=st.floats(2.0, 200.0),
    lead_s=st.floats(0.0, 0.3),
)
def test_plan_target_is_reachable_or_on_the_subjects_path(
    lens: float, speed: float, accel: float, lead_s: float
) -> None:
    # whatever the motor: the command is the subject at the aim, or at a later time the lens
    # can reach it by (the intercept), never a point off the subject's path
    now = 1.0
    aim = now + lead_s
    target = plan_target(
        runner_d, lens_d=lens, now_s=now, aim_s=aim, speed_d_per_s=speed, accel_d_per_s2=accel
    )
    assert target is not None
    if target == pytest.approx(runner_d(aim)):
        return
    assert runner_d(aim) < target <= runner_d(2.9)
