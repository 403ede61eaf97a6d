"""Readings of the subject and the lens motor's reach, for servo AF (AF-C).

`Observation` is one reading of the subject's focus position (dioptres) when the AF
window's rows exposed, with its noise; `afon.focus.estimator` turns a stream of them into a
prediction.

The motor
---------
`plan_target` turns a prediction into a lens command: aim at the subject's predicted position at
``aim_s`` (the next exposure: a still's exposure when a release is pending — release-lag
compensation — else the next preview frame). When the lens cannot get there in time (``motor``
speed and acceleration from `afon.focus.engine.AfContext`), it aims at the *intercept*: the point
where the subject will be when the lens can arrive; the command is issued anyway and the lens
catches up. `lens_position_at` is the kinematic estimate (rest-to-rest trapezoid) of where a
commanded lens is at a given time.

A command given while the lens is still travelling does not start from rest: the driver goes on
from the speed it has (a time-optimal trapezoid from a moving start, braking first if it cannot
stop in time or is moving away). `LensMove` is that move, as the servo models its own commands
(the motor figures are the lens's published speed and acceleration, which a body knows), and
`plan_target` takes the lens's speed at the command so that a lens already moving at the
subject's pace is not led to an intercept a rest-to-rest move would need.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True)
class Observation:
    """One measurement of the subject's focus position."""

    t_s: float
    """Time the measurement refers to (mid-exposure of the AF window's rows)."""
    focus_d: float
    """Subject focus position in dioptres (lens position during the exposure + defocus)."""
    sigma_d: float
    """1-σ measurement noise in dioptres (> 0)."""


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


@dataclass(frozen=True)
class LensMove:
    """The driver's time-optimal move to `target_d`, commanded at `start_s` while the lens was
    at `from_d` moving at `speed0_d_per_s` (signed): brake first when moving away or unable to
    stop before the target, then accelerate, cruise at the top speed, and brake to rest on it.
    """

    start_s: float
    from_d: float
    speed0_d_per_s: float
    target_d: float
    speed_d_per_s: float
    accel_d_per_s2: float

    @cached_property
    def _segments(self) -> list[tuple[float, float, float, float, float]]:
        """(start, duration, position, speed, acceleration) of each constant-acceleration piece
        (worked out once per move: the servo samples a move several times a frame)."""
        a, vmax = self.accel_d_per_s2, self.speed_d_per_s
        t, p, v = self.start_s, self.from_d, self.speed0_d_per_s
        goal = self.target_d
        segs: list[tuple[float, float, float, float, float]] = []
        sgn = 1.0 if goal >= p else -1.0
        if v * sgn < 0 or v * v / (2.0 * a) > abs(goal - p):
            dur = abs(v) / a
            acc = -math.copysign(a, v)
            segs.append((t, dur, p, v, acc))
            p, v, t = p + v * dur + 0.5 * acc * dur * dur, 0.0, t + dur
            sgn = 1.0 if goal >= p else -1.0
        length, v_in = abs(goal - p), abs(v)
        if length > 1e-15:
            v_peak = max(min(vmax, math.sqrt(a * length + v_in * v_in / 2.0)), v_in)
            t_acc = (v_peak - v_in) / a
            d_acc = (v_peak * v_peak - v_in * v_in) / (2.0 * a)
            d_cruise = max(length - d_acc - v_peak * v_peak / (2.0 * a), 0.0)
            t_cruise = d_cruise / v_peak if v_peak > 0 else 0.0
            segs.append((t, t_acc, p, sgn * v_in, sgn * a))
            p, t = p + sgn * d_acc, t + t_acc
            segs.append((t, t_cruise, p, sgn * v_peak, 0.0))
            p, t = p + sgn * d_cruise, t + t_cruise
            segs.append((t, v_peak / a, p, sgn * v_peak, -sgn * a))
        return segs

    @property
    def finite(self) -> bool:
        a, v = self.accel_d_per_s2, self.speed_d_per_s
        return math.isfinite(a) and math.isfinite(v) and a > 0 and v > 0

    def arrive_s(self) -> float:
        """When the lens rests on the target."""
        if not self.finite:
            return self.start_s + travel_time_s(
                self.target_d - self.from_d, self.speed_d_per_s, self.accel_d_per_s2
            )
        segs = self._segments
        return segs[-1][0] + segs[-1][1] if segs else self.start_s

    def at(self, t_s: float) -> tuple[float, float]:
        """Position (dioptres) and speed (dioptres/s) at `t_s` (at rest before `start_s`)."""
        if t_s <= self.start_s:
            return self.from_d, self.speed0_d_per_s
        if not self.finite:
            pos = lens_position_at(
                t_s, from_d=self.from_d, from_s=self.start_s, target_d=self.target_d,
                speed_d_per_s=self.speed_d_per_s, accel_d_per_s2=self.accel_d_per_s2,
            )
            return pos, 0.0
        for t0, dur, p0, v0, acc in self._segments:
            if t_s <= t0 + dur:
                dt = t_s - t0
                return p0 + v0 * dt + 0.5 * acc * dt * dt, v0 + acc * dt
        return self.target_d, 0.0

    def agrees(self, t_s: float, reported_d: float, tolerance_d: float) -> bool:
        """The lens the camera reported at `t_s` is where this move puts it (within
        `tolerance_d`): the lens still follows the command."""
        return abs(self.at(t_s)[0] - reported_d) <= tolerance_d


def move_time_s(
    distance_d: float, speed0_d_per_s: float, speed_d_per_s: float, accel_d_per_s2: float
) -> float:
    """Time to rest on a point `distance_d` away (signed) from a lens moving at
    `speed0_d_per_s` (signed): `LensMove`'s duration; rest-to-rest without an initial speed."""
    finite = math.isfinite(speed_d_per_s) and math.isfinite(accel_d_per_s2)
    if speed0_d_per_s == 0.0 or not finite:
        return travel_time_s(distance_d, speed_d_per_s, accel_d_per_s2)
    move = LensMove(0.0, 0.0, speed0_d_per_s, distance_d, speed_d_per_s, accel_d_per_s2)
    return move.arrive_s()


def plan_target(
    predict_d: Callable[[float], float | None],
    *,
    lens_d: float,
    now_s: float,
    aim_s: float,
    speed_d_per_s: float,
    accel_d_per_s2: float,
    lens_speed_d_per_s: float = 0.0,
    iterations: int = 4,
) -> float | None:
    """Lens command: the subject at `aim_s`, or the intercept when the lens cannot make it.

    `predict_d(t)` is the subject's predicted focus position at `t` (None without a track).

    `lens_d` and `lens_speed_d_per_s` are the (estimated) lens position and speed at `now_s`,
    when the command takes effect.
    """

    def reach_s(target_d: float) -> float:
        return move_time_s(target_d - lens_d, lens_speed_d_per_s, speed_d_per_s, accel_d_per_s2)

    target = predict_d(aim_s)
    if target is None:
        return None
    if reach_s(target) <= max(aim_s - now_s, 0.0):
        return target
    # intercept: the time t at which a move to the subject's position at t takes t - now
    t = aim_s
    for _ in range(iterations):
        at_t = predict_d(t)
        if at_t is None:
            return target
        target = at_t
        t = max(now_s + reach_s(target), aim_s)
    return predict_d(t)
