"""`afon run`: a headless body on the sim camera, GPIO buttons on gpiozero's MockFactory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from afon.cameras.url import open_camera
from afon.cli import main
from afon.clock import VirtualClock
from afon.focus.states import AfState
from afon.headless import HeadlessRunner, open_inputs
from afon.inputs.keymap import parse_inline


def runner(tmp_path: Path, lines: list[str]) -> HeadlessRunner:
    hub = open_inputs(parse_inline("gpio:af_on=17,shutter=27"))
    camera = open_camera("sim:portrait", clock=VirtualClock())
    return HeadlessRunner(camera, hub, "bbf", out=tmp_path, save_images=False, emit=lines.append)


def ticks(r: HeadlessRunner, n: int) -> None:
    for _ in range(n):
        r.tick()


def test_buttons_focus_and_shoot(tmp_path: Path, mock_pins: Any) -> None:
    lines: list[str] = []
    r = runner(tmp_path, lines)
    ticks(r, 3)
    assert r.body.state is AfState.INACTIVE
    mock_pins.pin(17).drive_low()  # AF-ON pressed
    ticks(r, 30)
    assert r.body.state in (AfState.PASSIVE_FOCUSED, AfState.FOCUSED_LOCKED)
    assert any("AF INACTIVE -> " in line for line in lines)
    mock_pins.pin(17).drive_high()
    ticks(r, 2)
    assert r.body.state.locked
    mock_pins.pin(27).drive_low()  # shutter: half + full
    ticks(r, 2)
    mock_pins.pin(27).drive_high()
    ticks(r, 2)
    assert r.body.shots and r.body.shots[0].ok
    assert any(" shot 0 " in line for line in lines)
    assert r.result.notices == []
    r.close()
    assert list(tmp_path.glob("*.json"))  # the shot records are kept


def test_dropped_release_edge_is_repaired(tmp_path: Path, mock_pins: Any) -> None:
    lines: list[str] = []
    r = runner(tmp_path, lines)
    mock_pins.pin(17).drive_low()
    ticks(r, 30)
    assert r.body.controls.held_controls()
    mock_pins.pin(17)._change_state(True)  # released, but the edge callback never fires
    ticks(r, 2)
    assert r.body.state.locked  # AF stopped: locked where it was
    assert not r.body.controls.held_controls()
    assert [n.kind for n in r.result.notices] == ["level-release"]
    assert any("warning: AF_ON reads released" in line for line in lines)
    frames = r.body.stats.af_frames
    ticks(r, 5)
    assert r.body.stats.af_frames == frames  # no AF frames after the repair
    r.close()


def test_run_stops_after_duration_and_on_ctrl_c(tmp_path: Path, mock_pins: Any) -> None:
    lines: list[str] = []
    r = runner(tmp_path, lines)
    mock_pins.pin(27).drive_low()
    result = r.run(duration_s=0.5)
    assert not result.interrupted and result.steps > 0
    assert r.body.clock.now_s() >= 0.5
    assert r.body.shots  # the held shutter's burst is recorded, nothing lost on close

    r2 = runner(tmp_path / "b", [])
    calls = 0
    step = r2.body.step

    def interrupting_step() -> Any:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise KeyboardInterrupt
        return step()

    r2.body.step = interrupting_step  # type: ignore[method-assign]
    result = r2.run(max_steps=100)
    assert result.interrupted and result.steps == 3


def test_cli_run_needs_buttons(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--camera", "sim:portrait"]) == 2
    assert "needs buttons" in capsys.readouterr().err
    assert main(["run", "--camera", "sim:portrait", "--inputs", "gpio:af_on=99"]) == 2
    assert "--inputs: gpio.af_on" in capsys.readouterr().err


def test_cli_run_on_mock_pins(
    tmp_path: Path,
    mock_pins: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import afon.clock

    monkeypatch.setattr(afon.clock, "RealClock", VirtualClock)  # no wall-clock time in tests
    keymap = tmp_path / "inputs.toml"
    keymap.write_text("max_hold_s = 0.2\n[gpio]\nAF_ON = 5\n")
    import afon.headless

    opened = afon.headless.open_inputs

    def open_and_press(*args: Any, **kwargs: Any) -> Any:
        hub = opened(*args, **kwargs)
        mock_pins.pin(17).drive_low()  # AF-ON pressed as the run starts, and never let go
        return hub

    monkeypatch.setattr(afon.headless, "open_inputs", open_and_press)
    argv = ["run", "--camera", "sim:portrait", "--keymap", str(keymap)]
    argv += ["--inputs", "gpio:af_on=17,shutter=27", "--out", str(tmp_path / "shots")]
    assert main([*argv, "--duration-s", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "afon run: sim:portrait" in out and "AF_ON=GPIO17" in out
    assert "AF INACTIVE -> PASSIVE_SCAN" in out
    assert "warning: AF_ON held for over 0.2 s" in out  # the watchdog ended the stale press
    assert "0 shot(s)" in out


def test_cli_run_with_terminal_keys_focuses_and_shoots(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`afon run --inputs keys` on the simulated camera: a toggles AF-ON, space shoots."""
    import os

    import afon.clock
    import afon.headless
    from afon.inputs.terminal import TerminalKeys

    monkeypatch.setattr(afon.clock, "RealClock", VirtualClock)  # no wall-clock time in tests
    read_fd, write_fd = os.pipe()  # stdin stand-in: not a terminal, nothing typed on it
    monkeypatch.setattr("sys.stdin", os.fdopen(read_fd, "r"))
    opened = afon.headless.open_inputs
    typed: list[str] = []

    def open_and_type(*args: Any, **kwargs: Any) -> Any:
        hub = opened(*args, **kwargs)
        (keys,) = [s for s in hub.sources if isinstance(s, TerminalKeys)]
        keys.feed("a")  # AF-ON held from the start
        typed.append("a")
        return hub

    monkeypatch.setattr(afon.headless, "open_inputs", open_and_type)
    out_dir = tmp_path / "shots"
    argv = ["run", "--camera", "sim:portrait", "--inputs", "keys", "--out", str(out_dir)]
    assert main([*argv, "--duration-s", "1.0"]) == 0
    out = capsys.readouterr().out
    assert typed == ["a"]
    assert "terminal keys: a = AF_ON (toggle)" in out and "space = SHUTTER (tap)" in out
    assert "AF INACTIVE -> PASSIVE_SCAN" in out
    os.close(write_fd)


def test_cli_run_with_gpio_on_a_machine_without_gpio_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import afon.clock
    from afon.inputs.gpio import gpio_available

    if gpio_available()[0]:
        pytest.skip("this machine has GPIO")
    monkeypatch.setattr(afon.clock, "RealClock", VirtualClock)
    assert main(["run", "--camera", "sim:portrait", "--inputs", "gpio:af_on=17"]) == 1
    err = capsys.readouterr().err
    assert "no GPIO on this machine" in err and "--inputs keys" in err
    assert "PinFactoryFallback" not in err and "Traceback" not in err


def test_cli_inputs_lists_devices_and_gpio(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sys

    from fake_evdev import FakeDeviceSpec, FakeEvdev

    foot = FakeDeviceSpec("/dev/input/event2", "PCsensor FootSwitch", ("KEY_A", "KEY_B"))
    monkeypatch.setitem(sys.modules, "evdev", FakeEvdev(foot))
    assert main(["inputs"]) == 0
    out = capsys.readouterr().out
    assert "/dev/input/event2  'PCsensor FootSwitch'  (2 keys" in out
    assert "device=NAME" in out and "GPIO:" in out and "--inputs keys" in out
    assert main(["inputs", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["evdev"][0]["name"] == "PCsensor FootSwitch"
    assert isinstance(data["gpio"], bool)


def test_run_with_an_evdev_device_by_name_grabs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from fake_evdev import FakeDeviceSpec, FakeEvdev

    keyboard = FakeDeviceSpec("/dev/input/event1", "USB Keyboard", ("KEY_A", "KEY_B"))
    foot = FakeDeviceSpec("/dev/input/event2", "PCsensor FootSwitch", ("KEY_A", "KEY_B"))
    monkeypatch.setitem(sys.modules, "evdev", FakeEvdev(keyboard, foot))
    lines: list[str] = []
    inputs = parse_inline("evdev:af_on=KEY_A,shutter=KEY_B,device=footswitch")
    hub = open_inputs(inputs, emit=lines.append)
    try:
        assert foot.grabbed and not keyboard.grabbed
        assert lines == ["input device 'PCsensor FootSwitch' (/dev/input/event2); grabbed: "
                         "its keys reach only afon"]  # fmt: skip
    finally:
        hub.close()
    assert not foot.grabbed
