"""Controls: the named inputs of a camera body, their events, and the auto-repeat rule."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from afon.errors import AfonError


class Control(enum.Enum):
    """A physical or on-screen input of the body."""

    AF_ON = "AF_ON"
    AF_OFF = "AF_OFF"
    SHUTTER_HALF = "SHUTTER_HALF"
    SHUTTER_FULL = "SHUTTER_FULL"
    AF_POINT_UP = "AF_POINT_UP"
    AF_POINT_DOWN = "AF_POINT_DOWN"
    AF_POINT_LEFT = "AF_POINT_LEFT"
    AF_POINT_RIGHT = "AF_POINT_RIGHT"
    AF_POINT_CENTRE = "AF_POINT_CENTRE"

    @classmethod
    def parse(cls, text: str) -> Control:
        """Accept `AF_ON`, `af-on`, `af_on` ...; unknown names list the known ones."""
        key = text.strip().upper().replace("-", "_")
        try:
            return cls[key]
        except KeyError:
            names = ", ".join(c.value for c in cls)
            raise AfonError(f"unknown control {text!r} (controls: {names})") from None


AF_POINT_STEPS: dict[Control, tuple[float, float]] = {
    Control.AF_POINT_UP: (0.0, -0.05),
    Control.AF_POINT_DOWN: (0.0, 0.05),
    Control.AF_POINT_LEFT: (-0.05, 0.0),
    Control.AF_POINT_RIGHT: (0.05, 0.0),
}
"""How far one press moves the AF point, in normalised frame units."""


@dataclass(frozen=True)
class ControlEvent:
    """A press or release of a control at time `t_s` (seconds on the body's clock)."""

    control: Control
    pressed: bool
    t_s: float

    def __str__(self) -> str:
        return f"{self.t_s:.3f}s {self.control.value} {'press' if self.pressed else 'release'}"


class ControlStates:
    """Which controls are held. Filters key auto-repeat: a press while held is not a new press,
    and a release of a control that is not held is ignored."""

    def __init__(self) -> None:
        self._held: dict[Control, float] = {}

    def accept(self, event: ControlEvent) -> bool:
        """Record `event`; return False when it changes nothing (auto-repeat or stray release)."""
        if event.pressed:
            if event.control in self._held:
                return False
            self._held[event.control] = event.t_s
            return True
        if event.control not in self._held:
            return False
        del self._held[event.control]
        return True

    def held(self, control: Control) -> bool:
        return control in self._held

    def pressed_at(self, control: Control) -> float | None:
        return self._held.get(control)

    def held_controls(self) -> list[Control]:
        return list(self._held)
