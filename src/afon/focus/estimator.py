"""The subject-distance estimator of servo AF (AF-C): an interacting-multiple-model Kalman filter.

What it estimates
-----------------
The state is the subject's **distance** ``u`` (metres), its radial speed ``v`` (m/s) and
acceleration ``a`` (m/s²). Distance, not dioptres, because that is where the motion models are
right: a runner at constant speed is a straight line in metres but accelerates in dioptres
(``D = 1/u``: ``dD/dt = −v/u²``, ``d²D/dt² = 2v²/u³``, af-anchors.md §4.1), and a bird taking off
with a constant thrust is a parabola in metres but a curve of growing order in dioptres. In
dioptres the constant-velocity model would need process noise that grows as ``u⁻³`` to cover
the same runner; in metres one noise level fits every distance. The measurement (a phase reading:
the lens position during the exposure plus the measured defocus) is in dioptres; it is converted
to a distance ``1/D`` with noise ``σ_D/D²`` (a converted-measurement Kalman filter: the update is
linear in metres, so a large innovation cannot throw the estimate through zero as an extended
filter's linearisation would). The conversion's bias is of order ``(σ_D/D)²`` relative,
negligible wherever the reading resolves the distance. Innovations for gating are reported in
dioptres (`innovation`).

Far field: a reading with ``D < far_sigmas × σ_D`` does not resolve the distance (``u = 1/D``
explodes there) and dD/dt is ≈ 0 anyway, so the estimator then holds the reading itself (a
stationary model in dioptres) until a resolved reading starts a metric track again.

The motion models (mixed by likelihood: IMM)
--------------------------------------------
Three Kalman filters share the state and run side by side, each with its own transition ``F``
and process noise ``Q`` (white-noise driven, continuous-time densities; Bar-Shalom, Li &
Kirubarajan, *Estimation with Applications to Tracking and Navigation*, 2001, §6.2–6.3):

- **stationary**: ``u`` a slow random walk (a person swaying: ``q_stationary`` m²/s), ``v = a = 0``;
- **constant velocity**: white-noise acceleration of density ``q_cv`` (m²/s³), ``a = 0``;
- **constant acceleration**: white-noise jerk of density ``q_ca`` (m²/s⁵) — take-offs, stops.

Each step (Blom & Bar-Shalom's IMM, *ibid.* §11.6.6): the models' estimates are mixed with the
model-switching probabilities (a Markov chain with mean dwell time ``dwell_s``, so the switching
probability per step follows the frame interval), each filter predicts to the reading's time and
updates with it, and each model's probability is multiplied by the likelihood of the reading under
that model, ``N(y; 0, S)``. A static subject makes the stationary model win (its prediction is the
average of the readings, no velocity noise); a take-off makes the constant-acceleration model win
within a few frames, since only it explains the growing innovations.

Measurement noise is the caller's: the servo derives it from the phase confidence and, for a
contrast peak, from the bracketing of the peak (see `afon.focus.servo`).

Prediction
----------
`predict_d(t)` propagates every model to ``t`` (the exposure's mid-time: the body's ``aim_s``
includes the release lag and half the still's exposure; the reading itself refers to when its
AF window's rows exposed, so the pipeline's latency between the reading and the command is
covered too) and mixes the predicted dioptres by the model probabilities; `sigma_d(t)` is the
mixture's spread.

Why written here and not a library: filterpy (the usual Python choice, with an IMM) has been
unmaintained since 2018 and its IMM needs equal-dimension linear filters (no EKF update); the
whole filter is ~150 lines of numpy with 3×3 matrices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from afon.focus.predict import Observation

Vec = npt.NDArray[np.float64]
Mat = npt.NDArray[np.float64]

U_MIN_M = 0.01
"""Predicted distances are floored here (an extrapolation through zero is nonsense)."""
FAR_FIELD_SIGMAS = 3.0

STATIONARY, CV, CA = "stationary", "cv", "ca"


@dataclass(frozen=True)
class MotionModel:
    """One motion model: polynomial `order` (0 stationary, 1 CV, 2 CA) and its noise density."""

    name: str
    order: int
    q: float
    """Spectral density of the white noise driving the highest derivative: velocity (m²/s) for
    order 0, acceleration (m²/s³) for order 1, jerk (m²/s⁵) for order 2."""

    def transition(self, dt_s: float) -> Mat:
        """``F(dt)``: the state ``[u, v, a]`` after `dt_s` under this model."""
        t = dt_s
        if self.order == 0:
            return np.diag([1.0, 0.0, 0.0])
        if self.order == 1:
            return np.array([[1.0, t, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
        return np.array([[1.0, t, 0.5 * t * t], [0.0, 1.0, t], [0.0, 0.0, 1.0]])

    def noise(self, dt_s: float) -> Mat:
        """``Q(dt)``: the discretised white-noise process covariance (Bar-Shalom §6.2.2, §6.2.3)."""
        t = max(dt_s, 0.0)
        q = self.q
        out = np.zeros((3, 3))
        if self.order == 0:
            out[0, 0] = q * t
        elif self.order == 1:
            out[:2, :2] = q * np.array([[t**3 / 3, t**2 / 2], [t**2 / 2, t]])
        else:
            out[:, :] = q * np.array(
                [
                    [t**5 / 20, t**4 / 8, t**3 / 6],
                    [t**4 / 8, t**3 / 3, t**2 / 2],
                    [t**3 / 6, t**2 / 2, t],
                ]
            )
        return out


DEFAULT_MODELS: tuple[MotionModel, ...] = (
    MotionModel(STATIONARY, 0, 0.001),
    MotionModel(CV, 1, 0.5),
    MotionModel(CA, 2, 100.0),
)
"""Noise densities: a standing subject sways by ~2 cm in 0.1 s (√(0.004·0.1) m); a running one
changes speed by ~0.2 m/s in 0.1 s (√(0.5·0.1)); a take-off builds up its acceleration at
~3.2 m/s² per 0.1 s (√(100·0.1)). First chosen on synthetic streams (a runner, a take-off, a
stop, a static subject and the erratic scene's motion, readings at 0.3 depth of focus: the most
frames predicted within the depth of focus 80 ms ahead over all five), with q_ca = 200; halved
in round 11 on the benchmark's AF-C scenarios over 18 seeds (BBF AF-C, predictive): the bird
leaving a single AF point is coasted through on the acceleration estimated before it left, and
the steadier estimate kept 87 of its 90 stills against 84 (58/60 against 56/60 on seeds 6-17,
outside the default bench's seeds), the erratic subject 161/162 against 162/162, the other
eight scenarios the same stills."""


@dataclass(frozen=True)
class Snapshot:
    """A copy of a `DistanceEstimator`'s state (see `DistanceEstimator.snapshot`)."""

    t_s: float | None
    x: tuple[Vec, ...]
    p: tuple[Mat, ...]
    mu: Vec
    far: Observation | None
    last: Observation | None
    n: int
    first_s: float | None


@dataclass(frozen=True)
class Innovation:
    """How a reading compares with each model's prediction (before it is used)."""

    y_d: tuple[float, ...]
    """Reading minus each model's predicted dioptres."""
    s_d2: tuple[float, ...]
    """Each model's innovation variance (prediction + reading noise), dioptres²."""
    weights: tuple[float, ...]
    """The models' prior probabilities at the reading's time."""

    @property
    def nis(self) -> tuple[float, ...]:
        """Normalised innovation squared per model (χ² with one degree of freedom)."""
        return tuple(y * y / s for y, s in zip(self.y_d, self.s_d2, strict=True))

    @property
    def min_nis(self) -> float:
        """The smallest NIS: the reading is as plausible as the best model makes it."""
        return min(self.nis)

    @property
    def mixed(self) -> tuple[float, float]:
        """Innovation and its variance under the models' mixture (weights `weights`)."""
        y = sum(w * v for w, v in zip(self.weights, self.y_d, strict=True))
        s = sum(
            w * (sv + (v - y) ** 2)
            for w, v, sv in zip(self.weights, self.y_d, self.s_d2, strict=True)
        )
        return y, s


class DistanceEstimator:
    """IMM Kalman filter of the subject's distance (see the module docstring).

    ``update(obs)`` readings in time order; ``predict_d(t_s)``/``sigma_d(t_s)`` at any later
    time; `probabilities` names the models' current weights.
    """

    def __init__(
        self,
        models: tuple[MotionModel, ...] = DEFAULT_MODELS,
        *,
        dwell_s: float = 2.0,
        init_speed_m_s: float = 5.0,
        init_accel_m_s2: float = 5.0,
        far_sigmas: float = FAR_FIELD_SIGMAS,
    ) -> None:
        if not models:
            raise ValueError("need at least one motion model")
        if dwell_s <= 0 or init_speed_m_s <= 0 or init_accel_m_s2 <= 0:
            raise ValueError("dwell_s, init_speed_m_s and init_accel_m_s2 must be > 0")
        self.models = models
        self.dwell_s = dwell_s
        self.init_speed_m_s = init_speed_m_s
        self.init_accel_m_s2 = init_accel_m_s2
        self.far_sigmas = far_sigmas
        self.reset()

    # --- state --------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget the subject."""
        m = len(self.models)
        self.t_s: float | None = None
        self.x: list[Vec] = [np.zeros(3) for _ in range(m)]
        self.p: list[Mat] = [np.eye(3) for _ in range(m)]
        self.mu: Vec = np.full(m, 1.0 / m)
        self.far: Observation | None = None
        """The last reading when it did not resolve the distance (far field), else None."""
        self.last: Observation | None = None
        self.n = 0
        """Readings used since the track started."""
        self.first_s: float | None = None
        self._forget()

    def _forget(self) -> None:
        """Drop the memos of predictions from the state (call on every change of it)."""
        self._memo_pred: tuple[float, tuple[list[Vec], list[Mat], Vec]] | None = None
        self._memo_at: dict[float, tuple[list[float], list[float]]] = {}

    def seed(self, observations: list[Observation]) -> None:
        """Start a new track from `observations` (in time order)."""
        self.reset()
        for o in observations:
            self.update(o)

    @property
    def span_s(self) -> float:
        """Time covered by the track's readings."""
        if self.first_s is None or self.last is None:
            return 0.0
        return self.last.t_s - self.first_s

    @property
    def probabilities(self) -> dict[str, float]:
        return {m.name: float(p) for m, p in zip(self.models, self.mu, strict=True)}

    def _resolved(self, obs: Observation) -> bool:
        return obs.focus_d >= self.far_sigmas * obs.sigma_d

    def _start(self, obs: Observation) -> None:
        u = 1.0 / obs.focus_d
        sig_u = obs.sigma_d * u * u
        p = np.diag([sig_u**2, self.init_speed_m_s**2, self.init_accel_m_s2**2])
        for i, model in enumerate(self.models):
            keep = np.array([1.0, float(model.order >= 1), float(model.order >= 2)])
            self.x[i] = np.array([u, 0.0, 0.0])
            self.p[i] = p * np.outer(keep, keep)
        self.mu = np.full(len(self.models), 1.0 / len(self.models))
        self.t_s = obs.t_s
        self._forget()

    # --- the IMM step -------------------------------------------------------------------
    def _switching(self, dt_s: float) -> Mat:
        """Markov model-switching matrix for a step of `dt_s` (mean dwell `dwell_s`)."""
        m = len(self.models)
        if m == 1:
            return np.ones((1, 1))
        leave = 1.0 - math.exp(-max(dt_s, 0.0) / self.dwell_s)
        pi = np.full((m, m), leave / (m - 1))
        np.fill_diagonal(pi, 1.0 - leave)
        return pi

    def _mixed(self, dt_s: float) -> tuple[list[Vec], list[Mat], Vec]:
        """Mixed initial conditions per model and the models' prior probabilities."""
        pi = self._switching(dt_s)
        c = pi.T @ self.mu
        xs, ps = [], []
        for j in range(len(self.models)):
            w = pi[:, j] * self.mu / max(c[j], 1e-300)
            x0 = sum((w[i] * self.x[i] for i in range(len(w))), np.zeros(3))
            p0 = np.zeros((3, 3))
            for i in range(len(w)):
                d = self.x[i] - x0
                p0 += w[i] * (self.p[i] + np.outer(d, d))
            xs.append(x0)
            ps.append(p0)
        return xs, ps, c

    def _propagate(self, x: Vec, p: Mat, model: MotionModel, dt_s: float) -> tuple[Vec, Mat]:
        f = model.transition(dt_s)
        x1 = f @ x
        x1[0] = max(x1[0], U_MIN_M)
        return x1, f @ p @ f.T + model.noise(dt_s)

    def _predicted(self, obs: Observation) -> tuple[list[Vec], list[Mat], Vec]:
        """Each model's prediction to `obs`'s time and the models' priors (read-only: kept
        until the state changes, as a reading is compared (`innovation`) before it is used)."""
        assert self.t_s is not None
        memo = self._memo_pred
        if memo is not None and memo[0] == obs.t_s:
            return memo[1]
        dt = max(obs.t_s - self.t_s, 0.0)
        xs, ps, c = self._mixed(dt)
        out_x, out_p = [], []
        for model, x0, p0 in zip(self.models, xs, ps, strict=True):
            x1, p1 = self._propagate(x0, p0, model, dt)
            out_x.append(x1)
            out_p.append(p1)
        self._memo_pred = (obs.t_s, (out_x, out_p, c))
        return out_x, out_p, c

    @staticmethod
    def _h(x: Vec) -> tuple[float, Vec]:
        u = max(float(x[0]), U_MIN_M)
        return 1.0 / u, np.array([-1.0 / (u * u), 0.0, 0.0])

    def innovation(self, obs: Observation) -> Innovation | None:
        """How `obs` compares with each model's prediction; None without a metric track."""
        if self.t_s is None or self.far is not None or not self._resolved(obs):
            return None
        xs, ps, c = self._predicted(obs)
        ys, ss = [], []
        r = obs.sigma_d**2
        for x, p in zip(xs, ps, strict=True):
            z, h = self._h(x)
            ys.append(obs.focus_d - z)
            ss.append(float(h @ p @ h) + r)
        return Innovation(tuple(ys), tuple(ss), tuple(float(v) for v in c))

    def update(self, obs: Observation) -> None:
        """Use a reading (readings in time order)."""
        if obs.sigma_d <= 0 or not (math.isfinite(obs.focus_d) and math.isfinite(obs.t_s)):
            raise ValueError(f"bad observation {obs!r}")
        if self.last is not None and obs.t_s < self.last.t_s:
            raise ValueError("observations must be used in time order")
        if self.first_s is None:
            self.first_s = obs.t_s
        self.last = obs
        self.n += 1
        if not self._resolved(obs):
            self.far = obs
            self.t_s = None
            self._forget()
            return
        if self.t_s is None or self.far is not None:
            self.far = None
            self._start(obs)
            return
        xs, ps, c = self._predicted(obs)
        self._forget()
        # the reading converted to a distance: a linear update in metres (no linearisation
        # blow-up on a large innovation); bias O((σ/D)²), negligible where it resolves distance
        u_meas = 1.0 / obs.focus_d
        r = (obs.sigma_d * u_meas * u_meas) ** 2
        h = np.array([1.0, 0.0, 0.0])
        log_l = np.zeros(len(self.models))
        for i, (x, p) in enumerate(zip(xs, ps, strict=True)):
            y = u_meas - float(x[0])
            s = float(p[0, 0]) + r
            k = p[:, 0] / s
            x = x + k * y
            x[0] = max(x[0], U_MIN_M)
            a = np.eye(3) - np.outer(k, h)
            p = a @ p @ a.T + r * np.outer(k, k)  # Joseph form: stays symmetric, positive
            self.x[i], self.p[i] = x, 0.5 * (p + p.T)
            log_l[i] = -0.5 * (y * y / s + math.log(2.0 * math.pi * s))
        w = c * np.exp(log_l - log_l.max())
        total = float(w.sum())
        self.mu = w / total if total > 0 and math.isfinite(total) else c
        self.t_s = obs.t_s

    def inflate(self, speed_m_s: float, accel_m_s2: float) -> None:
        """Widen every model's speed/acceleration uncertainty (the subject changed its motion
        in a way the models did not expect: let the next readings re-estimate it)."""
        for i, model in enumerate(self.models):
            if model.order >= 1:
                self.p[i][1, 1] += speed_m_s**2
            if model.order >= 2:
                self.p[i][2, 2] += accel_m_s2**2
        self._forget()

    def snapshot(self) -> Snapshot:
        """The whole filter state, for `restore`."""
        return Snapshot(
            self.t_s,
            tuple(x.copy() for x in self.x),
            tuple(p.copy() for p in self.p),
            self.mu.copy(),
            self.far,
            self.last,
            self.n,
            self.first_s,
        )

    def restore(self, snap: Snapshot) -> None:
        """Go back to a `snapshot` (forget the readings used since)."""
        self.t_s = snap.t_s
        self.x = [x.copy() for x in snap.x]
        self.p = [p.copy() for p in snap.p]
        self.mu = snap.mu.copy()
        self.far, self.last, self.n, self.first_s = snap.far, snap.last, snap.n, snap.first_s
        self._forget()

    # --- prediction ---------------------------------------------------------------------
    def _at(self, t_s: float) -> tuple[list[float], list[float]]:
        """Each model's predicted dioptres and their variances at `t_s` (kept until the state
        changes: a reading's time is asked for its prediction and its spread in turn)."""
        assert self.t_s is not None
        hit = self._memo_at.get(t_s)
        if hit is not None:
            return hit
        dt = max(t_s - self.t_s, 0.0)
        ds, vs = [], []
        for model, x, p in zip(self.models, self.x, self.p, strict=True):
            x1, p1 = self._propagate(x, p, model, dt)
            z, h = self._h(x1)
            ds.append(z)
            vs.append(float(h @ p1 @ h))
        if len(self._memo_at) >= 8:
            self._memo_at.clear()
        self._memo_at[t_s] = (ds, vs)
        return ds, vs

    def predict_d(self, t_s: float) -> float | None:
        """The subject's predicted focus position (dioptres) at `t_s`; None without a track."""
        if self.far is not None:
            return self.far.focus_d
        if self.t_s is None:
            return None
        ds, _ = self._at(t_s)
        return float(np.dot(self.mu, ds))

    def sigma_d(self, t_s: float) -> float | None:
        """1-σ spread of `predict_d(t_s)` (the models' own variances and their disagreement)."""
        if self.far is not None:
            return self.far.sigma_d
        if self.t_s is None:
            return None
        ds, vs = self._at(t_s)
        mean = float(np.dot(self.mu, ds))
        var = sum(m * (v + (d - mean) ** 2) for m, d, v in zip(self.mu, ds, vs, strict=True))
        return math.sqrt(max(var, 0.0))

    def distance_m(self) -> float | None:
        """The current distance estimate (inf in the far field, None without a track)."""
        if self.far is not None:
            return math.inf
        if self.t_s is None:
            return None
        return float(np.dot(self.mu, [x[0] for x in self.x]))

    def speed_m_s(self) -> float | None:
        """The current radial speed estimate (positive = receding); None without a metric track."""
        if self.far is not None or self.t_s is None:
            return None
        return float(np.dot(self.mu, [x[1] for x in self.x]))
