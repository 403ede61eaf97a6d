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
        ("cm3", True, True, "PDAF sensor, libcamera's AF is the default"),
        ("cdaf", True, True, "contrast-only AF in libcamera, afon's engine is the default"),
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
        fake.capture_request().release()
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


def test_the_fakes_buffers_run_out_when_requests_are_never_released() -> None:
    """Sanity check of the fake: Picamera2's preview configuration has 4 request buffers; a
    request held by the application is not refilled, so with all 4 held capture_request waits
    until its timeout; a release hands one back; a second release is an error."""
    clock = VirtualClock()
    fake = FakePicamera2(clock)
    fake.configure(fake.create_preview_configuration(lores={"size": LORES}))
    fake.start()
    held = [fake.capture_request() for _ in range(4)]
    t0 = clock.now_s()
    with pytest.raises(TimeoutError):
        fake.capture_request(wait=False).get_result(timeout=0.5)
    assert clock.now_s() - t0 == pytest.approx(0.5)
    held.pop(0).release()
    fresh = fake.capture_request(wait=False).get_result(timeout=0.5)
    fresh.release()
    with pytest.raises(RuntimeError, match="negative ref_count"):
        fresh.release()
    fake.stop()  # requests captured before a stop are not recycled; a restart has all 4 again
    fake.start()
    for _ in range(4):
        fake.capture_request()


def test_the_adapter_releases_every_request_it_captures() -> None:
    """Frames, AF, stills in AF-S and AF-C, for far longer than the buffer pool lasts: every
    request afon took is back with the camera after each call (none held, none starved)."""
    cam, fake, clock = make(subject_d=4.0)
    assert fake.buffer_count == 4
    for _ in range(3):
        cam.af_trigger(wait=True)
        frames(cam, 10)
        cam.capture_still(clock.now_s())
        assert fake.held == []
    cam.af_continuous(True)
    for _ in range(3):
        frames(cam, 10)
        cam.capture_still(clock.now_s())
        assert fake.held == []
    cam.af_continuous(False)
    frames(cam, 20)
    assert fake.held == [] and fake.starved == 0
    # a still's request holds a full-resolution buffer: released as well, not left to the GC
    assert len(fake.handed_out) > 80 and all(r.released for r in fake.handed_out)


# --- afon's own AF through LensPosition ---------------------------------------------------------
def test_move_lens_is_clamped_and_reports_moving_until_the_lens_arrives() -> None:
    cam, fake, _ = make("cdaf", lens_speed_d_per_frame=0.5)
    assert cam.move_lens(20.0) == 15.0  # clamped to the advertised range
    assert fake.sent[-1] == {"LensPosition": 15.0, "AfMode": AF_MODE_MANUAL}
    assert cam.lens_moving()
    moving = [cam.next_frame().lens_moving for _ in range(40)]
    assert moving[0] and not moving[-1]
    assert cam.lens_position_d() == pytest.approx(15.0)


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


@pytest.mark.parametrize(
    ("module", "choice", "expected"),
    [
        ("cdaf", "auto", "afon"),  # contrast-only module: afon's engine by default
        ("cm3", "afon", "afon"),  # PDAF module, but the user asked for afon's engine
        ("cm3", "auto", "camera"),  # PDAF: libcamera's own AF by default
        ("cdaf", "camera", "camera"),
    ],
)
def test_body_af_choice_decides_who_focuses_and_both_focus(
    module: str, choice: str, expected: str
) -> None:
    from afon.body import Body
    from afon.focus.hardware import CameraAf, af_method
    from afon.profile import load_profile

    clock = VirtualClock()
    fake = FakePicamera2(clock, module=module, subject_d=6.0, lens_range=(0.0, 12.0, 0.0))
    cam = Picamera2Camera(0, clock=clock, lores=LORES, picam=fake)
    assert af_method(cam, choice) == expected
    profile = load_profile("bbf").with_(af=choice)
    body = Body(cam, profile)
    body.set_focus_mode("AF-S")
    body.af_on.press()
    body.run_for(3.0)
    assert isinstance(body._single, CameraAf) is (expected == "camera")
    body.af_on.release()
    assert body.af.state is AfState.FOCUSED_LOCKED
    assert cam.lens_position_d() == pytest.approx(6.0, abs=0.6)
    used_af = any(c.get("AfMode") == AF_MODE_AUTO for c in fake.sent)
    assert used_af is (expected == "camera")


def test_af_camera_on_a_fixed_focus_module_is_an_error_naming_the_choice() -> None:
    from afon.errors import AfonError
    from afon.focus.hardware import af_method

    cam, _, _ = make("fixed")
    with pytest.raises(AfonError, match="af=camera"):
        af_method(cam, "camera")
    with pytest.raises(AfonError, match="af=afon"):
        af_method(cam, "afon")
    assert af_method(cam, "auto") is None


# --- faults ----------------------------------------------------------------------------------
def test_a_stalled_camera_raises_camera_error_instead_of_hanging() -> None:
    cam, fake, _ = make()
    fake.stalled = True
    with pytest.raises(CameraError, match="no preview frame within"):
        cam.next_frame()
    with pytest.raises(CameraError, match="no still capture within"):
        cam.capture_still(0.0)


def test_af_window_maps_onto_the_sensor_region_the_preview_shows() -> None:
    """AfWindows are native sensor pixels (ScalerCropMaximum's coordinates); the 4:3 preview
    shows the centred 3456x2592 crop of the 4608x2592 sensor, so a window in preview fractions
    is placed within that crop (not stretched over the 16:9 field)."""
    cam, fake, _ = make()
    assert cam.view_crop == (576, 0, 3456, 2592)
    cam.af_window(0.5, 0.5, 0.1, 0.1)
    sent = fake.sent[-1]
    assert sent["AfMetering"] == 1
    (x, y, w, h) = sent["AfWindows"][0]
    assert (w, h) == (346, 259)
    assert x == round(576 + 1728 - 346 / 2) and y == round(1296 - 259 / 2)
    cam.af_window(0.0, 0.0, 0.1, 0.1)  # a window at the preview's corner is the crop's corner
    assert fake.sent[-1]["AfWindows"][0][:2] == (576, 0)


# --- magnify: ScalerCrop ---------------------------------------------------------------------
def _grey(img: np.ndarray) -> np.ndarray:
    return np.asarray(img[..., 0] if img.ndim == 3 else img, np.float32)


def _sharpness(img: np.ndarray) -> float:
    import cv2

    return float(np.abs(cv2.Laplacian(_grey(img), cv2.CV_32F)).mean())


def _detail(img: np.ndarray) -> np.ndarray:
    """The image less its 2 px Gaussian blur: the fine detail."""
    import cv2

    g = _grey(img)
    return np.asarray(g - cv2.GaussianBlur(g, (0, 0), 2.0), np.float32)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(_grey(a).ravel(), _grey(b).ravel())[0, 1])


def _magnify(
    cam: Picamera2Camera, rect: tuple[float, float, float, float], zoom: float, limit: int = 10
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """Frames until the magnified view is there (the crop takes effect a frame or two later)."""
    for _ in range(limit):
        out = cam.magnified(cam.next_frame(), rect, zoom)
        if out is not None:
            return out
    raise AssertionError("the magnified crop never arrived")


@pytest.mark.parametrize("zoom", [5, 10])
def test_magnify_reads_the_sensor_region_through_the_main_streams_scaler_crop(zoom: int) -> None:
    """Pi 5: rpi::ScalerCrops crops the main stream to 1/zoom of the preview's field around the
    AF point; the ISP reads that region from the sensor, so the view has the detail the lores
    preview, enlarged, cannot show. The lores stream (what AF reads) keeps its whole field."""
    from afon.cameras.magnify import crop_fraction, magnify_rect

    cam, fake, _ = make(platform="pisp", subject_d=1.0)  # lens at 1.0: in focus
    before = cam.next_frame().image
    rect = magnify_rect(0.3, 0.6, zoom)
    assert cam.magnified(cam.next_frame(), rect, zoom) is None  # not there yet: the page crops
    want = cam.sensor_rect(rect)
    assert fake.sent[-1] == {"ScalerCrops": [want, cam.view_crop]}
    image, where = _magnify(cam, rect, zoom)
    main_crop, lores_crop = fake.native_crops()
    assert lores_crop == (576, 0, 3456, 2592)
    assert main_crop == pytest.approx(want, abs=2)  # rounded through the binned mode's pixels
    assert where == pytest.approx(rect, abs=1e-3)
    # one sensor pixel per output pixel at most, the preview's size at most
    assert image.shape[1] == min(LORES[0], want[2])
    truth = fake._render((image.shape[1], image.shape[0]), fake.lens, main_crop)
    assert _corr(image, truth) > 0.95
    enlarged = cv2_resize(crop_fraction(before, rect), image.shape[1], image.shape[0])
    assert _sharpness(image) > 2.0 * _sharpness(enlarged)
    # the fine detail (what a magnifier is for) is the sensor's, and the enlargement lacks it
    assert _corr(_detail(image), _detail(truth)) > 0.8
    assert _corr(_detail(enlarged), _detail(truth)) < 0.5
    after = cam.next_frame().image
    assert np.array_equal(after, before)  # the preview AF reads is untouched


def cv2_resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    import cv2

    return np.asarray(cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)


def test_magnify_crop_follows_libcamera_limits_and_the_state_shows_the_reported_crop() -> None:
    """libcamera keeps a crop on the sensor (and at its minimum size): the view is placed from
    the crop a frame reports, so a region at the field's edge is the one shown."""
    from afon.cameras.magnify import magnify_rect

    cam, fake, _ = make(platform="pisp", subject_d=1.0)
    cam.next_frame()
    rect = magnify_rect(0.0, 1.0, 10)  # the corner
    _, where = _magnify(cam, rect, 10)
    x, y, w, h = fake.native_crops()[0]
    assert x >= 0 and y >= 0 and x + w <= 4608 and y + h <= 2592
    assert where == pytest.approx(rect, abs=0.02)
    # the fake enlarges a crop below the ISP's minimum around the same centre, as libcamera does
    fake._apply({"ScalerCrops": [(2000, 1000, 8, 8), cam.view_crop]})
    cx, cy = fake.native_crops()[0][0] + fake.native_crops()[0][2] / 2, 0
    assert fake.native_crops()[0][2] >= 2 * 32 and abs(cx - 2004) <= 2 and cy == 0


def test_af_windows_stay_on_the_af_point_while_magnified() -> None:
    """The AF window is placed on the lores field (which magnify leaves alone), never on the
    main stream's crop: the same AfWindows magnified or not, inside the magnified region."""
    from afon.cameras.magnify import magnify_rect

    cam, fake, _ = make(platform="pisp", subject_d=1.0)
    cam.next_frame()
    cam.af_window(0.7, 0.4, 0.05, 0.05)
    plain = fake.sent[-1]["AfWindows"]
    _magnify(cam, magnify_rect(0.7, 0.4, 5), 5)
    cam.af_window(0.7, 0.4, 0.05, 0.05)
    assert fake.sent[-1]["AfWindows"] == plain
    (wx, wy, ww, wh) = plain[0]
    mx, my, mw, mh = fake.native_crops()[0]
    assert mx <= wx and wx + ww <= mx + mw and my <= wy and wy + wh <= my + mh


def test_a_still_taken_magnified_is_the_full_field_and_magnify_resumes() -> None:
    """A body leaves magnify for the shot: the still configuration has its own full-field crop
    (libcamera resets crops on configure); the preview's crop is asked for again after it."""
    from afon.cameras.magnify import magnify_rect

    cam, fake, clock = make(platform="pisp", subject_d=1.0)
    cam.next_frame()
    rect = magnify_rect(0.3, 0.6, 10)
    _magnify(cam, rect, 10)
    still = cam.capture_still(clock.now_s())
    assert still.image is not None
    assert "ScalerCrop" not in fake.configs[-2]["controls"]
    size = (still.image.shape[1], still.image.shape[0])
    full = fake._render(size, fake.lens, (576, 0, 3456, 2592))
    assert _corr(still.image, full) > 0.95
    assert fake.native_crops()[0] == (576, 0, 3456, 2592)  # back in the preview, full
    _, where = _magnify(cam, rect, 10)
    assert where == pytest.approx(rect, abs=1e-3)


def test_magnify_off_gives_the_main_stream_its_field_back() -> None:
    from afon.cameras.magnify import magnify_rect

    cam, fake, _ = make(platform="pisp", subject_d=1.0)
    cam.next_frame()
    _magnify(cam, magnify_rect(0.5, 0.5, 5), 5)
    cam.end_magnify()
    frames(cam, 3)
    assert fake.native_crops() == [cam.view_crop, cam.view_crop]


def test_magnify_on_a_single_crop_platform_is_left_to_the_preview_crop() -> None:
    """vc4 (Pi 4 and earlier): ScalerCrop would crop the lores stream AF reads too, so the
    adapter sends none and says so (None: the viewfinder crops the preview, "(crop)")."""
    from afon.cameras.magnify import magnify_rect

    cam, fake, _ = make()
    assert not cam.per_output_crop
    for _ in range(4):
        assert cam.magnified(cam.next_frame(), magnify_rect(0.5, 0.5, 5), 5) is None
    assert not any("ScalerCrop" in c or "ScalerCrops" in c for c in fake.sent)
    assert any("ScalerCrop" in n for n in cam.capabilities.notes)


def test_closed_camera_refuses_calls() -> None:
    cam, fake, _ = make()
    cam.close()
    assert fake.closed
    with pytest.raises(CameraError):
        cam.next_frame()


def test_url_without_picamera2_names_what_to_install() -> None:
    """No libcamera here: `picamera2:0` fails with advice (installed from pip or not)."""
    from afon.cameras.url import open_camera
    from afon.errors import AfonError

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


# --- Picamera2's control delivery (the fake runs picamera2's own Controls) --------------------
def test_the_fake_delivers_controls_through_picamera2s_own_controls_class() -> None:
    from fake_picamera2 import REAL_CONTROLS

    if REAL_CONTROLS is None:
        pytest.skip("picamera2 is not installed (scripts/setup.sh dev installs it --no-deps)")
    clock = VirtualClock()
    fake = FakePicamera2(clock, module="fixed")
    assert type(fake.controls) is REAL_CONTROLS
    with pytest.raises(RuntimeError, match="Control AfMode is not advertised by libcamera"):
        fake.set_controls({"AfMode": AF_MODE_AUTO})  # picamera2's own check and message


def test_set_controls_calls_before_the_next_request_are_merged_into_one() -> None:
    cam, fake, _ = make()
    cam.next_frame()
    fake.set_controls({"AfMode": AF_MODE_AUTO})
    fake.set_controls({"AfTrigger": AF_TRIGGER_START})
    fake.set_controls({"AfMode": AF_MODE_MANUAL, "LensPosition": 4.0})  # later value wins
    cam.next_frame()
    assert fake.requests[-1] == {
        "AfMode": AF_MODE_MANUAL,
        "AfTrigger": AF_TRIGGER_START,
        "LensPosition": 4.0,
    }
    cam.next_frame()
    assert len(fake.requests) == 1  # nothing new set: the next request carries no controls


def test_configure_drops_controls_set_before_it() -> None:
    clock = VirtualClock()
    fake = FakePicamera2(clock, lens_range=(0.0, 15.0, 1.0))
    config = fake.create_preview_configuration(controls={"AfMode": AF_MODE_MANUAL})
    fake.configure(config)
    fake.start()
    fake.capture_request().release()
    fake.set_controls({"LensPosition": 7.0})  # pending: no request has carried it yet
    fake.stop()
    fake.configure(config)  # replaces the pending controls with the configuration's
    fake.start()
    for _ in range(10):
        fake.capture_request().release()
    assert fake.lens == pytest.approx(1.0)


# --- lens position right after a move -----------------------------------------------------------
def test_lens_position_right_after_a_move_is_the_target_and_the_still_is_taken_there() -> None:
    cam, fake, clock = make(lens_speed_d_per_frame=0.5)
    frames(cam, 3)
    cam.move_lens(6.0)
    assert cam.lens_position_d() == pytest.approx(6.0)  # not the stale reported 1.0
    still = cam.capture_still(clock.now_s())
    assert fake.configs[-2]["controls"]["LensPosition"] == pytest.approx(6.0)
    assert cam.lock_focus() == pytest.approx(6.0)
    frames(cam, 30)
    assert fake.lens == pytest.approx(6.0)
    assert still.meta["locked_lens_d"] == pytest.approx(6.0)


# --- the saved lock -----------------------------------------------------------------------------
def test_focus_lock_on_picamera2_saves_lens_position_and_the_next_start_applies_it() -> None:
    from afon.focus_once import run_focus

    cam, _, _ = make(subject_d=4.5)
    result = run_focus("picamera2:0", lock=True, camera=cam)
    assert result.method == "camera"  # imx708 has PDAF: libcamera's AF by default
    assert result.state == "FOCUSED_LOCKED"
    assert result.locked_value == pytest.approx(4.5)
    assert result.lock_file == str(cam.lock_path) and cam.lock_path.is_file()
    assert "saved to" in result.describe()
    cam.close()
    # the next start: a fresh camera at its default lens position
    clock2 = VirtualClock()
    fresh = FakePicamera2(clock2, subject_d=9.0)
    cam2 = Picamera2Camera(0, clock=clock2, lores=LORES, picam=fresh)
    assert cam2.locked_value == pytest.approx(4.5)
    assert fresh.sent[0] == {"AfMode": AF_MODE_MANUAL, "LensPosition": pytest.approx(4.5)}
    cam2.next_frame()
    assert fresh.lens_target == pytest.approx(4.5)  # applied before the first frame
    frames(cam2, 5)
    assert fresh.lens == pytest.approx(4.5)
    # a still does not bring the lens back to the saved lock after it has been moved
    cam2.move_lens(8.0)
    frames(cam2, 10)
    cam2.capture_still(clock2.now_s())
    frames(cam2, 10)
    assert fresh.lens == pytest.approx(8.0)
    assert any("saved focus lock" in n for n in cam2.capabilities.notes)
    cleared = run_focus("picamera2:0", clear=True, camera=cam2)
    assert cleared.action == "clear" and not cam2.lock_path.exists()


def test_focus_with_af_afon_on_picamera2_uses_afons_engine() -> None:
    from afon.focus_once import run_focus

    cam, fake, _ = make(subject_d=4.5)
    result = run_focus("picamera2:0", camera=cam, af="afon")
    assert result.method == "afon"
    assert result.lens_d == pytest.approx(4.5, abs=0.6)
    assert not any(c.get("AfMode") == AF_MODE_AUTO for c in fake.sent)


def test_a_saved_lock_outside_the_modules_range_is_ignored_with_a_warning() -> None:
    from afon.cameras.focus_lock import write_lock_file

    cam, _, _ = make()
    write_lock_file(cam.lock_path, {"value": 99.0})
    cam.close()
    cam2, fake2, _ = make()
    assert cam2.locked_value is None
    assert any("outside this module's range" in n for n in cam2.capabilities.notes)
    assert all("LensPosition" not in c for c in fake2.sent)


# --- import failures give advice ------------------------------------------------------------------
def test_picamera2_without_libcamera_gives_advice_not_a_traceback() -> None:
    from afon.cameras.picamera2 import _open_picamera2
    from afon.errors import AfonError

    with pytest.raises(AfonError) as info:
        _open_picamera2(0)  # no libcamera here (picamera2 itself may be pip-installed)
    text = str(info.value)
    assert "--system-site-packages" in text and "python3-picamera2" in text


def test_picamera2_numpy_abi_mismatch_gives_numpy_advice(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    from pathlib import Path

    from afon.cameras.picamera2 import _open_picamera2
    from afon.errors import AfonError

    # what apt's simplejpeg raises under numpy 2 (picamera2#1088)
    pkg = Path(str(tmp_path)) / "picamera2"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "raise ValueError('numpy.dtype size changed, may indicate binary incompatibility. "
        "Expected 96 from C header, got 88 from PyObject')\n"
    )
    monkeypatch.syspath_prepend(str(pkg.parent))
    monkeypatch.delitem(sys.modules, "picamera2", raising=False)
    with pytest.raises(AfonError) as info:
        _open_picamera2(0)
    text = str(info.value)
    assert "numpy<2" in text and "dtype size changed" in text


@pytest.mark.parametrize(("platform", "native"), [("pisp", True), ("vc4", False)])
def test_the_viewfinder_says_sensor_where_scaler_crop_reads_it_and_crop_elsewhere(
    platform: str, native: bool
) -> None:
    """The runner shows the camera's own region where it has one (HUD "sensor"), the preview's
    crop meanwhile and where it has none ("(crop)"); magnify off hands the main stream back."""
    from afon.body import Body
    from afon.profile import load_profile
    from afon.web.runner import BodyRunner

    cam, fake, _ = make(platform=platform, subject_d=1.0)  # in focus: the fake blurs little
    body = Body(cam, load_profile("bbf"))
    runner = BodyRunner(body)
    runner.magnify = 10
    seen = []
    for _ in range(6):
        frame = body.step()
        image = runner._magnified(frame)
        seen.append(runner.magnify_native)
        state = runner._snapshot()
    assert seen[0] is False  # the crop is asked for; this frame is still the whole field
    assert seen[-1] is native
    assert state["magnify_native"] is native
    assert state["magnify_rect"] == pytest.approx([0.45, 0.45, 0.1, 0.1], abs=2e-3)
    if native:
        assert image.shape[1] == LORES[0]  # 346 sensor pixels wide, shown at the preview's 160
        runner.magnify = 0
        runner._publish(body.step())
        frames(cam, 3)
        assert fake.native_crops()[0] == cam.view_crop
    else:
        assert image.shape[:2] == (12, 16)  # a tenth of the 160x120 preview
