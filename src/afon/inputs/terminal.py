"""The terminal's keys as an input (``afon run --inputs keys``): try a build without hardware.

A terminal delivers characters, not key presses and releases (and auto-repeat is the only sign
that a key is still held), so the keys work as on a remote control:

- ``AF_ON``, ``AF_OFF`` and ``SHUTTER_HALF`` *toggle*: one key press holds the control, the
  next lets it go (hold AF-ON to track, press again to lock);
- every other action is a *tap*: pressed, then released `tap_s` later (on the body's clock,
  through `tick`), e.g. ``SHUTTER`` takes one shot (a burst in continuous drive lasts `tap_s`).

The terminal is put into cbreak mode (no line buffering, no echo; Ctrl-C still interrupts) and
restored on `close`. Reading happens on a thread that waits on the stream with a short
``select`` timeout, so it ends within `POLL_S` of `close`.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any

from afon.inputs import InputHub

TOGGLES = ("AF_ON", "AF_OFF", "SHUTTER_HALF")
TAP_S = 0.15
POLL_S = 0.1


def key_label(char: str) -> str:
    return {" ": "space", "\n": "enter", "\t": "tab"}.get(char, char)


class TerminalKeys:
    """Characters from a terminal (or any stream) as presses of the bound actions."""

    name = "keys"

    def __init__(
        self,
        hub: InputHub,
        keys: Mapping[str, str],
        now_s: Callable[[], float],
        *,
        stream: IO[str] | None = None,
        tap_s: float = TAP_S,
    ) -> None:
        self._hub = hub
        self._now_s = now_s
        self.tap_s = float(tap_s)
        self.stream = stream
        self._by_char = {char: action for action, char in keys.items()}
        self._held: set[str] = set()
        self._due: dict[str, float] = {}  # tapped action -> release time
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._saved_mode: Any = None

    def help_line(self) -> str:
        parts = []
        for char, action in self._by_char.items():
            how = "toggle" if action in TOGGLES else "tap"
            parts.append(f"{key_label(char)} = {action} ({how})")
        return ", ".join(parts)

    def feed(self, char: str) -> None:
        """One character typed (from the read thread or a test)."""
        action = self._by_char.get(char)
        if action is None:
            return
        now = self._now_s()
        with self._lock:
            if action in TOGGLES:
                pressed = action not in self._held
                if pressed:
                    self._held.add(action)
                else:
                    self._held.discard(action)
                self._hub.put(action, pressed, self.name)
                return
            if action in self._due:
                self._due[action] = now + self.tap_s  # typed again while down: keep it down
                return
            self._due[action] = now + self.tap_s
        self._hub.put(action, True, self.name)

    def tick(self, now_s: float) -> None:
        """Release the taps that are due (called by the hub each poll)."""
        with self._lock:
            due = [a for a, t in self._due.items() if now_s >= t]
            for action in due:
                del self._due[action]
        for action in due:
            self._hub.put(action, False, self.name)

    def levels(self) -> dict[str, bool]:
        with self._lock:
            down = self._held | set(self._due)
        return {action: action in down for action in self._by_char.values()}

    # --- the stream ------------------------------------------------------------------------
    def start(self) -> None:
        """Put the terminal into cbreak mode and read it on a thread."""
        if self.stream is None:
            import sys

            self.stream = sys.stdin
        fd = self.stream.fileno()
        if os.isatty(fd):
            import termios
            import tty

            self._saved_mode = termios.tcgetattr(fd)
            tty.setcbreak(fd)
        self._thread = threading.Thread(target=self._run, name="afon-keys", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        assert self.stream is not None
        fd = self.stream.fileno()
        try:
            while not self._closed:
                ready, _, _ = select.select([fd], [], [], POLL_S)
                if not ready or self._closed:
                    continue
                data = os.read(fd, 64)
                if not data:
                    return  # end of input
                for char in data.decode(errors="replace"):
                    self.feed(char)
        except (OSError, ValueError):
            return  # the stream went away: nothing more to read

    def close(self) -> None:
        self._closed = True
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=4 * POLL_S)
        if self._saved_mode is not None and self.stream is not None:
            import termios

            with contextlib.suppress(OSError, ValueError):
                termios.tcsetattr(self.stream.fileno(), termios.TCSADRAIN, self._saved_mode)
            self._saved_mode = None
