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
commanded lens is at a given time, used for the servo's FOCUSED/SCANNING verdict.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


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


def plan_target(
    predict_d: Callable[[float], float | None],
    *,
    lens_d: float,
    now_s: float,
    aim_s: float,
    speed_d_per_s: float,
    accel_d_per_s2: float,
    iterations: int = 4,
) -> float | None:
    """Lens command: the subject at `aim_s`, or the intercept when the lens cannot make it.

    `predict_d(t)` is the subject's predicted focus position at `t` (None without a track).

    `lens_d` is the (estimated) lens position at `now_s`, when the command is issued.
    """
    target = predict_d(aim_s)
    if target is None:
        return None
    if travel_time_s(target - lens_d, speed_d_per_s, accel_d_per_s2) <= max(aim_s - now_s, 0.0):
        return target
    # intercept: the time t at which a move to the subject's position at t takes t - now
    t = aim_s
    for _ in range(iterations):
        at_t = predict_d(t)
        if at_t is None:
            return target
        target = at_t
        t = max(now_s + travel_time_s(target - lens_d, speed_d_per_s, accel_d_per_s2), aim_s)
    return predict_d(t)
