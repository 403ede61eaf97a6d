"""GPIO buttons through gpiozero: pull-up, active low (a button from the pin to ground).

Edges come from gpiozero's callbacks (its own thread on real hardware) and go on the hub's
queue; `levels()` reads `is_pressed` for the hub's level check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from afon.errors import AfonError
from afon.inputs import InputHub


class GpioInput:
    """One gpiozero `Button` per bound action."""

    name = "gpio"

    def __init__(self, hub: InputHub, pins: Mapping[str, int], *, pin_factory: Any = None) -> None:
        try:
            from gpiozero import Button
        except ImportError:
            raise AfonError("GPIO inputs need gpiozero: pip install gpiozero") from None
        self._hub = hub
        self.buttons: dict[str, Any] = {}
        try:
            for action, pin in pins.items():
                button = Button(pin, pull_up=True, bounce_time=None, pin_factory=pin_factory)
                button.when_pressed = self._callback(action, True)
                button.when_released = self._callback(action, False)
                self.buttons[action] = button
        except AfonError:
            raise
        except Exception as exc:  # gpiozero's BadPinFactory, GPIOPinInUse ...
            self.close()
            raise AfonError(f"cannot open GPIO buttons {dict(pins)}: {exc}") from None

    def _callback(self, action: str, pressed: bool) -> Any:
        def fire() -> None:
            self._hub.put(action, pressed, self.name)

        return fire

    def levels(self) -> dict[str, bool]:
        return {action: bool(b.is_pressed) for action, b in self.buttons.items()}

    def close(self) -> None:
        for button in self.buttons.values():
            button.close()
        self.buttons.clear()
