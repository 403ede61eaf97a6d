"""The simulated camera's renderer: layers blurred by disk PSFs, occlusion, perspective, noise.

What a frame is
    Each layer of the scene is a flat card at a distance u. Through the thin-lens `Optics` it
    appears `size_on_sensor_px` wide (perspective scale, including focus breathing) and every
    point of it spreads into a disk (pillbox) of diameter `blur_diameter_px` — not a Gaussian.
    Layers are composited back to front in order of distance at that instant ("over", with
    premultiplied alpha). The alpha is blurred with the same disk as the colour, so a defocused
    occluder has soft edges and lets the layer behind show through its rim, as in real optics
    (a thin-lens approximation of partial occlusion). Sensor noise comes from `sensor.py`.

Preview frames (`render`): the preview is a centre crop of the sensor at the preview aspect,
downscaled by ``optics.preview_scale(size_px)``. Layer positions (x, y) are fractions of the
preview; focus breathing scales them about the centre (image distance / focal length).

How it is fast, and why not a library call
    A moving lens changes every layer's blur each frame. Blurring in frame space with
    ``cv2.filter2D`` costs time that grows with the disk's area (a 30 px disk over a 640×480
    frame takes tens of ms); OpenCV, scikit-image and SciPy have no pillbox blur whose cost is
    independent of the diameter. So each layer keeps a *blur ladder*, built lazily and cached:
    its texture premultiplied, at a few mip levels (halving), each blurred by disks of
    diameters 0, 0.5·2^(i/4) texels (steps of 19 %). At render time the layer picks the mip
    level at which the blur spans a handful of texels (coarser levels for larger blur: that is
    what makes large defocus no slower), blends the two ladder entries that bracket the
    diameter (weights linear in diameter, so the mean diameter is exact), and places the result
    with one ``cv2.warpAffine`` (bilinear). Textures are stored as 16-bit premultiplied RGBA
    (as fast as 8 bits in OpenCV's warps, half the memory traffic of float) and the frame is
    composited at 16 bits: the signal is quantised to 8 bits once, with its noise.

    What did not change is not drawn again (`Renderer._draw_ops`): per area drawn, the canvas
    after the draws whose every input repeats (a still lens, static layers) is kept and
    restored, bit for bit; a moving layer's smeared texture is kept while it repeats.

Sub-pixel blur
    Every disk kernel is the PSF seen through the pixel aperture of an image constant over
    each texel (tent ⊛ disk, supersampled), so a blur circle below one pixel still spreads
    light into the neighbours: the focus curve has a peak, not a flat top.

Detail at every scale
    A photograph stops at its texels, a real surface does not. Each photo layer carries 1/f
    fields (`textures.one_over_f_tile`) that multiply its colour: detail below its texels
    (four octaves, locally as strong as the photo's finest octave, drawn once a texel spans
    more than a pixel) and, for a tiled (fill) photo, variation across its copies (so distant
    grass is a field, not a mean colour). Fields have their own mip levels and blur ladders.

    Noise is applied with lookup tables: σ(pixel value) from `SensorModel.sigma_lut`, and the
    unit Gaussian from a bank of random bytes made once per renderer, read at a per-frame
    offset through a per-frame random permutation of 256 Gaussian quantiles. Both the offset
    and the permutation derive from (seed, frame_index), so the same seed gives the same
    frames, and consecutive frames get independent noise (no fixed pattern to track).

    A lens that moves during the exposure (`focus_d` a sequence) gives the mean of the frames
    at those positions; this is done per layer by blending the ladder entries of all the
    positions (exact blur for each layer; compositing uses the mean alpha, and the geometry
    is that of the mean position: focus breathing during the exposure is not smeared).

    A rolling shutter (`render` with `lens_d` and `rows`) is drawn in horizontal bands, each
    at its rows' exposure time and lens positions, and each layer in its own bands: as many
    as its blur and position change over the readout need, judged against its own blur
    (`Renderer._band_counts`). A background 60 px out of focus on the 300 mm takes one or two
    bands where the subject in focus takes eight.

Depth within a layer (a tilt or relief, `relief.py`)
    is drawn in depth slices (`_draw_deep`): slices evenly spaced in dioptres on a grid
    through the focus, the blur step between neighbours ≤ 0.5 px, and beyond 5.2 px of blur
    ≤ 10 % of it (previews and phase images; ≤ 24 slices), the layer
    drawn once per slice with that slice's disks (half disks in the phase images, so each
    slice has its own disparity) and each pixel taking the two slices that bracket its depth
    (tent weights in dioptres), then composited once. A gather variant of layered depth of
    field: one blur ladder serves every slice; exact for a surface smooth across a blur
    circle, without spill or self-occlusion where depth jumps. Layers without depth take the
    flat path, unchanged.

Stills (`render_still`) are exact: each layer is placed sharp at the output resolution and
convolved with the exact disk (the mean of the disks for a moving lens) by ``cv2.filter2D``;
disks wider than 24 px are convolved at a resolution where they span 24 px (see `_disk_blur`:
this bounds a 24-megapixel still to a few seconds; the difference is below 2 % of contrast
and only at frequencies the disk has already removed). No ladder, no 8-bit storage.

Phase detection (`render_phase`)
    A dual-pixel sensor's left and right photodiodes see the left and right halves of the
    pupil. A defocused point then images as a half-disk in each, whose centroids sit ±4/(3π)·R
    from the disk centre, so the two images are displaced by a disparity of
    ``PHASE_K · c`` with ``PHASE_K = 4/(3π) ≈ 0.424`` and c the signed blur diameter. The
    renderer blurs each layer with the two half-disk kernels (a half-disk ladder per layer), so
    the disparity, its sign and the different blur shapes arise from the optics rather than
    being painted in. Convention: disparity = position in `right` − position in `left`,
    positive when the layer is nearer than the focus (c > 0: left half-disk for the left image).
    Each half gets half the light and its own noise. Nothing in `PhaseData` states the
    disparity; low texture and low light lower the correlation naturally. With a row timing
    the phase images are drawn in the preview's rolling-shutter bands, with its motion blur
    (the PDAF pixels are on the image rows).
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from afon.cameras.base import PhaseData
from afon.cameras.sim.optics import Optics
from afon.cameras.sim.scene import Layer, Scene
from afon.cameras.sim.sensor import Exposure, SensorModel
from afon.cameras.sim.textures import (
    DETAIL_SUB,
    MACRO_SUB,
    detail_modulation,
    detail_tile,
    fine_contrast,
    has_photo_detail,
    macro_tile,
)

U8 = npt.NDArray[np.uint8]
U16 = npt.NDArray[np.uint16]
F32 = npt.NDArray[np.float32]

PHASE_K = 4.0 / (3.0 * math.pi)
"""Separation of the half-disk centroids over the blur diameter (disparity = PHASE_K · c)."""

LUMA = (0.299, 0.587, 0.114)

_STEPS_PER_OCTAVE = 4
_D_MIN = 0.5
"""Smallest non-zero ladder diameter, in texels."""
_TEX_BLUR_MIN = 6.0
"""A coarser mip level is used for blur as long as the disk still spans this many texels."""
_MAX_UPSAMPLE = math.sqrt(2.0)
"""A mip level is fine enough when one texel covers at most this many output pixels."""
_MIN_LEVEL_PX = 8
_MAX_LADDER_PX = 768
"""Longest side of a layer's finest mip level (finer textures are reduced on first use)."""
_NOISE_PAD = 64
_LADDER_PAD = 11
"""Common padding of non-fill ladder entries (covers the disks a level normally uses), so
that neighbouring entries have the same shape and blend in texture space before one warp."""

_DETAIL_ZERO = 32768.0
_DETAIL_UNIT = 6000.0
"""16-bit coding of the detail tile: value = zero + unit · detail (the tile's RMS is 2)."""
_DETAIL_Q = 16384.0
"""Fixed-point unit of a detail factor applied to a 16-bit layer (2^14: factors up to 4)."""
_DETAIL_MIN_KX = 1.0
"""Synthesized detail is drawn when a level-0 photo texel spans more output pixels than this
(the coarsest synthesized octave, a period of two photo texels, is then at least two
pixels: resolvable; below, the photo's own texels carry all the detail the pixels resolve)."""

_MACRO_MAX_CONTRAST = 0.1
"""Largest contrast per octave of the variation above a tiled photo (its finest octave's
contrast, continued at 1/f, up to this)."""
_MACRO_MAX_COPY_PX = 2000.0
"""The macro field is drawn while one copy of a tiled photo spans at most this many pixels."""

_REGION_PAD = 4
"""Pixels drawn around a requested region (`Renderer.render`'s `region`) beyond the reach of
the frame-space filters."""
_ALIGN_PX = 8
"""Layer boxes and regions start and end on frame columns that are multiples of this: OpenCV's
per-pixel arithmetic (``cv2.multiply`` with a scale, for one) rounds a row's last few pixels
differently from the vectorised rest, so a pixel's value would depend on where its row
starts and ends. Aligned rows make every drawn pixel a function of its frame position."""
_ALIGN_FIELD = 16
"""A field's blur ladder wraps its tile by a multiple of this many texels (64 bytes of float32:
any SIMD width): each texel then sits at the same place in its vector as with the tile
wrapped by whole periods, so ``cv2.filter2D`` gives the same bits at a ninth of the work."""


def _align_down(x: int) -> int:
    return x - x % _ALIGN_PX


def _align_up(x: int, limit: int) -> int:
    return min(limit, -(-x // _ALIGN_PX) * _ALIGN_PX)


def _photo_texels(cache: _LayerCache, p: _Placement
                  ) -> tuple[tuple[float, float], tuple[float, float]]:
    """A placed layer's level-0 photo texel size (kx, ky, output px) and where its texel 0
    lands (frame pixel): the grid its detail fields are drawn on."""
    th0, tw0 = cache.levels[0].shape[:2]
    kx0, ky0 = p.width_px / tw0, p.height_px / th0
    return (kx0, ky0), (p.cx - kx0 * (tw0 - 1) / 2.0, p.cy - ky0 * (th0 - 1) / 2.0)


def _slice_spans(lo: npt.NDArray[np.float32], hi: npt.NDArray[np.float32], last: int
                 ) -> list[tuple[int, int]]:
    """For each depth slice k = 0..`last`, the first and one past the last position whose
    range of slice index [lo, hi] overlaps (k − 1, k + 1) (the first slice's range reaches
    down to −∞, the last's up to +∞): where its tent can weigh; (0, 0) where none does."""
    k = np.arange(last + 1, dtype=np.float32)[:, None]
    below = np.where(k == last, np.float32(np.inf), k + np.float32(1.0))
    above = np.where(k == 0, np.float32(-np.inf), k - np.float32(1.0))
    hit = (lo[None, :] < below) & (hi[None, :] > above)
    any_hit: list[bool] = np.asarray(hit.any(axis=1)).tolist()
    first: list[int] = hit.argmax(axis=1).tolist()
    end: list[int] = (hit.shape[1] - hit[:, ::-1].argmax(axis=1)).tolist()
    return [(a, b) if h else (0, 0) for a, b, h in zip(first, end, any_hit, strict=True)]


def _tent(index: npt.NDArray[np.float32], k: int, last: int,
          out: npt.NDArray[np.float32]) -> None:
    """Depth slice `k`'s weight at points of fractional slice `index`: the tent
    1 − |index − k| clipped to [0, 1], and 1 beyond the extreme slices (clamped distances)."""
    cv2.absdiff(index, float(k), dst=out)  # type: ignore[call-overload]  # (a scalar)
    cv2.threshold(out, 1.0, 1.0, cv2.THRESH_TRUNC, dst=out)  # min(|index − k|, 1)
    np.subtract(np.float32(1.0), out, out=out)
    if k == 0:
        out[index < 0] = 1.0
    if k == last:
        out[index > k] = 1.0


_TAG_BANK, _TAG_FRAME, _TAG_STILL, _TAG_PHASE_L, _TAG_PHASE_R = 1, 2, 3, 4, 5


def _gauss_quantiles() -> F32:
    nd = statistics.NormalDist()
    q = np.array([nd.inv_cdf((i + 0.5) / 256.0) for i in range(256)], np.float64)
    q /= q.std()
    return q.astype(np.float32)


_GAUSS_Q = _gauss_quantiles()


def _seq(*parts: int) -> list[int]:
    return [int(p) % (1 << 64) for p in parts]


def _u8(a: Any) -> U8:
    return np.asarray(a, dtype=np.uint8)


def _u16(a: Any) -> U16:
    return np.asarray(a, dtype=np.uint16)


_FULL = 65535.0
"""Full scale of the 16-bit premultiplied ladder and canvas (reflectance 1)."""


def _f32(a: Any) -> F32:
    return np.asarray(a, dtype=np.float32)


# --- disk kernels --------------------------------------------------------------------------
_KERNELS: dict[tuple[float, int], F32] = {}


def disk_kernel(diameter_px: float, half: int = 0) -> F32:
    """Anti-aliased pillbox of `diameter_px`, normalised to sum 1.

    `half` = -1 keeps the left half (x < 0), +1 the right half (a dual-pixel half-pupil PSF),
    0 the whole disk. The kernel is square with odd size and the disk centred.
    """
    key = (round(float(diameter_px), 4), half)
    cached = _KERNELS.get(key)
    if cached is not None:
        return cached
    d = max(0.0, float(diameter_px))
    r = d / 2.0
    if d < 1e-3:
        k = np.ones((1, 1), np.float32)
    else:
        n = 2 * math.ceil(r + 0.5) + 1
        c = n // 2
        if n <= 41:
            ss = 16 if n <= 9 else 8
            offs = (np.arange(ss) + 0.5) / ss - 0.5
            grid = np.arange(n) - c
            x = (grid[:, None] + offs[None, :]).reshape(-1)
            xx, yy = np.meshgrid(x, x)
            inside = (xx * xx + yy * yy) <= r * r
            if half < 0:
                inside &= xx < 0
            elif half > 0:
                inside &= xx > 0
            # Every disk is splatted with a tent (bilinear) weight rather than binned into the
            # pixel each sub-sample falls in: the PSF seen through the pixel aperture of an image
            # that is constant over each texel (box ⊛ disk ⊛ box = tent ⊛ disk). A disk smaller
            # than a pixel then still spreads light into the neighbours (binning would leave
            # any disk under ~1 px a delta and the focus curve flat-topped), and a half disk
            # keeps its true centroid offset (4r/3π), so the left/right images carry the
            # sub-pixel disparity of a small defocus.
            tent = np.clip(1.0 - np.abs(grid[:, None] - x[None, :]), 0.0, None)
            k = (tent @ inside.astype(np.float64) @ tent.T).astype(np.float32)
            if not k.any():  # degenerate: fall back to the centre pixel
                k[c, c] = 1.0
        else:
            gx = np.arange(n, dtype=np.float64) - c
            gxx, gyy = np.meshgrid(gx, gx)
            cover = np.clip(r - np.hypot(gxx, gyy) + 0.5, 0.0, 1.0)
            if half < 0:
                cover *= np.clip(0.5 - gxx, 0.0, 1.0)
            elif half > 0:
                cover *= np.clip(0.5 + gxx, 0.0, 1.0)
            k = cover.astype(np.float32)
        k /= k.sum()
    if len(_KERNELS) > 4096:
        _KERNELS.clear()
    _KERNELS[key] = k
    return k


def mean_disk_kernel(diameters_px: Sequence[float]) -> F32:
    """Mean of disk kernels (the PSF of a lens that moved through these blur sizes)."""
    ks = [disk_kernel(abs(d)) for d in diameters_px]
    n = max(k.shape[0] for k in ks)
    out = np.zeros((n, n), np.float32)
    for k in ks:
        o = (n - k.shape[0]) // 2
        out[o : o + k.shape[0], o : o + k.shape[1]] += k
    return np.asarray(out / np.float32(len(ks)), np.float32)


# --- exposure timing ----------------------------------------------------------------------
@dataclass(frozen=True)
class RowTiming:
    """When the rows of a frame integrate light (a rolling shutter).

    Row y (0 at the top, of H rows) integrates from ``start_s + (y + 0.5)/H · readout_s`` for
    `integration_s`; ``readout_s = 0`` is a global shutter.
    """

    start_s: float
    integration_s: float
    readout_s: float = 0.0

    def window_s(self, y_frac: float) -> tuple[float, float]:
        """Exposure window of the row at `y_frac` (0 = top edge, 1 = bottom edge)."""
        t0 = self.start_s + min(max(y_frac, 0.0), 1.0) * self.readout_s
        return t0, t0 + self.integration_s


MAX_FOCUS_SAMPLES = 64
FOCUS_STEP_PX = 0.25
"""Lens samples over an exposure are spaced so the blur changes by at most this much."""


def focus_samples(lens_d: Callable[[float], float], t0_s: float, t1_s: float,
                  step_d: float) -> tuple[float, ...]:
    """Lens positions that integrate the exposure [t0_s, t1_s] with equal weight in time.

    Midpoint rule over equal sub-intervals, as many as keep consecutive samples within
    `step_d` dioptres (at most `MAX_FOCUS_SAMPLES`): each sample stands for an equal share of
    the exposure time. (Three samples at start, middle and end with equal weights gave the
    ends twice their share and put a dip at true focus in a sweep.)
    """
    if t1_s <= t0_s:
        return (float(lens_d(t0_s)),)
    a, m, b = (float(lens_d(t)) for t in (t0_s, 0.5 * (t0_s + t1_s), t1_s))
    spread = abs(m - a) + abs(b - m)
    if spread < 1e-12:
        return (m,)
    n = min(MAX_FOCUS_SAMPLES, max(2, math.ceil(spread / max(step_d, 1e-12))))
    dt = (t1_s - t0_s) / n
    return tuple(float(lens_d(t0_s + (i + 0.5) * dt)) for i in range(n))


_LINES: dict[tuple[float, float], F32] = {}


def line_kernel(dx: float, dy: float) -> F32:
    """A line of length (dx, dy) centred on the kernel, normalised: uniform motion blur."""
    key = (float(dx), float(dy))
    k = _LINES.get(key)
    if k is None:
        if len(_LINES) > 1024:
            _LINES.clear()
        k = _LINES[key] = _line_kernel(dx, dy)
    return k


def _line_kernel(dx: float, dy: float) -> F32:
    half = math.ceil(max(abs(dx), abs(dy)) / 2.0) + 1
    n = 2 * half + 1
    k = np.zeros((n, n), np.float32)
    steps = max(2, 4 * math.ceil(math.hypot(dx, dy)) + 1)
    for u in np.linspace(-0.5, 0.5, steps):
        x, y = half + u * dx, half + u * dy
        x0, y0 = math.floor(x), math.floor(y)
        fx, fy = x - x0, y - y0
        k[y0, x0] += (1 - fx) * (1 - fy)
        k[y0, x0 + 1] += fx * (1 - fy)
        k[y0 + 1, x0] += (1 - fx) * fy
        k[y0 + 1, x0 + 1] += fx * fy
    # trimmed to its non-zero rows and columns, symmetrically (the centre stays the anchor):
    # a horizontal line is a 1×n kernel, not n×n (filter2D's cost grows with the area)
    nz = np.argwhere(k != 0)
    ry, rx = (int(np.abs(nz[:, i] - half).max()) for i in (0, 1))
    k = k[half - ry : half + ry + 1, half - rx : half + rx + 1]
    return np.ascontiguousarray(k / k.sum(), np.float32)


_MOTION_MIN_PX = 0.5
"""Motion during an exposure shorter than this is not blurred."""
_MAX_BANDS = 8
"""Most horizontal bands a rolling-shutter frame is drawn in (each with its own lens
positions and scene time)."""
_SLICE_STEP_PX = 0.5
"""Largest blur step (output px) between the depth slices of a layer with depth."""
_SLICE_MIN_SPAN_PX = 0.05
"""A layer whose depths span less blur than this is drawn at one depth (its mean)."""
_MAX_SLICES = 24
"""Most depth slices per layer and frame (beyond, the step grows past `_SLICE_STEP_PX`)."""
_SLICE_REL_STEP = 0.1
"""Beyond `_SLICE_REL_FROM_PX`, the blur step between depth slices as a fraction of the blur
(a disk 10 % wider: half the ladder's own step between entries, 19 %, which previews already
blend linearly)."""
_SLICE_LOG_STEP = math.log1p(_SLICE_REL_STEP)
_SLICE_REL_FROM_PX = _SLICE_STEP_PX / _SLICE_LOG_STEP
"""Blur (≈ 5.2 px) from which relative steps are coarser than `_SLICE_STEP_PX` (the two
spacings meet with the same slope: the slice coordinate is smooth)."""


def _blur_coord(blur_px: float, from_px: float, log_step: float) -> float:
    """A signed blur's coordinate: blur / `_SLICE_STEP_PX` up to `from_px`, then logarithmic
    (a step of e^log_step − 1 of the blur per unit; `from_px` = `_SLICE_STEP_PX` / log_step,
    where the two spacings meet with the same slope)."""
    a = abs(blur_px)
    if a <= from_px:
        return blur_px / _SLICE_STEP_PX
    return math.copysign(from_px / _SLICE_STEP_PX + math.log(a / from_px) / log_step, blur_px)


def _slice_coord(blur_px: float) -> float:
    """Depth-slice coordinate of a signed blur (`_SLICE_REL_STEP` beyond
    `_SLICE_REL_FROM_PX`)."""
    return _blur_coord(blur_px, _SLICE_REL_FROM_PX, _SLICE_LOG_STEP)


def _band_coord(blur_px: float) -> float:
    """Rolling-shutter band coordinate of a signed blur (`_BAND_REL_STEP` beyond
    `_BAND_REL_FROM_PX`): a layer gets a band per unit its blur moves over the readout
    (`Renderer._band_counts`)."""
    return _blur_coord(blur_px, _BAND_REL_FROM_PX, _BAND_LOG_STEP)


def _slice_blur(coord: float) -> float:
    """Inverse of `_slice_coord`."""
    c0 = _SLICE_REL_FROM_PX / _SLICE_STEP_PX
    a = abs(coord)
    if a <= c0:
        return coord * _SLICE_STEP_PX
    return math.copysign(_SLICE_REL_FROM_PX * math.exp((a - c0) * _SLICE_LOG_STEP), coord)


def _slice_coords(blur_px: F32) -> F32:
    """`_slice_coord` of every element (float32)."""
    a = np.abs(blur_px)
    c0 = np.float32(_SLICE_REL_FROM_PX / _SLICE_STEP_PX)
    far = np.maximum(a, np.float32(_SLICE_REL_FROM_PX))
    far *= np.float32(1.0 / _SLICE_REL_FROM_PX)
    np.log(far, out=far)
    far *= np.float32(1.0 / _SLICE_LOG_STEP)
    far += c0
    np.copysign(far, blur_px, out=far)
    lin = blur_px * np.float32(1.0 / _SLICE_STEP_PX)
    return _f32(np.where(a <= np.float32(_SLICE_REL_FROM_PX), lin, far))


_COARSE_MIN_BLUR_PX = 12.0
"""A preview draws a layer whose every point is blurred by at least
s·this (its least blur over the lens samples and its depths) on a grid s = 2, 4 or 8 times
coarser, then enlarges it bilinearly (`Renderer._draw_coarse`): the coarse pixel is at most
1/12 of the blur, where the ladder the layer is drawn from already has texels of up to 1/6
of it (`_TEX_BLUR_MIN`), so the grid adds no coarser sampling than the texture has.

The phase images are drawn at full resolution: a phase reading far out of focus hangs on
structure at the scale of the ladder's texels (the face 240 px out of focus on the 300 mm at
infinity: its confidence fell from 0.73 to 0.09 on the ×8 grid, and on the ×4 grid its
near-zero disparity changed sign, which decides whether the search drive starts,
`tests/test_search_drive.py`)."""
_COARSE_MAX = 8
"""The coarsest grid (×8: 1/64 of the pixels)."""
_RELIEF_GRID_PX = 256
"""Longest side of the grid a relief's depth offsets are sampled on (a smooth surface)."""
_MAX_SMEARS = 4
"""Motion-smeared textures kept for reuse (`Renderer._kept_smear`)."""
_MAX_SNAPSHOTS = 8
"""Areas whose canvas after their unchanged draws is kept (`Renderer._draw_ops`)."""
_BAND_SHIFT_PX = 1.0
"""A sharp layer gets a new band per this much change of its position over the readout."""
_BAND_REL_STEP = 0.025
"""A blurred layer's bands may each span a change of its blur by this fraction (from
`_BAND_REL_FROM_PX` on; 0.5 px below): an edge blurred by a disk of diameter B moves by at most
about 1.6 % of its contrast when B changes by 2.5 %."""
_BAND_LOG_STEP = math.log1p(_BAND_REL_STEP)
_BAND_REL_FROM_PX = _SLICE_STEP_PX / _BAND_LOG_STEP
"""Blur (≈ 20 px) from which the relative step is coarser than 0.5 px."""
_BAND_REL_SHIFT = 0.0125
"""A blurred layer's bands may each span a shift of this fraction of its blur: a disk of
diameter B has no detail finer than B (its edge rises at most 4/(πB) of the contrast per
pixel), so a seam offset of 1.25 % of B changes an edge by at most 1.6 % of its contrast, as
a `_BAND_REL_STEP` of the blur does. (10 % and 5 %, edges within 6 %, moved the PDAF
readings of a face 240 px out of focus on the 300 mm enough to send AF-C from infinity to the
background, `tests/test_search_drive.py`; that outcome is fragile, see docs/autofocus.md.)"""


# --- placement warps ---------------------------------------------------------------------
def _dyadic_map(k: float, t: float, org: int, src_org: int, frame: int, extent: int,
                max_bits: int = 22) -> tuple[float, float]:
    """Inverse map (a, b) of one axis: source coordinate = a·x + b for dst pixel x.

    The texture's texel u lands at frame pixel t + k·u; dst pixel 0 is frame pixel `org` of
    a frame `frame` pixels long, and the source array starts at texel `src_org` (the texture
    is `extent` texels long). The scale 1/k and the source coordinate of the frame's centre
    are rounded to multiples of 2^-f, with f as large as keeps every source coordinate
    exact in float32 (24-bit mantissa): every coordinate ``warpAffine`` computes is then
    exact, so a pixel's value depends on its frame position only, not on where the dst
    starts or how large it is (see `_warp`). f depends only on the placement and the frame:
    the bound covers |u| over the whole frame twice (the array's start lies within that
    range or the texture) plus the texture; at most `max_bits`.
    """
    reach = max(abs(-1.0 - t), abs(frame + 1.0 - t)) / k
    bound = 2.0 * reach + extent + 8.0
    f = max(0, min(max_bits, 22 - math.ceil(math.log2(bound))))
    pivot = frame // 2
    unit = float(2**f)
    a = round(unit / k) / unit
    u_pivot = round((pivot - t) / k * unit) / unit
    return a, a * (org - pivot) + u_pivot - src_org


_FIXED_POINT_BITS = 10
"""OpenCV's fixed-point warp coordinates (AB_BITS): each term rounded to 1/1024."""


def _warp(src: npt.NDArray[Any], dst: npt.NDArray[Any], k: tuple[float, float],
          t: tuple[float, float], org: tuple[int, int], frame_px: tuple[int, int],
          extent: tuple[int, int], src_org: tuple[int, int] = (0, 0),
          border: int = cv2.BORDER_CONSTANT) -> None:
    """Bilinear placement of a texture into `dst` (outside it: `border`, transparent by
    default).

    Texel (u, v) of the texture lands at frame pixel (t[0] + k[0]·u, t[1] + k[1]·v); `src`
    holds it from texel `src_org` on; dst[0, 0] is frame pixel `org` of a frame `frame_px`
    (w, h) large; `extent` is the texture's size (w, h, texels: the period of a tiling).

    Why not a plain forward matrix: OpenCV's warp computes source coordinates in float32
    from the dst position, so the same frame pixel got slightly different values (±1-3 of
    65535) as part of a band, a region or a narrower dst. With the inverse map rounded to
    dyadic coefficients (`_dyadic_map`, about the frame's centre) every coordinate is exact:
    a region of a frame is bit for bit that region of the whole frame. The rounding moves a
    texel by at most 2^-f · (distance to the centre) (f ≥ 12 for textures under 1024
    texels: under 0.04 texel at the edge of a 640-pixel frame, about OpenCV 4's own 1/32
    pixel resolution of bilinear warps). Two-channel images (the phase images) go through
    OpenCV's fixed-point warp, exact for 10 fraction bits: up to 0.06 texel at the edge of
    a 240-pixel phase image, the same in the left and right images (no disparity).
    """
    h, w = dst.shape[:2]
    nch = 1 if src.ndim == 2 else src.shape[2]
    # OpenCV warps 1, 3 and 4 channels with float32 coordinates; others (the phase images'
    # luma + alpha) in fixed point, 1/1024 per term: exact for coefficients of 10 bits
    bits = 22 if nch in (1, 3, 4) else _FIXED_POINT_BITS
    ax, bx = _dyadic_map(k[0], t[0], org[0], src_org[0], frame_px[0], extent[0], bits)
    ay, by = _dyadic_map(k[1], t[1], org[1], src_org[1], frame_px[1], extent[1], bits)
    mat = np.array([[ax, 0.0, bx], [0.0, ay, by]], np.float64)
    cv2.warpAffine(
        src,
        mat,
        (w, h),
        dst=dst,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=border,
        borderValue=0,
    )


def _texels_read(t: float, k: float, lo: int, hi: int, n: int) -> tuple[int, int]:
    """The texels [u0, u1) of an `n`-texel axis a bilinear warp (texel u at pixel t + k·u)
    reads for pixels lo..hi−1, with a texel's margin each side."""
    return (max(0, math.floor((lo - 0.5 - t) / k) - 1),
            min(n, math.ceil((hi - 0.5 - t) / k) + 2))


# --- ladder -------------------------------------------------------------------------------
def _ladder_diameter(j: int) -> float:
    return 0.0 if j <= 0 else _D_MIN * 2.0 ** ((j - 1) / _STEPS_PER_OCTAVE)


def _ladder_weights(d: float) -> list[tuple[int, float]]:
    """Ladder entries and weights (linear in diameter) that make a disk of `d` texels."""
    if d <= 1e-6:
        return [(0, 1.0)]
    if d < _D_MIN:
        w = d / _D_MIN
        return [(0, 1.0 - w), (1, w)]
    p = 1.0 + math.log2(d / _D_MIN) * _STEPS_PER_OCTAVE
    j = math.floor(p + 1e-9)
    d0, d1 = _ladder_diameter(j), _ladder_diameter(j + 1)
    w = min(max((d - d0) / (d1 - d0), 0.0), 1.0)
    if w < 1e-3:
        return [(j, 1.0)]
    if w > 1.0 - 1e-3:
        return [(j + 1, 1.0)]
    return [(j, 1.0 - w), (j + 1, w)]


_WARM_RATIO = 1.06
"""Step of `_blur_grid` beyond 1 px: a third of the ladder's step between entries (19 %), so
every pair of neighbouring entries a blur can take is met."""


def _blur_grid(lo_px: float, hi_px: float) -> list[float]:
    """Signed blurs covering [lo_px, hi_px]: 0.05 px apart up to 1 px, then `_WARM_RATIO`
    apart, and both ends."""
    mags = [0.05 * i for i in range(21)]
    while mags[-1] < max(abs(lo_px), abs(hi_px)):
        mags.append(mags[-1] * _WARM_RATIO)
    out = {lo_px, hi_px}
    out.update(v for m in mags for v in (m, -m) if lo_px <= v <= hi_px)
    return sorted(out)


def _ladder_keys(lo_px: float, hi_px: float, texel_px: float, kind: str
                 ) -> list[tuple[str, int]]:
    """Ladder keys (kind, j) `_sample_weights` can give a blur in [lo_px, hi_px] (signed,
    output px) at a texel of `texel_px`: each sign's half-disk kind, the entries from the
    least to the most blurred end of its part of the range."""
    keys: list[tuple[str, int]] = []
    for a, b, sign in ((max(lo_px, 0.0), hi_px, 1.0), (max(-hi_px, 0.0), -lo_px, -1.0)):
        if b < a or (sign < 0 and b <= 0.0):
            continue
        k = _half_kind(kind, sign * max(a, 1e-9))
        j0 = _ladder_weights(a / texel_px)[0][0]
        j1 = _ladder_weights(b / texel_px)[-1][0]
        keys.extend((k, j) for j in range(j0, j1 + 1))  # (`has`/`entry` name the sharp one)
    return keys


def _half_kind(kind: str, blur: float) -> str:
    """The ladder kind a blur sample of signed diameter `blur` uses for image `kind`: "rgb"
    for previews; for the phase images "PL"/"PR", the half disk that image sees (the left
    half for the left image of a point nearer than the focus, blur > 0; swapped beyond)."""
    if kind == "rgb":
        return kind
    near = blur >= 0
    return "L" if (kind == "PL") == near else "R"


_WEIGHTS: dict[tuple[tuple[float, ...], float, str], list[tuple[tuple[str, int], float]]] = {}
"""`_sample_weights` of recent arguments: a placement's weights are asked for several times
per draw (its reach, its image, its detail fields), and a slice's by each band."""
_MAX_WEIGHTS = 4096


def _sample_weights(blur_px: Sequence[float], texel_px: float, kind: str
                    ) -> list[tuple[tuple[str, int], float]]:
    """Ladder entries ((kind, j), weight) whose blend is the mean PSF of the blur samples
    `blur_px` (signed, output px) at a texel of `texel_px` output pixels (read-only: the
    list is shared by calls with equal arguments)."""
    key = (tuple(blur_px), texel_px, kind)
    hit = _WEIGHTS.get(key)
    if hit is None:
        hit = _sample_weights_now(blur_px, texel_px, kind)
        if len(_WEIGHTS) >= _MAX_WEIGHTS:
            _WEIGHTS.clear()
        _WEIGHTS[key] = hit
    return hit


def _sample_weights_now(blur_px: Sequence[float], texel_px: float, kind: str
                        ) -> list[tuple[tuple[str, int], float]]:
    weights: dict[tuple[str, int], float] = {}
    for b in blur_px:
        k = _half_kind(kind, b)
        for j, wgt in _ladder_weights(abs(b) / texel_px):
            key = (k if (j or k == "rgb") else "L", j)  # the sharp entry: one for both halves
            weights[key] = weights.get(key, 0.0) + wgt / len(blur_px)
    return sorted(weights.items())


@dataclass
class _Entry:
    image: U16
    pad: int
    """Transparent texels around the texture (non-fill layers)."""
    radius: int
    """Radius of the blur kernel in texels: how far the blurred layer reaches."""


class _Field:
    """A periodic 1/f field that multiplies a layer's colour: 1 + amplitude · modulation ·
    field, with its own mip levels and blur ladder (blurred like the layer it multiplies).

    `sub` is field texels per level-0 photo texel (16 for detail below the texels, MACRO_SUB /
    photo width for variation above a tiled photo's size); `modulation` is a map over the
    photo's level-0 texels (None: uniform). The field is drawn while a photo texel spans
    between `min_kx` output pixels and a photo copy spans at most `max_copy_px`.
    """

    def __init__(
        self,
        tile: F32,
        sub: float,
        modulation: F32 | None,
        amplitude: float,
        min_kx: float,
        max_copy_px: float,
    ) -> None:
        self.sub = sub
        self.modulation = modulation
        self.amplitude = amplitude
        self.min_kx = min_kx
        self.max_copy_px = max_copy_px
        self.levels: list[F32] = [tile]
        while self.levels[-1].shape[0] >= 2 * _MIN_LEVEL_PX:
            prev = self.levels[-1]
            n = prev.shape[0] // 2
            self.levels.append(_f32(cv2.resize(prev, (n, n), interpolation=cv2.INTER_AREA)))
        self._entries: dict[tuple[str, int, int], U16] = {}

    def pick_level(self, kx0: float, blur_px: float, upsample: float = _MAX_UPSAMPLE) -> int:
        """Like `_LayerCache.pick_level`: coarsest level with a texel ≤ max(√2, blur/6) px."""
        limit = max(upsample, blur_px / _TEX_BLUR_MIN)
        m = 0
        for i in range(len(self.levels)):
            if kx0 / self.sub * 2**i <= limit:
                m = i
            else:
                break
        return m

    @staticmethod
    def _key(kind: str, m: int, j: int) -> tuple[str, int, int]:
        return ("rgb" if j == 0 else kind, m, j)  # the sharp entry: one for every kind

    def has(self, kind: str, m: int, j: int) -> bool:
        """Whether `entry(kind, m, j)` is built."""
        return self._key(kind, m, j) in self._entries

    def entry(self, kind: str, m: int, j: int) -> U16:
        """Level m blurred by ladder diameter j (periodic), coded `_DETAIL_ZERO` + unit·x."""
        key = self._key(kind, m, j)
        kind = key[0]
        e = self._entries.get(key)
        if e is None:
            src = self.levels[m]
            k = np.ascontiguousarray(
                disk_kernel(_ladder_diameter(j), {"rgb": 0, "L": -1, "R": 1}[kind])[:, ::-1]
            )
            r = k.shape[0] // 2
            n = src.shape[0]
            # the periodic tile, wrapped by `pad` texels around it (≥ the kernel's radius)
            pad = _ALIGN_FIELD * math.ceil(r / _ALIGN_FIELD)
            if r and pad < n:
                ext = _f32(cv2.copyMakeBorder(src, pad, pad, pad, pad, cv2.BORDER_WRAP))
                out = _f32(cv2.filter2D(ext, -1, k, borderType=cv2.BORDER_REFLECT))
                out = out[pad : pad + n, pad : pad + n]
            elif r:  # a kernel as wide as the tile: whole periods around it
                reps = r // n + 1
                ext = np.pad(src, ((reps * n, reps * n), (reps * n, reps * n)), mode="wrap")
                out = _f32(cv2.filter2D(ext, -1, k, borderType=cv2.BORDER_REFLECT))
                out = out[reps * n : reps * n + n, reps * n : reps * n + n]
            else:
                out = src
            e = _u16(np.clip(out * _DETAIL_UNIT + _DETAIL_ZERO + 0.5, 0, _FULL))
            self._entries[key] = e
        return e

    def blend(self, m: int, weights: list[tuple[tuple[str, int], float]],
              scratch: _Scratch) -> _Blend:
        """Weighted sum of entries ((kind, j), weight) (the field's share of a ladder blend),
        summed only where it is read (see `_Blend`)."""
        return _Blend([self.entry(k, m, j) for (k, j), _ in weights], [w for _, w in weights],
                      scratch, "blend_field")


class _LayerCache:
    """Mip levels of one layer's premultiplied texture and their blur ladders."""

    def __init__(self, layer: Layer) -> None:
        img = np.asarray(layer.image, np.float32)
        h, w = img.shape[:2]
        if max(h, w) > _MAX_LADDER_PX:
            s = _MAX_LADDER_PX / max(h, w)
            img = _f32(
                cv2.resize(
                    img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA
                )
            )
        pm = img.copy()
        if layer.fill:
            pm[..., 3] = 1.0
        pm[..., :3] *= pm[..., 3:4]
        self.fill = layer.fill
        self.levels: list[F32] = [pm]
        while min(self.levels[-1].shape[:2]) >= 2 * _MIN_LEVEL_PX:
            prev = self.levels[-1]
            size = (max(1, round(prev.shape[1] / 2)), max(1, round(prev.shape[0] / 2)))
            self.levels.append(_f32(cv2.resize(prev, size, interpolation=cv2.INTER_AREA)))
        self._luma: dict[int, F32] = {}
        self._entries: dict[tuple[str, int, int], _Entry] = {}
        self._blend: dict[tuple[int, ...], U16] = {}
        # synthesized structure the photo lacks: detail below its texels and, for a tiled
        # (fill) photo, variation above its size (see `textures.one_over_f_tile`)
        self.fields: list[_Field] = []
        if has_photo_detail(layer.texture):
            seed = zlib.crc32(f"{layer.name}|{layer.texture}".encode())
            modulation = detail_modulation(img)
            if float(modulation.max()) > 1e-4:
                self.fields.append(
                    _Field(
                        detail_tile(seed),
                        float(DETAIL_SUB),
                        modulation,
                        1.0,
                        _DETAIL_MIN_KX,
                        math.inf,
                    )
                )
            amplitude = min(fine_contrast(img), _MACRO_MAX_CONTRAST)
            if layer.fill and amplitude > 1e-4:
                # a macro texel is 1/MACRO_SUB of a copy: MACRO_SUB / width photo texels
                self.fields.append(
                    _Field(
                        macro_tile(seed + 1),
                        MACRO_SUB / img.shape[1],
                        None,
                        amplitude,
                        0.0,
                        _MACRO_MAX_COPY_PX,
                    )
                )

    def blend_buffer(self, shape: tuple[int, ...]) -> U16:
        """A work buffer of `shape` (ladder entries of one level and padding)."""
        buf = self._blend.get(shape)
        if buf is None:
            buf = np.empty(shape, np.uint16)
            self._blend[shape] = buf
        return buf

    def size(self, m: int) -> tuple[int, int]:
        lv = self.levels[m]
        return lv.shape[1], lv.shape[0]

    def pick_level(self, width_px: float, blur_px: float, upsample: float = _MAX_UPSAMPLE) -> int:
        """Coarsest level at which a texel covers ≤ max(√2, blur/6) output pixels (`upsample`:
        the √2, in the pixels being drawn)."""
        limit = max(upsample, blur_px / _TEX_BLUR_MIN)
        m = 0
        for i in range(len(self.levels)):
            if width_px / self.levels[i].shape[1] <= limit:
                m = i
            else:
                break
        return m

    def _source(self, kind: str, m: int) -> F32:
        if kind == "rgb":
            return self.levels[m]
        src = self._luma.get(m)
        if src is None:
            lv = self.levels[m]
            y = lv[..., 0] * LUMA[0] + lv[..., 1] * LUMA[1] + lv[..., 2] * LUMA[2]
            src = np.ascontiguousarray(np.stack([y, lv[..., 3]], axis=-1), dtype=np.float32)
            self._luma[m] = src
        return src

    @staticmethod
    def _key(kind: str, m: int, j: int) -> tuple[str, int, int]:
        # the sharp entry is the same for both halves
        return ("L" if j == 0 and kind != "rgb" else kind, m, j)

    def has(self, kind: str, m: int, j: int) -> bool:
        """Whether `entry(kind, m, j)` is built."""
        return self._key(kind, m, j) in self._entries

    def fields_at(self, width_px: float) -> list[_Field]:
        """The fields drawn on the layer placed `width_px` wide (a photo texel spans at least
        their `min_kx` output pixels, a copy of the photo at most their `max_copy_px`)."""
        tw0 = self.levels[0].shape[1]
        kx0 = width_px / tw0
        return [f for f in self.fields if f.min_kx <= kx0 and kx0 * tw0 <= f.max_copy_px]

    @property
    def built(self) -> int:
        """Ladder entries built so far, the detail fields' included."""
        return len(self._entries) + sum(len(f._entries) for f in self.fields)

    def entry(self, kind: str, m: int, j: int) -> _Entry:
        """Ladder entry j of level m: kind "rgb" (RGBA), "L"/"R" (luma+alpha, half disks)."""
        key = self._key(kind, m, j)
        kind = key[0]
        e = self._entries.get(key)
        if e is None:
            e = self._make_entry(kind, m, j)
            self._entries[key] = e
        return e

    def _make_entry(self, kind: str, m: int, j: int) -> _Entry:
        src = self._source(kind, m)
        d = _ladder_diameter(j)
        half = {"rgb": 0, "L": -1, "R": 1}[kind]
        # filter2D correlates: flip the PSF to convolve (matters for the half disks)
        k = np.ascontiguousarray(disk_kernel(d, half)[:, ::-1])
        r = k.shape[0] // 2
        if self.fill:
            pad = 0
            if r:
                ext = np.pad(src, ((r, r), (r, r), (0, 0)), mode="symmetric")
                out = _f32(cv2.filter2D(ext, -1, k, borderType=cv2.BORDER_REFLECT))
                out = out[r:-r, r:-r]
            else:
                out = src
        else:
            pad = max(_LADDER_PAD, r + 2)
            ext = _f32(cv2.copyMakeBorder(src, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0))
            out = _f32(cv2.filter2D(ext, -1, k, borderType=cv2.BORDER_CONSTANT)) if r else ext
        img = _u16(np.clip(out * _FULL + 0.5, 0, _FULL))
        return _Entry(np.ascontiguousarray(img), pad, r)


@dataclass
class _Placement:
    """Where a layer lands on an output image and how blurred it is."""

    cx: float
    cy: float
    width_px: float
    height_px: float
    blur_px: list[float]
    motion_px: tuple[float, float] = (0.0, 0.0)
    """How far the layer moves (output px, x and y) during the exposure: motion blur."""
    distance_m: float = math.nan
    """The layer's (reference) distance; with `focus` and `scale`, what depth slices need."""
    focus: tuple[float, ...] = ()
    scale: float = 1.0

    def key(self) -> tuple[Any, ...]:
        """Every input of the drawing (exact values: equal keys draw equal pixels)."""
        return (self.cx, self.cy, self.width_px, self.height_px, tuple(self.blur_px),
                self.motion_px, self.distance_m, self.focus, self.scale)

    @property
    def drawable(self) -> bool:
        """Finite, on-scale geometry (not lost at an absurd distance or position)."""
        values = (self.cx, self.cy, self.width_px, self.height_px, *self.blur_px)
        return (
            all(math.isfinite(v) for v in values)
            and 1e-3 < self.width_px < 1e7
            and 1e-3 < self.height_px < 1e7
            and abs(self.cx) < 1e7
            and abs(self.cy) < 1e7
            and max(abs(b) for b in self.blur_px) < 1e5
        )


@dataclass(frozen=True)
class _Band:
    """Rows y0..y1 of the image being drawn that see the scene at `t_s` through the lens
    positions `focus`, motion-blurred over the exposure `window` (None: not blurred)."""

    y0: int
    y1: int
    t_s: float
    focus: tuple[float, ...]
    window: tuple[float, float] | None = None


_Plan = list[tuple[Layer, _Band]]
"""A frame's draws in order: each layer over the rows of one band (`Renderer._plan`)."""


class _Blend:
    """A weighted sum of same-shaped images, computed only over the texels a warp reads.

    A band of a rolling-shutter frame, or a layer much larger than the frame, needs a small part
    of a ladder level: blending the whole level (``cv2.addWeighted`` per entry) cost as much as
    the rest of the frame. The sum is per texel, so a region of it is the same region of the
    whole sum, bit for bit.
    """

    def __init__(self, images: list[npt.NDArray[Any]], weights: list[float],
                 scratch: _Scratch, name: str) -> None:
        self.images = images
        self.weights = weights
        self.shape: tuple[int, ...] = images[0].shape
        self.dtype = images[0].dtype
        self._scratch = scratch
        self._name = name

    def _buffer(self, h: int, w: int) -> npt.NDArray[Any]:
        nch = 1 if len(self.shape) == 2 else self.shape[2]
        return self._scratch.get(self._name, h, w, nch, self.dtype.type)  # type: ignore[no-any-return]

    def _sum(self, parts: list[npt.NDArray[Any]]) -> npt.NDArray[Any]:
        w0 = self.weights[0]
        if len(parts) == 1 and w0 == 1.0:
            return parts[0]
        out = self._buffer(parts[0].shape[0], parts[0].shape[1])
        if len(parts) == 1:
            cv2.addWeighted(parts[0], w0, parts[0], 0.0, 0.0, dst=out)
            return out
        cv2.addWeighted(parts[0], w0, parts[1], self.weights[1], 0.0, dst=out)
        for img, wgt in zip(parts[2:], self.weights[2:], strict=True):
            cv2.addWeighted(out, 1.0, img, wgt, 0.0, dst=out)
        return out

    def region(self, y0: int, y1: int, x0: int, x1: int) -> npt.NDArray[Any]:
        """The sum over rows y0..y1-1, columns x0..x1-1."""
        return self._sum([img[y0:y1, x0:x1] for img in self.images])

    def whole(self) -> npt.NDArray[Any]:
        return self.region(0, self.shape[0], 0, self.shape[1])

    def gather(self, rows: npt.NDArray[np.intp], cols: npt.NDArray[np.intp],
               out: npt.NDArray[Any]) -> None:
        """Write the sum at rows × cols (indices into the periodic image: a wrapped tiling)
        into `out`."""
        parts = [np.take(np.take(img, rows, axis=0), cols, axis=1) for img in self.images]
        out[...] = self._sum(parts)


class _Scratch:
    """Reusable work buffers.

    Fresh multi-megabyte arrays every frame cost page faults (the allocator maps new memory
    for large blocks), which at these sizes is as slow as the arithmetic itself; so the
    renderer writes into views of buffers it keeps.
    """

    def __init__(self) -> None:
        self._bufs: dict[tuple[str, type[np.generic], int], npt.NDArray[Any]] = {}

    def get(self, name: str, h: int, w: int, channels: int, dtype: type[np.generic]) -> Any:
        key = (name, dtype, channels)  # the scalar type itself (np.uint16, ...): no lookup
        buf = self._bufs.get(key)
        if buf is None or buf.shape[0] < h or buf.shape[1] < w:
            bh, bw = (h, w) if buf is None else (max(h, buf.shape[0]), max(w, buf.shape[1]))
            buf = np.empty((bh, bw, channels), dtype)
            self._bufs[key] = buf
        view = buf[:h, :w]
        return view[..., 0] if channels == 1 else view


# --- renderer -----------------------------------------------------------------------------
class Renderer:
    """Renders preview frames, phase images and stills of a `Scene` through `Optics`."""

    def __init__(
        self,
        scene: Scene,
        optics: Optics,
        size_px: tuple[int, int] = (640, 480),
        seed: int = 0,
        *,
        sensor: SensorModel | None = None,
        phase_scale: float = 0.5,
        coarse: bool = True,
    ) -> None:
        if size_px[0] < 2 or size_px[1] < 2:
            raise ValueError(f"size_px must be at least 2×2, got {size_px}")
        if not 0 < phase_scale <= 1:
            raise ValueError(f"phase_scale must be in (0, 1], got {phase_scale}")
        self.scene = scene
        self.optics = optics
        self.size_px = (int(size_px[0]), int(size_px[1]))
        self.seed = int(seed)
        self.sensor = sensor if sensor is not None else SensorModel()
        self.phase_scale = float(phase_scale)
        self.coarse = bool(coarse)
        """Draw heavily blurred layers on a coarser grid (`_draw_coarse`); False: every layer at
        the output's resolution (the reference the coarse drawing is tested against)."""
        self.reduced_deep_stills = True
        """Stills: a layer with depth whose every slice is blurred beyond `_EXACT_MAX_PX` is
        blurred and blended at the resolution where its least blurred slice spans that disk
        (`_deep_blur_reduced`); False: each slice at full resolution (the reference)."""
        self._coarse = 1
        """While a layer is drawn coarse: its grid's factor s (output pixels per pixel drawn);
        thresholds in output pixels are divided by it, so the same ladder entries, mip levels,
        depth slices and detail fields are drawn as at full resolution."""
        self.preview_scale = optics.preview_scale(self.size_px)
        self._caches: dict[int, _LayerCache] = {}
        self._reliefs: dict[int, F32] = {}
        self._bounds: dict[int, tuple[float, float]] = {}
        self._banks: dict[tuple[int, int, int, int], U8] = {}
        self._scratch = _Scratch()
        self._min_distance_m = 1.2 * optics.focal_length_mm / 1000.0
        self._out_px = self.size_px
        """Size of the image being rendered (the pivot and bounds of `_warp`)."""
        self._band_rows = (0, self.size_px[1])
        """Rows of the whole band being drawn (a depth layer's slices depend on them)."""
        self._prev_keys: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._mod_memo: tuple[tuple[int, int, int, int], dict[Any, F32]] | None = None
        """While a layer's depth slices are drawn: the frame rectangle (x, y, w, h) they
        cover and the modulations placed over it (`_modulation`)."""
        self._smears: dict[tuple[Any, ...], tuple[tuple[Any, ...], U16]] = {}
        self._snapshots: dict[tuple[Any, ...], tuple[tuple[Any, ...], U16]] = {}
        """Per area drawn: the keys of its last draws, and the canvas after the draws they
        shared with the draws before (`_draw_ops`)."""

    # --- public API -----------------------------------------------------------------------
    @property
    def phase_px(self) -> tuple[int, int]:
        """Size (w, h) of the phase images (`phase_scale` × the preview)."""
        w, h = self.size_px
        ps = self.phase_scale
        return max(2, round(w * ps)), max(2, round(h * ps))

    def exposure(self, exposure_s: float = 1 / 60, gain: float = 1.0) -> Exposure:
        """The auto exposure a frame with this budget gets (`gain` = exposure compensation)."""
        return self.sensor.auto_exposure(self.scene.light_lux, self.optics, exposure_s, gain)

    def layer_blur_px(self, layer: Layer, t_s: float, focus_d: float) -> float:
        """Signed blur diameter of `layer` in preview pixels (positive: nearer than focus)."""
        return self._signed_blur(self._distance(layer, t_s), focus_d, self.preview_scale)

    def layer_size_px(self, layer: Layer, t_s: float, focus_d: float) -> tuple[float, float]:
        """On-preview width and height of `layer` in pixels."""
        p = self._place(layer, t_s, (focus_d,), self.size_px, self.preview_scale)
        return p.width_px, p.height_px

    def warm_ladders(self, t_s: float, focus_range_d: tuple[float, float], sweep_d: float,
                     stop: Callable[[], bool] = lambda: False) -> int:
        """Build the blur-ladder entries (the layers' and their detail fields') that previews
        and phase images of the scene at `t_s` need for any lens position in `focus_range_d`,
        the lens still or moving up to `sweep_d` during an exposure; returns how many were
        built here (not the ones a frame drawn meanwhile built). `stop` is asked before each
        entry (True: return early).

        The entries are those the drawing would build itself on first use (the same calls,
        the same pixels): only when they are built changes. Safe beside a thread that draws:
        it only adds entries to the per-layer caches (dict insertions)."""
        lo_d, hi_d = sorted(focus_range_d)
        w = self.size_px[0]
        phase_scale = self.preview_scale * self.phase_px[0] / w
        views = ((self.size_px, self.preview_scale, ("rgb",)),
                 (self.phase_px, phase_scale, ("PL", "PR")))
        built = 0

        def build(ladder: _LayerCache | _Field, k: str, m: int, j: int) -> bool:
            """Build one entry unless it is there (False: `stop` said so first)."""
            nonlocal built
            if ladder.has(k, m, j):
                return True
            if stop():
                return False
            ladder.entry(k, m, j)
            built += 1
            return True

        for layer in self._visible_layers(t_s):
            cache = self._cache(layer)
            d = self._distance(layer, t_s)
            near_z, far_z = self._depth_bounds(layer) if layer.depth is not None else (0.0, 0.0)
            dists = [max(d + z, self._min_distance_m) for z in (near_z, far_z)]
            for size, scale, kinds in views:
                blurs = [self._signed_blur(x, f, scale) for x in dists for f in (lo_d, hi_d)]
                # depth slices reach a step beyond the layer's depths (their grid runs
                # through the focus): a margin of a quarter of the blur and a pixel
                lo_px = min(blurs) - 0.25 * abs(min(blurs)) - 1.0
                hi_px = max(blurs) + 0.25 * abs(max(blurs)) + 1.0
                per_d = abs(self._signed_blur(d, hi_d, scale) - self._signed_blur(d, lo_d, scale))
                sweep_px = per_d / max(hi_d - lo_d, 1e-12) * sweep_d
                # focus breathing changes the layer's size with the lens, and with it the
                # texel size and, near a threshold, the mip level: the sizes at both ends
                # of the range and between
                for f in (lo_d, 0.5 * (lo_d + hi_d), hi_d):
                    p = self._place(layer, t_s, (f,), size, scale)
                    if not p.drawable:
                        continue
                    # a frame's lens samples lie within `sweep_px` of each other and take the
                    # mip level of the least blurred one: at the level of each blur, build
                    # the entries of every blur within a sweep of it
                    for b in _blur_grid(lo_px, hi_px):
                        for kind in kinds:
                            if not self._warm_range(cache, p.width_px, b, sweep_px, kind, build):
                                return built
        return built

    @staticmethod
    def _warm_range(cache: _LayerCache, width_px: float, blur_px: float, sweep_px: float,
                    kind: str, build: Callable[[_LayerCache | _Field, str, int, int], bool]
                    ) -> bool:
        """`build` the ladder entries, at the mip levels a blur of `blur_px` picks (the
        layer's and its fields'), of every blur within `sweep_px` of it (False: stopped)."""
        lo, hi = blur_px - sweep_px, blur_px + sweep_px
        m = cache.pick_level(width_px, abs(blur_px))
        tw, _ = cache.size(m)
        if not all(build(cache, k, m, j) for k, j in _ladder_keys(lo, hi, width_px / tw, kind)):
            return False
        kx0 = width_px / cache.levels[0].shape[1]
        for field in cache.fields_at(width_px):
            md = field.pick_level(kx0, abs(blur_px))
            keys = _ladder_keys(lo, hi, kx0 / field.sub * 2**md, kind)
            if not all(build(field, k, md, j) for k, j in keys):
                return False
        return True

    def render(
        self,
        t_s: float,
        focus_d: float | Sequence[float],
        *,
        exposure_s: float = 1 / 60,
        gain: float = 1.0,
        frame_index: int = 0,
        noise: bool = True,
        lens_d: Callable[[float], float] | None = None,
        rows: RowTiming | None = None,
        region: tuple[int, int, int, int] | None = None,
    ) -> U8:
        """One preview frame, H×W×3 RGB uint8.

        `focus_d` may be a sequence: the lens positions sampled during the exposure (the frame
        is their mean). `exposure_s` is the exposure budget; the sensor's auto exposure
        shortens it in bright light and adds gain in low light. `gain` is an exposure
        compensation factor on top (1 = the AE's choice).

        With `lens_d` (lens position as a function of time) and `rows` (when each row
        integrates), `t_s` and `focus_d` are not used: each row sees the lens positions and the
        scene of its own exposure window (a rolling shutter; the frame is drawn in horizontal
        bands, more of them the more the focus or the scene changes during the readout), the
        lens integrated over each window with equal weight in time (`focus_samples`), and
        layers that move during the window are motion-blurred.

        With `region` (x0, y0, x1, y1: pixels) only those pixels are rendered, each exactly as
        in the whole frame (the same rows' times and lens positions, the same noise: bit for
        bit, see `_warp`); the others are 0. For a consumer that reads only part of the frame
        (the AF engine's window in a benchmark).
        """
        w, h = self.size_px
        self._out_px = (w, h)
        rect = _clip_rect(region, w, h)
        out = np.zeros((h, w, 3), np.uint8)
        if rect is None:
            return out
        x_keep = (rect[0], rect[2])
        rx0, ry0, rx1, ry1 = _align_down(rect[0]), rect[1], _align_up(rect[2], w), rect[3]
        rect = (rx0, ry0, rx1, ry1)
        rw, rh = rx1 - rx0, ry1 - ry0
        sc = self._scratch
        canvas: U16 = sc.get("canvas", h, w, 4, np.uint16)
        plan, filled = self._plan(t_s, _focus_tuple(focus_d), lens_d, rows, h)
        self._draw_plan([(canvas, "rgb")], plan, filled, self.size_px, self.preview_scale, rect)
        rgb: U16 = sc.get("rgb", rh, rw, 3, np.uint16)
        cv2.cvtColor(canvas[ry0:ry1, rx0:rx1], cv2.COLOR_RGBA2RGB, dst=rgb)
        exp = self.exposure(exposure_s, gain)
        dst = out[ry0:ry1, rx0:rx1]
        # the signal stays at 16 bits until here; noise is added to it and the sum is quantised
        # to 8 bits once, so noise below 1 DN survives as it does on a sensor (an 8-bit canvas
        # would round it away)
        if not noise:
            cv2.convertScaleAbs(rgb, dst=dst, alpha=exp.white_dn / _FULL)
            _blank_outside(out, x_keep)
            return out
        n = self.sensor.binned(self.preview_scale, preview=True)
        level: U8 = sc.get("level", rh, rw, 3, np.uint8)
        cv2.convertScaleAbs(rgb, dst=level, alpha=255.0 / _FULL)
        sigma: F32 = sc.get("sigma", rh, rw, 3, np.float32)
        cv2.LUT(level, self.sensor.sigma_lut(exp, n), dst=sigma)
        unit = self._unit_noise(self.size_px, 3, frame_index, _TAG_FRAME, rect,
                                sc.get("unit", rh, rw, 3, np.float32))
        cv2.multiply(sigma, unit, dst=sigma)
        cv2.addWeighted(rgb, exp.white_dn / _FULL, sigma, 1.0, 0.0, dst=dst, dtype=cv2.CV_8U)
        _blank_outside(out, x_keep)
        return out

    def focus_step_d(self, scale: float) -> float:
        """Lens change (D) that changes any blur by `FOCUS_STEP_PX` (blur ≈ A·f·ΔD)."""
        o = self.optics
        per_d_px = o.aperture_mm * o.focal_length_mm / 1000.0 / o.pixel_pitch_mm * scale
        return FOCUS_STEP_PX / max(per_d_px, 1e-12)

    def _plan(self, t_s: float, focus: tuple[float, ...],
              lens_d: Callable[[float], float] | None, rows: RowTiming | None, out_h: int,
              ratio: float = 1.0) -> tuple[_Plan, bool]:
        """What a frame of `out_h` rows (`ratio` × the preview's size) draws, in order, and
        whether every row's first layer fills the frame (else the canvas starts clear).

        Without `lens_d` and `rows`: every visible layer over all rows at `t_s` through
        `focus`. With them (a rolling shutter): each layer in as many bands as it needs
        (`_band_counts`), layer after layer from the back; should the layers' order change
        during the readout (a layer passing another), band after band of the finest of those
        partitions instead, each with the layers in their order at its time. Either way every
        pixel gets its layers back to front, each placed at the time of a band it lies in."""
        if lens_d is None or rows is None:
            whole = _Band(0, out_h, t_s, focus)
            layers = self._visible_layers(t_s)
            return [(layer, whole) for layer in layers], bool(layers) and layers[0].fill
        counts = self._band_counts(lens_d, rows, ratio)
        splits = {n: self._split(n, lens_d, rows, out_h) for n in sorted(set(counts.values()))}
        finest = splits[max(splits)]
        orders = [self._visible_layers(b.t_s) for b in finest]
        if all([id(x) for x in o] == [id(x) for x in orders[0]] for o in orders):
            plan = [(layer, b) for layer in orders[0] for b in splits[counts[id(layer)]]]
            return plan, bool(orders[0]) and orders[0][0].fill
        plan = [(layer, b) for b, order in zip(finest, orders, strict=True) for layer in order]
        return plan, all(bool(o) and o[0].fill for o in orders)

    def _band_counts(self, lens_d: Callable[[float], float], rows: RowTiming, ratio: float
                     ) -> dict[int, int]:
        """Bands each scene layer (by id) needs over a frame's readout, in an image at
        `ratio` × the preview's size: one per unit of `_band_coord` its blur changes by (0.5 px
        up to 20 px, 2.5 % of the blur beyond) and one per `_BAND_SHIFT_PX` it moves, or per
        `_BAND_REL_SHIFT` of its blur where that is more (a seam between its bands moves an
        edge by at most about 1.6 % of its contrast)."""
        layers = self.scene.layers
        if rows.readout_s <= 0:
            return {id(layer): 1 for layer in layers}
        w, h = self.size_px
        mids = [0.5 * (a + b) for a, b in (rows.window_s(0.0), rows.window_s(1.0))]
        lens = [lens_d(t) for t in mids]
        out = {}
        for layer in layers:
            blur = [self._signed_blur(self._distance(layer, t), f, self.preview_scale) * ratio
                    for t, f in zip(mids, lens, strict=True)]
            (xa, ya), (xb, yb) = (layer.position(t) for t in mids)
            shift = max(abs(xb - xa) * w, abs(yb - ya) * h) * ratio
            tol = max(_BAND_SHIFT_PX, _BAND_REL_SHIFT * min(abs(b) for b in blur))
            need = max(abs(_band_coord(blur[1]) - _band_coord(blur[0])), shift / tol)
            n = math.ceil(need) if math.isfinite(need) else _MAX_BANDS  # (lost geometry)
            out[id(layer)] = min(max(n, 1), _MAX_BANDS, h)
        return out

    def _split(self, n: int, lens_d: Callable[[float], float], rows: RowTiming, out_h: int
               ) -> list[_Band]:
        """A frame's rows in `n` equal bands (on preview rows, then in the `out_h` rows of
        the image drawn), each with its rows' mean exposure time and their lens samples."""
        h = self.size_px[1]
        step = self.focus_step_d(self.preview_scale)
        out = []
        for i in range(n):
            y0, y1 = round(i * h / n), round((i + 1) * h / n)
            t0, t1 = rows.window_s((0.5 * (y0 + y1)) / h)
            oy0, oy1 = round(y0 * out_h / h), round(y1 * out_h / h)
            if oy1 > oy0:
                out.append(_Band(oy0, oy1, 0.5 * (t0 + t1),
                                 focus_samples(lens_d, t0, t1, step), (t0, t1)))
        return out

    def _draw_plan(self, canvases: list[tuple[U16, str]], plan: _Plan, filled: bool,
                   size: tuple[int, int], scale: float, rect: tuple[int, int, int, int]
                   ) -> None:
        """Draw `plan` into each (canvas, kind) of an output of `size` at `scale`, the part
        `rect` (x0, y0, x1, y1) needs (and the margin frame-space filters read around it)."""
        ops = [(layer, b, self._place(layer, b.t_s, b.focus, size, scale, b.window))
               for layer, b in plan]
        if not ops:
            for canvas, _ in canvases:
                canvas[rect[1] : rect[3], rect[0] : rect[2]] = 0
            return
        # the filters that run in frame space (the detail's motion smear) read this far
        pad = _REGION_PAD + max(math.ceil(max(abs(p.motion_px[0]), abs(p.motion_px[1])))
                                for _, _, p in ops)
        area = (max(0, _align_down(rect[0] - pad)), max(0, rect[1] - pad),
                _align_up(rect[2] + pad, size[0]), min(size[1], rect[3] + pad))
        for canvas, kind in canvases:
            self._draw_ops(canvas, ops, kind, area, filled)

    def render_phase(
        self,
        t_s: float,
        focus_d: float,
        *,
        exposure_s: float = 1 / 60,
        frame_index: int = 0,
        noise: bool = True,
        gain_ratio: float = 1.0,
        zero_offset_d: float = 0.0,
        lens_d: Callable[[float], float] | None = None,
        rows: RowTiming | None = None,
        region: tuple[int, int, int, int] | None = None,
    ) -> PhaseData:
        """Left/right half-pupil luminance images (float32, DN scale 0..255).

        Rendered at `phase_scale` × the preview size (recorded in `PhaseData.scale`). A real
        sensor's photodiodes each see some light of the other half pupil (angular crosstalk):
        each image is ``a·own + (1 − a)·other`` with ``a = (1 + gain_ratio) / 2``, which scales
        the disparity by `gain_ratio`. `zero_offset_d` moves the lens position of zero
        disparity that far from the one of best contrast (spherical aberration).

        With `lens_d` and `rows`, as in `render`: the PDAF pixels sit on the same sensor rows
        as the image pixels, so each band of rows sees the lens and the scene of its own
        exposure window (rolling shutter; bands as the preview's, counted in phase-image
        pixels), and layers moving during the window are motion-blurred; `t_s` and `focus_d`
        are then not used.

        With `region` (x0, y0, x1, y1, in phase-image pixels) only those pixels are rendered,
        exactly as in the whole images (see `render`); the others are 0.
        """
        if not 0 < gain_ratio <= 1:
            raise ValueError(f"gain_ratio must be in (0, 1], got {gain_ratio}")
        w = self.size_px[0]
        size = self.phase_px
        scale = self.preview_scale * size[0] / w
        self._out_px = size
        rect = _clip_rect(region, *size)
        if rect is None:
            blank = np.zeros((size[1], size[0]), np.float32)
            return PhaseData(left=blank, right=blank.copy(), scale=size[0] / w)
        x_keep = (rect[0], rect[2])
        rect = (_align_down(rect[0]), rect[1], _align_up(rect[2], size[0]), rect[3])
        rx0, ry0, rx1, ry1 = rect
        left: U16 = self._scratch.get("phase_left", size[1], size[0], 2, np.uint16)
        right: U16 = self._scratch.get("phase_right", size[1], size[0], 2, np.uint16)
        offset = float(zero_offset_d)
        shifted = None if lens_d is None else (lambda t: lens_d(t) - offset)
        # (the phase rows are the same sensor rows as the preview's: bands in phase rows)
        plan, filled = self._plan(t_s, (float(focus_d) - offset,), shifted, rows, size[1],
                                  size[0] / w)
        self._draw_plan([(left, "PL"), (right, "PR")], plan, filled, size, scale, rect)
        left, right = left[ry0:ry1, rx0:rx1], right[ry0:ry1, rx0:rx1]
        exp = self.exposure(exposure_s, 1.0)
        n = self.sensor.binned(self.preview_scale, preview=True) * (w / size[0]) ** 2
        out: list[F32] = []
        own = np.float32((1.0 + gain_ratio) / 2.0 * exp.white_dn / _FULL)
        other = np.float32((1.0 - gain_ratio) / 2.0 * exp.white_dn / _FULL)
        lum_l, lum_r = left[..., 0].astype(np.float32), right[..., 0].astype(np.float32)
        for img, tag in (((lum_l, lum_r), _TAG_PHASE_L), ((lum_r, lum_l), _TAG_PHASE_R)):
            x = img[0] * own + img[1] * other
            if noise:
                sigma = self.sensor.sigma_dn(x, exp, n, sub_aperture=0.5)
                x = x + sigma * self._unit_noise(size, 1, frame_index, tag, rect)
            full = np.zeros((size[1], size[0]), np.float32)
            full[ry0:ry1, rx0:rx1] = np.clip(x, 0.0, exp.clip_dn)
            _blank_outside(full, x_keep)
            out.append(full)
        return PhaseData(left=out[0], right=out[1], scale=size[0] / w)

    def render_still(
        self,
        t_s: float,
        focus_d: float | Sequence[float],
        *,
        size_px: tuple[int, int] | None = None,
        exposure_s: float = 1 / 250,
        frame_index: int = 0,
        noise: bool = True,
    ) -> U8:
        """A still, by default at the full sensor resolution, with exact disk convolution.

        Slow by design (hundreds of ms to seconds at full resolution).
        """
        focus = _focus_tuple(focus_d)
        size = size_px if size_px is not None else self.optics.resolution_px
        w, h = int(size[0]), int(size[1])
        scale = self.optics.preview_scale((w, h))
        canvas = np.zeros((h, w, 4), np.float32)
        for layer in self._visible_layers(t_s):
            p = self._place(layer, t_s, focus, (w, h), scale)
            self._draw_exact(canvas, layer, p)
        exp = self.exposure(exposure_s, 1.0)
        rgb = _f32(cv2.cvtColor(canvas, cv2.COLOR_RGBA2RGB))
        del canvas
        out = np.empty((h, w, 3), np.uint8)
        if not noise:
            cv2.convertScaleAbs(rgb, dst=out, alpha=exp.white_dn)
            return out
        # σ from the 8-bit reflectance level; unit noise: fresh random bytes through the
        # Gaussian quantile table (a tenth of the time of drawing normal deviates)
        level = _u8(cv2.convertScaleAbs(rgb, alpha=255.0))
        sigma = _f32(
            cv2.LUT(level, self.sensor.sigma_lut(exp, self.sensor.binned(scale, preview=False)))
        )
        del level
        rng = np.random.default_rng(_seq(self.seed, frame_index, _TAG_STILL))
        noise_bytes = np.frombuffer(rng.bytes(h * w * 3), np.uint8).reshape(h, w, 3)
        cv2.multiply(sigma, _f32(cv2.LUT(noise_bytes, _GAUSS_Q.reshape(256, 1))), dst=sigma)
        cv2.addWeighted(rgb, exp.white_dn, sigma, 1.0, 0.0, dst=out, dtype=cv2.CV_8U)
        return out

    # --- geometry -------------------------------------------------------------------------
    def _distance(self, layer: Layer, t_s: float) -> float:
        return max(layer.distance_m(t_s), self._min_distance_m)

    def _signed_blur(self, distance_m: float, focus_d: float, scale: float) -> float:
        mm = self.optics.signed_blur_diameter_mm(distance_m, focus_d)
        return mm / self.optics.pixel_pitch_mm * scale

    def _place(
        self,
        layer: Layer,
        t_s: float,
        focus: tuple[float, ...],
        size: tuple[int, int],
        scale: float,
        window: tuple[float, float] | None = None,
    ) -> _Placement:
        o = self.optics
        d = self._distance(layer, t_s)
        mean_focus = sum(focus) / len(focus)
        width = o.size_on_sensor_px(layer.width_m, d, mean_focus, scale)
        height = width * layer.height_m / layer.width_m
        breathing = o.image_distance_mm(mean_focus) / o.focal_length_mm
        x, y = layer.position(t_s)
        pw, ph = self.size_px
        # offsets from the centre in sensor pixels, then in output pixels
        off_x = (x - 0.5) * pw / self.preview_scale * breathing
        off_y = (y - 0.5) * ph / self.preview_scale * breathing
        cx = size[0] / 2.0 - 0.5 + off_x * scale
        cy = size[1] / 2.0 - 0.5 + off_y * scale
        blur = [self._signed_blur(d, f, scale) for f in focus]
        motion = (0.0, 0.0)
        if window is not None:
            (xa, ya), (xb, yb) = layer.position(window[0]), layer.position(window[1])
            k = scale / self.preview_scale * breathing
            motion = ((xb - xa) * pw * k, (yb - ya) * ph * k)
        return _Placement(cx, cy, width, height, blur, motion, d, focus, scale)

    def _visible_layers(self, t_s: float) -> list[Layer]:
        """Back to front; everything behind the nearest frame-filling layer is hidden."""
        order = self.scene.layers_back_to_front(t_s)
        start = 0
        for i, layer in enumerate(order):
            if layer.fill:
                start = i
        return order[start:]

    def _cache(self, layer: Layer) -> _LayerCache:
        c = self._caches.get(id(layer))
        if c is None:
            c = _LayerCache(layer)
            self._caches[id(layer)] = c
        return c

    # --- ladder drawing (previews, phase) -----------------------------------------------
    def _draw_ops(self, canvas: U16, ops: list[tuple[Layer, _Band, _Placement]], kind: str,
                  area: tuple[int, int, int, int], filled: bool) -> None:
        """Composite each (layer, band, placement) of `ops` in turn into the rows of its band
        within `area` (x0, y0, x1, y1) of `canvas`, reusing what the previous draw of this
        area left unchanged (`filled`: the first layer of every row fills the frame).

        The area's pixels after its first n draws are a function of those draws (layer, band
        rows, and every input of `_draw`: `_Placement.key`) and of the area and frame size.
        When the first n keys equal those of the previous draw of the same area (a static
        layer behind and an unmoved lens), the canvas after them is kept and restored on the
        next draw with the same n keys: bit for bit what drawing them again gives, and no
        drawing at all for a still scene seen through a still lens (the live view between
        AF runs). Noise is added later, per frame."""
        x0, y0, x1, y1 = area
        view = canvas[y0:y1, x0:x1]
        slot = (kind, area, self._out_px)
        keys = tuple((layer, (b.y0, b.y1), p.key()) for layer, b, p in ops)
        prev = self._prev_keys.pop(slot, ())
        self._prev_keys[slot] = keys
        snap = self._snapshots.get(slot)
        start = 0
        if snap is not None and keys[: len(snap[0])] == snap[0]:
            np.copyto(view, snap[1])
            start = len(snap[0])
        elif not filled:
            view.fill(0)
        # the draws this one shares with the previous one: keep the canvas after them
        same = 0
        while same < min(len(keys), len(prev)) and keys[same] == prev[same]:
            same += 1
        for i in range(start, len(ops)):
            layer, b, p = ops[i]
            r0, r1 = max(b.y0, y0), min(b.y1, y1)
            if r1 > r0:
                self._band_rows = (b.y0, b.y1)
                self._draw(canvas[r0:r1, x0:x1], layer, p, kind, (x0, r0))
            if i + 1 == same:
                self._snapshots.pop(slot, None)
                self._snapshots[slot] = (keys[:same], view.copy())
                while len(self._snapshots) > _MAX_SNAPSHOTS:
                    self._snapshots.pop(next(iter(self._snapshots)))
        while len(self._prev_keys) > 4 * _MAX_SNAPSHOTS:
            self._prev_keys.pop(next(iter(self._prev_keys)))

    def _draw(self, canvas: U16, layer: Layer, p: _Placement, kind: str,
              org: tuple[int, int] = (0, 0)) -> None:
        """Composite `layer` placed at `p` (frame coordinates) over `canvas`, whose pixel
        (0, 0) is frame pixel `org`."""
        s = self._coarse_factor(layer, p) if kind == "rgb" else 1
        if s > 1:
            self._draw_coarse(canvas, layer, p, kind, org, s)
        elif layer.depth is not None and p.drawable:
            self._draw_deep(canvas, layer, p, kind, org)
        else:
            self._draw_flat(canvas, layer, p, kind, org)

    def _moving(self, p: _Placement) -> bool:
        """Whether the layer moves enough during the exposure to be motion-blurred."""
        return math.hypot(*p.motion_px) * self._coarse >= _MOTION_MIN_PX

    def _coarse_factor(self, layer: Layer, p: _Placement) -> int:
        """The grid factor s (1, 2, 4, 8) `_draw` draws the layer on in a preview (phase
        images: 1, see `_COARSE_MIN_BLUR_PX`): the largest with every
        point's blur (each lens sample, each depth of the layer) at least s·
        `_COARSE_MIN_BLUR_PX` (1 when any point of it is in focus for some sample)."""
        if not self.coarse or self._coarse != 1 or not p.drawable:
            return 1
        if layer.depth is None:
            least = min(abs(b) for b in p.blur_px)
        else:
            near, far = self._depth_bound_placements(layer, p)
            if any(a * b <= 0.0 for a, b in zip(near.blur_px, far.blur_px, strict=True)):
                return 1  # the focus lies within the layer's depths
            least = min(abs(b) for b in (*near.blur_px, *far.blur_px))
        s = 1
        while s < _COARSE_MAX and least >= 2 * s * _COARSE_MIN_BLUR_PX:
            s *= 2
        return s

    def _draw_coarse(self, canvas: U16, layer: Layer, p: _Placement, kind: str,
                     org: tuple[int, int], s: int) -> None:
        """`_draw` of a heavily blurred layer on a grid `s` times coarser: the layer drawn as
        at full resolution into the coarse pixels the output's need (coarse pixel c covers
        output pixels s·(c − 1) .. s·c − 1), then enlarged bilinearly (``cv2.resize`` by the
        exact factor, half-pixel centres) and composited. A coarse pixel's value depends on
        its position only, and each coarse block reaches a pixel beyond the output pixels it
        gives (the grid a pixel beyond the frame), so a region is still bit for bit that
        region of the whole frame."""
        cache = self._cache(layer)
        h, w = canvas.shape[:2]
        nch = canvas.shape[2]
        if cache.fill:
            region: tuple[int, int, int, int] | None = (0, 0, w, h)
        else:
            widest = p if layer.depth is None else max(
                self._depth_bound_placements(layer, p),
                key=lambda q: max(abs(b) for b in q.blur_px))
            region = self._card_region(cache, widest, kind, (h, w), org)
        if region is None:
            return
        fx0, fy0 = org[0] + region[0], org[1] + region[1]
        fx1, fy1 = org[0] + region[2], org[1] + region[3]
        # the coarse grid has a pixel beyond the frame at each edge (the enlargement of the
        # output's edge pixels reads them): its pixel c covers output pixels s·(c − 1) ..
        # s·c − 1; output pixels fx0 .. fx1 − 1 read its pixels cx0 .. cx1 − 1
        out_w, out_h = self._out_px
        grid = (-(-out_w // s) + 2, -(-out_h // s) + 2)
        cx0, cx1 = fx0 // s, (fx1 - 1) // s + 3
        cy0, cy1 = fy0 // s, (fy1 - 1) // s + 3
        b0, b1 = self._band_rows
        band = (b0 // s, (b1 - 1) // s + 3)
        cw, ch = cx1 - cx0, cy1 - cy0
        sc = self._scratch
        small: U16 = sc.get(f"coarse{nch}", ch, cw, nch, np.uint16)
        if not cache.fill:
            small.fill(0)
        inv = 1.0 / s  # a power of two: every blur and size below is exactly 1/s of the output's
        pc = dataclasses.replace(
            p, cx=(p.cx + 0.5) * inv + 0.5, cy=(p.cy + 0.5) * inv + 0.5,
            width_px=p.width_px * inv, height_px=p.height_px * inv,
            blur_px=[b * inv for b in p.blur_px],
            motion_px=(p.motion_px[0] * inv, p.motion_px[1] * inv), scale=p.scale * inv)
        saved = self._out_px, self._band_rows
        self._out_px, self._band_rows, self._coarse = grid, band, s
        try:
            if layer.depth is not None:
                self._draw_deep(small, layer, pc, kind, (cx0, cy0))
            else:
                self._draw_flat(small, layer, pc, kind, (cx0, cy0))
        finally:
            (self._out_px, self._band_rows), self._coarse = saved, 1
        big: U16 = sc.get(f"coarse_big{nch}", ch * s, cw * s, nch, np.uint16)
        cv2.resize(small, (cw * s, ch * s), dst=big, interpolation=cv2.INTER_LINEAR)
        ox, oy = fx0 - s * (cx0 - 1), fy0 - s * (cy0 - 1)
        img = big[oy : oy + fy1 - fy0, ox : ox + fx1 - fx0]
        if cache.fill:
            canvas[...] = img
        else:
            self._over(canvas, img, region)

    def _draw_flat(self, canvas: U16, layer: Layer, p: _Placement, kind: str,
                   org: tuple[int, int] = (0, 0)) -> None:
        """A layer at one depth (its placement's blur), over `canvas` whose pixel (0, 0) is
        frame pixel `org`."""
        cache = self._cache(layer)
        if not p.drawable:
            if cache.fill:  # e.g. at an absurd distance: its mean colour
                coarse = cache.entry(_half_kind(kind, 0.0), len(cache.levels) - 1, 0).image
                mean = coarse.reshape(-1, coarse.shape[2]).mean(axis=0)
                canvas[...] = np.round(mean).astype(canvas.dtype)
            return
        if cache.fill:
            self._fill_image(canvas, cache, p, kind, org)
            return
        got = self._card_image(cache, p, kind, canvas.shape[:2], canvas.shape[2], None, "layer",
                               org)
        if got is not None:
            self._over(canvas, *got)

    def _entries(self, cache: _LayerCache, p: _Placement, kind: str
                 ) -> tuple[int, float, float, list[tuple[_Entry, float]]]:
        """Mip level, texel size (kx, ky, output px) and ladder entries of a placement."""
        m = cache.pick_level(p.width_px, min(abs(b) for b in p.blur_px),
                             _MAX_UPSAMPLE / self._coarse)
        tw, th = cache.size(m)
        kx, ky = p.width_px / tw, p.height_px / th
        entries = [(cache.entry(k, m, j), wgt)
                   for (k, j), wgt in _sample_weights(p.blur_px, kx, kind)]
        return m, kx, ky, entries

    def _fill_image(self, canvas: U16, cache: _LayerCache, p: _Placement, kind: str,
                    org: tuple[int, int]) -> None:
        """Cover `canvas` (frame pixel `org` at its (0, 0)) with a frame-filling layer (tiled,
        blurred, detail applied)."""
        m, kx, ky, entries = self._entries(cache, p, kind)
        tw, th = cache.size(m)
        lazy = _Blend([e.image for e, _ in entries], [w for _, w in entries],
                      self._scratch, "blend_fill")
        src: U16 | _Blend = lazy
        if self._moving(p):
            src = self._smear(lazy.whole, p.motion_px[0] / kx, p.motion_px[1] / ky, 0,
                              cv2.BORDER_REFLECT, (tuple(lazy.images), tuple(lazy.weights)))
        self._draw_fill(canvas, src, p.cx - kx * (tw - 1) / 2.0,
                        p.cy - ky * (th - 1) / 2.0, kx, ky, org)
        self._apply_detail(canvas, cache, p, kind, *org)

    def _card_region(self, cache: _LayerCache, p: _Placement, kind: str,
                     size_hw: tuple[int, int], org: tuple[int, int] = (0, 0)
                     ) -> tuple[int, int, int, int] | None:
        """The rectangle (x0, y0, x1, y1) of an output of `size_hw` (frame pixel `org` at its
        (0, 0)) a card's blurred, smeared image can reach; its columns on `_ALIGN_PX`."""
        m, kx, ky, entries = self._entries(cache, p, kind)
        tw, th = cache.size(m)
        h, w = size_hw
        reach = max(e.radius for e, _ in entries) + 1  # texels beyond the texture's edge
        if self._moving(p):
            reach += math.ceil(max(abs(p.motion_px[0] / kx), abs(p.motion_px[1] / ky)) / 2) + 2
        half_w = kx * (tw / 2.0 + reach) + 1.0
        half_h = ky * (th / 2.0 + reach) + 1.0
        x0 = max(0, _align_down(math.floor(p.cx - half_w)) - org[0])
        x1 = min(w, _align_up(math.ceil(p.cx + half_w) + 1, org[0] + w) - org[0])
        y0 = max(0, math.floor(p.cy - half_h) - org[1])
        y1 = min(h, math.ceil(p.cy + half_h) + 1 - org[1])
        if x1 <= x0 or y1 <= y0:
            return None
        return x0, y0, x1, y1

    def _card_image(self, cache: _LayerCache, p: _Placement, kind: str,
                    size_hw: tuple[int, int], nch: int,
                    region: tuple[int, int, int, int] | None, name: str,
                    org: tuple[int, int] = (0, 0), detail: bool = True
                    ) -> tuple[U16, tuple[int, int, int, int]] | None:
        """A card (non-fill layer) blurred and placed over `region` of an output of `size_hw`
        whose (0, 0) is frame pixel `org` (its own reach when None), detail applied:
        (premultiplied image, region)."""
        m, kx, ky, entries = self._entries(cache, p, kind)
        tw, th = cache.size(m)
        mx, my = p.motion_px[0] / kx, p.motion_px[1] / ky  # motion in texels
        moving = self._moving(p)
        extra = math.ceil(max(abs(mx), abs(my)) / 2.0) + 2 if moving else 0
        if region is None:
            region = self._card_region(cache, p, kind, size_hw, org)
            if region is None:
                return None
        x0, y0, x1, y1 = region
        rh, rw = y1 - y0, x1 - x0
        sc = self._scratch
        layer_img: U16 = sc.get(f"{name}{nch}", rh, rw, nch, np.uint16)
        # (pad, image, weight, its first texel, the texture's size): what each warp reads
        groups: list[tuple[int, U16, float, tuple[int, int], tuple[int, int]]]
        if moving and len({e.pad for e, _ in entries}) == 1:
            groups = [self._smeared_band(cache, p, entries, (kx, ky), (tw, th), (mx, my),
                                         extra)]
        elif moving:  # rare (very large blur at the coarsest level): each entry smeared whole
            groups = []
            for e, wgt in entries:
                img = self._smear(lambda e=e: e.image, mx, my, extra,  # type: ignore[misc]
                                  cv2.BORDER_CONSTANT, ((e.image,),))
                groups.append((e.pad + extra, img, wgt, (0, 0), (img.shape[1], img.shape[0])))
        elif len({e.pad for e, _ in entries}) == 1:
            # the texels the warp reads (as `_tiled_warp` finds them)
            pad = entries[0][0].pad
            eh, ew = entries[0][0].image.shape[:2]
            tx = p.cx - org[0] - x0 - kx * (pad + (tw - 1) / 2.0)
            ty = p.cy - org[1] - y0 - ky * (pad + (th - 1) / 2.0)
            rect = (*_texels_read(ty, ky, 0, rh, eh), *_texels_read(tx, kx, 0, rw, ew))
            groups = [(pad, _blend_entries(cache, entries, rect), 1.0, (0, 0), (ew, eh))]
        else:  # rare (very large blur at the coarsest level): warp each, blend in frame space
            groups = [(e.pad, e.image, wgt, (0, 0), (e.image.shape[1], e.image.shape[0]))
                      for e, wgt in entries]
        box_org = (org[0] + x0, org[1] + y0)
        for i, (pad, image, wgt, src_org, extent) in enumerate(groups):
            target = layer_img if i == 0 else sc.get(f"warp{nch}", rh, rw, nch, np.uint16)
            _warp(image, target, (kx, ky),
                  (p.cx - kx * (pad + (tw - 1) / 2.0), p.cy - ky * (pad + (th - 1) / 2.0)),
                  box_org, self._out_px, extent, src_org)
            if i == 0 and wgt != 1.0:
                cv2.addWeighted(layer_img, wgt, layer_img, 0.0, 0.0, dst=layer_img)
            elif i > 0:
                cv2.addWeighted(layer_img, 1.0, target, wgt, 0.0, dst=layer_img)
        if detail:
            self._apply_detail(layer_img, cache, p, kind, *box_org)
        return layer_img, region

    def _smeared_band(self, cache: _LayerCache, p: _Placement, entries: list[tuple[_Entry, float]],
                      k: tuple[float, float], t_size: tuple[int, int], m: tuple[float, float],
                      extra: int) -> tuple[int, U16, float, tuple[int, int], tuple[int, int]]:
        """A moving card's blended texture, with `extra` transparent texels around it,
        convolved with its motion line of `m` texels: only over the texels a warp into the
        band being drawn reads (`_band_rows`, every column: a region of the band smears the
        same texels). As a `_card_image` group: (pad, image, 1, its first texel, the whole
        smeared texture's size)."""
        e0 = entries[0][0]
        pad = e0.pad + extra
        eh, ew = e0.image.shape[:2]
        sh, sw = eh + 2 * extra, ew + 2 * extra
        (kx, ky), (tw, th) = k, t_size
        tx = p.cx - kx * (pad + (tw - 1) / 2.0)
        ty = p.cy - ky * (pad + (th - 1) / 2.0)
        u0, u1 = _texels_read(tx, kx, 0, self._out_px[0], sw)
        v0, v1 = _texels_read(ty, ky, *self._band_rows, sh)
        u1, v1 = max(u1, u0 + 1), max(v1, v0 + 1)
        line = line_kernel(*m)
        ry, rx = line.shape[0] // 2, line.shape[1] // 2
        images = tuple(e.image for e, _ in entries)

        def smear() -> U16:
            nch = e0.image.shape[2]
            # the smear's input: the texture extended by zeros (its `extra` border and beyond)
            z = np.zeros((v1 - v0 + 2 * ry, u1 - u0 + 2 * rx, nch), np.uint16)
            zy, zx = v0 - ry - extra, u0 - rx - extra  # z's texel 0 in the blend's texels
            by0, by1 = max(0, zy), min(eh, zy + z.shape[0])
            bx0, bx1 = max(0, zx), min(ew, zx + z.shape[1])
            if by1 > by0 and bx1 > bx0:
                blend = _blend_entries(cache, entries, (by0, by1, bx0, bx1))
                z[by0 - zy : by1 - zy, bx0 - zx : bx1 - zx] = blend[by0:by1, bx0:bx1]
            out = _u16(cv2.filter2D(z, -1, line, borderType=cv2.BORDER_CONSTANT))
            return np.ascontiguousarray(out[ry : ry + v1 - v0, rx : rx + u1 - u0])

        source = (images, tuple(w for _, w in entries), "band", (u0, u1, v0, v1))
        return pad, self._kept_smear(source, m, extra, smear), 1.0, (u0, v0), (sw, sh)

    def _over(self, canvas: U16, layer_img: U16, region: tuple[int, int, int, int]) -> None:
        """Premultiplied "over": canvas = layer + canvas·(1 − α) over `region`."""
        x0, y0, x1, y1 = region
        rh, rw = y1 - y0, x1 - x0
        nch = canvas.shape[2]
        roi = canvas[y0:y1, x0:x1]
        alpha = layer_img[..., nch - 1]
        alpha_n: U16 = self._scratch.get(f"alpha{nch}", rh, rw, nch, np.uint16)
        if nch == 4:
            # (α, α, α, full): the canvas's own alpha channel is not used for output
            cv2.cvtColor(alpha, cv2.COLOR_GRAY2RGBA, dst=alpha_n)
        else:
            cv2.merge([alpha] * nch, dst=alpha_n)
        cv2.multiply(roi, alpha_n, dst=alpha_n, scale=1.0 / _FULL)
        cv2.subtract(roi, alpha_n, dst=alpha_n)
        cv2.add(layer_img, alpha_n, dst=roi)

    # --- depth within a layer (tilt, relief): depth slices --------------------------------
    def _depth_offsets(self, layer: Layer, p: _Placement, region: tuple[int, int, int, int],
                       org: tuple[int, int] = (0, 0)) -> F32:
        """Depth offsets (m) of the layer's points over `region` of an output whose (0, 0) is
        frame pixel `org` (the card's coordinates extended beyond its edge: a blurred rim
        takes the depth of its edge)."""
        assert layer.depth is not None
        x0, y0, x1, y1 = (region[0] + org[0], region[1] + org[1], region[2] + org[0],
                          region[3] + org[1])
        card_m = (layer.width_m, layer.height_m)
        mx = card_m[0] / p.width_px  # metres per output pixel
        my = card_m[1] / p.height_px
        xs = (np.arange(x0, x1, dtype=np.float64) - p.cx) * mx
        ys = (np.arange(y0, y1, dtype=np.float64) - p.cy) * my
        sx, sy = layer.depth.slopes
        if sx == 0.0 and sy == 0.0:  # a relief alone
            z = np.zeros((y1 - y0, x1 - x0), np.float32)
        else:
            z = np.add.outer(ys * sy, xs * sx).astype(np.float32)
        if layer.depth.relief is not None:
            grid = self._relief_grid(layer)
            gh, gw = grid.shape
            kx, ky = p.width_px / gw, p.height_px / gh
            rel: F32 = self._scratch.get("relief", y1 - y0, x1 - x0, 1, np.float32)
            _warp(grid, rel, (kx, ky), (p.cx - kx * (gw - 1) / 2.0, p.cy - ky * (gh - 1) / 2.0),
                  (x0, y0), self._out_px, (gw, gh), border=cv2.BORDER_REPLICATE)
            z += rel
        return z

    def _relief_grid(self, layer: Layer) -> F32:
        """The relief's offsets at the centres of a grid over the card (cached per layer)."""
        key = id(layer)
        grid = self._reliefs.get(key)
        if grid is None:
            assert layer.depth is not None
            ih, iw = layer.image.shape[:2]
            f = min(1.0, _RELIEF_GRID_PX / max(ih, iw))
            gw, gh = max(2, round(iw * f)), max(2, round(ih * f))
            xs = ((np.arange(gw) + 0.5) / gw - 0.5) * layer.width_m
            ys = ((np.arange(gh) + 0.5) / gh - 0.5) * layer.height_m
            grid = _f32(layer.depth.relief_offsets_m(xs[None, :], ys[:, None],
                                                     (layer.width_m, layer.height_m)))
            self._reliefs[key] = grid
        return grid

    def _slices(self, p: _Placement, z: F32, z_span: F32 | None = None,
                relative: bool = False) -> tuple[list[_Placement], F32, float] | None:
        """Depth slices of a layer whose points lie `z` metres beyond `p.distance_m`: the
        placement of each (its own blur per lens sample), each point's fractional slice index,
        and the slice spacing in dioptres (near the focus); None when the depths span under
        `_SLICE_MIN_SPAN_PX` of blur (drawn at one depth). The slices span the depths of
        `z_span` (default `z`).

        With `relative` (previews and phase images), slices whose blur exceeds
        `_SLICE_REL_FROM_PX` are spaced by `_SLICE_REL_STEP` of their blur instead of
        `_SLICE_STEP_PX` (see `_slice_coords`), where that needs fewer of them."""
        span = z if z_span is None else z_span
        near = max(p.distance_m + float(span.min()), self._min_distance_m)
        far = max(p.distance_m + float(span.max()), self._min_distance_m)
        p_near, p_far = 1.0 / near, 1.0 / far
        mean_f = sum(p.focus) / len(p.focus)
        # (in the output's pixels also when drawn coarse: the same slices)
        span_px = abs(self._signed_blur(near, mean_f, p.scale)
                      - self._signed_blur(far, mean_f, p.scale)) * self._coarse
        if p_near - p_far < 1e-12 or span_px < _SLICE_MIN_SPAN_PX:
            return None
        n = min(max(math.ceil(span_px / _SLICE_STEP_PX) + 1, 2), _MAX_SLICES)
        if relative:
            got = self._relative_slices(p, z, (p_near, p_far), mean_f,
                                        span_px / (p_near - p_far), n)
            if got is not None:
                return got
        step_d = (p_near - p_far) / (n - 1)
        # the slices lie on a grid through the focus (the point dioptres of zero blur), so no
        # pixel blends blur of both signs: a blend of a disk before and one beyond focus is
        # blurred where its depth is sharp, and moved the contrast peak by up to half a step
        k0 = math.floor((p_far - mean_f) / step_d + 1e-9)
        k1 = math.ceil((p_near - mean_f) / step_d - 1e-9)
        first = mean_f + k0 * step_d
        slices = []
        for k in range(k1 - k0 + 1):
            pk_d = first + k * step_d
            dk = 1.0 / pk_d if pk_d > 1e-12 else 1e12
            pk = dataclasses.replace(p, blur_px=[self._signed_blur(dk, f, p.scale)
                                                 for f in p.focus], distance_m=dk)
            slices.append(pk)
        # point dioptres → fractional slice index
        dist = np.maximum(z + np.float32(p.distance_m), np.float32(self._min_distance_m))
        index = (np.float32(1.0) / dist - np.float32(first)) / np.float32(step_d)
        return slices, _f32(index), step_d

    def _relative_slices(self, p: _Placement, z: F32, bounds_d: tuple[float, float],
                         mean_f: float, px_per_d: float, n_uniform: int
                         ) -> tuple[list[_Placement], F32, float] | None:
        """`_slices` with steps relative to the blur beyond `_SLICE_REL_FROM_PX` (None when
        that gives no fewer slices than `n_uniform` uniform ones)."""
        p_near, p_far = bounds_d
        b_near, b_far = px_per_d * (p_near - mean_f), px_per_d * (p_far - mean_f)
        if max(abs(b_near), abs(b_far)) <= _SLICE_REL_FROM_PX:
            return None
        c_near, c_far = _slice_coord(b_near), _slice_coord(b_far)
        stretch = max(1.0, (c_near - c_far) / (_MAX_SLICES - 2))
        k0 = math.floor(c_far / stretch + 1e-9)
        k1 = math.ceil(c_near / stretch - 1e-9)
        if k1 - k0 + 1 >= n_uniform:
            return None
        slices = []
        for k in range(k0, k1 + 1):
            pk_d = mean_f + _slice_blur(k * stretch) / px_per_d
            dk = 1.0 / pk_d if pk_d > 1e-12 else 1e12
            slices.append(dataclasses.replace(p, blur_px=[self._signed_blur(dk, f, p.scale)
                                                          for f in p.focus], distance_m=dk))
        # point dioptres → blur at the mean focus → fractional slice index
        dist = np.maximum(z + np.float32(p.distance_m), np.float32(self._min_distance_m))
        blur = (np.float32(1.0) / dist - np.float32(mean_f)) * np.float32(px_per_d)
        index = _slice_coords(_f32(blur))
        index *= np.float32(1.0 / stretch)
        index -= np.float32(k0)
        return slices, index, _SLICE_STEP_PX * stretch / px_per_d

    def _draw_deep(self, canvas: U16, layer: Layer, p: _Placement, kind: str,
                   org: tuple[int, int] = (0, 0)) -> None:
        """A layer with depth, in depth slices: the layer is drawn once per slice, blurred
        with that slice's circle of confusion (its half disks in the phase images), and each
        output pixel takes the two slices that bracket its point's depth, weighted linearly in
        dioptres (a partition of unity: where the depth is one slice's, that slice alone).

        The slices span the depths the layer shows in the whole band being drawn
        (`_band_rows`, every column), also when `canvas` is only part of it (a region): the
        same slices, the same pixels."""
        cache = self._cache(layer)
        h, w = canvas.shape[:2]
        nch = canvas.shape[2]
        sc = self._scratch

        def reach(size_hw: tuple[int, int], o: tuple[int, int]
                  ) -> tuple[int, int, int, int] | None:
            if cache.fill:
                return 0, 0, size_hw[1], size_hw[0]
            # the region every slice can reach: that of the more blurred end
            widest = max(self._depth_bound_placements(layer, p),
                         key=lambda pe: max(abs(b) for b in pe.blur_px))
            return self._card_region(cache, widest, kind, size_hw, o)

        region = reach((h, w), org)
        if region is None:
            return
        band_org = (0, self._band_rows[0])
        band_hw = (self._band_rows[1] - self._band_rows[0], self._out_px[0])
        z = self._depth_offsets(layer, p, region, org)
        z_span = z
        if (band_org, band_hw) != (org, (h, w)):
            band_region = reach(band_hw, band_org)
            if band_region is not None:
                z_span = self._depth_offsets(layer, p, band_region, band_org).copy()
        got = self._slices(p, z, z_span, relative=True)
        if got is None:
            flat = dataclasses.replace(p, blur_px=[self._signed_blur(
                p.distance_m + float(z_span.mean()), f, p.scale) for f in p.focus])
            self._draw_flat(canvas, layer, flat, kind, org)
            return
        slices, index, _ = got
        x0, y0, x1, y1 = region
        rh, rw = y1 - y0, x1 - x0
        acc: F32 = sc.get(f"deep_acc{nch}", rh, rw, nch, np.float32)
        acc.fill(0.0)
        wk: F32 = sc.get("deep_w", rh, rw, 1, np.float32)
        wn: F32 = sc.get(f"deep_w{nch}", rh, rw, nch, np.float32)
        part: F32 = sc.get(f"deep_part{nch}", rh, rw, nch, np.float32)
        last = len(slices) - 1
        if not cache.fill:
            # each row's and column's range of slice index: the box a slice can have weight in
            # (every slice's rows and columns at once)
            row_span = _slice_spans(index.min(axis=1), index.max(axis=1), last)
            col_span = _slice_spans(index.min(axis=0), index.max(axis=0), last)
        # the modulation of the detail is the same for every slice: placed once (`_modulation`)
        self._mod_memo = ((x0 + org[0], y0 + org[1], rw, rh), {})
        try:
            for k, pk in enumerate(slices):
                if cache.fill:
                    _tent(index, k, last, wk)
                    if not wk.any():
                        continue
                    img: U16 = sc.get(f"deep_fill{nch}", h, w, nch, np.uint16)
                    self._fill_image(img, cache, pk, kind, org)
                    cv2.merge([wk] * nch, dst=wn)
                    cv2.multiply(img, wn, dst=part, dtype=cv2.CV_32F)
                    cv2.add(acc, part, dst=acc)
                    continue
                # a card's slice is drawn only over the rows and columns where its weight can be
                # non-zero (columns on `_ALIGN_PX` of the frame): region renders equal that part
                # of the whole, so the pixels are those of drawing the slice over all of `region`
                sy0, sy1 = row_span[k]
                cx0, cx1 = col_span[k]
                if sy1 <= sy0 or cx1 <= cx0:
                    continue
                fx = x0 + org[0]
                sx0 = max(0, _align_down(fx + cx0) - fx)
                sx1 = min(rw, _align_up(fx + cx1, fx + rw) - fx)
                sh, sw = sy1 - sy0, sx1 - sx0
                wk_k: F32 = sc.get("deep_wk", sh, sw, 1, np.float32)
                _tent(index[sy0:sy1, sx0:sx1], k, last, wk_k)
                if not wk_k.any():
                    continue
                got_k = self._card_image(cache, pk, kind, (h, w), nch,
                                         (x0 + sx0, y0 + sy0, x0 + sx1, y0 + sy1), "layer", org,
                                         detail=False)
                if got_k is None:
                    continue
                wn_k: F32 = sc.get(f"deep_wk{nch}", sh, sw, nch, np.float32)
                part_k: F32 = sc.get(f"deep_pk{nch}", sh, sw, nch, np.float32)
                # the slice's weight and its detail (colour only) in one factor: one multiply
                factor = self._moving_detail(cache, pk, kind, org[0] + x0 + sx0,
                                             org[1] + y0 + sy0, (sw, sh))
                if factor is None:
                    cv2.merge([wk_k] * nch, dst=wn_k)
                else:
                    cv2.multiply(factor, wk_k, dst=factor)
                    cv2.merge([factor] * (nch - 1) + [wk_k], dst=wn_k)
                cv2.multiply(got_k[0], wn_k, dst=part_k, dtype=cv2.CV_32F)
                acc_k = acc[sy0:sy1, sx0:sx1]
                cv2.add(acc_k, part_k.reshape(acc_k.shape), dst=acc_k)  # (3× numpy's, here)
        finally:
            self._mod_memo = None
        out: U16 = sc.get(f"deep_out{nch}", rh, rw, nch, np.uint16)
        np.clip(acc, 0.0, _FULL, out=acc)
        np.add(acc, np.float32(0.5), out=acc)
        np.copyto(out, acc, casting="unsafe")  # truncates: rounds the clipped sum
        if cache.fill:
            canvas[...] = out
        else:
            self._over(canvas, out, region)

    def _depth_bound_placements(self, layer: Layer, p: _Placement) -> list[_Placement]:
        """Placements of the layer at its nearest and farthest depth (for its reach)."""
        near, far = self._depth_bounds(layer)
        out = []
        for z in (near, far):
            d = max(p.distance_m + z, self._min_distance_m)
            out.append(dataclasses.replace(
                p, blur_px=[self._signed_blur(d, f, p.scale) for f in p.focus]))
        return out

    def _depth_bounds(self, layer: Layer) -> tuple[float, float]:
        b = self._bounds.get(id(layer))
        if b is None:
            b = layer.depth_bounds_m()
            self._bounds[id(layer)] = b
        return b

    def _detail_factor(
        self,
        cache: _LayerCache,
        p: _Placement,
        kind: str,
        ox: int,
        oy: int,
        size: tuple[int, int],
        blurred: bool,
    ) -> F32 | None:
        """Product of the layer's fields over an output region (`size` = (w, h) at (ox, oy)),
        or None when no field is drawn at this scale.

        Each field is blurred by the layer's ladder weights (`blurred`) or drawn sharp
        (stills, which blur the product exactly afterwards). Multiplying the blurred photo by
        a blurred field approximates blurring their product: the detail's frequencies lie
        above the photo's, where the photo is locally almost constant (and the macro field's
        below them, where the field is).
        """
        if not cache.fields:
            return None
        active = cache.fields_at(p.width_px * self._coarse)
        if not active:
            return None
        w, h = size
        sc = self._scratch
        k0, t0 = _photo_texels(cache, p)
        org = (ox, oy)
        factor: F32 = sc.get("detail_f", h, w, 1, np.float32)
        for i, field in enumerate(active):
            d16 = self._field_image(field, p, kind, k0, t0, org, size, blurred)
            part: F32 = factor if i == 0 else sc.get("detail_g", h, w, 1, np.float32)
            cv2.addWeighted(d16, 1.0, d16, 0.0, -_DETAIL_ZERO, dst=part, dtype=cv2.CV_32F)
            if field.modulation is not None:
                mod = self._modulation(field, cache.fill, k0, t0, org, (w, h))
                cv2.multiply(part, mod, dst=part, scale=field.amplitude / _DETAIL_UNIT)
            else:
                np.multiply(part, np.float32(field.amplitude / _DETAIL_UNIT), out=part)
            cv2.add(part, 1.0, dst=part)  # type: ignore[call-overload]  # (a scalar)
            cv2.threshold(part, 0.0, 0.0, cv2.THRESH_TOZERO, dst=part)  # max(·, 0), SIMD
            if i > 0:
                cv2.multiply(factor, part, dst=factor)
        return factor

    def _field_image(self, field: _Field, p: _Placement, kind: str, k0: tuple[float, float],
                     t0: tuple[float, float], org: tuple[int, int], size: tuple[int, int],
                     blurred: bool) -> U16:
        """One field of a layer placed at `p` (level-0 photo texels `k0` px wide, texel 0 at
        frame pixel `t0`), blurred by its ladder weights (`blurred`) or sharp, over `size`
        (w, h) at frame pixel `org`: coded `_DETAIL_ZERO` + unit·x (a scratch buffer)."""
        kx0, ky0 = k0
        w, h = size
        sc = self._scratch
        blur = min(abs(b) for b in p.blur_px) if blurred else 0.0
        md = field.pick_level(kx0, blur, _MAX_UPSAMPLE / self._coarse)
        kdx, kdy = kx0 / field.sub * 2**md, ky0 / field.sub * 2**md
        samples = p.blur_px if blurred else [0.0]
        tile = field.blend(md, _sample_weights(samples, kdx, kind), sc)
        # field texel s of level md covers photo coordinates [s, s + 1)·2^md / sub
        sx = (2**md / (2.0 * field.sub) - 0.5) * kx0
        sy = (2**md / (2.0 * field.sub) - 0.5) * ky0
        d16: U16 = sc.get("detail16", h, w, 1, np.uint16)
        self._tiled_warp(d16, tile, t0[0] + sx, t0[1] + sy, kdx, kdy, cv2.BORDER_WRAP, "dtile",
                         org)
        return d16

    def _plain_detail_q(self, cache: _LayerCache, p: _Placement, kind: str, ox: int, oy: int,
                        size: tuple[int, int]) -> U16 | None:
        """The detail factor in `_apply_detail`'s fixed point (2^-14 per unit) straight from
        the field, when a still layer's one field drawn at this scale has no modulation (a
        tiled background's macro field): q = Q·max(0, 1 + a·(f − zero)/unit) in one pass
        (the u16 conversion saturates at 0: the max), where `_detail_factor` takes five; the
        same factor to 1 LSB of q. None otherwise."""
        if not cache.fields or self._moving(p):
            return None
        active = cache.fields_at(p.width_px * self._coarse)
        if len(active) != 1 or active[0].modulation is not None:
            return None
        field = active[0]
        k0, t0 = _photo_texels(cache, p)
        d16 = self._field_image(field, p, kind, k0, t0, (ox, oy), size, True)
        gain = field.amplitude / _DETAIL_UNIT
        q: U16 = self._scratch.get("detail_q", size[1], size[0], 1, np.uint16)
        cv2.addWeighted(d16, _DETAIL_Q * gain, d16, 0.0, _DETAIL_Q * (1.0 - gain * _DETAIL_ZERO),
                        dst=q, dtype=cv2.CV_16U)
        return q

    def _modulation(self, field: _Field, fill: bool, k: tuple[float, float],
                    t: tuple[float, float], org: tuple[int, int], size: tuple[int, int]
                    ) -> F32:
        """A field's modulation placed over `size` (w, h) at frame pixel `org` (texel (u, v)
        of the photo at frame pixel t + k·(u, v)); read-only.

        The modulation does not depend on the blur: while a layer's depth slices are drawn
        (`_mod_memo` set to the region they cover) it is placed once over that region and
        each slice gets its part (the same pixels: `_warp` is exact per frame position)."""
        w, h = size
        memo = self._mod_memo
        if memo is not None:
            (mx0, my0, mw, mh), store = memo
            if (mx0 <= org[0] and my0 <= org[1] and org[0] + w <= mx0 + mw
                    and org[1] + h <= my0 + mh):
                key = (id(field), fill, k, t)
                whole = store.get(key)
                if whole is None:
                    whole = np.empty((mh, mw), np.float32)
                    self._place_modulation(field, fill, k, t, (mx0, my0), whole)
                    store[key] = whole
                return whole[org[1] - my0 : org[1] - my0 + h, org[0] - mx0 : org[0] - mx0 + w]
        mod: F32 = self._scratch.get("detail_mod", h, w, 1, np.float32)
        self._place_modulation(field, fill, k, t, org, mod)
        return mod

    def _place_modulation(self, field: _Field, fill: bool, k: tuple[float, float],
                          t: tuple[float, float], org: tuple[int, int], mod: F32) -> None:
        assert field.modulation is not None
        if fill:
            self._tiled_warp(mod, field.modulation, t[0], t[1], k[0], k[1],
                             cv2.BORDER_REFLECT, "mtile", org)
        else:
            mh, mw = field.modulation.shape[:2]
            _warp(field.modulation, mod, k, t, org, self._out_px, (mw, mh))

    def _smear(self, img: Callable[[], U16], mx: float, my: float, extra: int, border: int,
               source: tuple[Any, ...]) -> U16:
        """`img()` convolved with a line of (mx, my) texels (motion blur), in a new buffer with
        `extra` transparent texels added around it.

        `source` identifies what `img` holds (the ladder entries and weights it blends): the
        bands of a rolling-shutter frame smear the same texture by the same motion, and the
        last few results are reused for equal inputs."""
        return self._kept_smear((*source, border), (mx, my), extra,
                                lambda: self._smear_now(img(), mx, my, extra, border))

    def _kept_smear(self, source: tuple[Any, ...], m: tuple[float, float], extra: int,
                    make: Callable[[], U16]) -> U16:
        """`make()`, a smear by `m` texels with `extra` texels around, or the same one kept
        from a recent call: `source` names its inputs (its first item the source arrays,
        compared by id and kept alive with the result; the rest by value)."""
        key = (tuple(id(a) for a in source[0]), source[1:], m, extra)
        hit = self._smears.get(key)
        if hit is not None:
            return hit[1]
        out = make()
        self._smears[key] = (source, out)  # the source's arrays are kept: their ids stay theirs
        while len(self._smears) > _MAX_SMEARS:
            self._smears.pop(next(iter(self._smears)))
        return out

    def _smear_now(self, img: U16, mx: float, my: float, extra: int, border: int) -> U16:
        src = img
        if extra:
            src = _u16(cv2.copyMakeBorder(img, extra, extra, extra, extra,
                                          cv2.BORDER_CONSTANT, value=0))
        return _u16(cv2.filter2D(src, -1, line_kernel(mx, my), borderType=border))

    def _moving_detail(self, cache: _LayerCache, p: _Placement, kind: str, ox: int, oy: int,
                       size: tuple[int, int]) -> F32 | None:
        """The detail factor of a drawn layer over `size` (w, h) at frame pixel (ox, oy),
        smeared as the layer moves during the exposure (None: no detail at this scale)."""
        factor = self._detail_factor(cache, p, kind, ox, oy, size, blurred=True)
        if factor is not None and self._moving(p):
            factor = _f32(cv2.filter2D(factor, -1, line_kernel(*p.motion_px),
                                       borderType=cv2.BORDER_REFLECT))
        return factor

    def _apply_detail(self, img: U16, cache: _LayerCache, p: _Placement, kind: str,
                      ox: int, oy: int) -> None:
        """Multiply a drawn layer's colour (premultiplied, not its alpha) by its detail."""
        h, w = img.shape[:2]
        nch = img.shape[2]
        sc = self._scratch
        # the product in fixed point, 2^-14 per unit (factor < 4; 1 LSB of 16 bits at most):
        # a 16-bit multiply, half the memory traffic of a float one; the alpha's factor is 1
        q = self._plain_detail_q(cache, p, kind, ox, oy, (w, h))
        if q is None:
            factor = self._moving_detail(cache, p, kind, ox, oy, (w, h))
            if factor is None:
                return
            q = sc.get("detail_q", h, w, 1, np.uint16)
            cv2.addWeighted(factor, _DETAIL_Q, factor, 0.0, 0.0, dst=q, dtype=cv2.CV_16U)
        q_n: U16 = sc.get(f"detail_q{nch}", h, w, nch, np.uint16)
        if nch == 4 and cache.fill:
            # an opaque fill's alpha is full: (q, q, q, full) leaves it full (saturated)
            cv2.cvtColor(q, cv2.COLOR_GRAY2RGBA, dst=q_n)
        else:
            one: U16 = sc.get("detail_one", h, w, 1, np.uint16)
            one.fill(int(_DETAIL_Q))
            cv2.merge([q] * (nch - 1) + [one], dst=q_n)
        cv2.multiply(img, q_n, dst=img, scale=1.0 / _DETAIL_Q)

    def _draw_fill(self, canvas: U16, src: U16 | _Blend, tx: float, ty: float, kx: float,
                   ky: float, org: tuple[int, int]) -> None:
        """Cover `canvas` with `src` mirror-tiled, texel (u, v) landing at (tx + kx·u, ...)."""
        if min(kx, ky) * self._coarse < 0.25:  # texture far below pixel size: its mean colour
            whole = src.whole() if isinstance(src, _Blend) else src
            mean = whole.reshape(-1, whole.shape[2]).mean(axis=0)
            canvas[...] = np.round(mean).astype(canvas.dtype)
            return
        self._tiled_warp(canvas, src, tx, ty, kx, ky, cv2.BORDER_REFLECT, "tile", org)

    def _tiled_warp(
        self,
        dst: npt.NDArray[Any],
        src: npt.NDArray[Any] | _Blend,
        tx: float,
        ty: float,
        kx: float,
        ky: float,
        border: int,
        name: str,
        org: tuple[int, int] = (0, 0),
    ) -> None:
        """Cover `dst` (whose pixel (0, 0) is frame pixel `org`) with `src` tiled by `border`
        (mirrored or wrapped), texel (u, v) landing at frame pixel (tx + kx·u, ty + ky·v).

        ``warpAffine`` with a reflecting or wrapping border is several times slower than with
        a constant one, so the texture is first cropped to exactly the texels the output needs
        and tiled (``copyMakeBorder``, a copy), or, wrapped, gathered at those texels modulo
        its period. A `_Blend` is summed over those texels only.
        """
        h, w = dst.shape[:2]
        th, tw = src.shape[:2]
        nch = 1 if len(src.shape) == 2 else src.shape[2]
        tx_abs, ty_abs = tx, ty
        tx, ty = tx - org[0], ty - org[1]  # on dst
        ix0 = math.floor((-0.5 - tx) / kx) - 1
        ix1 = math.ceil((w - 0.5 - tx) / kx) + 1
        iy0 = math.floor((-0.5 - ty) / ky) - 1
        iy1 = math.ceil((h - 0.5 - ty) / ky) + 1
        view: npt.NDArray[Any]
        if border == cv2.BORDER_WRAP:
            # the texels i0..i1 the warp reads, gathered modulo the period (`_warp`'s exact
            # coordinates make the output independent of where the view starts)
            ox, oy = ix0, iy0
            nr, nc = iy1 + 1 - iy0, ix1 + 1 - ix0
            base: npt.NDArray[Any] | _Blend = src
            if isinstance(src, _Blend) and th * tw <= nr * nc:
                base = src.whole()  # a small tile: summed whole, then read once
            r0, c0 = iy0 % th, ix0 % tw
            if not isinstance(base, _Blend) and r0 + nr <= th and c0 + nc <= tw:
                view = base[r0 : r0 + nr, c0 : c0 + nc]  # no wrap: a view
            else:
                rows = np.arange(iy0, iy1 + 1, dtype=np.intp) % th
                cols = np.arange(ix0, ix1 + 1, dtype=np.intp) % tw
                view = self._scratch.get(f"{name}{nch}", nr, nc, nch, src.dtype.type)
                if isinstance(base, _Blend):
                    base.gather(rows, cols, view)
                else:
                    np.take(np.take(base, rows, axis=0), cols, axis=1, out=view)
        else:
            cx0, cx1 = max(ix0, 0), min(ix1, tw - 1)
            cy0, cy1 = max(iy0, 0), min(iy1, th - 1)
            # a mirrored copy reflects about the texture's edge: the crop must hold as many
            # texels as the copy shows (a crop smaller than the border reflected about its own
            # edge instead: wrong texels in thin rolling-shutter bands of a tiled texture)
            if ix0 < 0:
                cx1 = max(cx1, min(-ix0, tw) - 1)
            if ix1 > tw - 1:
                cx0 = min(cx0, max(0, tw - (ix1 - (tw - 1))))
            if iy0 < 0:
                cy1 = max(cy1, min(-iy0, th) - 1)
            if iy1 > th - 1:
                cy0 = min(cy0, max(0, th - (iy1 - (th - 1))))
            if cx1 >= cx0 and cy1 >= cy0:
                view = (src.region(cy0, cy1 + 1, cx0, cx1 + 1) if isinstance(src, _Blend)
                        else src[cy0 : cy1 + 1, cx0 : cx1 + 1])
            else:  # the output sees none of the texture itself: only its copies
                view = src.whole() if isinstance(src, _Blend) else src
                cx0, cy0 = 0, 0
            left, right = max(0, -ix0), max(0, ix1 - (tw - 1))
            top, bottom = max(0, -iy0), max(0, iy1 - (th - 1))
            if left or right or top or bottom:
                vh, vw = view.shape[:2]
                tiled = self._scratch.get(
                    f"{name}{nch}", vh + top + bottom, vw + left + right, nch, view.dtype.type
                )
                cv2.copyMakeBorder(
                    view, top, bottom, left, right, border | cv2.BORDER_ISOLATED, dst=tiled
                )
                view = tiled
            ox, oy = cx0 - left, cy0 - top  # texel index of view[0, 0]
        _warp(view, dst, (kx, ky), (tx_abs, ty_abs), org, self._out_px, (tw, th), (ox, oy))

    # --- exact drawing (stills) ---------------------------------------------------------
    def _draw_exact(self, canvas: F32, layer: Layer, p: _Placement) -> None:
        cache = self._cache(layer)
        if not p.drawable:
            if cache.fill:
                coarse = cache.levels[-1]
                canvas[...] = coarse.reshape(-1, 4).mean(axis=0)
            return
        deep = layer.depth is not None
        blurs = [abs(b) for b in p.blur_px]
        if deep:
            blurs += [abs(b) for pe in self._depth_bound_placements(layer, p) for b in pe.blur_px]
        r = math.ceil(max(blurs) / 2.0 + 0.5) + 1
        m = cache.pick_level(p.width_px, 0.0)
        src = cache.levels[m]
        th, tw = src.shape[:2]
        kx, ky = p.width_px / tw, p.height_px / th
        h, w = canvas.shape[:2]
        if cache.fill:
            mat = np.array(
                [
                    [kx, 0.0, p.cx + r - kx * (tw - 1) / 2.0],
                    [0.0, ky, p.cy + r - ky * (th - 1) / 2.0],
                ],
                np.float64,
            )
            big = _f32(
                cv2.warpAffine(
                    src,
                    mat,
                    (w + 2 * r, h + 2 * r),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REFLECT,
                )
            )
            self._apply_detail_exact(big, cache, p, -r, -r)
            if deep:
                big = self._deep_blur(big, layer, p, (-r, -r, w + r, h + r), cv2.BORDER_REFLECT)
            else:
                big = _disk_blur(big, p.blur_px, cv2.BORDER_REFLECT)
            canvas[...] = big[r : r + h, r : r + w]
            canvas[..., 3] = 1.0
            return
        src = _f32(cv2.copyMakeBorder(src, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0))
        half_w = kx * (tw / 2.0 + 1) + r + 1.0
        half_h = ky * (th / 2.0 + 1) + r + 1.0
        x0 = max(-r, math.floor(p.cx - half_w))
        x1 = min(w + r, math.ceil(p.cx + half_w) + 1)
        y0 = max(-r, math.floor(p.cy - half_h))
        y1 = min(h + r, math.ceil(p.cy + half_h) + 1)
        if x1 <= x0 or y1 <= y0:
            return
        mat = np.array(
            [
                [kx, 0.0, p.cx - x0 - kx * (1 + (tw - 1) / 2.0)],
                [0.0, ky, p.cy - y0 - ky * (1 + (th - 1) / 2.0)],
            ],
            np.float64,
        )
        placed = _f32(
            cv2.warpAffine(
                src,
                mat,
                (x1 - x0, y1 - y0),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            )
        )
        self._apply_detail_exact(placed, cache, p, x0, y0)
        if deep:
            placed = self._deep_blur(placed, layer, p, (x0, y0, x1, y1), cv2.BORDER_CONSTANT)
        else:
            placed = _disk_blur(placed, p.blur_px, cv2.BORDER_CONSTANT)
        cx0, cx1, cy0, cy1 = max(x0, 0), min(x1, w), max(y0, 0), min(y1, h)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        part = placed[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]
        roi = canvas[cy0:cy1, cx0:cx1]
        roi *= 1.0 - part[..., 3:4]
        roi += part

    def _deep_blur(self, img: F32, layer: Layer, p: _Placement,
                   region: tuple[int, int, int, int], border: int) -> F32:
        """Stills: a sharp layer with depth (placed over `region` of the output), blurred in
        depth slices as the previews are (`_draw_deep`), each slice by its exact disks."""
        z = self._depth_offsets(layer, p, region)
        got = self._slices(p, z)
        if got is None:
            d = p.distance_m + float(z.mean())
            return _disk_blur(img, [self._signed_blur(d, f, p.scale) for f in p.focus], border)
        slices, index, _ = got
        least = min(max(abs(b) for b in pk.blur_px) for pk in slices)
        if self.reduced_deep_stills and least > _EXACT_MAX_PX:
            return _deep_blur_reduced(img, slices, index, least, border)
        return _slice_sum(img, index, slices, lambda pk: _disk_blur(img, pk.blur_px, border))

    def _apply_detail_exact(
        self, img: F32, cache: _LayerCache, p: _Placement, ox: int, oy: int
    ) -> None:
        """Stills: the sharp detail multiplies the sharp layer before the exact blur."""
        h, w = img.shape[:2]
        factor = self._detail_factor(cache, p, "rgb", ox, oy, (w, h), blurred=False)
        if factor is not None:
            img[..., :3] *= factor[..., None]

    # --- noise ----------------------------------------------------------------------------
    def _unit_noise(self, size: tuple[int, int], channels: int, frame_index: int, tag: int,
                    rect: tuple[int, int, int, int] | None = None,
                    dst: F32 | None = None) -> F32:
        """Unit Gaussian noise, a deterministic function of (seed, frame_index, tag), of the
        whole frame or of its pixels in `rect` (x0, y0, x1, y1) (into `dst`, when given)."""
        w, h = size
        key = (w, h, channels, tag)
        bank = self._banks.get(key)
        if bank is None:
            rng = np.random.default_rng(_seq(self.seed, _TAG_BANK, tag, w, h, channels))
            shape = (h + _NOISE_PAD, w + _NOISE_PAD, channels)
            bank = rng.integers(0, 256, shape, dtype=np.uint8)
            if channels == 1:
                bank = bank[..., 0]
            self._banks[key] = bank
        rng = np.random.default_rng(_seq(self.seed, frame_index, tag))
        oy, ox = (int(v) for v in rng.integers(0, _NOISE_PAD + 1, 2))
        lut = _GAUSS_Q[rng.permutation(256)].reshape(256, 1)
        x0, y0, x1, y1 = rect if rect is not None else (0, 0, w, h)
        src = bank[oy + y0 : oy + y1, ox + x0 : ox + x1]
        if dst is None:
            return _f32(cv2.LUT(src, lut))
        return _f32(cv2.LUT(src, lut, dst=dst))


def _blend_entries(cache: _LayerCache, entries: list[tuple[_Entry, float]],
                   rect: tuple[int, int, int, int] | None = None) -> U16:
    """Weighted sum of same-shaped ladder entries (in texture space, before the warp).

    With `rect` (y0, y1, x0, x1) only those texels are summed (the ones a warp reads; the
    buffer keeps the entries' shape, so the warp's source origin, and its output, are those
    of the whole sum).
    """
    first, w0 = entries[0]
    if len(entries) == 1 and w0 == 1.0:
        return first.image
    blend = cache.blend_buffer(first.image.shape)
    y0, y1, x0, x1 = rect if rect is not None else (0, blend.shape[0], 0, blend.shape[1])
    out = blend[y0:y1, x0:x1]
    images = [e.image[y0:y1, x0:x1] for e, _ in entries]
    if len(entries) == 1:
        cv2.addWeighted(images[0], w0, images[0], 0.0, 0.0, dst=out)
        return blend
    cv2.addWeighted(images[0], w0, images[1], entries[1][1], 0.0, dst=out)
    for img, (_, wgt) in zip(images[2:], entries[2:], strict=True):
        cv2.addWeighted(out, 1.0, img, wgt, 0.0, dst=out)
    return blend


_EXACT_MAX_PX = 24.0
"""Largest disk convolved at full resolution in stills (see `_disk_blur`)."""


def _disk_blur(img: F32, diameters_px: Sequence[float], border: int) -> F32:
    """Convolve `img` with the mean of disks of `diameters_px` (exact PSF of a still).

    Disks up to `_EXACT_MAX_PX` are applied at full resolution. Larger ones are applied at a
    resolution reduced so that the disk still spans `_EXACT_MAX_PX` pixels (area-averaged
    down, bilinear up): the only loss is in frequencies above 12/D cycles per pixel, where the
    disk's own transfer function is already below 2 %; the cost no longer grows with D (an
    exact 300 px disk over 24 megapixels takes tens of seconds).
    """
    dmax = max(abs(d) for d in diameters_px)
    if dmax < 1e-3:
        return img
    if dmax <= _EXACT_MAX_PX:
        return _f32(cv2.filter2D(img, -1, mean_disk_kernel(diameters_px), borderType=border))
    h, w = img.shape[:2]
    f = dmax / _EXACT_MAX_PX
    sw, sh = max(1, round(w / f)), max(1, round(h / f))
    small = _f32(cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA))
    fx = w / sw
    blurred = _f32(
        cv2.filter2D(small, -1, mean_disk_kernel([d / fx for d in diameters_px]), borderType=border)
    )
    return _f32(cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR))


def _deep_blur_reduced(img: F32, slices: Sequence[_Placement], index: F32, least_px: float,
                       border: int) -> F32:
    """`Renderer._deep_blur` of a layer whose every slice's disk exceeds `_EXACT_MAX_PX`: the
    layer, its slice indices and the blends are taken to the resolution where the least
    blurred slice's disk spans `_EXACT_MAX_PX` pixels (area-averaged down once, not per slice),
    each slice convolved there by its exact disks and weighted by its tent, and the sum
    enlarged once. A disk of D pixels passes nothing above 1/D cycles per pixel, so what the
    reduction loses is what `_disk_blur` already loses per slice; the weights, linear in the
    slice index, vary on the scale of the depth, far slower than a pixel of the reduced grid.
    On the 300 mm desk (a page inside the closest focus, ~850 px of blur in a 960×640 still)
    the whole still took 5.6 s and takes 0.36 s, within 1 DN of the exact one
    (tests/test_render_still_deep.py)."""
    h, w = img.shape[:2]
    f = least_px / _EXACT_MAX_PX
    sw, sh = max(1, round(w / f)), max(1, round(h / f))
    small = _f32(cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA))
    idx = _f32(cv2.resize(index, (sw, sh), interpolation=cv2.INTER_AREA))
    fx = w / sw

    def blur(pk: _Placement) -> F32:
        kernel = mean_disk_kernel([d / fx for d in pk.blur_px])
        return _f32(cv2.filter2D(small, -1, kernel, borderType=border))

    acc = _slice_sum(small, idx, slices, blur)
    return _f32(cv2.resize(acc, (w, h), interpolation=cv2.INTER_LINEAR))


def _slice_sum(img: F32, index: F32, slices: Sequence[_Placement],
               blur: Callable[[_Placement], F32]) -> F32:
    """Σ over depth slices of `blur(slice)` (an image shaped like `img`) weighted by the
    slice's tent at each point's fractional slice `index`; slices weighing nowhere are not
    blurred."""
    acc = np.zeros_like(img)
    wk = np.empty_like(index)
    for k, pk in enumerate(slices):
        _tent(index, k, len(slices) - 1, wk)
        if not wk.any():
            continue
        acc += blur(pk) * wk[..., None]
    return acc


def _clip_rect(region: tuple[int, int, int, int] | None, w: int, h: int
               ) -> tuple[int, int, int, int] | None:
    """`region` (x0, y0, x1, y1) inside a w×h image (the whole image for None; None if
    empty)."""
    if region is None:
        return 0, 0, w, h
    x0, y0 = max(0, int(region[0])), max(0, int(region[1]))
    x1, y1 = min(w, int(region[2])), min(h, int(region[3]))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1, y1


def _blank_outside(img: npt.NDArray[Any], cols: tuple[int, int]) -> None:
    """Set `img`'s columns outside cols[0]..cols[1]-1 to 0 (a region's aligned extra)."""
    img[:, : cols[0]] = 0
    img[:, cols[1] :] = 0


def _focus_tuple(focus_d: float | Sequence[float]) -> tuple[float, ...]:
    if isinstance(focus_d, int | float):
        return (float(focus_d),)
    values = tuple(float(f) for f in focus_d)
    if not values:
        raise ValueError("focus_d sequence is empty")
    return values
