"""Profiles load and validate; shots are stored atomically with EXIF and never overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afon.config import parse_toml
from afon.controls import Control, ControlEvent, ControlStates
from afon.errors import AfonError, ConfigError
from afon.profile import builtin_profile_names, load_profile, parse_profile
from afon.shots import ShotRecord, ShotStore, read_afon_exif


def test_builtin_profiles() -> None:
    names = builtin_profile_names()
    assert {"bbf", "shutter-af", "canon", "nikon", "sony"} <= set(names)
    bbf = load_profile("bbf")
    assert bbf.bbf and bbf.focus_mode == "AF-C"
    classic = load_profile("shutter-af")
    assert not classic.bbf and classic.af_s_priority == "focus"
    assert load_profile("nikon").lock_on_s == 0.5
    assert load_profile("sony").af_area == "tracking"


def test_bad_profile_names_the_field(tmp_path: Path) -> None:
    src = (Path(__file__).resolve().parents[1] / "src/afon/profiles/bbf.toml").read_text()
    bad = tmp_path / "mine.toml"
    bad.write_text(src.replace('"af-on-only"', '"af-on-sometimes"'))
    with pytest.raises(ConfigError, match=r"mine\.toml: af_activation: must be one of"):
        load_profile(bad)
    bad.write_text(src.replace("burst_fps = 10.0", "burst_fps = -1"))
    with pytest.raises(ConfigError, match=r"mine\.toml: burst_fps: must be >= 0\.1"):
        load_profile(bad)
    bad.write_text(src + "\nfocus_speed = 3\n")
    with pytest.raises(ConfigError, match=r"mine\.toml: focus_speed: unknown field"):
        load_profile(bad)
    with pytest.raises(ConfigError, match="built-in profiles"):
        load_profile("olympus")


FIELDS = {
    "name": st.text(max_size=5),
    "af_activation": st.sampled_from(["af-on-only", "shutter-and-af-on", "x", 3]),
    "focus_mode": st.sampled_from(["AF-S", "AF-C", "MF", "AF-A"]),
    "af_s_priority": st.sampled_from(["release", "focus", True]),
    "af_c_priority": st.sampled_from(["release", "focus"]),
    "drive": st.sampled_from(["single", "continuous", "burst"]),
    "burst_fps": st.one_of(st.floats(allow_nan=True), st.text(max_size=3)),
    "af_area": st.sampled_from(["single", "zone", "tracking", "wide"]),
    "lock_on": st.one_of(st.sampled_from(["off", "short", "normal", "long", "huge"]), st.floats()),
}


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from(sorted(FIELDS)), st.none(), max_size=len(FIELDS)).flatmap(
        lambda keys: st.fixed_dictionaries({k: FIELDS[k] for k in keys})
    )
)
def test_profile_parser_never_crashes(doc: dict[str, object]) -> None:
    lines = []
    for k, v in doc.items():
        lines.append(f"{k} = {json.dumps(v) if not isinstance(v, float) or v == v else 'nan'}")
    text = "\n".join(lines).replace("Infinity", "inf").replace("true", "true")
    try:
        table = parse_toml(text, "p.toml")
        profile = parse_profile(table)
    except ConfigError as exc:
        assert str(exc).startswith("p.toml")
        return
    assert profile.focus_mode in ("AF-S", "AF-C", "MF")
    assert profile.burst_fps > 0


def test_auto_repeat_is_not_a_new_press() -> None:
    states = ControlStates()
    assert states.accept(ControlEvent(Control.AF_ON, True, 0.0))
    assert not states.accept(ControlEvent(Control.AF_ON, True, 0.03))  # key repeat
    assert states.pressed_at(Control.AF_ON) == 0.0
    assert states.accept(ControlEvent(Control.AF_ON, False, 0.5))
    assert not states.accept(ControlEvent(Control.AF_ON, False, 0.6))  # stray release
    assert Control.parse("af-on") is Control.AF_ON
    with pytest.raises(AfonError, match="unknown control 'focus'"):
        Control.parse("focus")


def _record(i: int, **kw: object) -> ShotRecord:
    base: dict[str, object] = dict(
        index=i,
        pressed_s=1.0,
        release_s=1.0,
        exposure_start_s=1.05,
        exposure_end_s=1.054,
        lens_d=0.4,
        af_state="FOCUSED_LOCKED",
        settings={"profile": "bbf"},
        truth={"subject_distance_m": 2.5, "in_focus": True},
    )
    base.update(kw)
    return ShotRecord(**base)  # type: ignore[arg-type]


def test_shots_have_exif_and_sidecars_and_are_never_overwritten(tmp_path: Path) -> None:
    img = (np.random.default_rng(0).random((60, 80, 3)) * 255).astype(np.uint8)
    store = ShotStore(tmp_path)
    a = store.save(_record(0), img)
    b = store.save(_record(1, failure="focus priority: not focused"), None)
    assert a.image_path and Path(a.image_path).name == "shot_00000.jpg"
    exif = read_afon_exif(a.image_path)
    assert exif["subject_distance_m"] == pytest.approx(2.5)
    assert exif["afon"]["af_state"] == "FOCUSED_LOCKED"
    assert exif["afon"]["settings"]["profile"] == "bbf"
    assert exif["afon"]["lag_s"] == pytest.approx(0.05)
    side = json.loads(Path(a.record_path or "").read_text())
    assert side["ok"] and side["lens_d"] == 0.4
    assert b.image_path is None
    assert json.loads(Path(b.record_path or "").read_text())["failure"].startswith("focus priority")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    # a second store on the same folder continues the numbering
    c = ShotStore(tmp_path).save(_record(0), img)
    assert Path(c.image_path or "").name not in before
    for name, data in before.items():
        assert (tmp_path / name).read_bytes() == data
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]


def test_minimal_profile_takes_the_documented_defaults(tmp_path: Path) -> None:
    p = tmp_path / "min.toml"
    p.write_text(
        'name = "min"\naf_activation = "af-on-only"\nfocus_mode = "AF-S"\n'
        'af_s_priority = "focus"\naf_c_priority = "release"\ndrive = "single"\naf_area = "zone"\n'
    )
    prof = load_profile(p)
    assert (prof.burst_fps, prof.lock_on_s, prof.manual_override) == (10.0, 0.5, False)
    assert (prof.af_s_strategy, prof.af_c_strategy) == ("hybrid", "predictive")
