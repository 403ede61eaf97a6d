"""What a focus strategy may know about its camera: `context_for(camera) -> AfContext`.

This is the tuning/calibration data a real camera carries (libcamera keeps it in the sensor's
JSON tuning file): lens range, frame rate, depth of focus, motor speed, and the PDAF gain.

Simulated camera (`SimCamera`): derived from its preset with thin-lens optics.

- ``depth_of_focus_d`` (half-width, dioptres) = c·N / f², the image-side depth of focus c·N
  divided by the image travel per dioptre f² (f in metres). Camera Module 3-like preset:
  0.005 mm · 1.8 / (4.74 mm)² = 0.40 D.
- ``phase_d_per_px``: the renderer draws the right sub-aperture image shifted against the left
  by ``k × signed blur diameter`` (preview pixels, see `afon.cameras.sim.render`); the blur per
  dioptre at preview scale is f²/(N · pixel pitch) × preview scale. So one pixel of disparity
  means 1 / (k × blur_px_per_d) dioptres. This is what a factory PDAF calibration measures (e.g.
  libcamera's ``pdaf_gain``).

Other cameras (e.g. `StackCamera`): from `Capabilities` — lens range and frame rate; no phase
detection; ``depth_of_focus_d`` = `DEFAULT_DEPTH_OF_FOCUS_D` (0.25 D: libcamera's fine step on
the Camera Module 3, about one depth of focus there) unless the camera offers its own
``depth_of_focus_d`` attribute (a stack knows its slice spacing).
"""

from __future__ import annotations

import math
from typing import Any

from afon.cameras.base import Frame
from afon.focus.engine import AfContext

DEFAULT_DEPTH_OF_FOCUS_D = 0.25
"""Depth of focus assumed for cameras that do not describe their optics."""

DEFAULT_DISPARITY_FACTOR = 0.5
"""Left/right disparity per pixel of blur diameter when a renderer does not state its own."""


def lens_still(frame: Frame) -> bool:
    """True when the lens stood still (and had settled) for the whole exposure of `frame`."""
    return abs(frame.lens_end_d - frame.lens_start_d) < 1e-9 and not frame.lens_moving


def blur_px_per_d(optics: Any, preview_px: tuple[int, int]) -> float:
    """Blur-circle diameter (preview pixels) per dioptre of defocus, thin lens near infinity."""
    f_m = optics.focal_length_mm / 1000.0
    pitch_m = optics.pixel_pitch_mm / 1000.0
    return float(f_m * f_m / (optics.f_number * pitch_m) * optics.preview_scale(preview_px))


def disparity_factor(renderer: Any) -> float:
    """The renderer's disparity per signed blur diameter (sign included)."""
    for name in ("disparity_factor", "DISPARITY_FACTOR", "phase_k", "k"):
        value = getattr(renderer, name, None)
        if isinstance(value, int | float) and value != 0:
            return float(value)
    try:
        from afon.cameras.sim import render

        for name in ("DISPARITY_FACTOR", "PHASE_DISPARITY_FACTOR", "DISPARITY_PER_BLUR"):
            value = getattr(render, name, None)
            if isinstance(value, int | float) and value != 0:
                return float(value)
    except ImportError:  # pragma: no cover - renderer always present with SimCamera
        pass
    return DEFAULT_DISPARITY_FACTOR


def context_for(camera: Any) -> AfContext:
    """The AF context (tuning data) of `camera`."""
    optics = getattr(camera, "optics", None)
    preset = getattr(camera, "preset", None)
    if optics is not None and preset is not None:
        return _sim_context(camera)
    caps = camera.capabilities
    lo, hi = caps.lens_range_d
    dof = getattr(camera, "depth_of_focus_d", None)
    return AfContext(
        lens_min_d=float(lo),
        lens_max_d=float(hi),
        frame_rate_hz=float(caps.frame_rate_hz) or 30.0,
        depth_of_focus_d=float(dof) if isinstance(dof, int | float) else DEFAULT_DEPTH_OF_FOCUS_D,
        phase_d_per_px=None,
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
