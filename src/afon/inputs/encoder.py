"""A rotary encoder on GPIO as the focus ring (gpiozero's `RotaryEncoder`).

Each detent turns the focus ring by `step_d` dioptres, clockwise towards near focus (as most
lenses' rings turn from ∞ to near when turned right, seen from behind). The ring only moves
the lens where a body's ring does: in MF, and after AF-S locked with manual override (DMF);
elsewhere the turn is ignored and `afon run` says so once. gpiozero decodes the quadrature
in its own thread (edges from the pin library); the detents are counted here and applied on
the body's loop thread by `take_steps`, so the body is touched from one thread only.

Wiring: the encoder's A and B to two BCM pins, C (common) to ground; gpiozero's pull-ups.
"""

from __future__ import annotations

import threading
from typing import Any

from afon.errors import AfonError
from afon.inputs.gpio import gpio_available


class FocusEncoder:
    """Counts detents of a quadrature encoder on pins `a` and `b`."""

    name = "encoder"

    def __init__(self, a: int, b: int, step_d: float, *, pin_factory: Any = None) -> None:
        try:
            from gpiozero import RotaryEncoder
        except ImportError:
            raise AfonError("a GPIO encoder needs gpiozero: pip install gpiozero") from None
        ok, why = gpio_available(pin_factory)
        if not ok:
            raise AfonError(why)
        self.step_d = float(step_d)
        self._lock = threading.Lock()
        self._steps = 0
        try:
            # max_steps=0: unbounded (a focus ring has end stops, but those are the lens's)
            self.encoder: Any = RotaryEncoder(a, b, max_steps=0, pin_factory=pin_factory)
        except Exception as exc:  # gpiozero's BadPinFactory, GPIOPinInUse ...
            raise AfonError(f"cannot open the GPIO encoder on pins {a}, {b}: {exc}") from None
        self.encoder.when_rotated_clockwise = lambda: self._turn(1)
        self.encoder.when_rotated_counter_clockwise = lambda: self._turn(-1)

    def _turn(self, steps: int) -> None:
        with self._lock:
            self._steps += steps

    def take_steps(self) -> int:
        """Detents turned since the last call (clockwise positive)."""
        with self._lock:
            steps, self._steps = self._steps, 0
        return steps

    def levels(self) -> dict[str, bool]:
        return {}  # no buttons: nothing for the hub's level check

    def close(self) -> None:
        self.encoder.close()
