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
