"""Trap focus: with BBF and the shutter held, the body fires when the subject under the AF
point comes into focus, judged by the phase or contrast reading (the truth only checks it)."""

from __future__ import annotations

import dataclasses

import pytest

from afon.body import Body
from afon.cameras.sim.camera import SimCamera
from afon.cameras.sim.scene import Scene, parse_scene
from afon.config import parse_toml
from afon.controls import Control, ControlEvent
from afon.errors import ConfigError
from afon.profile import load_profile, parse_profile

WALKER = """
description = "someone walking towards the camera at 1 m/s from 6 m, a wall 12 m behind"
light_lux = 5000
[[layers]]
name = "wall"
kind = "background"
texture = "skimage:brick"
width_m = 1.1
distance_m = 12
fill = true
[[layers]]
name = "walker"
kind = "subject"
texture = "skimage:astronaut"
crop = [0.0, 0.0, 0.55, 1.0]
width_m = 0.6
height_m = 1.7
distance_m = { motion = "linear", start = 6, speed = -1, min = 1.5 }
"""
PARKED_M = 3.0


def walker() -> Scene:
    return parse_scene(WALKER, "walker.toml")


def trap_body(*, trap: bool, phase: bool = True, mode: str = "MF") -> Body:
    cam = SimCamera(walker(), "50mm-f1.8", start_d=1 / PARKED_M, preview_px=(640, 427), seed=1)
    body = Body(cam, "bbf", judge=cam.judge_still)
    if not phase:  # a camera without phase detection: the contrast reading decides
        body.context = dataclasses.replace(body.context, phase_d_per_px=None)
    body.set_focus_mode(mode)
    body.set_drive("single")
    body.set_trap_focus(trap)
    return body


def hold_shutter(body: Body, seconds: float) -> None:
    body.handle(ControlEvent(Control.SHUTTER_HALF, True, body.clock.now_s()))
    body.handle(ControlEvent(Control.SHUTTER_FULL, True, body.clock.now_s()))
    body.run_for(seconds)


@pytest.mark.parametrize("phase", [True, False], ids=["phase", "contrast"])
def test_trap_fires_when_the_walker_reaches_the_parked_focus(phase: bool) -> None:
    body = trap_body(trap=True, phase=phase)
    hold_shutter(body, 4.0)
    assert body.stats.lens_commands == 0  # BBF: nothing but AF-ON moves the lens
    assert len(body.shots) == 1  # single drive: one shot per press, when in focus
    shot = body.shots[0]
    trap = shot.settings["trap"]
    assert trap["armed"] and trap["in_focus"] and trap["kind"] == ("phase" if phase else "contrast")
    # the walker was 6 m away at the press; the trap waited until they reached 3 m
    assert shot.release_s > 2.5
    assert shot.truth["in_focus"] is True
    assert shot.truth["subject_distance_m"] == pytest.approx(PARKED_M, abs=0.25)
    # the readings it went by are the camera's own, one per frame while armed
    readings = list(body.trap_readings)
    assert readings and all(r.kind == trap["kind"] for r in readings)
    assert sum(r.in_focus for r in readings) >= 1


def test_without_trap_the_same_press_fires_at_once_out_of_focus() -> None:
    body = trap_body(trap=False)
    hold_shutter(body, 0.5)
    assert len(body.shots) == 1 and body.shots[0].release_s < 0.2
    assert body.shots[0].truth["in_focus"] is False
    assert "trap" not in body.shots[0].settings


def test_letting_go_before_focus_is_a_failure_record_saying_so() -> None:
    body = trap_body(trap=True)
    hold_shutter(body, 1.0)
    body.handle(ControlEvent(Control.SHUTTER_FULL, False, body.clock.now_s()))
    assert len(body.shots) == 1 and not body.shots[0].ok
    assert "trap focus" in (body.shots[0].failure or "")


def test_af_on_held_means_ordinary_bbf_not_the_trap() -> None:
    """AF running: the trap is not armed; the shot goes by the focus mode's priority."""
    body = trap_body(trap=True, mode="AF-C")
    body.handle(ControlEvent(Control.AF_ON, True, body.clock.now_s()))
    hold_shutter(body, 0.6)
    assert body.shots and all(not s.settings["trap"]["armed"] for s in body.shots)
    assert not body.trap_readings


def test_trap_focus_is_a_profile_custom_function() -> None:
    assert load_profile("bbf").trap_focus is False
    table = parse_toml(
        'name = "trap"\naf_activation = "af-on-only"\nfocus_mode = "MF"\n'
        'af_s_priority = "focus"\naf_c_priority = "release"\ndrive = "single"\n'
        'af_area = "single"\ntrap_focus = true\n',
        "trap.toml",
    )
    assert parse_profile(table).trap_focus is True
    bad = parse_toml(
        'name = "trap"\naf_activation = "af-on-only"\nfocus_mode = "MF"\n'
        'af_s_priority = "focus"\naf_c_priority = "release"\ndrive = "single"\n'
        'af_area = "single"\ntrap_focus = "yes"\n',
        "trap.toml",
    )
    with pytest.raises(ConfigError) as err:
        parse_profile(bad)
    assert err.value.field == "trap_focus" and "trap.toml" in str(err.value)


def test_trap_focus_over_http_is_a_setting_and_shown(tmp_path: object) -> None:
    """`POST /api/settings {"trap_focus": true}`: the state says it; a held shutter on a lens
    parked far from the subject waits (armed, no shot) instead of firing."""
    import httpx

    from afon.web.serve import LiveServer, ServeOptions
    from waiting import TIMEOUT_S, wait_for

    options = ServeOptions(port=0, preset="50mm-f1.8", out=str(tmp_path), lease_s=5.0)
    with (
        LiveServer(options) as live,
        httpx.Client(base_url=live.base_url, timeout=TIMEOUT_S, trust_env=False) as http,
    ):
        assert http.post("/api/settings", json={"trap_focus": "yes"}).status_code == 400
        r = http.post("/api/settings", json={"trap_focus": True, "focus_mode": "MF", "lens_d": 0})
        assert r.status_code == 200, r.text
        assert r.json()["trap_focus"] is True and r.json()["trap_armed"] is False
        before = len(live.runner.shots)
        press = {"control": "SHUTTER", "action": "press"}
        assert http.post("/api/control", json=press).status_code == 200
        wait_for(lambda: http.get("/api/state").json()["trap_armed"], what="trap armed")
        # under load the first frame can come after the press (the renderer builds its caches)
        wait_for(lambda: http.get("/api/state").json()["frame"] is not None, what="a frame")
        frame = http.get("/api/state").json()["frame"]
        wait_for(lambda: http.get("/api/state").json()["frame"] > frame + 10, what="10 frames")
        assert len(live.runner.shots) == before  # the portrait is not at infinity: no release
        assert live.runner.body.trap_readings  # it was reading every frame meanwhile
        assert http.post("/api/control", json=press | {"action": "release"}).status_code == 200
        wait_for(lambda: len(live.runner.shots) == before + 1, what="the failure record")
        assert "trap focus" in (live.runner.shots[-1]["failure"] or "")
