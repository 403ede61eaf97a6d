"""libcamera's Raspberry Pi contrast scan (CDAF, AfModeAuto), as a named baseline.

Written from the description in reference/af-anchors.md §1.3 and §1.5 (not from libcamera's
code), so afon's own strategies can be compared with it side by side on the same frames.

The algorithm (one `update` per frame, as libcamera runs once per frame):

1. Start: `skip_frames` (5) frames are ignored (libcamera's start-up / mode-switch skip).
   Optionally `dropout_frames` more frames model a PDAF attempt with zero confidence before
   the fall-back to CDAF (libcamera waits `dropout_frames` = 6 on the Camera Module 3 when
   PDAF gives nothing; 0 by default here: the baseline is the pure-CDAF path, as libcamera
   runs on a sensor without PDAF such as the OV64A40).
2. Coarse scan (Auto mode): the lens goes to the range's `min` (infinity) and steps toward
   near by `step_coarse` (1.0 D normal / 1.25 D fast). After every move it waits
   `step_frames` frames (5 normal / 4 fast: lens settling and ISP latency) and reads the
   contrast of the next frame — so each sample costs ``step_frames + 1`` frames.
   The coarse scan ends at the range end, or when the contrast falls below `contrast_ratio`
   (0.75) × the maximum so far (the "25% drop rule").
3. Peak (`find_peak`): a 3-point parabola through the best sample and its two neighbours (the
   two same-side neighbours when the best is at a scan end), accepted only if its normalised
   denominator is at least 1/64 in size with the curvature of a maximum, and clamped to the
   neighbour interval; otherwise the best sample itself.
4. Fine scan (when `step_fine` > 0): start at ``peak + step_fine`` and take exactly 3 samples
   stepping back across the peak (also ending at a range end), then the parabola again.
   The "fast" tuning has ``step_fine = 0``: no fine scan.
5. Settle: move to the peak, wait `step_frames` frames, read the contrast of the next frame:
   FOCUSED iff that contrast ≥ `contrast_ratio` × scanMax AND scanMin ≤ `contrast_ratio` ×
   scanMax (the curve really had a peak ≥ 25% above its floor); else FAILED. scanMin/scanMax
   accumulate over the coarse and the fine scan (they are reset when a scan starts).

What it sees: only frames and its own lens commands, as libcamera does. It waits
`step_frames` whether or not the lens has arrived and never reads the frame's recorded lens
positions (libcamera has no such record; it counts frames).

Focus measure: the same as afon's `ContrastAf` (`afon.focus.contrast.FocusMeter`, Tenengrad on
the AF window of the frame's luminance) instead of the ISP's CDAF statistics, so a comparison
measures the *search*, not the filter. libcamera's default window (middle 1/2 width × 1/3
height) is `AfWindow()`'s default.

Without phase, the §1.6 table of the anchors (a Gaussian FoM of σ = 0.5 D, lens starting at
1 D, 6 dropout frames) is reproduced exactly by ``dropout_frames=6, skip_frames=0``:
36 / 48 / 54 / 66 / 90 / 108 frames for subjects at 0.3 / 1 / 2 / 4 / 8 / 11.5 D (see
tests/test_af_static.py). With the defaults (5 skip frames, no dropout) the count is
``5 + 6 × (coarse samples + fine samples + 1)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from afon.cameras.base import Frame
from afon.focus.contrast import FocusMeter
from afon.focus.engine import Acquisition, AfContext, AfStatus, AfStep, AfWindow


@dataclass(frozen=True)
class LibcameraTuning:
    """The rpi.af tuning keys the CDAF scan uses (IMX708 values, af-anchors.md §1.5)."""

    step_coarse: float = 1.0
    step_fine: float = 0.25
    contrast_ratio: float = 0.75
    step_frames: int = 5
    skip_frames: int = 5
    dropout_frames: int = 0


NORMAL = LibcameraTuning()
"""libcamera's "normal" AfSpeed on the Camera Module 3 (imx708.json)."""
FAST = LibcameraTuning(step_coarse=1.25, step_fine=0.0, step_frames=4)

CM3_RANGE_D = 12.0
"""The lens range libcamera's IMX708 tuning was made for (0–12 D)."""


def libcamera_tuning_for(ctx: AfContext) -> LibcameraTuning:
    """libcamera's Camera Module 3 ("normal") tuning rescaled to another lens: coarse and fine
    steps scale with the lens range (12 D on the CM3), so the scan takes as many steps — and
    as long — as on the module it was tuned for; frame counts are unchanged. On a 0–12 D lens
    this is libcamera's tuning itself."""
    scale = (ctx.lens_max_d - ctx.lens_min_d) / CM3_RANGE_D
    return replace(
        NORMAL, step_coarse=NORMAL.step_coarse * scale, step_fine=NORMAL.step_fine * scale
    )


"""libcamera's "fast" AfSpeed: bigger coarse steps, no fine scan, 4 frames per step."""

MIN_DENOMINATOR = 1.0 / 64.0
"""findPeak's acceptance threshold on the parabola's normalised denominator."""

Meter = Callable[[Frame, AfWindow], float]


@dataclass(frozen=True)
class ScanSample:
    lens_d: float
    contrast: float


def find_peak(samples: list[ScanSample], step_d: float) -> float:
    """libcamera-style peak: 3-point parabola around the best sample, with acceptance rules.

    Samples are in scan order. Uses the best sample's two neighbours, or its two same-side
    neighbours at a scan end; the parabola must have a maximum's curvature and a normalised
    denominator (second difference / best contrast) of at least 1/64, and its vertex is clamped
    to the neighbour interval (within one step of the best sample at a scan end). Otherwise the
    best sample's position.
    """
    if not samples:
        raise ValueError("find_peak needs at least one sample")
    i = max(range(len(samples)), key=lambda j: samples[j].contrast)
    best = samples[i]
    n = len(samples)
    if n < 3 or best.contrast <= 0:
        return best.lens_d
    if 0 < i < n - 1:
        trio = [samples[i - 1], best, samples[i + 1]]
        lo = min(samples[i - 1].lens_d, samples[i + 1].lens_d)
        hi = max(samples[i - 1].lens_d, samples[i + 1].lens_d)
    else:
        trio = samples[:3] if i == 0 else samples[-3:]
        lo, hi = best.lens_d - abs(step_d), best.lens_d + abs(step_d)
    xs = [s.lens_d for s in trio]
    ys = [s.contrast / best.contrast for s in trio]
    # Lagrange form of the parabola through three (not necessarily evenly spaced) points
    (x0, x1, x2), (y0, y1, y2) = xs, ys
    d01, d12, d02 = x1 - x0, x2 - x1, x2 - x0
    if min(abs(d01), abs(d12), abs(d02)) < 1e-9:
        return best.lens_d
    a = ((y2 - y1) / d12 - (y1 - y0) / d01) / d02  # half the second derivative
    b = (y1 - y0) / d01 - a * (x0 + x1)
    # normalised denominator: the second difference on the sample spacing, relative to best
    spacing = 0.5 * (abs(d01) + abs(d12))
    denom = 2.0 * a * spacing * spacing
    if not (denom <= -MIN_DENOMINATOR):
        return best.lens_d
    vertex = -b / (2.0 * a)
    return min(max(vertex, lo), hi)


class LibcameraScan(Acquisition):
    """The libcamera Raspberry Pi CDAF scan (Auto mode) as an AF-S strategy."""

    wants_phase = False

    def __init__(
        self,
        ctx: AfContext,
        tuning: LibcameraTuning = NORMAL,
        *,
        name: str = "libcamera",
        meter: Meter | None = None,
        max_frames: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.tuning = tuning
        self.name = name
        self._meter: Meter = meter if meter is not None else FocusMeter()
        self.max_frames = max_frames if max_frames is not None else self.frame_bound()
        self.cancelled = False
        self._reset()

    def frame_bound(self) -> int:
        """Frames the scan can take at most: skip + dropout + every coarse step of the range,
        3 fine steps and the settle, each ``step_frames + 1`` frames (plus a frame of slack)."""
        t = self.tuning
        span = self.ctx.lens_max_d - self.ctx.lens_min_d
        coarse = math.ceil(span / t.step_coarse - 1e-9) + 1
        fine = 3 if t.step_fine > 0 else 0
        return t.skip_frames + t.dropout_frames + (t.step_frames + 1) * (coarse + fine + 1) + 1

    def _reset(self) -> None:
        self.frames = 0
        self.phase = "skip"
        self._wait = self.tuning.skip_frames + self.tuning.dropout_frames
        self._target = 0.0
        self.samples: list[ScanSample] = []
        self.all_samples: list[ScanSample] = []
        self.scan_max = 0.0
        self.scan_min = math.inf
        self._fine_left = 0
        self.done: AfStatus | None = None

    def start(self, lens_d: float, now_s: float) -> float | None:
        self._reset()
        self.cancelled = False
        self._target = lens_d
        if self._wait == 0:
            return self._start_scan()
        return None

    # --- scan -----------------------------------------------------------------------------
    def _start_scan(self) -> float:
        self.phase = "coarse"
        self.samples = []
        self.scan_max, self.scan_min = 0.0, math.inf
        return self._move(self.ctx.lens_min_d)

    def _move(self, target_d: float) -> float:
        self._target = min(max(target_d, self.ctx.lens_min_d), self.ctx.lens_max_d)
        self._wait = self.tuning.step_frames
        return self._target

    def _at_end(self, direction: int) -> bool:
        eps = 1e-9
        if direction > 0:
            return self._target >= self.ctx.lens_max_d - eps
        return self._target <= self.ctx.lens_min_d + eps

    def _update(self, frame: Frame, window: AfWindow) -> AfStep:
        if self._wait > 0:
            self._wait -= 1
            if self.phase == "skip" and self._wait == 0:
                return AfStep(AfStatus.SCANNING, self._start_scan())
            return self._scanning()
        contrast = self._meter(frame, window)
        t = self.tuning
        if self.phase == "settle":
            ratio = t.contrast_ratio
            ok = contrast >= ratio * self.scan_max and self.scan_min <= ratio * self.scan_max
            return self._end(AfStatus.FOCUSED if ok else AfStatus.FAILED)
        sample = ScanSample(self._target, contrast)
        self.samples.append(sample)
        self.all_samples.append(sample)
        self.scan_max = max(self.scan_max, contrast)
        self.scan_min = min(self.scan_min, contrast)
        if self.phase == "coarse":
            dropped = contrast < t.contrast_ratio * self.scan_max
            if dropped or self._at_end(+1):
                peak = find_peak(self.samples, t.step_coarse)
                if t.step_fine > 0:
                    self.phase = "fine"
                    self.samples = []
                    self._fine_left = 3
                    return self._scanning(self._move(peak + t.step_fine))
                self.phase = "settle"
                return self._scanning(self._move(peak))
            return self._scanning(self._move(self._target + t.step_coarse))
        # fine scan: 3 samples stepping back (toward far) across the peak
        self._fine_left -= 1
        dropped = contrast < t.contrast_ratio * self.scan_max
        if self._fine_left <= 0 or dropped or self._at_end(-1):
            peak = find_peak(self.samples, t.step_fine)
            self.phase = "settle"
            return self._scanning(self._move(peak))
        return self._scanning(self._move(self._target - t.step_fine))

    def _scanning(self, target_d: float | None = None) -> AfStep:
        if self.frames >= self.max_frames:
            return self._end(AfStatus.FAILED)
        return AfStep(AfStatus.SCANNING, target_d)


def libcamera_fast(ctx: AfContext) -> LibcameraScan:
    """libcamera's "fast" AfSpeed tuning."""
    return LibcameraScan(ctx, FAST, name="libcamera-fast")


def with_pdaf_dropout(tuning: LibcameraTuning, frames: int = 6) -> LibcameraTuning:
    """`tuning` with the PDAF-dropout wait libcamera adds on a PDAF sensor with no phase signal."""
    return replace(tuning, dropout_frames=frames)
