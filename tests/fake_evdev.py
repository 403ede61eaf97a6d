"""A stand-in for the ``evdev`` module (python-evdev 1.x API) over pipes, for hardware-free tests.

It follows python-evdev's documented behaviour where afon relies on it:

- ``list_devices()`` returns device paths; ``InputDevice(path)`` opens one (OSError when the
  path does not exist or is not readable), with ``name``, ``phys``, ``path``, ``fd`` and
  ``capabilities()`` (``{EV_KEY: [codes]}``);
- ``read()`` returns the pending events and raises BlockingIOError when there are none (the
  fd is non-blocking); an unplugged device fails with OSError ENODEV;
- ``grab()`` raises OSError EBUSY when another program already grabbed the device;
  ``ungrab()`` lets go; ``active_keys()`` lists the keys held now; after ``close()`` the fd is
  -1 and ``select`` on it fails with ValueError (as it does on a real closed device).

Events are written to the device's pipe by `FakeInputDevice.press` / `release` (from the
test), as the kernel would queue them.
"""

from __future__ import annotations

import errno
import os
from types import SimpleNamespace
from typing import Any

from evdev import ecodes  # the real key codes (python-evdev is installed for the tests)

EV_KEY = ecodes.EV_KEY


class FakeInputDevice:
    def __init__(self, spec: FakeDeviceSpec) -> None:
        if spec.unreadable:
            raise PermissionError(errno.EACCES, "Permission denied", spec.path)
        self.spec = spec
        self.path = spec.path
        self.name = spec.name
        self.phys = spec.phys
        self.fd = spec.read_fd
        spec.opened.append(self)

    def capabilities(self) -> dict[int, list[int]]:
        return {EV_KEY: list(self.spec.codes)} if self.spec.codes else {}

    def read(self) -> list[Any]:
        if self.fd < 0:
            raise ValueError("file descriptor cannot be a negative integer (-1)")
        try:
            data = os.read(self.fd, 4096)
        except BlockingIOError:
            raise
        if not data:
            raise OSError(errno.ENODEV, "No such device")  # the writer is gone: unplugged
        events = []
        for line in data.decode().split():
            code, value = (int(v) for v in line.split(","))
            events.append(SimpleNamespace(type=EV_KEY, code=code, value=value))
        return events

    def grab(self) -> None:
        if self.spec.grabbed_by_other:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.spec.grabbed = True

    def ungrab(self) -> None:
        self.spec.grabbed = False

    def active_keys(self) -> list[int]:
        if self.fd < 0:
            raise ValueError("closed")
        return sorted(self.spec.held)

    def close(self) -> None:
        self.fd = -1
        self.spec.closed += 1


class FakeDeviceSpec:
    """One input device on the fake bus, with the pipe its events come through."""

    def __init__(
        self,
        path: str,
        name: str,
        keys: tuple[str, ...] = (),
        *,
        phys: str = "usb-0000:01:00.0-1/input0",
        unreadable: bool = False,
        grabbed_by_other: bool = False,
    ) -> None:
        self.path = path
        self.name = name
        self.phys = phys
        self.codes = [int(getattr(ecodes, k)) for k in keys]
        self.unreadable = unreadable
        self.grabbed_by_other = grabbed_by_other
        self.grabbed = False
        self.closed = 0
        self.held: set[int] = set()
        self.opened: list[FakeInputDevice] = []
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)

    def _send(self, key: str, value: int) -> None:
        code = int(getattr(ecodes, key))
        if value == 1:
            self.held.add(code)
        elif value == 0:
            self.held.discard(code)
        os.write(self.write_fd, f"{code},{value}\n".encode())

    def press(self, key: str) -> None:
        self._send(key, 1)

    def release(self, key: str) -> None:
        self._send(key, 0)

    def unplug(self) -> None:
        os.close(self.write_fd)
        self.held.clear()


class FakeEvdev:
    """The ``evdev`` module: the real ``ecodes``, fake devices."""

    ecodes = ecodes

    def __init__(self, *devices: FakeDeviceSpec) -> None:
        self.devices = {d.path: d for d in devices}

    def list_devices(self) -> list[str]:
        return list(self.devices)

    def InputDevice(self, path: str) -> FakeInputDevice:
        spec = self.devices.get(path)
        if spec is None:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        return FakeInputDevice(spec)
