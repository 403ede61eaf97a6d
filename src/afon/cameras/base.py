"""The camera interface every backend implements, and the data it produces.

A camera delivers preview `Frame`s one at a time (`next_frame` waits, on the camera's clock,
until the frame's statistics reach the AF engine: readout plus the pipeline's latency), drives
its lens when the host can (`move_lens`), and captures stills (`capture_still`). Each backend
declares what it can do in `Capabilities`.

A still can be taken in two phases (`begin_still`): the release is sent and the call returns
a `PendingStill` at once; the exposure starts after the camera's release lag and ends at
`PendingStill.due_s`, and `finish()` (waiting on the camera's clock until then) returns the
`Still`. Meanwhile the body goes on: controls, AF and live view until the exposure starts. A
camera whose API only has one blocking capture (gphoto2, Picamera2, V4L2 here) gets the
default of `begin_still`: the blocking `capture_still` at once, returned already finished.

Everything here is what a camera *reports*: the lens positions in a `Frame` or `Still` are the
ones the hardware reports for that exposure (the commanded DAC value for a voice-coil motor
without position sensing, the encoder reading for a lens that has one), never the true optical
position. The truth (true lens position, subject distance, in-focus verdicts) is known only to
a simulated camera, which hands it out through a separate channel (`SimCamera.truth_of`) for
the benchmark's judge, the trainer's scorer and tests; the body and the focus engine never see
it (an import-linter contract keeps `afon.focus` and `afon.body` away from `afon.cameras.sim`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from afon.clock import Clock

Image = npt.NDArray[np.uint8]


def luma_of(image: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Rec. 601 luminance (0..255 float32) of an RGB or grey image."""
    arr = np.asarray(image)
    if arr.ndim == 2:
        return arr.astype(np.float32)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise ValueError(f"expected an RGB or grey image, got shape {arr.shape}")
    # OpenCV's float RGB->grey uses the same coefficients (0.299, 0.587, 0.114) in float32
    # and is SIMD: about 10x faster than three numpy products (2.4 ms for a 640x427 frame),
    # which the AF engine pays on every frame; results agree to float32 rounding (3e-5)
    rgb = arr[..., :3]
    src = np.ascontiguousarray(rgb, dtype=np.float32)
    return np.asarray(cv2.cvtColor(src, cv2.COLOR_RGB2GRAY), np.float32)


@dataclass(frozen=True)
class PhaseData:
    """Left/right sub-aperture (dual-pixel style) luminance images of one frame.

    Disparity between them is proportional to the signed defocus; finding it is the focus
    engine's job (nothing here hands out the answer).
    """

    left: npt.NDArray[np.float32]
    right: npt.NDArray[np.float32]
    scale: float
    """Phase image pixels per preview pixel."""


@dataclass(frozen=True)
class Frame:
    """One preview image and its metadata, as the camera reports them."""

    index: int
    image: Image
    exposure_start_s: float
    exposure_end_s: float
    """Start and end of the exposure (first row's start to last row's end; auto exposure sets
    the integration, so in daylight this is far shorter than the frame period)."""
    ready_s: float
    """When the frame (image and statistics) reached software: readout end plus the camera's
    pipeline latency (`Capabilities.pipeline_latency_s`)."""
    lens_start_d: float
    lens_end_d: float
    """Lens position the hardware reports at the start and end of the exposure (dioptres):
    the commanded value for a lens without position sensing. Not the true optical position."""
    lens_moving: bool
    """The lens driver reported a move in progress (travelling or settling) during the
    exposure."""
    phase: PhaseData | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    readout_s: float = 0.0
    """Rolling shutter: the last row starts exposing this long after the first (0: global).
    `exposure_start_s` is the first row's start, `exposure_end_s` the last row's end."""

    @property
    def lens_d(self) -> float:
        """Mean reported lens position during the exposure."""
        return 0.5 * (self.lens_start_d + self.lens_end_d)

    def row_window_s(self, y_frac: float) -> tuple[float, float]:
        """Exposure window of the row at `y_frac` (0 = top, 1 = bottom of the frame): an AF
        window's exposure time depends on its rows."""
        shift = min(max(y_frac, 0.0), 1.0) * self.readout_s
        integration = max(self.exposure_end_s - self.exposure_start_s - self.readout_s, 0.0)
        start = self.exposure_start_s + shift
        return start, start + integration

    @functools.cached_property
    def luma(self) -> npt.NDArray[np.float32]:
        """Luminance (Rec. 601) in 0..255 as float32, computed once per frame (the servo, the
        lock-on check and the tracker each read it: read-only, so no reader can change it
        under another)."""
        out = luma_of(self.image)
        out.flags.writeable = False
        return out


_DEFERRED = ("image", "phase")


class _Drawn:
    """An attribute of a `DeferredFrame` drawn on first read (then kept in the instance)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        d = obj.__dict__
        if self.name not in d:
            d[self.name] = d["_develop"](self.name)
        return d[self.name]

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.name] = value


class DeferredFrame(Frame):
    """A `Frame` whose `image` and `phase` are drawn when first read, by `develop(name)`
    (unless given).

    For a simulated camera whose frames are mostly not looked at (the benchmark: an AF-S gate
    discards every frame exposed while the lens moved without reading a pixel), so a frame
    nobody reads costs nothing. Reading either gives what the eager frame would have held,
    bit for bit (the camera draws from the exposure's recorded times and region; its lens
    history is kept). Not for frames shared across threads: the develop call draws with the
    camera's renderer, on the reader's thread."""

    image = _Drawn()  # type: ignore[assignment]
    phase = _Drawn()  # type: ignore[assignment]

    def __init__(self, develop: Callable[[str], Any], **values: Any) -> None:
        object.__setattr__(self, "_develop", develop)
        pending = [name for name in _DEFERRED if name not in values]
        # Frame's own __init__ checks the fields and fills the defaults; the placeholders of
        # the pending ones are dropped, so their first read draws them
        placeholders: dict[str, Any] = dict.fromkeys(pending)
        super().__init__(**placeholders, **values)
        for name in pending:
            del self.__dict__[name]

    @property
    def developed(self) -> tuple[str, ...]:
        """Which of image and phase have been drawn so far."""
        return tuple(n for n in _DEFERRED if n in self.__dict__)


@dataclass(frozen=True)
class Still:
    """One released exposure as the camera produced it (reported lens positions, as `Frame`)."""

    image: Image | None
    exposure_start_s: float
    exposure_end_s: float
    lens_start_d: float
    lens_end_d: float
    meta: dict[str, Any] = field(default_factory=dict)
    develop: Callable[[], Image] | None = field(default=None, compare=False, repr=False)
    """Renders the image later (a simulated still captured with `defer=True`), off the loop."""
    index: int = 0
    """Number of the still since the camera was opened (0, 1, ...)."""

    @property
    def lens_d(self) -> float:
        """Mean reported lens position during the exposure."""
        return 0.5 * (self.lens_start_d + self.lens_end_d)


class PendingStill:
    """A still whose release has been sent and whose exposure is (or will be) under way.

    The exposure runs from `exposure_start_s` (the release plus the camera's lag) to `due_s`;
    `finish()` waits on the camera's clock until `due_s` and returns the `Still` (once: a second
    call returns the same one). Built by a camera's `begin_still`, or by `PendingStill.done`
    for a still that a blocking capture has already taken."""

    def __init__(
        self,
        release_s: float,
        exposure_start_s: float,
        due_s: float,
        finish: Callable[[], Still],
    ) -> None:
        self.release_s = release_s
        self.exposure_start_s = exposure_start_s
        self.due_s = due_s
        self._finish: Callable[[], Still] | None = finish
        self._still: Still | None = None

    @classmethod
    def done(cls, release_s: float, still: Still, now_s: float) -> PendingStill:
        """A still already taken (a blocking capture): `finish()` returns it at once."""
        pending = cls(release_s, still.exposure_start_s, min(now_s, still.exposure_end_s),
                      lambda: still)
        pending._still, pending._finish = still, None
        return pending

    @property
    def finished(self) -> bool:
        return self._still is not None

    def finish(self) -> Still:
        """Wait for the end of the exposure (camera clock) and return the still."""
        if self._still is None:
            assert self._finish is not None
            self._still, self._finish = self._finish(), None
        return self._still


def begin_still(
    camera: Camera, release_s: float, render: bool = True, defer: bool = False
) -> PendingStill:
    """Start a still on `camera` at `release_s`: its own `begin_still` where it has one, else
    (one blocking call: gphoto2, Picamera2, V4L2) its `capture_still` now, returned finished.
    `defer`: a camera with `deferred_stills` (the simulated one) leaves the rendering to
    `Still.develop` (the still buffer's worker)."""
    begin = getattr(camera, "begin_still", None)
    if callable(begin):
        if defer and getattr(camera, "deferred_stills", False):
            pending = begin(release_s, render=render, defer=True)
        else:
            pending = begin(release_s, render=render)
        if not isinstance(pending, PendingStill):
            raise TypeError(f"{type(camera).__name__}.begin_still returned {type(pending)}")
        return pending
    still = camera.capture_still(release_s, render=render)
    return PendingStill.done(release_s, still, camera.clock.now_s())


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do; what it cannot is said in `notes`."""

    lens_drive: bool
    """The host can set the lens position (afon's own AF can run)."""
    phase_detect: bool
    still_capture: bool
    live_view: bool
    hardware_af: bool = False
    """The camera has its own AF that afon can trigger."""
    lens_range_d: tuple[float, float] = (0.0, 0.0)
    frame_rate_hz: float = 0.0
    release_lag_s: float = 0.0
    """Time from a release command to the start of the still exposure."""
    still_exposure_s: float = 0.0
    notes: tuple[str, ...] = ()
    depth_of_focus_d: float | None = None
    """Half-width of the depth of focus (dioptres) where the camera knows its optics."""
    motor_speed_d_per_s: float | None = None
    motor_accel_d_per_s2: float | None = None
    """Lens motor figures from the camera's tuning, where known."""
    pipeline_latency_s: float = 0.0
    """Time from the end of a frame's readout to its statistics reaching the AF engine."""
    lens_latency_frames: int = 0
    """Frame boundaries a lens command waits for before it takes effect (0: at once)."""


class Camera(Protocol):
    """A camera backend."""

    clock: Clock

    @property
    def capabilities(self) -> Capabilities: ...

    def next_frame(self, phase: bool = False) -> Frame:
        """Wait for and return the next preview frame (with phase data if asked and able)."""
        ...

    def move_lens(self, target_d: float) -> float:
        """Start moving the lens to `target_d`; return the target the motor will actually reach."""
        ...

    def lens_position_d(self) -> float:
        """Lens position the hardware reports now (dioptres): the commanded value for a lens
        without position sensing."""
        ...

    def lens_moving(self) -> bool:
        """The lens driver reports a move in progress (travelling or settling)."""
        ...

    def capture_still(self, release_s: float, render: bool = True) -> Still:
        """Release the shutter at `release_s`; the exposure starts after the release lag."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class CalibrationRig:
    """A camera of the same model looking at a calibration chart (a factory's PDAF rig).

    `make_camera()` builds a fresh instance with its own clock that a calibration routine may
    drive at will; `chart_d` is where the chart stands (dioptres, nominal); `key` identifies the
    camera model and preview geometry, so one calibration serves every camera with that key.
    """

    make_camera: Callable[[], Camera]
    chart_d: float
    key: Hashable
