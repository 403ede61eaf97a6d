"""Focus measures (figures of merit) on a luminance image, and a texture / noise estimate.

Every measure is a pure function ``f(luma, window=None) -> float``: larger means sharper.

- ``luma`` is a 2-D luminance image (any real dtype; float32 in 0..255 as `Frame.luma` gives is
  the intended input).
- ``window`` is ``(x, y, w, h)`` in normalised frame coordinates (0..1, origin top-left), e.g.
  `DEFAULT_WINDOW`, libcamera's default AF window (middle 1/2 width x middle 1/3 height);
  ``None`` means the whole image. `window_px` converts it to pixels.

Derivative filters at the window's edge use the real neighbouring pixels (a one-pixel margin
around the window; pixels are mirrored only where the window touches the image border), so a
value depends on the window and that margin only. Every measure is a per-pixel *mean* (not a
sum), so values do not grow with the window's size.

Normalisation (comparable across exposure): a gain ``k`` on the image scales every squared
derivative by ``k**2`` and every absolute derivative by ``k``. Squared measures (`tenengrad`,
`brenner`, `lapv`, `normalised_variance`) are therefore divided by the window's mean brightness
squared, the linear one (`lapm`) by the mean brightness: all five are invariant to brightness
scaling (up to clipping and quantisation). The mean is floored at `MIN_MEAN` so a black frame
gives a finite value.

Which measure to use: first-derivative measures (Tenengrad, Brenner) are the most reliable on
photographic focal stacks (Mir, Xu & van Beek 2014; see reference/af-anchors.md §3);
Laplacian measures peak more sharply but are more noise- and JPEG-sensitive; normalised variance
is robust to noise but flat near focus. `tenengrad` is the default (`DEFAULT_MEASURE`).

`noise_sigma` estimates the image noise with Immerkær's mask (1996) and a median (robust)
estimator; `contrast_snr` and `texture_confidence` compare the window's gradient energy with the
gradient energy that noise alone would produce, so an AF engine can tell "featureless" (fail)
from "low contrast but real".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from afon.cameras.base import luma_of as luma_of  # re-exported: measures work on luma

Window = tuple[float, float, float, float]
"""(x, y, w, h) in normalised frame coordinates, 0..1, origin at the top-left corner."""

Luma = npt.NDArray[Any]
FloatImage = npt.NDArray[np.float32]
Measure = Callable[[Luma, Window | None], float]

DEFAULT_WINDOW: Window = (0.25, 1.0 / 3.0, 0.5, 1.0 / 3.0)
"""libcamera's default AF window: the middle half of the width, the middle third of the height."""

DEFAULT_MEASURE = "tenengrad"

MIN_MEAN = 1.0
"""Floor (in 0..255 luminance units) of the mean brightness used for normalisation."""

QUANTISATION_SIGMA = 1.0 / math.sqrt(12.0)
"""Noise floor of an 8-bit image: uniform rounding error, in grey levels."""

_SOBEL_NOISE_GAIN = 24.0
"""E[Gx² + Gy²] of 3x3 Sobel derivatives on unit-variance white noise (12 + 12)."""

_IMMERKAER = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
_IMMERKAER_NORM = 6.0  # sqrt(sum(mask**2)): the mask's response to unit white noise
_MAD_TO_SIGMA = 1.0 / 0.6744897501960817  # median(|N(0, 1)|) = 0.6745


# --- windows ------------------------------------------------------------------------------
def window_px(shape: tuple[int, ...], window: Window | None) -> tuple[int, int, int, int]:
    """Pixel rectangle ``(x, y, w, h)`` of a normalised window in an image of `shape` (h, w, ...).

    Edges are rounded to the nearest pixel and the result is clipped to the image and at least
    3x3 pixels (the derivative kernels' size). Raises ValueError for a window outside 0..1 or
    with no area.
    """
    height, width = int(shape[0]), int(shape[1])
    if width < 3 or height < 3:
        raise ValueError(f"image too small for a focus measure: {width}x{height} (need >= 3x3)")
    if window is None:
        return 0, 0, width, height
    x, y, w, h = (float(v) for v in window)
    tol = 1e-6
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        raise ValueError(f"window must be finite numbers, got {window!r}")
    if w <= 0 or h <= 0:
        raise ValueError(f"window must have a positive width and height, got {window!r}")
    if x < -tol or y < -tol or x + w > 1 + tol or y + h > 1 + tol:
        raise ValueError(f"window must lie inside the frame (0..1 coordinates), got {window!r}")
    x0 = min(max(round(x * width), 0), width)
    y0 = min(max(round(y * height), 0), height)
    x1 = min(max(round((x + w) * width), x0), width)
    y1 = min(max(round((y + h) * height), y0), height)
    # grow to at least 3 px per side, staying inside the image
    if x1 - x0 < 3:
        x0 = min(max(x0 - 1, 0), width - 3)
        x1 = x0 + 3
    if y1 - y0 < 3:
        y0 = min(max(y0 - 1, 0), height - 3)
        y1 = y0 + 3
    return x0, y0, x1 - x0, y1 - y0


def _as_luma(luma: Luma) -> FloatImage:
    arr = np.asarray(luma)
    if arr.ndim != 2:
        raise ValueError(f"focus measures need a 2-D luminance image, got shape {arr.shape}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    return arr


def _region(
    luma: Luma, window: Window | None, margin: int
) -> tuple[FloatImage, tuple[slice, slice], FloatImage]:
    """The window grown by `margin` real pixels (where available), the slice of the window
    inside it, and the window itself."""
    img = _as_luma(luma)
    x, y, w, h = window_px(img.shape, window)
    height, width = img.shape
    x0, y0 = max(x - margin, 0), max(y - margin, 0)
    x1, y1 = min(x + w + margin, width), min(y + h + margin, height)
    grown = img[y0:y1, x0:x1]
    inner = (slice(y - y0, y - y0 + h), slice(x - x0, x - x0 + w))
    return grown, inner, img[y : y + h, x : x + w]


def _mean(a: FloatImage) -> float:
    return float(cv2.mean(a)[0])


def _msq(a: npt.NDArray[Any]) -> float:
    """Mean of squares."""
    return float(cv2.norm(a, cv2.NORM_L2SQR)) / a.size


def _mabs(a: npt.NDArray[Any]) -> float:
    """Mean of absolute values."""
    return float(cv2.norm(a, cv2.NORM_L1)) / a.size


def _norm2(win: FloatImage) -> float:
    m = max(_mean(win), MIN_MEAN)
    return m * m


# --- measures -----------------------------------------------------------------------------
def tenengrad(luma: Luma, window: Window | None = None) -> float:
    """Tenengrad: mean of the squared 3x3 Sobel gradient magnitude (Gx² + Gy²) / mean².

    The default measure: a first-derivative measure, reliable on photographic stacks.
    """
    grown, inner, win = _region(luma, window, 1)
    gx = cv2.Sobel(grown, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)
    gy = cv2.Sobel(grown, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101)
    return (_msq(gx[inner]) + _msq(gy[inner])) / _norm2(win)


def brenner(luma: Luma, window: Window | None = None) -> float:
    """Brenner: mean squared two-pixel difference, horizontal plus vertical, / mean².

    Brenner's original sums only horizontal differences ``(I[x+2] - I[x])²``; both directions
    are used here so the measure does not ignore horizontal edges.
    """
    grown, inner, win = _region(luma, window, 1)
    dx = cv2.filter2D(
        grown,
        cv2.CV_32F,
        np.array([[-1.0, 0.0, 1.0]], np.float32),
        borderType=cv2.BORDER_REFLECT_101,
    )[inner]
    dy = cv2.filter2D(
        grown,
        cv2.CV_32F,
        np.array([[-1.0], [0.0], [1.0]], np.float32),
        borderType=cv2.BORDER_REFLECT_101,
    )[inner]
    return (_msq(dx) + _msq(dy)) / _norm2(win)


def lapv(luma: Luma, window: Window | None = None) -> float:
    """Variance of the (3x3, 4-neighbour) Laplacian / mean² (LAPV, Pech-Pacheco et al. 2000)."""
    grown, inner, win = _region(luma, window, 1)
    lap = cv2.Laplacian(grown, cv2.CV_32F, ksize=1, borderType=cv2.BORDER_REFLECT_101)[inner]
    _, std = cv2.meanStdDev(lap)
    return float(std[0, 0]) ** 2 / _norm2(win)


def lapm(luma: Luma, window: Window | None = None) -> float:
    """Modified Laplacian (LAPM, Nayar & Nakagawa 1994): mean of |Lxx| + |Lyy| / mean.

    The literature's LAPM is a *sum* over the window; the mean is used so the value does not
    depend on the window's size. |Lxx| + |Lyy| is linear in brightness, so it is divided by
    the mean brightness (not its square).
    """
    grown, inner, win = _region(luma, window, 1)
    lxx = cv2.filter2D(
        grown,
        cv2.CV_32F,
        np.array([[-1.0, 2.0, -1.0]], np.float32),
        borderType=cv2.BORDER_REFLECT_101,
    )[inner]
    lyy = cv2.filter2D(
        grown,
        cv2.CV_32F,
        np.array([[-1.0], [2.0], [-1.0]], np.float32),
        borderType=cv2.BORDER_REFLECT_101,
    )[inner]
    return (_mabs(lxx) + _mabs(lyy)) / max(_mean(win), MIN_MEAN)


def normalised_variance(luma: Luma, window: Window | None = None) -> float:
    """Grey-level variance / mean² (the squared coefficient of variation).

    The classic "normalised variance" (Groen et al. 1985) divides by the mean only, which still
    grows linearly with exposure; dividing by the mean squared makes it exposure-invariant.
    """
    win = _as_luma(luma)
    x, y, w, h = window_px(win.shape, window)
    win = win[y : y + h, x : x + w]
    mean, std = cv2.meanStdDev(win)
    m = max(float(mean[0, 0]), MIN_MEAN)
    return float(std[0, 0]) ** 2 / (m * m)


MEASURES: dict[str, Measure] = {
    "tenengrad": tenengrad,
    "brenner": brenner,
    "lapv": lapv,
    "lapm": lapm,
    "normalised_variance": normalised_variance,
}
"""Focus measures by name; `DEFAULT_MEASURE` ("tenengrad") is the default."""


def measure(name: str, luma: Luma, window: Window | None = None) -> float:
    """Evaluate the focus measure called `name` (a key of `MEASURES`)."""
    try:
        fn = MEASURES[name]
    except KeyError:
        raise ValueError(
            f"unknown focus measure {name!r}; known: {', '.join(sorted(MEASURES))}"
        ) from None
    return fn(luma, window)


# --- noise and texture --------------------------------------------------------------------
def noise_sigma(luma: Luma, window: Window | None = None) -> float:
    """Standard deviation of the image noise (grey levels), Immerkær's fast estimate.

    Immerkær (1996, "Fast noise variance estimation", CVIU 64(2)) filters the image with the
    difference of two Laplacians, ``[[1,-2,1],[-2,4,-2],[1,-2,1]]``, which cancels smooth image
    structure (up to second order) and passes white noise with gain 6. Immerkær averages the
    absolute response; here its *median* is used (``sigma = median|r| / (0.6745 * 6)``, the MAD
    estimator), which ignores the minority of pixels on edges and texture and so does not
    mistake texture for noise. The result is floored at the 8-bit quantisation noise
    (1/sqrt(12) grey levels).
    """
    grown, inner, _ = _region(luma, window, 1)
    resp = cv2.filter2D(grown, cv2.CV_32F, _IMMERKAER, borderType=cv2.BORDER_REFLECT_101)
    absr = np.abs(resp[inner]).ravel()
    if absr.size > 65536:  # a regular subsample is plenty for a median
        absr = absr[:: absr.size // 65536]
    med = float(np.median(absr))
    return max(med * _MAD_TO_SIGMA / _IMMERKAER_NORM, QUANTISATION_SIGMA)


def contrast_snr(luma: Luma, window: Window | None = None) -> float:
    """Amplitude signal-to-noise ratio of the window's gradients (0 for pure noise).

    White noise of std ``sigma`` gives a mean Sobel gradient energy of ``24 sigma²``. With
    ``E`` the window's mean Sobel energy and ``sigma`` from `noise_sigma`, this returns
    ``sqrt(max(E / (24 sigma²) - 1, 0))``: about 0 on a featureless (noise-only) window, and the
    RMS gradient of real structure in units of the noise's RMS gradient otherwise. Unlike the
    focus measures it is not brightness-normalised: noise is what it is compared with.
    """
    grown, inner, _ = _region(luma, window, 1)
    gx = cv2.Sobel(grown, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REFLECT_101)[inner]
    gy = cv2.Sobel(grown, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REFLECT_101)[inner]
    energy = _msq(gx) + _msq(gy)
    sigma = noise_sigma(luma, window)
    ratio = energy / (_SOBEL_NOISE_GAIN * sigma * sigma)
    return math.sqrt(max(ratio - 1.0, 0.0))


TEXTURE_SNR_HALF = 1.0
"""`contrast_snr` at which `texture_confidence` is 0.5."""


def texture_confidence(luma: Luma, window: Window | None = None) -> float:
    """How much real texture the window holds, 0 (noise only) .. 1 (clear texture).

    ``snr² / (snr² + TEXTURE_SNR_HALF²)`` with ``snr = contrast_snr(luma, window)``: 0.5 when
    the structure's gradient energy equals the noise's. A featureless wall gives values near 0
    (a few hundredths from estimation scatter); ordinary texture gives > 0.9.
    """
    snr = contrast_snr(luma, window)
    s2 = snr * snr
    return s2 / (s2 + TEXTURE_SNR_HALF * TEXTURE_SNR_HALF)
