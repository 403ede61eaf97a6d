"""The body's promises that hand mutations broke without a test noticing: AF-OFF holds the lens,
focus priority never exposes unfocused, AF-S gives up after its timeout, and letting go of AF-ON
during an AF-C rescan locks as NOT_FOCUSED_LOCKED. The AF decisions come from scripted
strategies (their status is the test's input); the camera is the simulated one."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from afon.body import AF_S_TIMEOUT_S, Body
from afon.cameras.base import Frame
from afon.cameras.sim.camera import SimCamera
from afon.focus.engine import AfContext, AfStatus, AfStep, AfWindow
from afon.focus.states import AfState


class Scripted:
    """A strategy that reports the statuses it is given, one per frame (the last repeats)."""

    name = "scripted"
    wants_phase = False

    def __init__(self, statuses: list[AfStatus]) -> None:
        self._statuses: Iterator[AfStatus] = iter(statuses)
        self._last = statuses[-1]

    def start(self, lens_d: float, now_s: float) -> float | None:
        return None

    def _next(self) -> AfStep:
        self._last = next(self._statuses, self._last)
        return AfStep(self._last)

    def update(self, frame: Frame, window: AfWindow, aim_s: float | None = None) -> AfStep:
        return self._next()


def body_with(profile: str, single: list[AfStatus] | None = None,
              servo: list[AfStatus] | None = None) -> Body:
    cam = SimCamera("portrait", "50mm-f1.8", start_d=0.5, seed=3, still_px=(160, 120))

    def make_single(_ctx: AfContext) -> Scripted:
        return Scripted(single or [AfStatus.SCANNING])

    def make_servo(_ctx: AfContext) -> Scripted:
        return Scripted(servo or [AfStatus.SCANNING])

    return Body(cam, profile, single_shot_factory=make_single,  # type: ignore[arg-type]
                servo_factory=make_servo)  # type: ignore[arg-type]


def test_af_off_holds_the_lens_where_it_is() -> None:
    cam = SimCamera("portrait", "50mm-f1.8", start_d=0.0, seed=3)
    body = Body(cam, "bbf", window=AfWindow(0.3, 0.5))
    body.set_focus_mode("AF-C")
    body.af_on.press()
    body.run_for(0.1)  # the lens is on its way
    body.af_off.press()
    held = cam.lens_position_d()
    body.run_for(0.5)
    assert cam.lens_position_d() == pytest.approx(held, abs=0.02)
    assert not cam.lens_moving()
    body.af_off.release()  # AF-ON still held: AF resumes and the lens moves again
    body.run_for(0.5)
    assert abs(cam.lens_position_d() - held) > 0.02


def test_focus_priority_never_exposes_after_not_focused_locked() -> None:
    body = body_with("shutter-af", single=[AfStatus.SCANNING, AfStatus.FAILED])
    body.shutter.press()
    body.run_for(0.5)
    assert body.state is AfState.NOT_FOCUSED_LOCKED
    body.shutter.release()
    (shot,) = body.shots
    assert not shot.ok and shot.exposure_start_s is None
    assert shot.failure is not None and "focus priority: not focused" in shot.failure
    assert "NOT_FOCUSED_LOCKED" in shot.failure


def test_af_s_gives_up_after_its_timeout() -> None:
    body = body_with("shutter-af", single=[AfStatus.SCANNING])
    body.af_on.press()
    body.run_for(AF_S_TIMEOUT_S - 0.2)
    assert body.state is AfState.ACTIVE_SCAN
    body.run_for(0.4)
    assert body.state is AfState.NOT_FOCUSED_LOCKED


def test_letting_go_during_an_af_c_rescan_is_not_focused_locked() -> None:
    statuses = [AfStatus.SCANNING] * 3 + [AfStatus.FOCUSED] * 5 + [AfStatus.SCANNING]
    body = body_with("bbf", servo=statuses)
    body.set_focus_mode("AF-C")
    body.af_on.press()
    for _ in range(6):
        body.step()
    assert body.state is AfState.PASSIVE_FOCUSED
    for _ in range(4):  # the subject moved: the servo scans again
        body.step()
    assert body.state is AfState.PASSIVE_SCAN
    body.af_on.release()
    assert body.state is AfState.NOT_FOCUSED_LOCKED
