"""The predictor: constant velocity in metres, robust fitting, the motor's reach."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from afon.cameras.sim.motor import LensMotor
from afon.cameras.sim.preset import load_preset
from afon.focus.predict import (
    Observation,
    SubjectPredictor,
    lens_position_at,
    plan_target,
    travel_time_s,
    travelled_d,
)


def runner_d(t_s: float, u0: float = 30.0, v: float = -10.0) -> float:
    return 1.0 / (u0 + v * t_s)


def feed(
    pred: SubjectPredictor,
    times: np.ndarray,
    noise_d: float,
    seed: int = 0,
    fn: Callable[[float], float] = runner_d,
) -> None:
    rng = np.random.default_rng(seed)
    for t in times:
        pred.add(Observation(float(t), fn(float(t)) + rng.normal(0, noise_d), max(noise_d, 1e-6)))


def test_constant_speed_in_metres_is_extrapolated_exactly() -> None:
    # runner 10 m/s from 30 m: at t = 2.2 s it is at 8 m; predict 0.1 s later (7 m)
    pred = SubjectPredictor()
    feed(pred, np.arange(1.4, 2.2, 1 / 30), noise_d=0.0)
    fit = pred.fit()
    assert fit is not None and not fit.far_field
    assert fit.speed_m_per_s == pytest.approx(-10.0, rel=1e-6)
    assert pred.predict_d(2.3) == pytest.approx(1 / 7.0, rel=1e-9)
    # dD/dt = -v/u²: 10/49 D/s at 7 m
    assert fit.rate_d_per_s(2.3) == pytest.approx(10 / 49, rel=1e-6)


def test_prediction_beats_constant_dioptre_rate_for_an_approaching_subject() -> None:
    # a straight line in dioptres lags the accelerating 1/u curve; the u-space fit does not
    times = np.arange(1.5, 2.45, 1 / 30)
    pred = SubjectPredictor()
    feed(pred, times, noise_d=0.0)
    t_aim = float(times[-1]) + 0.1
    truth = runner_d(t_aim)
    d = np.array([runner_d(float(t)) for t in times])
    line = np.polyfit(times, d, 1)
    line_err = abs(np.polyval(line, t_aim) - truth)
    ours = abs(pred.predict_d(t_aim) - truth)  # type: ignore[operator]
    dof = 0.00093  # 300 mm f/2.8 depth of focus (D)
    assert line_err > 2 * dof  # the constant-dD/dt model misses by several depths of focus
    assert ours < 1e-9


def test_noisy_track_predicts_within_a_fraction_of_depth_of_focus() -> None:
    dof = 0.00093
    errs = []
    for seed in range(20):
        pred = SubjectPredictor(window_s=1.0)
        times = np.arange(1.0, 2.2, 1 / 30)
        feed(pred, times, noise_d=0.3 * dof, seed=seed)
        t_aim = float(times[-1]) + 0.1
        errs.append(abs(pred.predict_d(t_aim) - runner_d(t_aim)))  # type: ignore[operator]
    assert float(np.median(errs)) < 0.3 * dof
    assert max(errs) < dof


def test_one_outlier_does_not_bend_the_track() -> None:
    pred = SubjectPredictor()
    times = np.arange(1.0, 2.0, 1 / 30)
    for i, t in enumerate(times):
        d = runner_d(float(t)) + (0.02 if i == len(times) // 2 else 0.0)
        pred.add(Observation(float(t), d, 0.0005))
    assert pred.predict_d(2.1) == pytest.approx(runner_d(2.1), abs=0.0005)


def test_constant_acceleration_model() -> None:
    # a subject braking in metres: u = 20 - 8 t + 2 t²  (CA in u)
    def braking(t: float) -> float:
        return 1.0 / (20.0 - 8.0 * t + 2.0 * t * t)

    times = np.arange(0.0, 1.0, 1 / 30)
    ca = SubjectPredictor(model="ca")
    cv = SubjectPredictor(model="cv")
    feed(ca, times, 0.0, fn=braking)
    feed(cv, times, 0.0, fn=braking)
    t_aim = 1.1
    assert ca.predict_d(t_aim) == pytest.approx(braking(t_aim), rel=1e-6)
    assert abs(cv.predict_d(t_aim) - braking(t_aim)) > 1e-4  # type: ignore[operator]


def test_far_field_falls_back_to_dioptres() -> None:
    pred = SubjectPredictor()
    rng = np.random.default_rng(1)
    for t in np.arange(0, 0.5, 1 / 30):
        pred.add(Observation(float(t), 0.001 + rng.normal(0, 0.002), 0.002))
    fit = pred.fit()
    assert fit is not None and fit.far_field
    assert abs(pred.predict_d(0.6)) < 0.01  # type: ignore[arg-type]


def test_window_slides_and_needs_time_order() -> None:
    pred = SubjectPredictor(window_s=0.5)
    for t in np.arange(0, 2, 0.1):
        pred.add(Observation(float(t), 0.1, 0.01))
    assert all(o.t_s >= 1.4 - 1e-9 for o in pred.observations)
    with pytest.raises(ValueError):
        pred.add(Observation(0.0, 0.1, 0.01))
    with pytest.raises(ValueError):
        SubjectPredictor(model="kalman")


def test_adaptive_window_follows_a_change_of_speed() -> None:
    # walks away at 1 m/s, then turns and comes back at 3 m/s
    def turn(t: float) -> float:
        return 1.0 / (5.0 + t) if t < 1.0 else 1.0 / (6.0 - 3.0 * (t - 1.0))

    pred = SubjectPredictor(window_s=1.5)
    feed(pred, np.arange(0.0, 1.5, 1 / 30), 0.001, fn=turn)
    assert pred.predict_d(1.6) == pytest.approx(turn(1.6), abs=0.01)


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
    pred = SubjectPredictor()
    feed(pred, np.arange(1.5, 2.0, 1 / 30), 0.0)
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


@settings(max_examples=60, deadline=None)
@given(
    u0=st.floats(3.0, 200.0),
    v=st.floats(-20.0, 20.0),
    horizon=st.floats(0.0, 0.3),
)
def test_noiseless_constant_speed_is_predicted_exactly(u0: float, v: float, horizon: float) -> None:
    # any constant radial speed (approaching or receding) that stays beyond 2 m
    times = np.arange(0.0, 0.5, 1 / 30)
    end = float(times[-1]) + horizon
    assume(u0 + v * end > 2.0)
    pred = SubjectPredictor()
    for t in times:
        pred.add(Observation(float(t), 1.0 / (u0 + v * float(t)), 1e-4))
    expected = 1.0 / (u0 + v * end)
    assert pred.predict_d(end) == pytest.approx(expected, rel=1e-6, abs=1e-9)


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
