"""Clocks and the TOML reader shared by every user-written file."""

from __future__ import annotations

import math
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field

from afon.cameras.sim.preset import load_preset
from afon.clock import RealClock, VirtualClock
from afon.config import NumberPair, UserModel, parse_toml, validate_user
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
        doc.validate(_Doc)
    doc = parse_toml('name = "x"\n[optics]\nf_number = 2\n', "my.toml")
    with pytest.raises(ConfigError, match=r"my\.toml: optics\.resolution_px: required"):
        doc.validate(_Doc)
    with pytest.raises(ConfigError, match=r"my\.toml: .*invalid TOML"):
        parse_toml("name = = 1", "my.toml")
    t = parse_toml('name = "x"\nnmae = 2\n', "f.toml")
    known = r"\(known here: layers, name, optics, rate_hz\)"
    with pytest.raises(ConfigError, match=rf"f\.toml: nmae: unknown field {known}"):
        t.validate(_Doc)


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


class _Numbers(UserModel):
    a: float = 0.0
    b: float = 0.0


@given(st.text(max_size=200))
def test_parser_only_ever_raises_config_errors(text: str) -> None:
    try:
        doc = parse_toml(text, "fuzz.toml")
    except ConfigError as exc:
        assert "fuzz.toml" in str(exc)
        return
    data = {k: v for k, v in doc.data.items() if k in ("a", "b")}
    numbers = all(
        isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        for v in data.values()
    )
    try:
        validate_user(_Numbers, data, doc.source)
    except ConfigError as exc:
        assert not numbers and exc.source == "fuzz.toml" and exc.field in data
    else:
        assert numbers


# --- models: pydantic validation in the words of the Table getters ---------------------------
class _Optics(UserModel):
    f_number: float = Field(ge=0.5)
    resolution_px: NumberPair
    kind: Literal["vcm", "stepper"] = "vcm"


class _Doc(UserModel):
    name: str
    optics: _Optics
    layers: list[_Optics] = Field(default_factory=list)
    rate_hz: float = Field(30.0, gt=0, le=1000)


def test_models_report_like_tables() -> None:
    good = {"name": "x", "optics": {"f_number": 2, "resolution_px": [4, 3]}}
    assert validate_user(_Doc, good, "m.toml").optics.resolution_px == (4.0, 3.0)
    cases = [
        ({"optics": {"f_number": "fast"}}, "optics.f_number: expected a number, got 'fast'"),
        ({"optics": {"f_number": True}}, "optics.f_number: expected a number, got True"),
        ({"optics": {"f_number": 0.1}}, "optics.f_number: must be >= 0.5, got 0.1"),
        ({"optics": {"kind": "warp"}}, "optics.kind: must be one of vcm, stepper; got 'warp'"),
        ({"optics": {"resolution_px": [1]}}, "optics.resolution_px: expected a pair of numbers"),
        ({"optics": {"zoom": 1}}, "optics.zoom: unknown field (known here: f_number, kind, res"),
        ({"layers": [{}, {"f_number": -1}]}, "layers[1].f_number: must be >= 0.5, got -1"),
        ({"rate_hz": 0}, "rate_hz: must be > 0, got 0"),
        ({"rate_hz": math.inf}, "rate_hz: expected a finite number, got inf"),
        ({"optics": 5}, "optics: expected a table, got 5"),
        ({"name": None}, "name: required field is missing"),
    ]
    for change, message in cases:
        doc: dict[str, Any] = {**good, "optics": dict(good["optics"])}  # type: ignore[arg-type]
        for key, value in change.items():
            if isinstance(value, dict):
                doc[key].update(value)
            elif key == "layers":
                doc[key] = [{**good["optics"], **v} for v in value]  # type: ignore[dict-item]
            elif value is None:
                del doc[key]
            else:
                doc[key] = value
        with pytest.raises(ConfigError) as err:
            validate_user(_Doc, doc, "m.toml")
        assert str(err.value).startswith(f"m.toml: {message}"), (change, str(err.value))


toml_values = st.one_of(
    st.booleans(),
    st.integers(-10, 10),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(0, 5), max_size=3),
    st.dictionaries(st.sampled_from(["f_number", "resolution_px", "kind", "zz"]), st.integers()),
)


@given(st.dictionaries(st.sampled_from(["name", "optics", "layers", "rate_hz", "x"]), toml_values))
def test_models_only_ever_raise_config_errors_naming_a_field(data: dict[str, Any]) -> None:
    try:
        doc = validate_user(_Doc, data, "fuzz.toml")
    except ConfigError as exc:
        assert exc.source == "fuzz.toml" and exc.field and exc.problem
        assert exc.field.split(".")[0].split("[")[0] in (*data, "name", "optics")
        return
    assert doc.optics.f_number >= 0.5 and math.isfinite(doc.rate_hz)
