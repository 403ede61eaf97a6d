"""Clocks: a deterministic virtual clock for tests and benchmarks, a real one for live use.

Nothing in afon's core reads the wall clock directly; it asks a `Clock`.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """A source of time in seconds."""

    def now_s(self) -> float:
        """Current time in seconds."""
        ...

    def sleep_until(self, t_s: float) -> None:
        """Return once `now_s() >= t_s`."""
        ...


class VirtualClock:
    """Simulated time: `sleep_until` jumps instantly, so runs are deterministic and fast."""

    def __init__(self, start_s: float = 0.0) -> None:
        self._now_s = float(start_s)

    def now_s(self) -> float:
        return self._now_s

    def advance(self, dt_s: float) -> float:
        """Move time forward by `dt_s` seconds and return the new time."""
        if dt_s < 0:
            raise ValueError(f"a clock cannot go backwards (dt_s={dt_s})")
        self._now_s += dt_s
        return self._now_s

    def sleep_until(self, t_s: float) -> None:
        if t_s > self._now_s:
            self._now_s = float(t_s)


class RealClock:
    """Wall time from a monotonic clock, paced with real sleeps (live viewfinder, hardware)."""

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def now_s(self) -> float:
        return time.monotonic() - self._origin

    def monotonic_to_s(self, monotonic_s: float) -> float:
        """A CLOCK_MONOTONIC time (e.g. a V4L2 buffer timestamp) on this clock."""
        return monotonic_s - self._origin

    def sleep_until(self, t_s: float) -> None:
        delay_s = t_s - self.now_s()
        if delay_s > 0:
            time.sleep(delay_s)


class PacedClock:
    """Real time that can run slower: simulated seconds advance `scale` times as fast as wall
    seconds. A live simulation that cannot keep up slows down visibly (the viewfinder shows the
    time scale) instead of missing its deadlines; `scale` 1 is `RealClock`."""

    def __init__(self, scale: float = 1.0) -> None:
        self._anchor = (time.monotonic(), 0.0, float(scale))
        """(wall, simulated, scale) at the last change of scale."""

    @property
    def scale(self) -> float:
        return self._anchor[2]

    def set_scale(self, scale: float) -> None:
        if not 0 < scale <= 1:
            raise ValueError(f"time scale {scale}: expected 0 < scale <= 1")
        wall = time.monotonic()
        self._anchor = (wall, self._sim_at(wall), float(scale))

    def _sim_at(self, wall: float) -> float:
        w0, s0, k = self._anchor
        return s0 + (wall - w0) * k

    def now_s(self) -> float:
        return self._sim_at(time.monotonic())

    def sleep_until(self, t_s: float) -> None:
        while True:
            delay_s = (t_s - self.now_s()) / self.scale
            if delay_s <= 0:
                return
            time.sleep(min(delay_s, 0.05))  # re-read the scale: it may change meanwhile
