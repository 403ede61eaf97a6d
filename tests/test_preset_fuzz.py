"""Camera presets are user-writable TOML: every value is bounded and finite, and a bad file
gives a ConfigError naming the file, the field and the problem (never a traceback or a huge
allocation). Fuzzed with hypothesis over every field of the built-in presets."""

from __future__ import annotations

import math
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from afon.cameras.sim.preset import MAX_PIXELS, builtin_preset_names, load_preset
from afon.errors import ConfigError


def builtin_doc(name: str) -> dict[str, Any]:
    text = (resources.files("afon.cameras.sim") / "presets" / f"{name}.toml").read_text()
    return tomllib.loads(text)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def dump(doc: dict[str, Any]) -> str:
    top = [f"{k} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    tables = [
        f"[{k}]\n" + "\n".join(f"{kk} = {toml_value(vv)}" for kk, vv in v.items())
        for k, v in doc.items()
        if isinstance(v, dict)
    ]
    return "\n".join(top) + "\n" + "\n".join(tables) + "\n"


FIELDS = sorted(
    {
        (table, key)
        for name in builtin_preset_names()
        for table, body in builtin_doc(name).items()
        if isinstance(body, dict)
        for key in body
    }
)

WILD = st.one_of(
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300, 0.0, -1.0, 1e-300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**18), max_value=10**18),
    st.booleans(),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=8),
    st.lists(st.one_of(st.floats(), st.integers(-(10**9), 10**9)), max_size=3),
    st.sampled_from([[1e6, 1e6], [1_000_000, 1_000_000], [20000, 20000], [16, 16], [0, 5]]),
)


def check_physical(path: Path) -> None:
    try:
        p = load_preset(path)
    except ConfigError as exc:
        assert str(path) in str(exc)
        assert exc.field, f"no field named in {exc}"
        return
    o, m, t = p.optics, p.motor, p.timing
    numbers = [
        o.focal_length_mm,
        o.f_number,
        o.sensor_width_mm,
        o.sensor_height_mm,
        o.closest_focus_m,
        o.coc_mm,
        o.max_focus_d,
        m.min_d,
        m.max_d,
        m.max_speed_d_per_s,
        m.accel_d_per_s2,
        m.step_d,
        m.settle_s,
        m.posture_offset_d,
        m.hysteresis_d,
        t.frame_rate_hz,
        t.exposure_s,
        t.readout_s,
        t.pipeline_latency_s,
        t.release_lag_s,
        t.still_exposure_s,
        p.phase.gain_ratio,
        p.phase.zero_offset_d,
    ]
    assert all(math.isfinite(v) for v in numbers)
    assert o.resolution_px[0] * o.resolution_px[1] <= MAX_PIXELS
    assert 0 <= m.min_d < m.max_d <= o.max_focus_d * 1.0001
    assert 0 < t.exposure_s <= 1 / t.frame_rate_hz + 1e-12
    assert m.travel_time_s(m.max_d - m.min_d) < 1e4


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    preset=st.sampled_from(builtin_preset_names()),
    field=st.sampled_from(FIELDS),
    value=WILD,
)
def test_any_one_field_gives_a_physical_preset_or_a_named_error(
    tmp_path: Path, preset: str, field: tuple[str, str], value: Any
) -> None:
    doc = builtin_doc(preset)
    table, key = field
    doc.setdefault(table, {})[key] = value
    path = tmp_path / "user.toml"
    path.write_text(dump(doc))
    check_physical(path)


@pytest.mark.parametrize(
    ("table", "key", "value", "problem"),
    [
        ("optics", "focal_length_mm", math.nan, "finite"),
        ("optics", "f_number", math.inf, "finite"),
        ("motor", "max_speed_d_per_s", 1e300, "must be <="),
        ("optics", "resolution_px", [1_000_000, 1_000_000], "16..20000"),
        ("optics", "resolution_px", [20000, 20000], "MP"),
        ("timing", "lens_latency_frames", 99, "must be <= 10"),
        ("phase", "gain_ratio", 1.5, "must be <= 1"),
        ("motor", "resonance_hz", 1e300, "must be <="),
    ],
)
def test_the_reported_bad_values_name_file_field_and_problem(
    tmp_path: Path, table: str, key: str, value: Any, problem: str
) -> None:
    doc = builtin_doc("cm3")
    doc[table][key] = value
    path = tmp_path / "mine.toml"
    path.write_text(dump(doc))
    with pytest.raises(ConfigError) as info:
        load_preset(path)
    assert str(info.value).startswith(f"{path}: {table}.{key}: ")
    assert problem in str(info.value)


def test_builtin_presets_round_trip_through_the_writer(tmp_path: Path) -> None:
    for name in builtin_preset_names():
        path = tmp_path / f"{name}.toml"
        path.write_text(dump(builtin_doc(name)))
        assert load_preset(path) == load_preset(name)
