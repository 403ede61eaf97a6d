"""AF area "tracking": the AF point follows the subject across the frame.

`Tracker.update(frame, window) -> AfWindow` finds, in each new frame, the patch that looks like
the subject under the AF point and moves the window there (Nikon's 3D-tracking, Canon's
tracking AF, Sony's Tracking focus area):

- **Template**: on the first frame (or after `reset`/a user's AF-point move) the luma under the
  window is the template. It is refreshed with the matched patch whenever the match is
  confident (NCC ≥ `refresh_score`), so slow changes of pose, blur and lighting are followed;
  a poor match never becomes the template (no drift onto the background).
- **Search**: ``cv2.matchTemplate`` (``TM_CCOEFF_NORMED``, zero-mean normalised cross-correlation)
  over a region around the position predicted from the window's recent image velocity, grown by
  `search_margin` window sizes. The search runs on a downsampled luma (the template is at most
  `max_template_px` across), a large one coarse to fine (`_match`), so it stays cheap.
- **Scale**: an approaching subject grows. The template is also matched at scales
  ``1 ± scale_step``; the best scale wins (with a small preference for 1), the window's size
  follows it within `min_size`..`max_size`, and the template is re-cut at the new size on refresh.
- **Focus first**: while the view under the window sharpens (its band-passed energy exceeds
  `sharpen_ratio` × the template's: the lens is still coming into focus) the window stays and
  the template is re-cut there: a template cut from a blurred view matches the background as
  well as the subject.
- **Lost**: when the best NCC is below `lost_score` the window stays where it is (the servo's
  lock-on decides what to do about the distance), the search area is widened, and `lost` is
  True until a confident match returns.

Both images are band-passed (minus a wide low-pass, `_low_pass`) before matching so exposure
changes and smooth shading do not decide the match.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from afon.cameras.base import Frame
from afon.focus.engine import AfWindow
from afon.focus.footprint import Rect, read_region, rect_union
from afon.focus.phase import peak_offset

FloatImage = npt.NDArray[np.float32]

_HIGHPASS_BOXES_PX = (15, 17, 15)
"""Widths (working pixels) of the three box filters whose cascade is the low-pass subtracted
before matching (removes shading): close to a Gaussian of σ = √(Σ(w² − 1)/12) ≈ 7.8 px, at a
cost that does not grow with its width (running sums, unlike a 65-tap Gaussian kernel: 2.4×
cheaper on the tracker's 200 × 200 px regions, measured)."""


@dataclass(frozen=True)
class TrackResult:
    """What the tracker found in one frame."""

    window: AfWindow
    score: float
    """Best NCC (−1..1)."""
    scale: float
    """Size change against the previous frame."""
    lost: bool


_HIGHPASS_REACH_PX = sum(w // 2 for w in _HIGHPASS_BOXES_PX)
"""Pixels the high-pass low-pass reaches (each box reaches half its width)."""


def _low_pass(img: FloatImage) -> FloatImage:
    """`img` through the `_HIGHPASS_BOXES_PX` box filters (OpenCV's reflecting border)."""
    low: npt.NDArray[np.float32] = img
    for width in _HIGHPASS_BOXES_PX:
        low = np.asarray(cv2.blur(low, (width, width)), np.float32)
    return low


def _shrink(luma: FloatImage, factor: float) -> FloatImage:
    if factor >= 1.0:
        return luma
    return np.asarray(
        cv2.resize(luma, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA), np.float32
    )


def _prep(luma: FloatImage, factor: float, window: AfWindow) -> FloatImage:
    """The frame at `factor`, high-passed (shading removed) for matching over `window`'s
    pixels (the template `Tracker._cut` takes; the rest is 0)."""
    small = _shrink(luma, factor)
    return _band_pass(small, _window_box(window, small.shape[1], small.shape[0]))


def _window_box(window: AfWindow, width: int, height: int) -> Rect:
    """The pixels (x0, y0, x1, y1) of `window` in an image of that size."""
    x, y, ww, wh = window.to_px(width, height)
    return x, y, x + ww, y + wh


def _band_pass(img: FloatImage, box: Rect | None = None) -> FloatImage:
    """`img` minus its low-pass (`_low_pass`); with `box` (x0, y0, x1, y1) only those pixels are
    computed (the others are 0), each exactly as over the whole image: the blur is taken
    over the box grown by the kernel's reach, or to the image's edge, whose border rule then
    applies as it does to the whole image. The tracker reads only its window and search
    regions, a few times the window's area."""
    if box is None:
        return (img - _low_pass(img)).astype(np.float32)
    ih, iw = img.shape
    x0, y0, x1, y1 = box
    r = _HIGHPASS_REACH_PX
    gx0, gy0, gx1, gy1 = max(0, x0 - r), max(0, y0 - r), min(iw, x1 + r), min(ih, y1 + r)
    crop = img[gy0:gy1, gx0:gx1]
    low = _low_pass(crop)
    out = np.zeros_like(img)
    out[y0:y1, x0:x1] = (crop - low)[y0 - gy0 : y1 - gy0, x0 - gx0 : x1 - gx0]
    return out


def _inside(box: Rect, outer: Rect) -> bool:
    return (outer[0] <= box[0] and outer[1] <= box[1] and box[2] <= outer[2]
            and box[3] <= outer[3])


def _resized(img: FloatImage, scale: float) -> FloatImage:
    out = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    return np.asarray(out, np.float32)


@dataclass(frozen=True)
class Footprint:
    """What the tracker reads of a frame (`Tracker.footprint`)."""

    read_px: Rect
    """Full-size luma pixels (x0, y0, x1, y1) the tracker reads."""
    windows: tuple[AfWindow, AfWindow]
    """The windows at the two extremes (top left, bottom right) of where the returned window
    can be, each at the largest size it can take: every window it returns lies between."""

    def frame_region(
        self, image_px: tuple[int, int], phase_px: tuple[int, int] | None
    ) -> tuple[float, float, float, float]:
        """The part of the frame (fractions, as `afon.focus.footprint.read_region`) that the
        tracker and then the AF engine, at whichever window the tracker returns, read."""
        w, h = image_px
        x0, y0, x1, y1 = self.read_px
        region = (x0 / w, y0 / h, x1 / w, y1 / h)
        for window in self.windows:
            a = read_region(window, image_px, phase_px)
            region = (min(region[0], a[0]), min(region[1], a[1]),
                      max(region[2], a[2]), max(region[3], a[3]))
        return region


def _grown(box: Rect, by_px: float) -> Rect:
    m = math.ceil(by_px) + 2  # and the area average's support, rounding included
    return box[0] - m, box[1] - m, box[2] + m, box[3] + m


def _to_full(box: Rect, factor: float) -> Rect:
    """The full-size pixels the working pixels `box` average (INTER_AREA at `factor`)."""
    x0, y0, x1, y1 = box
    return (math.floor(x0 / factor) - 2, math.floor(y0 / factor) - 2,
            math.ceil(x1 / factor) + 2, math.ceil(y1 / factor) + 2)


def _clip(box: Rect, width: int, height: int) -> Rect:
    return max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])


class Tracker:
    """Follows the subject under the AF window from frame to frame (see the module docstring)."""

    def __init__(
        self,
        *,
        search_margin: float = 1.0,
        refresh_score: float = 0.7,
        lost_score: float = 0.55,
        scale_step: float = 0.06,
        max_template_px: int = 48,
        min_size: float = 0.03,
        max_size: float = 0.6,
        sharpen_ratio: float = 1.5,
    ) -> None:
        self.sharpen_ratio = sharpen_ratio
        self.search_margin = search_margin
        self.refresh_score = refresh_score
        self.lost_score = lost_score
        self.scale_step = scale_step
        self.max_template_px = max_template_px
        self.min_size = min_size
        self.max_size = max_size
        self.reset()

    def reset(self) -> None:
        """Forget the subject: the next `update` takes a new template under its window."""
        self._template: FloatImage | None = None
        self._window: AfWindow | None = None
        self._user: AfWindow | None = None
        """The AF point the photographer set (the window tracking started from)."""
        self._velocity = (0.0, 0.0)
        self._last_t: float | None = None
        self._lost_frames = 0
        self._factor_used = 1.0
        self._small_px: tuple[int, int, float, int, int] | None = None
        """(frame w, h, factor, working w, h) of the last shrink."""
        self.last: TrackResult | None = None

    @property
    def lost(self) -> bool:
        return self.last is not None and self.last.lost

    # --- the work ---------------------------------------------------------------------------
    def _factor(self, window: AfWindow, width: int, height: int) -> float:
        size_px = max(window.w * width, window.h * height)
        return min(1.0, self.max_template_px / max(size_px, 1.0))

    def _cut(self, img: FloatImage, window: AfWindow) -> FloatImage:
        x0, y0, x1, y1 = _window_box(window, img.shape[1], img.shape[0])
        return np.ascontiguousarray(img[y0:y1, x0:x1])

    def update(self, frame: Frame, window: AfWindow) -> AfWindow:
        """The AF window for this frame: `window` moved onto the subject.

        The caller may pass back the window returned last time, or keep passing the AF point the
        photographer set; any other window (the photographer moved the AF point) restarts
        tracking there.
        """
        return self.track(frame, window).window

    def _restarts(self, window: AfWindow) -> bool:
        """Whether `track` takes a new template under `window` (none yet, or the photographer
        moved the AF point: a window neither their point nor the one returned last)."""
        current = self._window
        return (
            self._template is None
            or current is None
            or (window != self._user and window != current)
        )

    def _search(
        self, current: AfWindow, t_s: float, iw: int, ih: int
    ) -> tuple[list[tuple[float, FloatImage, Rect]], Rect]:
        """The templates tried on a frame exposed at `t_s` and the regions searched (scale,
        template, region x0, y0, x1, y1 in the working image of `iw` × `ih` pixels): around
        the centre predicted from the image velocity, grown while the subject is lost; and the
        working pixels read, those regions and the present window."""
        assert self._template is not None
        dt = 0.0 if self._last_t is None else max(t_s - self._last_t, 0.0)
        pcx = current.cx + self._velocity[0] * dt
        pcy = current.cy + self._velocity[1] * dt
        grow = self.search_margin * (1.0 + min(self._lost_frames, 4))
        tries: list[tuple[float, FloatImage, Rect]] = []
        for scale in (1.0, 1.0 + self.scale_step, 1.0 / (1.0 + self.scale_step)):
            tpl = self._template
            if scale != 1.0:
                tpl = _resized(tpl, scale)
            th, tw = tpl.shape
            if th < 4 or tw < 4 or th >= ih or tw >= iw:
                continue
            sx0 = int(max(0, math.floor(pcx * iw - tw / 2 - grow * tw)))
            sy0 = int(max(0, math.floor(pcy * ih - th / 2 - grow * th)))
            sx1 = int(min(iw, math.ceil(pcx * iw + tw / 2 + grow * tw)))
            sy1 = int(min(ih, math.ceil(pcy * ih + th / 2 + grow * th)))
            if sx1 - sx0 < tw or sy1 - sy0 < th:
                continue
            tries.append((scale, tpl, (sx0, sy0, sx1, sy1)))
        here = _window_box(current, iw, ih)
        needed = functools.reduce(rect_union, (r for _, _, r in tries), here)
        return tries, needed

    def footprint(self, window: AfWindow, t_s: float, image_px: tuple[int, int]) -> Footprint:
        """What `track` will read of a frame of `image_px` (w, h) exposed at `t_s` (mid-time)
        when passed `window`, and where the window it returns can be: a camera that draws
        only the pixels read gets the same result, bit for bit (tests/test_tracking.py).

        The tracker reads its window and search regions in the working image, grown by the
        high-pass filter's reach (`_band_pass`), and on a template refresh at a new scale the
        new window at its own scale; each working pixel is an area average over the full-size
        pixels under it (INTER_AREA). The window returned is the present one (lost, or still
        sharpening) or a match: centred within the search, sized by one scale step at most.
        """
        width, height = image_px
        current = self._window
        if current is None or self._restarts(window):
            start = window.clamped()  # a new template under the window (`_start`)
            factor = self._factor(start, width, height)
            box = _grown(_window_box(start, width, height), (_HIGHPASS_REACH_PX + 2) / factor)
            return Footprint(_clip(box, width, height), (start, start))
        factor = self._factor_used
        iw, ih = self._working_px(width, height, factor)
        tries, needed = self._search(current, t_s, iw, ih)
        r = _HIGHPASS_REACH_PX
        x0, y0, x1, y1 = needed
        grown_work = (x0 - r, y0 - r, x1 + r, y1 + r)
        read = _to_full(grown_work, factor) if factor < 1.0 else grown_work
        # where the returned window's centre and size can be (a match's centre lies inside
        # its region by half the template, give or take the sub-pixel refinement)
        lo_x, lo_y, hi_x, hi_y = current.cx, current.cy, current.cx, current.cy
        w_max, h_max = current.w, current.h
        for scale, tpl, (sx0, sy0, sx1, sy1) in tries:
            th, tw = tpl.shape
            lo_x = min(lo_x, (sx0 + tw / 2 - 1) / iw)
            lo_y = min(lo_y, (sy0 + th / 2 - 1) / ih)
            hi_x = max(hi_x, (sx1 - tw / 2 + 1) / iw)
            hi_y = max(hi_y, (sy1 - th / 2 + 1) / ih)
            w_max = max(w_max, min(max(current.w * scale, self.min_size), self.max_size))
            h_max = max(h_max, min(max(current.h * scale, self.min_size), self.max_size))
        lo = AfWindow(lo_x, lo_y, w_max, h_max).clamped()
        hi = AfWindow(hi_x, hi_y, w_max, h_max).clamped()
        # a refresh at another scale band-passes the new window at that scale
        refreshed = self._factor(lo, width, height)
        span = rect_union(_window_box(lo, width, height), _window_box(hi, width, height))
        read = rect_union(read, _grown(span, (_HIGHPASS_REACH_PX + 2) / refreshed))
        return Footprint(_clip(read, width, height), (lo, hi))

    def _working_px(self, width: int, height: int, factor: float) -> tuple[int, int]:
        """(w, h) of the working image a frame of `width` × `height` shrinks to at `factor`
        (as cv2.resize rounds it: taken from the last frame, or measured on a blank)."""
        if factor >= 1.0:
            return width, height
        known = self._small_px
        if known is not None and known[:3] == (width, height, factor):
            return known[3], known[4]
        ih, iw = _shrink(np.zeros((height, width), np.float32), factor).shape
        self._small_px = (width, height, factor, iw, ih)
        return iw, ih

    def track(self, frame: Frame, window: AfWindow) -> TrackResult:
        luma = frame.luma
        height, width = luma.shape
        t_s = 0.5 * (frame.exposure_start_s + frame.exposure_end_s)
        current = self._window
        if current is None or self._restarts(window):
            return self._start(luma, window, t_s)
        assert self._template is not None  # `_restarts` said so
        factor = self._factor_used
        small = _shrink(luma, factor)
        ih, iw = small.shape
        self._small_px = (width, height, factor, iw, ih)
        dt = 0.0 if self._last_t is None else max(t_s - self._last_t, 0.0)
        tries, needed = self._search(current, t_s, iw, ih)
        img = _band_pass(small, needed)  # only what is read: the window and the searches
        here = self._cut(img, current)
        if here.shape == self._template.shape and float(np.mean(here * here)) > (
            self.sharpen_ratio * float(np.mean(self._template * self._template))
        ):
            # the view under the window came into focus: the template (cut from a blurred
            # view) is stale, and a blurred view says nothing about where the subject went
            self._template = here
            self._last_t = t_s
            result = TrackResult(current, 1.0, 1.0, False)
            self.last = result
            return result
        best: tuple[float, float, float, float] | None = None  # score, cx, cy, scale
        for scale, tpl, (sx0, sy0, sx1, sy1) in tries:
            th, tw = tpl.shape
            score, px, py = _match(img[sy0:sy1, sx0:sx1], tpl)
            cx = (sx0 + px + tw / 2) / iw
            cy = (sy0 + py + th / 2) / ih
            adj = score - (0.01 if scale != 1.0 else 0.0)
            if best is None or adj > best[0]:
                best = (adj, cx, cy, scale)
        if best is None or best[0] < self.lost_score:
            self._lost_frames += 1
            self._velocity = (0.0, 0.0)
            self._last_t = t_s
            result = TrackResult(current, best[0] if best else -1.0, 1.0, True)
            self.last = result
            return result
        score, cx, cy, scale = best
        w = min(max(current.w * scale, self.min_size), self.max_size)
        h = min(max(current.h * scale, self.min_size), self.max_size)
        new = AfWindow(cx, cy, w, h).clamped()
        if dt > 0:
            vx = (new.cx - current.cx) / dt
            vy = (new.cy - current.cy) / dt
            a = 0.6 if self._lost_frames == 0 else 1.0
            self._velocity = (
                a * vx + (1 - a) * self._velocity[0],
                a * vy + (1 - a) * self._velocity[1],
            )
        self._last_t = t_s
        self._lost_frames = 0
        if score >= self.refresh_score:
            refreshed = self._factor(new, width, height)
            # the band-passed frame at the new window's scale: the one searched when the
            # scale is unchanged (the same pixels, not a second pass over the frame)
            if refreshed == factor and _inside(_window_box(new, iw, ih), needed):
                src = img
            else:
                src = _prep(luma, refreshed, new)
            self._factor_used = refreshed
            self._template = self._cut(src, new)
        elif scale != 1.0:
            self._template = _resized(self._template, scale)
        self._window = new
        result = TrackResult(new, score, scale, False)
        self.last = result
        return result

    def _start(self, luma: FloatImage, user: AfWindow, t_s: float) -> TrackResult:
        height, width = luma.shape
        window = user.clamped()
        self._user = user
        self._factor_used = self._factor(window, width, height)
        self._template = self._cut(_prep(luma, self._factor_used, window), window)
        self._window = window
        self._velocity = (0.0, 0.0)
        self._last_t = t_s
        self._lost_frames = 0
        result = TrackResult(window, 1.0, 1.0, False)
        self.last = result
        return result


_COARSE_MIN_POSITIONS = 1024
"""Searches of more template positions than this start on the half-resolution images."""
_COARSE_PEAKS = 4
"""Most peaks of the half-resolution match refined at full resolution."""
_COARSE_MARGIN = 0.15
"""Half-resolution peaks refined: those within this NCC of the best one."""
_REFINE_PX = 3
"""Full-resolution positions tried either side of a half-resolution peak (its 2 × 2 block's
four, the half-resolution grid's misalignment of up to a pixel, and a neighbour each side
for the sub-pixel parabola)."""


def _ncc(region: FloatImage, tpl: FloatImage) -> FloatImage:
    res = cv2.matchTemplate(region, tpl, cv2.TM_CCOEFF_NORMED)
    flat = np.isnan(res)  # a flat region matches nothing (as nan_to_num's -1, cheaper)
    if flat.any():
        res[flat] = -1.0
    return np.asarray(res, np.float32)


def _match(region: FloatImage, tpl: FloatImage) -> tuple[float, float, float]:
    """The best NCC of `tpl` in `region` and where its top-left corner lies (x, y, sub-pixel).

    A small search is one ``matchTemplate`` over every position. A large one (a lost subject's,
    or a big window's) is coarse to fine, as trackers commonly search: the images at half
    resolution (area averages) give up to `_COARSE_PEAKS` peaks, at least a quarter of the
    template apart and within `_COARSE_MARGIN` of the best; the full-resolution NCC around each
    decides. The score is always the full-resolution NCC, so the refresh and lost thresholds
    keep their meaning; a full-resolution peak no half-resolution peak is near is missed. The
    bench's tracking scenarios spent 2.2-2.4x less time matching than with whole searches."""
    th, tw = tpl.shape
    ny, nx = region.shape[0] - th + 1, region.shape[1] - tw + 1
    if nx * ny <= _COARSE_MIN_POSITIONS or min(th, tw) < 16:
        res = _ncc(region, tpl)
        _, score, _, loc = cv2.minMaxLoc(res)
        return score, *_refined(res, loc[0], loc[1])
    half = _ncc(_halved(region), _halved(tpl))
    candidates: list[tuple[int, int]] = []
    gap = max(1, min(half.shape[0], half.shape[1], tw // 8, th // 8))
    work = half.copy()
    top = -1.0  # the best half-resolution peak (the first found)
    for _ in range(_COARSE_PEAKS):
        _, peak, _, (hx, hy) = cv2.minMaxLoc(work)
        if not candidates:
            top = peak
        elif peak <= -1.0 or peak < top - _COARSE_MARGIN:
            break
        candidates.append((2 * hx, 2 * hy))
        work[max(0, hy - gap) : hy + gap + 1, max(0, hx - gap) : hx + gap + 1] = -2.0
    best: tuple[float, float, float] | None = None
    for cx, cy in candidates:
        x0, y0 = max(0, cx - _REFINE_PX), max(0, cy - _REFINE_PX)
        x1, y1 = min(nx, cx + _REFINE_PX + 2), min(ny, cy + _REFINE_PX + 2)
        res = _ncc(region[y0 : y1 + th - 1, x0 : x1 + tw - 1], tpl)
        _, score, _, loc = cv2.minMaxLoc(res)
        if best is not None and score <= best[0]:
            continue
        px, py = _refined(res, loc[0], loc[1])  # (no parabola at a cut edge)
        best = (score, x0 + px, y0 + py)
    assert best is not None
    return best


def _halved(img: FloatImage) -> FloatImage:
    h, w = img.shape
    return np.asarray(
        cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA), np.float32)


def _refined(res: FloatImage, rx: int, ry: int) -> tuple[float, float]:
    """The peak at (rx, ry) of an NCC map, refined by parabolas through its neighbours."""
    px, py = float(rx), float(ry)
    if 0 < rx < res.shape[1] - 1:
        px += float(peak_offset(res[ry, rx - 1], res[ry, rx], res[ry, rx + 1]))
    if 0 < ry < res.shape[0] - 1:
        py += float(peak_offset(res[ry - 1, rx], res[ry, rx], res[ry + 1, rx]))
    return px, py
