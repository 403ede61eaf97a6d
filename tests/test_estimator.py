"""The IMM distance estimator on synthetic reading streams, with error bounds from its models.

The bound
---------
In each stream the truth follows one of the estimator's models (constant velocity, constant
acceleration from a step, at rest after a stop), and the readings have exactly the noise they
state. A Kalman filter of the matching model is then unbiased, and so is the constant-acceleration
(CA) filter: a CA model covers constant velocity and rest as special cases. The IMM output is a
probability-weighted mixture of its filters; once the models that do not fit the truth have lost
their weight, the mixture of unbiased estimates with error spreads ``σ_j`` has an error spread of
at most ``Σ w_j σ_j ≤ max_j σ_j`` (Minkowski's inequality), and the CA filter, with the largest
process noise, has the largest ``σ_j``. So the bound is the CA filter's own predicted spread,
``σ_CA(t + τ)``, from its covariance recursion (Riccati) along the true trajectory — no fitted
number. Over ``M`` independent runs (one error per run), the mean squared error of a Gaussian
error with that spread stays below ``σ_CA² · χ²_{M, 0.999} / M`` with 99.9% probability.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from afon.focus.estimator import CA, DEFAULT_MODELS, DistanceEstimator, MotionModel, Snapshot
from afon.focus.lockon import LockOn, Verdict
from afon.focus.predict import Observation

FPS = 30.0
DOF_D = 0.00093
"""300 mm f/2.8 depth of focus (dioptres): the readings' noise is 0.3 of it."""
SIGMA_D = 0.3 * DOF_D
HORIZON_S = 0.05
RUNS = 40
CA_MODEL: MotionModel = next(m for m in DEFAULT_MODELS if m.name == CA)


def ca_bound_d(
    distance_m: Callable[[float], float],
    times_s: np.ndarray,
    t_eval_s: float,
    sigma_d: float,
    *,
    skip: Callable[[float], bool] = lambda t: False,
) -> float:
    """σ of the CA Kalman filter's prediction at ``t_eval_s + HORIZON_S`` after readings at
    `times_s` up to `t_eval_s` (those where `skip` is true not used), linearised along the truth;
    initialised as the estimator initialises every model."""
    est = DistanceEstimator()
    p: np.ndarray | None = None
    t_prev = 0.0
    for t in times_s:
        if t > t_eval_s + 1e-9:
            break
        if skip(float(t)):
            continue
        u = distance_m(float(t))
        h = np.array([-1.0 / u**2, 0.0, 0.0])
        if p is None:
            p = np.diag([(sigma_d * u * u) ** 2, est.init_speed_m_s**2, est.init_accel_m_s2**2])
        else:
            f = CA_MODEL.transition(t - t_prev)
            p = f @ p @ f.T + CA_MODEL.noise(t - t_prev)
            s = float(h @ p @ h) + sigma_d**2
            k = p @ h / s
            p = (np.eye(3) - np.outer(k, h)) @ p
        t_prev = float(t)
    assert p is not None
    dt = t_eval_s + HORIZON_S - t_prev
    f = CA_MODEL.transition(dt)
    p = f @ p @ f.T + CA_MODEL.noise(dt)
    u = distance_m(t_eval_s + HORIZON_S)
    return math.sqrt(float(p[0, 0])) / u**2


def prediction_errors(
    distance_m: Callable[[float], float],
    times_s: np.ndarray,
    t_eval_s: float,
    *,
    reading: Callable[[float, float], float] | None = None,
    lock_on: bool = False,
    runs: int = RUNS,
) -> tuple[np.ndarray, list[DistanceEstimator]]:
    """One prediction error per run (dioptres) at ``t_eval_s + HORIZON_S``."""
    errs = []
    ests = []
    for run in range(runs):
        rng = np.random.default_rng(run)
        est = DistanceEstimator()
        lock = LockOn(0.5)
        for t in times_s:
            if t > t_eval_s + 1e-9:
                break
            d = 1.0 / distance_m(float(t)) if reading is None else reading(float(t), 0.0)
            obs = Observation(float(t), d + rng.normal(0.0, SIGMA_D), SIGMA_D)
            if lock_on and lock.check(obs, est) is not Verdict.ACCEPT:
                continue
            est.update(obs)
        pred = est.predict_d(t_eval_s + HORIZON_S)
        assert pred is not None
        errs.append(pred - 1.0 / distance_m(t_eval_s + HORIZON_S))
        ests.append(est)
    return np.asarray(errs), ests


Z_999 = 3.090232306167813
"""One-sided 99.9% normal quantile."""


def chi2_quantile(k: int, z: float = Z_999) -> float:
    """χ²_k quantile by Wilson & Hilferty's cube-root normal approximation (good to <1% for
    k ≥ 10)."""
    a = 2.0 / (9.0 * k)
    return k * (1.0 - a + z * math.sqrt(a)) ** 3


def assert_within_bound(errs: np.ndarray, bound_d: float) -> None:
    limit = bound_d * math.sqrt(chi2_quantile(len(errs)) / len(errs))
    rms = float(np.sqrt(np.mean(errs**2)))
    assert rms <= limit, f"RMS {rms / DOF_D:.3f} DoF above the bound {limit / DOF_D:.3f} DoF"


def runner_m(t: float) -> float:
    return 30.0 - 10.0 * t


def test_constant_velocity_within_the_models_bound() -> None:
    times = np.arange(0.0, 2.2, 1 / FPS)
    t_eval = float(times[-1])
    errs, ests = prediction_errors(runner_m, times, t_eval)
    bound = ca_bound_d(runner_m, times, t_eval, SIGMA_D)
    assert_within_bound(errs, bound)
    # the bound itself is what a burst needs: inside the depth of focus (at 8 m, 50 ms ahead)
    assert bound < DOF_D
    # and the constant-velocity model carries the most weight; rest none
    probs = np.mean([[e.probabilities[m.name] for m in DEFAULT_MODELS] for e in ests], axis=0)
    assert probs[1] > probs[2] > probs[0]
    assert probs[0] < 0.05


def takeoff_m(t: float) -> float:
    """A bird at 12 m taking off at 1 s with 8 m/s² (a step in acceleration)."""
    tau = max(0.0, t - 1.0)
    return 12.0 + 4.0 * tau * tau


def test_step_in_acceleration_within_the_models_bound() -> None:
    times = np.arange(0.0, 2.0, 1 / FPS)
    t_eval = 1.6  # 0.6 s after the take-off
    errs, ests = prediction_errors(takeoff_m, times, t_eval)
    bound = ca_bound_d(takeoff_m, times, t_eval, SIGMA_D, skip=lambda t: t < 1.0)
    assert_within_bound(errs, bound)
    assert np.mean([e.probabilities[CA] for e in ests]) > 0.5
    # before the take-off the stationary model wins
    before, ests0 = prediction_errors(takeoff_m, times, 0.95)
    assert np.mean([e.probabilities["stationary"] for e in ests0]) > 0.5
    assert_within_bound(before, ca_bound_d(takeoff_m, times, 0.95, SIGMA_D))


def stop_m(t: float) -> float:
    """Approaching from 20 m at 8 m/s, braking at 4 m/s² to a stop at 12 m (t = 2 s)."""
    tau = min(t, 2.0)
    return 20.0 - 8.0 * tau + 2.0 * tau * tau


def test_stop_within_the_models_bound() -> None:
    times = np.arange(0.0, 3.5, 1 / FPS)
    # while braking (constant acceleration) and a second after the stop (at rest)
    for t_eval in (1.5, 3.0):
        errs, ests = prediction_errors(stop_m, times, t_eval)
        skip = (lambda t: t < 2.0) if t_eval > 2.0 else (lambda t: False)
        assert_within_bound(errs, ca_bound_d(stop_m, times, t_eval, SIGMA_D, skip=skip))
    assert np.mean([e.probabilities["stationary"] for e in ests]) > 0.5


def static_m(t: float) -> float:
    return 6.0


def test_obstacle_burst_is_gated_out_and_the_prediction_stays_within_the_bound() -> None:
    # subject at 6 m; from 1.0 to 1.3 s an obstacle at 3 m is under the AF point
    times = np.arange(0.0, 2.0, 1 / FPS)

    def reading(t: float, _: float) -> float:
        return 1.0 / 3.0 if 1.0 <= t < 1.3 else 1.0 / 6.0

    burst = lambda t: 1.0 <= t < 1.3  # noqa: E731
    # at the end of the burst: the estimator coasted through it
    errs, ests = prediction_errors(static_m, times, 1.29, reading=reading, lock_on=True)
    assert_within_bound(errs, ca_bound_d(static_m, times, 1.29, SIGMA_D, skip=burst))
    assert all(e.last is not None and e.last.t_s < 1.0 for e in ests)
    # and after it, re-acquired
    errs, ests = prediction_errors(static_m, times, 1.8, reading=reading, lock_on=True)
    assert_within_bound(errs, ca_bound_d(static_m, times, 1.8, SIGMA_D, skip=burst))
    assert all(e.last is not None and e.last.t_s > 1.7 for e in ests)


def test_static_subject_costs_nothing() -> None:
    # the stationary model wins, and the prediction is better than following the last reading
    # (whose error is the reading's noise itself, σ); "better" at 99.9% confidence
    times = np.arange(0.0, 1.0, 1 / FPS)
    runs = 100
    errs, ests = prediction_errors(static_m, times, float(times[-1]), runs=runs)
    assert np.mean([e.probabilities["stationary"] for e in ests]) > 0.6
    assert_within_bound(errs, ca_bound_d(static_m, times, float(times[-1]), SIGMA_D))
    rms = float(np.sqrt(np.mean(errs**2)))
    assert rms < SIGMA_D * math.sqrt(chi2_quantile(runs, -Z_999) / runs)


def test_far_field_holds_the_reading() -> None:
    est = DistanceEstimator()
    est.update(Observation(0.0, 0.001, 0.002))  # not resolved from infinity
    assert est.distance_m() == math.inf
    assert est.predict_d(0.5) == pytest.approx(0.001)
    est.update(Observation(0.1, 0.5, 0.002))  # resolved: a metric track starts
    assert est.distance_m() == pytest.approx(2.0)


def test_bad_input() -> None:
    est = DistanceEstimator()
    with pytest.raises(ValueError):
        est.update(Observation(0.0, 0.1, 0.0))
    est.update(Observation(1.0, 0.1, 0.01))
    with pytest.raises(ValueError):
        est.update(Observation(0.5, 0.1, 0.01))
    with pytest.raises(ValueError):
        DistanceEstimator(())
    assert DistanceEstimator().predict_d(1.0) is None


def test_snapshot_and_restore() -> None:
    est = DistanceEstimator()
    for i in range(10):
        est.update(Observation(i / FPS, 1 / 6.0, SIGMA_D))
    snap = est.snapshot()
    before = est.predict_d(0.5)
    est.update(Observation(10 / FPS, 1 / 3.0, SIGMA_D))
    assert est.predict_d(0.5) != before
    est.restore(snap)
    assert est.predict_d(0.5) == before


def test_a_prediction_asked_before_a_change_is_not_served_after_it() -> None:
    """The estimator keeps a reading's prediction between `innovation` and `update` and a
    time's prediction between `predict_d` and `sigma_d`; every change of state (a reading, a
    widening, a restore) must make them be computed again: an estimator asked everything
    before each change answers as one asked nothing."""
    rng = np.random.default_rng(3)
    asked, fresh = DistanceEstimator(), DistanceEstimator()
    t_s, d = 0.0, 0.8
    snaps: list[tuple[Snapshot, Snapshot]] = []

    def ask(obs: Observation) -> None:
        if asked.t_s is not None:
            asked.innovation(obs)
            asked.predict_d(obs.t_s)
            asked.sigma_d(obs.t_s + 0.1)

    def same(obs: Observation) -> None:
        assert asked.predict_d(obs.t_s) == fresh.predict_d(obs.t_s)
        assert asked.sigma_d(obs.t_s + 0.1) == fresh.sigma_d(obs.t_s + 0.1)
        a, f = asked.innovation(obs), fresh.innovation(obs)
        assert (a is None) == (f is None)
        if a is not None and f is not None:
            assert a.y_d == f.y_d and a.s_d2 == f.s_d2

    for i in range(60):
        t_s += 1 / 30
        d += 0.01
        obs = Observation(t_s, d + float(rng.normal(0.0, 0.01)), 0.02)
        ask(obs)
        if i in (25, 45):  # a widening after the questions
            asked.inflate(2.0, 5.0)
            fresh.inflate(2.0, 5.0)
            same(obs)
            ask(obs)
        if i == 40:  # a restore after them
            asked.restore(snaps[0][0])
            fresh.restore(snaps[0][1])
            same(obs)
            ask(obs)
        asked.update(obs)
        fresh.update(obs)
        if i == 20:
            snaps.append((asked.snapshot(), fresh.snapshot()))
        same(obs)
