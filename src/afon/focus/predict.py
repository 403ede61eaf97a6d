"""Subject-motion prediction for servo AF (AF-C): where will the subject be at the exposure?

The model
---------
A phase measurement gives the subject's focus position ``D`` (dioptres) at a frame's
mid-exposure time. Real subjects (a runner, a car, a bird) move at a roughly constant *speed in
metres*, not at a constant rate in dioptres: with ``u(t) = u0 + v·t`` the focus position
``D(t) = 1/u(t)`` has ``dD/dt = −v/u²`` and ``d²D/dt² = 2v²/u³`` — an approaching subject
*accelerates* in dioptres (and on the image plane, whose position is ≈ f²·D; af-anchors.md §4.1).
A runner at 10 m/s is at 0.04 D/s at 15 m but 0.4 D/s at 5 m. A predictor that assumes constant
dD/dt lags behind an approaching subject by ``v²τ²/u³`` after a horizon ``τ`` (plus its fitting
lag), so `SubjectPredictor` fits the motion in **distance space**:

- ``u(t) = a + b·(t − t_ref)`` (constant velocity, the default, ``model="cv"``), or
  ``u(t) = a + b·τ + c·τ²/2`` (constant acceleration, ``model="ca"``, needs more observations and
  is noisier; for subjects that speed up or brake);
- by weighted least squares over a sliding window of recent observations (``window_s``, at most
  ``max_points``). The measurement noise is in dioptres, so an observation with noise ``σ_D`` has
  ``σ_u = σ_D / D²`` and weight ``D⁴/σ_D²`` — the linearisation of the fit of ``1/u(t)`` to the
  dioptre measurements (a second pass re-linearises at the fitted ``D``);
- robustly: iteratively re-weighted with Huber weights (k = 2 σ), so one bad reading does not bend
  the track (gross outliers — obstacles — are rejected before, by `afon.focus.lockon`);
- adaptively: when the window's residuals are much larger than the measurement noise says they
  should be (the subject changed speed), the fit is repeated on the recent half of the window;
- the predicted dioptres are ``1/u(t)``; uncertainty from the fit covariance, scaled by the
  residuals' χ² when they exceed the stated noise.

Far field: when the subject's dioptres are not resolved against the noise (``D < 3 σ_D`` for some
reading: near infinity, where ``u = 1/D`` explodes), distance space is meaningless and the fit falls
back to a line in dioptres (which is what the physics gives there anyway: dD/dt ≈ 0).

The motor
---------
`plan_target` turns a prediction into a lens command: aim at the subject's predicted position at
``aim_s`` (the next exposure: a still's exposure when a release is pending — release-lag
compensation — else the next preview frame). When the lens cannot get there in time (``motor``
speed and acceleration from `afon.focus.engine.AfContext`), it aims at the *intercept*: the point
where the subject will be when the lens can arrive; the command is issued anyway and the lens
catches up. `lens_position_at` is the kinematic estimate (rest-to-rest trapezoid) of where a
commanded lens is at a given time, used for the servo's FOCUSED/SCANNING verdict.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MODELS = ("cv", "ca")

U_MIN_M = 0.01
"""Predicted distances are floored here (a fit crossing zero is extrapolated nonsense)."""

HUBER_K = 2.0
ADAPT_CHI2 = 6.0
"""Reduced χ² above which the fit is retried on the recent half of the window."""
FAR_FIELD_SIGMAS = 3.0


@dataclass(frozen=True)
class Observation:
    """One measurement of the subject's focus position."""

    t_s: float
    """Time the measurement refers to (the frame's mid-exposure)."""
    focus_d: float
    """Subject focus position in dioptres (lens position during the exposure + defocus)."""
    sigma_d: float
    """1-σ measurement noise in dioptres (> 0)."""


@dataclass(frozen=True)
class Fit:
    """A fitted motion: distance polynomial in ``τ = t − t_ref`` (or dioptre line in far field)."""

    t_ref_s: float
    coef: tuple[float, ...]
    """``u = coef[0] + coef[1]·τ (+ coef[2]·τ²/2)`` metres, or dioptres when `far_field`."""
    cov: npt.NDArray[np.float64]
    far_field: bool
    n: int
    chi2_red: float
    span_s: float

    def _value_and_sigma(self, t_s: float) -> tuple[float, float]:
        tau = t_s - self.t_ref_s
        basis = np.array([1.0, tau, 0.5 * tau * tau][: len(self.coef)])
        val = float(basis @ np.asarray(self.coef))
        var = float(basis @ self.cov @ basis)
        return val, math.sqrt(max(var, 0.0))

    def focus_d(self, t_s: float) -> float:
        """Predicted subject focus position (dioptres) at `t_s`."""
        val, _ = self._value_and_sigma(t_s)
        if self.far_field:
            return max(val, 0.0)
        return 1.0 / max(val, U_MIN_M)

    def sigma_d(self, t_s: float) -> float:
        """1-σ uncertainty of `focus_d(t_s)`."""
        val, sig = self._value_and_sigma(t_s)
        if self.far_field:
            return sig
        u = max(val, U_MIN_M)
        return sig / (u * u)

    def distance_m(self, t_s: float) -> float:
        """Predicted subject distance (inf for a far-field fit at or beyond infinity)."""
        if self.far_field:
            d = self.focus_d(t_s)
            return math.inf if d <= 0 else 1.0 / d
        val, _ = self._value_and_sigma(t_s)
        return max(val, U_MIN_M)

    @property
    def speed_m_per_s(self) -> float | None:
        """Radial speed (positive = receding); None in far field."""
        return None if self.far_field else self.coef[1]

    def rate_d_per_s(self, t_s: float) -> float:
        """dD/dt at `t_s`."""
        if self.far_field:
            return self.coef[1]
        tau = t_s - self.t_ref_s
        u = max(
            self.coef[0]
            + self.coef[1] * tau
            + (0.5 * self.coef[2] * tau * tau if len(self.coef) > 2 else 0.0),
            U_MIN_M,
        )
        du = self.coef[1] + (self.coef[2] * tau if len(self.coef) > 2 else 0.0)
        return -du / (u * u)


def _wls(
    t: npt.NDArray[np.float64],
    y: npt.NDArray[np.float64],
    sig: npt.NDArray[np.float64],
    order: int,
    huber: float = HUBER_K,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Huber-IRLS weighted polynomial fit; returns coef, covariance, normalised residuals."""
    cols = [np.ones_like(t), t, 0.5 * t * t][: order + 1]
    a = np.stack(cols, axis=1)
    hub = np.ones_like(t)
    coef = np.zeros(order + 1)
    cov = np.zeros((order + 1, order + 1))
    r = np.zeros_like(t)
    for _ in range(3):
        w = hub / (sig * sig)
        aw = a * np.sqrt(w)[:, None]
        yw = y * np.sqrt(w)
        coef, *_ = np.linalg.lstsq(aw, yw, rcond=None)
        try:
            cov = np.linalg.inv(aw.T @ aw)
        except np.linalg.LinAlgError:
            cov = np.linalg.pinv(aw.T @ aw)
        r = (y - a @ coef) / sig
        absr = np.abs(r)
        new_hub = np.where(absr <= huber, 1.0, huber / np.maximum(absr, 1e-12))
        if np.allclose(new_hub, hub):
            break
        hub = new_hub
    return coef, cov, r


def fit_observations(obs: list[Observation], order: int = 1, *, robust: bool = True) -> Fit:
    """Fit a motion of polynomial `order` (0, 1 = CV, 2 = CA) in distance space to `obs`
    (in dioptres when the readings are not resolved from infinity); see the module docstring.

    `robust` uses Huber weights (and Huber-capped residuals in the χ²); without it the fit and
    its χ² are plain weighted least squares.
    """
    if not obs:
        raise ValueError("no observations to fit")
    t_ref = obs[-1].t_s
    t = np.array([o.t_s - t_ref for o in obs])
    d = np.array([o.focus_d for o in obs])
    s = np.array([o.sigma_d for o in obs])
    span = float(t[-1] - t[0])
    order = min(order, len(obs) - 1) if span > 1e-6 else 0
    huber = HUBER_K if robust else math.inf
    far = bool(np.any(d < FAR_FIELD_SIGMAS * s))
    if far:
        coef, cov, r = _wls(t, d, s, order, huber)
    else:
        u = 1.0 / d
        coef, cov, r = _wls(t, u, s / (d * d), order, huber)
        # re-linearise the weights at the fitted dioptres (not the noisy readings)
        basis = np.stack([np.ones_like(t), t, 0.5 * t * t][: order + 1], axis=1)
        u_fit = np.maximum(basis @ coef, U_MIN_M)
        coef, cov, r = _wls(t, u, s * u_fit * u_fit, order, huber)
    dof = len(obs) - (order + 1)
    sq = np.minimum(r * r, HUBER_K * np.abs(r)) if robust else r * r
    chi2 = float(np.sum(sq)) / dof if dof > 0 else 1.0
    if chi2 > 1.0:
        cov = cov * chi2
    if order == 0:
        # a single instant: a position with no velocity information
        coef = np.array([coef[0], 0.0])
        c2 = np.zeros((2, 2))
        c2[0, 0] = cov[0, 0]
        cov = c2
    return Fit(
        t_ref_s=t_ref,
        coef=tuple(float(c) for c in coef),
        cov=cov,
        far_field=far,
        n=len(obs),
        chi2_red=chi2,
        span_s=span,
    )


class SubjectPredictor:
    """Fits recent subject observations and predicts the subject's focus position at any time.

    See the module docstring for the model. ``add`` observations in time order; ``fit()`` returns
    the current `Fit` (None until `min_points` observations), ``predict_d(t_s)`` its value.
    """

    def __init__(
        self,
        *,
        model: str = "cv",
        window_s: float = 1.0,
        max_points: int = 40,
        min_points: int = 3,
    ) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown motion model {model!r}; known: {', '.join(MODELS)}")
        if window_s <= 0 or max_points < 2 or min_points < 1:
            raise ValueError("window_s must be > 0, max_points >= 2, min_points >= 1")
        self.model = model
        self.window_s = window_s
        self.max_points = max_points
        self.min_points = min_points
        self._obs: deque[Observation] = deque(maxlen=max_points)
        self._fit: Fit | None = None
        self._dirty = False

    # --- history ------------------------------------------------------------------------
    def reset(self, observations: list[Observation] | None = None) -> None:
        """Forget the track (optionally re-seeding it with `observations`)."""
        self._obs.clear()
        for o in observations or []:
            self._obs.append(o)
        self._dirty = True

    def add(self, obs: Observation) -> None:
        if obs.sigma_d <= 0 or not math.isfinite(obs.focus_d) or not math.isfinite(obs.t_s):
            raise ValueError(f"bad observation {obs!r}")
        if self._obs and obs.t_s < self._obs[-1].t_s:
            raise ValueError("observations must be added in time order")
        self._obs.append(obs)
        while self._obs and self._obs[-1].t_s - self._obs[0].t_s > self.window_s:
            self._obs.popleft()
        self._dirty = True

    @property
    def observations(self) -> list[Observation]:
        return list(self._obs)

    def __len__(self) -> int:
        return len(self._obs)

    @property
    def last(self) -> Observation | None:
        return self._obs[-1] if self._obs else None

    # --- fitting ------------------------------------------------------------------------
    def fit(self) -> Fit | None:
        if self._dirty:
            self._fit = self._compute(list(self._obs))
            self._dirty = False
        return self._fit

    def _order(self, n: int) -> int:
        if self.model == "ca" and n >= 6:
            return 2
        return 1 if n >= 2 else 0

    def _compute(self, obs: list[Observation]) -> Fit | None:
        if len(obs) < self.min_points:
            return None
        fit = self._fit_points(obs)
        # adaptive window: the subject changed its motion; trust the recent half
        while fit.chi2_red > ADAPT_CHI2 and len(obs) >= 2 * max(self.min_points, 3):
            obs = obs[len(obs) // 2 :]
            fit = self._fit_points(obs)
        return fit

    def _fit_points(self, obs: list[Observation]) -> Fit:
        order = self._order(len(obs))
        return fit_observations(obs, order)

    # --- prediction ---------------------------------------------------------------------
    def predict_d(self, t_s: float) -> float | None:
        """Predicted subject focus position (dioptres) at `t_s`, None without a track."""
        f = self.fit()
        if f is not None:
            return f.focus_d(t_s)
        last = self.last
        return None if last is None else last.focus_d

    def sigma_d(self, t_s: float) -> float | None:
        f = self.fit()
        if f is not None:
            return f.sigma_d(t_s)
        last = self.last
        return None if last is None else last.sigma_d

    def residual_sigma_d(self) -> float:
        """Robust scatter (dioptres) of the window's readings about the fit (MAD estimate)."""
        f = self.fit()
        if f is None or f.n < 3:
            return math.nan
        res = [o.focus_d - f.focus_d(o.t_s) for o in self._obs if o.t_s >= f.t_ref_s - f.span_s]
        return float(np.median(np.abs(res))) / 0.6745


# --- the motor -----------------------------------------------------------------------------
def travel_time_s(distance_d: float, speed_d_per_s: float, accel_d_per_s2: float) -> float:
    """Rest-to-rest time of a trapezoidal move (0 for an instantaneous motor)."""
    dist = abs(distance_d)
    v, a = speed_d_per_s, accel_d_per_s2
    if math.isinf(v) and math.isinf(a):
        return 0.0
    if math.isinf(a):
        return dist / v
    if math.isinf(v) or dist <= v * v / a:
        return 2.0 * math.sqrt(dist / a)
    return dist / v + v / a


def travelled_d(
    dt_s: float, distance_d: float, speed_d_per_s: float, accel_d_per_s2: float
) -> float:
    """How far (unsigned, ≤ |distance_d|) a rest-to-rest trapezoidal move gets in `dt_s`."""
    dist = abs(distance_d)
    if dt_s <= 0:
        return 0.0
    total = travel_time_s(dist, speed_d_per_s, accel_d_per_s2)
    if dt_s >= total:
        return dist
    v, a = speed_d_per_s, accel_d_per_s2
    if math.isinf(a):
        return min(dist, v * dt_s)
    v_peak = min(v, math.sqrt(a * dist))
    t_acc = v_peak / a
    d_acc = 0.5 * v_peak * t_acc
    if dt_s <= t_acc:
        return 0.5 * a * dt_s * dt_s
    t_cruise = max(total - 2 * t_acc, 0.0)
    if dt_s <= t_acc + t_cruise:
        return d_acc + v_peak * (dt_s - t_acc)
    t_left = total - dt_s
    return dist - 0.5 * a * t_left * t_left


def lens_position_at(
    t_s: float,
    *,
    from_d: float,
    from_s: float,
    target_d: float,
    speed_d_per_s: float,
    accel_d_per_s2: float,
) -> float:
    """Kinematic estimate of a lens that was at `from_d` at `from_s` heading for `target_d`."""
    step = travelled_d(t_s - from_s, target_d - from_d, speed_d_per_s, accel_d_per_s2)
    return from_d + math.copysign(step, target_d - from_d)


def plan_target(
    predict: SubjectPredictor | Fit,
    *,
    lens_d: float,
    now_s: float,
    aim_s: float,
    speed_d_per_s: float,
    accel_d_per_s2: float,
    iterations: int = 4,
) -> float | None:
    """Lens command: the subject at `aim_s`, or the intercept when the lens cannot make it.

    `lens_d` is the (estimated) lens position at `now_s`, when the command is issued.
    """
    fit = predict.fit() if isinstance(predict, SubjectPredictor) else predict
    if fit is None:
        if isinstance(predict, SubjectPredictor):
            return predict.predict_d(aim_s)
        return None
    target = fit.focus_d(aim_s)
    if travel_time_s(target - lens_d, speed_d_per_s, accel_d_per_s2) <= max(aim_s - now_s, 0.0):
        return target
    # intercept: the time t at which a move to the subject's position at t takes t - now
    t = aim_s
    for _ in range(iterations):
        t = now_s + travel_time_s(fit.focus_d(t) - lens_d, speed_d_per_s, accel_d_per_s2)
        t = max(t, aim_s)
    return fit.focus_d(t)
