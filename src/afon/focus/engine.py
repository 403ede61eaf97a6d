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
    defocus (``defocus_d = disparity_px × phase_d_per_px + phase_offset_d + correction``)."""
    pipeline_latency_s: float = 0.0
    """Readout end to the frame reaching the engine (the camera's figure)."""
    lens_latency_frames: int = 0
    """Frame boundaries before a lens command takes effect (the camera's figure)."""
    phase_correction: tuple[tuple[float, float], ...] = ()
    """Calibrated departure of the defocus from the near-focus line far from focus: knots
    (disparity in preview pixels, dioptres to add), interpolated linearly (`afon.focus.phase`);
    empty: the line holds everywhere."""


def lens_still(frame: Frame) -> bool:
    """True when the camera reported the lens at rest (and settled) for the whole exposure."""
    return abs(frame.lens_end_d - frame.lens_start_d) < 1e-9 and not frame.lens_moving


def travel_estimate_s(ctx: AfContext, distance_d: float) -> float:
    """Rest-to-rest time of a trapezoidal move of `distance_d` with the context's motor
    figures (0 when the camera gives none)."""
    dist = abs(distance_d)
    v, a = ctx.motor_speed_d_per_s, ctx.motor_accel_d_per_s2
    if not (math.isfinite(v) and math.isfinite(a)) or v <= 0 or a <= 0:
        return 0.0
    if dist <= v * v / a:
        return 2.0 * math.sqrt(dist / a)
    return dist / v + v / a


class MeasurementGate:
    """The one timing rule: which frames measure the lens where a strategy last sent it.

    Every AF-S strategy — afon's contrast, phase and hybrid AF and the libcamera port alike —
    measures only frames this gate passes, so none uses a frame another would have to wait
    for. A frame is valid for the last lens command when

    1. its statistics have reached the engine: the camera delivers a frame only after its
       readout and pipeline latency (`Frame.ready_s`), the same for every strategy;
    2. its exposure began after the command could take effect: the command time, plus
       ``ctx.lens_latency_frames`` frame periods (a pipeline that applies lens commands at a
       later frame boundary), plus the motor's travel time for the move from the context's
       motor figures (`travel_estimate_s`; 0 when the camera gives none);
    3. the camera reported the lens at rest for the whole exposure (`lens_still`: no reported
       motion, travel or settling), so a frame exposed during the move — possible on pipelined
       cameras — is never taken for the new position.

    No tolerance on positions is needed, whatever the motor's step size.
    """

    def __init__(self, ctx: AfContext | None = None) -> None:
        self.ctx = ctx
        self.command_s: float | None = None
        self.valid_from_s: float | None = None

    def moved(self, t_s: float, distance_d: float = 0.0) -> None:
        """A lens command of `distance_d` dioptres was issued at (or just after) `t_s`."""
        self.command_s = t_s
        delay = 0.0
        ctx = self.ctx
        if ctx is not None:
            frames = int(getattr(ctx, "lens_latency_frames", 0) or 0)
            delay = frames / max(ctx.frame_rate_hz, 1e-6) + travel_estimate_s(ctx, distance_d)
        self.valid_from_s = t_s + delay

    def ready(self, frame: Frame) -> bool:
        if not lens_still(frame):
            return False
        if self.valid_from_s is None:
            return True
        return frame.exposure_start_s >= self.valid_from_s - 1e-9


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
