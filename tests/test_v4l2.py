"""V4l2Camera against a fake UVC webcam following the kernel's documented control semantics."""

from __future__ import annotations

import errno
import json
import math
from pathlib import Path

import numpy as np
import pytest

from afon.cameras.v4l2 import AF_OFF_WAIT_S, PSEUDO_RANGE_D, V4l2Camera, default_lock_path
from afon.clock import VirtualClock
from afon.errors import CameraError
from afon.focus.states import AfState
from fake_v4l2 import MONOTONIC_OFFSET_S, FakeUvcDevice

AUTO = "focus_automatic_continuous"


def make(tmp_path: Path, **kw: object) -> tuple[V4l2Camera, FakeUvcDevice, VirtualClock]:
    clock = VirtualClock()
    fake = FakeUvcDevice(clock, **kw)  # type: ignore[arg-type]
    cam = V4l2Camera("/dev/video0", clock=clock, lock_file=tmp_path / "lock.json", device_api=fake)
    return cam, fake, clock


def frames(cam: V4l2Camera, n: int) -> None:
    for _ in range(n):
        cam.next_frame()


# --- opening ---------------------------------------------------------------------------------
@pytest.mark.parametrize("auto_name", ["focus_automatic_continuous", "focus_auto"])
def test_open_switches_continuous_af_off_under_either_name(tmp_path: Path, auto_name: str) -> None:
    cam, fake, _ = make(tmp_path, auto_name=auto_name)
    assert fake.values[auto_name] == 0
    assert (auto_name, 0) in fake.writes
    caps = cam.capabilities
    assert caps.lens_drive and caps.hardware_af and caps.live_view and caps.still_capture
    assert caps.lens_range_d == (0.0, PSEUDO_RANGE_D)
    assert any("pseudo-dioptres" in n and "not real dioptres" in n for n in caps.notes)
    assert any(auto_name in n for n in caps.notes)


def test_missing_device_is_a_clear_error(tmp_path: Path) -> None:
    clock = VirtualClock()
    fake = FakeUvcDevice(clock)
    fake.unplug()
    with pytest.raises(CameraError, match=r"no such video device.*v4l2-ctl --list-devices"):
        V4l2Camera("/dev/video0", clock=clock, lock_file=tmp_path / "l.json", device_api=fake)


def test_fixed_focus_webcam_says_so(tmp_path: Path) -> None:
    cam, _, _ = make(tmp_path, auto_name=None, focus_range=None)
    caps = cam.capabilities
    assert not caps.lens_drive and not caps.hardware_af
    assert any("fixed-focus" in n for n in caps.notes)
    assert math.isnan(cam.move_lens(3.0))
    with pytest.raises(CameraError, match="continuous-AF control"):
        cam.af_trigger()


def test_default_lock_path_is_in_the_state_folder_and_names_the_device(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("AFON_STATE_DIR")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    clock = VirtualClock()
    cam = V4l2Camera("/dev/video0", clock=clock, device_api=FakeUvcDevice(clock))
    name = "usb-Fake_Webcam_C920_1234-video-index0"
    expected = tmp_path / f".local/state/afon/focus-locks/{name}.json"
    assert cam.lock_path == expected == default_lock_path("usb-Fake_Webcam_C920_1234-video-index0")
    assert not expected.exists()  # nothing is written until a lock is taken


def test_a_lock_saved_by_afon_0_1_under_config_is_still_applied_then_moved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("AFON_STATE_DIR")
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    legacy = tmp_path / ".config/afon/focus-lock-usb-Fake_Webcam_C920_1234-video-index0.json"
    legacy.parent.mkdir(parents=True)
    legacy.write_text(json.dumps({"version": 1, "value": 120, "range": [0, 250, 5]}))
    clock = VirtualClock()
    fake = FakeUvcDevice(clock)
    cam = V4l2Camera("/dev/video0", clock=clock, device_api=fake)
    assert cam.lock_path == legacy and fake.values["focus_absolute"] == 120
    cam.lock_focus()
    assert cam.lock_path.parent == tmp_path / ".local/state/afon/focus-locks"
    assert json.loads(cam.lock_path.read_text())["value"] == 120


# --- the absolute focus control ----------------------------------------------------------------
def test_move_lens_maps_and_quantises_the_absolute_control(tmp_path: Path) -> None:
    cam, fake, _ = make(tmp_path)
    assert cam.move_lens(5.0) == pytest.approx(5.0)
    assert fake.values["focus_absolute"] == 125
    assert cam.move_lens(5.05) == pytest.approx(5.0)  # 126.25 rounds to the 5-unit step
    assert cam.move_lens(99.0) == pytest.approx(PSEUDO_RANGE_D)
    assert fake.values["focus_absolute"] == 250
    assert cam.lens_moving()
    moving = [cam.next_frame().lens_moving for _ in range(8)]
    assert moving[0] and not moving[-1]
    assert cam.lens_position_d() == pytest.approx(PSEUDO_RANGE_D)


@pytest.mark.parametrize("refuse", [errno.EACCES, errno.EBUSY])
def test_refused_write_while_continuous_af_is_on_is_handled(tmp_path: Path, refuse: int) -> None:
    cam, fake, _ = make(tmp_path, refuse_errno=refuse)
    fake.values[AUTO] = 1  # something (another program, the camera) switched AF back on
    assert fake.controls()["focus_absolute"].inactive
    assert cam.move_lens(4.0) == pytest.approx(4.0)
    # the first write after AF off (at open) is the neighbour value: the kernel refused it
    assert fake.refused == [("focus_absolute", 105)]
    assert fake.values[AUTO] == 0 and fake.values["focus_absolute"] == 100
    assert fake.writes[-2:] == [("focus_absolute", 105), ("focus_absolute", 100)]


@pytest.mark.parametrize("start", ["continuous", "single"])
def test_manual_focus_switches_the_cameras_af_off_before_writing_focus(
    tmp_path: Path, start: str
) -> None:
    """uvcvideo refuses focus_absolute while continuous AF is on (EACCES): the adapter switches
    it off first, so the kernel never has to refuse a write (the refusal fallback is for AF
    switched on behind afon's back, not the normal path)."""
    cam, fake, _ = make(tmp_path, subject_value=60)
    if start == "continuous":
        cam.af_continuous(True)
    else:
        cam.af_trigger()
    frames(cam, 3)
    assert fake.values[AUTO] == 1
    n = len(fake.writes)
    assert cam.move_lens(2.0) == pytest.approx(2.0)
    assert fake.writes[n] == (AUTO, 0)  # continuous AF off first
    assert fake.refused == []  # ... so no write was refused
    assert fake.writes[-1] == ("focus_absolute", 50) and fake.values["focus_absolute"] == 50
    assert fake.values[AUTO] == 0


def test_a_write_refused_with_af_off_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cam, fake, _ = make(tmp_path)

    original = fake.set_control

    def refuse(name: str, value: int) -> None:
        if name == "focus_absolute":
            raise OSError(errno.EACCES, "Permission denied")
        original(name, value)

    monkeypatch.setattr(fake, "set_control", refuse)
    with pytest.raises(CameraError, match="refused focus_absolute"):
        cam.move_lens(2.0)


def test_body_focuses_with_afons_contrast_af_then_locks(tmp_path: Path) -> None:
    from afon.body import Body
    from afon.profile import load_profile

    cam, fake, _ = make(tmp_path, subject_value=150)
    body = Body(cam, load_profile("bbf"))
    body.set_focus_mode("AF-S")
    body.af_on.press()
    body.run_for(4.0)
    body.af_on.release()
    assert body.af.state is AfState.FOCUSED_LOCKED
    assert fake.values[AUTO] == 0
    assert abs(fake.values["focus_absolute"] - 150) <= 15
    locked_d = cam.lock_focus()
    saved = json.loads((tmp_path / "lock.json").read_text())
    assert saved["value"] == fake.values["focus_absolute"]
    assert saved["range"] == [0, 250, 5]
    assert locked_d == pytest.approx(saved["value"] / 25.0)


# --- the camera's own AF switched on and off ----------------------------------------------------
def test_af_trigger_runs_the_cameras_af_once_then_switches_it_off(tmp_path: Path) -> None:
    cam, fake, _ = make(tmp_path, subject_value=120)
    assert cam.af_trigger() == "ACTIVE_SCAN"
    assert fake.values[AUTO] == 1
    for _ in range(200):
        cam.next_frame()
        if cam.af_state() != "ACTIVE_SCAN":
            break
    assert cam.af_state() == "FOCUSED_LOCKED"
    assert fake.values[AUTO] == 0
    assert fake.values["focus_absolute"] == 120
    assert cam.lens_position_d() == pytest.approx(4.8)
    fake.subject_value = 200  # locked: the camera no longer follows
    frames(cam, 30)
    assert fake.values["focus_absolute"] == 120


def test_af_trigger_times_out_when_the_camera_keeps_hunting(tmp_path: Path) -> None:
    cam, fake, clock = make(tmp_path, subject_value=250, af_speed=1)
    t0 = clock.now_s()
    assert cam.af_trigger(wait=True) == "NOT_FOCUSED_LOCKED"
    assert clock.now_s() - t0 == pytest.approx(cam.af_timeout_s, abs=0.05)
    assert fake.values[AUTO] == 0


def test_run_once_auto_ends_the_cycle_when_the_camera_switches_it_off(tmp_path: Path) -> None:
    cam, fake, _ = make(tmp_path, subject_value=40, run_once_auto=True)
    assert cam.af_trigger(wait=True) == "FOCUSED_LOCKED"
    assert fake.values["focus_absolute"] == 40


def test_af_continuous_tracks_while_held_and_locks_on_release(tmp_path: Path) -> None:
    cam, fake, _ = make(tmp_path, subject_value=60)
    cam.af_continuous(True)
    assert cam.af_state() == "PASSIVE_SCAN"
    frames(cam, 20)
    assert cam.af_state() == "PASSIVE_FOCUSED"
    fake.subject_value = 90
    frames(cam, 2)
    assert cam.af_state() == "PASSIVE_SCAN"
    frames(cam, 20)
    assert fake.values["focus_absolute"] == 90
    cam.af_continuous(False)
    assert cam.af_state() == "FOCUSED_LOCKED"
    assert fake.values[AUTO] == 0
    fake.subject_value = 10
    frames(cam, 20)
    assert fake.values["focus_absolute"] == 90
    cam.af_cancel()
    assert cam.af_state() == "INACTIVE"


# --- the lock survives restarts and reconnects ---------------------------------------------
def test_lock_survives_a_restart(tmp_path: Path) -> None:
    cam, _, _ = make(tmp_path)
    cam.move_lens(6.0)
    assert cam.lock_focus() == pytest.approx(6.0)
    cam.close()
    clock = VirtualClock()
    fresh = FakeUvcDevice(clock)  # power-on defaults: AF on, focus 0
    lock = tmp_path / "lock.json"
    cam2 = V4l2Camera("/dev/video0", clock=clock, lock_file=lock, device_api=fresh)
    assert fresh.values == {"focus_absolute": 150, AUTO: 0}
    assert cam2.locked_value == 150
    assert cam2.lens_position_d() == pytest.approx(6.0)
    cam2.clear_lock()
    assert not (tmp_path / "lock.json").exists()


def test_lock_for_another_control_range_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "lock.json").write_text(json.dumps({"value": 500, "range": [0, 1023, 1]}))
    cam, fake, _ = make(tmp_path)
    assert cam.locked_value is None
    assert fake.values["focus_absolute"] == 0
    assert any("ignoring focus lock" in n for n in cam.capabilities.notes)
    (tmp_path / "lock.json").write_text("{not json")
    cam2, _, _ = make(tmp_path)
    assert any("unreadable" in w for w in cam2.warnings)


def test_disconnect_mid_burst_raises_then_reconnects_with_backoff_and_relocks(
    tmp_path: Path,
) -> None:
    cam, fake, clock = make(tmp_path)
    cam.move_lens(3.0)
    cam.lock_focus()
    shots = [cam.capture_still(clock.now_s() + 0.1 * i) for i in range(2)]
    assert all(s.image is not None for s in shots)
    fake.unplug()
    with pytest.raises(CameraError, match="disconnected"):
        cam.capture_still(clock.now_s())
    assert not cam.connected
    with pytest.raises(CameraError, match="call reconnect"):
        cam.next_frame()
    fake.replug_after_attempts = fake.open_attempts + 3
    t0 = clock.now_s()
    assert cam.reconnect() == 3
    # backoff on the camera's clock, then the wait after AF off before the lock is written
    assert clock.now_s() - t0 == pytest.approx(0.5 + 1.0 + AF_OFF_WAIT_S)
    assert fake.values == {"focus_absolute": 75, AUTO: 0}  # the lock is re-applied
    still = cam.capture_still(clock.now_s())
    assert still.meta["focus_absolute"] == 75
    assert cam.reconnects == 1


def test_reconnect_without_a_saved_lock_restores_the_last_position(tmp_path: Path) -> None:
    cam, fake, _ = make(tmp_path)
    cam.move_lens(2.0)
    fake.unplug()
    fake.replug()
    with pytest.raises(CameraError):
        cam.next_frame()
    assert cam.reconnect() == 1
    assert fake.values == {"focus_absolute": 50, AUTO: 0}


def test_reconnect_gives_up_after_max_attempts(tmp_path: Path) -> None:
    cam, fake, clock = make(tmp_path)
    fake.unplug()
    t0 = clock.now_s()
    with pytest.raises(CameraError, match="still gone after 3"):
        cam.reconnect(max_attempts=3, base_delay_s=0.25)
    assert clock.now_s() - t0 == pytest.approx(0.25 + 0.5)


def test_stalled_stream_times_out_instead_of_hanging(tmp_path: Path) -> None:
    cam, fake, clock = make(tmp_path)
    fake.stalled = True
    t0 = clock.now_s()
    with pytest.raises(CameraError, match="no frame within"):
        cam.next_frame()
    assert clock.now_s() - t0 == pytest.approx(cam.frame_timeout_s)
    assert not cam.connected


def test_still_is_the_first_frame_exposed_after_the_release(tmp_path: Path) -> None:
    cam, _, clock = make(tmp_path)
    frames(cam, 3)
    release = clock.now_s() + 0.2
    still = cam.capture_still(release)
    assert still.exposure_start_s >= release - 1e-9
    assert still.image is not None and still.image.shape == (120, 160, 3)
    assert cam.capture_still(clock.now_s(), render=False).image is None


def test_url_opens_v4l2_and_names_a_missing_device(tmp_path: Path) -> None:
    from afon.cameras.url import open_camera
    from afon.errors import AfonError

    missing = tmp_path / "video99"
    with pytest.raises(AfonError, match=r"no such video device|linuxpy"):
        open_camera(f"v4l2:{missing}", clock=VirtualClock())
    with pytest.raises(AfonError, match=r"unknown camera.*gphoto2:"):
        open_camera("webcam:0")


def test_linuxpy_layer_runs_through_real_linuxpy_against_an_ioctl_level_webcam(
    tmp_path: Path,
) -> None:
    """`LinuxpyDevice` and `V4l2Camera` over real linuxpy code; only the kernel calls (ioctl,
    open, mmap) are replaced, as linuxpy's own tests do (see fake_v4l2_ioctl.py)."""
    from afon.cameras.v4l2 import LinuxpyDevice
    from fake_v4l2_ioctl import FOCUS_ABSOLUTE, FOCUS_AUTO, IoctlWebcam

    node = tmp_path / "video0"
    node.touch()  # LinuxpyDevice checks that the node exists
    lock = tmp_path / "lock.json"
    lock.write_text(json.dumps({"value": 120, "range": [0, 250, 5]}))
    with IoctlWebcam() as webcam:
        api = LinuxpyDevice(str(node), pixel_format="YUYV")
        cam = V4l2Camera(str(node), clock=VirtualClock(), lock_file=lock, device_api=api,
                         size=(32, 24))  # fmt: skip
        try:
            # opened: AF switched off through VIDIOC_S_EXT_CTRLS, the lock written the C920 way
            assert webcam.values[FOCUS_AUTO] == 0 and webcam.values[FOCUS_ABSOLUTE] == 120
            assert webcam.writes == [(FOCUS_AUTO, 0), (FOCUS_ABSOLUTE, 125), (FOCUS_ABSOLUTE, 120)]
            assert cam.lock_verified and webcam.streaming
            caps = cam.capabilities
            assert caps.lens_drive and caps.hardware_af  # both controls found by enumeration
            # frames: YUYV decoded, v4l2_buffer flags and timestamp read from the real struct
            frame = cam.next_frame()
            assert frame.image.shape == (24, 32, 3) and frame.meta["sequence"] == 0
            second = cam.next_frame()
            assert second.meta["sequence"] == 1
            assert second.exposure_end_s - second.exposure_start_s == pytest.approx(1 / 30)
            # something switched continuous AF back on: the kernel refuses (EACCES) through
            # linuxpy, afon switches it off and writes again
            webcam.values[FOCUS_AUTO] = 1
            assert cam.move_lens(4.0) == pytest.approx(4.0)
            assert webcam.refused and webcam.values[FOCUS_AUTO] == 0
            assert webcam.values[FOCUS_ABSOLUTE] == 100
        finally:
            cam.close()
        assert not webcam.streaming  # VIDIOC_STREAMOFF on close


# --- the C920: focus_absolute ignored right after AF off (crowsnest#96) -------------------------
def test_c920_lock_is_applied_although_writes_right_after_af_off_are_ignored(
    tmp_path: Path,
) -> None:
    (tmp_path / "lock.json").write_text(json.dumps({"value": 120, "range": [0, 250, 5]}))
    clock = VirtualClock()
    fake = FakeUvcDevice(clock, ignore_after_af_off_s=0.2)  # power-on: AF on, focus 0
    cam = V4l2Camera("/dev/video0", clock=clock, lock_file=tmp_path / "lock.json", device_api=fake)
    assert fake.values[AUTO] == 0
    assert fake.values["focus_absolute"] == 120  # the wait after AF off made it stick
    assert fake.ignored == []
    assert fake.writes[-2:] == [("focus_absolute", 125), ("focus_absolute", 120)]
    assert cam.locked_value == 120 and cam.lock_verified


def test_a_camera_that_ignores_the_lock_is_reported_not_silent(tmp_path: Path) -> None:
    (tmp_path / "lock.json").write_text(json.dumps({"value": 120, "range": [0, 250, 5]}))
    clock = VirtualClock()
    fake = FakeUvcDevice(clock, ignore_always=True)
    with pytest.raises(CameraError, match=r"ignored focus_absolute=120: it reads 0"):
        V4l2Camera("/dev/video0", clock=clock, lock_file=tmp_path / "lock.json", device_api=fake)
    assert len(fake.ignored) == 4  # value±step then value, twice


def test_the_neighbour_write_steps_down_at_the_top_of_the_range(tmp_path: Path) -> None:
    (tmp_path / "lock.json").write_text(json.dumps({"value": 250, "range": [0, 250, 5]}))
    clock = VirtualClock()
    fake = FakeUvcDevice(clock)
    V4l2Camera("/dev/video0", clock=clock, lock_file=tmp_path / "lock.json", device_api=fake)
    assert fake.writes[-2:] == [("focus_absolute", 245), ("focus_absolute", 250)]


# --- timestamps: uvcvideo marks the start of exposure ------------------------------------------
class MonotonicVirtualClock(VirtualClock):
    """A virtual clock that, like `RealClock`, reads CLOCK_MONOTONIC (the fake's)."""

    def monotonic_to_s(self, monotonic_s: float) -> float:
        return monotonic_s - MONOTONIC_OFFSET_S


@pytest.mark.parametrize("flags", [0x12000, 0x02000])  # SOE | MONOTONIC, EOF | MONOTONIC
def test_exposure_is_placed_by_the_monotonic_timestamp_not_the_arrival(flags: int) -> None:
    clock = MonotonicVirtualClock()
    fake = FakeUvcDevice(clock, timestamp_flags=flags, transfer_s=0.04)
    cam = V4l2Camera("/dev/video0", clock=clock, device_api=fake)
    for _ in range(5):
        frame = cam.next_frame()
        # the exposure ended 40 ms (readout + USB) before the frame arrived
        assert frame.exposure_end_s == pytest.approx(frame.ready_s - 0.04, abs=1e-9)
        assert frame.exposure_start_s == pytest.approx(frame.exposure_end_s - 1 / 30.0)


def test_without_a_monotonic_clock_the_exposure_end_is_mapped_by_the_smallest_delay(
    tmp_path: Path,
) -> None:
    cam, _, _ = make(tmp_path, transfer_s=0.04)
    frame = cam.next_frame()
    assert frame.exposure_end_s == pytest.approx(frame.ready_s)  # the best a guess can do


# --- afon focus --apply: controls only, no stream ------------------------------------------------
def test_apply_lock_sets_controls_without_opening_the_stream(tmp_path: Path) -> None:
    from afon.cameras.focus_lock import default_lock_path
    from afon.focus_once import apply_saved_lock

    path = default_lock_path("usb-Fake_Webcam_C920_1234-video-index0")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"value": 90, "range": [0, 250, 5]}))
    clock = VirtualClock()
    fake = FakeUvcDevice(clock, ignore_after_af_off_s=0.2)
    result = apply_saved_lock("v4l2:/dev/video0", device_api=fake, clock=clock)
    assert not fake.streaming and not fake.opened  # never streamed, closed afterwards
    assert fake.values["focus_absolute"] == 90 and fake.values[AUTO] == 0
    assert result.verified and result.locked_value == 90 and result.lock_file == str(path)
    assert "read back OK" in result.describe()


def test_apply_without_a_saved_lock_says_so(tmp_path: Path) -> None:
    from afon.focus_once import apply_saved_lock

    clock = VirtualClock()
    fake = FakeUvcDevice(clock)
    result = apply_saved_lock("v4l2:/dev/video0", device_api=fake, clock=clock)
    assert result.locked_value is None and not result.verified
    assert "no saved focus lock" in result.describe()


def test_udev_rule_and_systemd_unit_run_apply_for_the_by_id_device() -> None:
    from afon.cameras.v4l2 import service_name, systemd_unit, udev_rule

    dev = "/dev/v4l/by-id/usb-046d_HD_Pro_Webcam_C920_ABCD1234-video-index0"
    unit = service_name(dev)
    assert unit == "afon-focus-usb-046d_HD_Pro_Webcam_C920_ABCD1234-video-index0.service"
    rule = udev_rule(dev)
    assert 'SUBSYSTEM=="video4linux"' in rule and 'ACTION=="add"' in rule
    assert 'SYMLINK=="v4l/by-id/usb-046d_HD_Pro_Webcam_C920_ABCD1234-video-index0"' in rule
    assert f'ENV{{SYSTEMD_WANTS}}+="{unit}"' in rule and 'TAG+="systemd"' in rule
    text = systemd_unit(dev, "/home/pi/afon-venv/bin/afon", "pi", "/home/pi/.local/state/afon")
    assert f"ExecStart=/home/pi/afon-venv/bin/afon focus --camera v4l2:{dev} --apply" in text
    assert "Type=oneshot" in text and "User=pi" in text
    assert "Environment=AFON_STATE_DIR=/home/pi/.local/state/afon" in text
    assert "WantedBy=multi-user.target" in text


def test_apply_through_real_linuxpy_sets_controls_and_never_streams(tmp_path: Path) -> None:
    from afon.cameras.v4l2 import LinuxpyDevice, apply_lock
    from fake_v4l2_ioctl import FOCUS_ABSOLUTE, FOCUS_AUTO, IoctlWebcam

    node = tmp_path / "video0"
    node.touch()
    with IoctlWebcam() as webcam:
        api = LinuxpyDevice(str(node))
        cam_lock = V4l2Camera(str(node), clock=VirtualClock(), device_api=api, stream=False)
        cam_lock.lock_focus()  # focus_absolute 0 saved in the state folder
        cam_lock.close()
        webcam.values.update({FOCUS_AUTO: 1, FOCUS_ABSOLUTE: 200})  # re-plugged: defaults
        value, verified, _ = apply_lock(str(node), device_api=LinuxpyDevice(str(node)),
                                        clock=VirtualClock())  # fmt: skip
        assert (value, verified) == (0, True)
        assert webcam.values == {FOCUS_ABSOLUTE: 0, FOCUS_AUTO: 0}
        assert webcam.streaming is False and not any(webcam.buffers)


def test_magnify_is_the_captured_frames_own_pixels_said_as_a_crop(tmp_path: Path) -> None:
    """V4L2: no sensor-region read; the magnifier shows the captured frame's pixels around the
    AF point (no resampling before the crop), and the HUD says "(crop)"."""
    from afon.body import Body
    from afon.profile import load_profile
    from afon.web.runner import BodyRunner

    cam, _, _ = make(tmp_path)
    assert not hasattr(cam, "magnified")
    assert any("magnify: a crop of the captured frame" in n for n in cam.capabilities.notes)
    body = Body(cam, load_profile("bbf"))
    runner = BodyRunner(body)
    runner.magnify = 10
    body.window = body.window.moved(0.2, 0.1)
    frame = body.step()
    image = runner._magnified(frame)
    state = runner._snapshot()
    assert state["magnify_native"] is False
    x0, y0, w, h = state["magnify_rect"]
    fh, fw = frame.image.shape[:2]
    j0, i0 = round(y0 * fh), round(x0 * fw)
    assert image.shape[:2] == (round(h * fh), round(w * fw))
    assert np.array_equal(image, frame.image[j0 : j0 + image.shape[0], i0 : i0 + image.shape[1]])
    cam.close()
