"""`afon serve` takes the physical inputs `afon run` does: GPIO buttons and the focus-ring
encoder on gpiozero's MockFactory, applied on the body loop (driven here by hand on the virtual
clock). A turn that moves the lens magnifies the view (MF assist) until the ring rests for the
profile's `mf_assist_s`; the encoder's button cycles the magnifier."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from afon.body import Body
from afon.cameras.url import open_camera
from afon.clock import VirtualClock
from afon.controls import Control
from afon.errors import UsageError
from afon.headless import open_inputs
from afon.inputs.keymap import parse_inline
from afon.web.protocol import ControlMessage
from afon.web.runner import BodyRunner, Subscriber
from afon.web.serve import physical_inputs
from test_encoder import detents

INPUTS = "gpio:af_on=17,shutter=27;encoder:a=5,b=6,step_d=0.05,button=13"
BUTTON = 13


class _Loop:
    """Stands in for the server's asyncio loop: a viewer is connected, nobody reads."""

    def call_soon_threadsafe(self, fn: Any) -> None:
        pass


def served(tmp_path: Path, mock_pins: Any, profile: str = "bbf") -> BodyRunner:
    clock = VirtualClock()
    camera = open_camera("sim:portrait", clock=clock, preset="50mm-f1.8")
    hub = open_inputs(parse_inline(INPUTS), pin_factory=mock_pins, now_s=clock.now_s)
    body = Body(camera, profile, shots_dir=tmp_path)
    runner = BodyRunner(body, inputs=hub)
    runner.hub.subscribe(Subscriber(_Loop(), threading.Event()))
    return runner


def tick(runner: BodyRunner, n: int = 1) -> dict[str, Any]:
    """What the loop does per frame: inputs (and queued jobs), a frame, the published view."""
    for _ in range(n):
        while not runner._jobs.empty():
            runner._do(runner._jobs.get_nowait())
        runner._poll_inputs()
        frame = runner.body.step()
        runner._frame = frame
        runner._publish(frame)
    return runner.state


def press(mock_pins: Any, runner: BodyRunner, pin: int = BUTTON) -> None:
    """A press and release, then 0.1 s (longer than the button's 0.05 s debounce)."""
    mock_pins.pin(pin).drive_low()
    mock_pins.pin(pin).drive_high()
    tick(runner, 3)


def test_a_turn_moves_the_lens_and_magnifies_until_the_ring_rests(
    tmp_path: Path, mock_pins: Any
) -> None:
    runner = served(tmp_path, mock_pins)
    body = runner.body
    body.profile = body.profile.with_(mf_assist_s=0.5)  # bbf's is 2 s: a shorter test
    body.set_focus_mode("MF")
    state = tick(runner, 2)
    assert state["magnify"] == 0 and state["magnify_rect"] is None
    start = body.camera.lens_position_d()
    detents(mock_pins, 4)
    state = tick(runner)
    assert state["magnify"] == 5 and state["mf_assist"] is True
    assert state["magnify_native"] is True and state["magnify_rect"] is not None
    tick(runner, 20)
    assert body.camera.lens_position_d() == pytest.approx(start + 0.2, abs=0.01)
    # turning again keeps it open; the last turn starts the 0.5 s
    clock = body.clock
    for _ in range(2):
        detents(mock_pins, 1)
        last_turn_s = clock.now_s()
        tick(runner)
        while clock.now_s() < last_turn_s + 0.4:
            assert tick(runner)["magnify"] == 5
    for _ in range(300):  # 10 s at most
        if not runner.magnify:
            break
        tick(runner)
    closed_s = clock.now_s() - last_turn_s
    period_s = 1.0 / body.camera.capabilities.frame_rate_hz
    assert body.profile.mf_assist_s <= closed_s <= body.profile.mf_assist_s + 2 * period_s
    state = tick(runner)
    assert state["magnify_rect"] is None and state["mf_assist"] is False
    runner._shutdown()


def test_the_button_cycles_the_magnifier_and_takes_it_over(
    tmp_path: Path, mock_pins: Any
) -> None:
    runner = served(tmp_path, mock_pins)
    runner.body.set_focus_mode("MF")
    tick(runner)
    seen = []
    for _ in range(4):
        press(mock_pins, runner)
        seen.append(runner.magnify)
    assert seen == [5, 10, 0, 5]
    assert runner.state["mf_assist"] is False
    # two presses closer than the debounce (bounce of one press) count once
    mock_pins.pin(BUTTON).drive_low()
    mock_pins.pin(BUTTON).drive_high()
    mock_pins.pin(BUTTON).drive_low()
    mock_pins.pin(BUTTON).drive_high()
    tick(runner, 3)
    assert runner.magnify == 10
    # MF assist opened it, the button took it: no timed close
    press(mock_pins, runner)
    assert runner.magnify == 0
    detents(mock_pins, 2)
    tick(runner)
    assert runner.magnify == 5 and runner.mf_assist_on
    press(mock_pins, runner)
    assert runner.magnify == 10 and not runner.mf_assist_on
    tick(runner, 75)  # 2.5 s: past bbf's 2 s
    assert runner.magnify == 10
    runner._shutdown()


@pytest.mark.parametrize(("assist", "hold_s"), [(False, 2.0), (True, 0.0)])
def test_mf_assist_follows_the_profile(
    tmp_path: Path, mock_pins: Any, assist: bool, hold_s: float
) -> None:
    """mf_assist false: the ring turns, nothing magnifies; mf_assist_s 0: no timed close."""
    runner = served(tmp_path, mock_pins)
    body = runner.body
    body.profile = body.profile.with_(mf_assist=assist, mf_assist_s=hold_s)
    body.set_focus_mode("MF")
    tick(runner)
    start = body.camera.lens_position_d()
    detents(mock_pins, 2)
    assert tick(runner)["magnify"] == (5 if assist else 0)
    tick(runner, 75)  # 2.5 s: past bbf's 2 s
    assert body.camera.lens_position_d() == pytest.approx(start + 0.1, abs=0.01)
    assert runner.magnify == (5 if assist else 0)
    runner._shutdown()


def test_a_turn_where_the_ring_does_not_work_is_said_once_and_magnifies_nothing(
    tmp_path: Path, mock_pins: Any
) -> None:
    runner = served(tmp_path, mock_pins)
    body = runner.body
    body.set_focus_mode("AF-C")
    tick(runner)
    commands = body.stats.lens_commands
    for _ in range(3):
        detents(mock_pins, 2)
        tick(runner)
    assert body.stats.lens_commands == commands and runner.magnify == 0
    assert "manual focus needs MF" in (runner.state["input_notice"] or "")
    runner._shutdown()


def test_dmf_after_gpio_af_on_locks_and_the_page_and_gpio_hold_af_on_together(
    tmp_path: Path, mock_pins: Any
) -> None:
    runner = served(tmp_path, mock_pins)
    body = runner.body
    body.set_focus_mode("AF-S")
    tick(runner)
    mock_pins.pin(17).drive_low()  # GPIO AF-ON
    state = tick(runner)
    assert "AF_ON" in state["held"]
    page = ControlMessage(controls=(Control.AF_ON,), pressed=True, source="key:KeyA")
    runner._control("page", page)
    for _ in range(150):
        if tick(runner)["locked"]:
            break
    assert runner.state["locked"]
    mock_pins.pin(17).drive_high()
    tick(runner, 2)
    assert "AF_ON" in runner.state["held"]  # the page still holds it
    runner._control(
        "page", ControlMessage(controls=(Control.AF_ON,), pressed=False, source="key:KeyA")
    )
    assert "AF_ON" not in tick(runner)["held"]
    locked = body.camera.lens_position_d()
    detents(mock_pins, 3)  # DMF: the bbf profile has manual_override
    tick(runner, 20)
    assert body.camera.lens_position_d() == pytest.approx(locked + 0.15, abs=0.01)
    assert runner.magnify == 5
    runner._shutdown()


def test_an_edge_or_a_detent_wakes_the_loop_once(tmp_path: Path, mock_pins: Any) -> None:
    runner = served(tmp_path, mock_pins)
    tick(runner)
    detents(mock_pins, 3)
    mock_pins.pin(17).drive_low()
    assert runner._jobs.qsize() == 1  # one wake until the loop has polled
    tick(runner)
    mock_pins.pin(17).drive_high()
    assert runner._jobs.qsize() == 1
    runner._shutdown()


def test_serve_takes_gpio_encoder_and_evdev_inputs_not_the_terminals(tmp_path: Path) -> None:
    keymap = tmp_path / "keymap.toml"
    keymap.write_text("[gpio]\nAF_ON = 17\n[keys]\nAF_ON = 'a'\n", encoding="utf-8")
    found = physical_inputs(str(keymap), "encoder:a=5,b=6,button=13")
    assert found is not None
    assert found.gpio == {"AF_ON": 17} and found.terminal == {}
    assert found.encoder is not None and found.encoder.button == BUTTON
    with pytest.raises(UsageError, match="terminal's keys are for afon run"):
        physical_inputs(str(keymap), "keys")
    only_keys = tmp_path / "keys.toml"
    only_keys.write_text("[keys]\nAF_ON = 'a'\n", encoding="utf-8")
    assert physical_inputs(str(only_keys), None) is None


def test_mf_assist_is_a_profile_custom_function() -> None:
    from afon.config import parse_toml
    from afon.errors import ConfigError
    from afon.profile import load_profile, parse_profile

    bbf = load_profile("bbf")
    assert bbf.mf_assist is True and bbf.mf_assist_s == 2.0
    head = (
        'name = "mf"\naf_activation = "af-on-only"\nfocus_mode = "MF"\n'
        'af_s_priority = "focus"\naf_c_priority = "release"\ndrive = "single"\n'
        'af_area = "single"\n'
    )
    p = parse_profile(parse_toml(head + "mf_assist = false\nmf_assist_s = 5\n", "mf.toml"))
    assert p.mf_assist is False and p.mf_assist_s == 5.0
    for bad, field in (("mf_assist_s = -1\n", "mf_assist_s"), ('mf_assist = "on"\n', "mf_assist")):
        with pytest.raises(ConfigError) as err:
            parse_profile(parse_toml(head + bad, "mf.toml"))
        assert err.value.field == field and "mf.toml" in str(err.value)
