"""Linux input devices through python-evdev: USB footswitches, keyboards, presenter remotes.

EV_KEY events drive the hub: value 1 is a press, 0 a release, 2 the kernel's auto-repeat
(ignored). `levels()` reads the device's currently held keys (`active_keys()`) for the hub's
level check, so a release lost while the device was grabbed or unplugged is repaired.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from afon.errors import AfonError
from afon.inputs import InputHub

EV_KEY = 0x01
KEY_UP, KEY_DOWN, KEY_HOLD = 0, 1, 2


class KeyDevice(Protocol):
    """What afon needs of an `evdev.InputDevice`."""

    def read_loop(self) -> Iterable[Any]: ...

    def active_keys(self) -> list[int]: ...

    def close(self) -> None: ...


def key_code(name: str) -> int:
    """`KEY_A` → its numeric code."""
    try:
        from evdev import ecodes
    except ImportError:
        raise AfonError("evdev inputs need python-evdev (Linux): pip install evdev") from None
    code = getattr(ecodes, name, None)
    if not isinstance(code, int):
        raise AfonError(f"unknown evdev key name {name!r}")
    return code


def open_device(path: str | None) -> KeyDevice:
    """Open `path`, or the first device that has keys when None."""
    try:
        import evdev
    except ImportError:
        raise AfonError("evdev inputs need python-evdev (Linux): pip install evdev") from None
    try:
        if path is not None:
            device: KeyDevice = evdev.InputDevice(path)
            return device
        for candidate in evdev.list_devices():
            dev = evdev.InputDevice(candidate)
            if evdev.ecodes.EV_KEY in dev.capabilities():
                return dev  # type: ignore[no-any-return]
            dev.close()
    except OSError as exc:
        raise AfonError(
            f"cannot open input device {path or '(auto)'}: {exc} "
            "(is the user in the 'input' group?)"
        ) from None
    raise AfonError("no input device with keys found under /dev/input; give evdev device=PATH")


class EvdevInput:
    """Maps a device's keys to actions. `feed` takes one event (from the read thread or a test)."""

    name = "evdev"

    def __init__(
        self, hub: InputHub, keys: Mapping[str, str], device: KeyDevice | None = None
    ) -> None:
        self._hub = hub
        self.device = device
        self._by_code: dict[int, str] = {key_code(name): action for action, name in keys.items()}
        self._thread: threading.Thread | None = None
        self._closed = False

    def feed(self, event: Any) -> None:
        """Handle one `evdev.InputEvent` (anything with type, code and value)."""
        if event.type != EV_KEY or event.value == KEY_HOLD:
            return
        action = self._by_code.get(event.code)
        if action is None:
            return
        if event.value in (KEY_DOWN, KEY_UP):
            self._hub.put(action, event.value == KEY_DOWN, self.name)

    def run(self) -> None:
        """Read events until the device ends or is closed (blocking)."""
        if self.device is None:
            return
        try:
            for event in self.device.read_loop():
                if self._closed:
                    break
                self.feed(event)
        except OSError:
            pass  # unplugged or closed; the level check releases what was held

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="afon-evdev", daemon=True)
        self._thread.start()

    def levels(self) -> dict[str, bool]:
        if self.device is None:
            return {}
        try:
            active = set(self.device.active_keys())
        except OSError:
            active = set()  # device gone: nothing can be held on it
        return {action: code in active for code, action in self._by_code.items()}

    def close(self) -> None:
        self._closed = True
        if self.device is not None:
            with contextlib.suppress(OSError):
                self.device.close()
