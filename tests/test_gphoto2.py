"""Gphoto2Camera against libgphoto2's real virtual camera (python-gphoto2 with VCAMERADIR).

Capture, configuration, file download and events run through the real libgphoto2 on its
virtual camera; the AF-drive, per-brand release and live-view widgets the virtual camera lacks
come from `fake_gphoto2.FakeGp`, layered over that same real camera.

libgphoto2 reads VCAMERADIR when python-gphoto2 is imported, so the folder of JPEGs is made and
the variable set here, before the first import.
"""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

_VCAM_DIR = Path(tempfile.mkdtemp(prefix="afon-vcam-"))
_COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]
for _i, _colour in enumerate(_COLOURS):
    Image.new("RGB", (64, 48), _colour).save(_VCAM_DIR / f"img{_i}.jpg", quality=95)
_IMPORTED_BEFORE = "gphoto2" in sys.modules
if not _IMPORTED_BEFORE:
    os.environ["VCAMERADIR"] = str(_VCAM_DIR)

gp = pytest.importorskip("gphoto2", reason="python-gphoto2 is not installed (pip install gphoto2)")

from afon.cameras.gphoto2 import (  # noqa: E402
    CANON_NEW,
    CANON_OLD,
    Gphoto2CallError,
    Gphoto2Camera,
)
from afon.cameras.url import open_camera  # noqa: E402
from afon.clock import VirtualClock  # noqa: E402
from afon.errors import CameraError  # noqa: E402
from fake_gphoto2 import FakeGp  # noqa: E402

VIRTUAL_PORT = "usb:001,001"


@pytest.fixture(scope="module", autouse=True)
def _virtual_camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """libgphoto2 keeps its driver settings (ptp2 autofocus=Off) in $XDG_CONFIG_HOME/gphoto."""
    saved = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("xdg"))
    try:
        if gp.Camera.autodetect().count() == 0:
            pytest.skip(
                "libgphoto2's virtual camera is not available (python-gphoto2 was imported "
                "before VCAMERADIR could be set, or its libgphoto2 has no vusb port)"
            )
        yield
    finally:
        if saved is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = saved
        shutil.rmtree(_VCAM_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _free_old_sessions() -> None:
    """Camera objects a test left behind (e.g. a hung session abandoned with its thread) keep
    libgphoto2's virtual-camera port library loaded, and with it its capture counter, which
    declares the store full at picture 151 (vcamera.c): free them before each test."""
    gc.collect()


def opened(fake: FakeGp | None = None, **kw: object) -> tuple[Gphoto2Camera, VirtualClock]:
    clock = VirtualClock()
    cam = Gphoto2Camera(None, clock=clock, gp=fake, **kw)  # type: ignore[arg-type]
    return cam, clock


def wait_af(cam: Gphoto2Camera, limit: int = 2000) -> str:
    for _ in range(limit):
        state = cam.af_state()
        if state not in ("ACTIVE_SCAN",):
            return state
        threading.Event().wait(0.001)  # the drive runs on the worker thread
    raise AssertionError("AF drive never finished")


# --- the real virtual camera -----------------------------------------------------------------
def test_autodetect_opens_the_virtual_camera_and_decides_the_release_from_its_operations() -> None:
    """The real virtual camera lists no Nikon capture operation ("No vendor specific capture"),
    so libgphoto2 would release it through the generic PTP capture, which ignores the
    autofocus setting: afon says the release would focus instead of trusting the setting."""
    cam, clock = opened()
    try:
        assert cam.model == "Nikon DSC D750" and cam.brand == "nikon"
        assert cam.nikon_captures == frozenset()
        assert cam.release_plan.method == "impossible" and not cam.release_plan.ok
        assert "Nikon capture paths: none" in cam.release_plan.detail
        assert cam.get_config_value("autofocus") == "On"  # not changed for nothing
        with pytest.raises(CameraError, match="AF-ON only"):
            cam.capture_still(clock.now_s())
        caps = cam.capabilities
        assert not caps.lens_drive and caps.still_capture
        # the virtual camera has no live view and no AF-drive widget: said plainly
        assert not caps.live_view and not caps.hardware_af
        assert any("no live view" in n for n in caps.notes)
        assert any("no AF-drive widget" in n for n in caps.notes)
        with pytest.raises(CameraError, match="no AF-drive widget"):
            cam.af_trigger()
    finally:
        cam.close()


def test_capture_downloads_and_decodes_the_file() -> None:
    cam, clock = opened(allow_af_on_release=True)
    try:
        still = cam.capture_still(clock.now_s())
        assert still.meta["camera_file"].startswith("/store_")
        assert still.meta["camera_file"].endswith(still.meta["file_name"])
        assert still.meta["release"] == "impossible"
        assert still.meta["af_on_release"] == "yes"
        assert cam.last_file_bytes is not None and cam.last_file_bytes[:2] == b"\xff\xd8"
        assert still.image is not None and still.image.shape == (48, 64, 3)
        colour = tuple(int(c) for c in still.image[24, 32])
        assert any(max(abs(a - b) for a, b in zip(colour, c, strict=True)) < 12 for c in _COLOURS)
        assert cam.capture_still(clock.now_s(), render=False).image is None
    finally:
        cam.close()


def test_configuration_round_trip_on_the_real_camera() -> None:
    cam, _ = opened()
    try:
        cam.set_config_value("capturetarget", "Memory card")
        assert cam.get_config_value("capturetarget") == "Memory card"
        assert cam.widgets["capturetarget"].choices == ("Internal RAM", "Memory card")
        cam.set_config_value("f-number", "f/8")  # a camera property (PTP 0x5007)
        assert cam.get_config_value("f-number") == "f/8"
        assert cam.widgets["imagesize"].readonly
        with pytest.raises(Gphoto2CallError, match="setting imagesize"):
            cam.set_config_value("imagesize", "1024x768")
        assert cam.connected  # a refused setting is not a disconnection
    finally:
        cam.close()


def test_port_selection_and_a_wrong_port() -> None:
    clock = VirtualClock()
    cam = Gphoto2Camera(VIRTUAL_PORT, clock=clock)
    try:
        assert cam.model == "Nikon DSC D750"
    finally:
        cam.close()
    with pytest.raises(CameraError, match=r"no camera on port usb:009,009.*Nikon DSC D750"):
        Gphoto2Camera("usb:009,009", clock=clock)


def test_open_camera_url_opens_the_virtual_camera() -> None:
    cam = open_camera("gphoto2:", clock=VirtualClock())
    try:
        assert isinstance(cam, Gphoto2Camera)
        assert cam.capabilities.still_capture
    finally:
        cam.close()


def test_no_live_view_gives_paced_placeholder_frames() -> None:
    cam, clock = opened(allow_af_on_release=True)
    try:
        first = cam.next_frame()
        second = cam.next_frame()
        assert second.ready_s - first.ready_s == pytest.approx(0.1)
        assert first.meta["live_view"] is False
        cam.capture_still(clock.now_s())
        frame = cam.next_frame()
        assert frame.image.shape == (48, 64, 3)  # the last still stands in
    finally:
        cam.close()


# --- AF drive and live view (fake widgets over the real camera) ----------------------------------
def test_nikon_af_drive_without_release_and_release_without_af() -> None:
    fake = FakeGp("nikon", live_view=True)
    cam, clock = opened(fake)
    try:
        caps = cam.capabilities
        assert caps.hardware_af and caps.live_view
        assert cam.next_frame().meta["live_view"] is True
        assert cam.af_trigger(wait=True) == "FOCUSED_LOCKED"
        assert cam.af_confirmed()
        assert fake.af_drives == 1 and fake.releases == 0  # AF without a release
        fake.subject_focusable = False
        assert cam.af_trigger(wait=True) == "NOT_FOCUSED_LOCKED"
        cam.capture_still(clock.now_s())
        assert fake.releases == 1 and fake.af_at_release == 0  # release without AF
        assert ("autofocus", "Off") in fake.writes
    finally:
        cam.close()


def test_nikon_af_drive_runs_in_the_background_and_pauses_live_view() -> None:
    fake = FakeGp("nikon", live_view=True)
    fake.drive_gate = threading.Event()
    cam, _ = opened(fake)
    try:
        assert cam.af_trigger() == "ACTIVE_SCAN"
        frame = cam.next_frame()  # the drive holds the camera: no preview request meanwhile
        assert frame.meta["live_view"] is False
        assert cam.af_state() == "ACTIVE_SCAN"
        fake.drive_gate.set()
        assert wait_af(cam) == "FOCUSED_LOCKED"
        assert cam.next_frame().meta["live_view"] is True
    finally:
        fake.drive_gate.set()
        cam.close()


def test_nikon_af_c_repeats_drives_while_held() -> None:
    fake = FakeGp("nikon")
    cam, _ = opened(fake)
    try:
        cam.af_continuous(True)
        for _ in range(200):
            cam.next_frame()
            if fake.af_drives >= 3:
                break
            threading.Event().wait(0.001)
        assert fake.af_drives >= 3
        assert cam.af_state() in ("PASSIVE_SCAN", "PASSIVE_FOCUSED")
        cam.af_continuous(False)
        drives = fake.af_drives
        assert cam.af_state() == "FOCUSED_LOCKED"
        for _ in range(5):
            cam.next_frame()
        assert fake.af_drives == drives
    finally:
        cam.close()


def test_canon_new_values_half_press_af_and_full_press_mf_release() -> None:
    fake = FakeGp("canon", canon_values="new")
    cam, clock = opened(fake)
    try:
        assert cam.release_plan.method == "canon-remote-new"
        assert any("unconfirmed" in n for n in cam.capabilities.notes)
        assert cam.af_trigger() == "FOCUSED_LOCKED"
        assert ("autofocusdrive", 1) in fake.writes and fake.af_drives == 1
        assert not cam.af_confirmed()
        cam.af_continuous(True)  # AF-ON held: half press with AF
        assert fake.writes[-1] == ("eosremoterelease", CANON_NEW["af_half"])
        assert fake.half_pressed and fake.af_runs == 1
        still = cam.capture_still(clock.now_s())  # shutter while AF-ON is held
        remote = [v for n, v in fake.writes if n == "eosremoterelease"]
        assert remote[-4:] == ["Release Half", "Press Full MF", "Release", "Press Half AF"]
        assert fake.af_at_release == 0 and fake.releases == 1
        assert still.image is not None  # the file came as a real FILE_ADDED event
        assert still.meta["camera_file"].endswith(".JPG")
        cam.af_continuous(False)
        assert fake.writes[-1] == ("eosremoterelease", "Release Half")
        assert not fake.half_pressed
        assert cam.af_state() == "FOCUSED_LOCKED"
        events = cam.poll_events()
        assert all(kind != "file_added" for kind, _ in events)  # the file was consumed
        cam.af_cancel()
        assert fake.writes[-1] == ("cancelautofocus", 1)
    finally:
        cam.close()


def test_canon_old_values_press_1_and_immediate() -> None:
    fake = FakeGp("canon", canon_values="old", without=("autofocusdrive",))
    cam, clock = opened(fake)
    try:
        assert cam.release_plan.method == "canon-remote-old"
        t0 = clock.now_s()
        assert cam.af_trigger(wait=True) == "FOCUSED_LOCKED"  # Press 1, held, Release 1
        assert clock.now_s() - t0 == pytest.approx(cam.half_press_s)
        remote = [v for n, v in fake.writes if n == "eosremoterelease"]
        assert remote == [CANON_OLD["af_half"], CANON_OLD["af_half_off"]]
        assert "Press Half" not in remote  # the old "Press Half" does not autofocus
        assert fake.af_runs == 1
        still = cam.capture_still(clock.now_s())
        remote = [v for n, v in fake.writes if n == "eosremoterelease"]
        assert remote[-2:] == ["Immediate", "Release Full"]
        assert fake.af_at_release == 0 and still.image is not None
    finally:
        cam.close()


def test_canon_without_remote_release_uses_manual_focus_mode() -> None:
    fake = FakeGp("canon", without=("eosremoterelease",))
    cam, clock = opened(fake)
    try:
        assert cam.release_plan.method == "canon-focusmode-manual"
        assert fake.values["focusmode"] == "Manual"
        cam.capture_still(clock.now_s())
        assert fake.af_at_release == 0
        assert cam.af_trigger() == "FOCUSED_LOCKED"  # autofocusdrive still focuses in Manual
        assert fake.af_drives == 1
    finally:
        cam.close()


@pytest.mark.parametrize(
    ("fake_kw", "advice"),
    [
        ({"brand": "nikon", "model": "Nikon 1 J5"}, "Focus mode: MF"),
        (
            {"brand": "canon", "without": ("eosremoterelease",), "readonly": ("focusmode",)},
            "Metering start",
        ),
        ({"brand": "fuji"}, "focus-mode switch to M"),
    ],
)
def test_a_body_that_cannot_release_without_af_is_detected(
    fake_kw: dict[str, object], advice: str
) -> None:
    fake = FakeGp(**fake_kw)  # type: ignore[arg-type]
    cam, clock = opened(fake)
    try:
        assert not cam.release_plan.ok
        assert any("CANNOT release without AF" in n and advice in n for n in cam.capabilities.notes)
        with pytest.raises(CameraError, match="cannot release without AF") as info:
            cam.capture_still(clock.now_s())
        assert advice in str(info.value)
        assert fake.releases == 0
    finally:
        cam.close()
    allowed, clock = opened(FakeGp(**fake_kw), allow_af_on_release=True)  # type: ignore[arg-type]
    try:
        assert allowed.capture_still(clock.now_s()).meta["af_on_release"] == "yes"
    finally:
        allowed.close()


def test_fuji_in_manual_focus_releases_without_af() -> None:
    fake = FakeGp("fuji")
    fake.values["focusmode"] = "Manual"
    cam, clock = opened(fake)
    try:
        assert cam.release_plan.ok
        cam.capture_still(clock.now_s())
        assert fake.af_at_release == 0
        assert cam.af_trigger(wait=True) == "FOCUSED_LOCKED"
    finally:
        cam.close()


def test_sony_half_press_af_and_manual_focus_for_the_release() -> None:
    fake = FakeGp("sony")
    cam, clock = opened(fake)
    try:
        assert cam.release_plan.method == "sony-focusmode-manual"
        cam.af_continuous(True)
        assert fake.writes[-1] == ("autofocus", 1) and fake.af_runs == 1
        cam.af_continuous(False)
        assert fake.writes[-1] == ("autofocus", 0)
        cam.capture_still(clock.now_s())
        focus_writes = [v for n, v in fake.writes if n == "focusmode"]
        assert focus_writes == ["Manual", "AF-C"]  # restored after the release
        assert fake.af_at_release == 0 and fake.values["focusmode"] == "AF-C"
        cam.af_trigger()
        assert cam.af_state() == "ACTIVE_SCAN" and fake.half_pressed
        clock.advance(cam.half_press_s)
        assert cam.af_state() == "FOCUSED_LOCKED" and not fake.half_pressed
    finally:
        cam.close()


# --- faults ----------------------------------------------------------------------------------
def test_disconnect_mid_burst_then_reconnect_with_backoff() -> None:
    fake = FakeGp("nikon")
    cam, clock = opened(fake)
    try:
        for _ in range(2):
            assert cam.capture_still(clock.now_s()).image is not None
        fake.unplugged = True
        with pytest.raises(CameraError, match="disconnected"):
            cam.capture_still(clock.now_s())
        assert not cam.connected
        with pytest.raises(CameraError, match="call reconnect"):
            cam.next_frame()
        fake.replug_after_attempts = fake.init_attempts + 3
        writes_before = len(fake.writes)
        t0 = clock.now_s()
        assert cam.reconnect() == 3
        assert clock.now_s() - t0 == pytest.approx(0.5 + 1.0)
        assert ("autofocus", "Off") in fake.writes[writes_before:]  # release setting re-applied
        assert cam.capture_still(clock.now_s()).image is not None
        assert fake.af_at_release == 0
    finally:
        cam.close()


def test_reconnect_lets_go_of_a_held_half_press() -> None:
    fake = FakeGp("canon")
    cam, _ = opened(fake)
    try:
        cam.af_continuous(True)
        fake.unplugged = True
        with pytest.raises(CameraError):
            cam.next_frame()
        fake.unplugged = False
        fake.half_pressed = True  # the body kept the half press (a USB glitch, not power)
        assert cam.reconnect() == 1
        assert fake.writes[-1] == ("eosremoterelease", "Release Half")
        assert not fake.half_pressed
        assert cam.af_state() in ("FOCUSED_LOCKED", "NOT_FOCUSED_LOCKED")
    finally:
        cam.close()


def test_reconnect_gives_up() -> None:
    fake = FakeGp("nikon")
    cam, clock = opened(fake)
    try:
        fake.unplugged = True
        t0 = clock.now_s()
        with pytest.raises(CameraError, match="still gone after 2"):
            cam.reconnect(max_attempts=2, base_delay_s=0.25)
        assert clock.now_s() - t0 == pytest.approx(0.25)
    finally:
        cam.close()


def test_a_hung_camera_times_out_instead_of_hanging() -> None:
    fake = FakeGp("nikon")
    cam, clock = opened(fake, capture_timeout_s=0.2)
    try:
        fake.hang = True
        with pytest.raises(CameraError, match=r"did not answer within 0\.2 s"):
            cam.capture_still(clock.now_s())
        assert not cam.connected
        fake.hang = False
        fake.release_hang()
        assert cam.reconnect() == 1
        assert cam.capture_still(clock.now_s()).image is not None
    finally:
        fake.release_hang()
        cam.close()


def test_no_camera_is_a_clear_error() -> None:
    fake = FakeGp("nikon")
    fake.unplugged = True
    with pytest.raises(CameraError, match=r"no camera could be opened.*USB"):
        opened(fake)


def test_nikon_release_during_af_c_pauses_the_drives_then_resumes_them() -> None:
    fake = FakeGp("nikon")
    cam, clock = opened(fake)
    try:
        cam.af_continuous(True)
        cam.next_frame()
        cam.capture_still(clock.now_s())
        assert fake.af_at_release == 0 and fake.releases == 1
        drives = fake.af_drives
        for _ in range(200):
            cam.next_frame()
            if fake.af_drives > drives:
                break
            threading.Event().wait(0.001)
        assert fake.af_drives > drives  # AF-ON still held: AF-C goes on after the release
        assert cam.af_state().startswith("PASSIVE_")
        cam.af_continuous(False)
    finally:
        cam.close()


# --- the body on a tethered camera ---------------------------------------------------------------
def test_body_bbf_on_a_tethered_nikon_af_on_focuses_and_the_shutter_releases_without_af() -> None:
    from afon.body import Body
    from afon.focus.states import AfState

    fake = FakeGp("nikon", live_view=True)
    cam, _ = opened(fake)
    try:
        body = Body(cam, "nikon")  # AF-ON only; the camera's own AF does the focusing
        body.set_focus_mode("AF-S")
        body.af_on.press()
        for _ in range(2000):
            body.step()
            if body.state.locked:
                break
            threading.Event().wait(0.001)  # the AF drive runs on the camera's worker thread
        assert body.state is AfState.FOCUSED_LOCKED
        assert fake.af_drives == 1 and fake.releases == 0  # AF without a release
        body.af_on.release()
        body.shutter.press()
        body.run_for(0.05)
        body.shutter.release()
        assert fake.releases == 1 and fake.af_at_release == 0  # release without AF
        assert fake.af_drives == 1  # the shutter never refocused
        assert body.shots[-1].ok
    finally:
        cam.close()


def test_body_keeps_shooting_when_the_camera_drops_out_mid_burst(tmp_path: Path) -> None:
    from afon.body import Body

    fake = FakeGp("nikon")
    cam, _ = opened(fake)
    try:
        body = Body(cam, "bbf", shots_dir=tmp_path)  # continuous drive, release priority
        body.set_focus_mode("MF")
        body.shutter.press()
        body.run_for(0.25)
        saved_before = [s.image_path for s in body.shots if s.ok]
        fake.unplugged = True
        fake.replug_after_attempts = fake.init_attempts + 2
        body.run_for(2.5)  # the reconnect backs off 0.5 s, then 1 s, on the camera's clock
        body.shutter.release()
        failures = [s for s in body.shots if not s.ok]
        assert len(failures) >= 1 and "camera error" in (failures[0].failure or "")
        assert body.stats.extra["reconnects"] >= 1
        after = [s for s in body.shots if s.ok and s.pressed_s > failures[0].pressed_s]
        assert after, "the burst went on after the reconnect"
        for path in saved_before:  # nothing already captured is lost
            assert path is not None and Path(path).exists()
    finally:
        cam.close()


# --- Nikon: release without AF decided from the listed operations (gphoto2#333) ------------------
@pytest.mark.parametrize(
    ("fake_kw", "ok"),
    [
        ({"nikon_captures": (1, 2, 3)}, True),  # InitiateCaptureRecInMedia: af=0 honoured
        ({"nikon_captures": (1, 2)}, False),  # D5100-style: the older paths focus anyway
        ({"nikon_captures": (1, 2, 3), "model": "Nikon DSC D3200"}, False),  # gphoto2#333
    ],
)
def test_nikon_release_plan_follows_the_capture_operations(
    fake_kw: dict[str, object], ok: bool
) -> None:
    fake = FakeGp("nikon", **fake_kw)  # type: ignore[arg-type]
    cam, clock = opened(fake)
    try:
        assert cam.release_plan.ok is ok
        # (the release itself is tested once per path: libgphoto2's virtual camera allows only
        # about 26 captures per process, vcamera.c "Declaring store full at picture 151")
        if ok:
            assert cam.release_plan.method == "nikon-autofocus-off"
            assert cam.get_config_value("autofocus") == "Off"
        else:
            assert "AF-ON only" in cam.release_plan.advice
            with pytest.raises(CameraError, match="cannot release without AF"):
                cam.capture_still(clock.now_s())
    finally:
        cam.close()
    if not ok and "model" not in fake_kw:  # what afon refused to trust: the body does focus
        allowed, clock = opened(FakeGp("nikon", **fake_kw), allow_af_on_release=True)  # type: ignore[arg-type]
        try:
            allowed.capture_still(clock.now_s())
            assert allowed._gp.af_at_release == 1
        finally:
            allowed.close()


def set_driver_autofocus(value: str) -> None:
    plain = gp.Camera()
    plain.init()
    try:
        widget = plain.get_single_config("autofocus")
        widget.set_value(value)
        plain.set_single_config("autofocus", widget)
    finally:
        plain.exit()


def test_nikon_autofocus_setting_is_restored_on_close() -> None:
    set_driver_autofocus("On")  # what the user's gphoto2 command line had
    fake = FakeGp("nikon")
    cam, _ = opened(fake)
    assert cam.get_config_value("autofocus") == "Off"
    cam.close()
    # a fresh libgphoto2 session (as the gphoto2 command line would open) sees it back on
    plain = gp.Camera()
    plain.init()
    try:
        assert plain.get_single_config("autofocus").get_value() == "On"
    finally:
        plain.exit()


# --- busy live view ------------------------------------------------------------------------------
def test_busy_live_view_is_retried_not_a_reconnect() -> None:
    fake = FakeGp("nikon", live_view=True)
    cam, _ = opened(fake)
    try:
        cam.next_frame()
        fake.preview_busy = 2
        second = cam.next_frame()
        assert second.meta["live_view"] and cam.busy_retries == 2
        fake.preview_busy = 10  # busy for longer: the last frame again, still connected
        frame = cam.next_frame()
        assert not frame.meta["live_view"] and frame.image is second.image
        assert cam.connected and cam.reconnects == 0
    finally:
        cam.close()


# --- AF-C: live view between drives ---------------------------------------------------------------
@pytest.mark.parametrize("brand", ["nikon", "fuji"])
def test_af_c_interleaves_live_view_frames_with_the_drives(brand: str) -> None:
    fake = FakeGp(brand, live_view=True)
    cam, _ = opened(fake)
    try:
        cam.af_continuous(True)
        live = 0
        for _ in range(40):
            frame = cam.next_frame()
            live += bool(frame.meta["live_view"])
            threading.Event().wait(0.002)  # the drive runs on the worker thread
        assert fake.af_drives >= 3
        assert live >= fake.af_drives - 1  # a fresh frame between drives
        cam.af_continuous(False)
    finally:
        cam.close()


# --- Canon: a held half press tracks only in AI Servo --------------------------------------------
def test_canon_af_c_in_one_shot_says_it_will_not_track() -> None:
    fake = FakeGp("canon")
    fake.values["focusmode"] = "One Shot"
    cam, _ = opened(fake)
    try:
        assert cam.canon_tracks() is False
        cam.af_continuous(True)
        assert any("tracks only in AI Servo" in n for n in cam.capabilities.notes)
        cam.af_continuous(False)
    finally:
        cam.close()
    servo = FakeGp("canon")  # AI Servo (the fake's default)
    cam, _ = opened(servo)
    try:
        cam.af_continuous(True)
        assert cam.canon_tracks() is True and cam.warnings == []
        cam.af_continuous(False)
    finally:
        cam.close()


# --- magnify: Canon's live-view zoom -----------------------------------------------------------
def _grey(img: object) -> object:
    import numpy as np

    arr = np.asarray(img, np.float32)
    return arr[..., 0] if arr.ndim == 3 else arr


def _detail(img: object) -> object:
    import cv2
    import numpy as np

    g = _grey(img)
    return np.asarray(g - cv2.GaussianBlur(g, (0, 0), 2.0), np.float32)  # type: ignore[operator]


def _corr(a: object, b: object) -> float:
    import numpy as np

    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def _zoomed(cam: Gphoto2Camera, rect: tuple[float, float, float, float], zoom: int) -> object:
    for _ in range(5):
        out = cam.magnified(cam.next_frame(), rect, zoom)
        if out is not None:
            return out
    raise AssertionError("the zoomed live view never came")


@pytest.mark.parametrize("zoom", [5, 10])
def test_canon_magnify_uses_the_bodys_own_live_view_zoom(zoom: int) -> None:
    """eoszoom / eoszoomposition (config.c): the body reads the zoom frame from its sensor, so
    the view has detail the whole-field live view, cropped and enlarged, cannot show."""
    import cv2

    from afon.cameras.magnify import crop_fraction, magnify_rect

    fake = FakeGp("canon", live_view=True, lv_scene=True)
    cam, _ = opened(fake, sensor_px=(5760, 3840))
    try:
        assert cam.body_zoom
        assert any("live-view zoom (eoszoom" in n for n in cam.capabilities.notes)
        whole = cam.next_frame().image
        rect = magnify_rect(0.3, 0.6, zoom)
        assert cam.magnified(cam.next_frame(), rect, zoom) is None  # sent; the next frame shows it
        x, y = round(rect[0] * 5760), round(rect[1] * 3840)
        assert fake.writes[-2:] == [("eoszoom", str(zoom)), ("eoszoomposition", f"{x},{y}")]
        image, where = _zoomed(cam, rect, zoom)  # type: ignore[misc]
        assert where == rect
        truth = fake.region_image(fake.zoom_rect(), fake.lv_px)
        assert _corr(_detail(image), _detail(truth)) > 0.8
        crop = crop_fraction(whole, rect)
        enlarged = cv2.resize(crop, fake.lv_px, interpolation=cv2.INTER_LINEAR)
        assert _corr(_detail(enlarged), _detail(truth)) < 0.5
        # the AF point moves: only the position is sent again
        writes = len(fake.writes)
        moved = magnify_rect(0.6, 0.4, zoom)
        _zoomed(cam, moved, zoom)
        assert [w[0] for w in fake.writes[writes:]] == ["eoszoomposition"]
        cam.end_magnify()
        assert fake.writes[-1] == ("eoszoom", "1") and fake.zoom == 1
        assert _corr(_grey(cam.next_frame().image), _grey(whole)) > 0.99
    finally:
        cam.close()


def test_canon_zoom_waits_for_the_stills_size_and_bodies_without_zoom_get_the_crop() -> None:
    from afon.cameras.magnify import magnify_rect

    fake = FakeGp("canon", live_view=True, lv_scene=True)
    cam, clock = opened(fake)
    try:
        rect = magnify_rect(0.5, 0.5, 5)
        assert cam.magnified(cam.next_frame(), rect, 5) is None
        assert not any(n.startswith("eoszoom") for n, _ in fake.writes)
        assert any("once the still's size is known" in n for n in cam.capabilities.notes)
        still = cam.capture_still(clock.now_s())
        assert still.image is not None
        assert cam.sensor_px == (still.image.shape[1], still.image.shape[0])
        _zoomed(cam, rect, 5)
        assert ("eoszoom", "5") in fake.writes
    finally:
        cam.close()
    nikon = FakeGp("nikon", live_view=True)
    cam, _ = opened(nikon, sensor_px=(6016, 4016))
    try:
        assert not cam.body_zoom
        assert cam.magnified(cam.next_frame(), magnify_rect(0.5, 0.5, 5), 5) is None
        assert any("magnify: a crop of the live view" in n for n in cam.capabilities.notes)
    finally:
        cam.close()
