"""The focus engine's contracts: AF windows, per-frame steps, and the strategy interfaces.

A strategy never sees ground truth. It sees frames (image, exposure times, lens positions during
the exposure, optional phase data) after they are read out, and answers with a lens command.
Two kinds exist, as on real bodies:

- `SingleShotAf` (AF-S): one acquisition that ends FOCUSED or FAILED, then the lens is locked.
- `ServoAf` (AF-C): runs as long as AF is activated, aiming the lens where the subject will be
  at `aim_s` (the next exposure), reporting whether it currently believes focus is good.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Protocol

from afon.cameras.base import Frame


@dataclass(frozen=True)
class AfWindow:
    """AF area in normalised frame coordinates: centre (cx, cy) and size (w, h), all 0..1."""

    cx: float = 0.5
    cy: float = 0.5
    w: float = 0.5
    h: float = 1.0 / 3.0

    def clamped(self) -> AfWindow:
        w = min(max(self.w, 0.02), 1.0)
        h = min(max(self.h, 0.02), 1.0)
        cx = min(max(self.cx, w / 2), 1 - w / 2)
        cy = min(max(self.cy, h / 2), 1 - h / 2)
        return AfWindow(cx, cy, w, h)

    def moved(self, dx: float, dy: float) -> AfWindow:
        return AfWindow(self.cx + dx, self.cy + dy, self.w, self.h).clamped()

    def to_px(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x, y, w, h) in pixels of a width×height image, at least 4×4."""
        win = self.clamped()
        w = max(4, round(win.w * width))
        h = max(4, round(win.h * height))
        x = min(max(0, round(win.cx * width - w / 2)), width - w)
        y = min(max(0, round(win.cy * height - h / 2)), height - h)
        return x, y, w, h


class AfStatus(enum.Enum):
    SCANNING = "scanning"
    FOCUSED = "focused"
    FAILED = "failed"


@dataclass(frozen=True)
class AfStep:
    """What a strategy decided after one frame."""

    status: AfStatus
    target_d: float | None = None
    """Lens command to issue now; None leaves the lens where it is going."""


@dataclass(frozen=True)
class AfContext:
    """What a strategy may know about the camera (the tuning data, as libcamera has)."""

    lens_min_d: float
    lens_max_d: float
    frame_rate_hz: float
    depth_of_focus_d: float
    """Half-width of the depth of focus in dioptres at the working aperture (≈ c·N/f²)."""
    phase_d_per_px: float | None = None
    """Calibrated PDAF gain: dioptres of defocus per pixel of left/right disparity (preview
    pixels); None when the camera has no phase detection."""
    motor_speed_d_per_s: float = math.inf
    motor_accel_d_per_s2: float = math.inf
    release_lag_s: float = 0.0
    phase_offset_d: float = 0.0
    """Calibrated best-contrast minus zero-disparity lens position: added to every PDAF
    defocus (``defocus_d = disparity_px × phase_d_per_px + phase_offset_d``)."""
    pipeline_latency_s: float = 0.0
    """Readout end to the frame reaching the engine (the camera's figure)."""
    lens_latency_frames: int = 0
    """Frame boundaries before a lens command takes effect (the camera's figure)."""


class Acquisition:
    """Bookkeeping shared by single-shot strategies: frames counted, the end state, cancel.

    Subclasses implement `_update`; `update` answers for finished or cancelled acquisitions.
    """

    done: AfStatus | None = None
    cancelled: bool = False
    frames: int = 0
    reason: str = ""

    def _reset_acquisition(self) -> None:
        self.done = None
        self.cancelled = False
        self.frames = 0
        self.reason = ""

    def cancel(self) -> None:
        """Stop issuing lens moves; the lens stays where it is (libcamera's AfTrigger Cancel)."""
        self.cancelled = True

    def _end(self, status: AfStatus, reason: str = "") -> AfStep:
        self.done = status
        self.reason = reason
        return AfStep(status)

    def update(self, frame: Frame, window: AfWindow) -> AfStep:
        if self.done is not None:
            return AfStep(self.done)
        if self.cancelled:
            return self._end(AfStatus.FAILED, "cancelled")
        self.frames += 1
        return self._update(frame, window)

    def _update(self, frame: Frame, window: AfWindow) -> AfStep:
        raise NotImplementedError


class SingleShotAf(Protocol):
    """An AF-S acquisition (a new instance, or `start`, per AF-ON press)."""

    name: str
    wants_phase: bool

    def start(self, lens_d: float, now_s: float) -> float | None:
        """Begin a scan with the lens at `lens_d`; return a first lens target or None."""
        ...

    def update(self, frame: Frame, window: AfWindow) -> AfStep:
        """Consume one read-out frame; decide the next lens move and the status."""
        ...


class ServoAf(Protocol):
    """AF-C: continuous tracking while AF is activated."""

    name: str
    wants_phase: bool

    def start(self, lens_d: float, now_s: float) -> float | None: ...

    def update(self, frame: Frame, window: AfWindow, aim_s: float) -> AfStep:
        """Consume one frame; aim the lens at the subject's predicted position at `aim_s`."""
        ...
