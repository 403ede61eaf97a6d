"""What a focus strategy may know about its camera: `context_for(camera) -> AfContext`.

This is the tuning/calibration data a real camera carries (libcamera keeps it in the sensor's
JSON tuning file): lens range, frame rate, depth of focus, motor speed, and the PDAF gain.

Simulated camera (`SimCamera`): derived from its preset with thin-lens optics.

- ``depth_of_focus_d`` (half-width, dioptres) = c·N / f², the image-side depth of focus c·N
  divided by the image travel per dioptre f² (f in metres). Camera Module 3-like preset:
  0.005 mm · 1.8 / (4.74 mm)² = 0.40 D.
- ``phase_d_per_px``: the renderer draws the right sub-aperture image shifted against the left
  by ``k × signed blur diameter`` (k = `PHASE_K` = 4/(3π): the half-disk centroids'
  separation, see `afon.cameras.sim.render`; positive when the subject is nearer than the
  focus, which makes ``phase_d_per_px`` positive); the blur per
  dioptre at preview scale is f²/(N · pixel pitch) × preview scale. So one pixel of disparity
  means 1 / (k × blur_px_per_d) dioptres. This is what a factory PDAF calibration measures (e.g.
  libcamera's ``pdaf_gain``).

Focal stacks (`StackCamera`: anything with ``n_slices`` and ``slice_position_d``): a
`DiscreteAfContext` listing the slice positions, no phase detection, and ``depth_of_focus_d`` =
half the slice spacing (neighbouring slices are one "focus step" apart; a stack of a real lens
has no better-defined depth of focus in its own lens units).

Other cameras: from `Capabilities` — lens range and frame rate, no phase detection, the
motor's speed when the camera exposes a `motor_spec`, and ``depth_of_focus_d`` =
`DEFAULT_DEPTH_OF_FOCUS_D` (0.25 D: libcamera's fine step on the Camera Module 3, about one
depth of focus there) unless the camera has its own ``depth_of_focus_d`` attribute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from afon.cameras.base import Frame
from afon.cameras.sim.render import PHASE_K
from afon.focus.engine import AfContext

DEFAULT_DEPTH_OF_FOCUS_D = 0.25
"""Depth of focus assumed for cameras that do not describe their optics."""


def lens_still(frame: Frame) -> bool:
    """True when the lens stood still (and had settled) for the whole exposure of `frame`."""
    return abs(frame.lens_end_d - frame.lens_start_d) < 1e-9 and not frame.lens_moving


class MoveGate:
    """Which frames show the lens where a strategy last sent it.

    A frame counts when the lens stood still for its whole exposure (`lens_still`) and the
    exposure began after the last lens command (`moved`), so a frame exposed before a move —
    possible on pipelined cameras — is never taken for the new position. No tolerance on
    positions is needed, whatever the motor's step size.
    """

    def __init__(self) -> None:
        self.command_s: float | None = None

    def moved(self, t_s: float) -> None:
        """A lens command was issued at (or just after) clock time `t_s`."""
        self.command_s = t_s

    def ready(self, frame: Frame) -> bool:
        if not lens_still(frame):
            return False
        return self.command_s is None or frame.exposure_start_s >= self.command_s - 1e-9


def blur_px_per_d(optics: Any, preview_px: tuple[int, int]) -> float:
    """Blur-circle diameter (preview pixels) per dioptre of defocus, thin lens near infinity."""
    f_m = optics.focal_length_mm / 1000.0
    pitch_m = optics.pixel_pitch_mm / 1000.0
    return float(f_m * f_m / (optics.f_number * pitch_m) * optics.preview_scale(preview_px))


def disparity_factor(renderer: Any) -> float:
    """The renderer's disparity per signed blur diameter (sign included)."""
    value = getattr(renderer, "phase_k", None)
    if isinstance(value, int | float) and value != 0:
        return float(value)
    return float(PHASE_K)


@dataclass(frozen=True)
class DiscreteAfContext(AfContext):
    """An `AfContext` for a lens that has images only at discrete positions (a focal stack).

    A search measures and ends on these positions; between them a `StackCamera` cross-fades
    two photographs, which is never sharper than the better of the two.
    """

    positions_d: tuple[float, ...] = ()


def context_for(camera: Any) -> AfContext:
    """The AF context (tuning data) of `camera`."""
    optics = getattr(camera, "optics", None)
    preset = getattr(camera, "preset", None)
    if optics is not None and preset is not None:
        return _sim_context(camera)
    caps = camera.capabilities
    lo, hi = caps.lens_range_d
    rate = float(caps.frame_rate_hz) or 30.0
    motor = getattr(camera, "motor_spec", None)
    speed = float(getattr(motor, "max_speed_d_per_s", math.inf))
    accel = float(getattr(motor, "accel_d_per_s2", math.inf))
    n = getattr(camera, "n_slices", None)
    if isinstance(n, int) and n >= 2 and hasattr(camera, "slice_position_d"):
        positions = tuple(float(camera.slice_position_d(i)) for i in range(n))
        spacing = (positions[-1] - positions[0]) / (n - 1)
        return DiscreteAfContext(
            lens_min_d=float(lo),
            lens_max_d=float(hi),
            frame_rate_hz=rate,
            depth_of_focus_d=0.5 * abs(spacing),
            phase_d_per_px=None,
            motor_speed_d_per_s=speed,
            motor_accel_d_per_s2=accel,
            positions_d=positions,
        )
    dof = getattr(camera, "depth_of_focus_d", None)
    return AfContext(
        lens_min_d=float(lo),
        lens_max_d=float(hi),
        frame_rate_hz=rate,
        depth_of_focus_d=float(dof) if isinstance(dof, int | float) else DEFAULT_DEPTH_OF_FOCUS_D,
        phase_d_per_px=None,
        motor_speed_d_per_s=speed,
        motor_accel_d_per_s2=accel,
    )


def _sim_context(camera: Any) -> AfContext:
    optics = camera.optics
    preset = camera.preset
    motor = preset.motor
    f_mm = optics.focal_length_mm
    dof_d = optics.coc_mm * optics.f_number / (f_mm * f_mm) * 1000.0
    phase_gain: float | None = None
    if preset.phase_available:
        k = disparity_factor(getattr(camera, "renderer", None))
        phase_gain = 1.0 / (k * blur_px_per_d(optics, tuple(camera.preview_px)))
    return AfContext(
        lens_min_d=float(motor.min_d),
        lens_max_d=float(motor.max_d),
        frame_rate_hz=float(preset.timing.frame_rate_hz),
        depth_of_focus_d=dof_d,
        phase_d_per_px=phase_gain,
        motor_speed_d_per_s=float(motor.max_speed_d_per_s),
        motor_accel_d_per_s2=float(motor.accel_d_per_s2),
        release_lag_s=float(preset.timing.release_lag_s),
    )


def frames_for(ctx: AfContext, seconds: float) -> int:
    """Number of frames in `seconds` at the context's frame rate (at least 1)."""
    return max(1, math.ceil(seconds * ctx.frame_rate_hz))
