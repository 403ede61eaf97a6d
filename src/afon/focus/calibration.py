"""PDAF calibration: measure a camera's disparity gain and phase-zero offset on a chart.

What a factory (or a phone's first-boot routine) does before PDAF can drive a lens: put a
chart in front of the camera, step the lens through focus, and at each step read the phase
disparity and the contrast in the AF window. Then:

- the contrast peak (a parabola through the best step and its neighbours) is where the lens is
  sharpest, in the lens's own (reported) units;
- a straight line fitted to disparity against lens position near the peak (steps whose phase
  confidence is at least `MIN_CONFIDENCE`) gives the gain, ``phase_d_per_px = −1 / slope``
  (dioptres per preview pixel of disparity), and the lens position of zero disparity;
- ``phase_offset_d`` = contrast peak − zero-disparity position: what a PDAF move must add so
  that phase zero lands on best contrast (spherical aberration and the like put them apart);
- a second, wide sweep (`WIDE_DOF` depth-of-focus half-widths either side of the peak) measures
  how far from focus the disparity departs from that line: each confident step's true defocus
  (contrast peak − lens) minus what the line says is a knot of the correction table
  (``correction``: disparity px → dioptres, zero within the line's fit range, kept monotonic
  overall), as a body stores a conversion table per lens rather than one coefficient.

Only the camera's interface is used (`move_lens`, `next_frame(phase=True)`, `capabilities`),
the same measures the engine uses (`measure_phase`, `tenengrad`), and the lens positions the
camera reports: nothing about the renderer's internals. A camera offers a rig for this with
`calibration_rig()` (a second camera of the same model looking at a chart); `calibrated_pdaf`
runs the routine once per camera model and keeps the result.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from afon.cameras.base import CalibrationRig, Camera, Frame
from afon.focus.engine import AfContext, AfWindow
from afon.focus.measures import tenengrad
from afon.focus.phase import correction_d, measure_phase

MIN_CONFIDENCE = 0.5
"""Phase confidence a calibration step needs to enter the disparity fit."""

SWEEP_STEPS = 13
SWEEP_HALF_DOF = 6.0
"""The sweep covers the chart ± this many depth-of-focus half-widths."""

FIT_HALF_DOF = 3.0
"""Steps within this many depth-of-focus half-widths of the contrast peak enter the fit."""
WIDE_DOF = (4.5, 6.5, 9.0, 13.0, 18.0, 26.0, 36.0, 50.0, 70.0)
"""Lens offsets from the contrast peak (depth-of-focus half-widths, both sides) of the wide
sweep that measures the correction table."""


class CalibrationError(RuntimeError):
    """The calibration sweep did not give a usable fit (too few confident steps, no peak)."""


@dataclass(frozen=True)
class PdafCalibration:
    """The result of a PDAF calibration sweep."""

    phase_d_per_px: float
    """Dioptres of defocus per preview pixel of disparity (sign included)."""
    phase_offset_d: float
    """Contrast peak minus the zero-disparity lens position (dioptres)."""
    contrast_peak_d: float
    phase_zero_d: float
    steps: int
    """Sweep steps that entered the disparity fit."""
    rms_residual_px: float
    correction: tuple[tuple[float, float], ...] = ()
    """Knots (disparity px, dioptres) of the correction added to the line far from focus
    (`afon.focus.phase.correction_d`); empty when the wide sweep found nothing usable."""

    def defocus_d(self, disparity_px: float) -> float:
        """The calibrated defocus (dioptres) of a disparity."""
        return (
            disparity_px * self.phase_d_per_px
            + self.phase_offset_d
            + correction_d(disparity_px, self.correction)
        )


def _wait_still(camera: Camera, command_s: float, max_frames: int = 60) -> Frame:
    """The first frame exposed wholly after `command_s` with the lens reported still."""
    for _ in range(max_frames):
        # the frame after a still one is still too (nothing moves the lens meanwhile): take
        # the phase images only then
        frame = camera.next_frame(phase=False)
        if (
            frame.exposure_start_s >= command_s
            and not frame.lens_moving
            and abs(frame.lens_end_d - frame.lens_start_d) < 1e-9
        ):
            return camera.next_frame(phase=True)
    raise CalibrationError(f"the lens did not settle within {max_frames} frames")


def calibrate_pdaf(
    rig: CalibrationRig, window: AfWindow | None = None, *, steps: int = SWEEP_STEPS
) -> PdafCalibration:
    """Sweep the rig's lens through the chart's focus and fit disparity against lens position."""
    camera = rig.make_camera()
    try:
        return _sweep(camera, rig.chart_d, window, steps)
    finally:
        camera.close()


def _sweep(
    camera: Camera, chart_d: float, window: AfWindow | None, steps: int
) -> PdafCalibration:
    caps = camera.capabilities
    if not caps.phase_detect:
        raise CalibrationError("the camera has no phase detection")
    win = window if window is not None else AfWindow(0.5, 0.5, 0.3, 0.3)
    lo, hi = caps.lens_range_d
    dof = caps.depth_of_focus_d or 0.25
    half = SWEEP_HALF_DOF * dof
    a, b = max(lo, chart_d - half), min(hi, chart_d + half)
    ctx = AfContext(lo, hi, caps.frame_rate_hz or 30.0, dof)
    positions = np.linspace(a, b, steps)
    # approach the sweep from below so every step comes from the same side (hysteresis)
    camera.move_lens(max(lo, a - dof))
    lens: list[float] = []
    disparity: list[float] = []
    confidence: list[float] = []
    contrast: list[float] = []
    box = (win.cx - win.w / 2, win.cy - win.h / 2, win.w, win.h)
    for p in positions:
        camera.move_lens(float(p))
        frame = _wait_still(camera, camera.clock.now_s())
        if frame.phase is None:
            raise CalibrationError("the camera gave no phase data")
        m = measure_phase(frame.phase, win, ctx)
        lens.append(frame.lens_d)
        disparity.append(m.disparity_px)
        confidence.append(m.confidence)
        contrast.append(tenengrad(frame.luma, box))
    x = np.asarray(lens)
    peak = _contrast_peak(x, np.asarray(contrast))
    near = (np.abs(x - peak) <= FIT_HALF_DOF * dof) & (np.asarray(confidence) >= MIN_CONFIDENCE)
    if int(near.sum()) < 4:
        raise CalibrationError(f"only {int(near.sum())} confident steps near the contrast peak")
    slope, intercept = np.polyfit(x[near], np.asarray(disparity)[near], 1)
    if slope >= 0 or not math.isfinite(slope):
        raise CalibrationError(f"disparity does not fall through focus (slope {slope:g} px/D)")
    zero = -intercept / slope
    resid = np.asarray(disparity)[near] - (slope * x[near] + intercept)
    gain, offset = float(-1.0 / slope), float(peak - zero)
    edges_px = (
        float(slope * (peak + FIT_HALF_DOF * dof) + intercept),
        float(slope * (peak - FIT_HALF_DOF * dof) + intercept),
    )
    wide = _wide_sweep(camera, win, ctx, peak, dof, (lo, hi))
    return PdafCalibration(
        phase_d_per_px=gain,
        phase_offset_d=offset,
        contrast_peak_d=float(peak),
        phase_zero_d=float(zero),
        steps=int(near.sum()),
        rms_residual_px=float(np.sqrt(np.mean(resid * resid))),
        correction=_correction_table(wide, gain, offset, edges_px),
    )


def _wide_sweep(
    camera: Camera,
    win: AfWindow,
    ctx: AfContext,
    peak_d: float,
    dof_d: float,
    lens_range_d: tuple[float, float],
) -> list[tuple[float, float]]:
    """(disparity px, true defocus d) at the `WIDE_DOF` offsets from the contrast peak that the
    lens reaches, confident readings only (approached from below, like the main sweep)."""
    lo, hi = lens_range_d
    targets = sorted(
        {
            float(p)
            for k in WIDE_DOF
            for p in (peak_d - k * dof_d, peak_d + k * dof_d)
            if lo <= p <= hi
        }
    )
    out: list[tuple[float, float]] = []
    if not targets:
        return out
    camera.move_lens(max(lo, targets[0] - dof_d))
    for p in targets:
        camera.move_lens(p)
        frame = _wait_still(camera, camera.clock.now_s())
        if frame.phase is None:
            continue
        m = measure_phase(frame.phase, win, ctx)
        if m.confidence >= MIN_CONFIDENCE and not m.at_edge:
            out.append((m.disparity_px, peak_d - frame.lens_d))
    return out


def _correction_table(
    wide: list[tuple[float, float]],
    gain_d_per_px: float,
    offset_d: float,
    edges_px: tuple[float, float],
) -> tuple[tuple[float, float], ...]:
    """Knots (disparity px, dioptres) of the correction the line needs at the wide sweep's
    readings: zero at the fit range's edges (`edges_px`) and inside them; a knot whose total
    (line + correction) would not rise with the disparity, as the defocus does, is dropped
    (a noisy step)."""
    lo_px, hi_px = min(edges_px), max(edges_px)
    knots = [(lo_px, 0.0), (hi_px, 0.0)]
    knots += [
        (px, d - (px * gain_d_per_px + offset_d)) for px, d in wide if px < lo_px or px > hi_px
    ]
    knots.sort()

    def total(k: tuple[float, float]) -> float:
        return k[0] * gain_d_per_px + offset_d + k[1]

    centre = knots.index((lo_px, 0.0))
    kept_hi = [knots[centre], knots[centre + 1]]
    for k in knots[centre + 2 :]:
        if k[0] > kept_hi[-1][0] and total(k) > total(kept_hi[-1]):
            kept_hi.append(k)
    kept_lo: list[tuple[float, float]] = []
    for k in reversed(knots[:centre]):
        ref = kept_lo[-1] if kept_lo else knots[centre]
        if k[0] < ref[0] and total(k) < total(ref):
            kept_lo.append(k)
    table = list(reversed(kept_lo)) + kept_hi
    if len(table) <= 2:
        return ()
    return tuple((round(px, 6), round(d, 9)) for px, d in table)


def _contrast_peak(x: Any, c: Any) -> float:
    """Lens position of best contrast: a parabola through the steps around the maximum in the
    upper half of the curve (its vertex), their contrast-weighted centroid if not concave."""
    lo, hi = float(np.min(c)), float(np.max(c))
    if hi <= lo:
        raise CalibrationError("the contrast does not change through the sweep")
    i = int(np.argmax(c))
    if i == 0 or i == len(c) - 1:
        raise CalibrationError("the contrast peak is at the end of the sweep")
    # the contiguous run of steps around the maximum in the upper half of the curve (a side
    # bump, e.g. the background coming into focus, stays out)
    floor = lo + 0.5 * (hi - lo)
    a, b = i, i
    while a > 0 and c[a - 1] >= floor:
        a -= 1
    while b < len(c) - 1 and c[b + 1] >= floor:
        b += 1
    a, b = min(a, i - 1), max(b, i + 1)
    xs, ys = x[a : b + 1], c[a : b + 1]
    if len(xs) >= 3:
        coef = np.polyfit(xs, ys, 2)
        if coef[0] < 0:
            vertex = -coef[1] / (2 * coef[0])
            if float(np.min(xs)) <= vertex <= float(np.max(xs)):
                return float(vertex)
    w = ys - lo
    return float(np.sum(xs * w) / np.sum(w))


_CACHE: dict[Hashable, PdafCalibration | None] = {}


def calibrated_pdaf(camera: Any) -> PdafCalibration | None:
    """The PDAF calibration of `camera`'s model (run once, on its rig), None when the camera
    has no phase detection or offers no rig."""
    if not camera.capabilities.phase_detect:
        return None
    factory = getattr(camera, "calibration_rig", None)
    if not callable(factory):
        return None
    rig = factory()
    if not isinstance(rig, CalibrationRig):
        return None
    if rig.key not in _CACHE:
        _CACHE[rig.key] = calibrate_pdaf(rig)
    return _CACHE[rig.key]
