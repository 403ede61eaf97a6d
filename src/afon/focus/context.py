"""What a focus strategy may know about its camera: `context_for(camera) -> AfContext`.

This is the tuning/calibration data a real camera carries (libcamera keeps it in the sensor's
JSON tuning file): lens range, frame rate, depth of focus, motor speed, pipeline and lens
latencies, and the PDAF calibration. Everything comes from the camera's `Capabilities` and
from a calibration routine run on the camera model (`afon.focus.calibration`), never from a
simulation's internals: this package does not import `afon.cameras.sim`.

- ``depth_of_focus_d``: the camera's own figure (`Capabilities.depth_of_focus_d`; the simulated
  camera gives c·N/f², e.g. 0.005 mm · 1.8 / (4.74 mm)² = 0.40 D), else
  `DEFAULT_DEPTH_OF_FOCUS_D`, or half the slice spacing for a focal stack.
- ``phase_d_per_px`` and ``phase_offset_d``: measured by `calibrated_pdaf` (a lens sweep over a
  chart on the camera's `calibration_rig()`: disparity against reported lens position, zero
  disparity against the contrast peak), like a factory PDAF calibration (libcamera's
  ``pdaf_gain`` is such a figure). None when the camera has no phase detection or no rig.
  ``phase_correction``: the same calibration's table of how far from focus the defocus departs
  from that line (a body's stored conversion table).

Focal stacks (`StackCamera`: anything with ``n_slices`` and ``slice_position_d``): a
`DiscreteAfContext` listing the slice positions, no phase detection, and ``depth_of_focus_d`` =
half the slice spacing (neighbouring slices are one "focus step" apart; a stack of a real lens
has no better-defined depth of focus in its own lens units).

Other cameras: from `Capabilities` — lens range and frame rate, no phase detection, the
motor's speed when the camera exposes a `motor_spec` (or its capabilities give it), and
``depth_of_focus_d`` = `DEFAULT_DEPTH_OF_FOCUS_D` (0.25 D: libcamera's fine step on the Camera
Module 3, about one depth of focus there) unless the camera says otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from afon.focus.engine import AfContext, MeasurementGate
from afon.focus.engine import lens_still as lens_still

DEFAULT_DEPTH_OF_FOCUS_D = 0.25
"""Depth of focus assumed for cameras that do not describe their optics."""


MoveGate = MeasurementGate
"""The timing rule's old name (`afon.focus.engine.MeasurementGate`)."""


@dataclass(frozen=True)
class DiscreteAfContext(AfContext):
    """An `AfContext` for a lens that has images only at discrete positions (a focal stack).

    A search measures and ends on these positions; between them a `StackCamera` cross-fades
    two photographs, which is never sharper than the better of the two.
    """

    positions_d: tuple[float, ...] = ()


def context_for(camera: Any) -> AfContext:
    """The AF context (tuning data) of `camera`."""
    caps = camera.capabilities
    lo, hi = caps.lens_range_d
    rate = float(caps.frame_rate_hz) or 30.0
    motor = getattr(camera, "motor_spec", None)
    speed = caps.motor_speed_d_per_s or float(getattr(motor, "max_speed_d_per_s", math.inf))
    accel = caps.motor_accel_d_per_s2 or float(getattr(motor, "accel_d_per_s2", math.inf))
    latency_s = float(caps.pipeline_latency_s)
    latency_frames = int(caps.lens_latency_frames)
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
            release_lag_s=float(caps.release_lag_s),
            pipeline_latency_s=latency_s,
            lens_latency_frames=latency_frames,
            positions_d=positions,
        )
    dof = caps.depth_of_focus_d
    if dof is None:
        own = getattr(camera, "depth_of_focus_d", None)
        dof = float(own) if isinstance(own, int | float) else DEFAULT_DEPTH_OF_FOCUS_D
    from afon.focus.calibration import calibrated_pdaf

    cal = calibrated_pdaf(camera)
    return AfContext(
        lens_min_d=float(lo),
        lens_max_d=float(hi),
        frame_rate_hz=rate,
        depth_of_focus_d=float(dof),
        phase_d_per_px=None if cal is None else cal.phase_d_per_px,
        phase_offset_d=0.0 if cal is None else cal.phase_offset_d,
        phase_correction=() if cal is None else cal.correction,
        motor_speed_d_per_s=speed,
        motor_accel_d_per_s2=accel,
        release_lag_s=float(caps.release_lag_s),
        pipeline_latency_s=latency_s,
        lens_latency_frames=latency_frames,
    )


def frames_for(ctx: AfContext, seconds: float) -> int:
    """Number of frames in `seconds` at the context's frame rate (at least 1)."""
    return max(1, math.ceil(seconds * ctx.frame_rate_hz))
