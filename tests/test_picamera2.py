"""Picamera2Camera against a fake that follows libcamera's documented AF semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from afon.cameras.picamera2 import (
    AF_MODE_AUTO,
    AF_MODE_CONTINUOUS,
    AF_MODE_MANUAL,
    AF_PAUSE_IMMEDIATE,
    AF_PAUSE_RESUME,
    AF_TRIGGER_CANCEL,
    AF_TRIGGER_START,
    Picamera2Camera,
)
from afon.clock import VirtualClock
from afon.errors import CameraError
from afon.focus.states import AfState
from fake_picamera2 import FakePicamera2

LORES = (160, 120)


def make(module: str = "cm3", **kw: object) -> tuple[Picamera2Camera, FakePicamera2, VirtualClock]:
    clock = VirtualClock()
    fake = FakePicamera2(clock, module=module, **kw)  # type: ignore[arg-type]
    cam = Picamera2Camera(0, clock=clock, lores=LORES, picam=fake)
    return cam, fake, clock


def frames(cam: Picamera2Camera, n: int) -> None:
    for _ in range(n):
        cam.next_frame()


def run_until_state(cam: Picamera2Camera, states: set[str], limit: int = 100) -> str:
    for _ in range(limit):
        cam.next_frame()
        if cam.af_state() in states:
            return cam.af_state()
    raise AssertionError(f"AF state stuck at {cam.af_state()}")


# --- opening and capabilities -----------------------------------------------------------------
def test_open_configures_lores_preview_and_manual_af() -> None:
    cam, fake, _ = make()
    assert fake.config is not None and fake.config["use_case"] == "preview"
    assert fake.config["lores"] == {"size": LORES, "format": "YUV420"}
    assert fake.config["controls"] == {"AfMode": AF_MODE_MANUAL}
    caps = cam.capabilities
    assert caps.hardware_af and caps.lens_drive and caps.live_view and caps.still_capture
    assert caps.lens_range_d == (0.0, 15.0)
    assert not caps.phase_detect
    frame = cam.next_frame()
    assert frame.image.shape == (LORES[1], LORES[0], 3)
    assert frame.exposure_start_s < frame.exposure_end_s <= frame.ready_s
    assert frame.meta["AfState"] == "Idle"
    assert cam.af_state() == "INACTIVE"


@pytest.mark.parametrize(
    ("module", "hardware_af", "lens_drive", "phrase"),
    [
        ("no-pause", True, True, "does not advertise AfPause"),
        ("lens-no-af", False, True, "afon's own AF drives LensPosition"),
        ("fixed", False, False, "fixed-focus"),
    ],
)
def test_capabilities_say_what_each_module_cannot_do(
    module: str, hardware_af: bool, lens_drive: bool, phrase: str
) -> None:
    cam, _, _ = make(module)
    caps = cam.capabilities
    assert caps.hardware_af is hardware_af
    assert caps.lens_drive is lens_drive
    assert any(phrase in note for note in caps.notes)


# --- AF-S ------------------------------------------------------------------------------------
def test_af_trigger_sends_auto_and_start_together_and_follows_afstate() -> None:
    cam, fake, _ = make(subject_d=4.0)
    frames(cam, 2)
    assert cam.af_trigger() == "ACTIVE_SCAN"
    assert fake.sent[-1] == {"AfMode": AF_MODE_AUTO, "AfTrigger": AF_TRIGGER_START}
    seen = set()
    for _ in range(40):
        frame = cam.next_frame()
        seen.add(frame.meta["AfState"])
        if cam.af_state() != "ACTIVE_SCAN":
            break
    assert "Scanning" in seen
    assert cam.af_state() == "FOCUSED_LOCKED"
    assert AfState(cam.af_state()).libcamera == "Focused"
    assert cam.lens_position_d() == pytest.approx(4.0)
    # locked: the subject moves, the lens does not (Auto never moves without a trigger)
    fake.subject_d = 8.0
    frames(cam, 10)
    assert cam.lens_position_d() == pytest.approx(4.0)
    assert cam.lock_focus() == pytest.approx(4.0)


def test_af_trigger_wait_reports_failure_on_low_contrast() -> None:
    cam, _, _ = make(subject_d=None)
    assert cam.af_trigger(wait=True) == "NOT_FOCUSED_LOCKED"


def test_af_scan_that_never_ends_is_cancelled_after_the_timeout() -> None:
    cam, fake, clock = make(scan_never_ends=True)
    cam.af_timeout_s = 1.0
    t0 = clock.now_s()
    assert cam.af_trigger(wait=True) == "NOT_FOCUSED_LOCKED"
    assert 1.0 < clock.now_s() - t0 < 1.2
    assert fake.sent[-1] == {"AfTrigger": AF_TRIGGER_CANCEL}


def test_af_cancel_leaves_the_lens_where_it_is() -> None:
    cam, fake, _ = make(subject_d=12.0, lens_speed_d_per_frame=0.5)
    cam.af_trigger()
    frames(cam, 6)
    cam.af_cancel()
    assert fake.sent[-1] == {"AfTrigger": AF_TRIGGER_CANCEL}
    assert cam.af_state() == "INACTIVE"
    frames(cam, 4)
    here = cam.lens_position_d()
    frames(cam, 10)
    assert cam.lens_position_d() == pytest.approx(here)
    assert here < 12.0


# --- AF-C ------------------------------------------------------------------------------------
def test_af_continuous_tracks_then_pauses_immediately_on_release() -> None:
    cam, fake, _ = make(subject_d=3.0)
    cam.af_continuous(True)
    assert fake.sent[-1] == {"AfMode": AF_MODE_CONTINUOUS}
    assert run_until_state(cam, {"PASSIVE_FOCUSED"}) == "PASSIVE_FOCUSED"
    fake.subject_d = 6.0  # the subject moves: continuous AF rescans and follows
    assert run_until_state(cam, {"PASSIVE_SCAN"}) == "PASSIVE_SCAN"
    assert run_until_state(cam, {"PASSIVE_FOCUSED"}) == "PASSIVE_FOCUSED"
    assert cam.lens_position_d() == pytest.approx(6.0)
    cam.af_continuous(False)  # AF-ON let go
    assert fake.sent[-1] == {"AfPause": AF_PAUSE_IMMEDIATE}
    assert cam.af_state() == "FOCUSED_LOCKED"
    frames(cam, 2)  # the pause is delivered with a later request (pipeline delay)
    fake.subject_d = 1.0
    frames(cam, 15)
    assert cam.lens_position_d() == pytest.approx(6.0)
    assert cam.af_state() == "FOCUSED_LOCKED"
    assert cam.capture_still(cam.clock.now_s()).meta["locked_lens_d"] == pytest.approx(6.0)


def test_af_continuous_press_again_resumes_when_paused() -> None:
    cam, fake, _ = make(subject_d=3.0)
    cam.af_continuous(True)
    run_until_state(cam, {"PASSIVE_FOCUSED"})
    cam.af_continuous(False)
    frames(cam, 2)
    fake.subject_d = 5.0
    frames(cam, 5)
    assert cam.lens_position_d() == pytest.approx(3.0)  # paused
    cam.af_continuous(True)
    assert fake.sent[-1] == {"AfPause": AF_PAUSE_RESUME}
    run_until_state(cam, {"PASSIVE_SCAN"})
    run_until_state(cam, {"PASSIVE_FOCUSED"})
    assert cam.lens_position_d() == pytest.approx(5.0)


def test_module_without_afpause_locks_by_manual_at_reported_lens_position() -> None:
    cam, fake, _ = make("no-pause", subject_d=3.0)
    cam.af_continuous(True)
    run_until_state(cam, {"PASSIVE_FOCUSED"})
    cam.af_continuous(False)
    assert fake.sent[-1] == {"AfMode": AF_MODE_MANUAL, "LensPosition": pytest.approx(3.0)}
    assert all("AfPause" not in c for c in fake.sent)  # the fake would have raised anyway
    assert cam.af_state() == "FOCUSED_LOCKED"
    frames(cam, 2)
    fake.subject_d = 9.0
    frames(cam, 15)
    assert cam.lens_position_d() == pytest.approx(3.0)


# --- stills ----------------------------------------------------------------------------------
def test_still_carries_the_locked_position_and_never_starts_a_scan() -> None:
    cam, fake, clock = make(subject_d=5.0)
    cam.af_continuous(True)
    run_until_state(cam, {"PASSIVE_FOCUSED"})
    locked = cam.lock_focus()
    assert locked == pytest.approx(5.0)
    frames(cam, 3)
    scans = fake.scan_starts
    fake.subject_d = 2.0  # whatever happens now, the release must not refocus
    release = clock.now_s() + 0.1
    still = cam.capture_still(release)
    assert fake.scan_starts == scans
    still_config = fake.configs[-2]
    assert still_config["use_case"] == "still"
    assert still_config["controls"] == {"AfMode": AF_MODE_MANUAL, "LensPosition": locked}
    assert still.lens_d == pytest.approx(locked)
    assert still.image is not None and still.image.ndim == 3 and still.image.dtype == np.uint8
    assert still.exposure_start_s >= release
    assert fake.configs[-1]["use_case"] == "preview"  # back to the preview afterwards
    frames(cam, 10)
    assert cam.lens_position_d() == pytest.approx(locked)


def test_the_fake_reproduces_the_mode_switch_pitfall() -> None:
    """Sanity check of the fake: a still config without AF controls restarts continuous AF."""
    clock = VirtualClock()
    fake = FakePicamera2(clock)
    fake.configure(fake.create_preview_configuration(lores={"size": LORES}))
    fake.start()
    fake.set_controls({"AfMode": AF_MODE_CONTINUOUS})
    for _ in range(30):
        fake.capture_request()
    before = fake.scan_starts
    fake.switch_mode_and_capture_request(fake.create_still_configuration())
    assert fake.scan_starts > before


def test_still_during_af_c_freezes_the_lens_then_resumes_tracking() -> None:
    cam, fake, clock = make(subject_d=4.0)
    cam.af_continuous(True)
    run_until_state(cam, {"PASSIVE_FOCUSED"})
    scans = fake.scan_starts
    still = cam.capture_still(clock.now_s())
    assert fake.scan_starts == scans
    assert fake.configs[-2]["controls"]["AfMode"] == AF_MODE_MANUAL
    assert still.lens_d == pytest.approx(4.0)
    assert fake.sent[-1] == {"AfMode": AF_MODE_CONTINUOUS}  # AF-ON still held: AF-C resumes
    assert cam.af_state() == "PASSIVE_SCAN"


# --- afon's own AF through LensPosition ---------------------------------------------------------
def test_move_lens_on_a_module_without_af_sends_only_lens_position() -> None:
    cam, fake, _ = make("lens-no-af", lens_speed_d_per_frame=0.5)
    assert cam.move_lens(20.0) == 15.0  # clamped to the advertised range
    assert fake.sent[-1] == {"LensPosition": 15.0}
    assert cam.lens_moving()
    moving = [cam.next_frame().lens_moving for _ in range(40)]
    assert moving[0] and not moving[-1]
    assert cam.lens_position_d() == pytest.approx(15.0)
    with pytest.raises(CameraError, match=r"no AF algorithm|does not advertise"):
        cam.af_trigger()


def test_move_lens_with_af_sets_manual_first() -> None:
    cam, fake, _ = make()
    cam.move_lens(3.0)
    assert fake.sent[-1] == {"LensPosition": 3.0, "AfMode": AF_MODE_MANUAL}
    frames(cam, 5)
    assert cam.lens_position_d() == pytest.approx(3.0)


def test_fixed_focus_module_move_lens_is_a_no_op() -> None:
    cam, fake, _ = make("fixed")
    assert math.isnan(cam.move_lens(2.0))
    assert fake.sent == []
    still = cam.capture_still(0.0)
    assert still.image is not None


def test_body_runs_afons_own_af_through_lens_position() -> None:
    """A module with a lens and no AF algorithm gets afon's engine (AF-S via the body)."""
    from afon.body import Body
    from afon.profile import load_profile

    clock = VirtualClock()
    fake = FakePicamera2(clock, module="lens-no-af", subject_d=6.0, lens_range=(0.0, 12.0, 0.0))
    cam = Picamera2Camera(0, clock=clock, lores=LORES, picam=fake)
    profile = load_profile("bbf")
    body = Body(cam, profile)
    body.set_focus_mode("AF-S")
    body.af_on.press()
    body.run_for(3.0)
    body.af_on.release()
    assert body.af.state is AfState.FOCUSED_LOCKED
    assert cam.lens_position_d() == pytest.approx(6.0, abs=0.6)


# --- faults ----------------------------------------------------------------------------------
def test_a_stalled_camera_raises_camera_error_instead_of_hanging() -> None:
    cam, fake, _ = make()
    fake.stalled = True
    with pytest.raises(CameraError, match="no preview frame within"):
        cam.next_frame()
    with pytest.raises(CameraError, match="no still capture within"):
        cam.capture_still(0.0)


def test_af_window_maps_onto_scaler_crop_maximum() -> None:
    cam, fake, _ = make()
    cam.af_window(0.5, 0.5, 0.1, 0.1)
    sent = fake.sent[-1]
    assert sent["AfMetering"] == 1
    (x, y, w, h) = sent["AfWindows"][0]
    assert (w, h) == (461, 259)
    assert x == round(2304 - 461 / 2) and y == round(1296 - 259 / 2)


def test_closed_camera_refuses_calls() -> None:
    cam, fake, _ = make()
    cam.close()
    assert fake.closed
    with pytest.raises(CameraError):
        cam.next_frame()


def test_url_without_picamera2_names_what_to_install() -> None:
    import importlib.util

    from afon.cameras.url import open_camera
    from afon.errors import AfonError

    if importlib.util.find_spec("picamera2") is not None:
        pytest.skip("picamera2 is installed here")
    with pytest.raises(AfonError, match="apt install python3-picamera2"):
        open_camera("picamera2:0", clock=VirtualClock())
    with pytest.raises(AfonError, match="expects a camera number"):
        open_camera("picamera2:front", clock=VirtualClock())


def test_release_during_a_single_scan_does_not_refocus_then_the_scan_restarts() -> None:
    cam, fake, clock = make(subject_d=10.0, lens_speed_d_per_frame=0.5)
    cam.af_trigger()
    frames(cam, 6)  # mid-scan
    here = cam.lens_position_d()
    assert 0.0 < here < 10.0
    still = cam.capture_still(clock.now_s())
    assert fake.configs[-2]["controls"] == {"AfMode": AF_MODE_MANUAL, "LensPosition": here}
    assert still.lens_d == pytest.approx(here)
    assert fake.sent[-1] == {"AfMode": AF_MODE_AUTO, "AfTrigger": AF_TRIGGER_START}
    assert run_until_state(cam, {"FOCUSED_LOCKED", "NOT_FOCUSED_LOCKED"}) == "FOCUSED_LOCKED"


def test_yuv420_with_row_padding_converts_and_crops() -> None:
    import cv2

    from afon.cameras.picamera2 import yuv420_to_rgb

    w, h, stride = 100, 60, 128
    rgb = np.zeros((h, stride, 3), np.uint8)
    rgb[:, :w] = (200, 30, 30)
    padded = cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420)  # (h*3/2, stride), as Picamera2 hands it
    out = yuv420_to_rgb(padded, (w, h))
    assert out.shape == (h, w, 3)
    assert abs(int(out[30, 50, 0]) - 200) < 10 and int(out[30, 50, 2]) < 50
