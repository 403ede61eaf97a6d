"""Phase-detection AF (PDAF): measure left/right disparity in the AF window, and a PDAF AF-S.

Measurement (`measure_phase`)
-----------------------------
A dual-pixel sensor sees the scene through the left and the right half of the pupil. An
out-of-focus point lands at two places, shifted horizontally against each other by a disparity
proportional to the signed blur. `measure_phase` finds that shift in the AF window:

1. Both sub-aperture images are band-passed (minus a wide Gaussian, removing shading and
   exposure gradients that would correlate at every shift; plus a light Gaussian against pixel
   noise).
2. The left window is matched against the right image at every integer horizontal shift in
   ±`search_px` with zero-mean normalised cross-correlation (``cv2.matchTemplate``,
   ``TM_CCOEFF_NORMED``): one NCC value per shift.
3. The best shift is refined to sub-pixel precision by a parabola through the peak and its two
   neighbours.
4. The same is done the other way round (the right window against the left image, whose shift
   is the negative), and the disparity is the mean of the two. Either one alone carries a
   sub-pixel bias that depends on where the texture sits in the window (the parabola is not the
   correlation peak's shape, and the window's edges cut the two images differently): ±0.3 depth
   of focus on the 300 mm as a bird slides through a single AF point, which a servo reads as
   motion. The two ways' biases are opposite to first order; their mean varies by ±0.03.

Sign convention: ``disparity_px`` is the shift of the right image against the left one, in
*preview* pixels (``right(x + disparity) ≈ left(x)``). ``defocus_d = disparity_px ×
ctx.phase_d_per_px + ctx.phase_offset_d + correction_d(disparity_px)`` is the signed number of
dioptres to move the lens by (best focus − lens_d, positive = move nearer).
`afon.focus.context.context_for` takes the three from the camera's PDAF calibration
(`afon.focus.calibration`: a lens sweep over a chart). The correction is the calibrated table of
how the disparity departs from the near-focus line far from focus: the left and right images mix
some of the other half-pupil's light (angular crosstalk), which pulls their correlation peak
towards zero while the blur is small against the texture; once the two components separate the
peak follows the image's own half, and the same defocus reads up to ~40 % more disparity per
dioptre at 40 depths of focus than near focus (without the table a runner at 7 m, read ~7 depths
of focus away, was read ~20 % long).

Confidence (0..1) multiplies two terms, each 0 when the match is meaningless:

- the NCC peak ``ρ``: noise alone correlates weakly (ρ ≈ 0 on a featureless wall once shading is
  removed), and noise in low light lowers ρ even on texture: ``clip((ρ − 0.3) / 0.7)``
  (ρ ≈ 1 → 1 on a bright textured subject, ≈ 0.85 on the dim "low-light" scene);
- the peak's distinctness: how far ``ρ`` stands above the best correlation outside the main lobe
  (repetitive texture or noise give side peaks nearly as high): ``clip((ρ − side) / 0.1)``.

Both terms take the weaker of the two ways. A peak on the edge of the search range (the
disparity is beyond it), or two ways that disagree on the peak by more than a pixel, get
confidence 0.

AF-S (`PhaseAf`)
----------------
Measure on a frame whose lens stood still during the exposure, jump by the measured defocus
(slew-limited to `max_jump_d`), measure again on the next still frame to confirm; FOCUSED when
the confirming measurement says the lens is within `tolerance_d` — and the confirming
reading's residual goes out as the last lens move when it continues the last jump's direction
(`confirm_step`; a larger reversal is one more jump, confirmed again) — otherwise correct and
re-confirm.
Low confidence for `dropout_frames` still frames, no phase data, or the timeout →
FAILED. `HybridAf` (hybrid.py) is the strategy that falls back to contrast instead of failing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from afon.cameras.base import Frame, PhaseData
from afon.focus.engine import Acquisition, AfContext, AfStatus, AfStep, AfWindow, MeasurementGate

FloatImage = npt.NDArray[np.float32]

RHO_FLOOR = 0.3
"""NCC peak below which a phase match carries no confidence."""
RHO_SPAN = 0.7
"""NCC above the floor at which the peak term of the confidence reaches 1 (a perfect match)."""
DISTINCT_SPAN = 0.1
"""Peak-over-side-lobe margin at which the distinctness term of the confidence reaches 1."""
MIN_SEARCH_PX = 4
MAX_SEARCH_PX = 64
BLOCKS = (3, 2)
"""Columns × rows of blocks the AF window is split into for the depth check (`purity`)."""
BLOCK_MIN_CONFIDENCE = 0.5
"""Confidence a block's own reading needs to say which depth it sees."""
BLOCK_TOLERANCE_DOF = 1.5
"""A block within this many depths of focus of the window's reading sees the same depth."""
BLOCK_MIN_PX = 4
"""Smallest block side (phase-image pixels) worth a reading: smaller windows get no check."""


@dataclass(frozen=True)
class PhaseMeasurement:
    """One PDAF reading of the AF window."""

    disparity_px: float
    """Right-vs-left shift in preview pixels (see the module docstring for the sign)."""
    confidence: float
    """0 (no usable phase signal) .. 1 (sharp, unambiguous correlation peak)."""
    defocus_d: float | None
    """Dioptres to move the lens by (subject_d − lens_d); None when the camera is uncalibrated."""
    peak: float
    """NCC value at the peak (−1..1)."""
    distinctness: float
    """NCC peak minus the best correlation outside the main lobe."""
    search_px: float
    """Search range used, in preview pixels (±)."""
    at_edge: bool
    """The best match was on the edge of the search range (disparity possibly beyond it)."""
    purity: float = 1.0
    """Of the window's blocks that show a depth, the share at the window's reading (1: one
    depth, or not checked; see `measure_phase`'s ``blocks``)."""
    block_defocus_d: float | None = None
    """The confidence-weighted mean of the blocks at the window's depth (`measure_phase`'s
    ``blocks``), None when no block was confident or unchecked or uncalibrated."""

    @property
    def usable(self) -> bool:
        return self.confidence > 0.0 and self.defocus_d is not None


def default_search_px(ctx: AfContext, scale: float, window_w_px: int) -> int:
    """Search range (± phase-image pixels): the largest disparity the lens range can produce,
    with margin, bounded by a third of the window width."""
    limit = max(MIN_SEARCH_PX, min(MAX_SEARCH_PX, window_w_px // 3))
    if ctx.phase_d_per_px is None or ctx.phase_d_per_px == 0:
        return limit
    span_d = ctx.lens_max_d - ctx.lens_min_d
    needed = span_d / abs(ctx.phase_d_per_px) * scale * 1.25 + 2
    return int(max(MIN_SEARCH_PX, min(limit, math.ceil(needed))))


def _band_pass(img: FloatImage, sigma_hp: float) -> FloatImage:
    low = cv2.GaussianBlur(img, (0, 0), sigma_hp)
    fine = cv2.GaussianBlur(img, (0, 0), 0.7)
    out: FloatImage = (fine - low).astype(np.float32)
    return out


def measure_phase(
    phase: PhaseData,
    window: AfWindow,
    ctx: AfContext,
    *,
    search_px: int | None = None,
    blocks: bool = False,
) -> PhaseMeasurement:
    """Disparity, confidence and defocus in the AF window of one frame's phase images.

    `search_px` (± phase-image pixels) defaults to the largest disparity the lens range can
    produce (from ``ctx.phase_d_per_px``), bounded by a third of the window width.

    With `blocks`, the window is also read in `BLOCKS` blocks (the same band-passed images and
    search, both ways): a block whose own reading is confident (`BLOCK_MIN_CONFIDENCE`) and
    within `BLOCK_TOLERANCE_DOF` of the window's sees the window's depth; a confident block
    elsewhere sees another depth; the rest (featureless, noisy, beyond the search) say
    nothing, and pull the window's reading little as they correlate little. ``purity`` is the
    first kind's share of the first two: below 1 the window straddles two depths (a subject
    leaving the AF point, the background or an obstacle taking part of it), and the whole
    window's reading is a mixture of the two, drawn towards whichever holds more texture; a
    mixture read between the two agrees with no block (purity 0).
    """
    left = np.asarray(phase.left, dtype=np.float32)
    right = np.asarray(phase.right, dtype=np.float32)
    if left.shape != right.shape or left.ndim != 2:
        raise ValueError(
            f"phase images must be 2-D and equal in shape: {left.shape}, {right.shape}"
        )
    height, width = left.shape
    x, y, ww, wh = window.to_px(width, height)
    scale = phase.scale if phase.scale > 0 else 1.0
    s = search_px if search_px is not None else default_search_px(ctx, scale, ww)
    s = max(1, min(s, (ww - 4) // 2))
    # band-pass a region around the window (vertical margin for the filters' support)
    sigma_hp = max(3.0, min(ww, wh) / 8.0)
    pad = math.ceil(3 * sigma_hp)
    y0, y1 = max(0, y - pad), min(height, y + wh + pad)
    x0, x1 = max(0, x - s - pad), min(width, x + ww + s + pad)
    lb = _band_pass(np.ascontiguousarray(left[y0:y1, x0:x1]), sigma_hp)
    rb = _band_pass(np.ascontiguousarray(right[y0:y1, x0:x1]), sigma_hp)
    # template: the left window, shrunk where the image border limits the search strip
    ml, mr = min(s, x), min(s, width - (x + ww))
    tx0, tx1 = x + (s - ml), x + ww - (s - mr)
    ty0, ty1 = y - y0, y - y0 + wh
    templ = lb[ty0:ty1, tx0 - x0 : tx1 - x0]
    strip = rb[ty0:ty1, tx0 - s - x0 : tx1 + s - x0]
    if templ.shape[1] < 4 or strip.shape[1] != templ.shape[1] + 2 * s:
        return PhaseMeasurement(0.0, 0.0, None, 0.0, 0.0, s / scale, True)
    if _flat(templ) or _flat(strip):
        return PhaseMeasurement(0.0, 0.0, _defocus(0.0, ctx), 0.0, 0.0, s / scale, False)
    # matched both ways (`_two_way`)
    rows = lb[ty0:ty1], rb[ty0:ty1]
    shift_px, conf, at_edge, rho, distinct = _two_way(rows, tx0 - x0, tx1 - x0, s)
    shift = shift_px / scale
    purity = 1.0
    block_defocus: float | None = None
    if blocks and conf > 0:
        tol_px = _tolerance_px(ctx) * scale
        purity, block_px = _blocks(rows, tx0 - x0, tx1 - x0, s, shift * scale, tol_px)
        if block_px is not None:
            block_defocus = _defocus(block_px / scale, ctx)
    return PhaseMeasurement(
        disparity_px=shift,
        confidence=conf,
        defocus_d=_defocus(shift, ctx),
        peak=rho,
        distinctness=distinct,
        search_px=s / scale,
        at_edge=at_edge,
        purity=purity,
        block_defocus_d=block_defocus,
    )


def _flat(img: FloatImage) -> bool:
    """No texture to match: a standard deviation below 1e-6 (OpenCV's, in double precision;
    numpy's std cost as much as the match on a small block)."""
    return float(cv2.meanStdDev(img)[1][0, 0]) < 1e-6


def _tolerance_px(ctx: AfContext) -> float:
    """`BLOCK_TOLERANCE_DOF` in preview pixels of disparity (0.2 px when uncalibrated)."""
    if not ctx.phase_d_per_px:
        return 0.2
    return BLOCK_TOLERANCE_DOF * ctx.depth_of_focus_d / abs(ctx.phase_d_per_px)


def _blocks(
    rows: tuple[FloatImage, FloatImage],
    a: int,
    b: int,
    s: int,
    shift_px: float,
    tol_px: float,
) -> tuple[float, float | None]:
    """The block check of the template columns ``a:b`` (band-passed rows `rows`, search
    ±`s`): the share of the depth-showing blocks that read within `tol_px` of `shift_px`
    (the purity), and those blocks' confidence-weighted mean shift (phase-image pixels; None
    when there are none)."""
    lb, rb = rows
    nx, ny = BLOCKS
    h, w = lb.shape[0], b - a
    if w // nx < BLOCK_MIN_PX or h // ny < BLOCK_MIN_PX:
        return 1.0, None
    same = other = 0
    weight = weighted = 0.0
    for r in range(ny):
        r0, r1 = r * h // ny, (r + 1) * h // ny
        for c in range(nx):
            c0, c1 = a + c * w // nx, a + (c + 1) * w // nx
            templ_l, templ_r = lb[r0:r1, c0:c1], rb[r0:r1, c0:c1]
            if _flat(templ_l) or _flat(templ_r):
                continue
            d, conf, _, _, _ = _two_way((lb[r0:r1], rb[r0:r1]), c0, c1, s)
            if conf < BLOCK_MIN_CONFIDENCE:
                continue  # unsure, beyond the search or ambiguous (confidence 0): says nothing
            if abs(d - shift_px) <= tol_px:
                same += 1
                weight += conf
                weighted += conf * d
            else:
                other += 1
    block_px = weighted / weight if weight > 0 else None
    return (1.0 if same + other == 0 else same / (same + other)), block_px


def _two_way(
    rows: tuple[FloatImage, FloatImage], a: int, b: int, s: int
) -> tuple[float, float, bool, float, float]:
    """Both ways at the template columns ``a:b`` of band-passed rows `rows` (left, right),
    search ±`s`: the left window against the right strip, and the right window against the
    left strip (its shift is the negative); their mean cancels the sub-pixel bias that the
    texture sliding through the window gives either one (±0.3 DoF on a bird crossing an AF
    point with one; ±0.03 DoF with both). Returns the shift (phase-image pixels), the
    confidence (0 at the search's edge or when the two ways disagree on the peak: the match
    is ambiguous), whether it is at the edge, the peak NCC and the distinctness (the lower
    of the two ways')."""
    lb, rb = rows
    i, frac, rho, distinct = _match(rb[:, a - s : b + s], lb[:, a:b])
    j, frac_b, rho_b, distinct_b = _match(lb[:, a - s : b + s], rb[:, a:b])
    n = 2 * s + 1
    at_edge = i in (0, n - 1) or j in (0, n - 1)
    shift = 0.5 * ((i - s + frac) - (j - s + frac_b))
    rho, distinct = min(rho, rho_b), min(distinct, distinct_b)
    conf = 0.0
    if not at_edge and abs((i - s) + (j - s)) <= 1:
        conf = _clip01((rho - RHO_FLOOR) / RHO_SPAN) * _clip01(distinct / DISTINCT_SPAN)
    return shift, conf, at_edge, rho, distinct


def _match(strip: FloatImage, templ: FloatImage) -> tuple[int, float, float, float]:
    """NCC of `templ` at every shift along `strip`: the best shift's index, its sub-pixel
    refinement (a parabola through the peak and its neighbours), the peak NCC and the peak's
    distinctness (peak minus the best correlation outside its lobe).

    The curve (2·search + 1 values) is handled as a Python list: numpy's per-call overhead
    on so few values was most of this function's time, with the same doubles either way."""
    raw: list[float] = cv2.matchTemplate(strip, templ, cv2.TM_CCOEFF_NORMED)[0].tolist()
    # a flat strip has no correlation (NaN: 0, as nan_to_num gave)
    curve = [0.0 if v != v else v for v in raw]
    i = max(range(len(curve)), key=curve.__getitem__)  # the first of equal maxima
    rho = curve[i]
    frac = peak_offset(curve[i - 1], rho, curve[i + 1]) if 0 < i < len(curve) - 1 else 0.0
    return i, frac, rho, rho - _side_lobe(curve, i)


def peak_offset(c_m: float, c_0: float, c_p: float) -> float:
    """Sub-pixel offset (−0.5..0.5) of a sampled peak `c_0` between neighbours `c_m` and `c_p`:
    the vertex of the parabola through the three, 0 where they are not concave. Computed in
    the values' own precision (doubles, or float32 for an OpenCV map's)."""
    den = c_m - 2.0 * c_0 + c_p
    if den < 0:
        return min(max(0.5 * (c_m - c_p) / den, -0.5), 0.5)
    return 0.0


def _defocus(shift_px: float, ctx: AfContext) -> float | None:
    if ctx.phase_d_per_px is None:
        return None
    return (
        shift_px * ctx.phase_d_per_px
        + ctx.phase_offset_d
        + correction_d(shift_px, ctx.phase_correction)
    )


def correction_d(shift_px: float, table: tuple[tuple[float, float], ...]) -> float:
    """The calibrated correction (dioptres) at `shift_px` of disparity: linear between the
    knots of `table` (disparity px, dioptres; sorted by disparity), the end segments extended
    beyond them; 0 without a table."""
    if len(table) < 2:
        return 0.0
    xs = [k[0] for k in table]
    ys = [k[1] for k in table]
    if shift_px <= xs[0]:
        i = 0
    elif shift_px >= xs[-1]:
        i = len(xs) - 2
    else:
        i = max(j for j in range(len(xs) - 1) if xs[j] <= shift_px)
    x0, x1, y0, y1 = xs[i], xs[i + 1], ys[i], ys[i + 1]
    if x1 <= x0:
        return y0
    return y0 + (y1 - y0) * (shift_px - x0) / (x1 - x0)


def _clip01(v: float) -> float:
    return min(max(v, 0.0), 1.0)


def _side_lobe(curve: list[float], i: int) -> float:
    """Best correlation outside the main lobe around index `i` (the lobe ends where the curve
    stops falling); the lowest lobe value when the lobe fills the whole search range."""
    n = len(curve)
    lo = i
    while lo > 0 and curve[lo - 1] <= curve[lo]:
        lo -= 1
    hi = i
    while hi < n - 1 and curve[hi + 1] <= curve[hi]:
        hi += 1
    outside = curve[:lo] + curve[hi + 1 :]
    if outside:
        return max(outside)
    return max(curve[lo], curve[hi])


# --- AF-S ----------------------------------------------------------------------------------
class PhaseAf(Acquisition):
    """PDAF one-shot: jump to the measured defocus, confirm with a second measurement.

    Uses only frames whose lens stood still during the exposure, exposed after the last move
    (`MeasurementGate`, the timing rule every AF-S strategy shares: a moving lens mixes
    disparities). Each jump is limited to `max_jump_d` (the
    slew limit: a wild reading cannot throw the lens across the range in one go). Status
    FOCUSED when a confident measurement puts the lens within `tolerance_d` of the subject
    (after a jump; at the start a reading with confidence ≥ 0.5 suffices), or within the depth
    of focus when the lens is pinned at a range end; FAILED after `dropout_frames` (4)
    consecutive low-confidence still frames, when frames carry no phase data, when the subject
    is beyond the lens's range, on the timeout (`max_frames`, 20: libcamera's ``pdaf_frames``),
    or after `cancel()`.
    """

    name = "phase"
    wants_phase = True

    def __init__(
        self,
        ctx: AfContext,
        *,
        min_confidence: float = 0.25,
        tolerance_d: float | None = None,
        max_jump_d: float = 8.0,
        dropout_frames: int = 4,
        max_frames: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.min_confidence = min_confidence
        self.tolerance_d = tolerance_d if tolerance_d is not None else default_tolerance_d(ctx)
        self.max_jump_d = max_jump_d
        self.dropout_frames = dropout_frames
        self.max_frames = max_frames if max_frames is not None else 20
        self.cancelled = False
        self._reset()

    def _reset(self) -> None:
        self.frames = 0
        self._dropouts = 0
        self._no_phase = 0
        self._moved = False
        self._approach = 0
        """Direction of the last jump (+1 nearer, −1 farther; 0 before the first)."""
        self._gate = MeasurementGate(self.ctx)
        self.last: PhaseMeasurement | None = None
        self.done: AfStatus | None = None

    def start(self, lens_d: float, now_s: float) -> float | None:
        self._reset()
        self.cancelled = False
        return None

    def _update(self, frame: Frame, window: AfWindow) -> AfStep:
        if not self._gate.ready(frame):
            return self._timeout_or_scan()
        if frame.phase is None:
            self._no_phase += 1
            if self._no_phase >= 2:
                return self._end(AfStatus.FAILED)
            return self._timeout_or_scan()
        m = measure_phase(frame.phase, window, self.ctx)
        self.last = m
        if m.defocus_d is None or m.confidence < self.min_confidence:
            self._dropouts += 1
            if self._dropouts >= self.dropout_frames:
                return self._end(AfStatus.FAILED)
            return self._timeout_or_scan()
        self._dropouts = 0
        lens = frame.lens_d
        if abs(m.defocus_d) <= self.tolerance_d and (self._moved or m.confidence >= 0.5):
            # confirmed (after a jump, or in focus at the start by a confident reading): the
            # residual goes out with the verdict when it continues the approach, a larger
            # reversal is a jump confirmed again (`confirm_step`)
            step = confirm_step(lens, m.defocus_d, self._approach, self.ctx)
            if step.status is AfStatus.FOCUSED:
                self._end(AfStatus.FOCUSED)
                return step
            assert step.target_d is not None
            return self._jump(frame, lens, step.target_d)
        step_d = max(-self.max_jump_d, min(self.max_jump_d, m.defocus_d))
        target = min(max(lens + step_d, self.ctx.lens_min_d), self.ctx.lens_max_d)
        if abs(target - lens) < 1e-6:
            # pinned at a range end: in focus if the subject is within the depth of focus,
            # else beyond the lens's reach
            ok = abs(m.defocus_d) <= self.ctx.depth_of_focus_d
            return self._end(AfStatus.FOCUSED if ok else AfStatus.FAILED)
        return self._jump(frame, lens, target)

    def _jump(self, frame: Frame, lens: float, target: float) -> AfStep:
        self._moved = True
        self._approach = 1 if target > lens else -1
        self._gate.moved(frame.ready_s, target - lens)
        if self.frames >= self.max_frames:
            return self._end(AfStatus.FAILED)
        return AfStep(AfStatus.SCANNING, target)

    def _timeout_or_scan(self) -> AfStep:
        if self.frames >= self.max_frames:
            return self._end(AfStatus.FAILED)
        return AfStep(AfStatus.SCANNING)


RESIDUAL_FLOOR_DOF = 0.1
"""A confirming reading's residual below this share of the depth of focus is not worth a move
that reverses the lens."""


def residual_target(lens_d: float, defocus_d: float, ctx: AfContext) -> float | None:
    """``lens + defocus`` within the lens range, or None when it is below `RESIDUAL_FLOOR_DOF`
    of the depth of focus."""
    if abs(defocus_d) < RESIDUAL_FLOOR_DOF * max(ctx.depth_of_focus_d, 1e-12):
        return None
    return min(max(lens_d + defocus_d, ctx.lens_min_d), ctx.lens_max_d)


def confirm_step(
    lens_d: float, defocus_d: float, approach: int, ctx: AfContext, *, may_jump: bool = True
) -> AfStep:
    """What a confirming reading within the tolerance does (`PhaseAf`, `HybridAf`), given the
    direction of the last jump (`approach`: +1 nearer, −1 farther, 0 none yet):

    - **continues the approach**: FOCUSED, and the residual goes out with the verdict however
      small (the driver rounds it to its step) — libcamera's triggered PDAF applies its last
      step below ``pdaf_squelch`` too (af.cpp:453-455, 473). Moving on in the same direction
      keeps the lens on the same side of its friction and play, so the correction is what the
      reading says;
    - **below `RESIDUAL_FLOOR_DOF`**, reversing (or no jump yet): FOCUSED, no move;
    - **reverses** (or no jump yet) by more: SCANNING with the correction as a jump, and the
      next still frame confirms again (`may_jump` False: FOCUSED, no move). A small reversal
      is a blind move into the lens's friction band: a voice coil stops short on the side it
      came from (0.067 D on the Camera Module 3), so a 0.05 D reversal ends ~0.08 D off on the
      other side; only a reading says where it landed.
    """
    if approach != 0 and defocus_d * approach > 0:
        target = min(max(lens_d + defocus_d, ctx.lens_min_d), ctx.lens_max_d)
        return AfStep(AfStatus.FOCUSED, None if abs(target - lens_d) < 1e-9 else target)
    jump = residual_target(lens_d, defocus_d, ctx)
    if jump is None or not may_jump or abs(jump - lens_d) < 1e-9:
        return AfStep(AfStatus.FOCUSED)
    return AfStep(AfStatus.SCANNING, jump)


def default_tolerance_d(ctx: AfContext) -> float:
    """Residual defocus accepted as focused: half the depth of focus, at most 0.1 D."""
    return min(0.5 * ctx.depth_of_focus_d, 0.1)
