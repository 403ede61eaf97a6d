"""A rotary encoder on GPIO as the focus ring (gpiozero's `RotaryEncoder`), and its push button.

Each detent turns the focus ring by `step_d` dioptres, clockwise towards near focus (as most
lenses' rings turn from ∞ to near when turned right, seen from behind). The ring only moves
the lens where a body's ring does: in MF, and after AF-S locked with manual override (DMF);
elsewhere the turn is ignored and said once. gpiozero decodes the quadrature in its own thread
(edges from the pin library); the detents (and presses of the push button, when it is wired)
are counted here and applied on the body's loop thread by `take_steps` / `take_presses`, so the
body is touched from one thread only. `on_change`, when set, is called (on gpiozero's thread)
after each detent or press, so a waiting loop can wake at once.

In `afon serve` a turn that moves the lens magnifies the view (MF assist, `mf_assist` in the
profile) and the push button cycles the magnifier (off, 5×, 10×), as the page's M key does
(`afon.web.runner`); `afon run` has no viewfinder, so it says once that the button does nothing
there.

Wiring: the encoder's A and B to two BCM pins, C (common) to ground; the push switch (SW on a
KY-040) to a third pin and ground; gpiozero's pull-ups on all three.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from afon.errors import AfonError
from afon.inputs.gpio import gpio_available

BUTTON_DEBOUNCE_S = 0.05
"""Presses of the push switch closer than this (on the given clock) are its contact bounce."""


class FocusEncoder:
    """Counts detents of a quadrature encoder on pins `a` and `b` (and presses of `button`)."""

    name = "encoder"

    def __init__(
        self,
        a: int,
        b: int,
        step_d: float,
        *,
        button: int | None = None,
        now_s: Callable[[], float] | None = None,
        debounce_s: float = BUTTON_DEBOUNCE_S,
        pin_factory: Any = None,
    ) -> None:
        try:
            from gpiozero import Button, RotaryEncoder
        except ImportError:
            raise AfonError("a GPIO encoder needs gpiozero: pip install gpiozero") from None
        ok, why = gpio_available(pin_factory)
        if not ok:
            raise AfonError(why)
        self.step_d = float(step_d)
        self.on_change: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self._steps = 0
        self._presses = 0
        self._last_press_s: float | None = None
        self._now_s = now_s if now_s is not None else time.monotonic
        self.debounce_s = float(debounce_s)
        self.button: Any = None
        try:
            # max_steps=0: unbounded (a focus ring has end stops, but those are the lens's)
            self.encoder: Any = RotaryEncoder(a, b, max_steps=0, pin_factory=pin_factory)
        except Exception as exc:  # gpiozero's BadPinFactory, GPIOPinInUse ...
            raise AfonError(f"cannot open the GPIO encoder on pins {a}, {b}: {exc}") from None
        self.encoder.when_rotated_clockwise = lambda: self._turn(1)
        self.encoder.when_rotated_counter_clockwise = lambda: self._turn(-1)
        if button is not None:
            try:
                # debounced here on the body's clock (as the hub does the buttons), not by
                # gpiozero's wall-clock bounce_time
                self.button = Button(
                    button, pull_up=True, bounce_time=None, pin_factory=pin_factory
                )
            except Exception as exc:
                self.encoder.close()
                raise AfonError(
                    f"cannot open the encoder's button on pin {button}: {exc}"
                ) from None
            self.button.when_pressed = self._press

    def _turn(self, steps: int) -> None:
        with self._lock:
            self._steps += steps
        self._changed()

    def _press(self) -> None:
        now = self._now_s()
        with self._lock:
            last, self._last_press_s = self._last_press_s, now
            if last is not None and now - last < self.debounce_s:
                return  # contact bounce
            self._presses += 1
        self._changed()

    def _changed(self) -> None:
        callback = self.on_change
        if callback is not None:
            callback()

    def take_steps(self) -> int:
        """Detents turned since the last call (clockwise positive)."""
        with self._lock:
            steps, self._steps = self._steps, 0
        return steps

    def take_presses(self) -> int:
        """Presses of the push button since the last call."""
        with self._lock:
            presses, self._presses = self._presses, 0
        return presses

    def levels(self) -> dict[str, bool]:
        return {}  # no bound actions: nothing for the hub's level check

    def close(self) -> None:
        self.encoder.close()
        if self.button is not None:
            self.button.close()
