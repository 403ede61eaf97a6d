"""Clocks and the TOML reader shared by every user-written file."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from afon.cameras.sim.preset import load_preset
from afon.clock import RealClock, VirtualClock
from afon.config import parse_toml
from afon.errors import ConfigError


def test_virtual_clock_jumps_and_never_goes_back() -> None:
    clock = VirtualClock(1.0)
    clock.sleep_until(3.5)
    assert clock.now_s() == 3.5
    clock.sleep_until(2.0)
    assert clock.now_s() == 3.5
    assert clock.advance(0.5) == 4.0
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_real_clock_is_monotonic() -> None:
    clock = RealClock()
    a = clock.now_s()
    clock.sleep_until(a - 1.0)  # in the past: returns at once
    assert clock.now_s() >= a


def test_errors_name_the_file_and_field() -> None:
    doc = parse_toml('name = "x"\n[optics]\nf_number = "fast"\n', "my.toml")
    with pytest.raises(ConfigError, match=r"my\.toml: optics\.f_number: expected a number"):
        doc.table("optics").number("f_number")
    with pytest.raises(ConfigError, match=r"my\.toml: optics\.focal_length_mm: required"):
        doc.table("optics").number("focal_length_mm")
    with pytest.raises(ConfigError, match=r"my\.toml: .*invalid TOML"):
        parse_toml("name = = 1", "my.toml")
    t = parse_toml("a = 1\nb = 2\n", "f.toml")
    t.number("a")
    with pytest.raises(ConfigError, match=r"f\.toml: b: unknown field"):
        t.finish()


def test_bad_preset_files(tmp_path: pytest.TempPathFactory) -> None:
    good = load_preset("cm3")
    assert good.optics.focal_length_mm == 4.74
    bad = tmp_path / "bad.toml"  # type: ignore[operator]
    src = (
        'name = "b"\n[optics]\nfocal_length_mm = 50\nf_number = 1.8\nsensor_width_mm = 36\n'
        "sensor_height_mm = 24\nresolution_px = [6000, 4000]\nclosest_focus_m = 0.45\n"
        '[motor]\nkind = "warp"\nmax_speed_d_per_s = 1\naccel_d_per_s2 = 1\n'
    )
    bad.write_text(src)
    with pytest.raises(ConfigError, match=r"bad\.toml: motor\.kind: must be one of"):
        load_preset(bad)
    bad.write_text(src.replace('"warp"', '"vcm"').replace("f_number = 1.8", "f_number = -2"))
    with pytest.raises(ConfigError, match=r"optics\.f_number: must be >= 0\.5"):
        load_preset(bad)
    with pytest.raises(ConfigError, match=r"built-in presets: .*cm3"):
        load_preset("no-such-lens")


@given(st.text(max_size=200))
def test_parser_only_ever_raises_config_errors(text: str) -> None:
    try:
        doc = parse_toml(text, "fuzz.toml")
    except ConfigError as exc:
        assert "fuzz.toml" in str(exc)
        return
    for key in list(doc.data)[:3]:
        with (
            pytest.raises(ConfigError)
            if not isinstance(doc.data[key], int | float) or isinstance(doc.data[key], bool)
            else _nothing()
        ):
            doc.number(key)


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
