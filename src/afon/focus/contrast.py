"""Contrast-detection AF-S: a few-sample, curve-model search on the AF window's focus measure.

The focus measure (`FocusMeter`)
--------------------------------
Tenengrad (`afon.focus.measures`, the default measure) on the AF window of the frame's
luminance, plus two numbers from the same window: the noise floor (the Tenengrad value that
sensor noise alone produces, ``24 σ² / mean²`` with σ from Immerkær's estimator) and the
texture confidence (0 = noise only .. 1 = clear texture). libcamera's port
(`afon.focus.libcamera_af`) uses ISP-like raw sums on its own grid instead.

The curve it searches
---------------------
On the simulated Camera Module 3 at preview size (640×480) the blur grows by only ~1.65 px
per dioptre, so the focus curve is broad: flat to within ~1% over about ±1 depth of focus
(blur below a pixel), then falling smoothly, ~0.3–0.4 per dioptre in ``log(signal)``.
afon models ``z = log(fom − noise floor)`` as a symmetric curve with a rounded top and
straight (exponential) tails::

    z(x) = a − k · (sqrt((x − c)² + p²) − p)

(c the peak, p the half-width of the top, k the tail slope), fitted by least squares over a
grid of c and p (a and k linear). Its peak c is found from the *flanks*, so the flat top does
not limit the precision — which is how a search with a few samples (DiMeo et al. 2021) can land
within a fraction of the depth of focus.

The search (`ContrastAf`), one lens position per still frame
------------------------------------------------------------
Only frames the timing rule passes are measured (`afon.focus.engine.MeasurementGate`, the same
rule as every AF-S strategy's, the libcamera port's included: statistics after the camera's
pipeline latency, exposure after the command took effect and the lens travelled, the lens
reported at rest for the whole exposure); on a VCM module that is every second frame after a
move (the frame exposed during the move and settling is skipped).

1. **Probe** while no sample has texture (confidence < `min_texture`): visit a grid of
   positions `probe_d` apart (about 7.5 depths of focus: any subject in range is then within a
   few pixels of blur of one probe), nearest first. All probed without texture → FAILED: a
   featureless scene fails within `featureless_bound` frames, ``1 + (probes − 1) × cycle``
   (cycle = frames per lens move and still frame, 2 on a VCM): at most 6 probes and 11 frames
   on the Camera Module 3-like preset's 0–12 D lens (9 measured on the "wall" scene, against
   107 for the libcamera scan, which must sweep the whole range to find no peak).
2. **Climb**: from the best sample, step toward the side not yet bracketed, first by `step_d`
   (2.5 depths of focus = 1 D on the CM3), the step growing ×1.6 up to `probe_d` while the
   signal keeps rising. Bracketed = on each side of the best a sample at least
   `bracket_drop` (0.1 in z ≈ 10%) lower, or the range end.
3. **Fit** the model to all samples → c₀, then refit on the samples near c₀ → c. **Flank
   pair**: c needs, on each side, a sample between 0.5·a and 1.6·a away, with a the distance
   at which the model has dropped ~15% (clamped to 1.25–3 depths of focus); a missing side is
   sampled at c ± a (unless the range ends inside the top), and the fit repeated — at most
   three rounds. The symmetric pair pins the peak between the flanks.
4. **Verify**: move to c and measure it. FOCUSED iff it has texture and libcamera's rule
   holds (final ≥ 0.75 × best measured, and the floor — the lowest sample or the noise floor
   — ≤ 0.75 × best, i.e. a peak ≥ 25% above its floor); if the final frame is clearly below
   the best sample (≥ 5%), the lens goes to the best sample and is verified once more.

Discrete lenses (a focal stack: `afon.focus.context.DiscreteAfContext` lists the positions
that hold a photograph; between them `StackCamera` cross-fades, which is never sharper than the
better neighbour): after the fit, the two positions around c are measured, the search walks to
a better neighbour while there is one, and it ends (verified) on that position.

Timeout: `max_frames` (default `frame_bound`, from the context: probing and climbing across
the whole range, 3 flank pairs and 2 verifications, each one still-frame cycle computed from
the motor's speed, plus one crossing of the whole range; 59 frames on the CM3-like preset).
`cancel()` stops issuing moves; the lens stays where it is (libcamera's AfTrigger Cancel).

A local variant (`guess_d` and `bounds`) serves the hybrid strategy: start at a phase
estimate, climb with fine steps inside a bracket, and fit as above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from afon.cameras.base import Frame
from afon.focus import measures
from afon.focus.engine import (
    Acquisition,
    AfContext,
    AfStatus,
    AfStep,
    AfWindow,
    MeasurementGate,
)

Z_FLOOR = 1e-12
"""Smallest signal (fom − floor) taken for a log; below it a frame shows only noise."""

P_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0)
"""Half-widths of the curve's top tried in a fit, in depths of focus."""
P_PRIOR = 1.0
"""Half-width of the top (depths of focus) assumed when only one flank is measured (the median
of fits to measured curves on the simulated Camera Module 3: 0.75–2)."""
ONE_SIDED_DROP = 0.05
"""A flank counts as measured with a sample this far (in z) below the peak."""

_NOISE_GAIN = {"tenengrad": 24.0, "brenner": 4.0}
"""Mean squared response of each squared-derivative measure's filters to unit white noise."""


def measure_window(window: AfWindow) -> measures.Window:
    """An `AfWindow` (centre, size) as the measures' ``(x, y, w, h)`` window, inside 0..1."""
    win = window.clamped()
    x = min(max(win.cx - win.w / 2, 0.0), 1.0)
    y = min(max(win.cy - win.h / 2, 0.0), 1.0)
    w = min(win.w, 1.0 - x)
    h = min(win.h, 1.0 - y)
    return x, y, w, h


@dataclass(frozen=True)
class FocusSample:
    """The focus measure of one frame's AF window."""

    lens_d: float
    fom: float
    floor: float
    """The part of `fom` that sensor noise alone produces (0 when unknown for the measure)."""
    texture: float
    """Texture confidence 0..1 (`measures.texture_confidence`)."""
    frame_index: int = -1

    @property
    def signal(self) -> float:
        return max(self.fom - self.floor, Z_FLOOR)

    @property
    def z(self) -> float:
        return math.log(self.signal)


class FocusMeter:
    """Evaluates a focus measure (default Tenengrad) on the AF window of a frame.

    Calling it returns the figure of merit only (what libcamera's scan uses); `sample` adds
    the noise floor and the texture confidence.
    """

    def __init__(self, measure: str = measures.DEFAULT_MEASURE) -> None:
        if measure not in measures.MEASURES:
            known = ", ".join(sorted(measures.MEASURES))
            raise ValueError(f"unknown focus measure {measure!r}; known: {known}")
        self.measure = measure

    def _crop(
        self, frame: Frame, window: AfWindow
    ) -> tuple[npt.NDArray[np.float32], measures.Window]:
        """Luma of the window plus a 2-pixel margin, and the window inside that crop."""
        img = frame.image
        height, width = img.shape[0], img.shape[1]
        x, y, w, h = measures.window_px(img.shape, measure_window(window))
        x0, y0 = max(x - 2, 0), max(y - 2, 0)
        x1, y1 = min(x + w + 2, width), min(y + h + 2, height)
        luma = measures.luma_of(img[y0:y1, x0:x1])
        cw, ch = x1 - x0, y1 - y0
        return luma, ((x - x0) / cw, (y - y0) / ch, w / cw, h / ch)

    def __call__(self, frame: Frame, window: AfWindow) -> float:
        luma, win = self._crop(frame, window)
        return measures.measure(self.measure, luma, win)

    def sample(self, frame: Frame, window: AfWindow, lens_d: float | None = None) -> FocusSample:
        luma, win = self._crop(frame, window)
        fom = measures.measure(self.measure, luma, win)
        sigma = measures.noise_sigma(luma, win)
        x, y, w, h = measures.window_px(luma.shape, win)
        mean = max(float(np.mean(luma[y : y + h, x : x + w])), measures.MIN_MEAN)
        gain = _NOISE_GAIN.get(self.measure)
        floor = gain * sigma * sigma / (mean * mean) if gain is not None else 0.0
        if self.measure == "tenengrad":
            snr2 = max(fom - floor, 0.0) / floor if floor > 0 else math.inf
            texture = snr2 / (snr2 + measures.TEXTURE_SNR_HALF**2) if math.isfinite(snr2) else 1.0
        else:
            texture = measures.texture_confidence(luma, win)
        return FocusSample(
            lens_d=frame.lens_d if lens_d is None else lens_d,
            fom=fom,
            floor=floor,
            texture=texture,
            frame_index=frame.index,
        )


# --- the curve model ------------------------------------------------------------------------
@dataclass(frozen=True)
class PeakFit:
    """Least-squares fit of ``z = a − k (sqrt((x − c)² + p²) − p)``."""

    c: float
    a: float
    k: float
    p: float
    rms: float

    def z(self, x: float) -> float:
        u = math.sqrt((x - self.c) ** 2 + self.p**2) - self.p
        return self.a - self.k * u

    def distance_for_drop(self, drop: float) -> float:
        """|x − c| at which the model is `drop` below its peak."""
        if self.k <= 0:
            return math.inf
        u = drop / self.k
        return math.sqrt((u + self.p) ** 2 - self.p**2)


def fit_peak(
    xs: npt.ArrayLike,
    zs: npt.ArrayLike,
    *,
    c_range: tuple[float, float],
    p_values: tuple[float, ...],
    weights: npt.ArrayLike | None = None,
    k_prior: float = 0.0,
    k_prior_weight: float = 0.0,
    grid_d: float = 0.005,
) -> PeakFit | None:
    """Fit the rounded-top symmetric peak model; None with fewer than 3 samples.

    For every (c, p) on a grid, `a` and `k` are the weighted least-squares solution
    (optionally pulled toward `k_prior`), and the (c, p) with the least residual wins.
    """
    x = np.asarray(xs, np.float64)
    z = np.asarray(zs, np.float64)
    if x.size < 3:
        return None
    w = np.ones_like(x) if weights is None else np.asarray(weights, np.float64)
    lo, hi = c_range
    if hi < lo:
        lo, hi = hi, lo
    n = max(2, math.ceil((hi - lo) / grid_d) + 1)
    cs = np.linspace(lo, hi, n)
    best: PeakFit | None = None
    for p in p_values:
        u = np.sqrt((x[None, :] - cs[:, None]) ** 2 + p * p) - p  # (n, m)
        # weighted normal equations for z = a − k u
        sw = w.sum()
        su = (w * u).sum(axis=1)
        suu = (w * u * u).sum(axis=1) + k_prior_weight
        sz = (w * z).sum()
        suz = (w * u * z).sum(axis=1) - k_prior_weight * k_prior
        det = sw * suu - su * su
        ok = np.abs(det) > 1e-12
        det = np.where(ok, det, 1.0)
        a = (suu * sz - su * suz) / det
        negk = (sw * suz - su * sz) / det  # coefficient of u
        k = -negk
        resid = z[None, :] - (a[:, None] - k[:, None] * u)
        sse = (w * resid * resid).sum(axis=1) + k_prior_weight * (k - k_prior) ** 2
        sse = np.where(ok & (k > 0), sse, np.inf)
        i = int(np.argmin(sse))
        if not math.isfinite(float(sse[i])):
            continue
        rms = math.sqrt(float(sse[i]) / max(float(sw), 1e-12))
        if best is None or rms < best.rms:
            best = PeakFit(float(cs[i]), float(a[i]), float(k[i]), float(p), rms)
    return best


# --- the search -----------------------------------------------------------------------------
class ContrastAf(Acquisition):
    """afon's contrast-detection AF-S (see the module docstring)."""

    name = "contrast"
    wants_phase = False

    def __init__(
        self,
        ctx: AfContext,
        *,
        meter: FocusMeter | None = None,
        step_d: float | None = None,
        probe_d: float | None = None,
        min_texture: float = 0.15,
        bracket_drop: float = 0.1,
        growth: float = 1.6,
        guess_d: float | None = None,
        bounds: tuple[float, float] | None = None,
        max_frames: int | None = None,
    ) -> None:
        self.ctx = ctx
        self.meter = meter if meter is not None else FocusMeter()
        dof = max(ctx.depth_of_focus_d, 1e-6)
        self.dof = dof
        self.same_d = min(0.02, 0.05 * dof)
        """Samples closer than this are the same lens position (measured twice: averaged)."""
        self.step_d = step_d if step_d is not None else 2.5 * dof
        self.probe_d = probe_d if probe_d is not None else 7.5 * dof
        self.min_texture = min_texture
        self.bracket_drop = bracket_drop
        self.growth = growth
        self.guess_d = guess_d
        lo, hi = bounds if bounds is not None else (ctx.lens_min_d, ctx.lens_max_d)
        self.lo = max(ctx.lens_min_d, min(lo, hi))
        self.hi = min(ctx.lens_max_d, max(lo, hi))
        self.max_frames = max_frames if max_frames is not None else self.frame_bound()
        self.cancelled = False
        self._reset()

    # --- bounds -------------------------------------------------------------------------
    def _move_s(self, distance_d: float) -> float:
        """Rest-to-rest travel time of the motor over `distance_d` (trapezoidal profile)."""
        v, a = self.ctx.motor_speed_d_per_s, self.ctx.motor_accel_d_per_s2
        if not (math.isfinite(v) and v > 0):
            return 0.0
        if not (math.isfinite(a) and a > 0):
            return distance_d / v
        if distance_d <= v * v / a:
            return 2.0 * math.sqrt(distance_d / a)
        return distance_d / v + v / a

    def _cycle_frames(self, distance_d: float | None = None) -> int:
        """Frames per sample after a move of `distance_d` (default: a probe step): the frames
        exposed while the lens moves and settles, then one still frame — at least 2."""
        move_s = self._move_s(self.probe_d if distance_d is None else distance_d)
        # A move commanded when frame n is read out has until frame n+2 starts exposing,
        # about 1.2 frame periods later, to arrive and settle (10 ms assumed); the camera's
        # pipeline latency and lens latency come on top.
        rate = self.ctx.frame_rate_hz
        delay_s = self.ctx.pipeline_latency_s + self.ctx.lens_latency_frames / rate
        return 1 + max(1, math.ceil((move_s + 0.01 + delay_s) * rate - 0.2))

    def probe_positions(self, start_d: float) -> list[float]:
        """The probe grid through `start_d`, `probe_d` apart, plus the range ends when the
        nearest grid point is more than half a probe step away."""
        lo, hi, step = self.lo, self.hi, self.probe_d
        kmin = math.ceil((lo - start_d) / step - 1e-9)
        kmax = math.floor((hi - start_d) / step + 1e-9)
        grid = [start_d + k * step for k in range(kmin, kmax + 1)]
        if not grid or min(grid) - lo > step / 2:
            grid.append(lo)
        if max(grid) < hi - step / 2:
            grid.append(hi)
        return sorted(set(round(g, 9) for g in grid))

    def featureless_bound(self, start_d: float | None = None) -> int:
        """Most frames a featureless scene can take to FAILED: every probe position once."""
        start = self.lo if start_d is None else start_d
        n = len(self.probe_positions(start))
        return 1 + (n - 1) * self._cycle_frames()

    def frame_bound(self) -> int:
        """Default timeout in frames: probing and climbing over the whole range, three flank
        pairs and two verifications, each sample one still-frame cycle."""
        span = self.hi - self.lo
        probes = math.ceil(span / self.probe_d) + 2
        climb = math.ceil(span / self.step_d) + 2
        samples = probes + climb + 6 + 2
        # every sample one probe-step cycle, plus one crossing of the whole range
        return 1 + samples * self._cycle_frames() + self._cycle_frames(span)

    # --- protocol -----------------------------------------------------------------------
    def _reset(self) -> None:
        self.frames = 0
        self.samples: list[FocusSample] = []
        self.done: AfStatus | None = None
        self.state = "measure"
        self._gate = MeasurementGate(self.ctx)
        self._now_s = 0.0
        self._cmd_d: float | None = None
        self._step = self.step_d
        self._last_dir = 0
        self._pairs = 0
        self._probes: list[float] = []
        self._final: float | None = None
        self._c = 0.0
        self._verifies = 0
        self.fit: PeakFit | None = None
        self.reason = ""

    def start(self, lens_d: float, now_s: float) -> float | None:
        self._reset()
        self.cancelled = False
        self._start_d = lens_d
        self._now_s = now_s
        self._cmd_d = lens_d
        if self.guess_d is not None:
            guess = min(max(self.guess_d, self.lo), self.hi)
            self._start_d = guess
            if abs(guess - lens_d) > 1e-6:
                return self._command(guess)
        return None

    def _command(self, target: float) -> float:
        last = self._cmd_d if self._cmd_d is not None else target
        self._gate.moved(self._now_s, target - last)
        self._cmd_d = target
        return target

    def _update(self, frame: Frame, window: AfWindow) -> AfStep:
        self._now_s = frame.ready_s
        if not self._gate.ready(frame):
            return self._scanning(None)
        s = self.meter.sample(frame, window)
        if self.state == "verify":
            return self._verify(s)
        self._add(s)
        nxt = self._plan()
        if isinstance(nxt, AfStatus):
            return self._end(nxt, self.reason)
        return self._scanning(nxt)

    def _scanning(self, target: float | None) -> AfStep:
        if self.frames >= self.max_frames:
            return self._end(AfStatus.FAILED, "timeout")
        if target is not None:
            target = self._command(min(max(target, self.lo), self.hi))
        return AfStep(AfStatus.SCANNING, target)

    def _add(self, s: FocusSample) -> None:
        for i, old in enumerate(self.samples):
            if abs(old.lens_d - s.lens_d) < self.same_d:
                # same position measured again: keep the mean
                self.samples[i] = FocusSample(
                    old.lens_d,
                    0.5 * (old.fom + s.fom),
                    0.5 * (old.floor + s.floor),
                    max(old.texture, s.texture),
                    s.frame_index,
                )
                return
        self.samples.append(s)

    # --- planning -----------------------------------------------------------------------
    def _has_sample_near(self, x: float, tol: float) -> bool:
        return any(abs(s.lens_d - x) <= tol for s in self.samples)

    def _plan(self) -> float | AfStatus:
        if self.state == "discrete":
            return self._discrete_next()
        textured = [s for s in self.samples if s.texture >= self.min_texture]
        if not textured:
            return self._next_probe()
        best = max(self.samples, key=lambda s: s.z)
        side = self._unbracketed_side(best)
        if side != 0:
            return self._climb(best, side)
        return self._refine(best)

    def _next_probe(self) -> float | AfStatus:
        if not self._probes:
            self._probes = self.probe_positions(self._start_d)
        todo = [p for p in self._probes if not self._has_sample_near(p, 0.3 * self.probe_d)]
        if not todo:
            self.reason = "featureless: no texture at any probe position"
            return AfStatus.FAILED
        here = self.samples[-1].lens_d
        return min(todo, key=lambda p: (abs(p - here), abs(p - self._prior())))

    def _prior(self) -> float:
        """Where a first step heads when nothing says which way: a quarter into the range
        (3 D on a 0–12 D lens: most subjects are farther than 33 cm)."""
        return self.lo + 0.25 * (self.hi - self.lo)

    def _unbracketed_side(self, best: FocusSample) -> int:
        """-1/+1: the side of `best` without a sample clearly lower (or the range end); 0 when
        bracketed on both sides."""
        eps = 1e-6
        sides = []
        for side in (-1, +1):
            at_end = best.lens_d <= self.lo + eps if side < 0 else best.lens_d >= self.hi - eps
            if at_end:
                continue
            beyond = [s for s in self.samples if (s.lens_d - best.lens_d) * side > eps]
            if any(best.z - s.z >= self.bracket_drop for s in beyond):
                continue
            # the side is bounded by the range end if a sample sits there
            if any(
                (s.lens_d <= self.lo + eps if side < 0 else s.lens_d >= self.hi - eps)
                for s in beyond
            ):
                continue
            sides.append(side)
        if not sides:
            return 0
        if len(sides) == 2:
            # nothing known on either side: the prior decides, else keep the last direction
            if self._last_dir != 0:
                return self._last_dir
            return +1 if best.lens_d < self._prior() else -1
        return sides[0]

    def _climb(self, best: FocusSample, side: int) -> float:
        beyond = [s for s in self.samples if (s.lens_d - best.lens_d) * side > 1e-6]
        base = max(beyond, key=lambda s: abs(s.lens_d - best.lens_d)) if beyond else best
        improving = self.samples[-1] is best and len(self.samples) > 1
        if side == self._last_dir and improving:
            self._step = min(self._step * self.growth, self.probe_d)
        elif side != self._last_dir:
            self._step = self.step_d
        self._last_dir = side
        target = base.lens_d + side * self._step
        return min(max(target, self.lo), self.hi)

    def _fit(self, center: float | None, radius: float | None) -> PeakFit | None:
        pts = self.samples
        if center is not None and radius is not None:
            pts = [s for s in pts if abs(s.lens_d - center) <= radius]
        if len(pts) < 3:
            pts = sorted(self.samples, key=lambda s: abs(s.lens_d - (center or 0.0)))[:3]
        xs = [s.lens_d for s in pts]
        zs = [s.z for s in pts]
        best = max(pts, key=lambda s: s.z)
        xl = [s.lens_d for s in pts if s.lens_d < best.lens_d]
        xr = [s.lens_d for s in pts if s.lens_d > best.lens_d]
        c_lo = max(xl) if xl else self.lo
        c_hi = min(xr) if xr else self.hi
        c_lo, c_hi = max(c_lo, self.lo), min(c_hi, self.hi)
        dof = self.dof
        ref = center if center is not None else best.lens_d
        weights = [1.0 / (1.0 + (abs(x - ref) / (4.0 * dof)) ** 2) for x in xs]

        def run(p_values: tuple[float, ...]) -> PeakFit | None:
            return fit_peak(
                xs,
                zs,
                c_range=(c_lo, c_hi),
                p_values=p_values,
                weights=weights,
                # tail slope measured on the CM3: ~0.35 per dioptre = 0.14 per depth of focus
                k_prior=0.14 / dof,
                k_prior_weight=0.5,
                grid_d=min(0.01, dof / 40.0),
            )

        fit = run(tuple(f * dof for f in P_FACTORS))
        if fit is None:
            return None
        # A flank on one side only (the peak at a range end) cannot separate the top's width
        # from its position: take the width from the prior.
        for side in (-1, +1):
            if not any(
                (x - fit.c) * side > fit.p and fit.a - z >= ONE_SIDED_DROP
                for x, z in zip(xs, zs, strict=True)
            ):
                return run((P_PRIOR * dof,)) or fit
        return fit

    def _refine(self, best: FocusSample) -> float | AfStatus:
        fit = self._fit(None, None)
        if fit is None:
            return self._finish(best.lens_d)
        self.fit = fit
        c0 = fit.c
        a = min(max(fit.distance_for_drop(0.15), 1.25 * self.dof), 3.0 * self.dof)
        local = self._fit(c0, a + 2.5 * self.dof) or fit
        c = local.c
        if self._pairs >= 3:
            return self._finish(c)
        # a flank sample on each side of c at about distance a (or the range end)
        need: list[float] = []
        for side in (-1, +1):
            target = min(max(c + side * a, self.lo), self.hi)
            if abs(target - c) < 0.5 * a:
                continue  # the range ends inside the top: nothing to measure there
            have = any(0.5 * a <= (s.lens_d - c) * side <= 1.6 * a for s in self.samples)
            if not have:
                need.append(target)
        if not need:
            self.fit = local
            return self._finish(c)
        self._pairs += 1
        here = self.samples[-1].lens_d
        return min(need, key=lambda t: abs(t - here))

    def _finish(self, target: float) -> float | AfStatus:
        target = min(max(target, self.lo), self.hi)
        if self._grid():
            self.state = "discrete"
            self._c = target
            return self._discrete_next()
        return self._verify_at(target)

    def _verify_at(self, target: float) -> float:
        self.state = "verify"
        self._final = min(max(target, self.lo), self.hi)
        return self._final

    # --- discrete lenses (focal stacks) ---------------------------------------------------
    def _grid(self) -> list[float]:
        positions = getattr(self.ctx, "positions_d", ())
        return [p for p in positions if self.lo - 1e-9 <= p <= self.hi + 1e-9]

    def _grid_fom(self, x: float) -> float | None:
        tol = 0.02 * self.dof
        near = [q for q in self.samples if abs(q.lens_d - x) <= tol]
        return max(q.fom for q in near) if near else None

    def _discrete_next(self) -> float | AfStatus:
        """On a discrete lens the answer is one of its positions: measure the two around the
        fitted peak, then the neighbours of the better one, and end on the best measured."""
        grid = self._grid()
        c = self._c
        order = sorted(range(len(grid)), key=lambda i: abs(grid[i] - c))
        cands = order[:2]
        for i in cands:
            if self._grid_fom(grid[i]) is None:
                return grid[i]
        best = max(cands, key=lambda i: self._grid_fom(grid[i]) or 0.0)
        for _ in range(len(grid)):
            for j in (best - 1, best + 1):
                if 0 <= j < len(grid) and self._grid_fom(grid[j]) is None:
                    return grid[j]
            nb = [j for j in (best - 1, best + 1) if 0 <= j < len(grid)]
            better = max(nb, key=lambda j: self._grid_fom(grid[j]) or 0.0)
            if (self._grid_fom(grid[better]) or 0.0) > (self._grid_fom(grid[best]) or 0.0):
                best = better
                continue
            break
        return self._verify_at(grid[best])

    def _verify(self, s: FocusSample) -> AfStep:
        best = max(self.samples, key=lambda q: q.fom)
        self._verifies += 1
        far = abs(best.lens_d - s.lens_d) > self.same_d
        if s.fom < 0.95 * best.fom and self._verifies < 2 and far:
            self._add(s)
            self._final = best.lens_d
            return self._scanning(best.lens_d)
        self._add(s)
        top = max(best.fom, s.fom)
        ratio = 0.75
        floor = min(min(q.fom for q in self.samples), s.floor)
        if s.texture < self.min_texture:
            return self._end(AfStatus.FAILED, "no texture at the final position")
        if s.fom >= ratio * top and floor <= ratio * top:
            return self._end(AfStatus.FOCUSED)
        return self._end(AfStatus.FAILED, "no peak 25% above the floor")
