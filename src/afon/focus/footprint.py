"""What of a frame the AF engine reads: the AF window and the margins of its filters.

A camera that has to draw its frames (the simulated one, in the benchmark) need draw only
these pixels: a strategy that reads nothing else then gets the readings of the whole frame,
bit for bit (tests/test_bench.py checks whole trials). Per reader:

- contrast (`contrast.FocusMeter`, `measures`): the window (as `measures.window_px` and
  `AfWindow.to_px` round it) and a few pixels for the crop margin and the 3×3 derivative and
  noise filters;
- phase (`phase.measure_phase`): the window in the phase images, the disparity search (at most
  half the window's width, see its clamp) and the band-pass filters' support (3σ, σ ≥ 3 px)
  on every side;
- libcamera's statistics (`libcamera_af`): every cell of the 8×8 contrast grid (3×3 Sobel)
  and of the 16×12 PDAF grid (each cell measured as a phase window) that the window overlaps.

With the tracking AF area, the tracker (`tracking.Tracker.footprint`) names what it reads (its
window and search regions, grown by its high-pass filter's reach) and where the window it
returns can be; the AF engine then reads the above at that window.
"""

from __future__ import annotations

import functools
import math

from afon.focus.engine import AfWindow

CONTRAST_GRID = (8, 8)
PDAF_GRID = (16, 12)
"""(columns, rows) of libcamera's statistics grids (`libcamera_af.FOCUS_GRID`, `PDAF_GRID`)."""

_PIXEL_MARGIN = 4
"""Pixels around a contrast window or cell (crop margin 2, filters 1, rounding 1)."""

Rect = tuple[int, int, int, int]


def rect_union(a: Rect | None, b: Rect) -> Rect:
    """The bounding box (x0, y0, x1, y1) of `a` and `b` (`b` alone when `a` is None)."""
    if a is None:
        return b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _contrast_px(window: AfWindow, width: int, height: int) -> Rect:
    win = window.clamped()
    x, y, w, h = win.to_px(width, height)
    x0 = min(x, math.floor((win.cx - win.w / 2) * width))
    y0 = min(y, math.floor((win.cy - win.h / 2) * height))
    x1 = max(x + w, math.ceil((win.cx + win.w / 2) * width))
    y1 = max(y + h, math.ceil((win.cy + win.h / 2) * height))
    m = _PIXEL_MARGIN
    return x0 - m - 1, y0 - m - 1, x1 + m + 1, y1 + m + 1


def _phase_px(window: AfWindow, width: int, height: int) -> Rect:
    x, y, ww, wh = window.to_px(width, height)
    s = max(1, (ww - 4) // 2)
    pad = math.ceil(3 * max(3.0, min(ww, wh) / 8.0))
    return x - s - pad - 2, y - pad - 2, x + ww + s + pad + 2, y + wh + pad + 2


def _cells(window: AfWindow, grid: tuple[int, int], width: int, height: int
           ) -> list[tuple[int, int]]:
    """(column, row) of the grid cells the window overlaps (as libcamera's region weights)."""
    cols, rows = grid
    cw, ch = width // cols, height // rows
    wx, wy, ww, wh = window.to_px(width, height)
    if cw <= 0 or ch <= 0 or ww <= 0 or wh <= 0:
        return []
    # cell c overlaps [wx, wx + ww) when cw·c < wx + ww and wx < cw·(c + 1): the columns
    # from wx // cw up to (not including) ⌈(wx + ww) / cw⌉ (rows alike), within the grid
    c0, c1 = max(0, wx // cw), min(cols, -(-(wx + ww) // cw))
    r0, r1 = max(0, wy // ch), min(rows, -(-(wy + wh) // ch))
    return [(c, r) for r in range(r0, r1) for c in range(c0, c1)]


@functools.lru_cache(maxsize=4096)
def read_region(window: AfWindow, image_px: tuple[int, int],
                phase_px: tuple[int, int] | None) -> tuple[float, float, float, float]:
    """The part of the frame (x0, y0, x1, y1 as fractions of its width and height) that holds
    every pixel the AF engine reads for `window` in the preview (`image_px` = (w, h)) and the
    phase images (`phase_px`; None: the camera has none). Kept for the windows asked again (a
    fixed AF point asks for the same one every frame)."""
    w, h = image_px
    img = _contrast_px(window, w, h)
    cols, rows = CONTRAST_GRID
    for c, r in _cells(window, CONTRAST_GRID, w, h):
        cw, ch = w // cols, h // rows
        img = rect_union(img, (c * cw - 2, r * ch - 2, (c + 1) * cw + 2, (r + 1) * ch + 2))
    x0, y0, x1, y1 = img[0] / w, img[1] / h, img[2] / w, img[3] / h
    if phase_px is not None:
        px0, py0, px1, py1 = _phase_fractions(window, phase_px)
        x0, y0, x1, y1 = min(x0, px0), min(y0, py0), max(x1, px1), max(y1, py1)
    return max(0.0, x0), max(0.0, y0), min(1.0, x1), min(1.0, y1)


def _phase_fractions(window: AfWindow, phase_px: tuple[int, int]
                     ) -> tuple[float, float, float, float]:
    pw, ph = phase_px
    phase = _phase_px(window, pw, ph)
    cols, rows = PDAF_GRID
    for c, r in _cells(window, PDAF_GRID, pw, ph):
        cell = AfWindow((c + 0.5) / cols, (r + 0.5) / rows, 1.0 / cols, 1.0 / rows)
        phase = rect_union(phase, _phase_px(cell, pw, ph))
    return phase[0] / pw, phase[1] / ph, phase[2] / pw, phase[3] / ph


def phase_read_region(window: AfWindow, phase_px: tuple[int, int]
                      ) -> tuple[float, float, float, float]:
    """The part of the phase images (fractions, as `read_region`) that holds every pixel the
    AF engine reads for `window`: the live view is drawn whole (it is looked at), its phase
    images, which only the AF engine reads, need only this."""
    x0, y0, x1, y1 = _phase_fractions(window, phase_px)
    return max(0.0, x0), max(0.0, y0), min(1.0, x1), min(1.0, y1)
