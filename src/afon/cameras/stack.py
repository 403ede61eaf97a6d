"""StackCamera: a camera that replays a real focal stack.

A focal stack is a folder of photographs of one scene, each focused at a different distance,
in focus order (file names sorted naturally, so ``img2`` comes before ``img10``; zero-padded
names sort the same either way). Accepted: .jpg/.jpeg/.png/.tif/.tiff in any letter case.

Lens position -> image
    Slice ``i`` of ``n`` sits at lens position ``lo + i * (hi - lo) / (n - 1)`` dioptres, where
    ``(lo, hi)`` is `lens_range_d` (default `DEFAULT_LENS_RANGE_D`, 0-12 D, the Camera Module
    3-like phone range; the stack's real spacing is unknown, so the slices are spread evenly and
    the user may set the range). A lens exactly on a slice's position gives that photograph; a
    lens between two slices gives the linear cross-fade of the two neighbours, weighted by the
    distance to each. Cross-fading keeps the focus curve continuous in lens position, which a
    search that fits a parabola to the curve needs; outside the range the end slices are used.
    Which way the stack runs (near-to-far or far-to-near) is the folder's business: slice 0 is
    always at ``lo``.

Motor and timing (as SimCamera)
    A `LensMotor` moves the lens (default `stack_motor_spec`: a voice-coil-like motor that
    crosses the whole range in 40 ms, settles for 10 ms and has 8 steps per slice interval).
    Preview frame ``k`` is exposed from ``t0 + k / frame_rate_hz`` for ``exposure_s`` and is
    ready ``readout_s`` after its exposure ends; `next_frame` waits on the clock for it, and a
    late caller skips to the latest frame already read out (the skipped ones are dropped;
    indices keep counting time). Frames record the lens position at the start and end of their
    exposure; a lens that moves during an exposure gives a frame that is the mean of the
    images at `MOTION_SAMPLES` lens positions sampled across the exposure. Lens positions are
    looked up in a history of motor commands, so a move commanded while a frame was already
    exposing affects only the part of the exposure after the command.

Stills
    `capture_still` exposes from ``max(release_s, now) + release_lag_s`` for `still_exposure_s`,
    waits on the clock until the exposure has ended (preview frames exposed meanwhile are
    blacked out and never delivered), and returns the cross-fade of the *full-resolution*
    originals (decoded lazily, a few kept in a cache).

Images
    Preview images are decoded once (JPEGs at 1/2, 1/4 or 1/8 size when that still covers the
    preview: the decoder does that scaling almost for free), scaled so they cover `preview_px`
    (aspect kept) and centre-cropped to it, and cached as uint8 RGB. EXIF orientation is
    ignored: pixels are used as stored, the same for every slice. Slices whose size differs
    from the first slice's (a stack may breathe, or be re-saved) are scaled to cover the first
    slice's size and centre-cropped to it; each such case is logged and listed in
    `StackCamera.warnings` and in the capabilities' notes.
"""

from __future__ import annotations

import bisect
import copy
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from afon.cameras.base import Capabilities, Frame, Image, Still
from afon.cameras.frame_schedule import FrameSchedule
from afon.cameras.sim.motor import LensMotor, MotorSpec
from afon.clock import Clock, VirtualClock
from afon.errors import CameraError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".tif", ".tiff"})
DEFAULT_LENS_RANGE_D = (0.0, 12.0)
"""Default lens range over which the slices are spread: 0-12 D as the Camera Module 3."""

MOTION_SAMPLES = 16
"""Lens positions (at the midpoints of equal parts of the exposure) averaged into a frame
exposed while the lens moves."""

HISTORY_S = 10.0
"""How far back (seconds) lens positions can be looked up."""

_STILL_CACHE = 3


class StackError(CameraError):
    """A focal-stack folder or one of its images cannot be used."""


# --- helpers --------------------------------------------------------------------------------
def _natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    parts = re.split(r"(\d+)", name.lower())
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in parts if p != "")


def stack_files(path: str | Path) -> list[Path]:
    """The image files of a focal-stack folder in focus order (natural sort of file names).

    Raises `StackError` if the folder is missing, is not a folder, or holds fewer than 2 images.
    """
    folder = Path(path)
    if not folder.exists():
        raise StackError(f"focal stack folder not found: {folder}")
    if not folder.is_dir():
        raise StackError(f"focal stack must be a folder of images, got a file: {folder}")
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    files.sort(key=lambda p: (_natural_key(p.name), p.name))
    if len(files) < 2:
        kinds = ", ".join(sorted(IMAGE_SUFFIXES))
        raise StackError(
            f"focal stack {folder} needs at least 2 images ({kinds}), found {len(files)}"
        )
    return files


def stack_motor_spec(lens_range_d: tuple[float, float], n_slices: int) -> MotorSpec:
    """StackCamera's default motor: VCM-like, full range in 40 ms, 10 ms settle.

    Top speed ``span / 30 ms`` and acceleration ``top speed / 10 ms`` give a rest-to-rest move
    over the whole range of ``30 ms + 10 ms = 40 ms`` (a phone VCM's full travel, af-anchors.md
    §5.2). Steps are 1/8 of the slice spacing, so every slice position lies on the step grid.
    """
    lo, hi = lens_range_d
    span = hi - lo
    if span <= 0:
        raise ValueError(f"lens range must satisfy lo < hi, got {lens_range_d}")
    if n_slices < 2:
        raise ValueError(f"a stack needs at least 2 slices, got {n_slices}")
    speed = span / 0.030
    return MotorSpec(
        kind="vcm",
        min_d=lo,
        max_d=hi,
        max_speed_d_per_s=speed,
        accel_d_per_s2=speed / 0.010,
        backlash_d=0.0,
        step_d=span / ((n_slices - 1) * 8),
        settle_s=0.010,
    )


def _read_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as stored, from its header."""
    try:
        with PILImage.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise StackError(f"cannot read image {path}: {exc}") from None


def _decode(path: Path, reduce: int = 1) -> Image:
    """Decode an image as uint8 RGB, optionally at 1/2, 1/4 or 1/8 size (JPEG DCT scaling)."""
    flags = {
        1: cv2.IMREAD_COLOR,
        2: cv2.IMREAD_REDUCED_COLOR_2,
        4: cv2.IMREAD_REDUCED_COLOR_4,
        8: cv2.IMREAD_REDUCED_COLOR_8,
    }[reduce] | cv2.IMREAD_IGNORE_ORIENTATION
    try:
        data = np.frombuffer(path.read_bytes(), np.uint8)
    except OSError as exc:
        raise StackError(f"cannot read image {path}: {exc}") from None
    bgr = cv2.imdecode(data, flags) if data.size else None
    if bgr is None or bgr.ndim != 3 or bgr.size == 0:
        raise StackError(f"cannot decode image {path} (corrupt or unsupported file)")
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    return np.asarray(rgb, dtype=np.uint8)


def _cover(image: Image, size_px: tuple[int, int]) -> Image:
    """Scale `image` so it covers `size_px` (w, h), keeping its aspect, and centre-crop it."""
    width, height = size_px
    h0, w0 = image.shape[:2]
    if (w0, h0) == (width, height):
        return image
    scale = max(width / w0, height / h0)
    w1 = max(width, math.ceil(w0 * scale - 1e-9))
    h1 = max(height, math.ceil(h0 * scale - 1e-9))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (w1, h1), interpolation=interp)
    x0 = (w1 - width) // 2
    y0 = (h1 - height) // 2
    out: Image = np.ascontiguousarray(resized[y0 : y0 + height, x0 : x0 + width])
    return out


class _Images(Protocol):
    def __getitem__(self, index: int, /) -> Image: ...


def _blend(weights: Mapping[int, float], image_of: _Images | npt.NDArray[np.uint8]) -> Image:
    """Weighted sum of slice images, rounded to uint8 (one weight: the image itself, copied)."""
    items = [(i, w) for i, w in sorted(weights.items()) if w > 0]
    if len(items) == 1:
        return np.array(image_of[items[0][0]], dtype=np.uint8, copy=True)
    acc: npt.NDArray[np.float32] | None = None
    for i, w in items:
        term = image_of[i].astype(np.float32) * np.float32(w)
        acc = term if acc is None else acc + term
    assert acc is not None
    out: Image = np.clip(np.rint(acc), 0, 255).astype(np.uint8)
    return out


class _FullImages:
    """Lazily decoded full-resolution slices (all at the first slice's size), LRU-cached."""

    def __init__(self, files: Sequence[Path], size_px: tuple[int, int]) -> None:
        self._files = list(files)
        self._size_px = size_px
        self._cache: OrderedDict[int, Image] = OrderedDict()

    def __getitem__(self, i: int) -> Image:
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        img = _cover(_decode(self._files[i]), self._size_px)
        img.setflags(write=False)
        self._cache[i] = img
        while len(self._cache) > _STILL_CACHE:
            self._cache.popitem(last=False)
        return img

    def clear(self) -> None:
        self._cache.clear()


class _LensHistory:
    """Motor states by command time, so positions during past exposures stay right."""

    def __init__(self, motor: LensMotor) -> None:
        self._times: list[float] = [-math.inf]
        self._motors: list[LensMotor] = [motor]

    @property
    def latest(self) -> LensMotor:
        return self._motors[-1]

    def command(self, target_d: float, t_s: float) -> float:
        if t_s < self._times[-1]:
            raise CameraError(
                f"lens commanded at {t_s:.6f} s, before the previous command at "
                f"{self._times[-1]:.6f} s: the clock went backwards"
            )
        motor = copy.deepcopy(self._motors[-1])
        reached = motor.command(target_d, t_s)
        self._times.append(t_s)
        self._motors.append(motor)
        # forget states that no lookup within HISTORY_S can need any more
        while len(self._times) > 1 and self._times[1] <= t_s - HISTORY_S:
            del self._times[0]
            del self._motors[0]
        return reached

    def at(self, t_s: float) -> LensMotor:
        idx = max(bisect.bisect_right(self._times, t_s) - 1, 0)
        return self._motors[idx]

    def position_d(self, t_s: float) -> float:
        return self.at(t_s).position_d(t_s)

    def is_moving(self, t_s: float) -> bool:
        return self.at(t_s).is_moving(t_s)


# --- the camera -----------------------------------------------------------------------------
class StackCamera:
    """A camera that replays a real focal stack (see the module docstring for the model)."""

    clock: Clock

    def __init__(
        self,
        path: str | Path,
        *,
        clock: Clock | None = None,
        preview_px: tuple[int, int] = (640, 480),
        lens_range_d: tuple[float, float] | None = None,
        motor: MotorSpec | None = None,
        frame_rate_hz: float = 30.0,
        exposure_s: float = 1.0 / 60.0,
        readout_s: float = 0.008,
        release_lag_s: float = 0.05,
        still_exposure_s: float | None = None,
        start_d: float | None = None,
    ) -> None:
        if len(preview_px) != 2 or any(
            not isinstance(v, int | np.integer) or v < 3 for v in preview_px
        ):
            raise ValueError(f"preview_px must be two integers >= 3 (w, h), got {preview_px!r}")
        if not (math.isfinite(frame_rate_hz) and frame_rate_hz > 0):
            raise ValueError(f"frame_rate_hz must be > 0, got {frame_rate_hz}")
        if not 0 < exposure_s <= 1.0 / frame_rate_hz + 1e-12:
            raise ValueError(
                f"exposure_s must be > 0 and <= one frame period ({1.0 / frame_rate_hz:g} s), "
                f"got {exposure_s}"
            )
        if readout_s < 0 or release_lag_s < 0:
            raise ValueError("readout_s and release_lag_s must be >= 0")
        if still_exposure_s is not None and still_exposure_s <= 0:
            raise ValueError(f"still_exposure_s must be > 0, got {still_exposure_s}")

        self.path = Path(path)
        self.files: tuple[Path, ...] = tuple(stack_files(self.path))
        n = len(self.files)
        if lens_range_d is None:
            lens_range_d = (motor.min_d, motor.max_d) if motor else DEFAULT_LENS_RANGE_D
        lo, hi = float(lens_range_d[0]), float(lens_range_d[1])
        if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi):
            raise ValueError(f"lens_range_d must satisfy 0 <= lo < hi, got {lens_range_d}")
        self.lens_range_d = (lo, hi)
        self.motor_spec = motor if motor is not None else stack_motor_spec(self.lens_range_d, n)

        self.clock = clock if clock is not None else VirtualClock()
        self.preview_px = (int(preview_px[0]), int(preview_px[1]))
        self.frame_rate_hz = float(frame_rate_hz)
        self.exposure_s = float(exposure_s)
        self.readout_s = float(readout_s)
        self.release_lag_s = float(release_lag_s)
        self.still_exposure_s = float(still_exposure_s if still_exposure_s else exposure_s)

        self.warnings: list[str] = []
        self.full_size_px, self._previews = self._load_previews()
        self._full = _FullImages(self.files, self.full_size_px)

        start = lo if start_d is None else float(start_d)
        self._lens = _LensHistory(LensMotor(self.motor_spec, start))
        self.schedule = FrameSchedule(
            self.clock.now_s(), self.frame_rate_hz, self.exposure_s, self.readout_s
        )
        self._closed = False

    # --- loading ------------------------------------------------------------------------
    def _load_previews(self) -> tuple[tuple[int, int], npt.NDArray[np.uint8]]:
        pw, ph = self.preview_px
        sizes = [_read_size(f) for f in self.files]
        first = sizes[0]
        for f, size in zip(self.files[1:], sizes[1:], strict=True):
            if size != first:
                msg = (
                    f"{f.name} is {size[0]}x{size[1]}, the stack's first image is "
                    f"{first[0]}x{first[1]}: scaled to cover it and centre-cropped"
                )
                log.warning("%s: %s", self.path, msg)
                self.warnings.append(msg)
        previews = np.empty((len(self.files), ph, pw, 3), np.uint8)
        for i, (f, (w, h)) in enumerate(zip(self.files, sizes, strict=True)):
            reduce = 1  # JPEG decoders scale by 1/2, 1/4, 1/8 almost for free
            if f.suffix.lower() in {".jpg", ".jpeg"}:
                for r in (8, 4, 2):
                    if w // r >= pw and h // r >= ph:
                        reduce = r
                        break
            img = _decode(f, reduce)
            if (w, h) != first:
                # geometry of the first slice first, then down to the preview
                img = _cover(img, (max(1, first[0] // reduce), max(1, first[1] // reduce)))
            previews[i] = _cover(img, self.preview_px)
        previews.setflags(write=False)
        return first, previews

    # --- stack geometry -----------------------------------------------------------------
    @property
    def n_slices(self) -> int:
        return len(self.files)

    def slice_position_d(self, index: int) -> float:
        """Lens position (dioptres) at which slice `index` is rendered exactly."""
        n = self.n_slices
        if not 0 <= index < n:
            raise IndexError(f"slice index {index} out of range 0..{n - 1}")
        lo, hi = self.lens_range_d
        return lo + index * (hi - lo) / (n - 1)

    def slice_position(self, focus_d: float) -> float:
        """Fractional slice index for lens position `focus_d`, clamped to 0..n-1.

        Values within 1e-9 of an integer snap to it, so a lens on a slice's position (up to
        floating-point rounding of the motor's step grid) renders exactly that slice.
        """
        lo, hi = self.lens_range_d
        frac = (focus_d - lo) / (hi - lo) * (self.n_slices - 1)
        frac = min(max(frac, 0.0), float(self.n_slices - 1))
        nearest = math.floor(frac + 0.5)
        return float(nearest) if abs(frac - nearest) < 1e-9 else frac

    def nearest_slice(self, focus_d: float) -> int:
        """Index of the slice whose position is nearest to `focus_d` (ties go to the higher)."""
        return math.floor(self.slice_position(focus_d) + 0.5)

    def _weights(self, positions_d: Sequence[float]) -> dict[int, float]:
        weights: dict[int, float] = {}
        share = 1.0 / len(positions_d)
        for p in positions_d:
            frac = self.slice_position(p)
            i = math.floor(frac)
            a = frac - i
            if a <= 0.0:
                weights[i] = weights.get(i, 0.0) + share
            else:
                weights[i] = weights.get(i, 0.0) + share * (1.0 - a)
                weights[i + 1] = weights.get(i + 1, 0.0) + share * a
        return weights

    @staticmethod
    def _centroid(weights: Mapping[int, float]) -> float:
        total = sum(weights.values())
        return sum(i * w for i, w in weights.items()) / total

    def slice_image(self, index: int) -> Image:
        """Preview-size image of slice `index` (a copy)."""
        self._check_open()
        self.slice_position_d(index)  # range check
        return np.array(self._previews[index], copy=True)

    def preview_at(self, focus_d: float) -> Image:
        """The preview image for a lens standing still at `focus_d` (no timing involved)."""
        self._check_open()
        return _blend(self._weights([focus_d]), self._previews)

    def still_at(self, focus_d: float) -> Image:
        """The full-resolution image for a lens standing still at `focus_d`."""
        self._check_open()
        return _blend(self._weights([focus_d]), self._full)

    # --- capabilities -------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        lo, hi = self.lens_range_d
        notes = (
            "replays a focal stack: no phase-detect data (photographs carry no left/right "
            "sub-aperture images), so only contrast AF can run",
            f"{self.n_slices} slices from {self.path} spread evenly over {lo:g}-{hi:g} D; "
            "between slices the two neighbours are cross-faded",
            *self.warnings,
        )
        return Capabilities(
            lens_drive=True,
            phase_detect=False,
            still_capture=True,
            live_view=True,
            hardware_af=False,
            lens_range_d=self.lens_range_d,
            frame_rate_hz=self.frame_rate_hz,
            notes=notes,
        )

    # --- frames -------------------------------------------------------------------------
    def _sample_times(self, start_s: float, end_s: float) -> list[float]:
        k = MOTION_SAMPLES
        return [start_s + (end_s - start_s) * (j + 0.5) / k for j in range(k)]

    def _expose(self, start_s: float, end_s: float) -> tuple[float, float, bool, dict[int, float]]:
        """Lens start/end, moving flag and slice weights of an exposure."""
        lens_start = self._lens.position_d(start_s)
        lens_end = self._lens.position_d(end_s)
        times = self._sample_times(start_s, end_s)
        positions = [self._lens.position_d(t) for t in times]
        moving = (
            self._lens.is_moving(start_s)
            or self._lens.is_moving(end_s)
            or any(self._lens.is_moving(t) for t in times)
        )
        all_pos = [lens_start, lens_end, *positions]
        if max(all_pos) - min(all_pos) <= 1e-12:
            positions = [lens_start]
        return lens_start, lens_end, moving, self._weights(positions)

    def next_frame_ready_s(self) -> float:
        """When `next_frame` would return (if called now)."""
        return self.schedule.next_ready_s(self.clock.now_s())

    def next_frame(self, phase: bool = False) -> Frame:
        """Wait until the next preview frame is read out and return it.

        A late caller gets the latest frame already read out; the frames skipped are dropped
        (``meta["dropped"]`` counts them, together with frames blacked out by a still).
        `phase` is accepted for the protocol: a focal stack has no phase data (phase=None).
        """
        self._check_open()
        wanted = self.schedule.next_index
        n = self.schedule.take(self.clock.now_s())
        self.clock.sleep_until(self.schedule.ready_s(n))
        start_s = self.schedule.exposure_start_s(n)
        end_s = start_s + self.exposure_s
        lens_start, lens_end, moving, weights = self._expose(start_s, end_s)
        centroid = self._centroid(weights)
        return Frame(
            index=n,
            image=_blend(weights, self._previews),
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            ready_s=self.schedule.ready_s(n),
            lens_start_d=lens_start,
            lens_end_d=lens_end,
            lens_moving=moving,
            phase=None,
            meta={
                "slice": math.floor(centroid + 0.5),
                "slice_position": centroid,
                "dropped": n - wanted,
            },
        )

    # --- lens ---------------------------------------------------------------------------
    @property
    def motor(self) -> LensMotor:
        """The motor's current state (read it; drive the lens with `move_lens`)."""
        return self._lens.latest

    def move_lens(self, target_d: float) -> float:
        """Start moving the lens to `target_d` now; return the (clamped, quantised) target."""
        self._check_open()
        return self._lens.command(target_d, self.clock.now_s())

    def lens_position_d(self) -> float:
        return self._lens.position_d(self.clock.now_s())

    def lens_position_at(self, t_s: float) -> float:
        """Lens position at time `t_s` (past times within `HISTORY_S`, or planned future)."""
        return self._lens.position_d(t_s)

    def lens_moving(self) -> bool:
        return self._lens.is_moving(self.clock.now_s())

    # --- stills -------------------------------------------------------------------------
    def capture_still(self, release_s: float, render: bool = True) -> Still:
        """Release at `release_s`: expose after the release lag; return once exposed.

        ``meta``: ``slice`` (nearest slice index), ``slice_position`` (fractional index, the
        weighted mean over the exposure) and ``file`` (the nearest slice's file name).
        """
        self._check_open()
        start_s = max(release_s, self.clock.now_s()) + self.release_lag_s
        end_s = start_s + self.still_exposure_s
        self.clock.sleep_until(end_s)
        self.schedule.black_out_until(end_s)
        lens_start, lens_end, moving, weights = self._expose(start_s, end_s)
        centroid = self._centroid(weights)
        nearest = math.floor(centroid + 0.5)
        return Still(
            image=_blend(weights, self._full) if render else None,
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            lens_start_d=lens_start,
            lens_end_d=lens_end,
            meta={
                "slice": nearest,
                "slice_position": centroid,
                "file": self.files[nearest].name,
                "lens_moving": moving,
            },
        )

    # --- lifecycle ----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise CameraError(f"StackCamera({self.path}) is closed")

    def close(self) -> None:
        """Drop the cached full-resolution images; the camera cannot be used afterwards."""
        self._closed = True
        self._full.clear()

    def __enter__(self) -> StackCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
