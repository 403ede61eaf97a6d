"""The focus-ring encoder on GPIO: gpiozero's RotaryEncoder on its MockFactory, driven with the
quadrature a real encoder's detents make; the headless body's ring follows (MF, DMF), and a
turn where the ring cannot work is said once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from afon.cameras.url import open_camera
from afon.clock import VirtualClock
from afon.config import parse_toml
from afon.errors import ConfigError
from afon.headless import HeadlessRunner, open_inputs
from afon.inputs.encoder import FocusEncoder
from afon.inputs.keymap import EncoderPins, parse_inline, parse_input_map

A, B = 5, 6


def detents(pins: Any, n: int) -> None:
    """`n` detents (positive clockwise): A leads B clockwise, B leads A the other way."""
    a, b = pins.pin(A), pins.pin(B)
    first, second = (a, b) if n > 0 else (b, a)
    for _ in range(abs(n)):
        first.drive_low()
        second.drive_low()
        first.drive_high()
        second.drive_high()


def test_detents_are_counted_with_their_direction(mock_pins: Any) -> None:
    enc = FocusEncoder(A, B, 0.05, pin_factory=mock_pins)
    try:
        assert enc.take_steps() == 0
        detents(mock_pins, 3)
        detents(mock_pins, -1)
        assert enc.take_steps() == 2
        assert enc.take_steps() == 0  # taken once
        detents(mock_pins, -4)
        assert enc.take_steps() == -4
        assert enc.levels() == {}
    finally:
        enc.close()


def test_encoder_bindings_in_a_file_and_inline() -> None:
    doc = parse_toml("[gpio]\nSHUTTER = 27\n[encoder]\na = 5\nb = 6\nstep_d = 0.05\n", "k.toml")
    assert parse_input_map(doc).encoder == EncoderPins(5, 6, 0.05)
    inline = parse_inline("gpio:shutter=27;encoder:a=5,b=6")
    assert inline.encoder == EncoderPins(5, 6, 0.02) and inline.gpio == {"SHUTTER": 27}
    cases = [
        ("[gpio]\nAF_ON = 5\n[encoder]\na = 5\nb = 6\n", "encoder.a", "already bound to AF_ON"),
        ("[encoder]\na = 5\nb = 5\n", "encoder.b", "also the encoder's a"),
        ("[encoder]\na = 5\nb = 6\nstep_d = 0\n", "encoder.step_d", ""),
        ("[encoder]\na = 5\n", "encoder.b", ""),
    ]
    for text, field, problem in cases:
        with pytest.raises(ConfigError) as err:
            parse_input_map(parse_toml(text, "k.toml"))
        assert err.value.field == field, text
        assert problem in str(err.value) and "k.toml" in str(err.value)
    with pytest.raises(ConfigError, match="expected a BCM pin"):
        parse_inline("encoder:a=five,b=6")


def headless(tmp_path: Path, lines: list[str], mock_pins: Any) -> HeadlessRunner:
    hub = open_inputs(
        parse_inline("gpio:af_on=17,shutter=27;encoder:a=5,b=6,step_d=0.05"),
        pin_factory=mock_pins,
        emit=lines.append,
    )
    camera = open_camera("sim:portrait", clock=VirtualClock(), preset="50mm-f1.8")
    return HeadlessRunner(camera, hub, "bbf", out=tmp_path, save_images=False, emit=lines.append)


def test_the_encoder_turns_the_focus_ring_in_mf(
    tmp_path: Path, mock_pins: Any
) -> None:
    lines: list[str] = []
    r = headless(tmp_path, lines, mock_pins)
    assert any("encoder on GPIO5/GPIO6" in line for line in lines)
    r.body.set_focus_mode("MF")
    r.tick()
    start = r.body.camera.lens_position_d()
    detents(mock_pins, 4)  # clockwise: nearer by 4 × 0.05 D
    r.tick()
    for _ in range(30):  # the motor gets there
        r.tick()
    assert r.body.camera.lens_position_d() == pytest.approx(start + 0.2, abs=0.01)
    detents(mock_pins, -2)
    for _ in range(30):
        r.tick()
    assert r.body.camera.lens_position_d() == pytest.approx(start + 0.1, abs=0.01)
    assert sum("focus ring +0.200 D" in line for line in lines) == 1
    assert r.result.notices == []
    r.close()


def test_a_turn_in_af_c_is_ignored_and_said_once(tmp_path: Path, mock_pins: Any) -> None:
    lines: list[str] = []
    r = headless(tmp_path, lines, mock_pins)
    r.body.set_focus_mode("AF-C")
    r.tick()
    lens = r.body.camera.lens_position_d()
    commands = r.body.stats.lens_commands
    for _ in range(3):
        detents(mock_pins, 2)
        r.tick()
    assert r.body.stats.lens_commands == commands and r.body.camera.lens_position_d() == lens
    said = [n for n in r.result.notices if n.kind == "focus-ring"]
    assert len(said) == 1 and "manual focus needs MF" in said[0].message
    r.close()


def test_the_encoders_button_in_afon_run_says_once_that_it_magnifies_serves_view(
    tmp_path: Path, mock_pins: Any
) -> None:
    clock = VirtualClock()
    hub = open_inputs(
        parse_inline("encoder:a=5,b=6,button=13"), pin_factory=mock_pins, now_s=clock.now_s
    )
    camera = open_camera("sim:portrait", clock=clock, preset="50mm-f1.8")
    r = HeadlessRunner(camera, hub, "bbf", out=tmp_path, save_images=False, emit=lambda _: None)
    for _ in range(3):
        mock_pins.pin(13).drive_low()
        mock_pins.pin(13).drive_high()
        for _ in range(4):
            r.tick()
    said = [n for n in r.result.notices if n.kind == "magnify"]
    assert len(said) == 1 and "afon serve" in said[0].message
    r.close()


def test_the_button_pin_must_be_its_own() -> None:
    with pytest.raises(ConfigError) as exc:
        parse_inline("encoder:a=5,b=6,button=6")
    assert exc.value.field == "encoder.button" and "encoder's b" in exc.value.problem
    doc = parse_toml("[gpio]\nAF_ON = 13\n[encoder]\na = 5\nb = 6\nbutton = 13\n", "k.toml")
    with pytest.raises(ConfigError) as exc:
        parse_input_map(doc)
    assert exc.value.field == "encoder.button" and "AF_ON" in exc.value.problem
    assert parse_inline("encoder:a=5,b=6,button=13").encoder == EncoderPins(5, 6, 0.02, 13)
