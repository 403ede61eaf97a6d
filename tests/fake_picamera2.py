"""A fake Picamera2 that follows libcamera's documented AF control semantics.

Sources: libcamera ``control_ids_core.yaml`` and the Raspberry Pi IPA ``af.cpp`` as summarised in
camera-apis.md §3.1, and Picamera2's job API (``wait=False`` returns a job whose
``get_result(timeout)`` raises ``TimeoutError``).

- Modules: libcamera's Raspberry Pi IPA advertises the AF controls (AfMode, AfRange, AfSpeed,
  AfMetering, AfWindows, AfTrigger, AfPause, LensPosition) all together when the sensor has a
  lens, or none of them (``ipaAfControls``, ``src/ipa/rpi/common/ipa_base.cpp``): "cm3" (imx708,
  PDAF), "cdaf" (an Arducam imx519 lens module: the same controls, contrast AF) and "fixed".
- Control delivery is Picamera2's own: `set_controls` goes into Picamera2's `Controls` object
  (picamera2/controls.py, run here for real against a stub ``libcamera`` when the picamera2
  package is installed; the same merge semantics otherwise), so every call made before the
  next request is *merged* into that one request (a later value of the same control wins);
  when the request is queued the object starts afresh (``request.py``: ``picam2.controls =
  Controls(picam2)``), and the request's controls act `control_delay_frames` later.
  `configure()` *replaces* the pending controls with the configuration's (``picamera2.py``
  ``configure_``), and stopping the camera drops requests in flight. A control the module does
  not advertise raises RuntimeError ("Control X is not advertised by libcamera").
- AfMode: Manual never moves the lens by itself and AfState is always Idle; Auto moves only after
  AfTrigger Start; setting Auto reports Idle, Auto + Start together go straight to Scanning;
  changing the mode mid-scan cancels the scan; entering Continuous starts a scan; any AfMode
  change reports AfPauseState Running.
- AfTrigger acts only in Auto: Start is ignored while scanning, Cancel only while scanning (the
  lens stays where it is, AfState Idle).
- AfPause acts only in Continuous: Immediate pauses now (even mid-scan), Deferred at the end of
  the scan (Pausing until then), Resume continues where it left off.
- LensPosition is ignored unless AfMode is Manual and always reported back; the lens takes
  frames to move (`lens_speed_d_per_frame`).
- The "AF algorithm" scans towards `subject_d` (None: a low-contrast scene, the scan fails); in
  Continuous, a subject that moves by more than `rescan_d` starts a new scan unless paused.
- A mode switch to a still configuration applies the configuration's controls before its frame;
  if AF is then in Continuous the switch restarts a scan (the pitfall of user-needs.md §6.2).
- Images: a random texture blurred in proportion to |lens - subject| (sharpest in focus).
- Buffers (``picamera2.py`` 0.3.38, ``request.py``): a configuration allocates `buffer_count`
  request buffers (Picamera2's defaults: 4 for a preview configuration, 1 for a still). A
  request returned by ``capture_request`` is the application's until it calls ``release()``; only
  then does its buffer go back to libcamera ("you must release it again to return it to the
  camera system"). With every buffer held no frame can complete, so ``capture_request`` waits:
  the job's ``get_result(timeout)`` raises ``TimeoutError`` once `timeout` has passed (on the
  virtual clock), and without a timeout it would hang (the fake raises instead). Releasing twice
  raises RuntimeError ("negative ref_count"). A request captured before the camera was stopped
  is not recycled (``stop_count``): a restart allocates its buffers afresh.
- ScalerCrop (``control_ids_core.yaml``; ``pipeline_base.cpp`` ``applyScalerCrop``,
  ``fillRequestMetadata``, ``scaleIspCrop``; ``pisp.cpp`` / ``vc4.cpp`` ``platformConfigure``):
  the rectangle of the sensor, in native sensor pixels, that is scaled to form each output
  image. A configuration starts every ISP output at the largest crop with that output's aspect
  ratio centred on the sensor mode (vc4: one crop, from the largest output; pisp: one per
  output); ``camera_controls["ScalerCrop"]`` is (minimum, ScalerCropMaximum, current crop of
  the first stream). A requested crop is converted to the mode's pixels, enlarged to the minimum
  crop (itself enlarged to the request's aspect ratio), kept on the request's centre and moved
  inside the sensor; the ISP then scales that region to the output, so a crop is rendered from
  the sensor's own pixels (the texture here spans the whole ScalerCropMaximum field). ScalerCrop
  acts on every output; on the Pi 5 ("pisp") ``rpi::ScalerCrops`` (one rectangle per configured
  output, in configuration order) acts on each, and ScalerCrop is then discarded. Metadata
  reports ScalerCrop (the first output's crop) and, with two outputs, ScalerCrops. Configuring
  resets the crops, so a still configuration has its own full-field crop; Picamera2's
  ``configure_`` on the Pi 5 sends ``ScalerCrops`` with the defaults (``picamera2.py``). AF
  windows are never recalculated when the crop changes (AfWindows' documentation).
"""

from __future__ import annotations

import enum
import importlib.util
import math
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from afon.clock import VirtualClock

AF_CONTROLS = (
    "AfMode",
    "AfRange",
    "AfSpeed",
    "AfMetering",
    "AfWindows",
    "AfTrigger",
    "AfPause",
    "LensPosition",
)
"""libcamera's ``ipaAfControls``: advertised together when the sensor has a lens."""
MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "cm3": ("imx708", AF_CONTROLS),
    "cdaf": ("imx519", AF_CONTROLS),
    "fixed": ("imx477", ()),
}

Rect = tuple[int, int, int, int]
SENSOR_PX = (4608, 2592)
"""imx708's pixel array: ScalerCropMaximum (the analogue crop of both modes used here)."""
PREVIEW_MODE_PX = (2304, 1296)
"""The 2×2 binned mode a preview configuration runs at (its ISP input); stills: full size."""
TEXTURE_SCALE = 4
"""Sensor pixels per texture pixel: the scene's finest detail is 4 sensor pixels."""


def _aspect_bounded(size: tuple[int, int], aspect: tuple[int, int]) -> tuple[int, int]:
    """libcamera's ``Size::boundedToAspectRatio``: the largest size within `size` of `aspect`."""
    w, h = size
    aw, ah = aspect
    if w * ah > h * aw:
        return h * aw // ah, h
    return w, w * ah // aw


def _aspect_expanded(size: tuple[int, int], aspect: tuple[int, int]) -> tuple[int, int]:
    """libcamera's ``Size::expandedToAspectRatio``: the smallest size around `size` of `aspect`."""
    w, h = size
    aw, ah = aspect
    if w * ah < h * aw:
        return -(-h * aw // ah), h
    return w, -(-w * ah // aw)


def _centred(size: tuple[int, int], centre: tuple[int, int]) -> Rect:
    """libcamera's ``Size::centeredTo``."""
    return centre[0] - size[0] // 2, centre[1] - size[1] // 2, size[0], size[1]


def _enclosed(r: Rect, bound: tuple[int, int]) -> Rect:
    """libcamera's ``Rectangle::enclosedIn`` for a boundary at the origin."""
    w, h = min(r[2], bound[0]), min(r[3], bound[1])
    x = min(max(r[0], 0), bound[0] - w)
    y = min(max(r[1], 0), bound[1] - h)
    return x, y, w, h


def _to_native(r: Rect, mode_px: tuple[int, int]) -> Rect:
    """``scaleIspCrop``: a crop in the mode's pixels as native sensor pixels."""
    sx, sy = SENSOR_PX[0] / mode_px[0], SENSOR_PX[1] / mode_px[1]
    return round(r[0] * sx), round(r[1] * sy), round(r[2] * sx), round(r[3] * sy)


def _to_mode(r: Rect, mode_px: tuple[int, int]) -> Rect:
    sx, sy = mode_px[0] / SENSOR_PX[0], mode_px[1] / SENSOR_PX[1]
    return round(r[0] * sx), round(r[1] * sy), round(r[2] * sx), round(r[3] * sy)


def _stub_libcamera() -> types.ModuleType:
    """What picamera2/controls.py imports from libcamera (only used for libcamera objects)."""
    stub = types.ModuleType("libcamera")

    class ControlType(enum.Enum):
        Rectangle = 7
        Size = 8

    stub.ControlType = ControlType  # type: ignore[attr-defined]
    stub.Rectangle = lambda *a: tuple(a)  # type: ignore[attr-defined]
    stub.Size = lambda *a: tuple(a)  # type: ignore[attr-defined]
    return stub


def load_picamera2_controls() -> Any:
    """picamera2's real `Controls` class (picamera2/controls.py), or None when not installed.

    Loaded from its file with a stub ``libcamera`` in place, without running picamera2's
    ``__init__`` (which needs libcamera itself).
    """
    spec = importlib.util.find_spec("picamera2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "controls.py"
    if not path.is_file():
        return None
    saved = sys.modules.get("libcamera")
    sys.modules["libcamera"] = _stub_libcamera()
    try:
        mod_spec = importlib.util.spec_from_file_location("_afon_picamera2_controls", path)
        assert mod_spec is not None and mod_spec.loader is not None
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("libcamera", None)
        else:
            sys.modules["libcamera"] = saved
    return module.Controls


REAL_CONTROLS = load_picamera2_controls()


class MergedControls:
    """The same semantics as picamera2's `Controls` (used when picamera2 is not installed)."""

    def __init__(self, picam2: Any, controls: dict[str, Any] | None = None) -> None:
        self._picam2 = picam2
        self._values: dict[str, Any] = {}
        self.set_controls(dict(controls or {}))

    def set_controls(self, controls: dict[str, Any]) -> None:
        for name, value in controls.items():
            if name not in self._picam2.camera_ctrl_info:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")
            self._values[name] = value

    def make_dict(self) -> dict[str, Any]:
        return dict(self._values)


def _controls_class() -> Any:
    return REAL_CONTROLS if REAL_CONTROLS is not None else MergedControls


class BuffersExhausted(Exception):
    """Every request buffer is held by the application: no frame can complete."""


class FakeJob:
    def __init__(self, cam: FakePicamera2, fn: Callable[[], Any], needs_buffer: bool) -> None:
        self._cam = cam
        self._fn = fn
        self._needs_buffer = needs_buffer
        self._done = False
        self._result: Any = None

    def get_result(self, timeout: float | None = None) -> Any:
        if self._cam.stalled:
            raise TimeoutError("fake: no frame")  # what Future.result(timeout) raises
        if not self._done and self._needs_buffer and self._cam.buffers_free() == 0:
            # libcamera has no buffer to fill: the job waits for a frame that never comes
            if timeout is None:
                raise BuffersExhausted(
                    "fake: capture_request would wait for ever: all "
                    f"{self._cam.buffer_count} request buffers are held (release() them)"
                )
            self._cam.clock.sleep_until(self._cam.clock.now_s() + timeout)
            self._cam.starved += 1
            raise TimeoutError("fake: no frame (every request buffer is held)")
        if not self._done:
            self._result = self._fn()
            self._done = True
        return self._result


class FakeRequest:
    def __init__(
        self,
        arrays: dict[str, Callable[[], np.ndarray]],
        metadata: dict[str, Any],
        cam: FakePicamera2 | None = None,
    ) -> None:
        self._arrays = arrays  # rendered when asked for, as the buffers would be copied
        self._metadata = metadata
        self._cam = cam
        self._generation = cam.stop_count if cam is not None else 0
        self.released = False

    def make_array(self, name: str) -> np.ndarray:
        if self.released:
            raise RuntimeError("fake: request used after release()")
        if name not in self._arrays:
            raise KeyError(f"stream {name!r} is not configured")
        return self._arrays[name]()

    def get_metadata(self) -> dict[str, Any]:
        return dict(self._metadata)

    def release(self) -> None:
        if self.released:
            raise RuntimeError("CompletedRequest: lock now has negative ref_count")
        self.released = True
        cam = self._cam
        if cam is not None and self in cam.held:
            cam.held.remove(self)


class FakePicamera2:
    def __init__(
        self,
        clock: VirtualClock,
        *,
        module: str = "cm3",
        subject_d: float | None = 2.0,
        lens_range: tuple[float, float, float] = (0.0, 15.0, 1.0),
        fps: float = 30.0,
        lens_speed_d_per_frame: float = 1.5,
        control_delay_frames: int = 1,
        rescan_d: float = 0.3,
        scan_never_ends: bool = False,
        full_size: tuple[int, int] = (320, 240),
        seed: int = 0,
        platform: str = "vc4",
    ) -> None:
        if platform not in ("vc4", "pisp"):
            raise ValueError(f"platform: vc4 or pisp, got {platform!r}")
        self.clock = clock
        self.module = module
        self.platform = platform
        model, names = MODULES[module]
        controls: dict[str, Any] = {
            "ExposureTime": (100, 1000000, 10000),
            "FrameDurationLimits": (int(1e6 / fps), 1000000, int(1e6 / fps)),
        }
        for name in names:
            controls[name] = lens_range if name == "LensPosition" else (0, 2, 0)
        self.camera_controls = controls
        # the ISP crops of the default preview (main 1280x960, lores 640x480) until configured
        self.mode_px = PREVIEW_MODE_PX
        self.crops: list[Rect] = []
        self.crop_mins: list[tuple[int, int]] = []
        self._reset_crops([(1280, 960), (640, 480)])
        # Picamera2's name -> (ControlId, ControlInfo); only the id's type is ever looked at
        self.camera_ctrl_info = {
            n: (types.SimpleNamespace(name=n, type=None), v) for n, v in controls.items()
        }
        self.camera_properties = {
            "ScalerCropMaximum": (0, 0, *SENSOR_PX),
            "PixelArraySize": SENSOR_PX,
            "Model": model,
        }
        self.subject_d = subject_d
        self.lens_min, self.lens_max = lens_range[0], lens_range[1]
        self.lens = float(lens_range[2])
        self.lens_target = self.lens
        self.speed = lens_speed_d_per_frame
        self.delay = control_delay_frames
        self.rescan_d = rescan_d
        self.scan_never_ends = scan_never_ends
        self.period = 1.0 / fps
        self.full_size = full_size
        # the scene over the whole sensor (ScalerCropMaximum), one texel per TEXTURE_SCALE
        # sensor pixels: structure at 1/100 of the preview's width, and fine detail only a
        # crop read at the sensor's resolution resolves
        tw, th = SENSOR_PX[0] // TEXTURE_SCALE, SENSOR_PX[1] // TEXTURE_SCALE
        rng = np.random.default_rng(seed)
        noise = rng.normal(0.0, 1.0, (th, tw)).astype(np.float32)
        smooth = cv2.GaussianBlur(noise, (0, 0), sigmaX=tw * 0.75 / 100.0)
        smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-6)
        fine = cv2.GaussianBlur(rng.normal(0.0, 1.0, (th, tw)).astype(np.float32), (0, 0), 0.7)
        fine = fine / (fine.std() + 1e-6)
        self._texture = np.clip(128 + 55 * smooth + 25 * fine, 0, 255).astype(np.uint8)
        # AF state
        self.mode = 0
        self.af_state = 0
        self.pause_state = 0
        self.scanning = False
        self.paused = False
        self.pause_deferred = False
        self.scan_subject: float | None = None
        self.scan_starts = 0
        self.ignored: list[dict[str, Any]] = []
        self.windows: Any = None
        # plumbing
        self.config: dict[str, Any] | None = None
        self.started = False
        self.closed = False
        self.stalled = False
        self.sent: list[dict[str, Any]] = []  # every set_controls call, in order
        self.requests: list[dict[str, Any]] = []  # the merged controls of each request
        self.controls: Any = _controls_class()(self)
        self._queue: list[tuple[int, dict[str, Any]]] = []
        self.buffer_count = 0
        self.held: list[FakeRequest] = []  # requests the application has not released
        self.handed_out: list[FakeRequest] = []  # every request ever returned (stills too)
        self.stop_count = 0
        self.starved = 0  # captures that timed out because every buffer was held
        self.frame_index = 0
        self._next_t = clock.now_s() + self.period
        self.configs: list[dict[str, Any]] = []

    # --- configuration -------------------------------------------------------------------
    def _config(
        self, use: str, main: Any, lores: Any, controls: Any, buffer_count: int
    ) -> dict[str, Any]:
        self._check_controls(dict(controls or {}))
        return {
            "use_case": use,
            "main": dict(main or {}),
            "lores": dict(lores) if lores else None,
            "controls": dict(controls or {}),
            "buffer_count": int(buffer_count),
        }

    def create_preview_configuration(
        self,
        main: Any = None,
        lores: Any = None,
        controls: Any = None,
        buffer_count: int = 4,
        **_: Any,
    ) -> dict[str, Any]:
        return self._config("preview", main, lores, controls, buffer_count)

    def create_still_configuration(
        self,
        main: Any = None,
        lores: Any = None,
        controls: Any = None,
        buffer_count: int = 1,
        **_: Any,
    ) -> dict[str, Any]:
        return self._config("still", main, lores, controls, buffer_count)

    def buffers_free(self) -> int:
        """Request buffers libcamera can fill (the others are held by the application)."""
        return max(0, self.buffer_count - len(self.held))

    def configure(self, config: dict[str, Any]) -> None:
        if self.started:
            raise RuntimeError("Camera must be stopped before configuring")
        self.config = config
        self.configs.append(config)
        self.buffer_count = int(config.get("buffer_count", 4))
        # the sensor mode and the ISP crops start afresh (platformConfigure)
        self.mode_px = PREVIEW_MODE_PX if config["use_case"] == "preview" else SENSOR_PX
        self._reset_crops(self._output_sizes(config))
        # Picamera2.configure_: "Set the controls directly so as to overwrite whatever is there"
        self.controls = _controls_class()(self, controls=dict(config["controls"]))
        if "ScalerCrops" in self.camera_controls:
            # picamera2.py configure_: the aspect-preserving default crop of each output
            lo, hi, _ = self.camera_controls["ScalerCrops"]
            self.controls.set_controls({"ScalerCrops": [lo, hi]})

    def _output_sizes(self, config: dict[str, Any]) -> list[tuple[int, int]]:
        main = tuple(config["main"].get("size") or self.full_size)
        sizes = [(int(main[0]), int(main[1]))]
        if config.get("lores"):
            lores = config["lores"]["size"]
            sizes.append((int(lores[0]), int(lores[1])))
        return sizes

    def _reset_crops(self, outputs: list[tuple[int, int]]) -> None:
        """Every output's crop: the largest of its aspect ratio, centred on the mode (pisp; vc4
        has one crop, from the largest output); the smallest crop the ISP can scale."""
        mode = self.mode_px
        centre = (mode[0] // 2, mode[1] // 2)
        if self.platform == "vc4":
            biggest = max(outputs, key=lambda s: s[0] * s[1])
            self.crops = [_centred(_aspect_bounded(mode, biggest), centre)]
            self.crop_mins = [(32, 32)]  # the ISP driver's answer to a 1x1 selection
        else:
            self.crops = [_centred(_aspect_bounded(mode, out), centre) for out in outputs]
            # pisp.cpp: (output - 1) / (input - 1) strictly below 16, at least 32x32
            self.crop_mins = [
                (max(32, (w - 1) // 16 + 2), max(32, (h - 1) // 16 + 2)) for w, h in outputs
            ]
        native = [_to_native(c, mode) for c in self.crops]
        lo = _to_native((0, 0, *self.crop_mins[0]), mode)
        self.camera_controls["ScalerCrop"] = (lo, (0, 0, *SENSOR_PX), native[0])
        if len(native) == 2:
            self.camera_controls["ScalerCrops"] = (native[0], native[1], native[0])
        else:
            self.camera_controls.pop("ScalerCrops", None)
        info = getattr(self, "camera_ctrl_info", None)
        if info is not None:  # Picamera2 refreshes its control info on configure
            self.camera_ctrl_info = {
                n: (types.SimpleNamespace(name=n, type=None), v)
                for n, v in self.camera_controls.items()
            }

    def _apply_crop(self, i: int, rect: Any) -> None:
        """``applyScalerCrop`` for output `i`: `rect` in native sensor pixels."""
        native = tuple(int(v) for v in rect)
        if not native[2] or not native[3]:
            native = (0, 0, 1, 1)
        isp = _to_mode(native, self.mode_px)  # type: ignore[arg-type]
        min_size = _aspect_expanded(self.crop_mins[i], (native[2], native[3]))
        size = (max(isp[2], min_size[0]), max(isp[3], min_size[1]))
        centre = (isp[0] + isp[2] // 2, isp[1] + isp[3] // 2)
        self.crops[i] = _enclosed(_centred(size, centre), self.mode_px)

    def native_crops(self) -> list[Rect]:
        """Each output's crop in native sensor pixels (what metadata reports)."""
        return [_to_native(c, self.mode_px) for c in self.crops]

    def start(self) -> None:
        assert self.config is not None
        self.started = True
        # the first frame after a (re)start needs a whole frame time at least
        self._next_t = max(self._next_t, self.clock.now_s() + self.period)
        # Picamera2.start_: the pending controls go to camera.start(), before the first frame
        pending = self.controls.make_dict()
        self.controls = _controls_class()(self)
        self._apply(pending)
        if self.mode == 2 and not self.paused:
            self._start_scan()  # a (re)start in Continuous begins a new scan

    def stop(self) -> None:
        self.started = False
        self._queue.clear()  # requests in flight are cancelled with their controls
        # requests captured before the stop are never recycled (request.py: stop_count); the
        # next start has its configuration's buffers afresh
        self.stop_count += 1
        self.held = []

    def close(self) -> None:
        self.closed = True

    # --- controls --------------------------------------------------------------------------
    def _check_controls(self, controls: dict[str, Any]) -> None:
        for name in controls:
            if name not in self.camera_controls:
                raise RuntimeError(f"Control {name} is not advertised by libcamera")

    def set_controls(self, controls: dict[str, Any]) -> None:
        self.controls.set_controls(dict(controls))  # Picamera2.set_controls
        self.sent.append(dict(controls))

    def _queue_request(self) -> None:
        """A request goes back to libcamera carrying every control set since the last one."""
        merged = self.controls.make_dict()
        self.controls = _controls_class()(self)
        if merged:
            self.requests.append(merged)
            self._queue.append((self.frame_index + self.delay, merged))

    def _start_scan(self) -> None:
        self.scanning = True
        self.af_state = 1
        self.scan_starts += 1
        self.scan_subject = self.subject_d

    def _apply(self, c: dict[str, Any]) -> None:
        if "AfMode" in c and int(c["AfMode"]) != self.mode:
            self.mode = int(c["AfMode"])
            self.pause_state = 0
            self.paused = False
            self.pause_deferred = False
            self.scanning = False
            self.af_state = 0
            if self.mode == 2:
                self._start_scan()
        if "AfTrigger" in c:
            trig = int(c["AfTrigger"])
            if self.mode != 1:
                self.ignored.append({"AfTrigger": trig})
            elif trig == 0 and not self.scanning:
                self._start_scan()
            elif trig == 1 and self.scanning:
                self.scanning = False
                self.af_state = 0
                self.lens_target = self.lens  # the lens does not move anywhere else
            else:
                self.ignored.append({"AfTrigger": trig})
        if "AfPause" in c:
            pause = int(c["AfPause"])
            if self.mode != 2:
                self.ignored.append({"AfPause": pause})
            elif pause == 0:
                self.paused = True
                self.pause_state = 2
                self.lens_target = self.lens
            elif pause == 1:
                if self.scanning:
                    self.pause_deferred = True
                    self.pause_state = 1
                else:
                    self.paused = True
                    self.pause_state = 2
            elif pause == 2:
                self.paused = False
                self.pause_deferred = False
                self.pause_state = 0
        if "LensPosition" in c:
            if self.mode == 0:
                self.lens_target = min(max(float(c["LensPosition"]), self.lens_min), self.lens_max)
            else:
                self.ignored.append({"LensPosition": c["LensPosition"]})
        if "AfWindows" in c:
            self.windows = c["AfWindows"]
        per_output = c.get("ScalerCrops") if "ScalerCrops" in self.camera_controls else None
        for i in range(len(self.crops)):
            if per_output is not None and i < len(per_output):
                self._apply_crop(i, per_output[i])
            elif "ScalerCrop" in c:
                self._apply_crop(i, c["ScalerCrop"])

    def _af_step(self) -> None:
        idle = self.mode == 2 and not self.paused and not self.scanning
        if idle and self.subject_d is not None:
            moved = self.scan_subject is None or abs(self.subject_d - self.scan_subject) > (
                self.rescan_d
            )
            if moved:
                self._start_scan()
        if not self.scanning or self.paused:
            return
        goal = self.scan_subject
        if goal is None:
            goal = self.lens_max  # hunts to the end, then fails
        goal = min(max(goal, self.lens_min), self.lens_max)
        if self.scan_never_ends:
            self.lens_target = self.lens_min if self.lens > self.lens_max / 2 else self.lens_max
            return
        self.lens_target = goal
        if abs(self.lens - goal) < 1e-9:
            self.scanning = False
            found = self.scan_subject is not None and self.lens_min <= self.scan_subject <= (
                self.lens_max
            )
            self.af_state = 2 if found else 3
            if self.pause_deferred:
                self.paused = True
                self.pause_deferred = False
                self.pause_state = 2

    def _move_lens(self) -> None:
        step = self.lens_target - self.lens
        if abs(step) <= self.speed:
            self.lens = self.lens_target
        else:
            self.lens += math.copysign(self.speed, step)

    # --- frames ----------------------------------------------------------------------------
    def _render(self, size: tuple[int, ...], lens: float, crop: Rect | None = None) -> np.ndarray:
        """The sensor region `crop` (native pixels; default: the first output's crop) scaled to
        `size`, blurred by the defocus (a blur circle fixed in sensor pixels)."""
        w, h = int(size[0]), int(size[1])
        x, y, cw, ch = crop if crop is not None else self.native_crops()[0]
        s = TEXTURE_SCALE
        x0, y0 = int(x // s), int(y // s)
        x1, y1 = max(-(-(x + cw) // s), x0 + 1), max(-(-(y + ch) // s), y0 + 1)
        region = self._texture[y0:y1, x0:x1]
        shrink = region.shape[1] >= w
        base = cv2.resize(
            region, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        )
        subject = self.subject_d if self.subject_d is not None else lens + 50.0
        blur_native_px = 1.5 * abs(lens - subject) * 3456 / 160.0
        sigma = min(0.2 + blur_native_px * w / cw, w / 8.0)
        blurred = cv2.GaussianBlur(base, (0, 0), sigmaX=sigma)
        return np.dstack([blurred, blurred, blurred])

    def _frame(self) -> FakeRequest:
        if not self.started or self.config is None:
            raise RuntimeError("camera not started")
        self.clock.sleep_until(self._next_t)
        t_ready = self.clock.now_s()
        self._next_t = t_ready + self.period
        self._queue_request()
        due = [c for f, c in self._queue if f <= self.frame_index]
        self._queue = [(f, c) for f, c in self._queue if f > self.frame_index]
        for controls in due:
            self._apply(controls)
        self._af_step()
        self._move_lens()
        exposure_us = 10000
        start_s = t_ready - 0.002 - exposure_us * 1e-6
        metadata: dict[str, Any] = {
            "SensorTimestamp": round((start_s + 1000.0) * 1e9),
            "ExposureTime": exposure_us,
            "FrameDuration": round(self.period * 1e6),
        }
        if "LensPosition" in self.camera_controls:
            metadata["LensPosition"] = float(self.lens)
        if "AfMode" in self.camera_controls:
            metadata["AfState"] = self.af_state
            metadata["AfPauseState"] = self.pause_state
        crops = self.native_crops()
        metadata["ScalerCrop"] = crops[0]
        if len(crops) > 1:
            metadata["ScalerCrops"] = list(crops)
        arrays: dict[str, Callable[[], np.ndarray]] = {}
        lens = self.lens
        lores = self.config.get("lores")
        if lores:
            lores_size = tuple(lores["size"])
            lores_crop = crops[-1]
            arrays["lores"] = lambda: cv2.cvtColor(
                self._render(lores_size, lens, lores_crop), cv2.COLOR_RGB2YUV_I420
            )
        main_size = tuple(self.config["main"].get("size") or self.full_size)
        main_crop = crops[0]
        arrays["main"] = lambda: self._render(main_size, lens, main_crop)
        self.frame_index += 1
        request = FakeRequest(arrays, metadata, self)
        self.held.append(request)
        self.handed_out.append(request)
        return request

    def capture_request(self, wait: Any = None) -> Any:
        job = FakeJob(self, self._frame, needs_buffer=True)
        return job if wait is False else job.get_result()

    def switch_mode_and_capture_request(self, config: dict[str, Any], wait: Any = None) -> Any:
        def run() -> FakeRequest:
            preview = self.config
            assert preview is not None
            self.stop()
            self.configure(config)
            self.start()
            request = self._frame()
            self.stop()
            self.configure(preview)
            self.start()
            return request

        job = FakeJob(self, run, needs_buffer=False)  # the still mode has its own buffers
        return job if wait is False else job.get_result()

    def cancel_all_and_flush(self) -> None:
        pass
