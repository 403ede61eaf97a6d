"""The servo (AF-C) strategies by name, and a factory that applies the profile's lock-on delay."""

from __future__ import annotations

from collections.abc import Callable

from afon.focus.engine import AfContext, ServoAf
from afon.focus.lockon import DEFAULT_LOCK_ON_S, lock_on_seconds
from afon.focus.servo import NonPredictiveServo, PredictiveServo

SERVO: dict[str, Callable[[AfContext], ServoAf]] = {
    "predictive": PredictiveServo,
    "non-predictive": NonPredictiveServo,
}
"""Servo strategies by name; "predictive" is the default."""

DEFAULT_SERVO = "predictive"


def make_servo(name: str, ctx: AfContext, *, lock_on_s: float | str = DEFAULT_LOCK_ON_S) -> ServoAf:
    """A servo called `name` for `ctx`, with lock-on `lock_on_s` (seconds or a preset name:
    "off", "short", "normal", "long"; see `afon.focus.lockon`)."""
    key = name.strip().lower().replace("_", "-")
    if key not in SERVO:
        raise ValueError(f"unknown servo {name!r}; known: {', '.join(SERVO)}")
    cls = PredictiveServo if key == "predictive" else NonPredictiveServo
    return cls(ctx, lock_on_s=lock_on_seconds(lock_on_s))
