"""Linux input devices through python-evdev: USB footswitches, keyboards, presenter remotes.

EV_KEY events drive the hub: value 1 is a press, 0 a release, 2 the kernel's auto-repeat
(ignored). `levels()` reads the device's currently held keys (`active_keys()`) for the hub's
level check, so a release lost while the device was grabbed or unplugged is repaired.

Choosing the device (`open_device`): a path (``/dev/input/by-id/...``), or a name — exactly
(case-insensitive) or a part of the name `afon inputs` lists (`list_devices`). With none given,
the one device that has every bound key is used; when several do (a keyboard *and* a
footswitch both have KEY_A), afon asks for a name instead of guessing (guessing picked the
Power Button before). A device the user chose is *grabbed* (EVIOCGRAB) by default, so its keys
reach only afon and do not also type into the desktop or the terminal; ``grab = false`` keeps
it shared.

The read thread waits on the device's fd with a short ``select`` timeout and ends within
`POLL_S` of `close` (python-evdev's own ``read_loop`` would block in ``select`` forever, and
fail with OSError or ValueError once the fd is gone); an unplugged device ends it quietly too,
so Ctrl-C never prints a thread traceback.
"""

from __future__ import annotations

import contextlib
import select
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from afon.errors import AfonError
from afon.inputs import InputHub

EV_KEY = 0x01
POLL_S = 0.1
KEY_UP, KEY_DOWN, KEY_HOLD = 0, 1, 2
INSTALL_ADVICE = (
    "evdev inputs need python-evdev (Linux): on Raspberry Pi OS / Debian "
    "`sudo apt install python3-evdev` (afon's venv made with --system-site-packages sees it), "
    "elsewhere `pip install 'afon[evdev]'` (needs a C compiler)"
)


class KeyDevice(Protocol):
    """What afon needs of an `evdev.InputDevice`."""

    def read_loop(self) -> Iterable[Any]: ...

    def active_keys(self) -> list[int]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class DeviceInfo:
    """One input device as `afon inputs` lists it."""

    path: str
    name: str
    phys: str
    keys: int
    """How many EV_KEY codes it has (0: not a key device)."""

    def line(self) -> str:
        kind = f"{self.keys} keys" if self.keys else "no keys"
        return f"{self.path}  {self.name!r}  ({kind}; {self.phys or 'no phys'})"


def _evdev() -> Any:
    try:
        import evdev
    except ImportError:
        raise AfonError(INSTALL_ADVICE) from None
    return evdev


def key_code(name: str) -> int:
    """`KEY_A` → its numeric code."""
    code = getattr(_evdev().ecodes, name, None)
    if not isinstance(code, int):
        raise AfonError(f"unknown evdev key name {name!r}")
    return code


def _key_codes(device: Any) -> set[int]:
    return set(device.capabilities().get(EV_KEY, []))


def list_devices(evdev: Any = None) -> list[tuple[DeviceInfo, Any]]:
    """Every readable input device with its info; the devices are open (close them)."""
    ev = evdev if evdev is not None else _evdev()
    out: list[tuple[DeviceInfo, Any]] = []
    for path in ev.list_devices():
        try:
            dev = ev.InputDevice(path)
        except OSError:
            continue  # not readable by this user: `afon inputs` says how many were skipped
        info = DeviceInfo(str(path), str(dev.name), str(dev.phys or ""), len(_key_codes(dev)))
        out.append((info, dev))
    return out


def describe_devices(evdev: Any = None) -> list[DeviceInfo]:
    """`list_devices` without keeping them open."""
    found = list_devices(evdev)
    for _, dev in found:
        with contextlib.suppress(OSError):
            dev.close()
    return [info for info, _ in found]


def _pick(
    found: list[tuple[DeviceInfo, Any]], spec: str | None, codes: set[int]
) -> tuple[Any, DeviceInfo]:
    listing = "; ".join(i.line() for i, _ in found) or "none readable (is the user in 'input'?)"
    if spec is None:
        candidates = [(i, d) for i, d in found if codes and codes <= _key_codes(d)]
        if len(candidates) == 1:
            return candidates[0][1], candidates[0][0]
        which = "no input device has" if not candidates else "several input devices have"
        names = ", ".join(repr(i.name) for i, _ in candidates) or listing
        raise AfonError(
            f"{which} all the bound keys ({names}); name the one to use: "
            'evdev:...,device=NAME (or [evdev] device = "NAME"); `afon inputs` lists them'
        )
    key = spec.removeprefix("name:").strip().lower()
    exact = [(i, d) for i, d in found if i.name.lower() == key]
    partial = [(i, d) for i, d in found if key in i.name.lower()]
    matches = exact or partial
    if len(matches) == 1:
        return matches[0][1], matches[0][0]
    if not matches:
        raise AfonError(f"no input device named {spec!r} (devices: {listing})")
    names = ", ".join(f"{i.name!r} at {i.path}" for i, _ in matches)
    raise AfonError(f"{spec!r} matches several input devices ({names}); give its path")


def open_device(
    spec: str | None, keys: Iterable[str] = (), *, evdev: Any = None
) -> tuple[KeyDevice, DeviceInfo, bool]:
    """Open the device `spec` names (a path or a name; see the module docstring).

    Returns (device, its info, whether the user chose it).
    """
    ev = evdev if evdev is not None else _evdev()
    codes = {int(getattr(ev.ecodes, k)) for k in keys}
    if spec is not None and spec.startswith("/"):
        try:
            dev = ev.InputDevice(spec)
        except OSError as exc:
            raise AfonError(
                f"cannot open input device {spec}: {exc} (is the user in the 'input' group?)"
            ) from None
        info = DeviceInfo(spec, str(dev.name), str(dev.phys or ""), len(_key_codes(dev)))
        return dev, info, True
    found = list_devices(ev)
    chosen: Any = None
    try:
        chosen, info = _pick(found, spec, codes)
    finally:
        for _, dev in found:
            if dev is not chosen:
                with contextlib.suppress(OSError):
                    dev.close()
    return chosen, info, spec is not None


class EvdevInput:
    """Maps a device's keys to actions. `feed` takes one event (from the read thread or a test)."""

    name = "evdev"

    def __init__(
        self,
        hub: InputHub,
        keys: Mapping[str, str],
        device: KeyDevice | None = None,
        *,
        grab: bool = False,
        codes: Mapping[str, int] | None = None,
    ) -> None:
        self._hub = hub
        self.device = device
        lookup = codes if codes is not None else {n: key_code(n) for n in keys.values()}
        self._by_code: dict[int, str] = {lookup[name]: action for action, name in keys.items()}
        self._thread: threading.Thread | None = None
        self._closed = False
        self.grabbed = False
        self.error: str | None = None
        """Why the read loop ended, when it was not closed by afon (unplugged ...)."""
        if grab and device is not None:
            try:
                device.grab()  # type: ignore[attr-defined]
            except OSError as exc:
                raise AfonError(
                    f"cannot grab the input device ({exc}): another program holds it; "
                    "use grab=no to share it"
                ) from None
            self.grabbed = True

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
        """Read events until the device ends or is closed (blocking); never raises."""
        dev: Any = self.device
        if dev is None:
            return
        try:
            if not hasattr(dev, "fd") or not hasattr(dev, "read"):
                for event in dev.read_loop():
                    if self._closed:
                        break
                    self.feed(event)
                return
            while not self._closed:
                ready, _, _ = select.select([dev.fd], [], [], POLL_S)
                if not ready or self._closed:
                    continue
                with contextlib.suppress(BlockingIOError):  # woken without events
                    for event in dev.read():
                        self.feed(event)
        except (OSError, ValueError, TypeError) as exc:
            # closed under the loop (ValueError: fd -1) or unplugged (OSError ENODEV); the
            # hub's level check releases whatever was held
            if not self._closed:
                self.error = f"input device gone: {exc}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="afon-evdev", daemon=True)
        self._thread.start()

    def levels(self) -> dict[str, bool]:
        if self.device is None:
            return {}
        try:
            active = set(self.device.active_keys())
        except (OSError, ValueError):
            active = set()  # device gone: nothing can be held on it
        return {action: code in active for code, action in self._by_code.items()}

    def close(self) -> None:
        """Stop the read thread (within `POLL_S`), let go of the grab, close the device."""
        self._closed = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=4 * POLL_S)
        if self.device is not None:
            if self.grabbed:
                with contextlib.suppress(OSError, ValueError):
                    self.device.ungrab()  # type: ignore[attr-defined]
                self.grabbed = False
            with contextlib.suppress(OSError, ValueError):
                self.device.close()
