"""A fake camera body layered over libgphoto2's *real* virtual camera.

`FakeGp` stands in for the ``gphoto2`` module: everything is the real python-gphoto2 except
``Camera``, whose instances (`FakeBody`) wrap a real ``gphoto2.Camera`` opened on the virtual
camera (``VCAMERADIR``). Capture, configuration, file download and events go to the real
libgphoto2; what the virtual camera lacks is added with its documented behaviour
(camera-apis.md §4, libgphoto2 ``config.c`` / ``library.c``):

- the brand's AF/release widgets (`BRAND_WIDGETS`), which are *actions*: they read back as
  0 / "None", setting them does something:
  - ``autofocusdrive`` (Nikon/Fujifilm/Canon): one AF run; on Nikon/Fujifilm a subject that
    cannot be focused makes it fail (the driver's OutOfFocus → GP_ERROR), Canon's DoAf returns
    without a result.
  - ``eosremoterelease`` (Canon), both value sets: >= 2.5.34 "Press Half AF" (AF), "Press Full
    MF" (release without AF), "Release"…; older: "Press 1" (AF), "Press Half" (no AF!),
    "Immediate" (release without AF), "Release Full"… A full press triggers the real virtual
    camera's capture, so the file arrives as a real FILE_ADDED event.
  - ``cancelautofocus`` (Canon), Sony's ``autofocus`` half press (AF only with *AF w/ shutter*
    on).
- a normal ``capture`` runs AF first unless the camera is in manual focus (Canon's half press
  with AF, Sony's half press, Nikon unless the ptp2 driver setting ``autofocus`` is Off, which
  is the virtual camera's real setting, on a capture path that honours it); `af_at_release`
  counts those.
- ``capture_preview`` (live view) returns a JPEG when `live_view` is set; the virtual camera's
  own answer (Unsupported) otherwise; `preview_busy` makes the next that many answer
  GP_ERROR_CAMERA_BUSY (-110), as a body does while it is still working.
- Nikon capture paths: ``get_summary()`` is the virtual camera's own summary with its "Device
  Capabilities" capture line as libgphoto2 writes it for a Nikon (``camera_summary``: "Nikon
  Capture 1" = InitiateCaptureRecInSdram 0x90C0, "2" = AfCaptureSDRAM 0x90CB, "3" =
  InitiateCaptureRecInMedia 0x9207; `nikon_captures`); a Nikon release skips AF only when the
  driver setting ``autofocus`` is Off *and* the body has "Nikon Capture 3" (the only path
  ``camera_capture`` passes af=0 to; the others focus, gphoto2#333).
- unplugging: calls fail with GP_ERROR_IO_USB_FIND (-52), init with GP_ERROR_MODEL_NOT_FOUND;
  `hang` blocks calls until `release_hang()`.
- Canon live-view zoom (``config.c`` ``_get/_put_Canon_EOS_Zoom``, ``_ZoomPosition``; listed
  under /main/actions in the EOS dumps of ``camlibs/ptp2/cameras``): ``eoszoom`` and
  ``eoszoomposition`` are TEXT action widgets that always read "0" and "0,0"; setting them
  parses "%d" / "%d,%d" (anything else: GP_ERROR) and sends PTP EOS_Zoom (1, 5, 10) /
  EOS_ZoomPosition (x, y: the zoom frame's top-left corner in the still's pixels, as EDSDK
  clients use it, e.g. 3888x2592 on a 40D; "approx 64 pixel steps on the EOS 1000D": snapped
  down to 64 here). With `lv_scene` the live view is a sensor-wide texture (`sensor_px`), the
  whole field scaled down to `lv_px`, or, zoomed, the zoom frame (the still's 1/zoom) read from
  it; without, the flat JPEG as before. The still is unaffected (the zoom is live view only).
"""

from __future__ import annotations

import io
import threading
from types import SimpleNamespace
from typing import Any

import gphoto2 as real_gp
from PIL import Image

TOGGLE = real_gp.GP_WIDGET_TOGGLE
RADIO = real_gp.GP_WIDGET_RADIO
TEXT = real_gp.GP_WIDGET_TEXT

CANON_NEW_CHOICES = (
    "None",
    "Press Half AF",
    "Press Full AF",
    "Press Half MF",
    "Press Full MF",
    "Release Half",
    "Release Full",
    "Release",
)
CANON_OLD_CHOICES = (
    "None",
    "Press Half",
    "Press Full",
    "Release Half",
    "Release Full",
    "Immediate",
    "Press 1",
    "Press 2",
    "Press 3",
    "Release 1",
    "Release 2",
    "Release 3",
)


def brand_widgets(
    brand: str, canon_values: str = "new"
) -> dict[str, tuple[int, Any, tuple[str, ...]]]:
    """name -> (type, initial value, choices) of the widgets the fake adds per brand."""
    if brand == "nikon":
        return {
            "autofocusdrive": (TOGGLE, 0, ()),
            "viewfinder": (TOGGLE, 0, ()),
            "focusmode2": (RADIO, "AF-S", ("AF-S", "AF-C", "AF-A", "MF (fixed)", "MF (selection)")),
            "afactivation": (RADIO, "AF-ON", ("Shutter/AF-ON", "AF-ON")),
        }
    if brand == "canon":
        choices = CANON_NEW_CHOICES if canon_values == "new" else CANON_OLD_CHOICES
        return {
            "autofocusdrive": (TOGGLE, 0, ()),
            "cancelautofocus": (TOGGLE, 0, ()),
            "viewfinder": (TOGGLE, 0, ()),
            "eosremoterelease": (RADIO, "None", choices),
            "focusmode": (RADIO, "AI Servo", ("One Shot", "AI Servo", "AI Focus", "Manual")),
            "eoszoom": (TEXT, "0", ()),
            "eoszoomposition": (TEXT, "0,0", ()),
        }
    if brand == "sony":
        return {
            "autofocus": (TOGGLE, 0, ()),
            "capture": (TOGGLE, 0, ()),
            "focusmode": (RADIO, "AF-C", ("Manual", "Automatic", "AF-C", "AF-A", "DMF")),
        }
    if brand == "fuji":
        return {
            "autofocusdrive": (TOGGLE, 0, ()),
            "focusmode": (
                RADIO,
                "Single-Servo AF",
                ("Manual", "Single-Servo AF", "Continuous-Servo AF"),
            ),
        }
    raise ValueError(brand)


ACTIONS = {
    "autofocusdrive",
    "cancelautofocus",
    "eosremoterelease",
    "capture",
    "eoszoom",
    "eoszoomposition",
}
ACTION_READS = {"eoszoom": "0", "eoszoomposition": "0,0"}
"""What libgphoto2's getters return for the text actions, whatever was set."""
ZOOM_STEP_PX = 64


class FakeWidget:
    """The part of python-gphoto2's CameraWidget that afon uses."""

    def __init__(
        self,
        name: str,
        kind: int,
        value: Any = None,
        choices: tuple[str, ...] = (),
        readonly: bool = False,
        children: list[Any] | None = None,
    ) -> None:
        self._name = name
        self._kind = kind
        self._value = value
        self._choices = choices
        self._readonly = readonly
        self._children = children or []

    def get_name(self) -> str:
        return self._name

    def get_type(self) -> int:
        return self._kind

    def get_value(self) -> Any:
        return self._value

    def set_value(self, value: Any) -> None:
        if self._kind == RADIO and value not in self._choices:
            raise real_gp.GPhoto2Error(real_gp.GP_ERROR_BAD_PARAMETERS)
        self._value = value

    def get_readonly(self) -> int:
        return int(self._readonly)

    def count_choices(self) -> int:
        return len(self._choices)

    def get_choice(self, i: int) -> str:
        return self._choices[i]

    def count_children(self) -> int:
        return len(self._children)

    def get_child(self, i: int) -> Any:
        return self._children[i]


class _NoCameras:
    def count(self) -> int:
        return 0


class FakeFile:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def get_data_and_size(self) -> bytes:
        return self._data


def jpeg_bytes(
    size: tuple[int, int] = (80, 60), colour: tuple[int, int, int] = (10, 200, 30)
) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "JPEG")
    return buf.getvalue()


class FakeGp:
    """The gphoto2 module with `Camera` replaced by `FakeBody` (shared, per-test state)."""

    def __init__(
        self,
        brand: str = "nikon",
        *,
        model: str | None = None,
        canon_values: str = "new",
        without: tuple[str, ...] = (),
        readonly: tuple[str, ...] = (),
        live_view: bool = False,
        subject_focusable: bool = True,
        sony_af_w_shutter: bool = True,
        nikon_captures: tuple[int, ...] = (1, 2, 3),
        preview_busy: int = 0,
        lv_scene: bool = False,
        sensor_px: tuple[int, int] = (5760, 3840),
        lv_px: tuple[int, int] = (640, 427),
    ) -> None:
        self.brand = brand
        self.lv_scene = lv_scene
        self.sensor_px = sensor_px
        self.lv_px = lv_px
        self.zoom = 1
        self.zoom_pos = (0, 0)
        self._texture: Any = None
        self.nikon_captures = nikon_captures
        self.preview_busy = preview_busy
        self.previews = 0
        self.model = (
            model
            or {
                "nikon": "Nikon DSC D750",
                "canon": "Canon EOS 5D Mark III",
                "sony": "Sony Alpha-A7 III (Control)",
                "fuji": "Fuji Fujifilm X-T2",
            }[brand]
        )
        spec = brand_widgets(brand, canon_values)
        self.values: dict[str, Any] = {n: v for n, (_, v, _) in spec.items() if n not in without}
        self.spec = {n: s for n, s in spec.items() if n not in without}
        self.readonly = set(readonly)
        self.live_view = live_view
        self.subject_focusable = subject_focusable
        self.sony_af_w_shutter = sony_af_w_shutter
        self.unplugged = False
        self.replug_after_attempts: int | None = None
        self.init_attempts = 0
        self.hang = False
        self._hang_release = threading.Event()
        self.drive_gate: threading.Event | None = None  # set: AF drives wait for it
        # what happened
        self.writes: list[tuple[str, Any]] = []
        self.af_drives = 0
        self.af_runs = 0  # AF started by a half press
        self.af_at_release = 0
        self.releases = 0
        self.half_pressed = False
        self.bodies: list[FakeBody] = []
        outer = self

        class Camera:
            def __new__(cls) -> FakeBody:  # type: ignore[misc]
                body = FakeBody(outer)
                outer.bodies.append(body)
                return body

            @staticmethod
            def autodetect() -> Any:
                if outer.unplugged:
                    return _NoCameras()
                return real_gp.Camera.autodetect()

        self.Camera = Camera

    def __getattr__(self, name: str) -> Any:
        return getattr(real_gp, name)

    def zoom_rect(self) -> tuple[int, int, int, int]:
        """The sensor region (still pixels) the live view shows: the zoom frame, kept inside."""
        sw, sh = self.sensor_px
        if self.zoom <= 1:
            return 0, 0, sw, sh
        w, h = sw // self.zoom, sh // self.zoom
        x = min(max(self.zoom_pos[0], 0), sw - w)
        y = min(max(self.zoom_pos[1], 0), sh - h)
        return x, y, w, h

    def texture(self) -> Any:
        """The scene over the sensor, one texel per 4 sensor pixels: detail a 640-wide live
        view of the whole field cannot show, a zoomed one can."""
        import cv2
        import numpy as np

        if self._texture is None:
            tw, th = self.sensor_px[0] // 4, self.sensor_px[1] // 4
            rng = np.random.default_rng(7)
            smooth = cv2.GaussianBlur(rng.normal(0, 1, (th, tw)).astype(np.float32), (0, 0), 12)
            smooth /= smooth.std() + 1e-6
            fine = cv2.GaussianBlur(rng.normal(0, 1, (th, tw)).astype(np.float32), (0, 0), 0.7)
            fine /= fine.std() + 1e-6
            self._texture = np.clip(128 + 50 * smooth + 25 * fine, 0, 255).astype(np.uint8)
        return self._texture

    def region_image(self, rect: tuple[int, int, int, int], size: tuple[int, int]) -> Any:
        """The sensor region `rect` scaled to `size` (grey RGB)."""
        import cv2
        import numpy as np

        x, y, w, h = (v // 4 for v in rect)
        region = self.texture()[y : y + h, x : x + w]
        interp = cv2.INTER_AREA if region.shape[1] >= size[0] else cv2.INTER_LINEAR
        grey = cv2.resize(region, size, interpolation=interp)
        return np.dstack([grey, grey, grey])

    def live_view_jpeg(self) -> bytes:
        img = self.region_image(self.zoom_rect(), self.lv_px)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, "JPEG", quality=95)
        return buf.getvalue()

    def release_hang(self) -> None:
        self._hang_release.set()

    def check(self) -> None:
        if self.hang:
            self._hang_release.wait()
        if self.unplugged:
            raise real_gp.GPhoto2Error(real_gp.GP_ERROR_IO_USB_FIND)

    def manual_focus(self) -> bool:
        mode = self.values.get("focusmode", self.values.get("focusmode2", ""))
        return mode in ("Manual", "MF (fixed)", "MF (selection)")


class FakeBody:
    """One ``gphoto2.Camera``: the real virtual camera plus the brand's documented widgets."""

    def __init__(self, gp: FakeGp) -> None:
        self.gp = gp
        self.real: Any = None
        self._port_info: Any = None
        self._abilities: Any = None

    # --- lifecycle -------------------------------------------------------------------------
    def set_port_info(self, info: Any) -> None:
        self._port_info = info

    def set_abilities(self, abilities: Any) -> None:
        self._abilities = abilities

    def init(self) -> None:
        gp = self.gp
        gp.init_attempts += 1
        if (
            gp.unplugged
            and gp.replug_after_attempts is not None
            and gp.init_attempts >= gp.replug_after_attempts
        ):
            gp.unplugged = False
        if gp.unplugged:
            raise real_gp.GPhoto2Error(real_gp.GP_ERROR_MODEL_NOT_FOUND)
        self.real = real_gp.Camera()
        if self._port_info is not None:
            self.real.set_port_info(self._port_info)
        if self._abilities is not None:
            self.real.set_abilities(self._abilities)
        self.real.init()

    def exit(self) -> None:
        if self.real is not None and not self.gp.unplugged:
            self.real.exit()

    def get_abilities(self) -> Any:
        self.gp.check()
        abilities = self.real.get_abilities()
        return SimpleNamespace(model=self.gp.model, operations=abilities.operations)

    # --- configuration ---------------------------------------------------------------------
    def _widget(self, name: str) -> FakeWidget:
        kind, _, choices = self.gp.spec[name]
        value = 0 if kind == TOGGLE and name in ACTIONS else self.gp.values[name]
        if name == "eosremoterelease":
            value = "None"
        value = ACTION_READS.get(name, value)
        return FakeWidget(name, kind, value, choices, name in self.gp.readonly)

    def get_config(self) -> Any:
        self.gp.check()
        section = FakeWidget(
            "brand",
            real_gp.GP_WIDGET_SECTION,
            children=[self._widget(n) for n in self.gp.spec],
        )
        real_root = self.real.get_config()
        children = [real_root.get_child(i) for i in range(real_root.count_children())]
        return FakeWidget("main", real_gp.GP_WIDGET_WINDOW, children=[*children, section])

    def get_single_config(self, name: str) -> Any:
        self.gp.check()
        if name in self.gp.spec:
            return self._widget(name)
        return self.real.get_single_config(name)

    def set_single_config(self, name: str, widget: Any) -> None:
        gp = self.gp
        gp.check()
        value = widget.get_value()
        gp.writes.append((name, value))
        if name not in gp.spec:
            self.real.set_single_config(name, widget)
            return
        if name in gp.readonly:
            raise real_gp.GPhoto2Error(real_gp.GP_ERROR_NOT_SUPPORTED)
        self._act(name, value)

    def _act(self, name: str, value: Any) -> None:
        gp = self.gp
        if name == "autofocusdrive":
            if not value:
                return
            gp.af_drives += 1
            if gp.drive_gate is not None:
                gp.drive_gate.wait()
            if gp.brand in ("nikon", "fuji") and not gp.subject_focusable:
                raise real_gp.GPhoto2Error(real_gp.GP_ERROR)  # Nikon OutOfFocus / Fuji AFStatus 3
        elif name == "cancelautofocus":
            pass
        elif name == "eosremoterelease":
            self._remote(value)
        elif name == "eoszoom":
            try:
                gp.zoom = int(str(value).strip())
            except ValueError:
                raise real_gp.GPhoto2Error(real_gp.GP_ERROR) from None
        elif name == "eoszoomposition":
            try:
                x, y = (int(v) for v in str(value).split(","))
            except ValueError:
                raise real_gp.GPhoto2Error(real_gp.GP_ERROR) from None
            gp.zoom_pos = (x // ZOOM_STEP_PX * ZOOM_STEP_PX, y // ZOOM_STEP_PX * ZOOM_STEP_PX)
        elif name == "autofocus" and gp.brand == "sony":
            gp.half_pressed = bool(value)
            if value and gp.sony_af_w_shutter and not gp.manual_focus():
                gp.af_runs += 1
        else:
            gp.values[name] = value

    def _remote(self, value: str) -> None:
        gp = self.gp
        if value in ("Press Half AF", "Press 1"):
            gp.half_pressed = True
            gp.af_runs += 1
        elif value in ("Press Half", "Press Half MF"):
            gp.half_pressed = True
        elif value in ("Press Full MF", "Immediate"):
            self._full_press(af=False)
        elif value in ("Press Full AF", "Press 3"):
            self._full_press(af=True)
        elif value in ("Release Half", "Release 1", "Release"):  # "Release": both stages
            gp.half_pressed = False

    def _full_press(self, af: bool) -> None:
        gp = self.gp
        if af and not gp.manual_focus():
            gp.af_at_release += 1
        gp.releases += 1
        self.real.trigger_capture()  # the file arrives as a real FILE_ADDED event

    # --- capture, files, events ------------------------------------------------------------
    def capture(self, kind: int) -> Any:
        gp = self.gp
        gp.check()
        if gp.brand == "nikon":
            af_off = self.real.get_single_config("autofocus").get_value() == "Off"
            af = not (af_off and 3 in gp.nikon_captures) and not gp.manual_focus()
        elif gp.brand == "sony":
            af = gp.sony_af_w_shutter and not gp.manual_focus()
        else:
            af = not gp.manual_focus()
        if af:
            gp.af_at_release += 1
        gp.releases += 1
        return self.real.capture(kind)

    def trigger_capture(self) -> None:
        self.gp.check()
        self.real.trigger_capture()

    def wait_for_event(self, timeout_ms: int) -> Any:
        self.gp.check()
        return self.real.wait_for_event(timeout_ms)

    def file_get(self, folder: str, name: str, kind: int) -> Any:
        self.gp.check()
        return self.real.file_get(folder, name, kind)

    def capture_preview(self) -> Any:
        self.gp.check()
        if self.gp.preview_busy > 0:
            self.gp.preview_busy -= 1
            raise real_gp.GPhoto2Error(real_gp.GP_ERROR_CAMERA_BUSY)
        if self.gp.live_view:
            self.gp.previews += 1
            if self.gp.lv_scene:
                return FakeFile(self.gp.live_view_jpeg())
            return FakeFile(jpeg_bytes())
        return self.real.capture_preview()

    def get_summary(self) -> Any:
        self.gp.check()
        text = str(self.real.get_summary().text)
        if self.gp.brand == "nikon":
            paths = ", ".join(f"Nikon Capture {n}" for n in self.gp.nikon_captures)
            text = text.replace("No vendor specific capture", paths or "No vendor specific capture")
        return SimpleNamespace(text=text)
