"""The oracle focus: the physical limit the benchmark measures real strategies against.

The oracle knows where the subject is. The benchmark hands it a `Truth` — the subject's true
focus position (dioptres, in the lens's units) as a function of time, past and future, taken
from the simulation's ground truth or from a focal stack's judged sharpest slice, and when the
photographer intends to expose — which no real strategy ever sees. It needs no images (the
benchmark does not even render frames for it), and it pays only what physics charges:

- the lens motor's travel time (acceleration, top speed, backlash, settling), since it moves
  the real simulated motor;
- the body's frame loop: like any strategy it is asked once per preview frame (after read-out)
  and its lens commands go out then;
- the release lag and the photographer's timing, which are the same for every strategy.

It knows the *subject*, not what happens to be under the AF point: after a recompose, or with an
obstacle in front, it still focuses on the subject. So it bounds what any AF could do with the
same technique; a strategy that beats it by more than chance points at a bug in the benchmark.

`OracleSingleShot` (AF-S) locks where the subject will be at the photographer's next
exposures; `OracleServo` (AF-C) aims every frame at the subject at the next exposure. Both are
injected into the body through its strategy factories (`oracle_factories`), like any strategy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from afon.cameras.base import Frame
from afon.focus.engine import AfContext, AfStatus, AfStep, AfWindow

ORACLE = "oracle"


def _no_plan(confirm_s: float) -> Sequence[float]:
    return ()


@dataclass(frozen=True)
class Truth:
    """What the bench tells the oracle (and nobody else)."""

    subject_d: Callable[[float], float]
    """The subject's true focus position (dioptres) at time t (s)."""
    lens_d: Callable[[], float]
    """Where the lens is now (the motor's position report)."""
    lens_moving: Callable[[], bool]
    """Whether the lens is moving (or settling) now — the motor's own status line."""
    now_s: Callable[[], float]
    exposures: Callable[[float], Sequence[float]] = _no_plan
    """Mid-exposure times of the stills the photographer intends to take from now on, given
    when this AF-S will confirm (a shutter-button AF-S photographer presses a reaction time
    after the confirmation)."""


def travel_s(ctx: AfContext, distance_d: float) -> float:
    """Rest-to-rest time of a trapezoidal move of `distance_d` with the context's motor."""
    dist = abs(distance_d)
    v, a = ctx.motor_speed_d_per_s, ctx.motor_accel_d_per_s2
    if not (math.isfinite(v) and math.isfinite(a)) or v <= 0 or a <= 0:
        return 0.0
    if dist <= v * v / a:
        return 2.0 * math.sqrt(dist / a)
    return dist / v + v / a


def best_lock_d(
    subject_d: Callable[[float], float], times_s: Sequence[float], dof_d: float, fallback_d: float
) -> float:
    """The one lens position that keeps the subject in focus at the most of `times_s` (ties:
    the smallest worst error); `fallback_d` when there are none."""
    if not times_s:
        return fallback_d
    positions = [subject_d(t) for t in times_s]
    margin = 0.9 * dof_d
    candidates = {p + k * margin for p in positions for k in (-1.0, 0.0, 1.0)}

    def score(c: float) -> tuple[int, float]:
        hits = [abs(p - c) for p in positions if abs(p - c) <= margin]
        return len(hits), -max(hits, default=math.inf)

    return max(sorted(candidates), key=score)


class _OracleBase:
    name = ORACLE
    wants_phase = False

    def __init__(self, ctx: AfContext, truth: Truth) -> None:
        self.ctx = ctx
        self.truth = truth
        self.dof_d = max(ctx.depth_of_focus_d, 1e-9)
        self.commanded_d: float | None = None

    def _clamp(self, d: float) -> float:
        return min(max(d, self.ctx.lens_min_d), self.ctx.lens_max_d)

    def _subject(self, t_s: float) -> float:
        return self._clamp(self.truth.subject_d(t_s))


class OracleSingleShot(_OracleBase):
    """AF-S with perfect knowledge: it locks where the subject will be at the exposures.

    AF-S locks the lens before the photographer shoots, so for a subject that moves after
    the lock the best AF-S is not the subject's position *now* but the position that keeps it
    sharp at the exposures that follow: the oracle asks the bench when those are (the
    photographer's plan) and picks the lens position covering the most of them
    (`best_lock_d`). For a static subject that is the subject's position. It estimates its own
    confirmation time (the lens's travel, then a frame) for a photographer who presses a
    reaction time after it. FOCUSED on the first frame after the lens has come to rest.
    """

    def __init__(self, ctx: AfContext, truth: Truth) -> None:
        super().__init__(ctx, truth)
        self.done: AfStatus | None = None
        self.cancelled = False

    def _target(self, now_s: float, lens_d: float) -> float:
        period = 1.0 / max(self.ctx.frame_rate_hz, 1e-6)
        target = self._subject(now_s)
        for _ in range(2):  # the confirmation time depends on how far the lens goes
            confirm = now_s + travel_s(self.ctx, target - lens_d) + 1.5 * period
            times = [t for t in self.truth.exposures(confirm) if t >= now_s]
            target = self._clamp(best_lock_d(self._subject, times, self.dof_d, target))
        return target

    def start(self, lens_d: float, now_s: float) -> float | None:
        self.done = None
        self.cancelled = False
        self.commanded_d = self._target(now_s, lens_d)
        return self.commanded_d

    def cancel(self) -> None:
        self.cancelled = True

    def update(self, frame: Frame, window: AfWindow) -> AfStep:
        if self.done is not None:
            return AfStep(self.done)
        if self.cancelled:
            self.done = AfStatus.FAILED
            return AfStep(self.done)
        if self.truth.lens_moving():
            return AfStep(AfStatus.SCANNING)
        self.done = AfStatus.FOCUSED
        return AfStep(AfStatus.FOCUSED)


class OracleServo(_OracleBase):
    """AF-C with a perfect predictor: every frame, the lens aims at the subject's position at
    the next exposure the photographer will make (or, with none planned, at ``now + release
    lag + half a frame``: the best single target for a press during the next frame)."""

    def update(self, frame: Frame, window: AfWindow, aim_s: float) -> AfStep:
        now = self.truth.now_s()
        upcoming = [t for t in self.truth.exposures(now) if t >= now]
        if upcoming:
            aim = min(upcoming)
        else:
            lag = max(self.ctx.release_lag_s, 0.0)
            aim = now + lag + 0.5 / max(self.ctx.frame_rate_hz, 1e-6)
        target = self._subject(aim)
        command: float | None = None
        if self.commanded_d is None or abs(target - self.commanded_d) > 1e-12:
            command = target
            self.commanded_d = target
        close = abs(self._subject(now) - self.truth.lens_d()) <= self.dof_d
        return AfStep(AfStatus.FOCUSED if close else AfStatus.SCANNING, command)

    def start(self, lens_d: float, now_s: float) -> float | None:
        self.commanded_d = self._subject(now_s)
        return self.commanded_d


def oracle_factories(
    truth: Truth,
) -> tuple[Callable[[AfContext], OracleSingleShot], Callable[[AfContext], OracleServo]]:
    """Factories for `Body(single_shot_factory=..., servo_factory=...)`."""

    def single(ctx: AfContext) -> OracleSingleShot:
        return OracleSingleShot(ctx, truth)

    def servo(ctx: AfContext) -> OracleServo:
        return OracleServo(ctx, truth)

    return single, servo
