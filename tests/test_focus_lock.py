"""`afon focus`: focus once, then lock (V4L2 fake, sim and stack)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from afon.cameras.v4l2 import V4l2Camera
from afon.cli import main
from afon.clock import VirtualClock
from afon.errors import AfonError
from afon.focus_once import focus_once, run_focus
from fake_v4l2 import FakeUvcDevice

AUTO = "focus_automatic_continuous"


def make(tmp_path: Path, **kw: object) -> tuple[V4l2Camera, FakeUvcDevice]:
    clock = VirtualClock()
    fake = FakeUvcDevice(clock, **kw)  # type: ignore[arg-type]
    cam = V4l2Camera("/dev/video0", clock=clock, lock_file=tmp_path / "lock.json", device_api=fake)
    return cam, fake


class HardwareOnly:
    """The V4L2 camera seen as one that only has its own AF (no lens drive)."""

    def __init__(self, inner: V4l2Camera) -> None:
        self.inner = inner
        self.clock = inner.clock
        self.capabilities = inner.capabilities.__class__(
            **{**vars(inner.capabilities), "lens_drive": False}
        )

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


def test_focus_lock_on_v4l2_saves_and_is_reapplied_by_a_fresh_camera(tmp_path: Path) -> None:
    cam, fake = make(tmp_path, subject_value=150)
    result = run_focus("v4l2:/dev/video0", lock=True, camera=cam)
    assert result.method == "afon"
    assert result.state == "FOCUSED_LOCKED"
    assert abs(fake.values["focus_absolute"] - 150) <= 15
    saved = json.loads((tmp_path / "lock.json").read_text())
    assert saved["value"] == fake.values["focus_absolute"] == result.locked_value
    assert result.lock_file == str(tmp_path / "lock.json")
    assert result.locked_d == pytest.approx(saved["value"] / 25.0)
    assert "saved to" in result.describe()
    cam.close()
    clock = VirtualClock()
    fresh = FakeUvcDevice(clock)  # power-on defaults: AF on, focus 0
    lock = tmp_path / "lock.json"
    cam2 = V4l2Camera("/dev/video0", clock=clock, lock_file=lock, device_api=fresh)
    assert fresh.values["focus_absolute"] == saved["value"]
    assert fresh.values[AUTO] == 0
    assert cam2.locked_value == saved["value"]
    cleared = run_focus("v4l2:/dev/video0", clear=True, camera=cam2)
    assert cleared.action == "clear"
    assert not (tmp_path / "lock.json").exists()
    assert cam2.locked_value is None


def test_camera_af_is_used_where_there_is_no_lens_drive(tmp_path: Path) -> None:
    cam, fake = make(tmp_path, subject_value=120)

    result = focus_once(HardwareOnly(cam), lock=True, url="v4l2:/dev/video0")
    assert result.method == "camera"
    assert result.state == "FOCUSED_LOCKED"
    assert fake.values["focus_absolute"] == 120 == result.locked_value
    assert fake.values[AUTO] == 0


def test_fixed_focus_camera_is_a_clear_error(tmp_path: Path) -> None:
    cam, _ = make(tmp_path, auto_name=None, focus_range=None)
    with pytest.raises(AfonError, match="neither a lens afon can drive nor its own"):
        focus_once(cam)


def test_sim_runs_end_to_end_but_cannot_lock(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["focus", "--camera", "sim:portrait", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "afon" and out["state"] == "FOCUSED_LOCKED"
    assert out["lens_d"] is not None and out["lock_file"] is None
    assert main(["focus", "--camera", "sim:portrait", "--lock"]) == 2
    assert "cannot lock" in capsys.readouterr().err
    assert main(["focus", "--camera", "sim:portrait", "--clear"]) == 2
    assert "no saved focus lock" in capsys.readouterr().err


def test_stack_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    stacks = Path(__file__).resolve().parent / "data" / "focal-stacks"
    if not (stacks / "ring").is_dir():
        pytest.fail("no focal stacks in tests/data/focal-stacks")
    assert main(["focus", "--camera", f"stack:{stacks / 'ring'}"]) == 0
    assert "by afon AF" in capsys.readouterr().out


def test_focus_without_lock_reports_a_saved_lock_and_keeps_it(tmp_path: Path) -> None:
    cam, fake = make(tmp_path, subject_value=150)
    run_focus("v4l2:/dev/video0", lock=True, camera=cam)
    saved = json.loads((tmp_path / "lock.json").read_text())
    fake.subject_value = 60
    result = run_focus("v4l2:/dev/video0", camera=cam)
    assert result.action == "focus" and result.locked_d is None
    assert result.locked_value == saved["value"]
    assert "re-applied on the next open" in result.describe()
    assert json.loads((tmp_path / "lock.json").read_text()) == saved


def test_camera_af_that_keeps_hunting_fails_after_the_timeout(tmp_path: Path) -> None:
    cam, fake = make(tmp_path, subject_value=250, af_speed=1)

    t0 = cam.clock.now_s()
    result = focus_once(HardwareOnly(cam), timeout_s=0.5)
    assert result.state == "NOT_FOCUSED_LOCKED"
    assert cam.clock.now_s() - t0 == pytest.approx(0.5, abs=0.1)
    assert fake.values[AUTO] == 0
    with pytest.raises(AfonError, match="must be positive"):
        focus_once(cam, timeout_s=0)


def test_cli_boot_files_writes_the_udev_rule_and_unit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dev = "/dev/v4l/by-id/usb-046d_HD_Pro_Webcam_C920_ABCD1234-video-index0"
    assert main(["focus", "--camera", f"v4l2:{dev}", "--boot-files", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rule = (tmp_path / "99-afon-focus.rules").read_text()
    units = list(tmp_path.glob("afon-focus-*.service"))
    assert len(units) == 1 and units[0].name in rule
    assert f"focus --camera v4l2:{dev} --apply" in units[0].read_text()
    assert "sudo cp" in out and "udevadm control --reload" in out and "systemctl enable" in out


def test_cli_boot_files_refuses_a_dev_video_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["focus", "--camera", "v4l2:/dev/video0", "--boot-files", "/tmp/x"]) == 2
    assert "/dev/v4l/by-id" in capsys.readouterr().err


def test_cli_apply_is_only_for_webcams(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["focus", "--camera", "sim:portrait", "--apply"]) == 2
    assert "--apply is for v4l2:" in capsys.readouterr().err


def test_cli_af_choice_is_passed_to_focus(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["focus", "--camera", "sim:portrait", "--af", "afon", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["method"] == "afon"
    assert main(["focus", "--camera", "sim:portrait", "--af", "camera"]) == 2
    assert "af=camera" in capsys.readouterr().err
