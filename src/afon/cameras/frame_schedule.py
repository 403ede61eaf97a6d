"""When a camera's preview frames are exposed and read out.

Frame n is exposed from `t0_s + n / frame_rate_hz` for `exposure_s` and is available
`readout_s` after its exposure ends. A caller that comes late gets the latest frame already read
out (the ones in between are dropped), and frames exposed while a still was being taken are
blacked out, as on real sensors. Shared by the simulated and the focal-stack cameras.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class FrameSchedule:
    t0_s: float
    frame_rate_hz: float
    exposure_s: float
    readout_s: float
    next_index: int = 0
    blackout_until_s: float = -math.inf

    def exposure_start_s(self, index: int) -> float:
        return self.t0_s + index / self.frame_rate_hz

    def ready_s(self, index: int) -> float:
        return self.exposure_start_s(index) + self.exposure_s + self.readout_s

    def upcoming(self, now_s: float) -> int:
        """Index of the frame a call at `now_s` would return (blackout and late-caller rules)."""
        n = self.next_index
        while self.exposure_start_s(n) < self.blackout_until_s - 1e-12:
            n += 1
        if self.ready_s(n) < now_s:
            period = 1.0 / self.frame_rate_hz
            latest = math.floor(
                (now_s - self.t0_s - self.exposure_s - self.readout_s) / period + 1e-9
            )
            n = max(n, latest)
        return n

    def next_ready_s(self, now_s: float) -> float:
        """When the next frame will be available to a caller at `now_s`."""
        return max(self.ready_s(self.upcoming(now_s)), now_s)

    def take(self, now_s: float) -> int:
        """Claim the next frame: its index (the caller waits until `ready_s(index)`)."""
        n = self.upcoming(now_s)
        self.next_index = n + 1
        return n

    def black_out_until(self, t_s: float) -> None:
        """Frames exposed before `t_s` are not delivered (a still was being taken)."""
        self.blackout_until_s = max(self.blackout_until_s, t_s)
