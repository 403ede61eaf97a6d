"""Textures for scene layers: real photographs, user image files, flat surfaces, test patterns.

A texture reference is a string:

- ``skimage:NAME`` — one of the CC0 photographs that ship inside scikit-image
  (``skimage:astronaut``, ``skimage:chelsea``, ``skimage:gravel``…; see `SKIMAGE_NAMES`);
- ``flat:GRAY`` — a featureless surface of reflectance GRAY in 0..1 (``flat:0.5``);
- ``pattern:NAME`` — a synthetic test target: ``pattern:edge`` (black left half, white right
  half), ``pattern:checker`` (8×8 squares), ``pattern:siemens`` (a 36-spoke Siemens star);
- anything else is an image file path (PNG, JPEG, TIFF… whatever Pillow reads), relative to the
  scene file that names it. An alpha channel in the file is kept (a cut-out subject).

Textures are returned as RGBA float32 arrays in 0..1 with straight (not premultiplied) alpha.
Pixel values are taken as reflectances: the renderer multiplies them by the scene's light level.
`prepare_texture` applies a layer's options (crop, contrast, shape, physical aspect).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

RGBA = npt.NDArray[np.float32]

SKIMAGE_NAMES: tuple[str, ...] = (
    "astronaut",
    "brick",
    "camera",
    "cat",
    "checkerboard",
    "chelsea",
    "clock",
    "coffee",
    "coins",
    "colorwheel",
    "grass",
    "gravel",
    "horse",
    "hubble_deep_field",
    "immunohistochemistry",
    "logo",
    "moon",
    "page",
    "retina",
    "rocket",
    "text",
)
"""scikit-image images that are stored inside the package (no download needed)."""

PATTERN_NAMES: tuple[str, ...] = ("checker", "edge", "siemens")
SHAPES: tuple[str, ...] = ("rect", "ellipse")

MAX_TEXTURE_PX = 1024
"""Longest side of a loaded texture; larger images are reduced (area averaging) on load."""

MIN_ASPECT, MAX_ASPECT = 0.01, 100.0
"""Allowed height/width of a layer."""

_FLAT_PX = 256
"""Size of a flat texture's long side: enough for crisp card edges when magnified."""


class TextureError(ValueError):
    """A texture reference or option is invalid; the message says what is wrong."""


def load_texture(ref: str, base_dir: str | Path | None = None) -> RGBA:
    """Load the texture named by `ref` (see the module docstring) as read-only RGBA float32.

    Relative file paths are resolved against `base_dir` (the scene file's folder).
    Raises `TextureError` with a message for the user when the reference cannot be resolved.
    """
    ref = ref.strip()
    if ref.startswith("skimage:"):
        return _skimage_texture(ref.removeprefix("skimage:").strip())
    if ref.startswith("flat:"):
        text = ref.removeprefix("flat:").strip()
        try:
            gray = float(text)
        except ValueError:
            raise TextureError(f"flat texture needs a gray level in 0..1, got {text!r}") from None
        if not (math.isfinite(gray) and 0.0 <= gray <= 1.0):
            raise TextureError(f"flat gray level must be within 0..1, got {text}")
        return _flat_texture(gray)
    if ref.startswith("pattern:"):
        return _pattern_texture(ref.removeprefix("pattern:").strip())
    if not ref:
        raise TextureError("texture reference is empty")
    try:
        path = Path(ref).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = Path(base_dir) / path
        path = path.resolve()
        if not path.is_file():
            what = "is not a file" if path.exists() else "not found"
            raise TextureError(f"image file {what}: {path}")
        mtime_ns = path.stat().st_mtime_ns
    except (OSError, ValueError, RuntimeError) as exc:
        if isinstance(exc, TextureError):
            raise
        shown = ref if len(ref) <= 80 else ref[:77] + "..."
        raise TextureError(f"not a usable image file path {shown!r}: {exc}") from None
    return _file_texture(str(path), mtime_ns)


def _readonly(a: RGBA) -> RGBA:
    a.setflags(write=False)
    return a


def to_rgba(image: npt.NDArray[np.generic]) -> RGBA:
    """Any gray/RGB/RGBA image (uint8, uint16, bool or float in 0..1) as RGBA float32."""
    img = np.asarray(image)
    if img.dtype == np.bool_:
        f = img.astype(np.float32)
    elif img.dtype == np.uint8:
        f = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        f = img.astype(np.float32) / 65535.0
    elif np.issubdtype(img.dtype, np.integer):
        top = float(img.max()) if img.size else 1.0
        f = img.astype(np.float32) / (top if top > 0 else 1.0)
    else:
        f = np.clip(img.astype(np.float32), 0.0, 1.0)
    if f.ndim == 2:
        f = f[..., None]
    if f.ndim != 3 or f.shape[2] not in (1, 2, 3, 4) or f.shape[0] < 1 or f.shape[1] < 1:
        raise TextureError(f"unsupported image shape {img.shape}")
    h, w, c = f.shape
    out = np.ones((h, w, 4), np.float32)
    if c in (1, 2):
        out[..., :3] = f[..., :1]
        if c == 2:
            out[..., 3] = f[..., 1]
    else:
        out[..., :3] = f[..., :3]
        if c == 4:
            out[..., 3] = f[..., 3]
    return _limit_size(out)


def _limit_size(img: RGBA) -> RGBA:
    h, w = img.shape[:2]
    if max(h, w) <= MAX_TEXTURE_PX:
        return np.ascontiguousarray(img)
    s = MAX_TEXTURE_PX / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    # premultiply so that transparent pixels do not bleed their colour into the edges
    pm = img.copy()
    pm[..., :3] *= pm[..., 3:4]
    small = cv2.resize(pm, size, interpolation=cv2.INTER_AREA)
    a = small[..., 3:4]
    small[..., :3] = np.where(a > 1e-6, small[..., :3] / np.maximum(a, 1e-6), 0.0)
    return np.clip(small, 0.0, 1.0).astype(np.float32)


@functools.lru_cache(maxsize=32)
def _skimage_texture(name: str) -> RGBA:
    if name not in SKIMAGE_NAMES:
        raise TextureError(
            f"unknown scikit-image picture {name!r}; known: {', '.join(SKIMAGE_NAMES)}"
        )
    import skimage.data

    image = getattr(skimage.data, name)()
    return _readonly(to_rgba(image))


@functools.lru_cache(maxsize=32)
def _file_texture(path: str, mtime_ns: int) -> RGBA:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            opened.load()
            im: Image.Image = opened
            if im.mode not in ("L", "LA", "RGB", "RGBA"):
                im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
            arr = np.asarray(im)
    except UnidentifiedImageError:
        raise TextureError(f"not an image file Pillow can read: {path}") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise TextureError(f"cannot read image file {path}: {exc}") from None
    return _readonly(to_rgba(arr))


@functools.lru_cache(maxsize=32)
def _flat_texture(gray: float) -> RGBA:
    out = np.full((_FLAT_PX, _FLAT_PX, 4), gray, np.float32)
    out[..., 3] = 1.0
    return _readonly(out)


@functools.lru_cache(maxsize=8)
def _pattern_texture(name: str) -> RGBA:
    n = 512
    if name == "edge":
        g = np.zeros((n, n), np.float32)
        g[:, n // 2 :] = 1.0
    elif name == "checker":
        idx = np.arange(n) // (n // 8)
        g = ((idx[:, None] + idx[None, :]) % 2).astype(np.float32)
    elif name == "siemens":
        # 36 black/white spokes, area-sampled (4×4 per pixel) so the edges are not jagged
        sub = 4
        c = (np.arange(n * sub) + 0.5) / sub - n / 2
        yy, xx = np.meshgrid(c, c, indexing="ij")
        spokes = (np.floor(np.arctan2(yy, xx) / (2 * np.pi) * 36) % 2).astype(np.float32)
        g = spokes.reshape(n, sub, n, sub).mean(axis=(1, 3))
    else:
        raise TextureError(f"unknown pattern {name!r}; known: {', '.join(PATTERN_NAMES)}")
    out = np.ones((n, n, 4), np.float32)
    out[..., :3] = g[..., None]
    return _readonly(out)


def prepare_texture(
    texture: RGBA,
    *,
    crop: tuple[float, float, float, float] | None = None,
    contrast: float = 1.0,
    shape: str = "rect",
    aspect: float | None = None,
    opaque: bool = False,
) -> RGBA:
    """Apply a layer's texture options and return a new RGBA float32 array.

    `crop` is (x0, y0, x1, y1) in fractions of the image; `contrast` scales deviations from
    the mean luminance (1 = unchanged, 0 = flat); `shape` "ellipse" gives the layer an
    elliptical outline (anti-aliased alpha); `aspect` (height/width) resamples the picture to
    a physical aspect ratio so that texture pixels are square in metres; `opaque` forces
    alpha to 1.
    """
    img = np.asarray(texture, np.float32)
    h, w = img.shape[:2]
    if crop is not None:
        x0, y0, x1, y1 = crop
        if not (0.0 <= x0 < x1 <= 1.0 and 0.0 <= y0 < y1 <= 1.0):
            raise TextureError(
                f"crop must be [x0, y0, x1, y1] with 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1, "
                f"got {list(crop)}"
            )
        c0, c1 = round(x0 * w), max(round(x0 * w) + 1, round(x1 * w))
        r0, r1 = round(y0 * h), max(round(y0 * h) + 1, round(y1 * h))
        img = img[r0:r1, c0:c1]
    img = img.copy()
    if contrast != 1.0:
        if not (math.isfinite(contrast) and contrast >= 0.0):
            raise TextureError(f"contrast must be >= 0, got {contrast}")
        luma = img[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        weight = img[..., 3]
        mean = float((luma * weight).sum() / max(float(weight.sum()), 1e-6))
        img[..., :3] = np.clip(mean + contrast * (img[..., :3] - mean), 0.0, 1.0)
    if aspect is not None:
        h, w = img.shape[:2]
        if not (math.isfinite(aspect) and aspect > 0):
            raise TextureError(f"aspect must be > 0, got {aspect}")
        cur = h / w
        if abs(cur / aspect - 1.0) > 1e-3:
            # stretch both axes by the square root of the change: same pixel count
            if not MIN_ASPECT <= aspect <= MAX_ASPECT:
                raise TextureError(
                    f"height/width must be within {MIN_ASPECT:g}..{MAX_ASPECT:g}, got {aspect:g}"
                )
            k = math.sqrt(aspect / cur)
            nw, nh = w / k, h * k
            shrink = min(1.0, MAX_TEXTURE_PX / max(nw, nh))
            size = (max(1, round(nw * shrink)), max(1, round(nh * shrink)))
            img = np.asarray(cv2.resize(img, size, interpolation=cv2.INTER_LINEAR), np.float32)
    if shape == "ellipse":
        img[..., 3] *= _ellipse_alpha(img.shape[0], img.shape[1])
    elif shape != "rect":
        raise TextureError(f"shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    if opaque:
        img[..., 3] = 1.0
    return np.ascontiguousarray(img, dtype=np.float32)


def _ellipse_alpha(h: int, w: int) -> npt.NDArray[np.float32]:
    """Coverage of the inscribed ellipse, with a one-pixel anti-aliased rim."""
    yy = (np.arange(h, dtype=np.float32) + 0.5 - h / 2) / (h / 2)
    xx = (np.arange(w, dtype=np.float32) + 0.5 - w / 2) / (w / 2)
    r = np.sqrt(yy[:, None] ** 2 + xx[None, :] ** 2)
    # distance to the rim in pixels (approximately), positive inside
    px = (1.0 - r) * (min(h, w) / 2)
    return np.clip(px + 0.5, 0.0, 1.0).astype(np.float32)


# --- detail beyond a photo's resolution ----------------------------------------------------
DETAIL_SUB = 16
"""Detail texels per photo texel: synthesized detail reaches 1/16 of a photo texel."""
DETAIL_OCTAVES = 4
"""Octaves synthesized below the photo's resolution (periods 2 photo texels down to 1/8)."""
DETAIL_TILE_PX = 512
"""Side of the periodic detail tile (32 photo texels)."""


def one_over_f_tile(seed: int, size_px: int, period_min: float, period_max: float) -> RGBA:
    """A periodic tile of 1/f noise between two periods (in tile texels), RMS 1 per octave.

    Natural images have an amplitude spectrum close to 1/f (Field 1987; van der Schaaf & van
    Hateren 1996): equal contrast in every octave. The tile is Gaussian noise shaped to 1/f
    between 1/`period_max` and 1/`period_min` cycles per texel (half-octave smooth steps at
    both ends), scaled to an RMS of √octaves. Periodic by construction (made in the Fourier
    domain), so it tiles without seams; deterministic in `seed`. Float32, mean 0.
    """
    rng = np.random.default_rng([abs(int(seed)), 0xD7A1])
    white = rng.standard_normal((size_px, size_px))
    fy = np.fft.fftfreq(size_px)[:, None]
    fx = np.fft.rfftfreq(size_px)[None, :]
    f = np.maximum(np.hypot(fx, fy), 1e-12)

    def step(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        c = np.clip(x / 0.5 + 0.5, 0.0, 1.0)
        return c * c * (3.0 - 2.0 * c)

    lo = step(np.log2(f * period_max))
    hi = step(-np.log2(f * period_min)) if period_min > 2.0 else 1.0
    amp = np.where(np.hypot(fx, fy) > 0, lo * hi / f, 0.0)
    tile = np.fft.irfft2(np.fft.rfft2(white) * amp, s=(size_px, size_px))
    tile -= tile.mean()
    octaves = math.log2(period_max / period_min)
    tile *= math.sqrt(octaves) / max(float(tile.std()), 1e-12)
    return tile.astype(np.float32)


def detail_tile(seed: int) -> RGBA:
    """The `DETAIL_OCTAVES` octaves finer than a photo texel: periods 2 to 2·DETAIL_SUB tile
    texels (a photo texel is DETAIL_SUB tile texels)."""
    return one_over_f_tile(seed, DETAIL_TILE_PX, 2.0, 2.0 * DETAIL_SUB)


MACRO_SUB = 2
"""Macro-field texels per copy of a tiled photo."""


def macro_tile(seed: int) -> RGBA:
    """The variation above a tiled photo's size: periods of 2 to 256 copies of the photo (a
    copy is MACRO_SUB tile texels). A field of grass or gravel is not the same patch repeated:
    at a distance, where one copy is a few pixels, this is the structure the camera sees. The
    tile spans 256 copies (64 m of a 0.25 m gravel photo)."""
    return one_over_f_tile(seed, DETAIL_TILE_PX, 2.0 * MACRO_SUB, float(DETAIL_TILE_PX))


def fine_contrast(texture: RGBA) -> float:
    """Relative RMS contrast of a texture's finest octave (Laplacian band / mean luminance)."""
    img = np.asarray(texture, np.float32)
    h, w = img.shape[:2]
    if min(h, w) < 4:
        return 0.0
    luma = img[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    half = cv2.resize(luma, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    band = luma - cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
    return float(band.std() / max(float(luma.mean()), 0.05))


def has_photo_detail(ref: str) -> bool:
    """Whether a texture is a photograph whose detail continues below its texels (skimage and
    image files); flat surfaces and test patterns are exact as they are."""
    ref = ref.strip()
    return bool(ref) and not ref.startswith(("flat:", "pattern:"))


def detail_modulation(texture: RGBA, sigma_texels: float = 3.0) -> npt.NDArray[np.float32]:
    """Relative contrast of a texture's finest octave, locally (H×W float32).

    The finest octave is the texture minus its half-resolution copy (a Laplacian-pyramid
    band); its local RMS over the local mean luminance (Gaussian windows of `sigma_texels`) is
    the contrast each synthesized octave continues with: busy regions get busy detail, smooth
    ones (skin, sky) stay smooth. Clipped to 0..0.12; zero where the texture is transparent.
    """
    img = np.asarray(texture, np.float32)
    h, w = img.shape[:2]
    luma = img[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    alpha = img[..., 3]
    if min(h, w) < 4:
        return np.zeros((h, w), np.float32)
    half = cv2.resize(luma, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA)
    band = luma - cv2.resize(half, (w, h), interpolation=cv2.INTER_LINEAR)
    energy = cv2.GaussianBlur(band * band, (0, 0), sigma_texels)
    mean = cv2.GaussianBlur(luma, (0, 0), sigma_texels)
    m = np.sqrt(np.maximum(energy, 0.0)) / np.maximum(mean, 0.05)
    return np.asarray(np.clip(m, 0.0, 0.12) * (alpha > 0.5), np.float32)
