"""When a camera's preview frames are exposed, read out and delivered.

Frame n's first row stops integrating at ``t0_s + n / frame_rate_hz + exposure_s`` (the
exposure budget: the longest integration the frame allows) and starts `integration_s` before
that (what the auto exposure chose; the budget when not given). Rows are read out over
`readout_s`, so the frame's exposure runs from the first row's start to the last row's end,
``integration_s + readout_s`` in all, and the frame reaches software `pipeline_s` after that
(ISP and statistics latency). A caller that comes late gets the latest frame already
delivered (the ones in between are dropped), and frames exposed while the sensor was busy with a
still are blacked out, as on real sensors: every frame exposed before the still's end
(`black_out_until`, one blocking capture), or only those whose exposure overlaps the still's
exposure and readout (`black_out`, a two-phase capture: live view goes on through the lag).
Shared by the simulated and the focal-stack cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass
class FrameSchedule:
    t0_s: float
    frame_rate_hz: float
    exposure_s: float
    readout_s: float
    next_index: int = 0
    blackout_until_s: float = -math.inf
    integration_s: float | None = None
    pipeline_s: float = 0.0
    blackouts: list[tuple[float, float]] = field(default_factory=list)
    """Windows (start, end) the sensor spends on stills: frames overlapping them are dropped."""

    def __post_init__(self) -> None:
        if self.integration_s is None:
            self.integration_s = self.exposure_s
        if not 0 < self.integration_s <= self.exposure_s + 1e-12:
            raise ValueError(
                f"integration ({self.integration_s} s) must be in (0, budget {self.exposure_s} s]"
            )
        if self.pipeline_s < 0:
            raise ValueError("pipeline latency must be >= 0")

    @property
    def _integration(self) -> float:
        return self.exposure_s if self.integration_s is None else self.integration_s

    def exposure_start_s(self, index: int) -> float:
        """First row starts integrating."""
        return self.t0_s + index / self.frame_rate_hz + self.exposure_s - self._integration

    def exposure_end_s(self, index: int) -> float:
        """Last row stops integrating (and is read out)."""
        return self.t0_s + index / self.frame_rate_hz + self.exposure_s + self.readout_s

    def ready_s(self, index: int) -> float:
        """The frame reaches software."""
        return self.exposure_end_s(index) + self.pipeline_s

    def upcoming(self, now_s: float) -> int:
        """Index of the frame a call at `now_s` would return (blackout and late-caller rules)."""
        n = self.next_index
        while self.exposure_start_s(n) < self.blackout_until_s - 1e-12 or self._in_blackout(n):
            n += 1
        if self.ready_s(n) < now_s:
            period = 1.0 / self.frame_rate_hz
            latency = self.exposure_s + self.readout_s + self.pipeline_s
            latest = math.floor((now_s - self.t0_s - latency) / period + 1e-9)
            n = max(n, latest)
            while self._in_blackout(n):
                n += 1
        return n

    def next_ready_s(self, now_s: float) -> float:
        """When the next frame will be available to a caller at `now_s`."""
        return max(self.ready_s(self.upcoming(now_s)), now_s)

    def take(self, now_s: float) -> int:
        """Claim the next frame: its index (the caller waits until `ready_s(index)`)."""
        n = self.upcoming(now_s)
        self.next_index = n + 1
        return n

    def _in_blackout(self, index: int) -> bool:
        start, end = self.exposure_start_s(index), self.exposure_end_s(index)
        return any(start < b_end - 1e-12 and end > b_start + 1e-12
                   for b_start, b_end in self.blackouts)

    def black_out(self, start_s: float, end_s: float) -> None:
        """Frames whose exposure overlaps [start_s, end_s] are not delivered (the sensor is
        exposing and reading out a still then); frames before and after are."""
        first = self.exposure_start_s(self.next_index)
        self.blackouts = [(a, b) for a, b in self.blackouts if b > first - 1.0]
        self.blackouts.append((start_s, end_s))

    def black_out_until(self, t_s: float) -> None:
        """Frames exposed before `t_s` are not delivered (a still was being taken)."""
        self.blackout_until_s = max(self.blackout_until_s, t_s)
