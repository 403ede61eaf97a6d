"""Two-phase stills: the body releases, goes on with its loop, and records the still once its
exposure is done (virtual clock: deterministic)."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from afon.body import Body
from afon.cameras.base import Frame, PendingStill, Still, begin_still
from afon.cameras.sim.camera import SimCamera
from afon.cameras.stack import StackCamera
from afon.controls import Control, ControlEvent
from test_stack_camera import make_slices, write_stack

PRESET = "50mm-f1.8"  # release lag 60 ms, still exposure 4 ms, 30 fps


def _body(mode: str = "MF", **kw: object) -> tuple[SimCamera, Body, list[float]]:
    cam = SimCamera("portrait", PRESET, preview_px=(160, 120), start_d=0.5, seed=3)
    commands: list[float] = []
    move = cam.move_lens

    def logged(target_d: float) -> float:
        commands.append(cam.clock.now_s())
        return move(target_d)

    cam.move_lens = logged  # type: ignore[method-assign]
    body = Body(cam, "bbf", judge=cam.judge_still, **kw)  # type: ignore[arg-type]
    body.set_focus_mode(mode)
    return cam, body, commands


def _press(body: Body, control: Control, pressed: bool) -> None:
    body.handle(ControlEvent(control, pressed, body.clock.now_s()))


def test_live_view_and_controls_go_on_through_the_release_lag() -> None:
    cam, body, _ = _body("AF-C")
    frames: list[Frame] = []
    body.on_frame = frames.append
    body.run_for(0.2)
    _press(body, Control.SHUTTER_FULL, True)
    _press(body, Control.SHUTTER_FULL, False)  # one shot
    pending = body._still
    assert pending is not None and not body.shots
    start, end = pending.pending.exposure_start_s, pending.pending.due_s
    lag = cam.preset.timing.release_lag_s
    assert start == pytest.approx(pending.release_s + lag)
    _press(body, Control.AF_ON, True)  # during the lag: AF starts at once
    assert body.af.state.value == "PASSIVE_SCAN"
    before = len(frames)
    body.run_for(0.2)
    assert len(body.shots) == 1 and body.stills_in_flight == 0
    shot = body.shots[0]
    assert shot.exposure_start_s == pytest.approx(start)
    assert shot.exposure_end_s == pytest.approx(end)
    assert shot.af_state == "INACTIVE"  # the state at the release, before AF-ON
    during = [f for f in frames[before:] if f.ready_s <= start]
    assert during, "a preview frame was delivered during the release lag"
    assert all(f.exposure_end_s <= start for f in during)
    # blacked out: only frames whose exposure overlaps the still's exposure and readout
    readout = cam.preset.timing.readout_s
    for f in frames[before:]:
        assert f.exposure_end_s <= start + 1e-9 or f.exposure_start_s >= end + readout - 1e-9
    # at most one 30 fps frame is lost to a 4 ms still read out in 15 ms
    indices = [f.index for f in frames[before:]]
    assert max(b - a for a, b in pairwise(indices)) <= 2
    body.close()


def test_a_lens_command_during_the_exposure_waits_for_its_end() -> None:
    _, body, commands = _body("MF")
    body.run_for(0.1)
    _press(body, Control.SHUTTER_FULL, True)
    pending = body._still
    assert pending is not None
    start, end = pending.pending.exposure_start_s, pending.pending.due_s
    body.clock.sleep_until(0.5 * (start + end))  # the sensor is exposing
    assert body.focus_ring(0.3)
    assert commands[-1] == pytest.approx(end)  # sent once the exposure ended
    assert len(body.shots) == 1  # and the still was recorded first
    shot = body.shots[0]
    assert shot.lens_d == pytest.approx(0.5, abs=0.01)  # the lens did not move for it
    _press(body, Control.SHUTTER_FULL, False)
    body.close()


def test_a_tap_during_the_lag_is_released_when_the_camera_is_free() -> None:
    _, body, _ = _body("MF")
    body.run_for(0.1)
    t0 = body.clock.now_s()
    _press(body, Control.SHUTTER_FULL, True)
    _press(body, Control.SHUTTER_FULL, False)
    body.clock.sleep_until(t0 + 0.02)
    t1 = body.clock.now_s()
    _press(body, Control.SHUTTER_FULL, True)  # the first still is in its lag
    _press(body, Control.SHUTTER_FULL, False)
    assert body.stills_in_flight == 2 and not body.shots
    body.run_for(0.3)
    assert [s.pressed_s for s in body.shots] == [pytest.approx(t0), pytest.approx(t1)]
    first, second = body.shots
    assert first.ok and second.ok and first.exposure_end_s is not None
    assert second.release_s == pytest.approx(first.exposure_end_s)  # as soon as it was free
    body.close()


def test_a_mode_change_during_the_lag_keeps_the_release_settings() -> None:
    _, body, _ = _body("MF")
    body.run_for(0.1)
    _press(body, Control.SHUTTER_FULL, True)
    body.set_focus_mode("AF-S")  # during the lag
    body.run_for(0.2)
    assert body.shots[0].settings["focus_mode"] == "MF"
    assert body.shots[0].settings["priority"] == "release"
    _press(body, Control.SHUTTER_FULL, False)
    body.close()


def test_close_with_a_still_pending_records_it(tmp_path: Path) -> None:
    _, body, _ = _body("MF", shots_dir=tmp_path)
    body.run_for(0.1)
    _press(body, Control.SHUTTER_FULL, True)
    _press(body, Control.SHUTTER_FULL, False)
    _press(body, Control.SHUTTER_FULL, True)  # a second press waits for the camera
    assert body.stills_in_flight == 1
    _press(body, Control.SHUTTER_FULL, False)
    assert body.stills_in_flight == 2
    body.close()
    assert body.stills_in_flight == 0
    assert [s.ok for s in body.shots] == [True, True]
    assert len(list(tmp_path.glob("*.jpg"))) == 2


def test_the_default_for_a_blocking_camera_is_a_finished_still(tmp_path: Path) -> None:
    # the focal-stack camera has only `capture_still` (one blocking call)
    cam = StackCamera(write_stack(tmp_path, make_slices()))
    pending = begin_still(cam, cam.clock.now_s(), render=False)
    assert pending.finished and pending.due_s <= cam.clock.now_s()
    still = pending.finish()
    assert isinstance(still, Still) and pending.finish() is still
    assert still.exposure_start_s >= pending.release_s


def test_sim_begin_still_returns_before_the_exposure() -> None:
    cam = SimCamera("portrait", PRESET, preview_px=(160, 120), render_frames=False)
    t = cam.clock.now_s()
    pending = begin_still(cam, t, render=False)
    assert isinstance(pending, PendingStill) and not pending.finished
    assert cam.clock.now_s() == t  # no wait at the release
    with pytest.raises(Exception, match="already being exposed"):
        cam.begin_still(t, render=False)
    still = pending.finish()
    assert cam.clock.now_s() == pytest.approx(pending.due_s)
    assert still.exposure_start_s == pytest.approx(t + cam.preset.timing.release_lag_s)


def test_a_press_let_go_during_a_still_is_not_recorded_as_a_trap_release() -> None:
    """Found by the stateful test: two taps (the second waits for the camera), then the shutter
    held with trap focus switched on: the waiting tap's shot is the tap's, not the trap's."""
    _, body, _ = _body("AF-S")
    for _ in range(2):
        _press(body, Control.SHUTTER_FULL, True)
        _press(body, Control.SHUTTER_FULL, False)
    assert body.stills_in_flight == 2
    _press(body, Control.SHUTTER_FULL, True)
    body.set_trap_focus(True)  # the held press is armed; the waiting tap was let go before
    body.run_for(0.15)  # the first still is done at 64 ms, the waiting tap released then
    tap = body.shots[1]
    assert tap.ok and tap.release_s == pytest.approx(body.shots[0].exposure_end_s)
    assert tap.settings["trap"] == {"armed": False}
    _press(body, Control.SHUTTER_FULL, False)
    body.close()
