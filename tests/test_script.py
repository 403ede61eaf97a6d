"""The script parser: timed control events written by users."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afon.controls import Control
from afon.errors import ConfigError
from afon.script import parse_script_text


def test_press_release_tap_and_shutter() -> None:
    script = parse_script_text(
        """
        [[events]]
        t_s = 0.5
        control = "af-on"
        action = "press"
        [[events]]
        t_s = 1.0
        control = "SHUTTER"
        action = "tap"
        hold_s = 0.3
        [[events]]
        t_s = 2.0
        control = "AF_ON"
        action = "release"
        """
    )
    got = [(e.t_s, e.control, e.pressed) for e in script.events]
    assert got == [
        (0.5, Control.AF_ON, True),
        (1.0, Control.SHUTTER_HALF, True),
        (1.0, Control.SHUTTER_FULL, True),
        (1.3, Control.SHUTTER_FULL, False),
        (1.3, Control.SHUTTER_HALF, False),
        (2.0, Control.AF_ON, False),
    ]
    assert script.duration_s == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[events]]\nt_s = -1\ncontrol = "AF_ON"', r"events\[0\]\.t_s: must be >= 0"),
        ('[[events]]\nt_s = 1\ncontrol = "FOCUS"', r"events\[0\]\.control: unknown control"),
        ('[[events]]\nt_s = 1\ncontrol = "AF_ON"\naction = "hold"', r"events\[0\]\.action"),
        ('[[events]]\nt_s = 1\ncontrol = "AF_ON"\nwhen = 2', r"events\[0\]\.when: unknown"),
        ('duration_s = 0.5\n[[events]]\nt_s = 1\ncontrol = "AF_ON"', r"duration_s: ends at"),
        ("events = 3", r"events: expected an array"),
    ],
)
def test_bad_scripts_name_the_field(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"s\.toml: " + message):
        parse_script_text(text, "s.toml")


event = st.fixed_dictionaries(
    {},
    optional={
        "t_s": st.one_of(st.floats(-5, 5000), st.text(max_size=3), st.booleans()),
        "control": st.sampled_from(["AF_ON", "af-off", "SHUTTER", "shutter_full", "x", ""]),
        "action": st.sampled_from(["press", "release", "tap", "hold", 1]),
        "hold_s": st.floats(-1, 10),
    },
)


def _toml_value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(v)


@settings(max_examples=150, deadline=None)
@given(st.lists(event, max_size=5))
def test_parser_accepts_or_names_the_problem(events: list[dict[str, object]]) -> None:
    text = "\n".join(
        "[[events]]\n" + "\n".join(f"{k} = {_toml_value(v)}" for k, v in ev.items())
        for ev in events
    )
    try:
        script = parse_script_text(text, "fuzz.toml")
    except ConfigError as exc:
        assert str(exc).startswith("fuzz.toml: ")
        return
    times = [e.t_s for e in script.events]
    assert times == sorted(times)
    assert all(t >= 0 for t in times)
