"""Lens focus motor: trapezoidal velocity profile, backlash, step quantisation and settling.

The motor moves a focusing group whose optical position is in dioptres. A move is planned as
piecewise-constant-acceleration segments (accelerate, cruise, decelerate; a reversal first
brakes to rest). Backlash is a play of width `backlash_d` between the motor and the optics:
after a reversal the motor travels the play before the optics move. Targets are quantised to
`step_d` (the driver's code or step size). After arriving, the motor reports `moving` until
`settle_s` has passed (VCM ringing, USM settling), as real lens drivers do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class MotorSpec:
    """Figures of one focus motor (see af-anchors.md §5)."""

    kind: str
    min_d: float
    max_d: float
    max_speed_d_per_s: float
    accel_d_per_s2: float
    backlash_d: float = 0.0
    step_d: float = 0.0
    settle_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.max_d > self.min_d >= 0:
            raise ValueError(
                f"motor range must satisfy 0 <= min_d < max_d, got {self.min_d}..{self.max_d}"
            )
        if self.max_speed_d_per_s <= 0 or self.accel_d_per_s2 <= 0:
            raise ValueError("motor speed and acceleration must be > 0")
        if self.backlash_d < 0 or self.step_d < 0 or self.settle_s < 0:
            raise ValueError("backlash_d, step_d and settle_s must be >= 0")

    def quantise(self, focus_d: float) -> float:
        """Clamp to the range and round to the motor's step grid."""
        d = min(max(focus_d, self.min_d), self.max_d)
        if self.step_d > 0:
            d = self.min_d + round((d - self.min_d) / self.step_d) * self.step_d
            d = min(max(d, self.min_d), self.max_d)
        return d

    def travel_time_s(self, distance_d: float) -> float:
        """Time of a rest-to-rest move of `distance_d` with the trapezoidal profile (no settle)."""
        dist = abs(distance_d)
        v, a = self.max_speed_d_per_s, self.accel_d_per_s2
        if dist <= v * v / a:
            return 2.0 * math.sqrt(dist / a)
        return dist / v + v / a


@dataclass(frozen=True)
class _Segment:
    t0_s: float
    duration_s: float
    p0: float
    v0: float
    acc: float

    def at(self, t_s: float) -> tuple[float, float]:
        dt = min(max(t_s - self.t0_s, 0.0), self.duration_s)
        return self.p0 + self.v0 * dt + 0.5 * self.acc * dt * dt, self.v0 + self.acc * dt


@dataclass
class LensMotor:
    """A lens motor driven by `command(target_d, t_s)` and sampled with `position_d(t_s)`.

    Time must not go backwards between calls to `command`. Sampling at any time after the
    last command is allowed.
    """

    spec: MotorSpec
    start_d: float = 0.0
    _segments: list[_Segment] = field(default_factory=list, repr=False)
    _motor_origin: float = 0.0
    _optic_origin: float = 0.0
    _origin_t_s: float = 0.0
    _dir: int = 0
    _target_d: float = 0.0
    _arrive_s: float = 0.0
    travel_d: float = 0.0
    reversals: int = 0

    def __post_init__(self) -> None:
        p = self.spec.quantise(self.start_d)
        self._motor_origin = p
        self._optic_origin = p
        self._target_d = p
        self._dir = 0

    # --- sampling -----------------------------------------------------------------------
    def _motor_at(self, t_s: float) -> tuple[float, float]:
        if not self._segments or t_s <= self._segments[0].t0_s:
            return self._motor_origin, 0.0
        for seg in self._segments:
            if t_s <= seg.t0_s + seg.duration_s:
                return seg.at(t_s)
        return self._segments[-1].at(t_s)

    def position_d(self, t_s: float) -> float:
        """Optical focus position (dioptres) at time `t_s`."""
        m, _ = self._motor_at(t_s)
        half = self.spec.backlash_d / 2.0
        o = self._optic_origin
        if self._dir > 0:
            o = max(o, m - half)
        elif self._dir < 0:
            o = min(o, m + half)
        return min(max(o, self.spec.min_d), self.spec.max_d)

    def is_moving(self, t_s: float) -> bool:
        """True while travelling or settling after arrival."""
        return t_s < self._arrive_s + (self.spec.settle_s if self._segments else 0.0)

    def arrival_s(self) -> float:
        """Time at which the current move reaches its target (before settling)."""
        return self._arrive_s

    @property
    def target_d(self) -> float:
        return self._target_d

    # --- commands -----------------------------------------------------------------------
    def command(self, target_d: float, t_s: float) -> float:
        """Start moving the optics towards `target_d` at time `t_s`; return the quantised target.

        Returns the time-independent target; use `arrival_s()` for when it gets there.
        """
        target = self.spec.quantise(target_d)
        m0, v0 = self._motor_at(t_s)
        o0 = self.position_d(t_s)
        if abs(target - o0) < 1e-12 and abs(v0) < 1e-12:
            self._reset_at(t_s, m0, o0, self._dir)
            self._target_d = target
            self._arrive_s = t_s if not self.is_moving(t_s) else self._arrive_s
            return target
        new_dir = 1 if target > o0 else -1 if target < o0 else self._dir
        if self._dir != 0 and new_dir != self._dir:
            self.reversals += 1
        motor_goal = target + new_dir * self.spec.backlash_d / 2.0
        self.travel_d += abs(target - o0)
        self._plan(t_s, m0, v0, o0, motor_goal, new_dir)
        self._target_d = target
        return target

    def _reset_at(self, t_s: float, m: float, o: float, direction: int) -> None:
        self._segments = []
        self._motor_origin = m
        self._optic_origin = o
        self._origin_t_s = t_s
        self._dir = direction

    def _plan(
        self, t_s: float, m0: float, v0: float, o0: float, goal: float, direction: int
    ) -> None:
        a = self.spec.accel_d_per_s2
        vmax = self.spec.max_speed_d_per_s
        segs: list[_Segment] = []
        t, p, v = t_s, m0, v0
        dist = goal - p
        sgn = 1.0 if dist >= 0 else -1.0
        stop_dist = v * v / (2.0 * a)
        # Brake first if moving away from the goal or unable to stop before it.
        if v * sgn < 0 or (v * sgn > 0 and stop_dist > abs(dist)):
            dur = abs(v) / a
            acc = -math.copysign(a, v)
            segs.append(_Segment(t, dur, p, v, acc))
            p, v = segs[-1].at(t + dur)
            v = 0.0
            t += dur
            dist = goal - p
            sgn = 1.0 if dist >= 0 else -1.0
        length = abs(dist)
        v_in = abs(v)
        if length > 1e-15:
            v_peak = min(vmax, math.sqrt(max(a * length + v_in * v_in / 2.0, 0.0)))
            v_peak = max(v_peak, v_in)
            t_acc = (v_peak - v_in) / a
            d_acc = (v_peak * v_peak - v_in * v_in) / (2.0 * a)
            t_dec = v_peak / a
            d_dec = v_peak * v_peak / (2.0 * a)
            d_cruise = max(length - d_acc - d_dec, 0.0)
            t_cruise = d_cruise / v_peak if v_peak > 0 else 0.0
            if t_acc > 0:
                segs.append(_Segment(t, t_acc, p, sgn * v_in, sgn * a))
                p, _ = segs[-1].at(t + t_acc)
                t += t_acc
            if t_cruise > 0:
                segs.append(_Segment(t, t_cruise, p, sgn * v_peak, 0.0))
                p, _ = segs[-1].at(t + t_cruise)
                t += t_cruise
            segs.append(_Segment(t, t_dec, p, sgn * v_peak, -sgn * a))
            t += t_dec
        # pin the end exactly on the goal (floating-point drift)
        segs.append(_Segment(t, 0.0, goal, 0.0, 0.0))
        self._reset_at(t_s, m0, o0, direction)
        self._segments = segs
        self._arrive_s = t
