"""The two limits the benchmark measures real strategies against, named by what they know.

Both are handed a `Truth` by the benchmark — ground truth no real strategy ever sees — need no
images (their frames are blank unless a tracking AF area needs pixels), and pay only what
physics and the body charge every strategy alike:

- the lens motor's travel time (acceleration, top speed, backlash, settling, command latency),
  since they move the real simulated motor;
- the body's frame loop: like any strategy they are asked once per preview frame (after
  read-out) and their lens commands go out then;
- the release lag and the photographer's timing.

**Clairvoyant limit** (`CLAIRVOYANT`, `ClairvoyantSingleShot`, `ClairvoyantServo`): knows the
subject's true focus position at every time, *future included*, and when the photographer will
press (their planned exposures). It focuses on the *subject* whatever is under the AF point
(after a recompose, or with an obstacle in front). No AF can beat it; a strategy above it by
more than chance is a bug in the benchmark.

**Causal limit** (`CAUSAL`, `CausalSingleShot`, `CausalServo`): knows perfectly what is under
the AF area *up to the present* and nothing of the future or of the next press. Each frame the
bench tells it (`AreaView`) the subject's present state (`AreaState`: distance, velocity,
acceleration) when the AF area sees the subject, and the state of what the area sees
otherwise (an obstacle covering it, the background after the subject left it). It aims at:

1. the subject, when the AF area sees it now;
2. else the subject as last seen, extrapolated (it knows the obstacle is not the subject, as a
   perfect lock-on would, but cannot see through it);
3. else — the subject never seen during this activation — what the AF area sees.

It extrapolates that state with constant acceleration to the time it aims at: for AF-C the
body's own ``aim_s`` (the next exposure, as the body knows it from the controls held now), for
AF-S the exposure of a photographer who presses `PRESS_AFTER_CONFIRM_S` after the lens has
arrived and a frame has confirmed (a prior: the photographer model's median reaction time,
not the next press, which it cannot know). For AF-C with no release
requested yet it aims at ``now + release lag + half a frame`` — the exposure of a press during
the next frame, the best single target for a press it cannot foresee — and at the body's
``aim_s`` (the still) once a release has been requested. It is what a perfect
sensor-and-estimator could do with the AF area the photographer chose; a causal strategy above
it by more than chance is a bug too.

`CausalTruth.area_state` refuses times after ``now_s()``, so the causal limit cannot look ahead
by mistake. Factories (`clairvoyant_factories`, `causal_factories`) inject either into the body
like any strategy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from afon.cameras.base import Frame
from afon.focus.engine import AfContext, AfStatus, AfStep, AfWindow, travel_estimate_s

CLAIRVOYANT = "clairvoyant"
CAUSAL = "causal"
LIMITS = (CLAIRVOYANT, CAUSAL)

PRESS_AFTER_CONFIRM_S = 0.2
"""The causal AF-S limit's prior on when the photographer presses after the confirmation: the
median reaction time of `afon.bench.photographer.HumanTiming`."""

_SETTLED_FRAMES = 3
"""Frames with the motor at rest after which a limit's AF-S confirms even if the lens stopped
short of its command (a backlash or hysteresis offset the motor will not take out)."""


def _no_plan(confirm_s: float) -> Sequence[float]:
    return ()


@dataclass(frozen=True)
class Truth:
    """What the bench tells the clairvoyant limit (and nobody else)."""

    subject_d: Callable[[float], float]
    """The subject's true focus position (dioptres) at time t (s)."""
    lens_d: Callable[[], float]
    """Where the lens truly is now (the simulation's truth; a focal stack's reported slice)."""
    lens_moving: Callable[[], bool]
    """Whether the lens is moving (or settling) now — the motor's own status line."""
    now_s: Callable[[], float]
    exposures: Callable[[float], Sequence[float]] = _no_plan
    """Mid-exposure times of the stills the photographer intends to take from now on, given
    when this AF-S will confirm (a shutter-button AF-S photographer presses a reaction time
    after the confirmation)."""


@dataclass(frozen=True)
class AreaState:
    """The present state of what the AF area sees: distance (m), its first two derivatives."""

    distance_m: float
    velocity_m_s: float = 0.0
    accel_m_s2: float = 0.0

    def extrapolate_m(self, dt_s: float) -> float:
        """Constant-acceleration extrapolation `dt_s` ahead (never nearer than 1 cm)."""
        dt = max(dt_s, 0.0)
        d = self.distance_m + self.velocity_m_s * dt + 0.5 * self.accel_m_s2 * dt * dt
        return max(d, 0.01)


@dataclass(frozen=True)
class AreaView:
    """What the AF area shows at one time: the subject's state when it is seen (else None),
    and the state of what the area sees (near priority)."""

    subject: AreaState | None
    seen: AreaState


class LookAheadError(RuntimeError):
    """The causal limit asked about a time after the present."""


@dataclass(frozen=True)
class CausalTruth:
    """What the bench tells the causal limit: the present, never the future."""

    area_view: Callable[[float, AfWindow], AreaView]
    """What AF window w shows at time t (s) (see `CausalTruth.view`)."""
    window: Callable[[], AfWindow]
    """The body's AF area now (for the AF-S start, which is not handed a window)."""
    lens_d: Callable[[], float]
    lens_moving: Callable[[], bool]
    now_s: Callable[[], float]
    release_due_s: Callable[[], float | None] = lambda: None
    """When the release the photographer has already requested is due (the body knows it)."""

    def view(self, t_s: float, window: AfWindow) -> AreaView:
        if t_s > self.now_s() + 1e-9:
            raise LookAheadError(f"causal limit asked about t={t_s:.6f} s after now")
        return self.area_view(t_s, window)


class _Belief:
    """The causal limit's memory: the subject as last seen, and the rule of the module
    docstring for what to aim at."""

    def __init__(self, truth: CausalTruth) -> None:
        self.truth = truth
        self.last_seen: tuple[float, AreaState] | None = None

    def state(self, window: AfWindow) -> tuple[float, AreaState]:
        """(time the state holds for, state) of what to focus on now."""
        now = self.truth.now_s()
        view = self.truth.view(now, window)
        if view.subject is not None:
            self.last_seen = (now, view.subject)
            return now, view.subject
        if self.last_seen is not None:
            return self.last_seen
        return now, view.seen

    def distance_at_m(self, window: AfWindow, t_s: float) -> float:
        """Where (m) the focus target will be at `t_s`, extrapolated from what is known now."""
        t0, state = self.state(window)
        return state.extrapolate_m(t_s - t0)


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


class _LimitBase:
    name = CLAIRVOYANT
    wants_phase = False

    def __init__(self, ctx: AfContext) -> None:
        self.ctx = ctx
        self.dof_d = max(ctx.depth_of_focus_d, 1e-9)
        self.commanded_d: float | None = None

    def _clamp(self, d: float) -> float:
        return min(max(d, self.ctx.lens_min_d), self.ctx.lens_max_d)

    @property
    def period_s(self) -> float:
        return 1.0 / max(self.ctx.frame_rate_hz, 1e-6)


class _LimitSingleShot(_LimitBase):
    """AF-S bookkeeping shared by both limits: FOCUSED once the motor is at rest at the
    command (or has rested `_SETTLED_FRAMES` frames), FAILED when cancelled."""

    def __init__(
        self, ctx: AfContext, lens_d: Callable[[], float], lens_moving: Callable[[], bool]
    ) -> None:
        super().__init__(ctx)
        self._lens_d = lens_d
        self._lens_moving = lens_moving
        self.done: AfStatus | None = None
        self.cancelled = False
        self._rested = 0

    def _begin(self) -> None:
        self.done = None
        self.cancelled = False
        self._rested = 0

    def cancel(self) -> None:
        self.cancelled = True

    def _settled(self) -> bool:
        if self._lens_moving():
            self._rested = 0
            return False
        self._rested += 1
        target = self.commanded_d
        at_target = target is None or abs(self._lens_d() - target) <= 0.25 * self.dof_d
        return at_target or self._rested >= _SETTLED_FRAMES

    def _finish(self, command: float | None = None) -> AfStep:
        if self.done is not None:
            return AfStep(self.done)
        if self.cancelled:
            self.done = AfStatus.FAILED
            return AfStep(self.done)
        if command is not None:
            return AfStep(AfStatus.SCANNING, command)
        if not self._settled():
            return AfStep(AfStatus.SCANNING)
        self.done = AfStatus.FOCUSED
        return AfStep(AfStatus.FOCUSED)


# --- clairvoyant ---------------------------------------------------------------------------
class ClairvoyantSingleShot(_LimitSingleShot):
    """AF-S that knows the future: it locks where the subject will be at the exposures.

    AF-S locks the lens before the photographer shoots, so for a subject that moves after
    the lock the best AF-S is not the subject's position *now* but the position that keeps it
    sharp at the exposures that follow: it asks the bench when those are (the photographer's
    plan) and picks the lens position covering the most of them (`best_lock_d`). For a static
    subject that is the subject's position. It estimates its own confirmation time (the lens's
    travel, then a frame) for a photographer who presses a reaction time after it.
    """

    name = CLAIRVOYANT

    def __init__(self, ctx: AfContext, truth: Truth) -> None:
        super().__init__(ctx, truth.lens_d, truth.lens_moving)
        self.truth = truth

    def _subject(self, t_s: float) -> float:
        return self._clamp(self.truth.subject_d(t_s))

    def _target(self, now_s: float, lens_d: float) -> float:
        target = self._subject(now_s)
        for _ in range(2):  # the confirmation time depends on how far the lens goes
            confirm = now_s + travel_estimate_s(self.ctx, target - lens_d) + 1.5 * self.period_s
            times = [t for t in self.truth.exposures(confirm) if t >= now_s]
            target = self._clamp(best_lock_d(self._subject, times, self.dof_d, target))
        return target

    def start(self, lens_d: float, now_s: float) -> float | None:
        self._begin()
        self.commanded_d = self._target(now_s, lens_d)
        return self.commanded_d

    def update(self, frame: Frame, window: AfWindow) -> AfStep:
        return self._finish()


class ClairvoyantServo(_LimitBase):
    """AF-C with a perfect predictor: every frame, the lens aims at the subject's position at
    the next exposure the photographer will make (or, with none planned, at ``now + release
    lag + half a frame``: the best single target for a press during the next frame)."""

    name = CLAIRVOYANT

    def __init__(self, ctx: AfContext, truth: Truth) -> None:
        super().__init__(ctx)
        self.truth = truth

    def _subject(self, t_s: float) -> float:
        return self._clamp(self.truth.subject_d(t_s))

    def update(self, frame: Frame, window: AfWindow, aim_s: float) -> AfStep:
        now = self.truth.now_s()
        upcoming = [t for t in self.truth.exposures(now) if t >= now]
        if upcoming:
            aim = min(upcoming)
        else:
            lag = max(self.ctx.release_lag_s, 0.0)
            aim = now + lag + 0.5 * self.period_s
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


def clairvoyant_factories(
    truth: Truth,
) -> tuple[Callable[[AfContext], ClairvoyantSingleShot], Callable[[AfContext], ClairvoyantServo]]:
    """Factories for `Body(single_shot_factory=..., servo_factory=...)`."""

    def single(ctx: AfContext) -> ClairvoyantSingleShot:
        return ClairvoyantSingleShot(ctx, truth)

    def servo(ctx: AfContext) -> ClairvoyantServo:
        return ClairvoyantServo(ctx, truth)

    return single, servo


# --- causal --------------------------------------------------------------------------------
def _to_d(distance_m: float) -> float:
    return 0.0 if math.isinf(distance_m) else 1.0 / distance_m


class CausalSingleShot(_LimitSingleShot):
    """AF-S that knows the present under the AF area perfectly and nothing of the future.

    At the start it reads the state of what it focuses on (see the module docstring) and sends
    the lens where that will be at the expected exposure: the travel time, a frame to
    confirm, `PRESS_AFTER_CONFIRM_S`, the release lag; each frame until the lens is at rest it
    corrects the command with the newest state (a mover keeps moving). FOCUSED once at rest.
    """

    name = CAUSAL

    def __init__(self, ctx: AfContext, truth: CausalTruth) -> None:
        super().__init__(ctx, truth.lens_d, truth.lens_moving)
        self.truth = truth
        self.belief = _Belief(truth)

    def _target(self, window: AfWindow) -> float:
        now = self.truth.now_s()
        lens = self._lens_d()
        target = self._clamp(_to_d(self.belief.distance_at_m(window, now)))
        for _ in range(2):  # the arrival time depends on how far the lens goes
            arrive = travel_estimate_s(self.ctx, target - lens) + 1.5 * self.period_s
            lead = arrive + PRESS_AFTER_CONFIRM_S + max(self.ctx.release_lag_s, 0.0)
            target = self._clamp(_to_d(self.belief.distance_at_m(window, now + lead)))
        return target

    def start(self, lens_d: float, now_s: float) -> float | None:
        self._begin()
        self.commanded_d = self._target(self.truth.window())
        return self.commanded_d

    def update(self, frame: Frame, window: AfWindow) -> AfStep:
        if self.done is None and not self.cancelled and self._lens_moving():
            target = self._target(window)
            if self.commanded_d is None or abs(target - self.commanded_d) > 0.1 * self.dof_d:
                self.commanded_d = target
                return self._finish(target)
        return self._finish()


class CausalServo(_LimitBase):
    """AF-C with a perfect present: every frame, the lens aims at where what the AF area sees
    now will be at the body's ``aim_s`` (the next exposure as the body knows it), by
    constant-acceleration extrapolation of its present distance, velocity and acceleration."""

    name = CAUSAL

    def __init__(self, ctx: AfContext, truth: CausalTruth) -> None:
        super().__init__(ctx)
        self.truth = truth
        self.belief = _Belief(truth)

    def update(self, frame: Frame, window: AfWindow, aim_s: float) -> AfStep:
        now = self.truth.now_s()
        if self.truth.release_due_s() is None:
            aim_s = now + max(self.ctx.release_lag_s, 0.0) + 0.5 * self.period_s
        target = self._clamp(_to_d(self.belief.distance_at_m(window, aim_s)))
        command: float | None = None
        if self.commanded_d is None or abs(target - self.commanded_d) > 1e-12:
            command = target
            self.commanded_d = target
        here = self._clamp(_to_d(self.belief.distance_at_m(window, now)))
        close = abs(here - self.truth.lens_d()) <= self.dof_d
        return AfStep(AfStatus.FOCUSED if close else AfStatus.SCANNING, command)

    def start(self, lens_d: float, now_s: float) -> float | None:
        window = self.truth.window()
        lead = max(self.ctx.release_lag_s, 0.0) + 0.5 * self.period_s
        self.commanded_d = self._clamp(_to_d(self.belief.distance_at_m(window, now_s + lead)))
        return self.commanded_d


def causal_factories(
    truth: CausalTruth,
) -> tuple[Callable[[AfContext], CausalSingleShot], Callable[[AfContext], CausalServo]]:
    """Factories for `Body(single_shot_factory=..., servo_factory=...)`."""

    def single(ctx: AfContext) -> CausalSingleShot:
        return CausalSingleShot(ctx, truth)

    def servo(ctx: AfContext) -> CausalServo:
        return CausalServo(ctx, truth)

    return single, servo
