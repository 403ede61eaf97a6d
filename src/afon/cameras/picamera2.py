"""Raspberry Pi cameras through Picamera2 / libcamera (`picamera2:N`).

What the adapter does with libcamera's AF controls (camera-apis.md §3, control semantics from
libcamera's ``control_ids_core.yaml``; integer values are libcamera's, not Android's):

- open: AfMode Manual (libcamera's recommended default: the lens never moves by itself).
- `af_trigger()` (AF-S on AF-ON): AfMode Auto + AfTrigger Start in one request; AfState is then
  followed frame by frame: Scanning, then Focused / Failed.
- `af_continuous(True)` (AF-C while AF-ON is held): AfMode Continuous (entering it starts a
  scan), or AfPause Resume when already in Continuous and paused.
- `af_continuous(False)` (AF-ON let go): AfPause Immediate; on modules that do not advertise
  AfPause, AfMode Manual + LensPosition = the last reported LensPosition.
- `af_cancel()`: AfTrigger Cancel in Auto (the lens does not move); AfPause Immediate in
  Continuous.
- `lock_focus()`: ends any AF, then AfMode Manual + LensPosition = where the lens is; returns it.
- `move_lens(d)` (afon's own AF): AfMode Manual + LensPosition d (LensPosition alone where
  AfMode is not advertised).
- `capture_still()`: the still configuration carries AfMode Manual + LensPosition = the current
  (locked) position, so the switch to the still mode never starts a scan; continuous AF that was
  running (AF-ON held) resumes after the still, and a single scan the release interrupted
  (release priority) is triggered again.

Dioptres are LensPosition's own unit (0 = infinity). The range comes from
``camera_controls["LensPosition"]`` (min, max, default).

AF runs on the preview: frames come from the low-resolution ``lores`` stream (YUV420, converted
to RGB) of a preview configuration, which runs at the sensor's fast mode; only a still capture
switches to the full-resolution mode (``switch_mode_and_capture_request``), whose low frame rate
makes AF slow (picamera2#884, #800).

Modules: libcamera's Raspberry Pi IPA advertises the AF controls all together or not at all
(``ipaAfControls`` in ``src/ipa/rpi/common/ipa_base.cpp``, merged only when a lens is present),
so there are two kinds:

- with a lens (Camera Module 3, Arducam AF modules): ``hardware_af`` and ``lens_drive`` are
  both true; the body uses libcamera's AF through the optional methods below (``af="camera"``,
  the default on PDAF sensors) or drives LensPosition with afon's own engine (``af="afon"``,
  the default on contrast-only modules).
- fixed focus (no LensPosition): neither; `move_lens` is a no-op that returns the lens position
  (NaN: unknown). The adapter still copes with a lens but no AfMode (other pipelines).

Lens position: metadata LensPosition trails a command by a few frames, so while a commanded
move has not been reported as arrived, `lens_position_d` answers the commanded target — a still
released right after a move is taken (and the lens locked) where the lens is going, not where
it was.

Optional hardware-AF methods (beyond the `Camera` protocol; the body may use them when
``capabilities.hardware_af``):

- ``af_trigger(wait=False) -> str``: start single AF (AF-S). With ``wait`` it consumes frames
  until the scan ends (or `af_timeout_s` passes on the camera's clock: the scan is cancelled and
  reported NOT_FOCUSED_LOCKED) and returns the final state.
- ``af_continuous(on: bool)``: AF-C while AF-ON is held; ``False`` pauses/locks.
- ``af_cancel()``: abort a single scan (lens stays), or pause continuous AF.
- ``af_state() -> str``: Camera2 name (INACTIVE, ACTIVE_SCAN, FOCUSED_LOCKED, NOT_FOCUSED_LOCKED,
  PASSIVE_SCAN, PASSIVE_FOCUSED, PASSIVE_UNFOCUSED) derived from libcamera's AfMode, AfState and
  AfPauseState of the latest frame (`afon.focus.states.AfState(name).libcamera` maps back).
- ``lock_focus() -> float``: the locked LensPosition in dioptres; it is also *saved*
  (`afon.cameras.focus_lock`, one file per sensor model and camera number) and re-applied
  (AfMode Manual + LensPosition in the preview configuration) whenever the camera is opened, so
  ``afon focus --camera picamera2:0 --lock`` fixes the focus for the next start.
  ``clear_lock()`` forgets it.
- ``prefers_own_af``: True on PDAF sensors (`PDAF_SENSORS`), where ``af="auto"`` lets
  libcamera's AF focus; afon's engine (``af="afon"``) drives LensPosition everywhere else.
- ``af_window(cx, cy, w, h)``: AfMetering Windows with one window (normalised centre and size
  of the preview, mapped onto the sensor region the lores stream shows: its ScalerCrop, which on
  a 16:9 sensor is a 4:3 crop of ScalerCropMaximum). AfWindows are native sensor pixels, the
  coordinates of ScalerCrop; libcamera never recalculates them when a crop changes.
- ``magnified(frame, rect, zoom)``: the focus magnifier read by the ISP from the sensor (see
  "Magnify" below); ``end_magnify()`` gives the main stream its whole field back.
- Release without AF: `capture_still` always does it (see the table).

Timeouts: every wait on Picamera2 (`Job.get_result(timeout=...)`) has one — `frame_timeout_s`
for preview frames, `still_timeout_s` for a still (mode switch included); a timeout raises
`CameraError`. AF scans end after `af_timeout_s` of camera-clock time at the latest.

Magnify (5×/10× around the AF point): libcamera's ScalerCrop sets the sensor rectangle (native
sensor pixels, within ScalerCropMaximum) that the ISP scales to form an output, so a small crop
is the sensor's own pixels, not the preview enlarged. ScalerCrop acts on every output, and the
lores frames are what afon's AF, tracking and trap focus read; so the magnifier uses the Pi 5's
per-output ``rpi::ScalerCrops`` ([main, lores]): the main stream shows the region, the lores
stream keeps its whole field (and the AF windows, computed on it, stay where they were). The
region is the lores field's 1/zoom around the AF point (same aspect ratio as the preview); the
view is shown only once a frame's metadata reports that crop (libcamera may enlarge it to its
minimum and keeps it on the sensor; the state's `magnify_rect` is the reported one), at one
sensor pixel per output pixel at most, no larger than the preview. Where only ScalerCrop
exists (Pi 4 and earlier, vc4: one crop for every output) `magnified` answers None and the
viewfinder crops the lores frame ("(crop)"): cropping the lores would crop what AF reads.
Stills are full field: a still configuration starts with its own default crop (libcamera resets
the crops on configure), and the preview's crop is sent again after it.

Time: frames are stamped from metadata ``SensorTimestamp`` (exposure start, ns) and
``ExposureTime``, mapped onto the camera's clock by the smallest delay seen between an exposure's
end and the frame's arrival (so the mapping can only err late by the readout time).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from afon.cameras.base import Capabilities, Frame, Image, Still
from afon.cameras.focus_lock import default_lock_path, read_lock_file, write_lock_file
from afon.clock import Clock, RealClock
from afon.errors import AfonError, CameraError

# libcamera control values (control_ids_core.yaml)
AF_MODE_MANUAL = 0
AF_MODE_AUTO = 1
AF_MODE_CONTINUOUS = 2
AF_TRIGGER_START = 0
AF_TRIGGER_CANCEL = 1
AF_PAUSE_IMMEDIATE = 0
AF_PAUSE_DEFERRED = 1
AF_PAUSE_RESUME = 2
AF_STATE_IDLE = 0
AF_STATE_SCANNING = 1
AF_STATE_FOCUSED = 2
AF_STATE_FAILED = 3
AF_PAUSE_STATE_RUNNING = 0
AF_PAUSE_STATE_PAUSING = 1
AF_PAUSE_STATE_PAUSED = 2

AF_STATE_NAMES = {0: "Idle", 1: "Scanning", 2: "Focused", 3: "Failed"}
AF_PAUSE_STATE_NAMES = {0: "Running", 1: "Pausing", 2: "Paused"}
AF_MODE_NAMES = {0: "Manual", 1: "Auto", 2: "Continuous"}

FRAME_TIMEOUT_S = 2.0
STILL_TIMEOUT_S = 15.0
AF_TIMEOUT_S = 5.0
"""A single scan not ended after this long (camera clock) is cancelled and reported failed."""
SCAN_START_FRAMES = 16
"""Frames to wait for AfState Scanning after a trigger (as rpicam-apps does)."""
LENS_TOLERANCE_D = 0.05
"""Reported LensPosition within this of the target counts as arrived (libcamera's own test)."""
LENS_STUCK_FRAMES = 6
"""A lens reporting the same position for this many frames after a command has stopped."""
CROP_TOLERANCE = 0.02
"""A reported ScalerCrop within this share of the lores field of the requested one is it
(libcamera rounds through the mode's pixels)."""

Rect = tuple[int, int, int, int]


PDAF_SENSORS = ("imx708",)
"""Sensors whose libcamera AF uses on-sensor phase detection (Camera Module 3: imx708,
imx708_wide, imx708_noir). With `af="auto"` the body uses libcamera's own AF on these and
afon's contrast AF through LensPosition on other modules with a lens."""

INSTALL_ADVICE = (
    "Picamera2 and libcamera come from Raspberry Pi OS: `sudo apt install python3-picamera2`, "
    "then create afon's virtualenv with `python3 -m venv --system-site-packages ~/afon-venv` "
    "so it can see them (docs/guides/pi-two-buttons.md)"
)


def import_advice(exc: BaseException) -> str:
    """What to do about a failed ``import picamera2`` (any exception, not only ImportError)."""
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    try:
        import numpy

        numpy_version = str(numpy.__version__)
    except Exception:  # numpy itself broken: say so below
        numpy_version = "unknown"
    if "numpy" in low or "dtype size changed" in low or "multiarray" in low:
        return (
            f"picamera2 cannot be imported ({text}): the numpy in this virtualenv "
            f"({numpy_version}) is not the one apt's picamera2 and simplejpeg were built for "
            "(numpy 1.x on Raspberry Pi OS Bookworm). Fix: `pip install 'numpy<2' "
            "'opencv-python-headless<4.11'` in the virtualenv (a plain `pip install afon` "
            "keeps numpy < 2 there), or remove a pip-installed simplejpeg/picamera2 "
            "(`pip uninstall simplejpeg picamera2`) so apt's copies are used."
        )
    if "libcamera" in low:
        return (
            f"picamera2 cannot be imported ({text}): libcamera's Python bindings are missing. "
            f"{INSTALL_ADVICE}; a pip-installed picamera2 cannot work without them."
        )
    return f"picamera2 cannot be imported ({text}). {INSTALL_ADVICE}."


def _rect(value: Any) -> Rect:
    """A libcamera Rectangle (Picamera2 hands out (x, y, w, h) tuples) as four ints."""
    x, y, w, h = (int(v) for v in value)
    return x, y, w, h


def _open_picamera2(index: int) -> Any:
    try:
        from picamera2 import Picamera2
    except Exception as exc:  # ImportError, or ValueError "numpy.dtype size changed" ...
        raise AfonError(f"picamera2: {import_advice(exc)}") from None
    try:
        return Picamera2(index)
    except (RuntimeError, IndexError, OSError) as exc:
        raise CameraError(
            f"picamera2:{index}: libcamera found no camera {index} ({exc}). Check the ribbon "
            "cable and list cameras with `rpicam-hello --list-cameras`."
        ) from None


def yuv420_to_rgb(array: Any, size: tuple[int, int]) -> Image:
    """RGB from a Picamera2 ``YUV420`` lores array (height*3/2 rows of `stride` bytes)."""
    arr = np.asarray(array)
    w, h = size
    if arr.ndim == 3 and arr.shape[2] >= 3:
        # a stream configured as RGB: Picamera2's "XBGR8888"/"BGR888" arrays are R, G, B order
        return np.ascontiguousarray(arr[..., :3], dtype=np.uint8)
    if arr.ndim != 2 or arr.shape[0] < h * 3 // 2:
        raise CameraError(f"picamera2: unexpected lores array shape {arr.shape} for {w}x{h} YUV420")
    # Picamera2 leaves the row padding in (shape h*3/2 x stride): the planes are laid out for
    # the stride, so convert at the stride's width and crop afterwards
    yuv = np.ascontiguousarray(arr[: h * 3 // 2], dtype=np.uint8)
    rgb = cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB_I420)
    return np.ascontiguousarray(rgb[:h, :w], dtype=np.uint8)


class _TimeMap:
    """Device timestamps (s) onto the camera clock: offset = smallest (arrival - exposure end)."""

    def __init__(self) -> None:
        self.offset_s: float | None = None

    def end_s(self, device_end_s: float, arrival_s: float) -> float:
        delay = arrival_s - device_end_s
        if self.offset_s is None or delay < self.offset_s:
            self.offset_s = delay
        return device_end_s + self.offset_s


class Picamera2Camera:
    """A Raspberry Pi camera (Picamera2 / libcamera) behind afon's `Camera` interface."""

    clock: Clock

    def __init__(
        self,
        index: int = 0,
        clock: Clock | None = None,
        lores: tuple[int, int] = (640, 480),
        picam: Any = None,
        *,
        main: tuple[int, int] | None = None,
        still_size: tuple[int, int] | None = None,
        frame_timeout_s: float = FRAME_TIMEOUT_S,
        still_timeout_s: float = STILL_TIMEOUT_S,
        af_timeout_s: float = AF_TIMEOUT_S,
        lock_file: str | Path | None = None,
    ) -> None:
        self.clock = clock if clock is not None else RealClock()
        self.index = index
        self.lores = (int(lores[0]), int(lores[1]))
        self.frame_timeout_s = float(frame_timeout_s)
        self.still_timeout_s = float(still_timeout_s)
        self.af_timeout_s = float(af_timeout_s)
        self.still_size = still_size
        self._picam = picam if picam is not None else _open_picamera2(index)
        ctrls = dict(self._picam.camera_controls)
        self.has_lens = "LensPosition" in ctrls
        self.has_af = "AfMode" in ctrls and "AfTrigger" in ctrls
        self.has_pause = "AfPause" in ctrls
        self._lens_default: float = math.nan
        self._lens_range = (0.0, 0.0)
        if self.has_lens:
            lo, hi, default = ctrls["LensPosition"]
            lo_f, hi_f = float(lo), float(hi)
            self._lens_range = (min(lo_f, hi_f), max(lo_f, hi_f))
            self._lens_default = float(default) if default is not None else self._lens_range[0]
        self._frame_rate_hz = self._rate_from_controls(ctrls)
        props = dict(getattr(self._picam, "camera_properties", {}) or {})
        self.model = str(props.get("Model", "") or "")
        self.lock_path = (
            Path(lock_file).expanduser()
            if lock_file is not None
            else default_lock_path(f"picamera2-{index}-{self.model or 'camera'}")
        )
        self.warnings: list[str] = []
        self.locked_value: float | None = self._read_lock()

        main_px = main if main is not None else (max(1280, self.lores[0]), max(960, self.lores[1]))
        initial: dict[str, Any] = {"AfMode": AF_MODE_MANUAL} if "AfMode" in ctrls else {}
        self._preview_config = self._picam.create_preview_configuration(
            main={"size": tuple(main_px)},
            lores={"size": self.lores, "format": "YUV420"},
            controls=initial,
        )
        try:
            self._picam.configure(self._preview_config)
            if self.locked_value is not None:
                # the saved lock, set between configure() and start(): Picamera2 hands pending
                # controls to camera.start(), so it holds from the first frame; it is not put
                # in the configuration, which every return from a still re-applies
                self._picam.set_controls({**initial, "LensPosition": self.locked_value})
            self._picam.start()
        except Exception as exc:
            raise CameraError(f"picamera2:{index}: cannot start the camera: {exc}") from None

        self._times = _TimeMap()
        self._index = 0
        self._closed = False
        self._mode = AF_MODE_MANUAL
        self._af_code = AF_STATE_IDLE
        self._pause_code = AF_PAUSE_STATE_RUNNING
        self._state = "INACTIVE"
        self._scan_started_s: float | None = None
        self._scan_seen = False
        self._scan_frames = 0
        self._paused = False
        self._lens_reported: float | None = None
        self._lens_prev: float | None = None
        self._lens_target: float | None = None
        self._unchanged_frames = 0
        self._locked_d: float | None = self.locked_value
        if self.locked_value is not None:
            self._lens_target = self.locked_value
        self._release_lag_s = 0.0
        self._still_exposure_s = 0.0
        self.last_frame: Frame | None = None
        self.last_metadata: dict[str, Any] = {}
        # magnify: the lores stream's sensor field, the crop asked of the main stream, and the
        # main image of the latest frame with the crop its metadata reports
        self.per_output_crop = "ScalerCrops" in ctrls or "ScalerCrops" in dict(
            self._picam.camera_controls
        )
        self._view: Rect = self._default_view()
        self._crop_sent: Rect | None = None
        self._main_image: Image | None = None
        self._main_crop: Rect | None = None

    # --- the saved lock --------------------------------------------------------------------
    def _read_lock(self) -> float | None:
        if not self.has_lens:
            return None
        try:
            data = read_lock_file(self.lock_path)
            if data is None:
                return None
            value = float(data["value"])
        except (ValueError, KeyError, TypeError) as exc:
            self.warnings.append(f"ignoring unreadable focus lock {self.lock_path}: {exc}")
            return None
        lo, hi = self._lens_range
        if not (math.isfinite(value) and lo <= value <= hi):
            self.warnings.append(
                f"ignoring focus lock {self.lock_path}: LensPosition {value} is outside this "
                f"module's range {lo:g}..{hi:g}"
            )
            return None
        return value

    def _save_lock(self, lens_d: float) -> None:
        write_lock_file(
            self.lock_path,
            {
                "camera": f"picamera2:{self.index}",
                "model": self.model,
                "control": "LensPosition",
                "value": float(lens_d),
                "range": list(self._lens_range),
            },
        )
        self.locked_value = float(lens_d)

    def clear_lock(self) -> None:
        """Forget the saved lock (the lens stays where it is)."""
        self.locked_value = None
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()

    @property
    def prefers_own_af(self) -> bool:
        """libcamera's AF is the better choice: the sensor has PDAF (`PDAF_SENSORS`)."""
        return self.has_af and self.model.lower().startswith(PDAF_SENSORS)

    @staticmethod
    def _rate_from_controls(ctrls: dict[str, Any]) -> float:
        limits = ctrls.get("FrameDurationLimits")
        try:
            min_us = float(limits[0]) if limits is not None else 0.0
        except (TypeError, IndexError, ValueError):
            min_us = 0.0
        if min_us > 0:
            return min(1e6 / min_us, 120.0)
        return 30.0

    # --- capabilities ----------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        notes = [
            "no phase-detect data for afon: the sensor's PDAF statistics stay inside libcamera's "
            "own AF algorithm",
            f"frames come from the {self.lores[0]}x{self.lores[1]} lores stream; a still "
            "switches to the full-resolution mode (no preview frames meanwhile)",
            "frame times are mapped from SensorTimestamp by the smallest arrival delay seen",
        ]
        if self.has_af:
            notes.append(
                "hardware AF (libcamera): af_trigger / af_continuous / af_cancel / lock_focus; "
                "afon's own AF can drive the lens too (AfMode Manual + LensPosition)"
            )
            if not self.has_pause:
                notes.append(
                    "this module does not advertise AfPause: AF-C is locked by switching to "
                    "AfMode Manual at the reported LensPosition"
                )
        elif self.has_lens:
            notes.append(
                "lens without an AF algorithm (AfMode not advertised): afon's own AF drives "
                "LensPosition; no hardware AF"
            )
        else:
            notes.append("fixed-focus module: no lens to drive and no AF; AF-ON does nothing")
        if self.has_af:
            notes.append(
                f"{self.model or 'sensor'}: "
                + (
                    "PDAF sensor, libcamera's AF is the default (af=auto)"
                    if self.prefers_own_af
                    else "contrast-only AF in libcamera, afon's engine is the default (af=auto)"
                )
            )
        if self.per_output_crop:
            notes.append(
                "magnify: the main stream's ScalerCrop (rpi::ScalerCrops) reads the region from "
                "the sensor; the lores stream AF reads keeps its field"
            )
        else:
            notes.append(
                "magnify: a crop of the lores preview (this pipeline has one ScalerCrop for "
                "every stream, which would crop what AF reads; per-stream crops need a Pi 5)"
            )
        if self.locked_value is not None:
            notes.append(
                f"saved focus lock LensPosition {self.locked_value:g} applied ({self.lock_path})"
            )
        notes.extend(self.warnings)
        return Capabilities(
            lens_drive=self.has_lens,
            phase_detect=False,
            still_capture=True,
            live_view=True,
            hardware_af=self.has_af,
            lens_range_d=self._lens_range,
            frame_rate_hz=self._frame_rate_hz,
            release_lag_s=self._release_lag_s,
            still_exposure_s=self._still_exposure_s,
            notes=tuple(notes),
        )

    # --- plumbing --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise CameraError(f"picamera2:{self.index} is closed")

    def _result(self, job: Any, timeout_s: float, what: str) -> Any:
        try:
            return job.get_result(timeout=timeout_s)
        except TimeoutError:
            flush = getattr(self._picam, "cancel_all_and_flush", None)
            if callable(flush):
                with contextlib.suppress(Exception):  # already in trouble: report the timeout
                    flush()
            raise CameraError(
                f"picamera2:{self.index}: no {what} within {timeout_s:g} s "
                "(camera stalled or disconnected)"
            ) from None
        except CameraError:
            raise
        except Exception as exc:
            raise CameraError(f"picamera2:{self.index}: {what} failed: {exc}") from None

    def _set(self, controls: dict[str, Any]) -> None:
        try:
            self._picam.set_controls(dict(controls))
        except Exception as exc:
            raise CameraError(
                f"picamera2:{self.index}: set_controls({controls}) refused: {exc}"
            ) from None

    def _require_af(self, what: str) -> None:
        self._check_open()
        if not self.has_af:
            kind = "a lens but no AF algorithm" if self.has_lens else "a fixed-focus lens"
            raise CameraError(
                f"picamera2:{self.index}: {what} needs libcamera's AF (AfMode), which this "
                f"module does not advertise (it has {kind}); use afon's own AF through move_lens"
            )

    # --- frames ----------------------------------------------------------------------------
    def next_frame(self, phase: bool = False) -> Frame:
        """Wait (at most `frame_timeout_s`) for the next lores frame and its metadata."""
        self._check_open()
        job = self._picam.capture_request(wait=False)
        request = self._result(job, self.frame_timeout_s, "preview frame")
        main: Any = None
        try:
            array = request.make_array("lores")
            if self._crop_sent is not None:
                main = request.make_array("main")  # the magnified region (ScalerCrops[0])
            metadata = dict(request.get_metadata())
        finally:
            request.release()
        now = self.clock.now_s()
        image = yuv420_to_rgb(array, self.lores)
        self._follow_crops(metadata, main)
        start_s, end_s = self._exposure_times(metadata, now)
        lens_start, lens_end, moving = self._update_lens(metadata)
        self._update_af(metadata, now)
        frame = Frame(
            index=self._index,
            image=image,
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            ready_s=now,
            lens_start_d=lens_start,
            lens_end_d=lens_end,
            lens_moving=moving,
            phase=None,
            meta={
                "AfMode": AF_MODE_NAMES.get(self._mode, str(self._mode)),
                "AfState": AF_STATE_NAMES.get(self._af_code, str(self._af_code)),
                "AfPauseState": AF_PAUSE_STATE_NAMES.get(self._pause_code, str(self._pause_code)),
                "af_state": self._state,
                "LensPosition": metadata.get("LensPosition"),
                "SensorTimestamp": metadata.get("SensorTimestamp"),
            },
        )
        self._index += 1
        self.last_frame = frame
        self.last_metadata = metadata
        return frame

    def _follow_crops(self, metadata: dict[str, Any], main: Any) -> None:
        """The lores field and the main stream's crop, as this frame's metadata reports them."""
        crops = metadata.get("ScalerCrops")
        if crops is not None and len(crops) >= 2:
            self._view = _rect(crops[1])
            main_crop: Rect | None = _rect(crops[0])
        elif metadata.get("ScalerCrop") is not None:
            main_crop = _rect(metadata["ScalerCrop"])
            if self._crop_sent is None:
                self._view = main_crop  # one crop for every output: the lores field too
        else:
            main_crop = None
        if main is not None and main_crop is not None:
            self._main_image = yuv420_to_rgb(main, (main.shape[1], main.shape[0]))
            self._main_crop = main_crop

    def _exposure_times(self, metadata: dict[str, Any], now: float) -> tuple[float, float]:
        exposure_s = float(metadata.get("ExposureTime", 0) or 0) * 1e-6
        duration_us = float(metadata.get("FrameDuration", 0) or 0)
        if duration_us > 0:
            self._frame_rate_hz = 1e6 / duration_us
        if exposure_s <= 0:
            exposure_s = 1.0 / self._frame_rate_hz
        ts = metadata.get("SensorTimestamp")
        if ts is None:
            return now - exposure_s, now
        end_s = self._times.end_s(float(ts) * 1e-9 + exposure_s, now)
        return end_s - exposure_s, end_s

    def _update_lens(self, metadata: dict[str, Any]) -> tuple[float, float, bool]:
        if not self.has_lens or metadata.get("LensPosition") is None:
            pos = self.lens_position_d()
            return pos, pos, False
        lens = float(metadata["LensPosition"])
        prev = self._lens_reported if self._lens_reported is not None else lens
        if abs(lens - prev) < 1e-6:
            self._unchanged_frames += 1
        else:
            self._unchanged_frames = 0
        self._lens_prev = prev
        self._lens_reported = lens
        if self._locked_d is not None and self._paused:
            self._locked_d = lens  # AfPause Immediate: the lens stops where the last frames say
        moving = abs(lens - prev) > 1e-6 or self._pending_target()
        if self._mode != AF_MODE_MANUAL and self._af_code == AF_STATE_SCANNING and not self._paused:
            moving = True
        return prev, lens, moving

    def _pending_target(self) -> bool:
        if self._lens_target is None:
            return False
        if self._lens_reported is None:
            return True
        if abs(self._lens_reported - self._lens_target) <= LENS_TOLERANCE_D:
            return False
        return self._unchanged_frames < LENS_STUCK_FRAMES

    # --- AF state --------------------------------------------------------------------------
    def _update_af(self, metadata: dict[str, Any], now: float) -> None:
        if not self.has_af:
            return
        code = int(metadata.get("AfState", AF_STATE_IDLE))
        pause = int(metadata.get("AfPauseState", AF_PAUSE_STATE_RUNNING))
        self._af_code = code
        self._pause_code = pause
        if self._mode == AF_MODE_AUTO and self._scan_started_s is not None:
            self._scan_frames += 1
            if code == AF_STATE_SCANNING:
                self._scan_seen = True
            elif self._scan_seen or self._scan_frames > SCAN_START_FRAMES:
                # scan over (or never started: the trigger was ignored)
                self._finish_scan(code if self._scan_seen else AF_STATE_FAILED)
                return
            if now - self._scan_started_s > self.af_timeout_s:
                self._set({"AfTrigger": AF_TRIGGER_CANCEL})
                self._finish_scan(AF_STATE_FAILED)
        elif self._mode == AF_MODE_CONTINUOUS:
            if self._paused:
                if pause != AF_PAUSE_STATE_PAUSING:
                    focused = code == AF_STATE_FOCUSED
                    self._state = "FOCUSED_LOCKED" if focused else "NOT_FOCUSED_LOCKED"
            else:
                self._state = {
                    AF_STATE_FOCUSED: "PASSIVE_FOCUSED",
                    AF_STATE_FAILED: "PASSIVE_UNFOCUSED",
                }.get(code, "PASSIVE_SCAN")

    def _finish_scan(self, code: int) -> None:
        self._scan_started_s = None
        if code == AF_STATE_FOCUSED:
            self._state = "FOCUSED_LOCKED"
        elif code == AF_STATE_IDLE:
            self._state = "INACTIVE"  # cancelled
        else:
            self._state = "NOT_FOCUSED_LOCKED"
        self._locked_d = self._lens_reported

    def af_state(self) -> str:
        """Camera2 name of the AF state as of the latest frame (see the module docstring)."""
        return self._state

    def af_scanning(self) -> bool:
        return self._state in ("ACTIVE_SCAN", "PASSIVE_SCAN")

    def af_trigger(self, wait: bool = False) -> str:
        """AF-S: AfMode Auto + AfTrigger Start; with `wait`, follow frames until the scan ends."""
        self._require_af("af_trigger")
        self._set({"AfMode": AF_MODE_AUTO, "AfTrigger": AF_TRIGGER_START})
        self._mode = AF_MODE_AUTO
        self._paused = False
        self._lens_target = None
        self._locked_d = None
        self._scan_started_s = self.clock.now_s()
        self._scan_seen = False
        self._scan_frames = 0
        self._state = "ACTIVE_SCAN"
        if wait:
            return self.wait_af()
        return self._state

    def wait_af(self, timeout_s: float | None = None) -> str:
        """Consume frames until a single scan has ended (cancelled after `timeout_s`)."""
        limit = self.af_timeout_s if timeout_s is None else float(timeout_s)
        deadline = self.clock.now_s() + limit
        while self._scan_started_s is not None:
            self.next_frame()
            if self._scan_started_s is not None and self.clock.now_s() > deadline:
                self._set({"AfTrigger": AF_TRIGGER_CANCEL})
                self._finish_scan(AF_STATE_FAILED)
        return self._state

    def af_continuous(self, on: bool) -> None:
        """AF-C while AF-ON is held (`on`); let go: AfPause Immediate or Manual at the lens."""
        self._require_af("af_continuous")
        if on:
            if self._mode == AF_MODE_CONTINUOUS and self.has_pause:
                self._set({"AfPause": AF_PAUSE_RESUME})
            else:
                self._set({"AfMode": AF_MODE_CONTINUOUS})  # entering Continuous starts a scan
            self._mode = AF_MODE_CONTINUOUS
            self._scan_started_s = None
            self._paused = False
            self._lens_target = None
            self._locked_d = None
            self._state = "PASSIVE_SCAN"
            return
        if self._mode != AF_MODE_CONTINUOUS or self._paused:
            return
        focused = self._af_code == AF_STATE_FOCUSED
        self._state = "FOCUSED_LOCKED" if focused else "NOT_FOCUSED_LOCKED"
        if self.has_pause:
            self._set({"AfPause": AF_PAUSE_IMMEDIATE})
            self._paused = True
            self._locked_d = self.lens_position_d()
        else:
            self._hold_manual(self.lens_position_d())

    def _hold_manual(self, lens_d: float) -> None:
        controls: dict[str, Any] = {"AfMode": AF_MODE_MANUAL}
        if self.has_lens and math.isfinite(lens_d):
            controls["LensPosition"] = lens_d
        self._set(controls)
        self._mode = AF_MODE_MANUAL
        self._paused = False
        self._scan_started_s = None
        self._locked_d = lens_d
        self._lens_target = lens_d if math.isfinite(lens_d) else None

    def af_cancel(self) -> None:
        """Abort a single scan (AfTrigger Cancel: the lens stays) or pause continuous AF."""
        self._require_af("af_cancel")
        if self._mode == AF_MODE_AUTO and self._scan_started_s is not None:
            self._set({"AfTrigger": AF_TRIGGER_CANCEL})
            self._scan_started_s = None
            self._state = "INACTIVE"
            self._locked_d = self._lens_reported
        elif self._mode == AF_MODE_CONTINUOUS:
            self.af_continuous(False)

    def lock_focus(self) -> float:
        """End any AF and hold the lens where it is (AfMode Manual); return LensPosition (D)."""
        self._check_open()
        if self.has_af:
            if self._mode == AF_MODE_AUTO and self._scan_started_s is not None:
                self.af_cancel()
            elif self._mode == AF_MODE_CONTINUOUS and not self._paused:
                self.af_continuous(False)
        lens = self.lens_position_d()
        if self.has_lens and math.isfinite(lens):
            if self.has_af:
                self._hold_manual(lens)
            else:
                self._set({"LensPosition": lens})
                self._lens_target = lens
        self._locked_d = lens
        if self.has_lens and math.isfinite(lens):
            self._save_lock(lens)
        return lens

    def af_window(self, cx: float, cy: float, w: float, h: float) -> None:
        """Meter AF on one window (normalised centre/size of the preview) in native sensor
        pixels: the part of the lores stream's field (`view_crop`) under the window."""
        self._require_af("af_window")
        x0, y0, cw, ch = self.view_crop
        ww = max(1, round(w * cw))
        wh = max(1, round(h * ch))
        wx = min(max(x0, round(x0 + cx * cw - ww / 2)), x0 + cw - ww)
        wy = min(max(y0, round(y0 + cy * ch - wh / 2)), y0 + ch - wh)
        self._set({"AfMetering": 1, "AfWindows": [(wx, wy, ww, wh)]})

    # --- magnify ---------------------------------------------------------------------------
    def _default_view(self) -> Rect:
        """The lores stream's crop as the configuration reports it (ScalerCropMaximum when the
        pipeline reports no ScalerCrop)."""
        ctrls = dict(self._picam.camera_controls)
        if "ScalerCrops" in ctrls:
            return _rect(ctrls["ScalerCrops"][1])  # (first output's, second output's, default)
        if "ScalerCrop" in ctrls:
            return _rect(ctrls["ScalerCrop"][2])
        props = dict(getattr(self._picam, "camera_properties", {}) or {})
        crop = props.get("ScalerCropMaximum")
        if crop is None:
            raise CameraError(f"picamera2:{self.index}: ScalerCropMaximum is not reported")
        return _rect(crop)

    @property
    def view_crop(self) -> Rect:
        """The sensor region (native pixels) the preview frames show."""
        return self._view

    def sensor_rect(self, rect: tuple[float, float, float, float]) -> Rect:
        """`rect` (fractions of the preview) in native sensor pixels."""
        vx, vy, vw, vh = self._view
        x0, y0, w, h = rect
        return round(vx + x0 * vw), round(vy + y0 * vh), round(w * vw), round(h * vh)

    def magnified(
        self, frame: Frame, rect: tuple[float, float, float, float], zoom: float
    ) -> tuple[Image, tuple[float, float, float, float]] | None:
        """The region `rect` of the preview as the ISP reads it from the sensor (the main
        stream's ScalerCrop), and where it is (preview fractions, from the frame's reported
        crop); None where the camera cannot (one crop for every output) or until a frame with
        that crop has arrived (the viewfinder crops the preview meanwhile)."""
        if not self.per_output_crop:
            return None
        self._check_open()
        want = self.sensor_rect(rect)
        if want != self._crop_sent:
            self._set({"ScalerCrops": [want, self._view]})
            self._crop_sent = want
        shown, image = self._main_crop, self._main_image
        if shown is None or image is None or not self._near(shown, want):
            return None
        vx, vy, vw, vh = self._view
        x, y, w, h = shown
        where = ((x - vx) / vw, (y - vy) / vh, w / vw, h / vh)
        # one sensor pixel per output pixel at most, never larger than the preview
        out_w = max(2, min(self.lores[0], w))
        out_h = max(2, round(out_w * image.shape[0] / image.shape[1]))
        if (out_w, out_h) != (image.shape[1], image.shape[0]):
            interp = cv2.INTER_AREA if out_w < image.shape[1] else cv2.INTER_LINEAR
            image = np.asarray(cv2.resize(image, (out_w, out_h), interpolation=interp), np.uint8)
        return image, where

    def _near(self, a: Rect, b: Rect) -> bool:
        tol = CROP_TOLERANCE * self._view[2]
        return all(abs(p - q) <= tol for p, q in zip(a, b, strict=True))

    def end_magnify(self) -> None:
        """Give the main stream the lores stream's whole field again (magnify off)."""
        if self._crop_sent is not None and not self._closed:
            self._set({"ScalerCrops": [self._view, self._view]})
        self._crop_sent = None
        self._main_image = None
        self._main_crop = None

    # --- lens ------------------------------------------------------------------------------
    def move_lens(self, target_d: float) -> float:
        """Set LensPosition (AfMode Manual first where the module has AF); return the target."""
        self._check_open()
        if not self.has_lens:
            return self.lens_position_d()
        lo, hi = self._lens_range
        target = min(max(float(target_d), lo), hi)
        controls: dict[str, Any] = {"LensPosition": target}
        if self.has_af:
            controls["AfMode"] = AF_MODE_MANUAL  # LensPosition is ignored unless Manual
            self._mode = AF_MODE_MANUAL
            self._scan_started_s = None
            self._paused = False
            self._state = "INACTIVE"  # libcamera's AF is idle in Manual; afon's engine decides
        self._set(controls)
        self._lens_target = target
        self._unchanged_frames = 0
        return target

    def lens_position_d(self) -> float:
        """Where the lens is (dioptres): the commanded target while a move has not been
        reported as arrived, else the latest reported LensPosition; NaN on fixed focus."""
        if self._lens_target is not None and self._pending_target():
            return self._lens_target
        if self._lens_reported is not None:
            return self._lens_reported
        if self._lens_target is not None:
            return self._lens_target
        return self._lens_default

    def lens_moving(self) -> bool:
        if self._pending_target():
            return True
        return self.has_af and self._mode != AF_MODE_MANUAL and self._af_code == AF_STATE_SCANNING

    # --- stills ----------------------------------------------------------------------------
    def capture_still(self, release_s: float, render: bool = True) -> Still:
        """Release at `release_s` without AF: the still mode runs Manual at the current lens."""
        self._check_open()
        self.clock.sleep_until(release_s)
        resume_continuous = self._mode == AF_MODE_CONTINUOUS and not self._paused
        rescan = self._mode == AF_MODE_AUTO and self._scan_started_s is not None
        lens = self.lens_position_d()
        controls: dict[str, Any] = {}
        if self.has_lens and math.isfinite(lens):
            controls["LensPosition"] = lens
        if "AfMode" in dict(self._picam.camera_controls):
            controls["AfMode"] = AF_MODE_MANUAL
        main: dict[str, Any] = {"format": "BGR888"}  # Picamera2's BGR888 is R, G, B in numpy
        if self.still_size is not None:
            main["size"] = tuple(self.still_size)
        # no ScalerCrop here: the still configuration starts with its own full-field crop,
        # whatever the preview's magnifier asked (a body leaves magnify for the shot)
        config = self._picam.create_still_configuration(main=main, controls=controls)
        released_s = self.clock.now_s()
        job = self._picam.switch_mode_and_capture_request(config, wait=False)
        # back in the preview configuration its crops are the defaults: the magnifier asks again
        self._crop_sent = None
        self._main_image = None
        self._main_crop = None
        request = self._result(job, self.still_timeout_s, "still capture")
        try:
            image = np.asarray(request.make_array("main"), dtype=np.uint8) if render else None
            metadata = dict(request.get_metadata())
        finally:
            request.release()
        now = self.clock.now_s()
        if image is not None and image.ndim == 3 and image.shape[2] > 3:
            image = np.ascontiguousarray(image[..., :3])
        exposure_s = float(metadata.get("ExposureTime", 0) or 0) * 1e-6
        ts = metadata.get("SensorTimestamp")
        if ts is not None and self._times.offset_s is not None:
            start_s = float(ts) * 1e-9 + self._times.offset_s
            end_s = start_s + exposure_s
        else:
            end_s = now
            start_s = now - exposure_s
        self._release_lag_s = max(0.0, start_s - released_s)
        self._still_exposure_s = exposure_s
        still_lens = float(metadata.get("LensPosition", lens)) if self.has_lens else lens
        # back in the preview mode: hold the lock again, or resume AF-C if AF-ON is still held
        if self.has_af:
            self._hold_manual(lens)
            if resume_continuous:
                self._set({"AfMode": AF_MODE_CONTINUOUS})
                self._mode = AF_MODE_CONTINUOUS
                self._locked_d = None
                self._lens_target = None
                self._state = "PASSIVE_SCAN"
            elif rescan:
                # released mid-scan (release priority): the still mode stopped the scan; AF-ON
                # is still held, so the single AF starts again from where the lens is
                self.af_trigger()
        elif self.has_lens and math.isfinite(lens):
            self._set({"LensPosition": lens})
        return Still(
            image=image,
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            lens_start_d=still_lens,
            lens_end_d=still_lens,
            meta={
                "backend": "picamera2",
                "locked_lens_d": lens,
                "still_controls": dict(controls),
                "LensPosition": metadata.get("LensPosition"),
                "AfState": AF_STATE_NAMES.get(int(metadata.get("AfState", 0)), "Idle"),
                "ExposureTime_us": metadata.get("ExposureTime"),
                "SensorTimestamp": ts,
            },
        )

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for name in ("stop", "close"):
            fn = getattr(self._picam, name, None)
            if callable(fn):
                with contextlib.suppress(Exception):  # closing a camera that is already gone
                    fn()

    def __enter__(self) -> Picamera2Camera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
