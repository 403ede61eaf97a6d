"""Real time: the still buffer, the paced clock and the loop's release wake-ups and slow motion."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from afon import clock as clocks
from afon.body import Body
from afon.cameras.base import Frame
from afon.cameras.sim.camera import SimCamera
from afon.clock import PacedClock, VirtualClock
from afon.shots import ShotRecord, ShotStore
from afon.still_buffer import StillBuffer
from afon.web import runner as runner_mod
from afon.web.runner import TIME_SCALES, BodyRunner


def _record(i: int) -> ShotRecord:
    return ShotRecord(i, float(i), float(i), float(i), float(i) + 0.001, 1.0, "INACTIVE", {})


def test_buffer_writes_in_order_and_close_loses_nothing(tmp_path: Path) -> None:
    saved: list[ShotRecord] = []
    gate = threading.Event()
    buf = StillBuffer(ShotStore(tmp_path), saved.append, depth=3)
    img = np.full((8, 12, 3), 128, np.uint8)

    def develop() -> Any:
        gate.wait(10)
        return img

    for i in range(3):
        buf.put(_record(i), develop=develop)
    assert buf.pending == 3 and buf.full  # nothing written while the worker waits
    assert not saved
    gate.set()
    buf.put(_record(3), image=img)  # a camera's own image needs no developing
    buf.close()
    assert [r.index for r in saved] == [0, 1, 2, 3]
    assert all(r.image_path and Path(r.image_path).exists() for r in saved)
    assert buf.pending == 0 and not buf.full


def test_a_still_that_cannot_be_written_becomes_a_failure_record(tmp_path: Path) -> None:
    saved: list[ShotRecord] = []
    buf = StillBuffer(ShotStore(tmp_path), saved.append, depth=2)

    def broken() -> Any:
        raise RuntimeError("renderer out of memory")

    buf.put(_record(0), develop=broken)
    buf.close()
    assert len(saved) == 1
    assert saved[0].failure is not None and "renderer out of memory" in saved[0].failure


def _burst_body(tmp_path: Path, depth: int) -> tuple[Body, threading.Event, list[ShotRecord]]:
    cam = SimCamera("portrait", "50mm-f1.8", clock=VirtualClock(), start_d=0.5, seed=1)
    cam.still_px = (96, 64)
    body = Body(cam, "bbf", shots_dir=tmp_path)
    body.set_focus_mode("MF")
    body.set_drive("continuous", 10.0)
    reported: list[ShotRecord] = []
    body.on_shot = reported.append
    buf = body.use_still_buffer(depth)
    gate = threading.Event()
    put = buf.put

    def gated_put(record: ShotRecord, image: Any = None, develop: Any = None) -> None:
        def slow() -> Any:
            gate.wait(10)
            return develop()

        put(record, image, slow if develop is not None else None)

    buf.put = gated_put  # type: ignore[method-assign]
    return body, gate, reported


def test_a_full_buffer_slows_the_burst_and_says_so(tmp_path: Path) -> None:
    body, gate, reported = _burst_body(tmp_path, depth=3)
    body.shutter.press()
    body.run_for(1.0)  # 10 fps asked: 10 releases if the card kept up
    assert len(body.shots) == 3  # the buffer filled after three, the burst waits
    assert body.buffer_full
    assert body.stats.extra["buffer_waits"] > 0
    assert body.release_waiting  # a release is still wanted, re-checked each frame
    gate.set()
    assert body.still_buffer is not None and body.still_buffer.wait_idle(10)
    assert not body.buffer_full
    body.run_for(0.35)  # room again: the burst goes on
    body.shutter.release()
    assert len(body.shots) > 3
    body.close()
    assert [r.index for r in reported] == list(range(len(body.shots)))
    assert all(r.image_path for r in reported)  # every exposed still was written


def test_deferred_still_is_the_same_image(tmp_path: Path) -> None:
    def still(defer: bool) -> Any:
        cam = SimCamera("portrait", "cm3", clock=VirtualClock(), start_d=1.0, seed=2)
        cam.still_px = (120, 68)
        s = cam.capture_still(0.0, defer=defer)
        return s.develop() if defer else s.image

    assert np.array_equal(still(True), still(False))


def test_paced_clock_runs_slow_by_its_scale(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = [100.0]
    monkeypatch.setattr(clocks.time, "monotonic", lambda: wall[0])
    clock = PacedClock()
    wall[0] += 1.0
    assert clock.now_s() == pytest.approx(1.0)
    clock.set_scale(0.5)
    wall[0] += 1.0
    assert clock.now_s() == pytest.approx(1.5)  # no jump at the change, half speed after it
    clock.set_scale(1.0)
    wall[0] += 0.5
    assert clock.now_s() == pytest.approx(2.0)
    with pytest.raises(ValueError, match="time scale"):
        clock.set_scale(0.0)


def test_loop_slows_down_when_it_cannot_keep_up_and_speeds_up_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wall = [0.0]
    monkeypatch.setattr(runner_mod.time, "monotonic", lambda: wall[0])
    clock = PacedClock()
    cam = SimCamera("portrait", "cm3", clock=clock, render_frames=False)
    runner = BodyRunner(Body(cam, "bbf"))
    period_s = 1 / 30
    runner.loop.frames = 100  # past the warm-up
    for _ in range(10):  # each frame needs more CPU than its period
        runner._pace(1.2 * period_s, 0)
    assert clock.scale < 1.0
    assert runner.loop.slowed >= 1
    slowest = clock.scale
    assert slowest in TIME_SCALES
    for _ in range(200):  # light work again: one step faster after a while of room
        wall[0] += 0.05
        runner._pace(0.05 * period_s, 0)
    assert clock.scale == 1.0
    assert runner._snapshot()["time_scale"] == 1.0
    runner.body.close()


def test_dropped_frames_count_as_overload() -> None:
    clock = PacedClock()
    cam = SimCamera("portrait", "cm3", clock=clock, render_frames=False)
    runner = BodyRunner(Body(cam, "bbf"))
    runner.loop.frames = 100
    for _ in range(10):
        runner._pace(0.0, 2)  # no CPU measured, but two frames lost each time: a busy machine
    assert clock.scale < 1.0
    runner.body.close()


def test_loop_wakes_for_a_due_release_between_frames() -> None:
    clock = VirtualClock()
    cam = SimCamera("portrait", "cm3", clock=clock, render_frames=False)
    body = Body(cam, "bbf")
    body.set_focus_mode("MF")
    body.set_drive("continuous", 7.0)
    runner = BodyRunner(body)
    body.shutter.press()  # the first still is released at once and exposes after the lag
    assert len(body.shots) == 0 and body.stills_in_flight == 1
    timing = cam.preset.timing
    exposed = body.next_release_due_s()  # the loop wakes when the still's exposure ends
    assert exposed == pytest.approx(timing.release_lag_s + timing.still_exposure_s, abs=1e-9)
    clock.sleep_until(exposed)
    body.service_release()
    assert len(body.shots) == 1 and body.stills_in_flight == 0
    due = body.next_release_due_s()
    assert due == pytest.approx(1 / 7, abs=1e-9)
    # let frames go by until the release falls between two frames
    while cam.next_frame_ready_s() <= due:
        body.step()
    clock.sleep_until(due)
    assert runner._wait_for_frame() is True  # a release, not a frame
    body.service_release()
    assert body.stills_in_flight == 1
    clock.sleep_until(body.next_release_due_s())
    body.service_release()
    assert len(body.shots) == 2
    assert body.shots[1].release_s == pytest.approx(due, abs=1e-9)
    body.shutter.release()
    body.close()


def test_a_still_blacking_out_a_frame_is_no_overload_even_when_recorded_first() -> None:
    """The frame exposed just before a still reaches software a pipeline latency later, after
    the still was recorded: the frame the still blacked out is still no dropped frame."""
    clock = VirtualClock()
    cam = SimCamera("portrait", "300mm-f2.8", clock=clock, render_frames=False)
    body = Body(cam, "bbf")
    body.set_focus_mode("MF")
    runner = BodyRunner(body)
    seen: list[Frame] = []

    def count(frame: Frame) -> None:
        runner._count_frame(frame)
        runner._frame = frame
        seen.append(frame)

    body.on_frame = count
    body.run_for(0.2)
    timing = cam.preset.timing
    # release so that the next frame's exposure ends just before the still's starts and the
    # frame reaches software just after the still's exposure ended
    n = cam.schedule.upcoming(clock.now_s())
    while cam.schedule.exposure_end_s(n) - timing.release_lag_s < clock.now_s():
        n += 1
    end_n = cam.schedule.exposure_end_s(n)
    clock.sleep_until(end_n - timing.release_lag_s + 0.005)
    body.shutter.press()
    body.shutter.release()
    body.run_for(0.3)
    shot = body.shots[0]
    assert shot.exposure_end_s is not None
    assert shot.exposure_end_s < cam.schedule.ready_s(n)  # recorded before frame n came
    indices = [f.index for f in seen]
    assert n in indices and n + 1 not in indices  # frame n + 1 was blacked out
    assert runner.loop.dropped == 0
    body.close()


def _slow_develops(buf: StillBuffer, n: int, each_s: float) -> None:
    """Queue `n` stills whose developing takes `each_s` of wall time each (a slow renderer)."""
    img = np.full((8, 12, 3), 128, np.uint8)
    never = threading.Event()

    def slow() -> Any:
        never.wait(each_s)
        return img

    for i in range(n):
        buf.put(_record(i), develop=slow)


def test_close_waits_for_a_slow_buffer_as_long_as_it_keeps_writing(tmp_path: Path) -> None:
    saved: list[ShotRecord] = []
    buf = StillBuffer(ShotStore(tmp_path), saved.append, depth=12)
    _slow_develops(buf, 12, 0.1)  # 1.2 s in all, a still every 0.1 s
    assert buf.close(stall_s=0.5)
    assert [r.index for r in saved] == list(range(12))  # none left behind after 0.5 s
    assert all(r.image_path and Path(r.image_path).exists() for r in saved)


def test_close_gives_up_only_on_a_buffer_that_writes_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    saved: list[ShotRecord] = []
    gate = threading.Event()
    buf = StillBuffer(ShotStore(tmp_path), saved.append, depth=2)
    img = np.full((8, 12, 3), 128, np.uint8)
    buf.put(_record(0), develop=lambda: (gate.wait(10), img)[1])  # a download that hangs
    assert not buf.close(stall_s=0.2)
    assert "1 still(s) not written" in caplog.text
    gate.set()  # should it come back after all, the still is still written
    assert buf.wait_idle(10)
    assert [r.index for r in saved] == [0]


def test_stopping_the_loop_writes_every_buffered_still_however_long(tmp_path: Path) -> None:
    cam = SimCamera("portrait", "cm3", clock=PacedClock(), render_frames=False, seed=1)
    body = Body(cam, "bbf", shots_dir=tmp_path)
    buf = body.use_still_buffer(12)
    runner = BodyRunner(body)
    runner.start()
    _slow_develops(buf, 12, 0.1)
    runner.stop(timeout_s=0.1, stall_s=0.5)  # the body's close takes ~1.2 s
    assert not runner.running
    assert buf.pending == 0 and buf.written == 12
    assert len(list(tmp_path.glob("*.jpg"))) == 12
