"""GPIO buttons through gpiozero: pull-up, active low (a button from the pin to ground).

Edges come from gpiozero's callbacks (its own thread on real hardware) and go on the hub's
queue; `levels()` reads `is_pressed` for the hub's level check.

On a machine without GPIO, gpiozero tries each pin library in turn, warns about every one
(``PinFactoryFallback``) and ends with ``BadPinFactory``; afon silences the warnings and says
plainly that there is no GPIO, and what to use instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from afon.errors import AfonError
from afon.inputs import InputHub

NO_GPIO_ADVICE = (
    "no GPIO on this machine (gpiozero found no pin library that works here: not a Raspberry "
    "Pi, or python3-lgpio is missing: `sudo apt install python3-lgpio`). Without GPIO "
    "buttons use --inputs keys (the terminal's keys) or evdev:... (a USB footswitch)"
)


def gpio_available(pin_factory: Any = None) -> tuple[bool, str]:
    """(available, which pin library or why not), without gpiozero's fallback warnings."""
    if pin_factory is not None:
        return True, type(pin_factory).__name__
    try:
        from gpiozero import Device
        from gpiozero.exc import BadPinFactory
    except ImportError:
        return False, "gpiozero is not installed"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gpiozero's PinFactoryFallback, one per library
        try:
            Device.ensure_pin_factory()  # gpiozero's documented way to pick the factory
        except BadPinFactory:
            return False, NO_GPIO_ADVICE
        except Exception as exc:  # a pin library that loads but fails (no /dev/gpiochip...)
            return False, f"{NO_GPIO_ADVICE} ({exc})"
    return True, type(Device.pin_factory).__name__


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
        ok, why = gpio_available(pin_factory)
        if not ok:
            raise AfonError(why)
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
