"""Faults in the shots folder: full, read-only, not writable; crashes inside the write window.

Every frame of a press ends in a shot or a failure record naming the real cause, the body keeps
its frame rate and AF, and capture resumes once the folder can take shots again. Where the test
runs as root the folder is a real tmpfs that fills up or is remounted read-only
(tests/faulty_folder.py); elsewhere the same errno is injected where the kernel would raise it.
"""

from __future__ import annotations

import json
import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from afon.body import Body
from afon.cameras.sim.camera import SimCamera
from afon.errors import StorageError
from afon.focus.engine import AfWindow
from afon.shots import ShotRecord, ShotStore, read_afon_exif
from faulty_folder import FaultyFolder, faulty_folder

CAUSE = {
    "full": "shots folder full",
    "read-only": "shots folder read-only",
    "permission": "no permission to write to the shots folder",
}


@pytest.fixture()
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyFolder]:
    with faulty_folder(tmp_path, monkeypatch) as f:
        yield f


def _body(shots_dir: Path, profile: str = "bbf") -> Body:
    cam = SimCamera("portrait", "50mm-f1.8", start_d=0.0, seed=3, still_px=(320, 240))
    return Body(cam, profile, shots_dir=shots_dir, window=AfWindow(0.3, 0.5))


def _record(i: int = 0, **kw: object) -> ShotRecord:
    base: dict[str, object] = dict(
        index=i,
        pressed_s=1.0,
        release_s=1.01,
        exposure_start_s=1.05,
        exposure_end_s=1.06,
        lens_d=0.4,
        af_state="FOCUSED_LOCKED",
        settings={"profile": "bbf"},
        truth={"subject_distance_m": 2.5, "in_focus": True},
    )
    base.update(kw)
    return ShotRecord(**base)  # type: ignore[arg-type]


def _image(h: int = 120, w: int = 160) -> np.ndarray:
    return (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)


def _disk_names(path: Path) -> set[str]:
    return {p.name for p in path.iterdir() if p.name.startswith("shot_")}


def _burst(body: Body, hold_s: float = 0.55) -> tuple[int, int, int]:
    """(records, frames, AF frames) of one held burst."""
    shots, frames, af = len(body.shots), body.stats.frames, body.stats.af_frames
    body.shutter.press()
    body.run_for(hold_s)
    body.shutter.release()
    return len(body.shots) - shots, body.stats.frames - frames, body.stats.af_frames - af


@pytest.mark.parametrize("kind", ["full", "read-only", "permission"])
def test_every_frame_of_a_burst_on_a_broken_folder_gets_a_failure_record(
    folder: FaultyFolder, tmp_path: Path, kind: str
) -> None:
    healthy = _body(tmp_path / "healthy")
    healthy.af_on.press()
    healthy.run_for(0.6)
    expected = _burst(healthy)
    assert expected[0] >= 5 and all(s.ok for s in healthy.shots)
    body = _body(folder.path)
    body.af_on.press()
    body.run_for(0.6)  # AF-C tracking
    folder.break_(kind)
    # the same number of attempts, frames and AF frames as on a healthy folder: live view and AF
    # are not slowed by the failures
    assert _burst(body) == expected
    assert len(body.shots) == expected[0]
    for shot in body.shots:
        assert not shot.ok and shot.failure is not None
        assert shot.failure.startswith(f"not saved: {CAUSE[kind]}"), shot.failure
        assert "focus priority" not in shot.failure
        assert shot.exposure_start_s is not None  # the exposure happened; the file did not
    assert body.storage_error is not None and CAUSE[kind] in body.storage_error
    assert body.af_on.is_pressed
    # space (or write access) comes back: capture resumes
    folder.heal()
    n, _, _ = _burst(body, 0.25)
    saved = [s for s in body.shots if s.ok]
    assert n >= 2 and len(saved) == n and body.storage_error is None
    for s in saved:
        assert s.image_path and Path(s.image_path).is_file()
        assert s.record_path and json.loads(Path(s.record_path).read_text())["ok"]
    assert not [p for p in folder.path.iterdir() if p.name.startswith(".tmp-")]


def test_release_priority_on_a_full_folder_is_not_reported_as_focus_priority(
    folder: FaultyFolder,
) -> None:
    body = _body(folder.path)
    body.set_drive("single")
    folder.break_("full")
    body.shutter.press()
    body.run_for(0.2)
    body.shutter.release()
    assert len(body.shots) == 1
    (shot,) = body.shots
    assert shot.failure is not None and shot.failure.startswith("not saved: shots folder full")


def test_a_failed_write_leaves_no_partial_file_under_a_shot_name(tmp_path: Path) -> None:
    """A real torn write: the file-size limit stops the JPEG halfway (EFBIG)."""
    store = ShotStore(tmp_path)
    store.save(_record(0), _image())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, old[1]))
    try:
        with pytest.raises(StorageError, match="file size limit"):
            store.save(_record(1), _image(480, 640))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, handler)
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert after == before  # nothing torn under a shot name, no temporary file left
    ok = store.save(_record(2), _image(480, 640))
    assert Path(ok.image_path or "").name == "shot_00001.jpg"


def test_a_name_taken_after_opening_is_never_overwritten(tmp_path: Path) -> None:
    store = ShotStore(tmp_path)
    (tmp_path / "shot_00000.jpg").write_bytes(b"another tool's file")
    (tmp_path / "shot_00001.json").write_bytes(b"{}")
    rec = store.save(_record(0), _image())
    assert (tmp_path / "shot_00000.jpg").read_bytes() == b"another tool's file"
    assert (tmp_path / "shot_00001.json").read_bytes() == b"{}"
    assert Path(rec.image_path or "").name == "shot_00001.jpg"
    assert Path(rec.record_path or "").name == "shot_00002.json"
    assert read_afon_exif(rec.image_path or "")["afon"]["af_state"] == "FOCUSED_LOCKED"


def test_numbering_continues_after_the_highest_even_across_a_gap(tmp_path: Path) -> None:
    ShotStore(tmp_path).save(_record(0), _image())  # shot_00000
    (tmp_path / "shot_00000.jpg").rename(tmp_path / "shot_00041.jpg")
    (tmp_path / "shot_00000.json").unlink()
    store = ShotStore(tmp_path)  # rebuilds shot_00041.json from the EXIF
    rec = store.save(_record(1, failure="x"), None)
    assert Path(rec.record_path or "").name == "shot_00042.json"


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_shot_files_follow_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        rec = ShotStore(tmp_path).save(_record(0), _image())
    finally:
        os.umask(old)
    for path in (rec.image_path, rec.record_path):
        assert (os.stat(path or "").st_mode & 0o777) == 0o666 & ~mask


def test_a_crash_in_the_write_window_is_repaired_on_start(tmp_path: Path) -> None:
    store = ShotStore(tmp_path)
    kept = store.save(_record(0), _image())
    lost_sidecar = store.save(_record(1, af_state="NOT_FOCUSED_LOCKED", lens_d=0.25), _image())
    Path(lost_sidecar.record_path or "").unlink()  # crash between the JPEG and its sidecar
    (tmp_path / ".tmp-torn").write_bytes(Path(kept.image_path or "").read_bytes()[:3000])
    whole = tmp_path / ".tmp-whole"
    whole.write_bytes(Path(kept.image_path or "").read_bytes())  # crash before the link
    linked = tmp_path / ".tmp-linked"
    os.link(kept.record_path or "", linked)  # crash after the link, before the unlink
    reopened = ShotStore(tmp_path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    assert any("torn" in line for line in reopened.repaired)
    records = reopened.records()
    by_image = {Path(r.image_path or "").name: r for r in records}
    rebuilt = by_image["shot_00001.jpg"]
    assert rebuilt.af_state == "NOT_FOCUSED_LOCKED" and rebuilt.lens_d == pytest.approx(0.25)
    assert rebuilt.truth["subject_distance_m"] == pytest.approx(2.5)
    side = json.loads((tmp_path / "shot_00001.json").read_text())
    assert "EXIF" in side["recovered"]
    # the whole temporary JPEG became a shot of its own, with a sidecar
    assert "shot_00002.jpg" in by_image
    assert json.loads(Path(kept.record_path or "").read_text())["af_state"] == "FOCUSED_LOCKED"
    assert len(records) == 3


def test_afon_shoot_on_a_read_only_folder_reports_every_frame(
    folder: FaultyFolder, capsys: pytest.CaptureFixture[str]
) -> None:
    from afon.cli import main

    folder.break_("read-only")
    argv = ["shoot", "--scene", "portrait", "--preset", "50mm-f1.8", "--no-images", "--json"]
    assert main([*argv, "--out", str(folder.path)]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["shots"], summary
    for shot in summary["shots"]:
        assert not shot["ok"] and shot["failure"].startswith("not saved: shots folder read-only")
    assert "summary not written" in captured.err and "Traceback" not in captured.err


def test_afon_run_on_a_full_folder_prints_the_cause(
    folder: FaultyFolder, mock_pins: object
) -> None:
    from afon.cameras.url import open_camera
    from afon.clock import VirtualClock
    from afon.headless import HeadlessRunner, open_inputs
    from afon.inputs.keymap import parse_inline

    lines: list[str] = []
    hub = open_inputs(parse_inline("gpio:af_on=17,shutter=27"))
    camera = open_camera("sim:portrait", clock=VirtualClock())
    r = HeadlessRunner(camera, hub, "bbf", out=folder.path, save_images=False, emit=lines.append)
    folder.break_("full")
    pins: Any = mock_pins
    pins.pin(27).drive_low()
    for _ in range(4):
        r.tick()
    pins.pin(27).drive_high()
    for _ in range(2):
        r.tick()
    r.close()
    failed = [line for line in lines if "FAILED" in line]
    assert failed and all("not saved: shots folder full" in line for line in failed), lines
    assert len(failed) == len(r.body.shots)


def test_the_gallery_is_rebuilt_from_the_shots_folder_after_a_restart(tmp_path: Path) -> None:
    from afon.web.runner import BodyRunner

    store = ShotStore(tmp_path)
    a = store.save(_record(0), _image())
    store.save(_record(1, failure="focus priority: not focused"), None)
    lost = store.save(_record(2, af_state="NOT_FOCUSED_LOCKED"), _image())
    Path(lost.record_path or "").unlink()  # the crash: a JPEG without its sidecar
    runner = BodyRunner(_body(tmp_path))
    shots = runner.shots
    assert [s["ok"] for s in shots] == [True, False, True]
    assert shots[0]["file"] == Path(a.image_path or "").name and shots[0]["image"]
    assert shots[1]["failure"] == "focus priority: not focused"
    assert shots[2]["af_state"] == "NOT_FOCUSED_LOCKED"
    assert runner.shot_files[2] == Path(lost.image_path or "")
    json.dumps(shots, allow_nan=False)  # what /api/shots serves must be strict JSON


def test_the_server_answers_a_read_only_folder_with_json_not_500(
    folder: FaultyFolder,
) -> None:
    import httpx

    from afon.web.serve import LiveServer, ServeOptions
    from waiting import TIMEOUT_S, wait_for

    folder.break_("read-only")
    options = ServeOptions(port=0, preset="50mm-f1.8", out=str(folder.path), lease_s=2.0)
    with (
        LiveServer(options) as live,
        httpx.Client(base_url=live.base_url, timeout=TIMEOUT_S, trust_env=False) as http,
    ):
        wait_for(lambda: http.get("/api/state").json()["frame"] is not None, what="a frame")
        for action in ("press", "release"):
            r = http.post("/api/control", json={"control": "SHUTTER", "action": action})
            assert r.status_code == 200, r.text
        shots = wait_for(lambda: http.get("/api/shots").json()["shots"], what="a record")
        assert all(s["failure"].startswith("not saved: shots folder read-only") for s in shots)
        st = wait_for(
            lambda: (st := http.get("/api/state").json())["storage_error"] and st, what="state"
        )
        assert "read-only" in st["storage_error"] and st["failures"] == len(shots)
        # live view runs on (no half-second stall per failed write): frames keep coming
        first = http.get("/api/state").json()["frame"]
        wait_for(lambda: http.get("/api/state").json()["frame"] > first + 10, what="frames")
