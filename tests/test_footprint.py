"""`afon.focus.footprint`: a frame drawn only where the AF engine reads gives every reading of
the whole frame (contrast, noise and texture, phase, libcamera's statistics), for windows
anywhere in the frame, of the single, zone and tracking-area sizes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from afon.cameras.base import Frame
from afon.cameras.sim.camera import SimCamera
from afon.focus.context import context_for
from afon.focus.contrast import FocusMeter
from afon.focus.engine import AfWindow
from afon.focus.footprint import read_region
from afon.focus.libcamera_af import IMX708_NORMAL, Statistics
from afon.focus.phase import measure_phase

WINDOWS = [AfWindow(0.5, 0.5, 0.1, 0.12), AfWindow(0.5, 0.5, 0.5, 1 / 3),
           AfWindow(0.06, 0.07, 0.12, 0.16), AfWindow(0.93, 0.9, 0.1, 0.12),
           AfWindow(0.31, 0.62, 0.03, 0.03), AfWindow(0.7, 0.2, 0.6, 0.6)]


def _frames(preset: str, window: AfWindow, phase: bool = True
            ) -> tuple[Frame, Frame, SimCamera]:
    whole_cam = SimCamera("portrait", preset, preview_px=(240, 180), seed=2, start_d=0.3)
    part_cam = SimCamera("portrait", preset, preview_px=(240, 180), seed=2, start_d=0.3)
    part_cam.render_region = read_region(window, part_cam.preview_px,
                                         part_cam.renderer.phase_px if phase else None)
    for cam in (whole_cam, part_cam):
        cam.move_lens(1.1)
    whole, part = whole_cam.next_frame(phase=True), part_cam.next_frame(phase=True)
    return whole, part, whole_cam


@pytest.mark.parametrize("preset", ["50mm-f1.8", "300mm-f2.8"])
@pytest.mark.parametrize("window", WINDOWS)
def test_every_reading_of_a_region_frame_is_that_of_the_whole_frame(preset: str,
                                                                   window: AfWindow) -> None:
    whole, part, cam = _frames(preset, window)
    assert whole.phase is not None and part.phase is not None
    assert not np.array_equal(whole.image, part.image) or window.w * window.h > 0.3  # drawn less
    ctx = context_for(cam)
    meter = FocusMeter()
    assert meter.sample(part, window) == meter.sample(whole, window)
    assert measure_phase(part.phase, window, ctx) == measure_phase(whole.phase, window, ctx)
    stats = Statistics(ctx, IMX708_NORMAL, pdaf=True)
    assert stats.contrast(part, window) == stats.contrast(whole, window)
    assert stats.phase(part, window) == stats.phase(whole, window)


@pytest.mark.parametrize("window", WINDOWS)
def test_without_phase_pixels_the_contrast_readings_need_only_the_contrast_footprint(
        window: AfWindow) -> None:
    """A camera without phase detection: the region (window, filter margins, libcamera's
    contrast cells) gives the whole frame's contrast readings."""
    whole, part, cam = _frames("50mm-f1.8", window, phase=False)
    ctx = context_for(cam)
    meter = FocusMeter()
    assert meter.sample(part, window) == meter.sample(whole, window)
    assert Statistics(ctx, IMX708_NORMAL, pdaf=False).contrast(part, window) == Statistics(
        ctx, IMX708_NORMAL, pdaf=False).contrast(whole, window)


@given(
    st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.floats(0.0, 1.2), st.floats(0.0, 1.2),
    st.integers(1, 700), st.integers(1, 500), st.sampled_from([(8, 8), (16, 12), (3, 5)]),
)
def test_grid_cells_under_a_window_are_those_overlapping_it(
    cx: float, cy: float, w: float, h: float, width: int, height: int, grid: tuple[int, int]
) -> None:
    """The statistics cells a window covers, found from its pixel bounds, are every cell whose
    pixels overlap the window's (checked cell by cell, as libcamera's region weights are)."""
    from afon.focus.footprint import _cells

    window = AfWindow(cx, cy, w, h)
    cols, rows = grid
    cw, ch = width // cols, height // rows
    wx, wy, ww, wh = window.to_px(width, height)
    want = [(c, r) for r in range(rows) for c in range(cols)
            if max(ch * r, wy) < min(ch * (r + 1), wy + wh)
            and max(cw * c, wx) < min(cw * (c + 1), wx + ww)]
    assert _cells(window, grid, width, height) == want
