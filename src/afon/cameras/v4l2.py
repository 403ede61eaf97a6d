"""UVC webcams through V4L2 (`v4l2:/dev/videoN`): "focus once, then lock".

Focus controls (camera-apis.md §5, the kernel's ``ext-ctrls-camera.rst`` and ``uvc_ctrl.c``):

- ``focus_absolute`` (V4L2_CID_FOCUS_ABSOLUTE): an integer with min/max/step; "the unit is
  undefined; positive values set the focus closer". afon maps the control's range linearly onto
  0..`PSEUDO_RANGE_D` (10) *pseudo*-dioptres (larger = closer, like dioptres) so its own contrast
  AF can drive it through `move_lens`. These are not real dioptres: nothing about a webcam's
  focus units is calibrated, and the capabilities say so.
- the continuous-AF switch, ``focus_automatic_continuous`` since Linux 5.16, ``focus_auto``
  before (V4L2_CID_FOCUS_AUTO; same id): both names are accepted.
- uvcvideo marks ``focus_absolute`` INACTIVE while continuous AF is on and refuses writes to it
  (EACCES "Permission denied"; EBUSY on some drivers). afon switches continuous AF off first,
  and if a write is still refused (something switched AF back on) it switches it off again and
  retries once.
- Logitech C920s accept, but ignore, a ``focus_absolute`` written right after continuous AF was
  switched off (crowsnest#96; the same value written again later works). So the first write
  after AF off waits `af_off_wait_s` (camera clock), writes the value one step off and then the
  value itself (a real change even when the value is already cached), and reads it back; a
  read-back that still differs is retried once, then raised as `CameraError` — never silent.
  (uvcvideo may answer the read-back from its cache, so the wait and the two writes are what
  makes it work; the read-back catches refusals and clamping.)
- Timestamps: uvcvideo stamps a buffer at the *start of exposure* on CLOCK_MONOTONIC
  (V4L2_BUF_FLAG_TSTAMP_SRC_SOE | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC, ``uvc_queue.c``). On the
  real clock (itself CLOCK_MONOTONIC) the stamp is used as it is: the exposure starts there and
  lasts ``1/fps`` (UVC does not report the exposure of a frame; that is its upper bound), so
  the USB transfer time does not shift it late. A driver flagging EOF stamps the end. Other
  clocks (virtual, other timestamp clocks) map the exposure's end by the smallest arrival delay
  seen.

Two ways to focus, both ending in a lock:

1. afon's own contrast AF over ``focus_absolute`` on the live stream (``lens_drive``): the body
   drives `move_lens`; UVC gives no lens feedback, so the lens counts as moving for `settle_s`
   after each write and frames exposed meanwhile are flagged ``lens_moving``.
2. the camera's own continuous AF switched on and off (``hardware_af``; UVC has no one-shot AF
   command): `af_trigger` switches it on, waits until ``focus_absolute`` (read back each frame)
   stops changing for `AF_STABLE_FRAMES` frames (at least `af_min_s`, at most `af_timeout_s`),
   then switches it off — the lens stays where the camera put it. Cameras whose "auto" is
   really run-once (they switch it back off themselves) end the cycle as soon as they do.

The lock (`lock_focus`) switches continuous AF off, reads ``focus_absolute`` and persists it as
JSON (`afon.cameras.focus_lock.default_lock_path`: ``~/.local/state/afon/focus-locks/<id>.json``
on Linux; the id is the device's ``/dev/v4l/by-id`` name when there is one, else card and bus).
It is re-applied when the camera is opened (so it survives a restart) and after `reconnect`
(webcams forget their controls when unplugged). On open, continuous AF is switched off even
without a lock: with back-button focus the camera must not refocus by itself.

When another program streams from the webcam (crowsnest, ustreamer, camera-streamer), afon does
not open the stream: `apply_lock` (``afon focus --apply``) only sets the controls, which V4L2
allows through a second open; `udev_rule` and `systemd_unit` generate what runs it on plug-in
and at boot (docs/guides/webcam-3d-printer.md).

Optional hardware-AF methods (beyond the `Camera` protocol): ``af_trigger(wait=False) -> str``,
``af_continuous(on)``, ``af_cancel()``, ``af_state() -> str`` (Camera2 names), ``lock_focus()
-> float`` (pseudo-dioptres), ``clear_lock()``, ``reconnect() -> int``. Stills are frames of the
stream (the first exposed after the release), so a release never runs AF.

Timeouts: frame reads wait at most `frame_timeout_s` (``select`` on the device); control writes
are USB control transfers bounded by uvcvideo's own timeout. A timeout or a vanished device
raises `CameraError` and marks the camera disconnected until `reconnect` (backoff on the
camera's clock) has reopened it.

Magnify: a crop of the captured frame at its own pixels (the viewfinder crops ``frame.image``,
the stream as captured: nothing downscales it first), which are also the stills' pixels, so
the HUD says "(crop)". ``zoom_absolute`` is not used: V4L2 documents V4L2_CID_ZOOM_ABSOLUTE
as "the objective lens focal length" (UVC's CT_ZOOM_ABSOLUTE_CONTROL, "Optical Zoom"), so it
reframes (and on a varifocal lens refocuses) the one stream AF and the stills read, and what a
webcam's firmware does with it (optical, or a digital crop of unknown resolution) is not
reported; a sharper magnifier needs a larger stream (``size``).

The real device is reached through linuxpy (`LinuxpyDevice`) behind the small `DeviceApi`
protocol, so tests inject a fake that follows the kernel's semantics.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import select
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from afon.cameras.backoff import retry_with_backoff
from afon.cameras.base import Capabilities, Frame, Image, Still
from afon.cameras.focus_lock import default_lock_path, read_lock_file, slug, write_lock_file
from afon.clock import Clock, RealClock
from afon.errors import AfonError, CameraError

log = logging.getLogger(__name__)

PSEUDO_RANGE_D = 10.0
"""focus_absolute's range is mapped onto 0..this many pseudo-dioptres."""
AUTO_NAMES = ("focus_automatic_continuous", "focus_auto")
"""The continuous-AF control's names: Linux >= 5.16, then older kernels."""
ABSOLUTE = "focus_absolute"
REFUSED_ERRNOS = frozenset({errno.EACCES, errno.EBUSY, errno.EPERM})
GONE_ERRNOS = frozenset({errno.ENODEV, errno.ENXIO, errno.EIO, errno.ENOENT, errno.ESHUTDOWN})
FRAME_TIMEOUT_S = 2.0
SETTLE_S = 0.15
AF_MIN_S = 0.5
AF_TIMEOUT_S = 4.0
AF_STABLE_FRAMES = 5
AF_OFF_WAIT_S = 0.3
"""Wait after switching continuous AF off before writing focus_absolute (C920, crowsnest#96)."""
TSTAMP_SRC_SOE = 0x10000
"""V4L2_BUF_FLAG_TSTAMP_SRC_SOE: the timestamp marks the start of exposure (uvcvideo)."""
TSTAMP_SRC_MASK = 0x70000
TIMESTAMP_MONOTONIC = 0x2000
"""V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC: the timestamp is CLOCK_MONOTONIC (uvcvideo)."""
TIMESTAMP_MASK = 0xE000


@dataclass(frozen=True)
class ControlInfo:
    """One V4L2 control as VIDIOC_QUERY_EXT_CTRL describes it (flags current)."""

    name: str
    minimum: int
    maximum: int
    step: int = 1
    default: int = 0
    inactive: bool = False
    read_only: bool = False


@dataclass(frozen=True)
class RawFrame:
    image: Image
    """RGB uint8."""
    timestamp_s: float
    """The buffer's timestamp (CLOCK_MONOTONIC seconds for uvcvideo)."""
    sequence: int = 0
    flags: int = TSTAMP_SRC_SOE | TIMESTAMP_MONOTONIC
    """The buffer's v4l2_buffer.flags: TSTAMP_SRC says what the timestamp marks (start of
    exposure or end of frame), TIMESTAMP_MONOTONIC that it is on CLOCK_MONOTONIC."""


class DeviceApi(Protocol):
    """The few V4L2 operations afon needs (linuxpy for a real device, a fake in tests).

    Errors are `OSError`s with the kernel's errno (ENODEV: unplugged; EACCES/EBUSY: a refused
    write to an inactive control), and `TimeoutError` when no frame came within the timeout.
    """

    path: str

    def open(self) -> None: ...

    def close(self) -> None: ...

    def device_id(self) -> str: ...

    def controls(self) -> dict[str, ControlInfo]: ...

    def get_control(self, name: str) -> int: ...

    def set_control(self, name: str, value: int) -> None: ...

    def start_stream(self, size: tuple[int, int], fps: float) -> tuple[int, int]: ...

    def read_frame(self, timeout_s: float) -> RawFrame: ...


class LinuxpyDevice:
    """`DeviceApi` over linuxpy (``linuxpy.video.device``), MJPG or YUYV frames."""

    def __init__(self, path: str = "/dev/video0", pixel_format: str = "MJPG") -> None:
        try:
            from linuxpy.video import device as lvd
        except ImportError as exc:
            raise AfonError(
                f"v4l2: the linuxpy library is not installed ({exc}): `pip install linuxpy`"
            ) from None
        self._lvd: Any = lvd
        self.path = path
        self.pixel_format = pixel_format
        self._dev: Any = None
        self._capture: Any = None

    def open(self) -> None:
        if not os.path.exists(self.path):
            raise FileNotFoundError(errno.ENOENT, "no such video device", self.path)
        self._dev = self._lvd.Device(self.path)
        self._dev.open()

    def close(self) -> None:
        capture, dev = self._capture, self._dev
        self._capture = self._dev = None
        if capture is not None:
            with contextlib.suppress(Exception):
                capture.close()
        if dev is not None:
            with contextlib.suppress(Exception):
                dev.close()

    def _device(self) -> Any:
        if self._dev is None:
            raise OSError(errno.ENODEV, "device not open", self.path)
        return self._dev

    def device_id(self) -> str:
        real = os.path.realpath(self.path)
        by_id = Path("/dev/v4l/by-id")
        if by_id.is_dir():
            for link in sorted(by_id.iterdir()):
                if os.path.realpath(link) == real:
                    return link.name
        info = self._device().info
        return f"{info.card}-{info.bus_info}"

    def controls(self) -> dict[str, ControlInfo]:
        ctrls = self._device().controls
        ctrls.refresh()  # re-query: the INACTIVE flag follows the continuous-AF control
        out: dict[str, ControlInfo] = {}
        for ctrl in list(ctrls.values()):
            name = getattr(ctrl, "config_name", None)
            if not isinstance(name, str):
                continue
            try:
                default = int(ctrl.default)
            except Exception:
                default = int(getattr(ctrl, "minimum", 0))
            out[name] = ControlInfo(
                name=name,
                minimum=int(ctrl.minimum),
                maximum=int(ctrl.maximum),
                step=max(1, int(ctrl.step or 1)),
                default=default,
                inactive=bool(ctrl.is_flagged_inactive),
                read_only=bool(ctrl.is_flagged_read_only),
            )
        return out

    def get_control(self, name: str) -> int:
        return int(self._device().controls[name].value)

    def set_control(self, name: str, value: int) -> None:
        ctrl = self._device().controls[name]
        try:
            ctrl.value = int(value)
        except AttributeError as exc:  # linuxpy refuses read-only/disabled/grabbed controls
            raise PermissionError(errno.EACCES, str(exc)) from None

    def start_stream(self, size: tuple[int, int], fps: float) -> tuple[int, int]:
        dev = self._device()
        kind = self._lvd.BufferType.VIDEO_CAPTURE
        dev.set_format(kind, int(size[0]), int(size[1]), self.pixel_format)
        with contextlib.suppress(OSError):
            dev.set_fps(kind, fps)
        fmt = dev.get_format(kind)
        self._capture = self._lvd.VideoCapture(dev)
        self._capture.open()
        return int(fmt.width), int(fmt.height)

    def read_frame(self, timeout_s: float) -> RawFrame:
        dev = self._device()
        if self._capture is None:
            raise OSError(errno.EINVAL, "stream not started", self.path)
        ready, _, _ = select.select([dev], [], [], timeout_s)
        if not ready:
            raise TimeoutError(f"{self.path}: no frame within {timeout_s:g} s")
        frame = self._capture.buffer.raw_read()
        data = np.frombuffer(bytes(frame.data), np.uint8)
        fourcc = getattr(frame.pixel_format, "name", str(frame.pixel_format))
        if fourcc == "YUYV":
            yuyv = data[: frame.width * frame.height * 2].reshape(frame.height, frame.width, 2)
            rgb = cv2.cvtColor(yuyv, cv2.COLOR_YUV2RGB_YUYV)
        else:
            bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
            if bgr is None:
                raise OSError(errno.EIO, f"undecodable {fourcc} frame", self.path)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        flags = int(getattr(getattr(frame, "buff", None), "flags", RawFrame.flags))
        return RawFrame(
            np.asarray(rgb, np.uint8), float(frame.timestamp), int(frame.frame_nb), flags
        )


class _TimeMap:
    """Device timestamps (s) onto the camera clock: offset = smallest (arrival - timestamp)."""

    def __init__(self) -> None:
        self.offset_s: float | None = None

    def map(self, device_s: float, arrival_s: float) -> float:
        delay = arrival_s - device_s
        if self.offset_s is None or delay < self.offset_s:
            self.offset_s = delay
        return device_s + self.offset_s


@dataclass(frozen=True)
class _Move:
    t_s: float
    from_d: float
    to_d: float
    settle_s: float


class V4l2Camera:
    """A UVC webcam behind afon's `Camera` interface (see the module docstring)."""

    clock: Clock

    def __init__(
        self,
        device: str = "/dev/video0",
        clock: Clock | None = None,
        lock_file: str | Path | None = None,
        device_api: DeviceApi | None = None,
        *,
        size: tuple[int, int] = (640, 480),
        fps: float = 30.0,
        settle_s: float = SETTLE_S,
        frame_timeout_s: float = FRAME_TIMEOUT_S,
        af_min_s: float = AF_MIN_S,
        af_timeout_s: float = AF_TIMEOUT_S,
        af_off_wait_s: float = AF_OFF_WAIT_S,
        stream: bool = True,
    ) -> None:
        self.clock = clock if clock is not None else RealClock()
        self.device = device
        self.af_off_wait_s = float(af_off_wait_s)
        self.stream = stream
        self.lock_verified: bool | None = None
        self._af_off_s: float | None = None
        self._api: DeviceApi = device_api if device_api is not None else LinuxpyDevice(device)
        self._lock_file_arg = Path(lock_file).expanduser() if lock_file is not None else None
        self.requested_size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.settle_s = float(settle_s)
        self.frame_timeout_s = float(frame_timeout_s)
        self.af_min_s = float(af_min_s)
        self.af_timeout_s = float(af_timeout_s)
        self.lock_path: Path = self._lock_file_arg or Path(".")
        self.size = self.requested_size
        self.warnings: list[str] = []
        self.reconnects = 0
        self._abs: ControlInfo | None = None
        self._auto_name: str | None = None
        self._auto_on = False
        self._value: int | None = None
        self.locked_value: int | None = None
        self._moves: list[_Move] = []
        self._times = _TimeMap()
        self._index = 0
        self._state = "INACTIVE"
        self._af_started_s: float | None = None
        self._af_kind: str | None = None  # "single" | "continuous"
        self._stable = 0
        self._last_seen: int | None = None
        self._connected = False
        self._closed = False
        self.last_frame: Frame | None = None
        self._connect()

    # --- opening ---------------------------------------------------------------------------
    def _connect(self) -> None:
        try:
            self._api.open()
        except FileNotFoundError:
            raise CameraError(
                f"v4l2:{self.device}: no such video device. Connect the webcam and list devices "
                "with `v4l2-ctl --list-devices` (a /dev/v4l/by-id/... path survives re-plugging)"
            ) from None
        except PermissionError as exc:
            raise CameraError(
                f"v4l2:{self.device}: permission denied ({exc}); add yourself to the 'video' group"
            ) from None
        except OSError as exc:
            raise CameraError(f"v4l2:{self.device}: cannot open: {exc}") from None
        try:
            controls = self._api.controls()
            self._abs = controls.get(ABSOLUTE)
            self._auto_name = next((n for n in AUTO_NAMES if n in controls), None)
            if self._lock_file_arg is None:
                self.lock_path = default_lock_path(self._api.device_id())
            if self.stream:
                self.size = self._api.start_stream(self.requested_size, self.fps)
            self._connected = True
            auto = self._auto_name
            self._auto_on = bool(self._api.get_control(auto)) if auto is not None else False
            self._af_started_s = None
            self._af_kind = None
            self._apply_saved_lock(restore=self._value)
        except OSError as exc:
            self._connected = False
            raise self._error(exc, "setting the camera up") from None

    def _apply_saved_lock(self, restore: int | None) -> None:
        """Continuous AF off; then the persisted lock, else (after a reconnect) the last value."""
        saved = self._read_lock()
        if self._auto_name is not None and self._auto_on:
            self._set_auto(False)  # BBF: the camera must not refocus by itself
        if self._abs is None:
            return
        if saved is not None:
            self._write_abs(saved, verify=True)
            self.locked_value = self._value
            self.lock_verified = self._value == saved
        elif restore is not None:
            self._write_abs(restore)
        else:
            self._value = self._read_value()
            self._record_move(self._value, settle=False)

    # --- the lock file ---------------------------------------------------------------------
    def _read_lock(self) -> int | None:
        path = self.lock_path
        if self._abs is None:
            return None
        try:
            data = read_lock_file(path)
            if data is None:
                return None
            value = int(data["value"])
            lo, hi, step = (int(v) for v in data["range"])
        except (ValueError, KeyError, TypeError) as exc:
            self._warn(f"ignoring unreadable focus lock {path}: {exc}")
            return None
        a = self._abs
        if (lo, hi, step) != (a.minimum, a.maximum, a.step):
            self._warn(
                f"ignoring focus lock {path}: saved for focus_absolute {lo}..{hi} step {step}, "
                f"this device has {a.minimum}..{a.maximum} step {a.step}"
            )
            return None
        return value

    def _write_lock(self, value: int) -> None:
        assert self._abs is not None
        data = {
            "device": self.device,
            "control": ABSOLUTE,
            "value": int(value),
            "range": [self._abs.minimum, self._abs.maximum, self._abs.step],
            "continuous_af_control": self._auto_name,
        }
        if self._lock_file_arg is None:
            # a lock read from afon 0.1's folder is written to the state folder from now on
            self.lock_path = default_lock_path(self._api.device_id(), legacy=False)
        write_lock_file(self.lock_path, data)

    def _warn(self, message: str) -> None:
        log.warning("v4l2:%s: %s", self.device, message)
        self.warnings.append(message)

    # --- errors and controls ---------------------------------------------------------------
    def _error(self, exc: BaseException, doing: str) -> CameraError:
        if isinstance(exc, TimeoutError):
            self._connected = False
            return CameraError(
                f"v4l2:{self.device}: {exc} while {doing} (camera stalled or unplugged); "
                "call reconnect()"
            )
        if isinstance(exc, OSError) and exc.errno in GONE_ERRNOS:
            self._connected = False
            return CameraError(
                f"v4l2:{self.device}: the camera disconnected while {doing} ({exc}); "
                "call reconnect()"
            )
        return CameraError(f"v4l2:{self.device}: {doing} failed: {exc}")

    def _check(self) -> None:
        if self._closed:
            raise CameraError(f"v4l2:{self.device} is closed")
        if not self._connected:
            raise CameraError(f"v4l2:{self.device} is disconnected; call reconnect()")

    def _set_auto(self, on: bool) -> None:
        if self._auto_name is None:
            raise CameraError(f"v4l2:{self.device}: no continuous-AF control")
        try:
            self._api.set_control(self._auto_name, 1 if on else 0)
            self._auto_on = bool(self._api.get_control(self._auto_name))  # read it back
            self._af_off_s = None if self._auto_on else self.clock.now_s()
        except OSError as exc:
            raise self._error(exc, f"setting {self._auto_name}={int(on)}") from None

    def _read_value(self) -> int:
        assert self._abs is not None
        try:
            value = int(self._api.get_control(ABSOLUTE))
        except OSError as exc:
            raise self._error(exc, f"reading {ABSOLUTE}") from None
        return min(max(value, self._abs.minimum), self._abs.maximum)  # garbage firmware values

    def _write_abs(self, value: int, verify: bool = False) -> None:
        """Write focus_absolute, continuous AF off first; a refused write is retried once.

        The first write after AF off is made the C920 way (see the module docstring) and read
        back; so is every write with `verify`.
        """
        assert self._abs is not None
        if self._auto_on:
            self._set_auto(False)
        careful = verify or self._af_off_s is not None
        if self._af_off_s is not None:
            self.clock.sleep_until(self._af_off_s + self.af_off_wait_s)
            self._af_off_s = None
        for attempt in (1, 2):
            if careful:
                self._set_abs(self._neighbour(value))
            if self._set_abs(value) and not careful:
                # AF had been switched on behind our back: now off, write it the careful way
                careful = True
                self._set_abs(self._neighbour(value))
                self._set_abs(value)
            actual = self._read_value()
            if not careful or actual == value:
                break
            if attempt == 2:
                self._value = actual
                self._record_move(actual, settle=True)
                raise CameraError(
                    f"v4l2:{self.device}: the camera ignored {ABSOLUTE}={value}: it reads "
                    f"{actual} after two tries with continuous AF off (firmware refusing the "
                    "focus control?)"
                )
            self.clock.sleep_until(self.clock.now_s() + self.af_off_wait_s)
        self._value = actual
        self._record_move(actual, settle=True)

    def _neighbour(self, value: int) -> int:
        """The value one step away (down at the top of the range), for a real change."""
        a = self._abs
        assert a is not None
        up = value + a.step
        return up if up <= a.maximum else max(a.minimum, value - a.step)

    def _set_abs(self, value: int) -> bool:
        """One write; True when it was refused first and continuous AF had to be switched off."""
        for attempt in (1, 2):
            try:
                self._api.set_control(ABSOLUTE, int(value))
                return attempt == 2
            except OSError as exc:
                if exc.errno in REFUSED_ERRNOS and attempt == 1 and self._auto_name is not None:
                    # "control is inactive": continuous AF was switched on behind our back
                    self._set_auto(False)
                    if self._af_off_s is not None:
                        self.clock.sleep_until(self._af_off_s + self.af_off_wait_s)
                        self._af_off_s = None
                    continue
                if exc.errno in REFUSED_ERRNOS:
                    raise CameraError(
                        f"v4l2:{self.device}: the camera refused {ABSOLUTE}={value} ({exc}) "
                        "even with continuous AF off"
                    ) from None
                raise self._error(exc, f"writing {ABSOLUTE}={value}") from None
        return True

    # --- units -----------------------------------------------------------------------------
    def _to_d(self, value: int) -> float:
        a = self._abs
        if a is None or a.maximum == a.minimum:
            return 0.0
        return (value - a.minimum) / (a.maximum - a.minimum) * PSEUDO_RANGE_D

    def _to_value(self, d: float) -> int:
        assert self._abs is not None
        a = self._abs
        raw = a.minimum + d / PSEUDO_RANGE_D * (a.maximum - a.minimum)
        steps = round((raw - a.minimum) / a.step)
        return int(min(max(a.minimum + steps * a.step, a.minimum), a.maximum))

    @property
    def step_d(self) -> float:
        """One focus_absolute step in pseudo-dioptres."""
        a = self._abs
        if a is None or a.maximum == a.minimum:
            return 0.0
        return a.step / (a.maximum - a.minimum) * PSEUDO_RANGE_D

    @property
    def depth_of_focus_d(self) -> float:
        """For afon's AF context: about two focus steps, at least 0.25 pseudo-dioptres."""
        return max(0.25, 2.0 * self.step_d)

    # --- lens history ----------------------------------------------------------------------
    def _record_move(self, value: int, settle: bool) -> None:
        now = self.clock.now_s()
        to_d = self._to_d(value)
        from_d = self._position_at(now) if self._moves else to_d
        self._moves.append(_Move(now, from_d, to_d, self.settle_s if settle else 0.0))
        del self._moves[:-32]

    def _position_at(self, t_s: float) -> float:
        if not self._moves:
            return math.nan if self._abs is None else self._to_d(self._value or 0)
        move = self._moves[0]
        for m in self._moves:
            if m.t_s <= t_s:
                move = m
            else:
                break
        if t_s < move.t_s:
            return move.from_d
        if move.settle_s <= 0 or t_s >= move.t_s + move.settle_s:
            return move.to_d
        frac = (t_s - move.t_s) / move.settle_s
        return move.from_d + frac * (move.to_d - move.from_d)

    def _moving_between(self, start_s: float, end_s: float) -> bool:
        return any(
            m.from_d != m.to_d and m.t_s <= end_s and m.t_s + m.settle_s > start_s
            for m in self._moves
        )

    # --- capabilities ----------------------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        notes: list[str] = [
            f"stills are frames of the {self.size[0]}x{self.size[1]} stream",
            "magnify: a crop of the captured frame at its own pixels (zoom_absolute is the "
            "lens's focal length: it would reframe what AF and the stills read)",
        ]
        a = self._abs
        if a is not None:
            notes.append(
                f"{ABSOLUTE} {a.minimum}..{a.maximum} step {a.step} is mapped linearly onto "
                f"0-{PSEUDO_RANGE_D:g} pseudo-dioptres: UVC focus units are undefined, so these "
                "are not real dioptres (larger = closer)"
            )
            notes.append(
                f"no lens feedback: the lens counts as moving for {self.settle_s:g} s after "
                "each write"
            )
        else:
            notes.append(f"no {ABSOLUTE} control: fixed-focus webcam, no AF")
        if self._auto_name is not None:
            notes.append(
                f"hardware AF = the camera's continuous AF ({self._auto_name}) switched on and "
                "off; UVC reports no AF result, so 'focused' means the focus value stopped "
                "changing"
            )
        else:
            notes.append("no continuous-AF control: AF is afon's own contrast AF")
        notes.append(f"focus lock file: {self.lock_path}")
        notes.extend(self.warnings)
        return Capabilities(
            lens_drive=a is not None,
            phase_detect=False,
            still_capture=True,
            live_view=True,
            hardware_af=self._auto_name is not None and a is not None,
            lens_range_d=(0.0, PSEUDO_RANGE_D) if a is not None else (0.0, 0.0),
            frame_rate_hz=self.fps,
            release_lag_s=0.0,
            still_exposure_s=1.0 / self.fps,
            notes=tuple(notes),
        )

    # --- frames ----------------------------------------------------------------------------
    def next_frame(self, phase: bool = False) -> Frame:
        """Read the next frame (at most `frame_timeout_s`); follow hardware AF if it runs."""
        self._check()
        try:
            raw = self._api.read_frame(self.frame_timeout_s)
        except (OSError, TimeoutError) as exc:
            raise self._error(exc, "reading a frame") from None
        now = self.clock.now_s()
        exposure_s = 1.0 / self.fps
        device_end_s = raw.timestamp_s
        if raw.flags & TSTAMP_SRC_MASK == TSTAMP_SRC_SOE:
            device_end_s += exposure_s  # uvcvideo: the timestamp marks the start of exposure
        to_clock = getattr(self.clock, "monotonic_to_s", None)
        if raw.flags & TIMESTAMP_MASK == TIMESTAMP_MONOTONIC and callable(to_clock):
            end_s = min(float(to_clock(device_end_s)), now)  # the same clock: no guessing
        else:
            end_s = min(self._times.map(device_end_s, now), now)
        start_s = end_s - exposure_s
        if self._auto_on and self._abs is not None:
            self._follow_hardware_af(now)
        lens_start = self._position_at(start_s)
        lens_end = self._position_at(end_s)
        frame = Frame(
            index=self._index,
            image=raw.image,
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            ready_s=now,
            lens_start_d=lens_start,
            lens_end_d=lens_end,
            lens_moving=self._moving_between(start_s, end_s) or lens_start != lens_end,
            meta={
                "sequence": raw.sequence,
                "focus_absolute": self._value,
                "continuous_af": self._auto_on,
                "af_state": self._state,
            },
        )
        self._index += 1
        self.last_frame = frame
        return frame

    def _follow_hardware_af(self, now: float) -> None:
        value = self._read_value()
        if value != self._value:
            self._value = value
            self._record_move(value, settle=False)
        self._stable = self._stable + 1 if value == self._last_seen else 0
        self._last_seen = value
        if self._af_kind == "continuous":
            self._state = "PASSIVE_FOCUSED" if self._stable >= AF_STABLE_FRAMES else "PASSIVE_SCAN"
            return
        if self._af_kind != "single" or self._af_started_s is None:
            return
        assert self._auto_name is not None
        try:
            still_on = bool(self._api.get_control(self._auto_name))
        except OSError as exc:
            raise self._error(exc, f"reading {self._auto_name}") from None
        elapsed = now - self._af_started_s
        if not still_on:  # a run-once "auto": the camera switched it off itself
            self._auto_on = False
            self._end_single(True)
        elif elapsed >= self.af_min_s and self._stable >= AF_STABLE_FRAMES:
            self._end_single(True)
        elif elapsed >= self.af_timeout_s:
            self._end_single(False)

    def _end_single(self, focused: bool) -> None:
        if self._auto_on:
            self._set_auto(False)  # the lens stays where the camera's AF put it
        self._af_started_s = None
        self._af_kind = None
        self._value = self._read_value()
        self._record_move(self._value, settle=False)
        self._state = "FOCUSED_LOCKED" if focused else "NOT_FOCUSED_LOCKED"

    # --- hardware AF -----------------------------------------------------------------------
    def _require_af(self, what: str) -> None:
        self._check()
        if self._auto_name is None or self._abs is None:
            raise CameraError(
                f"v4l2:{self.device}: {what} needs the camera's continuous-AF control "
                f"({' / '.join(AUTO_NAMES)}), which this webcam does not have; use afon's own "
                "contrast AF (move_lens)"
            )

    def af_state(self) -> str:
        """Camera2 name of the AF state."""
        return self._state

    def af_trigger(self, wait: bool = False) -> str:
        """One-shot AF: continuous AF on until the focus value settles, then off (lens stays)."""
        self._require_af("af_trigger")
        self._set_auto(True)
        self._af_kind = "single"
        self._af_started_s = self.clock.now_s()
        self._stable = 0
        self._last_seen = None
        self._state = "ACTIVE_SCAN"
        if wait:
            while self._af_kind == "single":
                self.next_frame()
        return self._state

    def af_continuous(self, on: bool) -> None:
        """Continuous AF on while AF-ON is held; off locks where the camera's AF left the lens."""
        self._require_af("af_continuous")
        if on:
            self._set_auto(True)
            self._af_kind = "continuous"
            self._af_started_s = self.clock.now_s()
            self._stable = 0
            self._last_seen = None
            self._state = "PASSIVE_SCAN"
            return
        if self._af_kind != "continuous":
            return
        focused = self._state == "PASSIVE_FOCUSED"
        self._end_single(focused)

    def af_cancel(self) -> None:
        """Switch the camera's AF off; the lens stays where it is."""
        self._require_af("af_cancel")
        if self._auto_on:
            self._set_auto(False)
        self._af_kind = None
        self._af_started_s = None
        self._value = self._read_value()
        self._record_move(self._value, settle=False)
        self._state = "INACTIVE"

    def lock_focus(self) -> float:
        """AF off, read focus_absolute, persist it; return it in pseudo-dioptres."""
        self._check()
        if self._abs is None:
            raise CameraError(f"v4l2:{self.device}: no {ABSOLUTE} control to lock")
        if self._af_kind is not None:
            if self._af_kind == "continuous":
                self.af_continuous(False)
            else:
                self._end_single(self._stable >= AF_STABLE_FRAMES)
        if self._auto_on:
            self._set_auto(False)
        value = self._read_value()
        self._value = value
        self._write_lock(value)
        self.locked_value = value
        return self._to_d(value)

    def clear_lock(self) -> None:
        """Forget the persisted lock (the lens stays where it is)."""
        self.locked_value = None
        with contextlib.suppress(FileNotFoundError):
            self.lock_path.unlink()

    # --- lens ------------------------------------------------------------------------------
    def move_lens(self, target_d: float) -> float:
        """Write focus_absolute (continuous AF off first); return the quantised position."""
        self._check()
        if self._abs is None:
            return self.lens_position_d()
        if self._af_kind is not None:
            self._af_kind = None
            self._af_started_s = None
        self._state = "INACTIVE"
        value = self._to_value(float(target_d))
        self._write_abs(value)
        return self._to_d(self._value if self._value is not None else value)

    def lens_position_d(self) -> float:
        if self._abs is None:
            return math.nan
        return self._position_at(self.clock.now_s())

    def lens_moving(self) -> bool:
        now = self.clock.now_s()
        if self._auto_on:
            return self._stable < AF_STABLE_FRAMES
        return self._moving_between(now, now)

    # --- stills ----------------------------------------------------------------------------
    def capture_still(self, release_s: float, render: bool = True) -> Still:
        """The first stream frame exposed after `release_s` (no AF: nothing is triggered)."""
        self._check()
        self.clock.sleep_until(release_s)
        frame = self.next_frame()
        for _ in range(4):
            if frame.exposure_start_s >= release_s - 1e-9:
                break
            frame = self.next_frame()
        return Still(
            image=frame.image if render else None,
            exposure_start_s=frame.exposure_start_s,
            exposure_end_s=frame.exposure_end_s,
            lens_start_d=frame.lens_start_d,
            lens_end_d=frame.lens_end_d,
            meta={
                "backend": "v4l2",
                "device": self.device,
                "focus_absolute": self._value,
                "locked_value": self.locked_value,
                "frame_index": frame.index,
                "lens_moving": frame.lens_moving,
            },
        )

    # --- faults ----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def reconnect(
        self, max_attempts: int = 8, base_delay_s: float = 0.5, max_delay_s: float = 8.0
    ) -> int:
        """Reopen the device with exponential backoff (on the camera's clock) and re-apply the
        focus lock; return the number of attempts it took. Raises `CameraError` if it stays gone.
        """
        if self._closed:
            raise CameraError(f"v4l2:{self.device} is closed")

        def attempt() -> None:
            with contextlib.suppress(OSError):
                self._api.close()
            self._connect()

        attempts = retry_with_backoff(
            self.clock,
            attempt,
            name=f"v4l2:{self.device}",
            max_attempts=max_attempts,
            base_delay_s=base_delay_s,
            max_delay_s=max_delay_s,
        )
        self.reconnects += 1
        return attempts

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._connected = False
        with contextlib.suppress(OSError):
            self._api.close()

    def __enter__(self) -> V4l2Camera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- re-applying a lock for another program's stream ----------------------------------------
def apply_lock(
    device: str, *, device_api: DeviceApi | None = None, clock: Clock | None = None
) -> tuple[int | None, bool, Path]:
    """Open `device` for its controls only (no stream), re-apply the saved lock, close.

    Returns (saved value or None when there is no lock, read back equal, lock file).
    """
    cam = V4l2Camera(device, clock=clock, device_api=device_api, stream=False)
    try:
        return cam.locked_value, bool(cam.lock_verified), cam.lock_path
    finally:
        cam.close()


def service_name(device: str) -> str:
    """The systemd unit that re-applies the lock of `device`."""
    return f"afon-focus-{slug(os.path.basename(device))[:80]}.service"


def udev_rule(device: str) -> str:
    """A udev rule that starts `service_name(device)` whenever the webcam appears.

    Matches the persistent ``/dev/v4l/by-id`` link that 60-persistent-v4l.rules creates (so the
    rule file must sort after it: 99-...). udev's coldplug at boot sends the same "add" event,
    so the unit also runs at every boot.
    """
    link = device.removeprefix("/dev/")
    return (
        f"# afon: re-apply the saved focus lock of {device} when it is plugged in (and at boot)\n"
        f'ACTION=="add", SUBSYSTEM=="video4linux", SYMLINK=="{link}", '
        f'TAG+="systemd", ENV{{SYSTEMD_WANTS}}+="{service_name(device)}"\n'
    )


def systemd_unit(device: str, afon_command: str, user: str, state_dir: str) -> str:
    """A oneshot unit running ``afon focus --camera v4l2:DEVICE --apply`` as `user`."""
    return (
        "[Unit]\n"
        f"Description=afon: re-apply the saved focus lock of {device}\n"
        "# after the printer's streamer, which may reset the camera's controls when it starts\n"
        "After=crowsnest.service ustreamer.service camera-streamer.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"User={user}\n"
        f"Environment=AFON_STATE_DIR={state_dir}\n"
        f"ExecStart={afon_command} focus --camera v4l2:{device} --apply\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
