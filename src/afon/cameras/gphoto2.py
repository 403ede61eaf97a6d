"""Tethered camera bodies through libgphoto2 / python-gphoto2 (`gphoto2:` or `gphoto2:PORT`).

The body's own AF does the focusing; afon decides *when*: AF-ON runs the body's AF without a
release, and the shutter releases without AF. Per brand (camera-apis.md §4, libgphoto2's
``camlibs/ptp2/config.c`` and ``library.c``):

- Canon EOS.
  AF-S: ``autofocusdrive=1``; without it, an ``eosremoterelease`` half press with AF, let go
  after `half_press_s`.
  AF-C: ``eosremoterelease`` "Press Half AF" held, "Release Half" on let-go (libgphoto2 >=
  2.5.34 values); "Press 1" / "Release 1" with the older value set; without eosremoterelease,
  repeated ``autofocusdrive``. A held half press *tracks* only when the body's AF operation
  (``focusmode``) is AI Servo (AI Focus switches by itself); in One Shot it focuses once and
  locks, so AF-C acts as AF-S: the capabilities and `warnings` say so when AF-C starts.
  Release: ``eosremoterelease`` "Press Full MF" → "Release" (>= 2.5.34) or "Immediate" →
  "Release Full" (older); the file arrives as a FILE_ADDED event. Without eosremoterelease:
  ``focusmode=Manual`` (``autofocusdrive`` still focuses in Manual).
- Nikon.
  AF-S: ``autofocusdrive=1`` (the driver waits up to 5 s; an error means out of focus).
  AF-C: ``autofocusdrive`` repeated while held (PTP has no hold-AF command), a live-view frame
  between two drives (a drive blocks the PTP session, so the viewfinder would freeze).
  Release: the driver setting ``autofocus=Off``, then capture. libgphoto2 honours it only on
  one capture path (``camera_capture`` in ``camlibs/ptp2/library.c``): a body that lists
  InitiateCaptureRecInMedia (0x9207, "Nikon Capture 3" in the summary's Device Capabilities)
  is released with af=0; with only the older operations (0x90C0 / 0x90CB, "Nikon Capture 1/2")
  or none, the release focuses anyway (D5100; the D3200, to which libgphoto2 adds 0x9207 itself
  because it "works to some degree", too: gphoto2#333). So the plan is decided from the
  operations the body lists; ``autofocus`` is a persistent global libgphoto2 setting (it also
  changes the gphoto2 command line's captures), so its old value is restored on `close`.
  Nikon 1 bodies refuse it.
- Sony.
  AF-S: ``autofocus=1`` (half press) for `half_press_s`, then 0. AF-C: ``autofocus=1`` held,
  0 on let-go. Release: ``focusmode=Manual`` for the release, restored after (the driver waits
  up to 3 s for the camera); the camera's *AF w/ shutter* cannot be read.
- Fujifilm.
  AF-S: ``autofocusdrive=1`` (works in MF: "AF in manual"). AF-C: repeated ``autofocusdrive``,
  live-view frames between the drives as on Nikon.
  Release: only in MF (focus-mode switch M); no release-without-AF call is known.

A body that cannot release without AF (no way found above, e.g. a Nikon 1, an EOS whose driver
has neither eosremoterelease nor a settable focus mode, a Fujifilm not in MF) is detected when it
is opened: `release_plan` says why and what to change on the camera (menu names from
camera-apis.md §1), the capabilities' notes repeat it, and `capture_still` raises `CameraError`
with that advice instead of letting the body refocus (unless ``allow_af_on_release=True``).

Optional hardware-AF methods (beyond the `Camera` protocol):

- ``af_trigger(wait=False) -> str``: AF-S. Nikon/Fujifilm drives run on the worker thread, so
  the call returns at once (ACTIVE_SCAN) unless ``wait``; the result comes with later frames.
- ``af_continuous(on: bool)``: AF-C while AF-ON is held; ``False`` stops it (the lens stays).
- ``af_cancel()``: Canon ``cancelautofocus`` (or Release Half), Sony half-press let go; Nikon
  and Fujifilm have no cancel widget, so a running drive finishes.
- ``af_state() -> str``: Camera2 names. Only Nikon and Fujifilm drives report a result
  (FOCUSED_LOCKED / NOT_FOCUSED_LOCKED); Canon and Sony report FOCUSED_LOCKED once the command
  was accepted (`af_confirmed()` is False then).
- ``lock_focus() -> float``: ends any AF, waits for a running drive, re-applies the
  release-without-AF setting; returns NaN: libgphoto2 reports no lens position.
- ``poll_events(timeout_ms) -> list[tuple[str, str | None]]``: the body's events
  (``file_added`` with "folder/name", ``folder_added``, ``capture_complete``, ``unknown`` text).
- ``reconnect() -> int``: backoff on the camera's clock, then the release setting and the AF
  lock are re-applied (no half press left held).

Busy: live view answers "camera busy" (GP_ERROR_CAMERA_BUSY, -110) while the body is still
working (after an AF drive, a release, a setting); `next_frame` retries a few times on the
camera's clock and then shows the last frame again — a busy camera is not a lost one, so it
never leads to a reconnect.

Timeouts: every libgphoto2 call runs on one worker thread (libgphoto2 is not thread-safe) and is
waited for with a wall-clock timeout (the hardware runs in real time): `call_timeout_s`, or
`capture_timeout_s` for a release and its download, `af_timeout_s` for an AF drive. A call that
times out or fails with an I/O error marks the camera disconnected (the stuck call is abandoned
with its thread) and raises `CameraError`; `reconnect` starts afresh.

Live view: frames come from ``capture_preview`` (JPEG) where the body offers it; otherwise the
capabilities say there is no live view, and `next_frame` paces placeholder frames (the last
still, or grey) at `NO_LIVE_VIEW_RATE_HZ`. Preview frames carry no exposure timestamps: the
receipt time is used. libgphoto2 reports no lens position (NaN).

Magnify (``magnified``): Canon EOS bodies zoom their live view themselves through ``eoszoom``
(TEXT: "1", "5", "10"; libgphoto2 sends PTP EOS_Zoom) and ``eoszoomposition`` (TEXT "x,y":
EOS_ZoomPosition, the zoom frame's top-left corner in the still's pixels, as EDSDK clients use
it; libgphoto2 notes "approx 64 pixel steps on the EOS 1000D"). Both are write-only actions
(they read "0" / "0,0"), so the adapter keeps what it sent; the live-view frames after the
command are the zoom frame read from the sensor by the body (HUD "sensor"). The coordinates
need the still's size: `sensor_px`, else the size of the first still downloaded; until then,
and on bodies without these widgets (Nikon: ``liveviewimagezoomratio`` zooms around the body's
own AF area by ratios libgphoto2 does not relate to a magnification; Sony, Fujifilm: none), the
viewfinder crops the preview ("(crop)"). While zoomed the preview frames the loop reads are
the zoom frame (the body's own AF focuses there, as in its magnified live view); the still is
the whole frame (the zoom is live view only); ``end_magnify`` sends ``eoszoom=1``.

Stills: the file is downloaded (``file_get``; the JPEG of a RAW+JPEG pair), decoded to RGB, and
its camera path is kept in ``meta["camera_file"]`` (all files of the release in
``meta["camera_files"]``; only the downloaded one survives a capture target of "Internal RAM",
so set ``capturetarget`` to "Memory card" to keep RAW files). The exposure lies between
``exposure_start_s`` (the release command) and ``exposure_end_s`` (the camera's answer).
"""

from __future__ import annotations

import contextlib
import math
import queue
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from afon.cameras.backoff import retry_with_backoff
from afon.cameras.base import Capabilities, Frame, Image, Still
from afon.clock import Clock, RealClock
from afon.errors import AfonError, CameraError

CALL_TIMEOUT_S = 10.0
CAPTURE_TIMEOUT_S = 30.0
AF_TIMEOUT_S = 8.0
"""Nikon's driver waits up to 5 s for an AF drive; a little more for USB."""
HALF_PRESS_S = 1.0
"""How long a half press (Canon eosremoterelease, Sony autofocus) is held for AF-S."""
NO_LIVE_VIEW_RATE_HZ = 10.0
EVENT_POLL_MS = 50

# libgphoto2 result codes that mean the camera is gone or the link is broken
GP_ERROR_IO = -7
GP_ERROR_TIMEOUT = -10
GP_ERROR_IO_INIT = -31
GP_ERROR_IO_READ = -34
GP_ERROR_IO_WRITE = -35
GP_ERROR_IO_UPDATE = -37
GP_ERROR_IO_USB_CLEAR_HALT = -51
GP_ERROR_IO_USB_FIND = -52
GP_ERROR_IO_USB_CLAIM = -53
GP_ERROR_IO_LOCK = -60
GP_ERROR_MODEL_NOT_FOUND = -105
GP_ERROR_NOT_SUPPORTED = -6
GP_ERROR_CAMERA_BUSY = -110
BUSY_RETRIES = 3
BUSY_RETRY_S = 0.05
"""Live view answering "busy" is asked again this often, this far apart (camera clock)."""
DISCONNECT_CODES = frozenset(
    {
        GP_ERROR_IO,
        GP_ERROR_TIMEOUT,
        GP_ERROR_IO_INIT,
        GP_ERROR_IO_READ,
        GP_ERROR_IO_WRITE,
        GP_ERROR_IO_UPDATE,
        GP_ERROR_IO_USB_CLEAR_HALT,
        GP_ERROR_IO_USB_FIND,
        GP_ERROR_IO_USB_CLAIM,
        GP_ERROR_IO_LOCK,
        GP_ERROR_MODEL_NOT_FOUND,
    }
)

CANON_NEW = {
    "af_half": "Press Half AF",
    "af_half_off": "Release Half",
    "release_press": "Press Full MF",
    "release_off": "Release",
}
"""eosremoterelease values of libgphoto2 >= 2.5.34 (commit 5d4c1342)."""
CANON_OLD = {
    "af_half": "Press 1",
    "af_half_off": "Release 1",
    "release_press": "Immediate",
    "release_off": "Release Full",
}
"""eosremoterelease values before 2.5.34: "Press Half" did not AF, "Press 1" does;
"Immediate" releases without AF."""
MANUAL_FOCUS_VALUES = ("Manual", "MF", "MF (fixed)", "MF (selection)", "Manual Focus")
CANON_TRACKING_VALUES = ("AI Servo", "AI Focus", "Servo AF", "Continuous")
"""Canon focusmode values in which a held half press keeps focusing (config.c: One Shot 0,
AI Servo 1, AI Focus 2)."""
NIKON_CAPTURE_RE = re.compile(r"Nikon Capture (\d)")
JPEG_SUFFIXES = (".jpg", ".jpeg")

NO_CONNECT_ADVICE = (
    "connect the camera by USB, switch it on, set its USB mode to PTP / PC remote, and close "
    "programs that claim it (e.g. gvfs-gphoto2-volume-monitor); `gphoto2 --auto-detect` lists "
    "cameras and ports"
)


def _import_gphoto2() -> Any:
    try:
        import gphoto2
    except ImportError as exc:
        raise AfonError(
            f"gphoto2: the python-gphoto2 library is not installed ({exc}): `pip install gphoto2` "
            "(its wheels bundle libgphoto2)"
        ) from None
    return gphoto2


class Gphoto2CallError(CameraError):
    """A libgphoto2 call failed without the camera going away (e.g. AF out of focus)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> tuple[type[Gphoto2CallError], tuple[str, int]]:
        return type(self), (str(self), self.code)


class _Worker:
    """One thread that runs libgphoto2 calls in order; callers wait with a timeout."""

    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[Callable[[], Any], Future[Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="afon-gphoto2", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((fn, future))
        return future

    def stop(self) -> None:
        self._queue.put(None)


@dataclass(frozen=True)
class WidgetInfo:
    name: str
    type: int
    value: Any
    choices: tuple[str, ...] = ()
    readonly: bool = False


@dataclass(frozen=True)
class ReleasePlan:
    """How this body releases without AF, or why it cannot and what the user should change."""

    method: str
    ok: bool
    detail: str = ""
    advice: str = ""


class Gphoto2Camera:
    """A tethered camera body (libgphoto2) behind afon's `Camera` interface."""

    clock: Clock

    def __init__(
        self,
        port: str | None = None,
        clock: Clock | None = None,
        gp: Any = None,
        *,
        live_view: bool = True,
        call_timeout_s: float = CALL_TIMEOUT_S,
        capture_timeout_s: float = CAPTURE_TIMEOUT_S,
        af_timeout_s: float = AF_TIMEOUT_S,
        half_press_s: float = HALF_PRESS_S,
        allow_af_on_release: bool = False,
        sensor_px: tuple[int, int] | None = None,
    ) -> None:
        self.clock = clock if clock is not None else RealClock()
        self.sensor_px = sensor_px
        """The still's size in pixels: Canon's zoom-position coordinates (learned from a still)."""
        self._zoom_sent: tuple[int, tuple[int, int]] | None = None
        self._zoom_rect: tuple[float, float, float, float] | None = None
        self._zoom_from_index = 0
        self.port = port or None
        self._gp = gp if gp is not None else _import_gphoto2()
        self.want_live_view = live_view
        self.call_timeout_s = float(call_timeout_s)
        self.capture_timeout_s = float(capture_timeout_s)
        self.af_timeout_s = float(af_timeout_s)
        self.half_press_s = float(half_press_s)
        self.allow_af_on_release = allow_af_on_release
        self.name = f"gphoto2:{self.port or ''}"
        self.model = ""
        self.brand = "generic"
        self.widgets: dict[str, WidgetInfo] = {}
        self.release_plan = ReleasePlan("unknown", False)
        self.live_view = False
        self.reconnects = 0
        self.pending_events: list[tuple[str, str | None]] = []
        self.last_file_bytes: bytes | None = None
        self._worker: _Worker | None = None
        self._camera: Any = None
        self._connected = False
        self._closed = False
        self._index = 0
        self._last_image: Image | None = None
        self._last_frame_s: float | None = None
        self._rate_hz = NO_LIVE_VIEW_RATE_HZ
        self._live_view_note = ""
        # AF
        self._state = "INACTIVE"
        self._confirmed = False
        self._af_future: Future[Any] | None = None
        self._af_continuous = False
        self._half_pressed = False
        self._half_release_at: float | None = None
        self._af_values: dict[str, str] | None = None
        self._drive_due = False
        self.warnings: list[str] = []
        self.nikon_captures: frozenset[int] | None = None
        """The "Nikon Capture N" paths the body lists (1: 0x90C0, 2: 0x90CB, 3: 0x9207)."""
        self._autofocus_before: Any = None
        self.busy_retries = 0
        self._connect()

    # --- worker plumbing -------------------------------------------------------------------
    def _call(self, fn: Callable[[], Any], what: str, timeout_s: float | None = None) -> Any:
        if self._worker is None:
            raise CameraError(f"{self.name} is not connected; call reconnect()")
        future = self._worker.submit(fn)
        return self._wait(future, what, self.call_timeout_s if timeout_s is None else timeout_s)

    def _wait(self, future: Future[Any], what: str, timeout_s: float) -> Any:
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            self._lose()
            raise CameraError(
                f"{self.name}: {what} did not answer within {timeout_s:g} s (camera hung or "
                "unplugged); call reconnect()"
            ) from None
        except self._gp.GPhoto2Error as exc:
            raise self._translate(exc, what) from None

    def _translate(self, exc: Any, what: str) -> CameraError:
        code = int(getattr(exc, "code", -1))
        if code in DISCONNECT_CODES:
            self._lose()
            return CameraError(
                f"{self.name}: the camera disconnected during {what} ({exc}); call reconnect()"
            )
        return Gphoto2CallError(f"{self.name}: {what} failed: {exc}", code)

    def _lose(self) -> None:
        self._connected = False
        if self._worker is not None:
            self._worker.stop()  # a hung call keeps its (daemon) thread; a new one replaces it
        self._worker = None
        self._af_future = None

    def _check(self) -> None:
        if self._closed:
            raise CameraError(f"{self.name} is closed")
        if not self._connected:
            raise CameraError(f"{self.name} is disconnected; call reconnect()")

    # --- opening ---------------------------------------------------------------------------
    def _connect(self) -> None:
        try:
            self._open_session()
        except BaseException:
            self._lose()  # never leave a worker thread behind a failed attempt
            raise

    def _open_session(self) -> None:
        gp = self._gp
        self._worker = _Worker()
        camera = self._call(gp.Camera, "creating the camera object")
        if self.port:
            self._call(lambda: self._select_port(camera), f"selecting port {self.port}")
        try:
            self._call(camera.init, "opening the camera")
        except CameraError as exc:
            raise CameraError(
                f"{self.name}: no camera could be opened ({exc}); {NO_CONNECT_ADVICE}"
            ) from None
        self._camera = camera
        self._connected = True
        abilities = self._call(camera.get_abilities, "reading the camera's abilities")
        self.model = str(getattr(abilities, "model", "") or "")
        self._operations = int(getattr(abilities, "operations", 0) or 0)
        self.widgets = self._call(self._scan_widgets, "reading the configuration")
        self.brand = self._brand()
        self.nikon_captures = self._read_nikon_captures(camera) if self.brand == "nikon" else None
        self._af_values = self._canon_values()
        self.release_plan = self._plan_release()
        self._prepare_release()
        self._probe_live_view()

    def _read_nikon_captures(self, camera: Any) -> frozenset[int] | None:
        """The Nikon capture operations from the summary's "Device Capabilities" (None: unread)."""

        def op() -> str:
            summary = camera.get_summary()
            return str(getattr(summary, "text", summary))

        try:
            text = str(self._call(op, "reading the summary"))
        except Gphoto2CallError:
            return None
        start = text.find("Device Capabilities")
        if start < 0:
            return None
        section = text[start:].split("\n\n", 1)[0]
        return frozenset(int(n) for n in NIKON_CAPTURE_RE.findall(section))

    def _select_port(self, camera: Any) -> None:
        gp = self._gp
        cams = gp.Camera.autodetect()
        found = [(str(cams.get_name(i)), str(cams.get_value(i))) for i in range(cams.count())]
        models = [name for name, port in found if port == self.port]
        if not models and self.model:
            # re-plugged: USB port numbers change; the same model elsewhere is the same body
            # (only when exactly one such camera is connected)
            same = [(n, p) for n, p in found if n == self.model]
            if len(same) == 1:
                models, self.port = [same[0][0]], same[0][1]
        if not models:
            listing = ", ".join(f"{n} at {p}" for n, p in found) or "none"
            raise CameraError(f"{self.name}: no camera on port {self.port} (detected: {listing})")
        ports = gp.PortInfoList()
        ports.load()
        camera.set_port_info(ports[ports.lookup_path(self.port)])
        abilities = gp.CameraAbilitiesList()
        abilities.load()
        camera.set_abilities(abilities[abilities.lookup_model(models[0])])

    def _scan_widgets(self) -> dict[str, WidgetInfo]:
        gp = self._gp
        containers = {int(gp.GP_WIDGET_WINDOW), int(gp.GP_WIDGET_SECTION)}
        listed = {int(gp.GP_WIDGET_RADIO), int(gp.GP_WIDGET_MENU)}
        out: dict[str, WidgetInfo] = {}

        def walk(widget: Any) -> None:
            kind = int(widget.get_type())
            if kind in containers:
                for i in range(widget.count_children()):
                    walk(widget.get_child(i))
                return
            name = str(widget.get_name())
            choices: tuple[str, ...] = ()
            if kind in listed:
                choices = tuple(str(widget.get_choice(i)) for i in range(widget.count_choices()))
            try:
                value = widget.get_value()
            except Exception:  # action widgets may not read back
                value = None
            out[name] = WidgetInfo(name, kind, value, choices, bool(widget.get_readonly()))

        walk(self._camera.get_config())
        return out

    def _brand(self) -> str:
        model = self.model.lower()
        for brand, keys in (
            ("canon", ("canon",)),
            ("nikon", ("nikon",)),
            ("sony", ("sony",)),
            ("fuji", ("fuji",)),
        ):
            if any(k in model for k in keys):
                return brand
        if "eosremoterelease" in self.widgets:
            return "canon"
        return "generic"

    def _canon_values(self) -> dict[str, str] | None:
        er = self.widgets.get("eosremoterelease")
        if er is None:
            return None
        choices = set(er.choices)
        if set(CANON_NEW.values()) <= choices:
            return CANON_NEW
        if set(CANON_OLD.values()) <= choices:
            return CANON_OLD
        return None

    def _widget_value(self, name: str) -> Any:
        info = self.widgets.get(name)
        return None if info is None else info.value

    def _manual_focus(self) -> bool:
        for name in ("focusmode", "focusmode2"):
            value = self._widget_value(name)
            if isinstance(value, str) and value in MANUAL_FOCUS_VALUES:
                return True
        return False

    def _writable_manual(self, name: str) -> bool:
        info = self.widgets.get(name)
        return info is not None and not info.readonly and "Manual" in info.choices

    # --- release without AF: the plan ------------------------------------------------------
    def _plan_release(self) -> ReleasePlan:
        b = self.brand
        if self._manual_focus():
            return ReleasePlan("capture", True, "the camera is in manual focus: no AF at release")
        if b == "nikon":
            if self.model.lower().startswith("nikon 1") or " nikon 1" in self.model.lower():
                return ReleasePlan(
                    "impossible",
                    False,
                    "Nikon 1 bodies refuse a release without AF (libgphoto2 then retries with AF)",
                    "focus with AF-ON, then switch the camera to manual focus (Focus mode: MF) "
                    "before shooting; or pass allow_af_on_release=True to accept AF at release",
                )
            af = self.widgets.get("autofocus")
            manual_advice = (
                "set Custom Setting 'AF activation' to 'AF-ON only' where the body has it, or "
                "switch the camera to manual focus (Focus mode: MF) after focusing with AF-ON; "
                "or pass allow_af_on_release=True to accept AF at release"
            )
            ops = self.nikon_captures
            if af is not None and "Off" in af.choices and ops is not None and 3 not in ops:
                listed = ", ".join(f"Nikon Capture {n}" for n in sorted(ops)) or "none"
                return ReleasePlan(
                    "impossible",
                    False,
                    f"this body lists no InitiateCaptureRecInMedia (Nikon capture paths: "
                    f"{listed}), and libgphoto2 honours autofocus=Off only with that one: the "
                    "release would focus",
                    manual_advice,
                )
            if af is not None and "Off" in af.choices and _nikon_d3200_series(self.model):
                return ReleasePlan(
                    "impossible",
                    False,
                    "libgphoto2 adds InitiateCaptureRecInMedia to the D3200 itself ('works to "
                    "some degree'), and the D3200 still focuses at the release (gphoto2#333)",
                    manual_advice,
                )
            if af is not None and "Off" in af.choices:
                verified = ops is not None
                return ReleasePlan(
                    "nikon-autofocus-off",
                    True,
                    ("" if verified else "unverified: the summary could not be read; ")
                    + "libgphoto2's driver setting autofocus=Off: releases with "
                    "InitiateCaptureRecInMedia af=0",
                )
            return ReleasePlan(
                "impossible",
                False,
                "this libgphoto2 has no 'autofocus' driver setting, so every capture runs AF",
                "update python-gphoto2 / libgphoto2, or switch the camera to manual focus "
                "(Focus mode: MF) after focusing with AF-ON",
            )
        if b == "canon":
            if self._af_values is not None:
                old = self._af_values is CANON_OLD
                return ReleasePlan(
                    "canon-remote-old" if old else "canon-remote-new",
                    True,
                    f"eosremoterelease {self._af_values['release_press']!r} → "
                    f"{self._af_values['release_off']!r}: a full press without AF",
                )
            if self._writable_manual("focusmode") and "autofocusdrive" in self.widgets:
                return ReleasePlan(
                    "canon-focusmode-manual",
                    True,
                    "no eosremoterelease: focusmode=Manual makes captures skip AF, and "
                    "autofocusdrive still focuses on AF-ON (AI Servo tracking is unavailable)",
                )
            return ReleasePlan(
                "impossible",
                False,
                "no eosremoterelease and no settable focus mode: every gphoto2 capture starts "
                "with a half press with AF",
                "set the lens's AF/MF switch to MF after focusing with the camera's own AF-ON "
                "button, and set the shutter half-press to 'Metering start' (Custom Controls / "
                "C.Fn 'Shutter butt. half-press' → 'Metering start'); or update libgphoto2",
            )
        if b == "sony":
            if self._writable_manual("focusmode"):
                return ReleasePlan(
                    "sony-focusmode-manual",
                    True,
                    "focusmode=Manual for the release, restored after (slow: the driver waits "
                    "for the camera up to 3 s)",
                )
            return ReleasePlan(
                "capture",
                True,
                "unverified: libgphoto2 cannot read Sony's 'AF w/ shutter'",
                "set 'AF w/ shutter' to Off on the camera (Camera settings → AF w/ shutter: "
                "Off), or every release refocuses",
            )
        if b == "fuji":
            return ReleasePlan(
                "impossible",
                False,
                "no release-without-AF call is known for Fujifilm in libgphoto2",
                "set the focus-mode switch to M: afon's AF-ON still focuses (autofocusdrive "
                "does 'AF in manual') and the release does not refocus",
            )
        return ReleasePlan(
            "capture",
            True,
            f"unverified: afon does not know how {self.model or 'this camera'} releases",
            "switch the camera to manual focus after focusing if the release refocuses",
        )

    def _prepare_release(self) -> None:
        method = self.release_plan.method
        if method == "nikon-autofocus-off":
            if self._autofocus_before is None:
                # a persistent libgphoto2 setting: put back on close what the user had
                self._autofocus_before = self._widget_value("autofocus")
            self._set("autofocus", "Off")
        elif method == "canon-focusmode-manual":
            self._set("focusmode", "Manual")

    def _probe_live_view(self) -> None:
        self.live_view = False
        if not self.want_live_view:
            self._live_view_note = "live view not requested"
            return
        if not self._operations & int(self._gp.GP_OPERATION_CAPTURE_PREVIEW):
            self._live_view_note = "the camera driver offers no live view (capture_preview)"
            return
        try:
            image = self._preview_image()
        except Gphoto2CallError as exc:
            self._live_view_note = f"live view unavailable: capture_preview failed ({exc})"
            return
        self.live_view = image is not None
        self._live_view_note = "" if self.live_view else "live view frames could not be decoded"

    # --- config access ---------------------------------------------------------------------
    def _set(self, name: str, value: Any, timeout_s: float | None = None) -> None:
        camera = self._camera

        def op() -> None:
            widget = camera.get_single_config(name)
            widget.set_value(value)
            camera.set_single_config(name, widget)

        self._call(op, f"setting {name}={value!r}", timeout_s)

    def _get(self, name: str) -> Any:
        camera = self._camera
        return self._call(lambda: camera.get_single_config(name).get_value(), f"reading {name}")

    def get_config_value(self, name: str) -> Any:
        """Read one configuration widget's current value."""
        self._check()
        return self._get(name)

    def set_config_value(self, name: str, value: Any) -> None:
        """Set one configuration widget (e.g. ``capturetarget``)."""
        self._check()
        self._set(name, value)

    # --- capabilities ----------------------------------------------------------------------
    @property
    def hardware_af(self) -> bool:
        w = self.widgets
        if self.brand == "sony":
            return "autofocus" in w and int(w["autofocus"].type) == int(self._gp.GP_WIDGET_TOGGLE)
        if self.brand == "canon":
            return "autofocusdrive" in w or self._af_values is not None
        return "autofocusdrive" in w

    @property
    def capabilities(self) -> Capabilities:
        plan = self.release_plan
        notes = [
            f"{self.model or 'camera'} ({self.brand}): the body's own AF; afon cannot drive the "
            "lens or read its position (reported as NaN)",
        ]
        if plan.ok:
            notes.append(f"release without AF: {plan.detail}")
            if plan.advice:
                notes.append(plan.advice)
        else:
            notes.append(f"CANNOT release without AF: {plan.detail}. What to change: {plan.advice}")
        if not self.hardware_af:
            notes.append("no AF-drive widget: AF-ON cannot start the body's AF from afon")
        elif self.brand in ("canon", "sony"):
            notes.append("the body does not report the AF result: FOCUSED_LOCKED is unconfirmed")
        if self.brand in ("nikon", "fuji"):
            notes.append("AF-C is emulated by repeated single AF drives while AF-ON is held")
        notes.extend(self.warnings)
        if self.body_zoom:
            notes.append(
                "magnify: the body's own live-view zoom (eoszoom / eoszoomposition)"
                + ("" if self.sensor_px else "; positioned once the still's size is known")
            )
        elif self.live_view:
            notes.append("magnify: a crop of the live view (no live-view zoom widget)")
        if not self.live_view:
            notes.append(f"no live view: {self._live_view_note}")
        else:
            notes.append("live view from capture_preview; frames carry no exposure timestamps")
            if self.brand in ("canon", "nikon"):
                notes.append(
                    "on a DSLR live view raises the mirror: the body then focuses in its "
                    "live-view (contrast) AF; open with live_view=False to keep viewfinder AF"
                )
        return Capabilities(
            lens_drive=False,
            phase_detect=False,
            still_capture=True,
            live_view=self.live_view,
            hardware_af=self.hardware_af,
            lens_range_d=(0.0, 0.0),
            frame_rate_hz=self._rate_hz,
            release_lag_s=0.0,
            still_exposure_s=0.0,
            notes=tuple(notes),
        )

    # --- frames ----------------------------------------------------------------------------
    def _preview_image(self, busy_ok: bool = False) -> Image | None:
        """One live-view JPEG; with `busy_ok`, None after `BUSY_RETRIES` "busy" answers."""
        camera = self._camera

        def op() -> bytes:
            cam_file = camera.capture_preview()
            return bytes(memoryview(cam_file.get_data_and_size()))

        for attempt in range(BUSY_RETRIES + 1):
            try:
                return _decode_jpeg(self._call(op, "capture_preview"))
            except Gphoto2CallError as exc:
                if exc.code != GP_ERROR_CAMERA_BUSY or not busy_ok:
                    raise
                self.busy_retries += 1
                if attempt == BUSY_RETRIES:
                    return None  # still busy: the last frame is shown again
                self.clock.sleep_until(self.clock.now_s() + BUSY_RETRY_S)
        return None

    def next_frame(self, phase: bool = False) -> Frame:
        """The next live-view frame, or a paced placeholder where there is no live view."""
        self._check()
        self._poll_af()
        now = self.clock.now_s()
        image: Image | None = None
        live = False
        if self.live_view and self._af_future is None:
            image = self._preview_image(busy_ok=True)
            live = image is not None
            now2 = self.clock.now_s()
            if self._last_frame_s is not None and now2 > self._last_frame_s:
                rate = 1.0 / (now2 - self._last_frame_s)
                self._rate_hz = 0.8 * self._rate_hz + 0.2 * rate
            now = now2
        else:
            due = (self._last_frame_s or now) + 1.0 / NO_LIVE_VIEW_RATE_HZ
            self.clock.sleep_until(due)
            now = self.clock.now_s()
            if self._af_future is None:
                # keep in touch: notices a vanished camera, collects the body's own events
                self.pending_events.extend(self._drain(0, 8))
                del self.pending_events[:-256]
        if self._drive_due and self._af_continuous:
            # AF-C: the next drive starts after this frame, so live view never freezes
            self._drive_due = False
            self._start_drive()
        if image is None:
            image = self._last_image if self._last_image is not None else _grey()
        else:
            self._last_image = image
        self._last_frame_s = now
        frame = Frame(
            index=self._index,
            image=image,
            exposure_start_s=now,
            exposure_end_s=now,
            ready_s=now,
            lens_start_d=math.nan,
            lens_end_d=math.nan,
            lens_moving=self.af_scanning(),
            meta={"live_view": live, "af_state": self._state, "model": self.model},
        )
        self._index += 1
        return frame

    # --- magnify ---------------------------------------------------------------------------
    @property
    def body_zoom(self) -> bool:
        """The body zooms its live view itself (Canon ``eoszoom`` / ``eoszoomposition``)."""
        w = self.widgets
        return self.live_view and "eoszoom" in w and "eoszoomposition" in w

    def magnified(
        self, frame: Frame, rect: tuple[float, float, float, float], zoom: float
    ) -> tuple[Image, tuple[float, float, float, float]] | None:
        """The body's own zoomed live view of `rect` (preview fractions) at `zoom` (5 or 10);
        None where the body cannot (or does not know its still's size yet), or until a frame
        taken after the zoom command arrives (the viewfinder crops the preview meanwhile)."""
        if not self.body_zoom or self.sensor_px is None:
            return None
        self._check()
        w_px, h_px = self.sensor_px
        z = max(1, round(zoom))
        pos = (max(0, round(rect[0] * w_px)), max(0, round(rect[1] * h_px)))
        if self._zoom_sent != (z, pos):
            if self._zoom_sent is None or self._zoom_sent[0] != z:
                self._set("eoszoom", str(z))
            self._set("eoszoomposition", f"{pos[0]},{pos[1]}")
            self._zoom_sent = (z, pos)
            self._zoom_rect = rect
            self._zoom_from_index = self._index  # the next frame is taken after the command
            return None
        if frame.index < self._zoom_from_index or self._zoom_rect is None:
            return None
        return frame.image, self._zoom_rect

    def end_magnify(self) -> None:
        """Back to the whole live view (``eoszoom=1``)."""
        if self._zoom_sent is not None and self._connected and not self._closed:
            with contextlib.suppress(CameraError):  # a lost body forgets its zoom anyway
                self._set("eoszoom", "1")
        self._zoom_sent = None
        self._zoom_rect = None

    # --- lens (not drivable) -----------------------------------------------------------------
    def move_lens(self, target_d: float) -> float:
        """libgphoto2 has no absolute lens drive: a no-op returning NaN."""
        return math.nan

    def lens_position_d(self) -> float:
        return math.nan

    def lens_moving(self) -> bool:
        return self.af_scanning()

    # --- hardware AF -----------------------------------------------------------------------
    def _require_af(self, what: str) -> None:
        self._check()
        if not self.hardware_af:
            raise CameraError(
                f"{self.name}: {what}: {self.model or 'this camera'} offers no AF-drive widget "
                "(autofocusdrive / eosremoterelease / autofocus); use the camera's own AF-ON "
                "button"
            )

    def af_state(self) -> str:
        """Camera2 name of the AF state (polls a running drive)."""
        if self._connected:
            self._poll_af()
        return self._state

    def af_confirmed(self) -> bool:
        """True when the state comes from the body's answer (Nikon/Fujifilm drives)."""
        return self._confirmed

    def af_scanning(self) -> bool:
        return self._state in ("ACTIVE_SCAN", "PASSIVE_SCAN")

    def _uses_drive(self) -> bool:
        """AF through (repeated) autofocusdrive calls that report a result."""
        if self.brand in ("nikon", "fuji", "generic"):
            return True
        return self.brand == "canon" and self._af_values is None

    def _start_drive(self) -> None:
        camera = self._camera

        def op() -> None:
            widget = camera.get_single_config("autofocusdrive")
            widget.set_value(1)
            camera.set_single_config("autofocusdrive", widget)

        assert self._worker is not None
        self._af_future = self._worker.submit(op)

    def _poll_af(self, wait_s: float | None = None) -> None:
        if self._half_release_at is not None and self.clock.now_s() >= self._half_release_at:
            self._half_release_at = None
            self._release_half()
            self._state = "FOCUSED_LOCKED"
        future = self._af_future
        if future is None:
            return
        if wait_s is None and not future.done():
            return
        self._af_future = None
        focused = True
        try:
            self._wait(future, "the AF drive", wait_s if wait_s is not None else 0.0)
        except Gphoto2CallError:
            focused = False  # Nikon: OutOfFocus; Fujifilm: AFStatus 3
        self._confirmed = self.brand in ("nikon", "fuji")
        if self._af_continuous:
            self._state = "PASSIVE_FOCUSED" if focused else "PASSIVE_UNFOCUSED"
            self._drive_due = True  # AF-C: drive again after the next live-view frame
        else:
            self._state = "FOCUSED_LOCKED" if focused else "NOT_FOCUSED_LOCKED"

    def _press_half(self) -> None:
        if self.brand == "sony":
            self._set("autofocus", 1)
        else:
            assert self._af_values is not None
            self._set("eosremoterelease", self._af_values["af_half"])
        self._half_pressed = True

    def _release_half(self) -> None:
        if not self._half_pressed:
            return
        self._half_pressed = False
        if self.brand == "sony":
            self._set("autofocus", 0)
        elif self._af_values is not None:
            self._set("eosremoterelease", self._af_values["af_half_off"])

    def af_trigger(self, wait: bool = False) -> str:
        """AF-S without release (see the module table); returns the AF state."""
        self._require_af("af_trigger")
        self._af_continuous = False
        self._confirmed = False
        self._state = "ACTIVE_SCAN"
        if self.brand == "canon" and "autofocusdrive" in self.widgets:
            self._set("autofocusdrive", 1)  # EOS DoAf: runs AF once; no result comes back
            self._state = "FOCUSED_LOCKED"
            return self._state
        if self._uses_drive():
            if self._af_future is None:
                self._start_drive()
            if wait:
                self._poll_af(wait_s=self.af_timeout_s)
            return self._state
        self._press_half()
        self._half_release_at = self.clock.now_s() + self.half_press_s
        if wait:
            self.clock.sleep_until(self._half_release_at)
            self._poll_af()
        return self._state

    def af_continuous(self, on: bool) -> None:
        """AF-C while AF-ON is held; `False` ends it and the lens stays where it is."""
        self._require_af("af_continuous")
        if on:
            self._af_continuous = True
            self._confirmed = False
            self._state = "PASSIVE_SCAN"
            self._half_release_at = None
            if self._uses_drive():
                if self._af_future is None:
                    self._start_drive()
            else:
                self._warn_canon_one_shot()
                self._press_half()
            return
        self._drive_due = False
        if not self._af_continuous:
            return
        self._af_continuous = False
        if self._uses_drive():
            if self._af_future is not None:
                self._poll_af(wait_s=self.af_timeout_s)
            else:
                focused = self._state == "PASSIVE_FOCUSED"
                self._state = "FOCUSED_LOCKED" if focused else "NOT_FOCUSED_LOCKED"
        else:
            self._release_half()
            self._state = "FOCUSED_LOCKED"

    def canon_tracks(self) -> bool | None:
        """Canon: does a held half press track (AI Servo / AI Focus)? None when unknown."""
        value = self._widget_value("focusmode")
        if self.brand != "canon" or not isinstance(value, str):
            return None
        return value in CANON_TRACKING_VALUES

    def _warn_canon_one_shot(self) -> None:
        if self.brand != "canon":
            return
        with contextlib.suppress(CameraError):
            value = self._get("focusmode")  # the dial may have changed since the open
            info = self.widgets.get("focusmode")
            if info is not None:
                self.widgets["focusmode"] = WidgetInfo(
                    info.name, info.type, value, info.choices, info.readonly
                )
        if self.canon_tracks() is False:
            message = (
                f"AF-C on a Canon in {self._widget_value('focusmode')}: a held half press "
                "focuses once and locks (it tracks only in AI Servo); set the camera's AF "
                "operation to AI Servo for AF-C"
            )
            if message not in self.warnings:
                self.warnings.append(message)

    def af_cancel(self) -> None:
        """Stop AF: Canon cancelautofocus / Release Half, Sony half press off; the lens stays."""
        self._require_af("af_cancel")
        self._af_continuous = False
        self._drive_due = False
        self._half_release_at = None
        if self._half_pressed:
            self._release_half()
        elif self.brand == "canon" and "cancelautofocus" in self.widgets:
            self._set("cancelautofocus", 1)
        if self._af_future is not None:
            with contextlib.suppress(Gphoto2CallError):
                self._poll_af(wait_s=self.af_timeout_s)
        self._state = "INACTIVE"

    def lock_focus(self) -> float:
        """End any AF (the lens stays), re-apply release without AF; NaN: position unknown."""
        self._check()
        if self._af_continuous:
            self.af_continuous(False)
        self._half_release_at = None
        if self._half_pressed:
            self._release_half()
            self._state = "FOCUSED_LOCKED"
        if self._af_future is not None:
            self._poll_af(wait_s=self.af_timeout_s)
        self._prepare_release()
        return math.nan

    # --- events ----------------------------------------------------------------------------
    def poll_events(
        self, timeout_ms: int = EVENT_POLL_MS, max_events: int = 32
    ) -> list[tuple[str, str | None]]:
        """Drain the camera's event queue (stops at the first timeout)."""
        self._check()
        out = list(self.pending_events)
        self.pending_events.clear()
        out.extend(self._drain(timeout_ms, max_events))
        return out

    def _drain(self, timeout_ms: int, max_events: int) -> list[tuple[str, str | None]]:
        gp = self._gp
        camera = self._camera
        names = {
            int(gp.GP_EVENT_FILE_ADDED): "file_added",
            int(gp.GP_EVENT_FOLDER_ADDED): "folder_added",
            int(gp.GP_EVENT_CAPTURE_COMPLETE): "capture_complete",
            int(gp.GP_EVENT_UNKNOWN): "unknown",
        }
        timeout_code = int(gp.GP_EVENT_TIMEOUT)

        def op() -> list[tuple[str, str | None]]:
            events: list[tuple[str, str | None]] = []
            for _ in range(max_events):
                kind, data = camera.wait_for_event(timeout_ms)
                if int(kind) == timeout_code:
                    break
                if hasattr(data, "folder") and hasattr(data, "name"):
                    text: str | None = f"{data.folder.rstrip('/')}/{data.name}"
                else:
                    text = None if data is None else str(data)
                events.append((names.get(int(kind), f"event-{int(kind)}"), text))
            return events

        wait_s = self.call_timeout_s + max_events * timeout_ms / 1000.0
        result: list[tuple[str, str | None]] = self._call(op, "waiting for events", wait_s)
        return result

    def _wait_for_file(self) -> str:
        deadline = self.clock.now_s() + self.capture_timeout_s
        polls = 0
        while True:
            for kind, data in self._drain(EVENT_POLL_MS, 32):
                if kind == "file_added" and data is not None:
                    return data
                self.pending_events.append((kind, data))
            polls += 1
            waited_s = polls * EVENT_POLL_MS / 1000
            if self.clock.now_s() > deadline or waited_s > self.capture_timeout_s:
                raise CameraError(
                    f"{self.name}: the release was sent but no file arrived within "
                    f"{self.capture_timeout_s:g} s"
                )

    # --- stills ----------------------------------------------------------------------------
    def capture_still(self, release_s: float, render: bool = True) -> Still:
        """Release without AF at `release_s`, download the file and decode it (JPEG)."""
        self._check()
        plan = self.release_plan
        if not plan.ok and not self.allow_af_on_release:
            raise CameraError(
                f"{self.name}: {self.model or 'this camera'} cannot release without AF "
                f"({plan.detail}). What to change: {plan.advice}"
            )
        self.clock.sleep_until(release_s)
        self._poll_af()
        drives = self._af_continuous and self._uses_drive()
        if drives:
            self._af_continuous = False  # no new AF drive between here and the release
        if self._af_future is not None:  # a running drive ends before the release
            self._poll_af(wait_s=self.af_timeout_s)
        held = self._half_pressed
        if held and self.brand == "canon":
            self._release_half()  # a full press without AF must not start from a half press with AF
        start_s = self.clock.now_s()
        path = self._release(plan.method)
        end_s = self.clock.now_s()
        extra = [d for k, d in self._drain(0, 8) if k == "file_added" and d is not None]
        files = [path, *extra]
        chosen = next((f for f in files if f.lower().endswith(JPEG_SUFFIXES)), path)
        folder, _, name = chosen.rpartition("/")
        camera = self._camera
        gp = self._gp

        def download() -> bytes:
            cam_file = camera.file_get(folder or "/", name, gp.GP_FILE_TYPE_NORMAL)
            return bytes(memoryview(cam_file.get_data_and_size()))

        data: bytes = self._call(download, f"downloading {chosen}", self.capture_timeout_s)
        self.last_file_bytes = data
        image: Image | None = None
        if render and name.lower().endswith(JPEG_SUFFIXES):
            image = _decode_jpeg(data)
            if image is not None:
                self._last_image = _thumbnail(image)
                if self.sensor_px is None:  # the zoom position's coordinates
                    self.sensor_px = (int(image.shape[1]), int(image.shape[0]))
        if drives:  # AF-ON still held: AF-C goes on
            self._af_continuous = True
            passive = {
                "FOCUSED_LOCKED": "PASSIVE_FOCUSED",
                "NOT_FOCUSED_LOCKED": "PASSIVE_UNFOCUSED",
            }
            self._state = passive.get(self._state, self._state)
            self._start_drive()
        elif held and self.brand == "canon" and self._af_continuous:
            self._press_half()
        return Still(
            image=image,
            exposure_start_s=start_s,
            exposure_end_s=end_s,
            lens_start_d=math.nan,
            lens_end_d=math.nan,
            meta={
                "backend": "gphoto2",
                "model": self.model,
                "camera_file": chosen,
                "file_name": name,
                "file_bytes": len(data),
                "camera_files": files,
                "release": plan.method,
                "af_on_release": _af_on_release(plan),
            },
        )

    def _capture_path(self) -> str:
        camera = self._camera
        gp = self._gp

        def op() -> str:
            path = camera.capture(gp.GP_CAPTURE_IMAGE)
            return f"{str(path.folder).rstrip('/')}/{path.name}"

        result: str = self._call(op, "the release (capture)", self.capture_timeout_s)
        return result

    def _release(self, method: str) -> str:
        if method in ("canon-remote-new", "canon-remote-old"):
            assert self._af_values is not None
            self._set("eosremoterelease", self._af_values["release_press"], self.capture_timeout_s)
            self._set("eosremoterelease", self._af_values["release_off"], self.capture_timeout_s)
            return self._wait_for_file()
        if method == "sony-focusmode-manual":
            saved = self._get("focusmode")
            self._set("focusmode", "Manual", self.capture_timeout_s)
            try:
                return self._capture_path()
            finally:
                if self._connected:
                    self._set("focusmode", saved, self.capture_timeout_s)
        return self._capture_path()

    # --- faults ----------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._connected

    def reconnect(
        self, max_attempts: int = 8, base_delay_s: float = 0.5, max_delay_s: float = 8.0
    ) -> int:
        """Reopen with exponential backoff (camera clock); re-apply release setting and lock."""
        if self._closed:
            raise CameraError(f"{self.name} is closed")
        held_half = self._half_pressed
        old = self._camera
        if self._connected and self._worker is not None and old is not None:
            with contextlib.suppress(CameraError):
                self._call(old.exit, "closing the old connection", 2.0)
        self._lose()
        attempts = retry_with_backoff(
            self.clock,
            self._connect,
            name=self.name,
            max_attempts=max_attempts,
            base_delay_s=base_delay_s,
            max_delay_s=max_delay_s,
            on_failure=self._lose,
        )
        self.reconnects += 1
        self._zoom_sent = None  # a body reopened starts unzoomed
        self._af_continuous = False
        self._drive_due = False
        self._half_release_at = None
        if held_half:
            self._half_pressed = True
            with contextlib.suppress(CameraError):
                self._release_half()  # never leave a half press with AF held
        if self.af_scanning():
            self._state = "NOT_FOCUSED_LOCKED"
        return attempts

    # --- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._connected and self._camera is not None:
            with contextlib.suppress(CameraError):
                if self._half_pressed:
                    self._release_half()
            before = self._autofocus_before
            if before is not None and before != "Off":
                with contextlib.suppress(CameraError):
                    self._set("autofocus", before)  # libgphoto2 keeps it for every program
            with contextlib.suppress(CameraError):
                self._call(self._camera.exit, "closing the camera", 5.0)
        self._lose()

    def __enter__(self) -> Gphoto2Camera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _nikon_d3200_series(model: str) -> bool:
    """The D3200 range to which libgphoto2 adds Nikon capture operations (library.c)."""
    match = re.search(r"\bD(\d{4})\b", model)
    return match is not None and 3200 <= int(match.group(1)) < 3300


def _af_on_release(plan: ReleasePlan) -> str:
    """What ``meta["af_on_release"]`` says: "no", "unverified" or "yes" (allowed by the user)."""
    if not plan.ok:
        return "yes"
    return "unverified" if plan.detail.startswith("unverified") else "no"


def _decode_jpeg(data: bytes) -> Image | None:
    buf = np.frombuffer(data, np.uint8)
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR) if buf.size else None
    if bgr is None:
        return None
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def _thumbnail(image: Image, width: int = 640) -> Image:
    h, w = image.shape[:2]
    if w <= width:
        return image
    scaled = cv2.resize(image, (width, max(1, round(h * width / w))), interpolation=cv2.INTER_AREA)
    return np.asarray(scaled, dtype=np.uint8)


def _grey(size: tuple[int, int] = (640, 480)) -> Image:
    return np.full((size[1], size[0], 3), 96, np.uint8)
